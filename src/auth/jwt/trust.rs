//! Whom the `jwt` method trusts: the issuers whose bearer JWTs are accepted.
//!
//! A [`JwtTrust`] holds a remote issuer (an identity provider: its
//! [`JwtSettings`] and a [`JwksCache`] that a [`JwksSource`] fills) and/or
//! the built-in issuer (this function's own token endpoint, whose keys live
//! in the auth material). The cache refreshes the key set when it grows old
//! and, at most once per interval, when a token names a `kid` it does not
//! know; it never fetches for a request that does not need it. Verifying a
//! token is [`crate::auth::jwt`]'s job (pure); fetching over HTTPS is
//! [`crate::auth::jwt::jwks`]'s.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, RwLock};
use tokio::time::Instant;

use crate::BoxFuture;
use crate::auth::jwt::jwk::{JwkError, KeySet};
use crate::inbound::Origin;

/// Least time between two unknown-`kid` re-fetches, unless configured.
pub const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// With nothing cached, a failed fetch is retried at most this often.
const COLD_RETRY: Duration = Duration::from_secs(5);

/// What a token from one issuer must say about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSettings {
    /// The exact `iss` claim.
    pub issuer: String,
    /// The token's `aud` must contain at least one of these.
    pub audiences: Vec<String>,
    /// Every one of these must be in the token's `scope` or `scp`.
    pub required_scopes: Vec<String>,
}

/// Which issuer a token claims to come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerKind {
    /// An identity provider, keys from its JWKS URL.
    Remote,
    /// This function's own token endpoint, keys from the auth material.
    BuiltIn,
    /// An issuer whose public keys are inline in the auth material
    /// (`jwt_issuers`), such as the key Redox signs JWT Bearer tokens with.
    Inline,
}

/// Why a JWKS could not be had.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum JwksError {
    #[error("the JWKS could not be fetched: {0}")]
    Unreachable(String),
    #[error("the JWKS is not usable: {0}")]
    Invalid(#[from] JwkError),
}

/// Somewhere a JWKS can be read from.
pub trait JwksSource: Send + Sync {
    fn fetch(&self) -> BoxFuture<'_, Result<KeySet, JwksError>>;
    /// Where the keys come from, for the start-up banner and logs.
    fn describe(&self) -> String;
}

struct CachedKeys {
    keys: Arc<KeySet>,
    fetched_at: Instant,
}

/// A remote key set, trusted for `ttl`, re-fetched on an unknown `kid` at
/// most once per `refetch_interval`, and served stale while the source is
/// down (a key the provider withdrew stops working at the next success).
pub struct JwksCache {
    source: Box<dyn JwksSource>,
    ttl: Duration,
    refetch_interval: Duration,
    cached: RwLock<Option<CachedKeys>>,
    /// Serialises fetches and remembers when the last one started.
    last_fetch: Mutex<Option<Instant>>,
}

impl JwksCache {
    pub fn new(source: Box<dyn JwksSource>, ttl: Duration) -> Self {
        JwksCache {
            source,
            ttl,
            refetch_interval: DEFAULT_REFETCH_INTERVAL,
            cached: RwLock::new(None),
            last_fetch: Mutex::new(None),
        }
    }

    pub fn with_refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    pub fn describe(&self) -> String {
        self.source.describe()
    }

    /// The key set for the current request: cached while fresh; refreshed
    /// when stale (falling back to the stale copy); `None` when none was
    /// ever fetched and the source does not answer.
    pub async fn current(&self) -> Option<Arc<KeySet>> {
        if let Some(cached) = self.cached.read().await.as_ref()
            && cached.fetched_at.elapsed() < self.ttl
        {
            return Some(cached.keys.clone());
        }
        let mut last_fetch = self.last_fetch.lock().await;
        let stale = self
            .cached
            .read()
            .await
            .as_ref()
            .map(|c| (c.keys.clone(), c.fetched_at.elapsed() < self.ttl));
        match (stale, *last_fetch) {
            (Some((keys, true)), _) => return Some(keys),
            // A source that just failed is not asked again on every request.
            (Some((keys, false)), Some(at)) if at.elapsed() < COLD_RETRY => return Some(keys),
            (None, Some(at)) if at.elapsed() < COLD_RETRY => return None,
            _ => {}
        }
        *last_fetch = Some(Instant::now());
        match self.source.fetch().await {
            Ok(keys) => Some(self.store(keys).await),
            Err(error) => {
                let stale = self.cached.read().await.as_ref().map(|c| c.keys.clone());
                tracing::warn!(%error, serving_stale = stale.is_some(), "JWKS refresh failed");
                stale
            }
        }
    }

    /// After a token named a `kid` the cached set lacks: re-fetch, unless a
    /// fetch started less than the re-fetch interval ago. `Some` only when a
    /// new set was fetched.
    pub async fn refresh_after_unknown_kid(&self) -> Option<Arc<KeySet>> {
        let mut last_fetch = self.last_fetch.lock().await;
        if let Some(at) = *last_fetch
            && at.elapsed() < self.refetch_interval
        {
            return None;
        }
        *last_fetch = Some(Instant::now());
        match self.source.fetch().await {
            Ok(keys) => Some(self.store(keys).await),
            Err(error) => {
                tracing::warn!(%error, "JWKS re-fetch after an unknown kid failed");
                None
            }
        }
    }

