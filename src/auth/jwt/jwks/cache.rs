//! [`JwksCache`]: one remote key set, stale-while-revalidate; and
//! [`ClientKeySets`]: one such cache per SMART client `jwks_url`.
//!
//! The rule every request relies on: **a request whose `kid` is cached
//! never waits for the key host.** Past its TTL the cached set is served at
//! once while one background fetch (a task of its own, never awaited by the
//! request) refreshes it. Only two requests ever wait for a fetch, and the
//! caller bounds that wait with the request's deadline: one that finds
//! nothing cached at all, and one whose token names a `kid` the cached set
//! lacks (at most one such fetch per re-fetch interval). A failed fetch is
//! not retried until [`FAILURE_BACKOFF`] has passed since it *ended*, so a
//! hanging host sees one connection per timeout plus back-off, whatever the
//! load, and the requests meanwhile are answered from the cache (or 503 at
//! once with nothing cached).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::https::HttpsJwks;
use super::source::{JwksError, JwksSource};
use crate::auth::jwt::jwk::KeySet;

/// Least time between two unknown-`kid` re-fetches, unless configured.
pub const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// After a failed fetch ends, no new fetch starts for this long.
pub const FAILURE_BACKOFF: Duration = Duration::from_secs(5);

/// The outcome of one fetch, shared with every request waiting for it.
type FetchOutcome = Result<Arc<KeySet>, JwksError>;

struct Cached {
    keys: Arc<KeySet>,
    fetched_at: Instant,
}

/// What the cache knows; held under a plain mutex for a few instructions
/// at a time, never across an await.
#[derive(Default)]
struct CacheState {
    cached: Option<Cached>,
    /// The fetch in flight: every request that must wait joins this one.
    in_flight: Option<watch::Receiver<Option<FetchOutcome>>>,
    last_start: Option<Instant>,
    /// When the last fetch ended, if it failed (cleared by a success).
    failed_at: Option<Instant>,
}

