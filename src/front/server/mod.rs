//! Server mode: the destination on a socket, for `cargo run` and for a
//! container behind an Application Load Balancer (the front door for
//! bodies over the 6 MB a Lambda front door carries).
//!
//! This file owns the accept loop and its end: a connection cap
//! (`REDOX_MAX_CONNECTIONS`; at the cap it stops accepting until one
//! closes), back-off on accept errors ([`accept`]), and the drain on
//! SIGTERM or Ctrl-C: stop accepting, `/healthz` answers 503, keep-alive
//! off, open requests finish within `REDOX_DRAIN_TIMEOUT_SECS`. The rest:
//!
//! - [`connection`]: each connection's idle, head and busy deadlines,
//!   enforced on its socket;
//! - [`request`]: one request read (deadline from its first byte, its head
//!   decided before its body, the body into one buffer under the memory
//!   budget at a minimum pace) and answered;
//! - [`clients`]: each client address's share of requests, connections
//!   and body memory;
//! - [`budget`]: the memory budget for bodies in flight; [`limits`]: the
//!   defaults the host's memory and descriptor limits allow;
//! - [`forwarded`]: the client address behind the load balancer;
//!   [`health`]: `GET /healthz`.

pub mod accept;
pub mod budget;
pub mod clients;
pub mod connection;
pub mod forwarded;
pub mod health;
pub mod limits;
pub mod request;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;

use crate::config::{Config, ConfigError};
use crate::destination::Destination;
use accept::{AcceptFailures, BurstLog};
use budget::BodyBudget;
use clients::{ClientLimits, ClientLoads};
use connection::{ConnectionClock, ConnectionLimits, DrainSignal, Phase, TimedIo};
use limits::HostLimits;
use request::{Arrival, BodyPace, RequestContext};

/// The largest request head accepted (request line and headers; larger is
/// answered 431). It is also the most the HTTP parser buffers for one
/// connection, which bounds what a slow or idle client costs.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Server mode's limits, resolved against the host at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    pub behind_alb: bool,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub drain_timeout: Duration,
    pub body_memory_bytes: usize,
    /// Each client address's share of the connections and the budget.
    pub client: ClientLimits,
    pub pace: BodyPace,
}

impl Default for ServerSettings {
    /// The defaults of a host without limits.
    fn default() -> Self {
        ServerSettings {
            behind_alb: false,
            header_timeout: Duration::from_millis(crate::config::DEFAULT_HEADER_TIMEOUT_MS),
            idle_timeout: Duration::from_secs(crate::config::DEFAULT_IDLE_TIMEOUT_SECS),
            max_connections: limits::DEFAULT_MAX_CONNECTIONS,
            drain_timeout: Duration::from_secs(crate::config::DEFAULT_DRAIN_TIMEOUT_SECS),
            body_memory_bytes: limits::UNLIMITED_BODY_MEMORY_BYTES as usize,
            client: ClientLimits {
                max_requests: limits::default_max_client_requests(limits::DEFAULT_MAX_CONNECTIONS),
                max_body_bytes: limits::default_client_body_memory(
                    limits::UNLIMITED_BODY_MEMORY_BYTES as usize,
                    crate::config::DEFAULT_MAX_BODY_BYTES,
                ),
            },
            pace: BodyPace {
                min_rate: crate::config::DEFAULT_MIN_BODY_BYTES_PER_SEC,
                grace: Duration::from_millis(crate::config::DEFAULT_BODY_GRACE_MS),
            },
        }
    }
}

