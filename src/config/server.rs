//! Server mode's settings (`REDOX_BEHIND_ALB`, the timeouts, the connection
//! cap, the drain, the body memory budget, each client's share of them and
//! the pace a body must keep).

use std::time::Duration;

use super::{ConfigError, flag, number, problem};

/// Server mode's settings: the socket front door facing the internet,
/// usually behind an Application Load Balancer. Read in Lambda too (a bad
/// value is a bad value) but used only outside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// `REDOX_BEHIND_ALB`: the client address is the last `X-Forwarded-For`
    /// entry (the one the load balancer appended), not the TCP peer.
    pub behind_alb: bool,
    /// `REDOX_HEADER_TIMEOUT_MS`: a request head must be complete this
    /// long after its first byte.
    pub header_timeout: Duration,
    /// `REDOX_IDLE_TIMEOUT_SECS`: a connection with no request in progress
    /// is closed after this long.
    pub idle_timeout: Duration,
    /// `REDOX_MAX_CONNECTIONS` when set; otherwise derived at start-up from
    /// the descriptor limit (`front::server::limits`).
    pub max_connections: Option<usize>,
    /// `REDOX_DRAIN_TIMEOUT_SECS`: after SIGTERM, how long open requests
    /// may take to finish.
    pub drain_timeout: Duration,
    /// `REDOX_BODY_MEMORY_BYTES` when set; otherwise derived at start-up
    /// from the memory limit (`front::server::limits`).
    pub body_memory_bytes: Option<usize>,
    /// `REDOX_MAX_CLIENT_REQUESTS` when set: requests in flight per client
    /// address (and open connections per peer without a load balancer);
    /// otherwise derived from the connection cap.
    pub max_client_requests: Option<usize>,
    /// `REDOX_CLIENT_BODY_MEMORY_BYTES` when set: the body budget one
    /// client address may hold; otherwise derived from the budget.
    pub client_body_memory_bytes: Option<usize>,
    /// `REDOX_MIN_BODY_BYTES_PER_SEC`: the rate a body must average once
    /// its grace has passed (0: none).
    pub min_body_rate: u64,
    /// `REDOX_BODY_GRACE_MS`: how long a body may take before the rate
    /// counts.
    pub body_grace: Duration,
}

pub const DEFAULT_HEADER_TIMEOUT_MS: u64 = 10_000;
/// Longer than the ALB's default idle timeout (60 s), so the load balancer,
/// not this server, closes an idle connection: AWS's guidance, else the ALB
/// may send a request on a connection the server is closing (a 502).
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 75;
/// Inside ECS's default stop timeout (30 s), with room to exit.
pub const DEFAULT_DRAIN_TIMEOUT_SECS: u64 = 25;
/// 64 KiB/s: a 40 MB push at this pace would take ten minutes, far past
/// any request timeout, so a genuine sender never meets it; a stranger
/// trickling a body is cut off a moment after the grace.
pub const DEFAULT_MIN_BODY_BYTES_PER_SEC: u64 = 64 * 1024;
pub const DEFAULT_BODY_GRACE_MS: u64 = 2_000;

/// The server-mode settings; the body memory budget may not be smaller
/// than one body.
pub(super) fn server_config<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
    max_body_bytes: usize,
) -> Result<ServerConfig, ConfigError> {
    let optional = |variable: &'static str, min: u64, max: u64| {
        get(variable)
            .map(|_| number(get, variable, 0, min, max))
            .transpose()
    };
    let body_memory_bytes = optional("REDOX_BODY_MEMORY_BYTES", 1, 1 << 40)?.map(|n| n as usize);
    if let Some(budget) = body_memory_bytes
        && budget < max_body_bytes
    {
        return Err(problem(
            "REDOX_BODY_MEMORY_BYTES",
            format!(
                "{budget} is below REDOX_MAX_BODY_BYTES ({max_body_bytes}): one body of the \
                 largest size accepted must fit"
            ),
        ));
    }
    Ok(ServerConfig {
        behind_alb: flag(get, "REDOX_BEHIND_ALB")?,
        header_timeout: Duration::from_millis(number(
            get,
            "REDOX_HEADER_TIMEOUT_MS",
            DEFAULT_HEADER_TIMEOUT_MS,
            100,
            600_000,
        )?),
        idle_timeout: Duration::from_secs(number(
            get,
            "REDOX_IDLE_TIMEOUT_SECS",
            DEFAULT_IDLE_TIMEOUT_SECS,
            1,
            86_400,
        )?),
        max_connections: optional("REDOX_MAX_CONNECTIONS", 1, 1_000_000)?.map(|n| n as usize),
        drain_timeout: Duration::from_secs(number(
            get,
            "REDOX_DRAIN_TIMEOUT_SECS",
            DEFAULT_DRAIN_TIMEOUT_SECS,
            0,
            3600,
        )?),
        body_memory_bytes,
        max_client_requests: optional("REDOX_MAX_CLIENT_REQUESTS", 1, 1_000_000)?
            .map(|n| n as usize),
        client_body_memory_bytes: optional("REDOX_CLIENT_BODY_MEMORY_BYTES", 1, 1 << 40)?
            .map(|n| n as usize),
        min_body_rate: number(
            get,
            "REDOX_MIN_BODY_BYTES_PER_SEC",
            DEFAULT_MIN_BODY_BYTES_PER_SEC,
            0,
            1 << 34,
        )?,
        body_grace: Duration::from_millis(number(
            get,
            "REDOX_BODY_GRACE_MS",
            DEFAULT_BODY_GRACE_MS,
            0,
            600_000,
        )?),
    })
}
