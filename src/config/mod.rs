//! Configuration from the environment (SPEC 3.6), validated once at start-up.
//!
//! Every problem is a [`ConfigError`] naming the variable, so a bad value
//! stops the process with one clear line. Reads a snapshot of variables
//! passed in, never the process environment directly, so tests need no
//! global state.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::AuthMethod;
use crate::sink::sqs::{FifoGroup, valid_group_id};
use crate::throttle::FailureLimits;

mod google;
mod remote_jwt;
mod server;

pub use google::GoogleConfig;
pub use remote_jwt::RemoteJwtConfig;
use remote_jwt::remote_jwt;
use server::server_config;
pub use server::{
    DEFAULT_BODY_GRACE_MS, DEFAULT_DRAIN_TIMEOUT_SECS, DEFAULT_HEADER_TIMEOUT_MS,
    DEFAULT_IDLE_TIMEOUT_SECS, DEFAULT_MIN_BODY_BYTES_PER_SEC, ServerConfig,
};

/// A configuration problem, naming the variable at fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

fn problem(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

/// `REDOX_OAUTH_ISSUER=auto`: the built-in issuer's base URL is the one AWS
/// writes in each request's context, so no second deploy is needed.
pub const AUTO_ISSUER: &str = "auto";

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub secret_id: Option<String>,
    pub secret_file: Option<PathBuf>,
    pub verification_tokens: Option<String>,
    pub queue_url: Option<String>,
    pub spool_dir: PathBuf,
    /// `true` when `REDOX_SPOOL_DIR` was set explicitly.
    pub spool_dir_set: bool,
    /// `None` means "every method that has material".
    pub auth_methods: Option<Vec<AuthMethod>>,
    pub clock_skew: Duration,
    pub secret_ttl: Duration,
    /// Least time between re-fetches triggered by failing credentials.
    pub secret_refetch: Duration,
    pub max_body_bytes: usize,
    pub allowed_principals: Vec<String>,
    pub listen: SocketAddr,
    pub fifo_group: FifoGroup,
    /// Bound on one AWS call (`REDOX_AWS_TIMEOUT_MS`).
    pub aws_timeout: Duration,
    /// Bound on one request, start to answer (`REDOX_REQUEST_TIMEOUT_MS`).
    pub request_timeout: Duration,
    /// In Lambda, how long before the invocation deadline the answer is
    /// given at the latest (`REDOX_DEADLINE_MARGIN_MS`).
    pub deadline_margin: Duration,
    /// S3 bucket for bodies too large for SQS (`REDOX_PAYLOAD_BUCKET`).
    pub payload_bucket: Option<String>,
    pub payload_prefix: String,
    pub offload_threshold: usize,
    pub offload_all: bool,
    /// Running inside Lambda (`AWS_LAMBDA_RUNTIME_API` set).
    pub lambda: bool,
    /// A remote JWT issuer (`REDOX_JWT_*`), when configured.
    pub jwt_remote: Option<RemoteJwtConfig>,
    /// The `google` method's settings (`REDOX_GOOGLE_*`).
    pub google: GoogleConfig,
    /// The built-in OAuth issuer's public base URL (`REDOX_OAUTH_ISSUER`),
    /// or [`AUTO_ISSUER`]: the one AWS states for each request.
    pub oauth_issuer: Option<String>,
    pub oauth_token_ttl: Duration,
    /// The CloudWatch namespace when each request's log line is an EMF
    /// record (`REDOX_METRICS=emf`, the default in Lambda); `None` when off.
    pub metrics_namespace: Option<String>,
    /// Token endpoint failure throttling (`REDOX_OAUTH_MAX_FAILURES_PER_ADDRESS`).
    pub oauth_failure_limits: FailureLimits,
    /// Log lines as JSON (`REDOX_LOG_FORMAT=json`, the default in Lambda)
    /// rather than plain text.
    pub log_json: bool,
    /// Server mode's own limits (outside Lambda).
    pub server: ServerConfig,
}

impl Config {
    /// Whether any JWT issuer is configured.
    pub fn jwt_configured(&self) -> bool {
        self.jwt_remote.is_some() || self.oauth_issuer.is_some()
    }
}

