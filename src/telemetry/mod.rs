//! Logging set-up: JSON lines in Lambda (CloudWatch), plain text locally,
//! and the switch that makes each request's line an EMF metrics record.
//!
//! The level comes from `RUST_LOG` (default `info`). No code in this crate
//! logs a token, key, signature or message body.

pub mod metrics;

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing_subscriber::EnvFilter;

use crate::telemetry::metrics::{RequestMetrics, emf_record};

/// The CloudWatch namespace, once EMF is on (`REDOX_METRICS=emf`).
static EMF_NAMESPACE: OnceLock<String> = OnceLock::new();

/// Dependencies whose debug and trace output can quote requests.
const QUIET_BELOW_INFO: &[&str] = &[
    "lambda_runtime",
    "lambda_runtime_api_client",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_sigv4",
    "aws_config",
    "aws_runtime",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
];

pub fn init(json: bool) {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Below info, these crates log whole events, requests and bodies (the
    // Lambda runtime logs every raw event at trace): tokens and PHI. They
    // stay at info whatever RUST_LOG asks for.
    for target in QUIET_BELOW_INFO {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .without_time()
            .try_init()
    } else {
        builder
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
    };
}

/// From now on, each request's log line is an EMF record in `namespace`.
pub fn enable_emf(namespace: &str) {
    let _ = EMF_NAMESPACE.set(namespace.to_owned());
}

/// The namespace when EMF is on.
pub fn emf_namespace() -> Option<&'static str> {
    EMF_NAMESPACE.get().map(String::as_str)
}

/// Writes one request's EMF record as one JSON line on stderr, beside the
/// other log lines (Lambda sends both streams to CloudWatch Logs, which
/// extracts the metrics). Written whatever `RUST_LOG` says: it is the
/// request's log line and its metrics at once.
pub fn write_emf(
    namespace: &str,
    level: &str,
    message: &str,
    metrics: &RequestMetrics<'_>,
    mut fields: serde_json::Map<String, serde_json::Value>,
) {
    fields.insert("level".into(), level.into());
    fields.insert("message".into(), message.into());
    let timestamp_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let record = emf_record(namespace, timestamp_ms, metrics, fields);
    let mut line = record.to_string();
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}
