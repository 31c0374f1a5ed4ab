//! Failure throttling for the built-in token endpoint (SPEC 3.2: a burst of
//! failed client authentications is answered 429 with `Retry-After`).
//!
//! Failures are counted per fixed window, for each *presented* client id and
//! overall. Past the per-client limit, that id is refused unchecked until the
//! window ends; past the overall limit, any id that failed in the window is
//! refused (its allowance drops to that one failure) while ids with a clean
//! record are still checked, so a spray of guesses does not lock Redox out.
//! The state is keyed by what the caller presented, never by which clients
//! are configured, so it says nothing about which client ids exist. Pure:
//! the clock comes in as an argument; no secret is stored (ids as digests).
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// Distinct client ids tracked per window. Memory stays bounded whatever
/// ids are sprayed; ids that find the table full share one count.
pub const MAX_TRACKED_CLIENTS: usize = 1024;

/// How many failures are tolerated, and over what window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureLimits {
    /// Failures one client id may have in a window before it is refused.
    pub per_client: u32,
    /// Failures overall in a window before failed ids are refused at once.
    pub total: u32,
    pub window: Duration,
}

impl FailureLimits {
    pub const DEFAULT_PER_CLIENT: u32 = 10;
    pub const DEFAULT_TOTAL: u32 = 100;
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
}

impl Default for FailureLimits {
    fn default() -> Self {
        FailureLimits {
            per_client: Self::DEFAULT_PER_CLIENT,
            total: Self::DEFAULT_TOTAL,
            window: Self::DEFAULT_WINDOW,
        }
    }
}

/// An attempt refused unchecked; retry once the window is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
}

/// The failures of the current window.
#[derive(Debug, Default)]
struct Window {
    /// `now / window`: which window the counts belong to.
    index: u64,
    total: u32,
    per_client: HashMap<[u8; 32], u32>,
    /// Failures of ids that found `per_client` full.
    overflow: u32,
}

impl Window {
    fn failures(&self, id: &[u8; 32]) -> u32 {
        match self.per_client.get(id) {
            Some(count) => *count,
            None if self.per_client.len() >= MAX_TRACKED_CLIENTS => self.overflow,
            None => 0,
        }
    }
}

/// Counts failed client authentications and says when to stop checking.
/// Clones share their counts.
#[derive(Debug, Clone)]
pub struct FailureThrottle {
    limits: FailureLimits,
    window: Arc<Mutex<Window>>,
}

impl Default for FailureThrottle {
    fn default() -> Self {
        FailureThrottle::new(FailureLimits::default())
    }
}

fn digest(client_id: &str) -> [u8; 32] {
    Sha256::digest(client_id.as_bytes()).into()
}

impl FailureThrottle {
    pub fn new(limits: FailureLimits) -> Self {
        FailureThrottle {
            limits: FailureLimits {
                window: limits.window.max(Duration::from_secs(1)),
                ..limits
            },
            window: Arc::new(Mutex::new(Window::default())),
        }
    }

    pub fn limits(&self) -> FailureLimits {
        self.limits
    }

    fn window_index(&self, now: SystemTime) -> u64 {
        let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        since_epoch.as_secs() / self.limits.window.as_secs().max(1)
    }