    async fn store(&self, keys: KeySet) -> Arc<KeySet> {
        let keys = Arc::new(keys);
        *self.cached.write().await = Some(CachedKeys {
            keys: keys.clone(),
            fetched_at: Instant::now(),
        });
        keys
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
    caches: Arc<std::sync::Mutex<HashMap<String, Arc<JwksCache>>>>,
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
            crate::auth::jwt::jwks::HttpsJwks::new(url, timeout)
                .map(|source| Box::new(source) as Box<dyn JwksSource>)
        }))
    }

    /// The least time between two unknown-`kid` re-fetches of one URL.
    pub fn with_refetch_interval(mut self, interval: Duration) -> ClientKeySets {
        self.refetch_interval = interval;
        self
    }

    /// The cache for `url`, made on first use; `None` when no source can be
    /// made for it (a URL the material check should have refused).
    pub fn cache(&self, url: &str) -> Option<Arc<JwksCache>> {
        let mut caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
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

/// An identity provider: what its tokens must say, and its keys.
pub struct RemoteIssuer {
    pub settings: JwtSettings,
    pub jwks: JwksCache,
}

/// Where the built-in issuer ([`crate::oauth`]) is, and so what its tokens
/// say about themselves: `iss` and `aud` are both its public base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuiltinBase {
    /// A base URL fixed by configuration.
    Fixed(JwtSettings),
    /// `auto`: the base URL the platform states for each request
    /// ([`Origin::public_base_url`]), so a token issued through one domain
    /// is refused at another.
    Auto,
}

impl BuiltinBase {
    /// A fixed base URL such as `https://abc.lambda-url.us-east-1.on.aws`
    /// (a trailing `/` is dropped).
    pub fn fixed(base_url: &str) -> BuiltinBase {
        BuiltinBase::Fixed(builtin_settings(base_url.trim_end_matches('/')))
    }

    /// The base URL for a request; `None` for `auto` when the platform
    /// stated none.
    pub fn url<'a>(&'a self, origin: &'a Origin) -> Option<&'a str> {
        match self {
            BuiltinBase::Fixed(settings) => Some(&settings.issuer),
            BuiltinBase::Auto => origin.public_base_url.as_deref(),
        }
    }

    /// What a built-in token presented with this request must say.
    pub fn settings(&self, origin: &Origin) -> Option<Cow<'_, JwtSettings>> {
        match self {
            BuiltinBase::Fixed(settings) => Some(Cow::Borrowed(settings)),
            BuiltinBase::Auto => Some(Cow::Owned(builtin_settings(
                origin.public_base_url.as_deref()?,
            ))),
        }
    }
}

fn builtin_settings(base_url: &str) -> JwtSettings {
    JwtSettings {
        issuer: base_url.to_owned(),
        audiences: vec![base_url.to_owned()],
        required_scopes: Vec::new(),
    }
}

/// Everything the `jwt` method trusts; empty when it is off.
#[derive(Default)]
pub struct JwtTrust {
    pub remote: Option<RemoteIssuer>,
    /// The built-in issuer, whose keys are in the auth material.
    pub builtin: Option<BuiltinBase>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct CountingJwks {
        calls: Arc<AtomicUsize>,
        up: Arc<std::sync::atomic::AtomicBool>,
    }

    fn one_key_set() -> KeySet {
        KeySet::from_jwks_json(
            br#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#,
        )
        .unwrap()
    }

    impl JwksSource for CountingJwks {
        fn fetch(&self) -> BoxFuture<'_, Result<KeySet, JwksError>> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                if self.up.load(Ordering::SeqCst) {
                    Ok(one_key_set())
                } else {
                    Err(JwksError::Unreachable("down".into()))
                }
            })
        }
        fn describe(&self) -> String {
            "counting".into()
        }
    }

    fn cache() -> (
        JwksCache,
        Arc<AtomicUsize>,
        Arc<std::sync::atomic::AtomicBool>,
    ) {
        let calls = Arc::new(AtomicUsize::new(0));
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let cache = JwksCache::new(
            Box::new(CountingJwks {
                calls: calls.clone(),
                up: up.clone(),
            }),
            Duration::from_secs(3600),
        );
        (cache, calls, up)
    }

    #[tokio::test(start_paused = true)]
    async fn keys_are_fetched_once_and_unknown_kids_refetch_at_most_once_a_minute() {
        let (cache, calls, _) = cache();
        for _ in 0..50 {
            assert!(cache.current().await.is_some());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(cache.refresh_after_unknown_kid().await.is_none());
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(cache.refresh_after_unknown_kid().await.is_none());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(cache.refresh_after_unknown_kid().await.is_some());
        assert!(cache.refresh_after_unknown_kid().await.is_none());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_refetch_interval_is_injectable() {
        let (cache, calls, _) = cache();
        let cache = cache.with_refetch_interval(Duration::from_secs(1));
        cache.current().await.unwrap();
        tokio::time::advance(Duration::from_millis(1100)).await;
        assert!(cache.refresh_after_unknown_kid().await.is_some());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_down_source_serves_stale_keys_and_is_not_hammered() {
        let (cache, calls, up) = cache();
        up.store(false, Ordering::SeqCst);
        assert!(cache.current().await.is_none());
        assert!(cache.current().await.is_none());
        assert_eq!(calls.load(Ordering::SeqCst), 1, "no retry within 5 s");
        tokio::time::advance(Duration::from_secs(6)).await;
        up.store(true, Ordering::SeqCst);
        assert!(cache.current().await.is_some());
        up.store(false, Ordering::SeqCst);
        tokio::time::advance(Duration::from_secs(3601)).await;
        assert!(cache.current().await.is_some(), "stale copy kept");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}