struct Shared {
    source: Box<dyn JwksSource>,
    state: Mutex<CacheState>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, CacheState> {
        // Every update is a single assignment: a poisoned state is whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What a re-fetch after an unknown `kid` came to.
#[derive(Debug, Clone)]
pub enum Refresh {
    /// A key set was fetched (it may or may not hold the `kid`).
    Fetched(Arc<KeySet>),
    /// The source is healthy and was read less than the re-fetch interval
    /// ago: the `kid` is simply not published.
    Unchanged,
    /// The source failed (now, or within the back-off): the `kid` cannot
    /// be checked. An outage, not the caller's fault.
    Unavailable,
}

/// A remote key set, trusted for `ttl`, re-fetched on an unknown `kid` at
/// most once per `refetch_interval`, and served stale while the source is
/// slow or down (a key the provider withdrew stops working at the next
/// success).
pub struct JwksCache {
    shared: Arc<Shared>,
    ttl: Duration,
    refetch_interval: Duration,
    failure_backoff: Duration,
}

impl JwksCache {
    pub fn new(source: Box<dyn JwksSource>, ttl: Duration) -> Self {
        JwksCache {
            shared: Arc::new(Shared {
                source,
                state: Mutex::new(CacheState::default()),
            }),
            ttl,
            refetch_interval: DEFAULT_REFETCH_INTERVAL,
            failure_backoff: FAILURE_BACKOFF,
        }
    }

    pub fn with_refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    pub fn describe(&self) -> String {
        self.shared.source.describe()
    }

    /// The key set for the current request: the cached one at once, fresh
    /// or stale (a stale one starts a background refresh when none runs
    /// and the back-off allows). With nothing cached: waits for the shared
    /// fetch, or `None` at once during the back-off after a failure.
    pub async fn current(&self) -> Option<Arc<KeySet>> {
        let waiting = {
            let mut state = self.shared.lock();
            if let Some(cached) = &state.cached {
                let keys = cached.keys.clone();
                if cached.fetched_at.elapsed() >= self.ttl
                    && live_fetch(&mut state).is_none()
                    && !self.backing_off(&state)
                {
                    self.start_fetch(&mut state);
                }
                return Some(keys);
            }
            match live_fetch(&mut state) {
                Some(in_flight) => in_flight,
                None if self.backing_off(&state) => return None,
                None => self.start_fetch(&mut state),
            }
        };
        wait_for(waiting).await.ok()
    }

    /// After a token named a `kid` the cached set lacks: join the fetch in
    /// flight, or start one unless the source was read successfully less
    /// than the re-fetch interval ago (or failed within the back-off), and
    /// wait for it.
    pub async fn refresh_after_unknown_kid(&self) -> Refresh {
        let waiting = {
            let mut state = self.shared.lock();
            match live_fetch(&mut state) {
                Some(in_flight) => in_flight,
                None if state.failed_at.is_some() => {
                    if self.backing_off(&state) {
                        return Refresh::Unavailable;
                    }
                    self.start_fetch(&mut state)
                }
                None if state
                    .last_start
                    .is_some_and(|at| at.elapsed() < self.refetch_interval) =>
                {
                    return Refresh::Unchanged;
                }
                None => self.start_fetch(&mut state),
            }
        };
        match wait_for(waiting).await {
            Ok(keys) => Refresh::Fetched(keys),
            Err(_) => Refresh::Unavailable,
        }
    }

    fn backing_off(&self, state: &CacheState) -> bool {
        state
            .failed_at
            .is_some_and(|at| at.elapsed() < self.failure_backoff)
    }

    /// Starts a fetch in a task of its own: a request that stops waiting
    /// (its deadline) does not cancel it, and its outcome lands in the
    /// cache either way.
    fn start_fetch(&self, state: &mut CacheState) -> watch::Receiver<Option<FetchOutcome>> {
        let (done, waiting) = watch::channel(None);
        state.in_flight = Some(waiting.clone());
        state.last_start = Some(Instant::now());
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let outcome = shared.source.fetch().await.map(Arc::new);
            {
                let mut state = shared.lock();
                state.in_flight = None;
                match &outcome {
                    Ok(keys) => {
                        state.cached = Some(Cached {
                            keys: keys.clone(),
                            fetched_at: Instant::now(),
                        });
                        state.failed_at = None;
                    }
                    Err(error) => {
                        state.failed_at = Some(Instant::now());
                        tracing::warn!(
                            %error,
                            jwks = %shared.source.describe(),
                            serving_cached = state.cached.is_some(),
                            "JWKS fetch failed"
                        );
                    }
                }
            }
            // Nobody waiting is fine: the outcome is in the cache.
            let _ = done.send(Some(outcome));
        });
        waiting
    }
}

/// The fetch in flight, unless its task ended without an answer (a panic in
/// a source), which then counts as a failure just ended.
fn live_fetch(state: &mut CacheState) -> Option<watch::Receiver<Option<FetchOutcome>>> {
    let in_flight = state.in_flight.as_ref()?;
    if in_flight.has_changed().is_err() {
        state.in_flight = None;
        state.failed_at = Some(Instant::now());
        return None;
    }
    Some(in_flight.clone())
}

async fn wait_for(mut waiting: watch::Receiver<Option<FetchOutcome>>) -> FetchOutcome {
    let ended = || JwksError::Unreachable("the JWKS fetch ended without an answer".into());
    match waiting.wait_for(Option::is_some).await {
        Ok(outcome) => outcome.clone().unwrap_or_else(|| Err(ended())),
        Err(_) => Err(ended()),
    }
}

/// Makes the key-set source for a URL (the HTTPS client, in production).
pub type JwksSourceFactory = dyn Fn(&str) -> Result<Box<dyn JwksSource>, String> + Send + Sync;

/// How long a client's fetched key set is trusted.
pub const CLIENT_JWKS_TTL: Duration = Duration::from_secs(3600);
/// Different `jwks_url`s whose key sets are kept at once.
pub const MAX_CLIENT_JWKS_URLS: usize = 64;

/// The key sets of the built-in token endpoint's clients that registered a
/// `jwks_url` (SMART Backend Services): one [`JwksCache`] per URL, made
/// the first time a request needs it, so a client-secret client or an
/// unused URL is never fetched. Clones share their caches.
#[derive(Clone)]
pub struct ClientKeySets {
    factory: Arc<JwksSourceFactory>,
    caches: Arc<Mutex<HashMap<String, Arc<JwksCache>>>>,
    ttl: Duration,
    refetch_interval: Duration,
}