impl ServerSettings {
    /// The configured settings, with what was left unset derived from
    /// `host`. A memory limit too small for one body of
    /// `REDOX_MAX_BODY_BYTES` is an error naming what to change; settings
    /// the host cannot honour are logged as warnings.
    pub fn resolve(config: &Config, host: &HostLimits) -> Result<ServerSettings, ConfigError> {
        let server = &config.server;
        let max_connections = match server.max_connections {
            Some(wanted) => {
                if let Some(room) = limits::descriptors_short_of(wanted, host.open_files) {
                    tracing::warn!(
                        max_connections = wanted,
                        open_files_limit = host.open_files,
                        "REDOX_MAX_CONNECTIONS is more than the open-files limit leaves room for \
                         ({room}); past that, accepting backs off until descriptors free up"
                    );
                }
                wanted
            }
            None => limits::default_max_connections(host.open_files),
        };
        let derived = limits::default_body_memory(host.memory_bytes, max_connections);
        let body_memory_bytes = match server.body_memory_bytes {
            Some(bytes) => {
                if host.memory_bytes.is_some() && bytes as u64 > derived {
                    tracing::warn!(
                        body_memory_bytes = bytes,
                        memory_limit_bytes = host.memory_bytes,
                        "REDOX_BODY_MEMORY_BYTES is more than the memory limit leaves for bodies \
                         ({derived}); at full load the process may be killed for memory"
                    );
                }
                bytes
            }
            None => {
                let derived = usize::try_from(derived).unwrap_or(usize::MAX);
                if derived < config.max_body_bytes {
                    let limit_mib = host.memory_bytes.unwrap_or(0) / (1024 * 1024);
                    return Err(ConfigError {
                        variable: "REDOX_BODY_MEMORY_BYTES",
                        problem: format!(
                            "unset, and the memory limit ({limit_mib} MiB) leaves {derived} bytes \
                             for bodies in flight, less than one body of REDOX_MAX_BODY_BYTES \
                             ({}): give the container more memory, lower REDOX_MAX_BODY_BYTES or \
                             REDOX_MAX_CONNECTIONS, or set REDOX_BODY_MEMORY_BYTES",
                            config.max_body_bytes
                        ),
                    });
                }
                derived
            }
        };
        let client = ClientLimits {
            max_requests: server
                .max_client_requests
                .unwrap_or_else(|| limits::default_max_client_requests(max_connections)),
            max_body_bytes: server.client_body_memory_bytes.unwrap_or_else(|| {
                limits::default_client_body_memory(body_memory_bytes, config.max_body_bytes)
            }),
        };
        Ok(ServerSettings {
            behind_alb: server.behind_alb,
            header_timeout: server.header_timeout,
            idle_timeout: server.idle_timeout,
            max_connections,
            drain_timeout: server.drain_timeout,
            body_memory_bytes,
            client,
            pace: BodyPace {
                min_rate: server.min_body_rate,
                grace: server.body_grace,
            },
        })
    }
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Serves until `shutdown` completes, then drains: no new connections,
/// `/healthz` 503, idle connections closed, open requests answered within
/// the drain timeout.
pub async fn serve(
    listener: TcpListener,
    destination: Arc<Destination>,
    settings: ServerSettings,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let drain = Arc::new(DrainSignal::default());
    let limits = ConnectionLimits {
        header_timeout: settings.header_timeout,
        idle_timeout: settings.idle_timeout,
        request_timeout: destination.request_timeout,
    };
    let clients = ClientLoads::new(settings.client);
    let context = Arc::new(RequestContext {
        destination,
        budget: BodyBudget::new(settings.body_memory_bytes),
        clients: clients.clone(),
        pace: settings.pace,
        behind_alb: settings.behind_alb,
        drain: drain.clone(),
    });
    let mut http = http1::Builder::new();
    // The connection's clock times the head from its first byte instead
    // (connection.rs says why hyper's own timer does not fit).
    http.header_read_timeout(None).max_buf_size(MAX_HEAD_BYTES);
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let closed = Arc::new(Notify::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut failures = AcceptFailures::default();
    let mut cap_notices = CapNotices::default();
    let mut peer_notices = CapNotices::default();
    tokio::pin!(shutdown);
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if let Some(times) = cap_notices.reached(Instant::now()) {
                    tracing::warn!(
                        max_connections = settings.max_connections,
                        times_since_last_line = times,
                        "connection cap reached; not accepting until a connection closes"
                    );
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break, // never closed
                    },
                    _ = &mut shutdown => break,
                }
            }
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        let now = Instant::now();
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                drop(slot);
                let retry = failures.failed(accept::classify(&error), now);
                match retry.log {
                    Some(BurstLog::Started) => tracing::error!(
                        %error,
                        "accept failed; retrying with back-off, one summary line when it works again"
                    ),
                    Some(BurstLog::StillFailing { failures, lasted }) => tracing::error!(
                        %error,
                        failures,
                        lasted_ms = lasted.as_millis() as u64,
                        "accept still failing"
                    ),
                    None => {}
                }
                if !retry.delay.is_zero() {
                    tokio::select! {
                        _ = tokio::time::sleep(retry.delay) => {}
                        // A connection of ours closed: a descriptor is free.
                        _ = closed.notified() => {}
                        _ = &mut shutdown => break,
                    }
                }
                continue;
            }
        };
        if let Some(burst) = failures.accepted(now) {
            tracing::warn!(
                failures = burst.failures,
                lasted_ms = burst.lasted.as_millis() as u64,
                "accepting again after failed accepts"
            );
        }
        let Ok(local) = stream.local_addr() else {
            continue;
        };
        // Exposed directly, a peer is a client: its silent or slow
        // connections count against its own share, not everyone's. Behind
        // the load balancer every peer is one of its nodes.
        let peer_hold = if settings.behind_alb {
            None
        } else {
            match clients.admit_connection(peer.ip()) {
                Ok(hold) => Some(hold),
                Err(_) => {
                    if let Some(times) = peer_notices.reached(now) {
                        tracing::warn!(
                            max_client_requests = settings.client.max_requests,
                            times_since_last_line = times,
                            "a client address reached its share of connections; \
                             its further connections are closed at once"
                        );
                    }
                    continue;
                }
            }
        };
        // Answers are one small write: send them without Nagle's delay.
        let _ = stream.set_nodelay(true);
        let clock = Arc::new(ConnectionClock::new(limits, drain.clone(), now));
        let io = TokioIo::new(TimedIo::new(stream, clock.clone()));
        let arrival = Arrival { peer, local };
        let service = {
            let (context, clock) = (context.clone(), clock.clone());
            service_fn(move |request| {
                request::answer(context.clone(), clock.clone(), arrival, request)
            })
        };
        let connection = graceful.watch(http.serve_connection(io, service));
        let closed = closed.clone();
        tokio::spawn(async move {
            let ended = connection.await;
            match (clock.expired(), ended) {
                (Some(phase), _) => log_expired(phase, &limits),
                (None, Err(error)) => tracing::debug!(%error, "connection ended with an error"),
                (None, Ok(())) => {}
            }
            drop(peer_hold);
            drop(slot);
            // Wakes the accept loop only if it is backing off right now.
            closed.notify_waiters();
        });
    }

    drain.start(Instant::now());
    drop(listener);
    let open = settings.max_connections - slots.available_permits();
    tracing::info!(
        open_connections = open,
        drain_timeout_secs = settings.drain_timeout.as_secs(),
        "draining: not accepting, /healthz answers 503, open requests may finish"
    );
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("drained: every connection closed"),
        _ = tokio::time::sleep(settings.drain_timeout) => {
            let open = settings.max_connections - slots.available_permits();
            tracing::warn!(
                open_connections = open,
                "drain timeout: connections still open are cut (their requests are not answered)"
            );
        }
    }
    Ok(())
}