pub const DEFAULT_MAX_BODY_BYTES: usize = 6 * 1024 * 1024;
/// Default bound on one request: room for a Secrets Manager fetch, an S3
/// upload and a SendMessage at their usual latency, well inside Redox's wait.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_vars(&std::env::vars().collect())
    }

    /// Reads a snapshot of variables. Empty values count as unset.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());

        let auth_methods = match get("REDOX_AUTH_METHODS") {
            None => None,
            Some(list) => Some(parse_methods(list)?),
        };
        let allowed_principals: Vec<String> = get("REDOX_ALLOWED_PRINCIPALS")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        for principal in &allowed_principals {
            if !principal.starts_with("arn:") {
                return Err(problem(
                    "REDOX_ALLOWED_PRINCIPALS",
                    format!("{principal:?} is not an ARN (arn:aws:iam::ACCOUNT:role/NAME)"),
                ));
            }
        }
        if auth_methods
            .as_ref()
            .is_some_and(|m| m.contains(&AuthMethod::Iam))
            && allowed_principals.is_empty()
        {
            return Err(problem(
                "REDOX_ALLOWED_PRINCIPALS",
                "the iam method is enabled but no principal is allowed",
            ));
        }
        let jwt_remote = remote_jwt(&get)?;
        let google = google::google(&get)?;
        let oauth_issuer = match get("REDOX_OAUTH_ISSUER") {
            None => None,
            Some(AUTO_ISSUER) => Some(AUTO_ISSUER.to_owned()),
            Some(url) => Some(base_url("REDOX_OAUTH_ISSUER", url)?),
        };
        if let (Some(remote), Some(own)) = (&jwt_remote, &oauth_issuer)
            && remote.issuer.trim_end_matches('/') == own.as_str()
        {
            return Err(problem(
                "REDOX_JWT_ISSUER",
                "must differ from REDOX_OAUTH_ISSUER (the built-in issuer)",
            ));
        }
        let jwt_configured = jwt_remote.is_some() || oauth_issuer.is_some();
        // jwt listed with no issuer here may still have `jwt_issuers` in the
        // auth material: start-up checks that (app.rs), once it is loaded.
        match &auth_methods {
            Some(methods) if !methods.contains(&AuthMethod::Jwt) && jwt_configured => {
                return Err(problem(
                    "REDOX_AUTH_METHODS",
                    "a JWT issuer is configured (REDOX_JWT_* or REDOX_OAUTH_ISSUER) but jwt is not enabled",
                ));
            }
            _ => {}
        }

        let queue_url = get("REDOX_QUEUE_URL").map(str::to_owned);
        if let Some(url) = &queue_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(problem(
                "REDOX_QUEUE_URL",
                format!(
                    "{url:?} is not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)"
                ),
            ));
        }

        let listen = match get("REDOX_LISTEN") {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some(text) => text.parse().map_err(|_| {
                problem(
                    "REDOX_LISTEN",
                    format!("{text:?} is not an address like 127.0.0.1:8080"),
                )
            })?,
        };

        let fifo_group = match get("REDOX_FIFO_GROUP") {
            None | Some("source") => FifoGroup::Source,
            Some("event-type") => FifoGroup::EventType,
            Some(other) => match other.strip_prefix("fixed:") {
                Some(name) if valid_group_id(name) => FifoGroup::Fixed(name.to_owned()),
                _ => {
                    return Err(problem(
                        "REDOX_FIFO_GROUP",
                        format!(
                            "{other:?} is not one of source, event-type, fixed:NAME (NAME: 1-128 of A-Z a-z 0-9 and punctuation)"
                        ),
                    ));
                }
            },
        };

        let payload_bucket = get("REDOX_PAYLOAD_BUCKET").map(str::to_owned);
        if let Some(bucket) = &payload_bucket
            && !valid_bucket_name(bucket)
        {
            return Err(problem(
                "REDOX_PAYLOAD_BUCKET",
                format!("{bucket:?} is not an S3 bucket name (3-63 of a-z 0-9 . -)"),
            ));
        }
        let payload_prefix = get("REDOX_PAYLOAD_PREFIX").unwrap_or("redox/").to_owned();
        if payload_prefix.len() > 512 || payload_prefix.starts_with('/') {
            return Err(problem(
                "REDOX_PAYLOAD_PREFIX",
                "must be at most 512 characters and not start with /",
            ));
        }
        let offload_all = match get("REDOX_OFFLOAD_ALL") {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                return Err(problem(
                    "REDOX_OFFLOAD_ALL",
                    format!("{other:?} is not true or false"),
                ));
            }
        };

        let aws_timeout =
            Duration::from_millis(number(get, "REDOX_AWS_TIMEOUT_MS", 5000, 100, 60_000)?);
        let request_timeout = Duration::from_millis(number(
            get,
            "REDOX_REQUEST_TIMEOUT_MS",
            DEFAULT_REQUEST_TIMEOUT_MS,
            200,
            900_000,
        )?);
        let deadline_margin =
            Duration::from_millis(number(get, "REDOX_DEADLINE_MARGIN_MS", 500, 0, 10_000)?);

        let lambda = get("AWS_LAMBDA_RUNTIME_API").is_some();
        let log_json = match get("REDOX_LOG_FORMAT") {
            None => lambda,
            Some("json") => true,
            Some("text") => false,
            Some(other) => {
                return Err(problem(
                    "REDOX_LOG_FORMAT",
                    format!("{other:?} is not json or text"),
                ));
            }
        };
        let max_body_bytes = number(
            get,
            "REDOX_MAX_BODY_BYTES",
            DEFAULT_MAX_BODY_BYTES as u64,
            1,
            64 * 1024 * 1024,
        )? as usize;
        let server = server_config(&get, max_body_bytes)?;
        if server.behind_alb && oauth_issuer.as_deref() == Some(AUTO_ISSUER) {
            return Err(problem(
                "REDOX_OAUTH_ISSUER",
                "auto cannot be used with REDOX_BEHIND_ALB=true: behind a load balancer only the \
                 client's Host header would name this server. Set the public https URL Redox \
                 uses, e.g. REDOX_OAUTH_ISSUER=https://redox.example.com",
            ));
        }
        let metrics_on = match get("REDOX_METRICS") {
            None => lambda,
            Some("emf") => true,
            Some("off") => false,
            Some(other) => {
                return Err(problem(
                    "REDOX_METRICS",
                    format!("{other:?} is not emf or off"),
                ));
            }
        };
        let namespace =
            get("REDOX_METRICS_NAMESPACE").unwrap_or(crate::telemetry::metrics::DEFAULT_NAMESPACE);
        if namespace.len() > 255
            || !namespace
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_/#: ".contains(&b))
        {
            return Err(problem(
                "REDOX_METRICS_NAMESPACE",
                "must be 1-255 of A-Z a-z 0-9 . - _ / # : and space",
            ));
        }
        let metrics_namespace = metrics_on.then(|| namespace.to_owned());

        Ok(Config {
            metrics_namespace,
            payload_bucket,
            payload_prefix,
            offload_threshold: number(
                get,
                "REDOX_OFFLOAD_THRESHOLD_BYTES",
                crate::sink::sqs::DEFAULT_OFFLOAD_THRESHOLD as u64,
                1,
                crate::sink::sqs::SQS_MAX_MESSAGE_BYTES as u64,
            )? as usize,
            offload_all,
            secret_id: get("REDOX_SECRET_ID").map(str::to_owned),
            secret_file: get("REDOX_SECRET_FILE").map(PathBuf::from),
            verification_tokens: vars
                .get("REDOX_VERIFICATION_TOKEN")
                .filter(|v| !v.trim().is_empty())
                .cloned(),
            queue_url,
            spool_dir: PathBuf::from(get("REDOX_SPOOL_DIR").unwrap_or("./spool")),
            spool_dir_set: get("REDOX_SPOOL_DIR").is_some(),
            auth_methods,
            clock_skew: Duration::from_secs(number(get, "REDOX_CLOCK_SKEW_SECS", 300, 0, 3600)?),
            secret_ttl: Duration::from_secs(number(get, "REDOX_SECRET_TTL_SECS", 300, 1, 86_400)?),
            secret_refetch: Duration::from_secs(number(
                get,
                "REDOX_SECRET_REFETCH_SECS",
                5,
                1,
                3600,
            )?),
            max_body_bytes,
            allowed_principals,
            listen,
            fifo_group,
            aws_timeout,
            request_timeout,
            deadline_margin,
            lambda,
            jwt_remote,
            google,
            oauth_issuer,
            oauth_token_ttl: Duration::from_secs(number(
                get,
                "REDOX_OAUTH_TOKEN_TTL_SECS",
                300,
                60,
                3600,
            )?),
            oauth_failure_limits: oauth_failure_limits(get)?,
            log_json,
            server,
        })
    }
}