impl std::fmt::Debug for ClientKeySets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKeySets")
            .field("ttl", &self.ttl)
            .field("refetch_interval", &self.refetch_interval)
            .finish_non_exhaustive()
    }
}

impl ClientKeySets {
    pub fn new(factory: Arc<JwksSourceFactory>) -> ClientKeySets {
        ClientKeySets {
            factory,
            caches: Arc::default(),
            ttl: CLIENT_JWKS_TTL,
            refetch_interval: DEFAULT_REFETCH_INTERVAL,
        }
    }

    /// Key sets fetched over HTTPS, each fetch bounded by `timeout`.
    pub fn https(timeout: Duration) -> ClientKeySets {
        ClientKeySets::new(Arc::new(move |url: &str| {
            HttpsJwks::new(url, timeout).map(|source| Box::new(source) as Box<dyn JwksSource>)
        }))
    }

    /// The least time between two unknown-`kid` re-fetches of one URL.
    pub fn with_refetch_interval(mut self, interval: Duration) -> ClientKeySets {
        self.refetch_interval = interval;
        self
    }

    /// How long a fetched key set is trusted before a background refresh.
    pub fn with_ttl(mut self, ttl: Duration) -> ClientKeySets {
        self.ttl = ttl;
        self
    }

    /// The cache for `url`, made on first use; `None` when no source can be
    /// made for it (a URL the material check should have refused).
    pub fn cache(&self, url: &str) -> Option<Arc<JwksCache>> {
        let mut caches = self.caches.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cache) = caches.get(url) {
            return Some(cache.clone());
        }
        let source = match (self.factory)(url) {
            Ok(source) => source,
            Err(why) => {
                tracing::warn!(%why, "a client's jwks_url cannot be fetched");
                return None;
            }
        };
        // URLs come from the auth material; a set that changed many times
        // over is simply fetched again.
        if caches.len() >= MAX_CLIENT_JWKS_URLS {
            caches.clear();
        }
        let cache =
            Arc::new(JwksCache::new(source, self.ttl).with_refetch_interval(self.refetch_interval));
        caches.insert(url.to_owned(), cache.clone());
        Some(cache)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::BoxFuture;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// A source that counts its fetches, answers after `delay`, and fails
    /// while `up` is false.
    #[derive(Clone, Default)]
    struct Probe {
        calls: Arc<AtomicUsize>,
        down: Arc<AtomicBool>,
        delay: Arc<Mutex<Duration>>,
    }

    fn one_key_set() -> KeySet {
        KeySet::from_jwks_json(
            br#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#,
        )
        .unwrap()
    }

