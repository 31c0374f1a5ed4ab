//! What each client address holds of the server at once: requests in
//! flight, body memory, and (exposed without a load balancer) open
//! connections.
//!
//! The connection cap and the memory budget are shared by everyone; a
//! client that takes all of either would hold the door shut for Redox.
//! So each client address (the TCP peer, or behind the load balancer the
//! entry it appended to `X-Forwarded-For`; IPv6 by /64) may hold at most
//! `REDOX_MAX_CLIENT_REQUESTS` requests in flight and
//! `REDOX_CLIENT_BODY_MEMORY_BYTES` of the body budget. Past either, its
//! request is refused at once (429 with `Retry-After`), never queued
//! behind the others. Without a load balancer the same count also bounds
//! the connections one peer keeps open, silent ones included, since those
//! hold slots before any request is parsed. An entry lives only while its
//! client holds something, so the table never holds more entries than
//! there are connections.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::throttle::SourceKey;

/// Each client's share of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// Requests in flight (and, without a load balancer, open connections).
    pub max_requests: usize,
    /// Bytes of the body budget held at once.
    pub max_body_bytes: usize,
}

/// Which of a client's limits a request would cross.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientLimit {
    Requests,
    Connections,
    BodyMemory,
}

impl ClientLimit {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientLimit::Requests => "requests in flight",
            ClientLimit::Connections => "open connections",
            ClientLimit::BodyMemory => "body memory",
        }
    }
}

#[derive(Debug, Default)]
struct Load {
    requests: usize,
    connections: usize,
    body_bytes: usize,
}

impl Load {
    fn is_empty(&self) -> bool {
        self.requests == 0 && self.connections == 0 && self.body_bytes == 0
    }
}

/// Every client's load; clones share it.
#[derive(Debug, Clone)]
pub struct ClientLoads {
    limits: ClientLimits,
    table: Arc<Mutex<HashMap<SourceKey, Load>>>,
}

impl ClientLoads {
    pub fn new(limits: ClientLimits) -> ClientLoads {
        ClientLoads {
            limits,
            table: Arc::default(),
        }
    }

