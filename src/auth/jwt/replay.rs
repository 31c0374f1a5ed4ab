//! `jti`s already used, so a single-use token is accepted once.
//!
//! [`JtiTable`] is one bounded table of used `jti`s, each remembered until
//! its token could no longer be accepted anyway (`exp` plus the leeway);
//! the built-in token endpoint keeps one per SMART client
//! ([`crate::oauth::replay`]). [`IssuerReplay`] keeps one per `jwt_issuers`
//! entry that asks for it (`replay_check`), for JWT Bearer tokens. Entries
//! are forgotten by a fresh clock reading, never later than the request's
//! own reading allows, so a request cannot make another's live entry be
//! forgotten. A full table refuses new tokens rather than forget a live
//! entry, which would let its token be replayed. Only tokens whose
//! signature verified are recorded, so only a key holder can fill a table.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// `jti`s one `jwt_issuers` entry may have remembered at once (about 100
/// bytes each): with a five-minute lifetime, about 90 tokens a second.
pub const REMEMBERED_PER_ISSUER: usize = 32_768;
/// Issuers with a table at once (one per `jwt_issuers` entry in use).
pub const MAX_TRACKED_ISSUERS: usize = 256;

/// A `jti` as remembered: the SHA-256 of its scope (client or issuer) and
/// itself.
pub type JtiKey = [u8; 32];

/// The key of `jti` within `scope`, length-prefixed so no two
/// (scope, jti) pairs hash the same input.
pub fn jti_key(scope: &str, jti: &str) -> JtiKey {
    let mut hash = Sha256::new();
    hash.update((scope.len() as u64).to_be_bytes());
    hash.update(scope.as_bytes());
    hash.update(jti.as_bytes());
    hash.finalize().into()
}

/// Seconds since the epoch (0 before it).
pub fn epoch_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Reads the wall clock (injected in tests).
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The instant a table may forget by: what has ended by both a fresh
/// reading and the request's own.
pub fn sweep_point(clock: &Clock, request_now: SystemTime) -> u64 {
    epoch_secs(request_now).min(epoch_secs(clock()))
}

/// One table of used `jti`s.
#[derive(Debug, Default)]
pub struct JtiTable {
    seen: HashSet<JtiKey>,
    /// Each entry's end, soonest first.
    ends: BinaryHeap<Reverse<(u64, JtiKey)>>,
}

impl JtiTable {
    /// Forgets the entries that have ended at `at`.
    pub fn sweep(&mut self, at: u64) {
        while let Some(Reverse((end, old))) = self.ends.peek().copied() {
            if end > at {
                break;
            }
            self.ends.pop();
            self.seen.remove(&old);
        }
    }

    pub fn contains(&self, key: &JtiKey) -> bool {
        self.seen.contains(key)
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// When the soonest entry ends.
    pub fn soonest_end(&self) -> Option<u64> {
        self.ends.peek().map(|Reverse((end, _))| *end)
    }

    /// Remembers `key` until `until` (seconds since the epoch).
    pub fn insert(&mut self, key: JtiKey, until: u64) {
        if self.seen.insert(key) {
            self.ends.push(Reverse((until, key)));
        }
    }
}

/// Why a `jti` was not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JtiRefusal {
    Replayed,
    Full,
}

/// One [`JtiTable`] per issuer. Clones share their tables.
#[derive(Clone)]
pub struct IssuerReplay {
    per_issuer: usize,
    clock: Clock,
    tables: Arc<Mutex<HashMap<String, JtiTable>>>,
}

impl Default for IssuerReplay {
    fn default() -> Self {
        IssuerReplay::new(REMEMBERED_PER_ISSUER)
    }
}

impl std::fmt::Debug for IssuerReplay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerReplay")
            .field("per_issuer", &self.per_issuer)
            .finish_non_exhaustive()
    }
}

impl IssuerReplay {
    pub fn new(per_issuer: usize) -> IssuerReplay {
        IssuerReplay {
            per_issuer: per_issuer.max(1),
            clock: Arc::new(SystemTime::now),
            tables: Arc::default(),
        }
    }

    /// The same tables, forgetting by `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Clock) -> IssuerReplay {
        self.clock = clock;
        self
    }

    /// Records `jti` of `issuer`, acceptable until `until`, for a request
    /// that read the clock at `now`.
    pub fn record(
        &self,
        issuer: &str,
        jti: &str,
        until: u64,
        now: SystemTime,
    ) -> Result<(), JtiRefusal> {
        let at = sweep_point(&self.clock, now);
        let key = jti_key(issuer, jti);
        // Nothing panics while the lock is held; a poisoned table is whole.
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        if !tables.contains_key(issuer) && tables.len() >= MAX_TRACKED_ISSUERS {
            tables.retain(|_, table| {
                table.sweep(at);
                !table.is_empty()
            });
            if tables.len() >= MAX_TRACKED_ISSUERS {
                return Err(JtiRefusal::Full);
            }
        }
        let table = tables.entry(issuer.to_owned()).or_default();
        table.sweep(at);
        if table.contains(&key) {
            return Err(JtiRefusal::Replayed);
        }
        if table.len() >= self.per_issuer {
            return Err(JtiRefusal::Full);
        }
        table.insert(key, until);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    const NOW: u64 = 1_800_000_000;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_jti_is_refused_until_its_token_expires_per_issuer() {
        let clock = Arc::new(AtomicU64::new(NOW));
        let reading = clock.clone();
        let replay =
            IssuerReplay::new(2).with_clock(Arc::new(move || at(reading.load(Ordering::SeqCst))));
        replay.record("redox", "j1", NOW + 360, at(NOW)).unwrap();
        assert_eq!(
            replay.record("redox", "j1", NOW + 360, at(NOW + 10)),
            Err(JtiRefusal::Replayed)
        );
        // Another issuer's jtis are its own.
        replay.record("other", "j1", NOW + 360, at(NOW)).unwrap();
        replay.record("redox", "j2", NOW + 360, at(NOW)).unwrap();
        assert_eq!(
            replay.record("redox", "j3", NOW + 360, at(NOW)),
            Err(JtiRefusal::Full)
        );
        // A request reading from the future forgets nothing live.
        assert_eq!(
            replay.record("redox", "j1", NOW + 360, at(NOW + 9_999)),
            Err(JtiRefusal::Replayed)
        );
        clock.store(NOW + 360, Ordering::SeqCst);
        replay
            .record("redox", "j1", NOW + 720, at(NOW + 360))
            .unwrap();
    }
}
