//! The `jti` of every client assertion accepted, remembered until the
//! assertion could no longer be accepted anyway (its `exp` plus the clock
//! leeway), so none is accepted twice (RFC 7523 3, item 7); and the
//! successful assertion grants of each client in the last minute. Each
//! client's `jti`s are a [`JtiTable`], the same table the `jwt` method keeps
//! for single-use JWT Bearer tokens.
//!
//! **Per client.** Each client has a table of its own, with a share of
//! [`REMEMBERED_PER_CLIENT`] entries, and at most
//! [`MAX_GRANTS_PER_CLIENT_PER_MINUTE`] successful assertion grants a
//! minute; so no client can evict or exhaust another's (issue 26, finding
//! 4). Within the cap a client never fills its share: an assertion is
//! acceptable for at most five minutes plus the minute of leeway, so a
//! client holds at most six minutes of grants. When a share is full of live
//! entries new assertions of that client are refused (503) rather than an
//! old entry forgotten, which would let its assertion be replayed.
//!
//! Only assertions whose signature verified are recorded, so only a holder
//! of a client's private key can fill its share. Entries are forgotten by
//! this cache's own clock, read afresh at each call, never later than the
//! request's reading allows: a request carrying an old or a future reading
//! cannot make a live entry of another be forgotten. Per function instance:
//! see the README on what that means across Lambda instances.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

pub use crate::auth::jwt::replay::Clock;
use crate::auth::jwt::replay::{JtiTable, jti_key, sweep_point};

/// Successful assertion grants one client may have in any minute. Redox
/// asks for a token when its last one expires (every few minutes).
pub const MAX_GRANTS_PER_CLIENT_PER_MINUTE: usize = 60;
/// Assertions one client may have remembered at once (about 100 bytes
/// each): more than six minutes of grants at the cap.
pub const REMEMBERED_PER_CLIENT: usize = 1024;
/// Clients with a table at once; tables of clients whose entries have all
/// expired are dropped first.
pub const MAX_TRACKED_CLIENTS: usize = 1024;

const MINUTE_SECS: u64 = 60;

/// Why an assertion's `jti` cannot be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayRefusal {
    /// Seen before, and still within its lifetime.
    Replayed,
    /// The client had its minute's grants; one frees up after this.
    TooManyGrants { retry_after: Duration },
    /// The client's share (or the table of clients) is full of live
    /// entries; the soonest frees up after this.
    Full { retry_after: Duration },
}

/// One client's remembered assertions and recent grants.
#[derive(Debug, Default)]
struct ClientTable {
    jtis: JtiTable,
    /// When each grant of the last minute was made, oldest first.
    grants: VecDeque<u64>,
}

impl ClientTable {
    /// Forgets entries that have ended and grants older than a minute, at `at`.
    fn sweep(&mut self, at: u64) {
        self.jtis.sweep(at);
        while self
            .grants
            .front()
            .is_some_and(|&granted| granted + MINUTE_SECS <= at)
        {
            self.grants.pop_front();
        }
    }

    fn is_empty(&self) -> bool {
        self.jtis.is_empty() && self.grants.is_empty()
    }
}

/// The `jti`s of accepted assertions, per client. Clones share their tables.
#[derive(Clone)]
pub struct ReplayCache {
    per_client: usize,
    grants_per_minute: usize,
    clock: Clock,
    tables: Arc<Mutex<HashMap<String, ClientTable>>>,
}

impl std::fmt::Debug for ReplayCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayCache")
            .field("per_client", &self.per_client)
            .field("grants_per_minute", &self.grants_per_minute)
            .finish_non_exhaustive()
    }
}

impl Default for ReplayCache {
    fn default() -> Self {
        ReplayCache::new(REMEMBERED_PER_CLIENT, MAX_GRANTS_PER_CLIENT_PER_MINUTE)
    }
}

impl ReplayCache {
    /// A cache with a share of `per_client` entries and `grants_per_minute`
    /// grants for each client, on the system clock.
    pub fn new(per_client: usize, grants_per_minute: usize) -> ReplayCache {
        ReplayCache {
            per_client: per_client.max(1),
            grants_per_minute: grants_per_minute.max(1),
            clock: Arc::new(SystemTime::now),
            tables: Arc::default(),
        }
    }

