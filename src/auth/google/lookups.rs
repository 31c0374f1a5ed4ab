//! Access-token lookups at Google's token-info endpoint: cached, shared,
//! and capped, so that the function cannot be used to hammer Google or to
//! run up its own latency.
//!
//! - An answer is cached by the token's SHA-256 (the token itself is never
//!   kept): a pinned service account's token until it expires, anything
//!   else (a token Google refuses, or one of another account) for
//!   [`REFUSAL_TTL`]. Pushes with one token cost one call an hour.
//! - Concurrent lookups of one token share one call: the others wait for
//!   its answer in the cache.
//! - Calls that do not find a pinned account's token are limited per
//!   source address ([`FailureThrottle`], as the token endpoint's failed
//!   client authentications are: a burst, then one per interval) and in
//!   total; past either, no call is made (429 for the address, 503 in
//!   total). A call that finds a pinned account's token is given back, so
//!   Redox never meets the limit.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::tokeninfo::{AccessTokenInfo, TokenInfoAnswer, TokenInfoError, TokenInfoSource};
use crate::throttle::{FailureLimits, FailureThrottle, SourceKey};

/// How long a refusal is remembered.
pub const REFUSAL_TTL: Duration = Duration::from_secs(60);
/// Valid tokens of pinned accounts kept at once (a handful in practice).
pub const MAX_VALID: usize = 1024;
/// Refusals kept at once; the oldest go first.
pub const MAX_REFUSED: usize = 8192;

/// How many calls may be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    /// Calls per source address per minute that find no pinned account's
    /// token (also the burst).
    pub per_address: u32,
    /// Such calls per minute in all.
    pub total: u32,
}

impl Default for CallLimits {
    fn default() -> Self {
        CallLimits {
            per_address: 1,
            total: 60,
        }
    }
}

/// Why a token could not be looked up.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum LookupError {
    /// This source address spent its calls (429).
    #[error("this address has spent its token-info calls; retry in {retry_after_secs} s")]
    AddressLimited { retry_after_secs: u64 },
    /// Every address together spent the calls (503: our capacity).
    #[error("the token-info call budget is spent; retry in {retry_after_secs} s")]
    BudgetSpent { retry_after_secs: u64 },
    /// Google did not answer usefully (503: Redox retries).
    #[error(transparent)]
    Unavailable(#[from] TokenInfoError),
}

type TokenKey = [u8; 32];

#[derive(Default)]
struct Cache {
    /// Pinned accounts' tokens, until their `exp` (seconds since the epoch).
    valid: HashMap<TokenKey, AccessTokenInfo>,
    /// Other answers, until the instant (seconds since the epoch) stored.
    refused: HashMap<TokenKey, (TokenInfoAnswer, u64)>,
    refused_order: VecDeque<TokenKey>,
    /// Tokens being looked up now: later lookups wait for the first.
    in_flight: HashMap<TokenKey, Arc<tokio::sync::Mutex<()>>>,
}

/// Looks access tokens up, within [`CallLimits`].
pub struct AccessTokenLookups {
    source: Box<dyn TokenInfoSource>,
    per_address: FailureThrottle,
    total: FailureThrottle,
    cache: Mutex<Cache>,
    calls: std::sync::atomic::AtomicU64,
}