/// Settings of the token endpoint's throttle that no longer exist, each
/// with why and what replaced it: a start-up error rather than a silent
/// no-op, so nobody believes a limit holds that does not.
const REMOVED_THROTTLE_SETTINGS: [(&str, &str); 2] = [
    (
        "REDOX_OAUTH_MAX_FAILURES_PER_CLIENT",
        "removed: failures are counted per source address, not per client id (a client id is \
         not secret, so a count per id let anyone lock Redox out); use \
         REDOX_OAUTH_MAX_FAILURES_PER_ADDRESS",
    ),
    (
        "REDOX_OAUTH_MAX_FAILURES_TOTAL",
        "removed: there is no overall limit (it refused addresses that had not failed); \
         failures are limited per source address by REDOX_OAUTH_MAX_FAILURES_PER_ADDRESS",
    ),
];

/// The token endpoint's failure throttle (`REDOX_OAUTH_MAX_FAILURES_PER_ADDRESS`).
fn oauth_failure_limits<'a>(
    get: impl Fn(&str) -> Option<&'a str> + Copy,
) -> Result<FailureLimits, ConfigError> {
    for (variable, why) in REMOVED_THROTTLE_SETTINGS {
        if get(variable).is_some() {
            return Err(problem(variable, why));
        }
    }
    Ok(FailureLimits {
        per_address: number(
            get,
            "REDOX_OAUTH_MAX_FAILURES_PER_ADDRESS",
            FailureLimits::DEFAULT_PER_ADDRESS.into(),
            1,
            1000,
        )? as u32,
        ..FailureLimits::default()
    })
}