/// Reaching the connection cap is logged at most once a minute, with how
/// often it was reached meanwhile.
#[derive(Default)]
struct CapNotices {
    last_line: Option<Instant>,
    times: u64,
}

impl CapNotices {
    const INTERVAL: Duration = Duration::from_secs(60);

    /// The cap was reached at `now`: `Some(times)` when a line is due.
    fn reached(&mut self, now: Instant) -> Option<u64> {
        self.times += 1;
        let due = self
            .last_line
            .is_none_or(|last| now.saturating_duration_since(last) >= Self::INTERVAL);
        if !due {
            return None;
        }
        self.last_line = Some(now);
        Some(std::mem::take(&mut self.times))
    }
}

/// One line per connection a deadline closed: idle ones are routine, a
/// head that never completed is a slow or broken client.
fn log_expired(phase: Phase, limits: &ConnectionLimits) {
    match phase {
        Phase::Idle { .. } => tracing::debug!("closed an idle connection"),
        Phase::Head { .. } => tracing::info!(
            header_timeout_ms = limits.header_timeout.as_millis() as u64,
            "closed a connection whose request head was not complete in time"
        ),
        Phase::Busy { .. } => tracing::warn!(
            request_timeout_ms = limits.request_timeout.as_millis() as u64,
            "closed a connection whose request was not answered in time"
        ),
        Phase::Answering { .. } => tracing::info!(
            idle_timeout_secs = limits.idle_timeout.as_secs(),
            "closed a connection whose client did not take its answer in time"
        ),
    }
}
