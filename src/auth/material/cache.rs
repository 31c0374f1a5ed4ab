//! [`MaterialCache`]: the merged material of every source, trusted for a
//! TTL, served stale while one background fetch refreshes it, re-fetched
//! (rate-limited) when a credential misses.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::source::AuthMaterialSource;
use super::{Material, MaterialError};

struct Cached {
    material: Arc<Material>,
    fetched_at: Instant,
}

/// The outcome of one fetch, shared with every request waiting for it.
type FetchOutcome = Result<Arc<Material>, MaterialError>;

/// What the cache knows; held under a plain mutex for a few instructions
/// at a time, never across an await.
#[derive(Default)]
struct CacheState {
    cached: Option<Cached>,
    /// The fetch in flight, if any: every caller that needs it waits on
    /// this one fetch instead of starting its own.
    in_flight: Option<watch::Receiver<Option<FetchOutcome>>>,
    last_start: Option<Instant>,
    /// Why the last fetch failed, answered at once while nothing is cached
    /// and the back-off has not run out.
    last_error: Option<MaterialError>,
}

/// The sources and the state a background fetch needs after the request
/// that started it has been answered.
struct CacheShared {
    sources: Vec<Box<dyn AuthMaterialSource>>,
    state: std::sync::Mutex<CacheState>,
}

impl CacheShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        // A poisoned lock only means a panic elsewhere; the state is still
        // consistent (every update is a single assignment).
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn fetch_all(&self) -> Result<Material, MaterialError> {
        let mut merged = Material::default();
        for source in &self.sources {
            merged.merge(source.fetch().await?);
        }
        Ok(merged)
    }
}

/// Merged material from every source, trusted for `ttl`.
///
/// Stale-while-revalidate: a copy past its TTL is served at once while one
/// background fetch refreshes it, so a slow or failing Secrets Manager never
/// makes Redox wait when a copy exists. Concurrent callers share a single
/// in-flight fetch, and a fetch starts at most once per `fetch_interval`
/// (after a failure too), so a failing source sees about one fetch per
/// interval whatever the load. Only a request with nothing cached waits for
/// a fetch, and its caller bounds that wait with the request's deadline; the
/// fetch itself runs on in a task of its own, so a request that gives up
/// does not cancel it.
pub struct MaterialCache {
    shared: Arc<CacheShared>,
    ttl: Duration,
    fetch_interval: Duration,
}

impl MaterialCache {
    pub fn new(sources: Vec<Box<dyn AuthMaterialSource>>, ttl: Duration) -> Self {
        MaterialCache {
            shared: Arc::new(CacheShared {
                sources,
                state: std::sync::Mutex::new(CacheState::default()),
            }),
            ttl,
            fetch_interval: Duration::from_secs(5),
        }
    }

    /// Least time between the starts of two fetches (`REDOX_SECRET_REFETCH_SECS`).
    pub fn with_miss_refetch_interval(mut self, interval: Duration) -> Self {
        self.fetch_interval = interval;
        self
    }

    pub fn describe(&self) -> String {
        let names: Vec<String> = self.shared.sources.iter().map(|s| s.describe()).collect();
        names.join(" + ")
    }

    /// Material for the current request. A fresh copy is returned at once;
    /// a stale one too, after starting a background refresh if none is
    /// running and the interval allows. With nothing cached, waits for the
    /// (shared) fetch, or answers the last failure at once during back-off.
    pub async fn current(&self) -> Result<Arc<Material>, MaterialError> {
        let waiting = {
            let mut state = self.shared.lock();
            match &state.cached {
                Some(cached) if cached.fetched_at.elapsed() < self.ttl => {
                    return Ok(cached.material.clone());
                }
                Some(cached) => {
                    let stale = cached.material.clone();
                    if state.in_flight.is_none() && self.may_start(&state) {
                        self.start_fetch(&mut state);
                    }
                    return Ok(stale);
                }
                None => match self.join_or_start(&mut state) {
                    Some(waiting) => waiting,
                    None => {
                        return Err(state.last_error.clone().unwrap_or_else(|| {
                            MaterialError::Unreachable("auth material not fetched yet".into())
                        }));
                    }
                },
            }
        };
        wait_for(waiting).await
    }

    /// After a credential missed: fetch again (or join the fetch already in
    /// flight) and wait for it, unless a fetch started less than the
    /// interval ago. `Some` only when new material was fetched.
    pub async fn refresh_after_miss(&self) -> Option<Arc<Material>> {
        let waiting = {
            let mut state = self.shared.lock();
            self.join_or_start(&mut state)?
        };
        match wait_for(waiting).await {
            Ok(material) => Some(material),
            Err(error) => {
                tracing::warn!(%error, "auth material re-fetch after a credential miss failed");
                None
            }
        }
    }

    fn may_start(&self, state: &CacheState) -> bool {
        state
            .last_start
            .is_none_or(|at| at.elapsed() >= self.fetch_interval)
    }

    /// The fetch in flight, or a new one if the interval allows.
    fn join_or_start(
        &self,
        state: &mut CacheState,
    ) -> Option<watch::Receiver<Option<FetchOutcome>>> {
        if let Some(in_flight) = &state.in_flight {
            return Some(in_flight.clone());
        }
        if !self.may_start(state) {
            return None;
        }
        Some(self.start_fetch(state))
    }

    /// Starts a fetch in a task of its own; its outcome is stored in the
    /// cache and sent to every waiter.
    fn start_fetch(&self, state: &mut CacheState) -> watch::Receiver<Option<FetchOutcome>> {
        let (done, waiting) = watch::channel(None);
        state.in_flight = Some(waiting.clone());
        state.last_start = Some(Instant::now());
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let outcome = shared.fetch_all().await.map(Arc::new);
            {
                let mut state = shared.lock();
                state.in_flight = None;
                match &outcome {
                    Ok(material) => {
                        state.cached = Some(Cached {
                            material: material.clone(),
                            fetched_at: Instant::now(),
                        });
                        state.last_error = None;
                    }
                    Err(error) => {
                        if state.cached.is_some() {
                            tracing::warn!(%error, "auth material refresh failed; serving the cached copy");
                        }
                        state.last_error = Some(error.clone());
                    }
                }
            }
            // Nobody waiting is fine: the outcome is in the cache.
            let _ = done.send(Some(outcome));
        });
        waiting
    }
}

/// Waits for a fetch's outcome. A fetch task that died without one (a
/// panic in a source) counts as unreachable material.
async fn wait_for(mut waiting: watch::Receiver<Option<FetchOutcome>>) -> FetchOutcome {
    match waiting.wait_for(Option::is_some).await {
        Ok(outcome) => outcome.clone().unwrap_or_else(|| {
            Err(MaterialError::Unreachable(
                "the auth material fetch ended without an answer".into(),
            ))
        }),
        Err(_) => Err(MaterialError::Unreachable(
            "the auth material fetch ended without an answer".into(),
        )),
    }
}