/// `true`/`false` (or `1`/`0`), `false` when unset.
fn flag<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
    variable: &'static str,
) -> Result<bool, ConfigError> {
    match get(variable) {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(problem(variable, format!("{other:?} is not true or false"))),
    }
}

/// A comma- or space-separated list, empty items dropped.
fn list(text: &str) -> Vec<String> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A public base URL this function names itself by: https (or loopback
/// http), no query or fragment, no trailing slash.
fn base_url(variable: &'static str, text: &str) -> Result<String, ConfigError> {
    crate::auth::jwt::jwks::check_url(text).map_err(|why| problem(variable, why))?;
    if text.contains('?') || text.contains('#') {
        return Err(problem(
            variable,
            format!("{text:?} must be a base URL without query or fragment"),
        ));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

fn number<'a>(
    get: impl Fn(&str) -> Option<&'a str>,
    variable: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(text) = get(variable) else {
        return Ok(default);
    };
    match text.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(problem(
            variable,
            format!("{text:?} is not a whole number from {min} to {max}"),
        )),
    }
}

fn parse_methods(list: &str) -> Result<Vec<AuthMethod>, ConfigError> {
    let mut methods = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let method = AuthMethod::parse(name).ok_or_else(|| {
            problem(
                "REDOX_AUTH_METHODS",
                format!("unknown method {name:?} (choose from token, sigv4, iam, jwt)"),
            )
        })?;
        if !methods.contains(&method) {
            methods.push(method);
        }
    }
    if methods.is_empty() {
        return Err(problem("REDOX_AUTH_METHODS", "no method is enabled"));
    }
    Ok(methods)
}

