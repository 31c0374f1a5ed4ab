//! Attempts counted per source address: the built-in token endpoint's
//! failed client authentications (SPEC 3.2: a burst of them is answered 429
//! with `Retry-After` to the failing source address; a correct credential
//! from another address is never refused for them), and the `google`
//! method's token-info lookups. Below both; [`SourceKey`] is also what
//! server mode counts each client's share under.
//!
//! Failures are counted per *source address* (the address AWS or the socket
//! states, never a client header; IPv6 by its /64, since one host usually
//! holds a whole /64; requests with no address share one key), never per
//! client id: client ids are not secret, so a count per id would let anyone
//! lock Redox out by failing under its id. Each address has an allowance of
//! `limit` failures that refills at `limit` per minute (a token bucket,
//! kept as GCRA's one "theoretical arrival time" per address).
//!
//! An attempt *reserves* one unit of its address's allowance before anything
//! awaits, and the reservation counts until it resolves: a success gives it
//! back, a failure (or an attempt dropped unresolved) keeps it spent. So
//! concurrent guesses cannot all pass a check made before the first of them
//! is recorded.
//!
//! Memory is bounded: at most [`MAX_TRACKED_ADDRESSES`] addresses are kept.
//! An address whose allowance is full again carries no information and is
//! dropped first; when every kept address is still in debt, the one that
//! reserved least recently is forgotten (it gets a fresh allowance). Counts
//! are never merged or shared between addresses, so however many addresses
//! a spray comes from, an address with no failures of its own is never
//! refused. Pure: the clock comes in as an argument; no I/O.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Addresses tracked at once (about 100 bytes each, with the recency queue).
pub const MAX_TRACKED_ADDRESSES: usize = 8192;

/// The period over which `per_address` failures are allowed.
pub const WINDOW: Duration = Duration::from_secs(60);

/// How many failed attempts one source address may have evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureLimits {
    /// Failures per [`WINDOW`]: also the burst an address with a clean
    /// record may spend at once.
    pub per_address: u32,
    /// Addresses kept at once (memory bound).
    pub tracked_addresses: usize,
}

impl FailureLimits {
    pub const DEFAULT_PER_ADDRESS: u32 = 10;
}

impl Default for FailureLimits {
    fn default() -> Self {
        FailureLimits {
            per_address: Self::DEFAULT_PER_ADDRESS,
            tracked_addresses: MAX_TRACKED_ADDRESSES,
        }
    }
}

/// What a request's failures are counted under: its source address, IPv6
/// by /64 (IPv4-mapped IPv6 as IPv4), or the one key shared by every
/// request whose address is unknown or unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKey {
    V4([u8; 4]),
    V6Prefix([u8; 8]),
    Unknown,
}

impl SourceKey {
    /// The key of a request's `origin.source_ip`.
    pub fn of(source_ip: Option<&str>) -> SourceKey {
        match source_ip.and_then(|ip| ip.trim().parse::<IpAddr>().ok()) {
            Some(address) => SourceKey::of_ip(address),
            None => SourceKey::Unknown,
        }
    }

    /// The key of an address.
    pub fn of_ip(address: IpAddr) -> SourceKey {
        match address.to_canonical() {
            IpAddr::V4(v4) => SourceKey::V4(v4.octets()),
            IpAddr::V6(v6) => {
                let [a, b, c, d, e, f, g, h, ..] = v6.octets();
                SourceKey::V6Prefix([a, b, c, d, e, f, g, h])
            }
        }
    }
}

/// An attempt refused unchecked; its address may try again after this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
}

/// One address's allowance: GCRA's theoretical arrival time, in ms since
/// the epoch. The allowance is full when it is at or before now.
#[derive(Debug, Clone, Copy)]
struct Allowance {
    due_ms: u64,
    /// Which recency-queue entry is this address's latest.
    seq: u64,
}