    /// The same cache reading `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Clock) -> ReplayCache {
        self.clock = clock;
        self
    }

    /// Records `jti` of `client_id`, acceptable until `until` (seconds since
    /// the epoch), for a request that read the clock at `now`. Refused when
    /// it is still remembered, when the client had its grants for the
    /// minute, or when its share is full.
    pub fn record(
        &self,
        client_id: &str,
        jti: &str,
        until: u64,
        now: SystemTime,
    ) -> Result<(), ReplayRefusal> {
        // Forget only what has ended by both readings: a fresh one, so a
        // request that waited long does not sweep with its stale reading,
        // and the request's, so a reading from the future forgets nothing.
        let at = sweep_point(&self.clock, now);
        let key = jti_key(client_id, jti);
        // Nothing panics while the lock is held; a poisoned table is whole.
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        if !tables.contains_key(client_id) && tables.len() >= MAX_TRACKED_CLIENTS {
            tables.retain(|_, table| {
                table.sweep(at);
                !table.is_empty()
            });
            if tables.len() >= MAX_TRACKED_CLIENTS {
                return Err(ReplayRefusal::Full {
                    retry_after: Duration::from_secs(MINUTE_SECS),
                });
            }
        }
        let table = tables.entry(client_id.to_owned()).or_default();
        table.sweep(at);
        if table.jtis.contains(&key) {
            return Err(ReplayRefusal::Replayed);
        }
        if table.grants.len() >= self.grants_per_minute {
            let oldest = table.grants.front().copied().unwrap_or(at);
            return Err(ReplayRefusal::TooManyGrants {
                retry_after: Duration::from_secs((oldest + MINUTE_SECS).saturating_sub(at).max(1)),
            });
        }
        if table.jtis.len() >= self.per_client {
            let soonest = table.jtis.soonest_end().unwrap_or(at + 1);
            return Err(ReplayRefusal::Full {
                retry_after: Duration::from_secs(soonest.saturating_sub(at).max(1)),
            });
        }
        table.jtis.insert(key, until);
        table.grants.push_back(at);
        Ok(())
    }

    /// How many assertions are remembered, over every client.
    pub fn len(&self) -> usize {
        self.tables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|table| table.jtis.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::UNIX_EPOCH;

    const NOW: u64 = 1_800_000_000;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// A cache on a clock the test sets.
    fn cache(per_client: usize, grants: usize) -> (ReplayCache, Arc<AtomicU64>) {
        let clock = Arc::new(AtomicU64::new(NOW));
        let reading = clock.clone();
        let cache = ReplayCache::new(per_client, grants)
            .with_clock(Arc::new(move || at(reading.load(Ordering::SeqCst))));
        (cache, clock)
    }

    #[test]
    fn a_jti_is_refused_until_its_assertion_expires() {
        let (cache, clock) = cache(REMEMBERED_PER_CLIENT, 100);
        cache.record("smart", "j1", NOW + 360, at(NOW)).unwrap();
        clock.store(NOW + 359, Ordering::SeqCst);
        assert_eq!(
            cache.record("smart", "j1", NOW + 360, at(NOW + 359)),
            Err(ReplayRefusal::Replayed)
        );
        // Another client may use the same jti.
        cache.record("other", "j1", NOW + 360, at(NOW)).unwrap();
        // Once its time is up the entry is gone (the assertion would be
        // refused as expired by then anyway).
        clock.store(NOW + 360, Ordering::SeqCst);
        cache
            .record("smart", "j1", NOW + 720, at(NOW + 360))
            .unwrap();
        // ("a", "bc") and ("ab", "c") are different pairs.
        cache.record("a", "bc", NOW + 10, at(NOW)).unwrap();
        cache.record("ab", "c", NOW + 10, at(NOW)).unwrap();
    }

    #[test]
    fn a_full_share_refuses_new_assertions_of_that_client_only_and_never_forgets_a_live_one() {
        let (cache, clock) = cache(3, 100);
        for jti in ["a", "b", "c"] {
            cache
                .record("smart", jti, NOW + 100 + jti.len() as u64, at(NOW))
                .unwrap();
        }
        clock.store(NOW + 10, Ordering::SeqCst);
        assert_eq!(
            cache.record("smart", "d", NOW + 300, at(NOW + 10)),
            Err(ReplayRefusal::Full {
                retry_after: Duration::from_secs(91)
            })
        );
        // Still refused as a replay, not forgotten.
        assert_eq!(
            cache.record("smart", "a", NOW + 300, at(NOW + 10)),
            Err(ReplayRefusal::Replayed)
        );
        // Another client's share is its own.
        cache.record("other", "d", NOW + 300, at(NOW + 10)).unwrap();
        assert_eq!(cache.len(), 4);
        // Expired entries make room.
        clock.store(NOW + 101, Ordering::SeqCst);
        cache
            .record("smart", "d", NOW + 400, at(NOW + 101))
            .unwrap();
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn grants_are_capped_per_client_per_minute() {
        let (cache, clock) = cache(1000, 5);
        for i in 0..5 {
            clock.store(NOW + i, Ordering::SeqCst);
            cache
                .record("smart", &format!("j{i}"), NOW + 300, at(NOW + i))
                .unwrap();
        }
        clock.store(NOW + 10, Ordering::SeqCst);
        assert_eq!(
            cache.record("smart", "j5", NOW + 300, at(NOW + 10)),
            Err(ReplayRefusal::TooManyGrants {
                retry_after: Duration::from_secs(50)
            })
        );
        // A replay is still told apart, and another client is not held up.
        assert_eq!(
            cache.record("smart", "j0", NOW + 300, at(NOW + 10)),
            Err(ReplayRefusal::Replayed)
        );
        cache
            .record("other", "j5", NOW + 300, at(NOW + 10))
            .unwrap();
        clock.store(NOW + 60, Ordering::SeqCst);
        cache
            .record("smart", "j5", NOW + 300, at(NOW + 60))
            .unwrap();
    }

    #[test]
    fn the_sweep_uses_a_fresh_reading_never_a_later_one_than_the_request_has() {
        let (cache, clock) = cache(REMEMBERED_PER_CLIENT, 100);
        cache.record("smart", "j1", NOW + 100, at(NOW)).unwrap();
        // A request whose reading is far ahead of the clock (injected, or a
        // clock that jumped) forgets nothing that is still live.
        assert_eq!(
            cache.record("smart", "j1", NOW + 100, at(NOW + 10_000)),
            Err(ReplayRefusal::Replayed)
        );
        // Nor does a fresh reading ahead of the request's own: the entry is
        // live for the request that may still present it.
        clock.store(NOW + 10_000, Ordering::SeqCst);
        assert_eq!(
            cache.record("smart", "j1", NOW + 100, at(NOW + 50)),
            Err(ReplayRefusal::Replayed)
        );
        // Both readings past its end: forgotten.
        cache
            .record("smart", "j1", NOW + 20_000, at(NOW + 10_000))
            .unwrap();
    }
}