/// S3 bucket naming rules (the common subset).
pub(crate) fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// `base` with `name` set to `value` is refused, naming `name`.
    fn assert_refused_naming(base: &[(&str, &str)], name: &str, value: &str) {
        let mut pairs = base.to_vec();
        pairs.retain(|(n, _)| *n != name);
        pairs.push((name, value));
        assert_eq!(
            Config::from_vars(&vars(&pairs)).unwrap_err().variable,
            name,
            "{value}"
        );
    }

    #[test]
    fn defaults_match_the_specification() {
        let config = Config::from_vars(&vars(&[])).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.spool_dir, PathBuf::from("./spool"));
        assert_eq!(config.clock_skew, Duration::from_secs(300));
        assert_eq!(config.secret_ttl, Duration::from_secs(300));
        assert_eq!(config.max_body_bytes, 6_291_456);
        assert_eq!(config.auth_methods, None);
        assert_eq!(config.fifo_group, FifoGroup::Source);
        assert_eq!(config.request_timeout, Duration::from_secs(10));
        assert_eq!(config.aws_timeout, Duration::from_secs(5));
        assert_eq!(config.deadline_margin, Duration::from_millis(500));
        assert_eq!(
            config.metrics_namespace, None,
            "EMF is off locally by default"
        );
        assert!(!config.lambda);
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        for (name, value) in [
            ("REDOX_MAX_BODY_BYTES", "lots"),
            ("REDOX_MAX_BODY_BYTES", "0"),
            ("REDOX_CLOCK_SKEW_SECS", "-5"),
            ("REDOX_SECRET_TTL_SECS", "1.5"),
            ("REDOX_LISTEN", "localhost"),
            ("REDOX_AUTH_METHODS", "token,kerberos"),
            ("REDOX_QUEUE_URL", "my-queue"),
            ("REDOX_FIFO_GROUP", "fixed:"),
            ("REDOX_ALLOWED_PRINCIPALS", "redox-user"),
            ("REDOX_AWS_TIMEOUT_MS", "5"),
            ("REDOX_REQUEST_TIMEOUT_MS", "50"),
            ("REDOX_DEADLINE_MARGIN_MS", "soon"),
            ("REDOX_METRICS", "prometheus"),
            ("REDOX_METRICS_NAMESPACE", "bad{namespace}"),
            ("REDOX_PAYLOAD_BUCKET", "Bad_Bucket"),
            ("REDOX_OFFLOAD_THRESHOLD_BYTES", "2000000"),
            ("REDOX_OFFLOAD_ALL", "yes"),
        ] {
            let error = Config::from_vars(&vars(&[(name, value)])).unwrap_err();
            assert_eq!(error.variable, name, "{value}");
            assert!(error.to_string().starts_with(name));
        }
    }

    #[test]
    fn server_mode_defaults_match_the_agreed_design() {
        let config = Config::from_vars(&vars(&[])).unwrap();
        assert_eq!(
            config.server,
            ServerConfig {
                behind_alb: false,
                header_timeout: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(75),
                max_connections: None,
                drain_timeout: Duration::from_secs(25),
                body_memory_bytes: None,
                max_client_requests: None,
                client_body_memory_bytes: None,
                min_body_rate: 64 * 1024,
                body_grace: Duration::from_secs(2),
            }
        );
        assert!(!config.log_json, "plain text outside Lambda");
        let lambda = Config::from_vars(&vars(&[("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")]));
        assert!(lambda.unwrap().log_json, "JSON in Lambda");
        let set = Config::from_vars(&vars(&[
            ("REDOX_BEHIND_ALB", "true"),
            ("REDOX_HEADER_TIMEOUT_MS", "2500"),
            ("REDOX_IDLE_TIMEOUT_SECS", "90"),
            ("REDOX_MAX_CONNECTIONS", "200"),
            ("REDOX_DRAIN_TIMEOUT_SECS", "0"),
            ("REDOX_MAX_BODY_BYTES", "47185920"),
            ("REDOX_BODY_MEMORY_BYTES", "47185920"),
            ("REDOX_MAX_CLIENT_REQUESTS", "6"),
            ("REDOX_CLIENT_BODY_MEMORY_BYTES", "1048576"),
            ("REDOX_MIN_BODY_BYTES_PER_SEC", "0"),
            ("REDOX_BODY_GRACE_MS", "500"),
            ("REDOX_LOG_FORMAT", "json"),
        ]))
        .unwrap();
        assert_eq!(
            set.server,
            ServerConfig {
                behind_alb: true,
                header_timeout: Duration::from_millis(2500),
                idle_timeout: Duration::from_secs(90),
                max_connections: Some(200),
                drain_timeout: Duration::ZERO,
                body_memory_bytes: Some(47_185_920),
                max_client_requests: Some(6),
                client_body_memory_bytes: Some(1_048_576),
                min_body_rate: 0,
                body_grace: Duration::from_millis(500),
            }
        );
        assert!(set.log_json);
        let text_in_lambda = Config::from_vars(&vars(&[
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            ("REDOX_LOG_FORMAT", "text"),
        ]));
        assert!(!text_in_lambda.unwrap().log_json);
    }

    #[test]
    fn each_bad_server_setting_names_its_variable() {
        for (name, value) in [
            ("REDOX_BEHIND_ALB", "yes"),
            ("REDOX_HEADER_TIMEOUT_MS", "99"),
            ("REDOX_HEADER_TIMEOUT_MS", "10s"),
            ("REDOX_IDLE_TIMEOUT_SECS", "0"),
            ("REDOX_IDLE_TIMEOUT_SECS", "-1"),
            ("REDOX_MAX_CONNECTIONS", "0"),
            ("REDOX_MAX_CONNECTIONS", "lots"),
            ("REDOX_DRAIN_TIMEOUT_SECS", "3601"),
            ("REDOX_BODY_MEMORY_BYTES", "0"),
            ("REDOX_BODY_MEMORY_BYTES", "1GiB"),
            ("REDOX_LOG_FORMAT", "yaml"),
        ] {
            let error = Config::from_vars(&vars(&[(name, value)])).unwrap_err();
            assert_eq!(error.variable, name, "{value}");
            assert!(error.to_string().starts_with(name), "{error}");
        }
    }

    #[test]
    fn a_body_memory_budget_below_one_body_is_refused() {
        let error = Config::from_vars(&vars(&[
            ("REDOX_MAX_BODY_BYTES", "47185920"),
            ("REDOX_BODY_MEMORY_BYTES", "47185919"),
        ]))
        .unwrap_err();
        assert_eq!(error.variable, "REDOX_BODY_MEMORY_BYTES");
        assert!(error.problem.contains("REDOX_MAX_BODY_BYTES"), "{error}");
        // The default body limit against a budget that holds it.
        assert!(Config::from_vars(&vars(&[("REDOX_BODY_MEMORY_BYTES", "6291456")])).is_ok());
    }

    #[test]
    fn behind_a_load_balancer_the_auto_issuer_is_refused_with_what_to_set() {
        let error = Config::from_vars(&vars(&[
            ("REDOX_BEHIND_ALB", "true"),
            ("REDOX_OAUTH_ISSUER", "auto"),
        ]))
        .unwrap_err();
        assert_eq!(error.variable, "REDOX_OAUTH_ISSUER");
        assert!(error.problem.contains("REDOX_BEHIND_ALB"), "{error}");
        assert!(error.problem.contains("https://"), "{error}");
        // A fixed public URL is what it asks for, and it is accepted.
        let fixed = Config::from_vars(&vars(&[
            ("REDOX_BEHIND_ALB", "true"),
            ("REDOX_OAUTH_ISSUER", "https://redox.example.com"),
        ]));
        assert!(fixed.is_ok());
        // Without the load balancer, auto stays available.
        assert!(Config::from_vars(&vars(&[("REDOX_OAUTH_ISSUER", "auto")])).is_ok());
    }

    #[test]
    fn iam_without_principals_is_refused() {
        let error = Config::from_vars(&vars(&[("REDOX_AUTH_METHODS", "iam")])).unwrap_err();
        assert_eq!(error.variable, "REDOX_ALLOWED_PRINCIPALS");
    }

    #[test]
    fn each_missing_remote_issuer_setting_is_named() {
        // jwt alone may be served by jwt_issuers in the auth material
        // (checked at start-up, app.rs).
        let config = Config::from_vars(&vars(&[("REDOX_AUTH_METHODS", "token,jwt")])).unwrap();
        assert!(!config.jwt_configured());
        let full = [
            (
                "REDOX_JWT_JWKS_URL",
                "https://idp.example.com/.well-known/jwks.json",
            ),
            ("REDOX_JWT_ISSUER", "https://idp.example.com/"),
            ("REDOX_JWT_AUDIENCE", "api://redox"),
        ];
        for skip in 0..full.len() {
            let partial: Vec<(&str, &str)> = full
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, pair)| *pair)
                .collect();
            let error = Config::from_vars(&vars(&partial)).unwrap_err();
            assert_eq!(error.variable, full[skip].0);
        }
        let config = Config::from_vars(&vars(&full)).unwrap();
        let remote = config.jwt_remote.unwrap();
        assert_eq!(remote.audiences, vec!["api://redox".to_string()]);
        assert_eq!(remote.jwks_refetch, Duration::from_secs(60));
        assert_eq!(remote.jwks_ttl, Duration::from_secs(3600));
        assert!(remote.required_scopes.is_empty());
    }

    #[test]
    fn a_remote_issuer_may_pin_its_callers() {
        use crate::auth::jwt::caller::CallerClaim;
        let remote = [
            ("REDOX_JWT_JWKS_URL", "https://idp.example.com/jwks.json"),
            ("REDOX_JWT_ISSUER", "https://idp.example.com/"),
            ("REDOX_JWT_AUDIENCE", "api://redox"),
        ];
        let config = Config::from_vars(&vars(&remote)).unwrap();
        let unpinned = config.jwt_remote.unwrap();
        assert!(unpinned.allowed_callers.is_empty());
        assert_eq!(unpinned.caller_claim, CallerClaim::Auto);
        let mut pinned = remote.to_vec();
        pinned.push(("REDOX_JWT_ALLOWED_CALLERS", "0oa1redox, 0oa2redox"));
        pinned.push(("REDOX_JWT_CALLER_CLAIM", "cid"));
        let remote_config = Config::from_vars(&vars(&pinned))
            .unwrap()
            .jwt_remote
            .unwrap();
        assert_eq!(remote_config.allowed_callers, ["0oa1redox", "0oa2redox"]);
        assert_eq!(remote_config.caller_claim, CallerClaim::Named("cid".into()));
        for (name, value) in [
            ("REDOX_JWT_ALLOWED_CALLERS", ", ,"),
            ("REDOX_JWT_ALLOWED_CALLERS", "a\tb"),
        ] {
            assert_refused_naming(&remote, name, value);
        }
        // The claim applies to a pin, and a pin to a remote issuer.
        assert_refused_naming(&remote, "REDOX_JWT_CALLER_CLAIM", "sub");
        let mut bad_claim = remote.to_vec();
        bad_claim.push(("REDOX_JWT_ALLOWED_CALLERS", "x"));
        assert_refused_naming(&bad_claim, "REDOX_JWT_CALLER_CLAIM", "not a claim");
        assert_refused_naming(&[], "REDOX_JWT_ALLOWED_CALLERS", "x");
    }

    #[test]
    fn jwt_settings_are_checked() {
        let remote = [
            ("REDOX_JWT_ISSUER", "https://idp.example.com/"),
            ("REDOX_JWT_AUDIENCE", "api://redox"),
        ];
        for (name, value) in [
            ("REDOX_JWT_JWKS_URL", "http://idp.example.com/jwks.json"),
            ("REDOX_JWT_JWKS_URL", "idp.example.com/jwks.json"),
            ("REDOX_JWT_JWKS_REFETCH_SECS", "0"),
            ("REDOX_JWT_JWKS_TTL_SECS", "5"),
        ] {
            let mut base = remote.to_vec();
            base.push(("REDOX_JWT_JWKS_URL", "https://idp.example.com/jwks.json"));
            assert_refused_naming(&base, name, value);
        }
        for (name, value) in [
            ("REDOX_OAUTH_ISSUER", "http://redox.example.com"),
            ("REDOX_OAUTH_ISSUER", "https://redox.example.com/?x=1"),
            ("REDOX_OAUTH_TOKEN_TTL_SECS", "5"),
            ("REDOX_OAUTH_MAX_FAILURES_PER_ADDRESS", "0"),
            ("REDOX_OAUTH_MAX_FAILURES_PER_ADDRESS", "1001"),
            ("REDOX_OAUTH_MAX_FAILURES_PER_ADDRESS", "many"),
            ("REDOX_JWT_REQUIRED_SCOPE", "redox.push"),
        ] {
            assert_refused_naming(
                &[("REDOX_OAUTH_ISSUER", "https://redox.example.com")],
                name,
                value,
            );
        }
        let error = Config::from_vars(&vars(&[
            ("REDOX_OAUTH_ISSUER", "https://redox.example.com"),
            ("REDOX_AUTH_METHODS", "token"),
        ]))
        .unwrap_err();
        assert_eq!(error.variable, "REDOX_AUTH_METHODS");
    }

    #[test]
    fn the_builtin_issuer_alone_enables_jwt() {
        let config = Config::from_vars(&vars(&[
            (
                "REDOX_OAUTH_ISSUER",
                "https://abc.lambda-url.us-east-1.on.aws/",
            ),
            ("REDOX_AUTH_METHODS", "jwt"),
        ]))
        .unwrap();
        assert_eq!(
            config.oauth_issuer.as_deref(),
            Some("https://abc.lambda-url.us-east-1.on.aws")
        );
        assert_eq!(config.oauth_token_ttl, Duration::from_secs(300));
        assert_eq!(config.oauth_failure_limits, FailureLimits::default());
        assert!(config.jwt_configured());
        let limited = Config::from_vars(&vars(&[
            ("REDOX_OAUTH_ISSUER", "https://redox.example.com"),
            ("REDOX_OAUTH_MAX_FAILURES_PER_ADDRESS", "3"),
        ]))
        .unwrap();
        assert_eq!(limited.oauth_failure_limits.per_address, 3);
        let local = Config::from_vars(&vars(&[("REDOX_OAUTH_ISSUER", "http://127.0.0.1:8080")]));
        assert!(local.is_ok());
    }

    #[test]
    fn the_removed_throttle_settings_stop_start_up_naming_their_replacement() {
        for removed in [
            "REDOX_OAUTH_MAX_FAILURES_PER_CLIENT",
            "REDOX_OAUTH_MAX_FAILURES_TOTAL",
        ] {
            // Whatever the value, and with or without the issuer: a limit
            // the operator believes in must not silently do nothing.
            for issuer in [Some("https://redox.example.com"), None] {
                let mut set = vec![(removed, "10")];
                set.extend(issuer.map(|url| ("REDOX_OAUTH_ISSUER", url)));
                let error = Config::from_vars(&vars(&set)).unwrap_err();
                assert_eq!(error.variable, removed);
                let message = error.to_string();
                assert!(message.contains("removed"), "{message}");
                assert!(
                    message.contains("REDOX_OAUTH_MAX_FAILURES_PER_ADDRESS"),
                    "{message}"
                );
            }
        }
    }

    #[test]
    fn methods_and_groups_parse() {
        let config = Config::from_vars(&vars(&[
            ("REDOX_AUTH_METHODS", " token , sigv4,token"),
            ("REDOX_FIFO_GROUP", "fixed:all-redox"),
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
        ]))
        .unwrap();
        assert_eq!(
            config.auth_methods,
            Some(vec![AuthMethod::Token, AuthMethod::Sigv4])
        );
        assert_eq!(config.fifo_group, FifoGroup::Fixed("all-redox".into()));
        assert!(config.lambda);
    }
}