    pub fn limits(&self) -> ClientLimits {
        self.limits
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<SourceKey, Load>> {
        // Nothing that holds the lock can panic; recover the value anyway.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new connection from `peer` (server exposed directly): refused when
    /// the peer already holds its share of connections.
    pub fn admit_connection(&self, peer: IpAddr) -> Result<ConnectionHold, ClientLimit> {
        let key = key_of(peer);
        let mut table = self.lock();
        let load = table.entry(key).or_default();
        if load.connections >= self.limits.max_requests {
            if load.is_empty() {
                table.remove(&key);
            }
            return Err(ClientLimit::Connections);
        }
        load.connections += 1;
        Ok(ConnectionHold {
            loads: self.clone(),
            key,
        })
    }

    /// A request from `client` whose head was read: refused when the client
    /// already has its share of requests in flight.
    pub fn admit_request(&self, client: IpAddr) -> Result<RequestHold, ClientLimit> {
        let key = key_of(client);
        let mut table = self.lock();
        let load = table.entry(key).or_default();
        if load.requests >= self.limits.max_requests {
            if load.is_empty() {
                table.remove(&key);
            }
            return Err(ClientLimit::Requests);
        }
        load.requests += 1;
        Ok(RequestHold {
            loads: self.clone(),
            key,
            body_bytes: 0,
        })
    }

    /// Body bytes `client` holds now (for tests and the log).
    pub fn body_bytes_of(&self, client: IpAddr) -> usize {
        self.lock()
            .get(&key_of(client))
            .map_or(0, |load| load.body_bytes)
    }

    /// Client addresses holding anything now.
    pub fn tracked(&self) -> usize {
        self.lock().len()
    }

    fn release(&self, key: SourceKey, change: impl FnOnce(&mut Load)) {
        let mut table = self.lock();
        if let Some(load) = table.get_mut(&key) {
            change(load);
            if load.is_empty() {
                table.remove(&key);
            }
        }
    }
}

fn key_of(ip: IpAddr) -> SourceKey {
    SourceKey::of_ip(ip)
}

/// One open connection of a peer; released when dropped.
#[derive(Debug)]
pub struct ConnectionHold {
    loads: ClientLoads,
    key: SourceKey,
}

impl Drop for ConnectionHold {
    fn drop(&mut self) {
        self.loads.release(self.key, |load| {
            load.connections = load.connections.saturating_sub(1)
        });
    }
}

/// One request in flight and the body memory it holds; released when
/// dropped.
#[derive(Debug)]
pub struct RequestHold {
    loads: ClientLoads,
    key: SourceKey,
    body_bytes: usize,
}

impl RequestHold {
    /// Grows this request's share of its client's body memory to `total`
    /// bytes; refused when the client would hold more than its share.
    pub fn grow_body(&mut self, total: usize) -> Result<(), ClientLimit> {
        let Some(more) = total.checked_sub(self.body_bytes).filter(|m| *m > 0) else {
            return Ok(());
        };
        let mut table = self.loads.lock();
        let load = table.entry(self.key).or_default();
        if load.body_bytes.saturating_add(more) > self.loads.limits.max_body_bytes {
            return Err(ClientLimit::BodyMemory);
        }
        load.body_bytes += more;
        self.body_bytes = total;
        Ok(())
    }

    /// Gives the body memory back once the body's answer is decided; the
    /// request still counts as in flight until dropped.
    pub fn release_body(&mut self) {
        let held = std::mem::take(&mut self.body_bytes);
        self.loads.release(self.key, |load| {
            load.body_bytes = load.body_bytes.saturating_sub(held)
        });
    }
}

impl Drop for RequestHold {
    fn drop(&mut self) {
        let held = self.body_bytes;
        self.loads.release(self.key, |load| {
            load.requests = load.requests.saturating_sub(1);
            load.body_bytes = load.body_bytes.saturating_sub(held);
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn loads(max_requests: usize, max_body_bytes: usize) -> ClientLoads {
        ClientLoads::new(ClientLimits {
            max_requests,
            max_body_bytes,
        })
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_client_gets_its_share_of_requests_and_others_are_not_counted_against_it() {
        let loads = loads(2, 100);
        let a1 = loads.admit_request(ip("192.0.2.1")).unwrap();
        let _a2 = loads.admit_request(ip("192.0.2.1")).unwrap();
        assert_eq!(
            loads.admit_request(ip("192.0.2.1")).unwrap_err(),
            ClientLimit::Requests
        );
        let _b = loads.admit_request(ip("192.0.2.2")).unwrap();
        drop(a1);
        let _a3 = loads.admit_request(ip("192.0.2.1")).unwrap();
    }

    #[test]
    fn ipv6_clients_are_counted_by_slash_64() {
        let loads = loads(1, 100);
        let _a = loads.admit_request(ip("2001:db8:1:2::1")).unwrap();
        assert!(loads.admit_request(ip("2001:db8:1:2::ffff")).is_err());
        assert!(loads.admit_request(ip("2001:db8:1:3::1")).is_ok());
    }

    #[test]
    fn body_memory_is_held_per_client_and_given_back() {
        let loads = loads(4, 100);
        let client = ip("198.51.100.7");
        let mut first = loads.admit_request(client).unwrap();
        let mut second = loads.admit_request(client).unwrap();
        first.grow_body(60).unwrap();
        assert_eq!(second.grow_body(50).unwrap_err(), ClientLimit::BodyMemory);
        second.grow_body(40).unwrap();
        assert_eq!(loads.body_bytes_of(client), 100);
        first.release_body();
        assert_eq!(loads.body_bytes_of(client), 40);
        drop(second);
        drop(first);
        assert_eq!(loads.tracked(), 0, "an idle client leaves no entry");
    }

    #[test]
    fn connections_of_one_peer_are_capped_and_refusals_leave_no_entry() {
        let two = loads(2, 100);
        let peer = ip("203.0.113.9");
        let c1 = two.admit_connection(peer).unwrap();
        let _c2 = two.admit_connection(peer).unwrap();
        assert_eq!(
            two.admit_connection(peer).unwrap_err(),
            ClientLimit::Connections
        );
        drop(c1);
        assert!(two.admit_connection(peer).is_ok());
        let other = loads(0, 0);
        assert!(other.admit_connection(peer).is_err());
        assert_eq!(other.tracked(), 0);
    }
}
