//! The client's address in server mode: the TCP peer, or, behind an
//! Application Load Balancer (`REDOX_BEHIND_ALB=true`), the entry the load
//! balancer appended to `X-Forwarded-For`.
//!
//! The ALB appends the address it saw to whatever `X-Forwarded-For` the
//! client sent, so only the last entry is the load balancer's own
//! statement; every earlier one is client-supplied and ignored (trusting
//! it would let anyone choose the address that logs and throttling see),
//! and a header sent on several lines is garbled.
//! Pure and total: any header bytes in, an address out — the peer when the
//! header is missing or its last entry is not an IP address, with the
//! reason, for the log. It never reads `Forwarded` or `X-Real-IP`, which
//! the ALB does not write.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use std::net::IpAddr;

/// Where a request's client address came from (the log's `source_ip_from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressSource {
    /// The TCP peer (not behind a load balancer).
    Peer,
    /// The last `X-Forwarded-For` entry, appended by the load balancer.
    ForwardedFor,
    /// Behind a load balancer, but the request had no `X-Forwarded-For`:
    /// it did not come through the ALB, so the peer is all there is.
    PeerForwardedForMissing,
    /// Behind a load balancer, but the last entry is not an IP address.
    PeerForwardedForGarbled,
}

impl AddressSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressSource::Peer => "peer",
            AddressSource::ForwardedFor => "x-forwarded-for",
            AddressSource::PeerForwardedForMissing => "peer (x-forwarded-for missing)",
            AddressSource::PeerForwardedForGarbled => "peer (x-forwarded-for garbled)",
        }
    }
}

/// A request's client address and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress {
    pub ip: IpAddr,
    pub source: AddressSource,
}

/// The client address of a request from `peer` carrying the
/// `X-Forwarded-For` values `forwarded_for` (in arrival order).
///
/// The header must come on one line: AWS documents that the ALB appends
/// its entry to the header, not to which of several lines, so a request
/// with more than one is garbled rather than read in an order nobody can
/// check.
pub fn client_address<'a>(
    peer: IpAddr,
    behind_alb: bool,
    forwarded_for: impl IntoIterator<Item = &'a [u8]>,
) -> ClientAddress {
    let from_peer = |source| ClientAddress { ip: peer, source };
    if !behind_alb {
        return from_peer(AddressSource::Peer);
    }
    let mut lines = forwarded_for.into_iter();
    let Some(line) = lines.next() else {
        return from_peer(AddressSource::PeerForwardedForMissing);
    };
    if lines.next().is_some() {
        return from_peer(AddressSource::PeerForwardedForGarbled);
    }
    match last_entry(line) {
        Some(ip) => ClientAddress {
            ip,
            source: AddressSource::ForwardedFor,
        },
        None => from_peer(AddressSource::PeerForwardedForGarbled),
    }
}

/// The last comma-separated entry of one header line as a bare IPv4 or
/// IPv6 address (what the ALB writes: no port, no brackets), or `None`.
fn last_entry(line: &[u8]) -> Option<IpAddr> {
    let entry = line.rsplit(|b| *b == b',').next()?;
    let entry = entry.trim_ascii();
    // The longest IPv6 text form (with an embedded IPv4) is 45 characters.
    if entry.is_empty() || entry.len() > 45 {
        return None;
    }
    std::str::from_utf8(entry).ok()?.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 3, 17));

    fn behind_alb(lines: &[&str]) -> ClientAddress {
        client_address(PEER, true, lines.iter().map(|l| l.as_bytes()))
    }

    #[test]
    fn the_load_balancers_entry_is_the_last_one_and_the_rest_is_ignored() {
        let address = behind_alb(&["6.6.6.6, 203.0.113.9"]);
        assert_eq!(address.ip.to_string(), "203.0.113.9");
        assert_eq!(address.source, AddressSource::ForwardedFor);
        let address = behind_alb(&["7.7.7.7,2001:db8::7"]);
        assert_eq!(address.ip.to_string(), "2001:db8::7");
        let address = behind_alb(&["  198.51.100.4\t"]);
        assert_eq!(address.ip.to_string(), "198.51.100.4");
    }

    #[test]
    fn a_missing_or_garbled_header_falls_back_to_the_peer_and_says_so() {
        assert_eq!(
            behind_alb(&[]),
            ClientAddress {
                ip: PEER,
                source: AddressSource::PeerForwardedForMissing
            }
        );
        for garbled in [
            "",
            "203.0.113.9,",
            "203.0.113.9, unknown",
            "203.0.113.9:443",
            "[2001:db8::1]",
            "fe80::1%eth0",
            "203.0.113.9 198.51.100.4",
            "0203.0.113.9",
        ] {
            let address = behind_alb(&[&format!("1.2.3.4,{garbled}")]);
            assert_eq!(address.ip, PEER, "{garbled:?}");
            assert_eq!(
                address.source,
                AddressSource::PeerForwardedForGarbled,
                "{garbled:?}"
            );
        }
        let not_utf8 = client_address(PEER, true, [&b"1.2.3.4, \xff\xfe"[..]]);
        assert_eq!(not_utf8.source, AddressSource::PeerForwardedForGarbled);
    }

    #[test]
    fn two_header_lines_are_garbled_whatever_their_order() {
        for lines in [["6.6.6.6", "203.0.113.9"], ["203.0.113.9", "6.6.6.6"]] {
            assert_eq!(
                behind_alb(&lines),
                ClientAddress {
                    ip: PEER,
                    source: AddressSource::PeerForwardedForGarbled
                }
            );
        }
    }

    #[test]
    fn without_a_load_balancer_the_header_is_never_read() {
        let address = client_address(PEER, false, [&b"203.0.113.9"[..]]);
        assert_eq!(
            address,
            ClientAddress {
                ip: PEER,
                source: AddressSource::Peer
            }
        );
    }
}
