//! The `jti` of every client assertion accepted, remembered until the
//! assertion could no longer be accepted anyway (its `exp` plus the clock
//! leeway), so none is accepted twice (RFC 7523 3, item 7).
//!
//! Bounded in memory: entries whose time is up are dropped first; when the
//! table is full of live ones, new assertions are refused (503) rather
//! than an old entry forgotten, which would let its assertion be replayed.
//! Only assertions whose signature verified are recorded, so only a holder
//! of a client's private key can fill it. Per function instance: see the
//! README on what that means across Lambda instances.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// Assertions remembered at once (about 100 bytes each).
pub const MAX_REMEMBERED_ASSERTIONS: usize = 16_384;

/// Why an assertion's `jti` cannot be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayRefusal {
    /// Seen before, and still within its lifetime.
    Replayed,
    /// The table is full of live entries; the oldest frees up after this.
    Full { retry_after: Duration },
}

type Key = [u8; 32];

#[derive(Debug, Default)]
struct Table {
    seen: HashSet<Key>,
    /// Each entry's end, soonest first.
    ends: BinaryHeap<Reverse<(u64, Key)>>,
}

/// The `jti`s of accepted assertions. Clones share their table.
#[derive(Debug, Clone)]
pub struct ReplayCache {
    capacity: usize,
    table: Arc<Mutex<Table>>,
}

impl Default for ReplayCache {
    fn default() -> Self {
        ReplayCache::new(MAX_REMEMBERED_ASSERTIONS)
    }
}

fn key(client_id: &str, jti: &str) -> Key {
    // A jti is unique per issuer (RFC 7519 4.1.7): the client id is part of
    // the key, length-prefixed so no two pairs hash the same input.
    let mut hash = Sha256::new();
    hash.update((client_id.len() as u64).to_be_bytes());
    hash.update(client_id.as_bytes());
    hash.update(jti.as_bytes());
    hash.finalize().into()
}

impl ReplayCache {
    pub fn new(capacity: usize) -> ReplayCache {
        ReplayCache {
            capacity: capacity.max(1),
            table: Arc::default(),
        }
    }

    /// Records `jti` of `client_id`, acceptable until `until` (seconds since
    /// the epoch), at `now`. Refused when it is still remembered.
    pub fn record(
        &self,
        client_id: &str,
        jti: &str,
        until: u64,
        now: SystemTime,
    ) -> Result<(), ReplayRefusal> {
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let key = key(client_id, jti);
        // Nothing panics while the lock is held; a poisoned table is whole.
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(Reverse((end, old))) = table.ends.peek().copied() {
            if end > now {
                break;
            }
            table.ends.pop();
            table.seen.remove(&old);
        }
        if table.seen.contains(&key) {
            return Err(ReplayRefusal::Replayed);
        }
        if table.seen.len() >= self.capacity {
            let soonest = table.ends.peek().map_or(now + 1, |Reverse((end, _))| *end);
            return Err(ReplayRefusal::Full {
                retry_after: Duration::from_secs(soonest.saturating_sub(now).max(1)),
            });
        }
        table.seen.insert(key);
        table.ends.push(Reverse((until, key)));
        Ok(())
    }

    /// How many assertions are remembered.
    pub fn len(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .seen
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_jti_is_refused_until_its_assertion_expires() {
        let cache = ReplayCache::default();
        cache.record("smart", "j1", NOW + 360, at(NOW)).unwrap();
        assert_eq!(
            cache.record("smart", "j1", NOW + 360, at(NOW + 359)),
            Err(ReplayRefusal::Replayed)
        );
        // Another client may use the same jti.
        cache.record("other", "j1", NOW + 360, at(NOW)).unwrap();
        // Once its time is up the entry is gone (the assertion would be
        // refused as expired by then anyway).
        cache
            .record("smart", "j1", NOW + 720, at(NOW + 360))
            .unwrap();
        // ("a", "bc") and ("ab", "c") are different pairs.
        cache.record("a", "bc", NOW + 10, at(NOW)).unwrap();
        cache.record("ab", "c", NOW + 10, at(NOW)).unwrap();
    }

    #[test]
    fn a_full_table_refuses_new_assertions_and_never_forgets_a_live_one() {
        let cache = ReplayCache::new(3);
        for jti in ["a", "b", "c"] {
            cache
                .record("smart", jti, NOW + 100 + jti.len() as u64, at(NOW))
                .unwrap();
        }
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
        assert_eq!(cache.len(), 3);
        // Expired entries make room.
        cache
            .record("smart", "d", NOW + 400, at(NOW + 101))
            .unwrap();
        assert_eq!(cache.len(), 1);
    }
}