fn seconds(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

impl AccessTokenLookups {
    pub fn new(source: Box<dyn TokenInfoSource>, limits: CallLimits) -> AccessTokenLookups {
        AccessTokenLookups {
            source,
            per_address: FailureThrottle::new(FailureLimits {
                per_address: limits.per_address,
                ..FailureLimits::default()
            }),
            total: FailureThrottle::new(FailureLimits {
                per_address: limits.total,
                tracked_addresses: 1,
            }),
            cache: Mutex::default(),
            calls: Default::default(),
        }
    }

    pub fn describe(&self) -> String {
        self.source.describe()
    }

    /// Calls made to token-info since start.
    pub fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cached(&self, key: &TokenKey, now: SystemTime) -> Option<TokenInfoAnswer> {
        let now = seconds(now);
        let mut cache = self.lock();
        if let Some(info) = cache.valid.get(key) {
            if info.exp > now {
                return Some(TokenInfoAnswer::Valid(info.clone()));
            }
            cache.valid.remove(key);
        }
        match cache.refused.get(key) {
            Some((answer, until)) if *until > now => Some(answer.clone()),
            Some(_) => {
                cache.refused.remove(key);
                None
            }
            None => None,
        }
    }

    fn remember(&self, key: TokenKey, answer: &TokenInfoAnswer, pinned: bool, now: SystemTime) {
        let now = seconds(now);
        let mut cache = self.lock();
        match answer {
            TokenInfoAnswer::Valid(info) if pinned => {
                if cache.valid.len() >= MAX_VALID {
                    cache.valid.retain(|_, info| info.exp > now);
                }
                if cache.valid.len() < MAX_VALID {
                    cache.valid.insert(key, info.clone());
                }
            }
            _ => {
                while cache.refused.len() >= MAX_REFUSED {
                    let Some(oldest) = cache.refused_order.pop_front() else {
                        cache.refused.clear();
                        break;
                    };
                    cache.refused.remove(&oldest);
                }
                let until = now.saturating_add(REFUSAL_TTL.as_secs());
                if cache.refused.insert(key, (answer.clone(), until)).is_none() {
                    cache.refused_order.push_back(key);
                }
                if cache.refused_order.len() > 2 * MAX_REFUSED {
                    let Cache {
                        refused,
                        refused_order,
                        ..
                    } = &mut *cache;
                    refused_order.retain(|key| refused.contains_key(key));
                }
            }
        }
    }

    /// What Google says of `token`, from the cache or one call. `pinned`
    /// tells whether an answer names a trusted service account (only those
    /// are kept until they expire, and give their call back).
    pub async fn lookup(
        &self,
        token: &str,
        source: SourceKey,
        now: SystemTime,
        pinned: impl Fn(&AccessTokenInfo) -> bool,
    ) -> Result<TokenInfoAnswer, LookupError> {
        let key: TokenKey = Sha256::digest(token.as_bytes()).into();
        if let Some(answer) = self.cached(&key, now) {
            return Ok(answer);
        }
        let gate = self.lock().in_flight.entry(key).or_default().clone();
        let result = {
            let _turn = gate.lock().await;
            match self.cached(&key, now) {
                Some(answer) => Ok(answer),
                None => self.call(key, token, source, now, &pinned).await,
            }
        };
        let mut cache = self.lock();
        // The last one out removes the gate (the map holds one reference).
        if Arc::strong_count(&gate) <= 2 {
            cache.in_flight.remove(&key);
        }
        result
    }

    async fn call(
        &self,
        key: TokenKey,
        token: &str,
        source: SourceKey,
        now: SystemTime,
        pinned: &impl Fn(&AccessTokenInfo) -> bool,
    ) -> Result<TokenInfoAnswer, LookupError> {
        let attempt = self.per_address.reserve(source, now).map_err(|throttled| {
            LookupError::AddressLimited {
                retry_after_secs: throttled.retry_after.as_secs(),
            }
        })?;
        let overall = match self.total.reserve(SourceKey::Unknown, now) {
            Ok(overall) => overall,
            Err(throttled) => {
                // Not this address's doing: its reservation is given back.
                attempt.not_evaluated();
                return Err(LookupError::BudgetSpent {
                    retry_after_secs: throttled.retry_after.as_secs(),
                });
            }
        };
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let answer = self.source.check(token).await?;
        let is_pinned = matches!(&answer, TokenInfoAnswer::Valid(info) if pinned(info));
        self.remember(key, &answer, is_pinned, now);
        if is_pinned {
            attempt.succeeded();
            overall.succeeded();
        }
        Ok(answer)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::BoxFuture;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const NOW: u64 = 1_800_000_000;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    /// Google as a test sees it: `ya29.good…` tokens are the pinned
    /// account's, `ya29.other…` another's, the rest refused; `down` fails.
    struct FakeGoogle {
        calls: Arc<AtomicUsize>,
        down: bool,
        delay: Duration,
    }

    impl TokenInfoSource for FakeGoogle {
        fn check<'a>(
            &'a self,
            token: &'a str,
        ) -> BoxFuture<'a, Result<TokenInfoAnswer, TokenInfoError>> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(self.delay).await;
                if self.down {
                    return Err(TokenInfoError::Status(503));
                }
                let azp = if token.starts_with("ya29.good") {
                    "111"
                } else if token.starts_with("ya29.other") {
                    "999"
                } else {
                    return Ok(TokenInfoAnswer::Refused);
                };
                Ok(TokenInfoAnswer::Valid(AccessTokenInfo {
                    azp: Some(azp.into()),
                    aud: Some(azp.into()),
                    sub: None,
                    scope: String::new(),
                    exp: NOW + 3600,
                    email: None,
                    email_verified: false,
                }))
            })
        }
        fn describe(&self) -> String {
            "fake".into()
        }
    }

    fn lookups(down: bool, delay: Duration) -> (Arc<AccessTokenLookups>, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let source = FakeGoogle {
            calls: calls.clone(),
            down,
            delay,
        };
        (
            Arc::new(AccessTokenLookups::new(
                Box::new(source),
                CallLimits::default(),
            )),
            calls,
        )
    }

    fn pinned(info: &AccessTokenInfo) -> bool {
        info.azp.as_deref() == Some("111")
    }

    fn address(n: u8) -> SourceKey {
        SourceKey::of(Some(&format!("198.51.100.{n}")))
    }

    #[tokio::test]
    async fn a_thousand_lookups_of_one_token_make_one_call() {
        let (lookups, calls) = lookups(false, Duration::from_millis(20));
        let mut tasks = Vec::new();
        for i in 0..1000 {
            let lookups = lookups.clone();
            tasks.push(tokio::spawn(async move {
                lookups
                    .lookup("ya29.good-token", address((i % 7) as u8), now(), pinned)
                    .await
            }));
        }
        for task in tasks {
            assert!(matches!(task.await.unwrap(), Ok(TokenInfoAnswer::Valid(_))));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(lookups.lock().in_flight.is_empty());
    }

    #[tokio::test]
    async fn random_bearer_values_from_one_address_cost_one_call_a_minute() {
        let (lookups, calls) = lookups(false, Duration::ZERO);
        let mut limited = 0;
        for i in 0..1000 {
            match lookups
                .lookup(&format!("ya29.random-{i}"), address(1), now(), pinned)
                .await
            {
                Ok(TokenInfoAnswer::Refused) => {}
                Err(LookupError::AddressLimited { retry_after_secs }) => {
                    assert!(retry_after_secs <= 60);
                    limited += 1;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(limited, 999);
        // Another account's valid token is no better than a random one.
        let other = lookups
            .lookup("ya29.other-1", address(2), now(), pinned)
            .await;
        assert!(matches!(other, Ok(TokenInfoAnswer::Valid(_))));
        let again = lookups
            .lookup("ya29.other-2", address(2), now(), pinned)
            .await;
        assert!(matches!(again, Err(LookupError::AddressLimited { .. })));
        // The pinned account's token passes from an address that spent its
        // call, and gives it back.
        let good = lookups
            .lookup("ya29.good-1", address(1), now(), pinned)
            .await;
        assert!(matches!(good, Err(LookupError::AddressLimited { .. })));
        let later = now() + Duration::from_secs(61);
        for _ in 0..3 {
            let good = lookups
                .lookup("ya29.good-2", address(1), later, pinned)
                .await;
            assert!(matches!(good, Ok(TokenInfoAnswer::Valid(_))));
        }
        let good = lookups
            .lookup("ya29.good-3", address(1), later, pinned)
            .await;
        assert!(matches!(good, Ok(TokenInfoAnswer::Valid(_))), "{good:?}");
    }

    #[tokio::test]
    async fn many_addresses_together_are_held_to_the_total() {
        let (lookups, calls) = lookups(false, Duration::ZERO);
        let mut spent = 0;
        for i in 0..200u32 {
            let source = SourceKey::of(Some(&format!("10.0.{}.{}", i / 250, i % 250)));
            if let Err(LookupError::BudgetSpent { .. }) = lookups
                .lookup(&format!("ya29.random-{i}"), source, now(), pinned)
                .await
            {
                spent += 1;
            }
        }
        assert_eq!(calls.load(Ordering::SeqCst), 60);
        assert_eq!(spent, 140);
    }

    #[tokio::test]
    async fn an_outage_is_an_error_not_a_refusal_and_is_not_remembered() {
        let (down, calls) = lookups(true, Duration::ZERO);
        let answer = down.lookup("ya29.good-1", address(1), now(), pinned).await;
        assert_eq!(
            answer,
            Err(LookupError::Unavailable(TokenInfoError::Status(503)))
        );
        assert!(
            down.cached(&Sha256::digest(b"ya29.good-1").into(), now())
                .is_none()
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn refusals_are_remembered_for_a_minute_and_valid_tokens_until_they_expire() {
        let (lookups, calls) = lookups(false, Duration::ZERO);
        let far = |secs| now() + Duration::from_secs(secs);
        lookups
            .lookup("ya29.good", address(4), now(), pinned)
            .await
            .unwrap();
        lookups
            .lookup("ya29.bad", address(1), now(), pinned)
            .await
            .unwrap();
        lookups
            .lookup("ya29.bad", address(2), far(30), pinned)
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        lookups
            .lookup("ya29.bad", address(3), far(61), pinned)
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        lookups
            .lookup("ya29.good", address(4), far(3599), pinned)
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        lookups
            .lookup("ya29.good", address(4), far(3601), pinned)
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }
}