#[derive(Debug, Default)]
struct Table {
    addresses: HashMap<SourceKey, Allowance>,
    /// Reservations oldest first; an entry whose `seq` is no longer its
    /// address's is stale and skipped.
    recency: VecDeque<(SourceKey, u64)>,
    next_seq: u64,
    /// Addresses forgotten while still in debt, since start.
    forgotten: u64,
}

/// Counts failed client authentications per source address and says when
/// to stop evaluating them. Clones share their counts.
#[derive(Debug, Clone)]
pub struct FailureThrottle {
    limits: FailureLimits,
    table: Arc<Mutex<Table>>,
}

impl Default for FailureThrottle {
    fn default() -> Self {
        FailureThrottle::new(FailureLimits::default())
    }
}

fn millis_since_epoch(now: SystemTime) -> u64 {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

impl FailureThrottle {
    pub fn new(limits: FailureLimits) -> Self {
        FailureThrottle {
            limits: FailureLimits {
                per_address: limits.per_address.max(1),
                tracked_addresses: limits.tracked_addresses.max(1),
            },
            table: Arc::new(Mutex::new(Table::default())),
        }
    }

    pub fn limits(&self) -> FailureLimits {
        self.limits
    }

    /// How long one unit of allowance takes to come back.
    fn interval_ms(&self) -> u64 {
        let window = u64::try_from(WINDOW.as_millis()).unwrap_or(u64::MAX);
        (window / u64::from(self.limits.per_address)).max(1)
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // Nothing panics while the lock is held; a poisoned lock still holds
        // valid counts.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves one attempt for `key` at `now`, before anything about the
    /// request is evaluated. `Err` when the address has spent its allowance:
    /// the attempt must be refused unchecked, even if its secret is right,
    /// or guessing would go on behind the 429s.
    pub fn reserve(&self, key: SourceKey, now: SystemTime) -> Result<Attempt, Throttled> {
        let now_ms = millis_since_epoch(now);
        let interval = self.interval_ms();
        let burst = interval.saturating_mul(u64::from(self.limits.per_address));
        let mut table = self.lock();
        let due = table
            .addresses
            .get(&key)
            .map_or(now_ms, |allowance| allowance.due_ms.max(now_ms));
        let next_due = due.saturating_add(interval);
        if next_due.saturating_sub(now_ms) > burst {
            let wait_ms = next_due.saturating_sub(now_ms).saturating_sub(burst);
            return Err(Throttled {
                retry_after: Duration::from_secs(wait_ms.div_ceil(1000).max(1)),
            });
        }
        let seq = table.next_seq;
        table.next_seq = seq.wrapping_add(1);
        let forgotten_before = table.forgotten;
        if !table.addresses.contains_key(&key) {
            self.make_room(&mut table, now_ms);
        }
        let forgot = (table.forgotten > forgotten_before).then_some(table.forgotten);
        table.addresses.insert(
            key,
            Allowance {
                due_ms: next_due,
                seq,
            },
        );
        table.recency.push_back((key, seq));
        // Stale queue entries are dropped in one pass once they are as many
        // as the live ones: amortised O(1) per reservation.
        if table.recency.len() > 2 * self.limits.tracked_addresses + 16 {
            let Table {
                addresses, recency, ..
            } = &mut *table;
            recency.retain(|(key, seq)| addresses.get(key).is_some_and(|a| a.seq == *seq));
        }
        Ok(Attempt {
            throttle: self.clone(),
            key,
            interval_ms: interval,
            forgot,
        })
    }

    /// Frees one slot for a new address: drops stale queue entries and
    /// addresses whose allowance is full again; when every kept address is
    /// in debt, forgets the one that reserved least recently.
    fn make_room(&self, table: &mut Table, now_ms: u64) {
        while table.addresses.len() >= self.limits.tracked_addresses {
            let Some((key, seq)) = table.recency.pop_front() else {
                // Unreachable while the queue holds every address; recover
                // rather than grow.
                table.addresses.clear();
                return;
            };
            let Some(allowance) = table.addresses.get(&key).copied() else {
                continue;
            };
            if allowance.seq != seq {
                continue;
            }
            table.addresses.remove(&key);
            if allowance.due_ms > now_ms {
                table.forgotten = table.forgotten.saturating_add(1);
            }
        }
    }

    /// Addresses forgotten while still in debt because the table was full:
    /// non-zero means a spray from more than [`MAX_TRACKED_ADDRESSES`]
    /// addresses within a minute.
    pub fn forgotten(&self) -> u64 {
        self.lock().forgotten
    }

    /// Addresses currently kept.
    pub fn tracked(&self) -> usize {
        self.lock().addresses.len()
    }

    fn refund(&self, key: SourceKey, interval_ms: u64) {
        let mut table = self.lock();
        if let Some(allowance) = table.addresses.get_mut(&key) {
            allowance.due_ms = allowance.due_ms.saturating_sub(interval_ms);
        }
    }
}

/// One reserved attempt. It counts as a failure of its address unless
/// [`Attempt::succeeded`] gives it back; dropping it unresolved (a request
/// abandoned at its deadline) keeps it spent.
#[derive(Debug)]
pub struct Attempt {
    throttle: FailureThrottle,
    key: SourceKey,
    interval_ms: u64,
    /// The running count of addresses forgotten in debt, when making room
    /// for this one forgot one.
    forgot: Option<u64>,
}

impl Attempt {
    /// The client authenticated: the reservation is given back.
    pub fn succeeded(self) {
        self.throttle.refund(self.key, self.interval_ms);
    }

    /// The attempt failed (wrong credential, malformed request): the
    /// reservation stays spent, as it does when the attempt is dropped.
    pub fn failed(self) {}

    /// Nothing about the request was evaluated (our own outage, such as
    /// unreachable auth material): the reservation is given back.
    pub fn not_evaluated(self) {
        self.succeeded();
    }

    /// `Some(n)` when making room for this address forgot another still in
    /// debt, `n` being how many have been forgotten since start.
    pub fn forgot_an_address(&self) -> Option<u64> {
        self.forgot
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]
mod tests {
    use super::*;

    const START_SECS: u64 = 1_800_000_000;

    fn at(secs: f64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(START_SECS) + Duration::from_secs_f64(secs)
    }

    fn throttle(per_address: u32) -> FailureThrottle {
        FailureThrottle::new(FailureLimits {
            per_address,
            tracked_addresses: MAX_TRACKED_ADDRESSES,
        })
    }

    fn key(ip: &str) -> SourceKey {
        SourceKey::of(Some(ip))
    }

    /// Reserves and fails one attempt; `true` when it was evaluated.
    fn guess(t: &FailureThrottle, ip: &str, secs: f64) -> bool {
        match t.reserve(key(ip), at(secs)) {
            Ok(attempt) => {
                attempt.failed();
                true
            }
            Err(_) => false,
        }
    }

    #[test]
    fn an_address_gets_its_burst_then_one_attempt_per_interval() {
        let t = throttle(10);
        let evaluated = (0..30).filter(|_| guess(&t, "203.0.113.9", 0.0)).count();
        assert_eq!(evaluated, 10);
        let refused = t.reserve(key("203.0.113.9"), at(0.0)).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(6));
        assert!(!guess(&t, "203.0.113.9", 5.9));
        assert!(guess(&t, "203.0.113.9", 6.0));
        assert!(!guess(&t, "203.0.113.9", 6.1));
        // Other addresses are untouched.
        assert!(guess(&t, "198.51.100.7", 0.5));
    }

    #[test]
    fn an_address_that_guesses_without_pause_is_held_to_the_limit_per_minute() {
        let t = throttle(10);
        // One guess a second for ten minutes.
        let evaluated_in_minute = |minute: u64| {
            (minute * 60..(minute + 1) * 60)
                .filter(|s| guess(&t, "2001:db8::1", *s as f64))
                .count()
        };
        let per_minute: Vec<usize> = (0..10).map(evaluated_in_minute).collect();
        // The first minute spends the burst and the refill; after that the
        // refill alone.
        assert_eq!(per_minute[0], 10 + 9);
        assert!(per_minute[1..].iter().all(|n| *n == 10), "{per_minute:?}");
    }

    #[test]
    fn a_success_gives_its_reservation_back_and_a_drop_keeps_it() {
        let t = throttle(3);
        for _ in 0..20 {
            t.reserve(key("192.0.2.1"), at(0.0)).unwrap().succeeded();
        }
        // Successes cost nothing; three failures are still allowed.
        assert_eq!((0..5).filter(|_| guess(&t, "192.0.2.1", 0.0)).count(), 3);
        let t = throttle(3);
        for _ in 0..3 {
            drop(t.reserve(key("192.0.2.1"), at(0.0)).unwrap());
        }
        assert!(t.reserve(key("192.0.2.1"), at(0.0)).is_err());
    }

    #[test]
    fn reservations_count_before_they_resolve() {
        let t = throttle(10);
        // Sixty concurrent attempts: each reserves before any resolves.
        let held: Vec<Attempt> = (0..60)
            .filter_map(|_| t.reserve(key("203.0.113.9"), at(0.0)).ok())
            .collect();
        assert_eq!(held.len(), 10);
        for attempt in held {
            attempt.failed();
        }
        assert!(t.reserve(key("203.0.113.9"), at(1.0)).is_err());
    }

    #[test]
    fn ipv6_is_counted_by_slash_64_and_unknown_addresses_share_a_key() {
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_eq!(SourceKey::of(None), SourceKey::Unknown);
        assert_eq!(SourceKey::of(Some("not an address")), SourceKey::Unknown);
        let t = throttle(2);
        assert!(guess(&t, "2001:db8:1:2::1", 0.0));
        assert!(guess(&t, "2001:db8:1:2::2", 0.0));
        assert!(!guess(&t, "2001:db8:1:2:abcd::3", 0.0));
        assert!(guess(&t, "2001:db8:1:3::1", 0.0));
    }

    #[test]
    fn a_spray_from_more_addresses_than_the_table_holds_never_refuses_a_clean_address() {
        let t = FailureThrottle::new(FailureLimits {
            per_address: 10,
            tracked_addresses: 64,
        });
        // 10,000 addresses, each spending its whole allowance.
        for i in 0..10_000u32 {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
            for _ in 0..10 {
                guess(&t, &ip, 1.0);
            }
            assert!(t.tracked() <= 64);
        }
        assert!(t.forgotten() > 0);
        let attempt = t.reserve(key("198.51.100.8"), at(1.0)).unwrap();
        assert_eq!(attempt.forgot_an_address(), Some(t.forgotten()));
        // A clean address is evaluated: its allowance is its own.
        let attempt = t.reserve(key("198.51.100.7"), at(1.0)).unwrap();
        attempt.succeeded();
        // The queue stays bounded too.
        assert!(t.lock().recency.len() <= 2 * 64 + 16);
    }

    #[test]
    fn addresses_whose_allowance_refilled_are_dropped_before_any_in_debt() {
        let t = FailureThrottle::new(FailureLimits {
            per_address: 10,
            tracked_addresses: 2,
        });
        assert!(guess(&t, "192.0.2.1", 0.0));
        for _ in 0..10 {
            guess(&t, "192.0.2.2", 100.0);
        }
        // 192.0.2.1 refilled long ago: it is the one dropped, not .2.
        assert!(guess(&t, "192.0.2.3", 100.0));
        assert_eq!(t.forgotten(), 0);
        assert!(!guess(&t, "192.0.2.2", 100.0));
    }

    #[test]
    fn the_state_depends_only_on_addresses_never_on_client_ids() {
        // The throttle is never told which client id was presented: two
        // requests from one address share one allowance whatever they send.
        let t = throttle(1);
        assert!(guess(&t, "192.0.2.1", 0.0));
        assert!(!guess(&t, "192.0.2.1", 0.0));
    }
}