    impl JwksSource for Probe {
        fn fetch(&self) -> BoxFuture<'_, Result<KeySet, JwksError>> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                let delay = *self.delay.lock().unwrap();
                tokio::time::sleep(delay).await;
                if self.down.load(Ordering::SeqCst) {
                    Err(JwksError::Unreachable("down".into()))
                } else {
                    Ok(one_key_set())
                }
            })
        }
        fn describe(&self) -> String {
            "probe".into()
        }
    }

    impl Probe {
        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
        fn set_down(&self, down: bool) {
            self.down.store(down, Ordering::SeqCst);
        }
        /// Answers only after an hour: a host that hangs.
        fn hang(&self) {
            *self.delay.lock().unwrap() = Duration::from_secs(3600);
        }
    }

    fn cache(ttl: Duration) -> (JwksCache, Probe) {
        let probe = Probe::default();
        (JwksCache::new(Box::new(probe.clone()), ttl), probe)
    }

    /// Lets spawned fetches run to their next await.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn keys_are_fetched_once_and_unknown_kids_refetch_at_most_once_a_minute() {
        let (cache, probe) = cache(Duration::from_secs(3600));
        for _ in 0..50 {
            assert!(cache.current().await.is_some());
        }
        assert_eq!(probe.calls(), 1);
        assert!(matches!(
            cache.refresh_after_unknown_kid().await,
            Refresh::Unchanged
        ));
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(matches!(
            cache.refresh_after_unknown_kid().await,
            Refresh::Unchanged
        ));
        assert_eq!(probe.calls(), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(matches!(
            cache.refresh_after_unknown_kid().await,
            Refresh::Fetched(_)
        ));
        assert!(matches!(
            cache.refresh_after_unknown_kid().await,
            Refresh::Unchanged
        ));
        assert_eq!(probe.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_refetch_interval_is_injectable() {
        let (cache, probe) = cache(Duration::from_secs(3600));
        let cache = cache.with_refetch_interval(Duration::from_secs(1));
        cache.current().await.unwrap();
        tokio::time::advance(Duration::from_millis(1100)).await;
        assert!(matches!(
            cache.refresh_after_unknown_kid().await,
            Refresh::Fetched(_)
        ));
        assert_eq!(probe.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn past_the_ttl_cached_keys_are_served_at_once_while_a_hanging_host_is_asked_in_the_background()
     {
        let (cache, probe) = cache(Duration::from_secs(60));
        cache.current().await.unwrap();
        probe.hang();
        tokio::time::advance(Duration::from_secs(61)).await;
        // Many requests past the TTL: each answered from the cache without
        // waiting, and one background fetch between them all.
        for _ in 0..100 {
            let started = Instant::now();
            assert!(cache.current().await.is_some());
            assert_eq!(started.elapsed(), Duration::ZERO);
        }
        settle().await;
        assert_eq!(
            probe.calls(),
            2,
            "one refresh in flight, not one per request"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_back_off_counts_from_the_end_of_a_failed_fetch() {
        let (cache, probe) = cache(Duration::from_secs(60));
        cache.current().await.unwrap();
        probe.set_down(true);
        *probe.delay.lock().unwrap() = Duration::from_secs(5);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(cache.current().await.is_some());
        settle().await;
        assert_eq!(probe.calls(), 2);
        // The fetch fails after 5 s; the back-off runs 5 s from there.
        tokio::time::advance(Duration::from_secs(5)).await;
        settle().await;
        tokio::time::advance(Duration::from_secs(4)).await;
        assert!(cache.current().await.is_some());
        settle().await;
        assert_eq!(probe.calls(), 2, "within the back-off after the end");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(cache.current().await.is_some());
        settle().await;
        assert_eq!(probe.calls(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn with_nothing_cached_a_down_source_is_asked_once_per_back_off() {
        let (cache, probe) = cache(Duration::from_secs(3600));
        probe.set_down(true);
        assert!(cache.current().await.is_none());
        assert!(cache.current().await.is_none());
        assert_eq!(probe.calls(), 1, "no retry within the back-off");
        assert!(matches!(
            cache.refresh_after_unknown_kid().await,
            Refresh::Unavailable
        ));
        tokio::time::advance(Duration::from_secs(6)).await;
        probe.set_down(false);
        assert!(cache.current().await.is_some());
        probe.set_down(true);
        tokio::time::advance(Duration::from_secs(3601)).await;
        assert!(cache.current().await.is_some(), "stale copy kept");
        settle().await;
        assert!(cache.current().await.is_some(), "stale copy kept");
        assert_eq!(probe.calls(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_kid_during_an_outage_is_unavailable_not_unknown() {
        let (cache, probe) = cache(Duration::from_secs(60));
        cache.current().await.unwrap();
        probe.set_down(true);
        tokio::time::advance(Duration::from_secs(61)).await;
        // It joins the re-fetch and learns the source is down.
        assert!(matches!(
            cache.refresh_after_unknown_kid().await,
            Refresh::Unavailable
        ));
        // Within the back-off: at once, without a fetch.
        assert!(matches!(
            cache.refresh_after_unknown_kid().await,
            Refresh::Unavailable
        ));
        assert_eq!(probe.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_stops_waiting_does_not_cancel_the_fetch() {
        let (cache, probe) = cache(Duration::from_secs(60));
        *probe.delay.lock().unwrap() = Duration::from_secs(2);
        let gave_up = tokio::time::timeout(Duration::from_secs(1), cache.current()).await;
        assert!(gave_up.is_err());
        tokio::time::advance(Duration::from_secs(2)).await;
        settle().await;
        let started = Instant::now();
        assert!(cache.current().await.is_some());
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(probe.calls(), 1);
    }
}