    /// The current window's counts, emptied when a new window has begun.
    fn current(&self, now: SystemTime) -> std::sync::MutexGuard<'_, Window> {
        // Nothing here panics while holding the lock; a poisoned lock still
        // holds valid counts.
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let index = self.window_index(now);
        if index > window.index {
            *window = Window {
                index,
                ..Window::default()
            };
        }
        window
    }

    /// `Ok` when an attempt presenting `client_ids` (every reading of the
    /// id it sent) may be checked at `now`; `Err` when it must be refused
    /// unchecked, even if its secret is right, or guessing would go on at
    /// full speed behind the 429s.
    pub fn check(&self, client_ids: &[&str], now: SystemTime) -> Result<(), Throttled> {
        let window = self.current(now);
        let over_total = window.total >= self.limits.total;
        let throttled = client_ids.iter().any(|id| {
            let failures = window.failures(&digest(id));
            failures >= self.limits.per_client || (over_total && failures > 0)
        });
        if !throttled {
            return Ok(());
        }
        let window_secs = self.limits.window.as_secs().max(1);
        let ends_at = window.index.saturating_add(1).saturating_mul(window_secs);
        let now_secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        Err(Throttled {
            retry_after: Duration::from_secs(ends_at.saturating_sub(now_secs).max(1)),
        })
    }

    /// Counts one failed client authentication for each of `client_ids`.
    pub fn record_failure(&self, client_ids: &[&str], now: SystemTime) {
        let mut window = self.current(now);
        window.total = window.total.saturating_add(1);
        let mut ids: Vec<[u8; 32]> = client_ids.iter().map(|id| digest(id)).collect();
        ids.dedup();
        for id in ids {
            if let Some(count) = window.per_client.get_mut(&id) {
                *count = count.saturating_add(1);
            } else if window.per_client.len() < MAX_TRACKED_CLIENTS {
                window.per_client.insert(id, 1);
            } else {
                window.overflow = window.overflow.saturating_add(1);
            }
        }
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

    const START: u64 = 1_800_000_000 / 60 * 60;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(START + secs)
    }

    fn throttle(per_client: u32, total: u32) -> FailureThrottle {
        FailureThrottle::new(FailureLimits {
            per_client,
            total,
            window: Duration::from_secs(60),
        })
    }

    #[test]
    fn a_client_is_refused_after_its_limit_until_the_window_ends() {
        let t = throttle(3, 100);
        for _ in 0..3 {
            assert_eq!(t.check(&["redox"], at(10)), Ok(()));
            t.record_failure(&["redox"], at(10));
        }
        assert_eq!(
            t.check(&["redox"], at(15)),
            Err(Throttled {
                retry_after: Duration::from_secs(45)
            })
        );
        // Another client is untouched.
        assert_eq!(t.check(&["other"], at(15)), Ok(()));
        // Any reading of the presented id counts.
        assert!(t.check(&["%72edox", "redox"], at(15)).is_err());
        // A new window starts clean.
        assert_eq!(t.check(&["redox"], at(60)), Ok(()));
    }

    #[test]
    fn past_the_overall_limit_only_ids_that_failed_are_refused() {
        let t = throttle(10, 5);
        for i in 0..5 {
            t.record_failure(&[&format!("guess-{i}")], at(0));
        }
        assert!(t.check(&["guess-0"], at(1)).is_err());
        assert!(t.check(&["guess-4"], at(1)).is_err());
        // A client with a clean record is still checked.
        assert_eq!(t.check(&["redox"], at(1)), Ok(()));
        // Below the overall limit, one failure is not enough.
        let t = throttle(10, 5);
        t.record_failure(&["guess-0"], at(0));
        assert_eq!(t.check(&["guess-0"], at(1)), Ok(()));
    }

    #[test]
    fn the_state_depends_only_on_what_was_presented() {
        // Two throttles fed the same presented ids behave the same, whatever
        // clients exist: the throttle is never told.
        let a = throttle(2, 100);
        let b = throttle(2, 100);
        for t in [&a, &b] {
            t.record_failure(&["configured"], at(0));
            t.record_failure(&["never-configured"], at(0));
        }
        for id in ["configured", "never-configured", "third"] {
            assert_eq!(a.check(&[id], at(1)), b.check(&[id], at(1)));
        }
    }

    #[test]
    fn memory_stays_bounded_and_overflowing_ids_share_a_count() {
        let t = throttle(3, u32::MAX);
        for i in 0..MAX_TRACKED_CLIENTS + 10 {
            t.record_failure(&[&format!("id-{i}")], at(0));
        }
        assert_eq!(
            t.window.lock().unwrap().per_client.len(),
            MAX_TRACKED_CLIENTS
        );
        // The ten overflowing ids share one count, now past the limit.
        assert!(t.check(&["never-seen"], at(1)).is_err());
        assert_eq!(t.check(&["id-0"], at(1)), Ok(()));
    }

    #[test]
    fn retry_after_is_at_least_a_second() {
        let t = throttle(1, 100);
        t.record_failure(&["x"], at(59));
        assert_eq!(
            t.check(&["x"], at(59)).unwrap_err().retry_after,
            Duration::from_secs(1)
        );
    }
}
