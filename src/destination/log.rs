//! One log line per request, as a CloudWatch EMF record when metrics are on.
//! Never a secret or a message body: ids, codes, sizes and timings only.

use std::time::Duration;

use super::Refusal;
use crate::auth::AuthMethod;
use crate::oauth::Endpoint;
use crate::response::HttpResponse;
use crate::telemetry;
use crate::telemetry::metrics::{Dependency, RequestMetrics};

/// What happened to one request, for its log line.
#[derive(Debug, Default)]
pub struct RequestRecord {
    pub auth_method: Option<AuthMethod>,
    pub redox_log_id: Option<String>,
    /// `Meta.Message.ID` of an older envelope (which has no `Logs`).
    pub redox_message_id: Option<String>,
    pub event_type: Option<String>,
    pub message_id: Option<String>,
    pub handshake: bool,
    /// Set for requests to the built-in OAuth issuer's endpoints.
    pub oauth_endpoint: Option<Endpoint>,
    /// The client a token was issued to (an id, never a secret).
    pub oauth_client: Option<String>,
    pub body_bytes: usize,
    /// The accepted body went through S3.
    pub offloaded: bool,
    /// The dependency the request is waiting on, named if the deadline
    /// runs out meanwhile.
    pub waiting_on: Option<Dependency>,
    /// The client's address ([`crate::inbound::Origin::source_ip`]).
    pub source_ip: Option<String>,
    /// Where that address came from, when the front door had a choice.
    pub source_ip_from: Option<&'static str>,
}

pub(super) fn log_request(
    record: &RequestRecord,
    response: &HttpResponse,
    refusal: Option<&Refusal>,
    failed: Option<Dependency>,
    elapsed: Duration,
) {
    let status = response.status;
    let latency_us = elapsed.as_micros() as u64;
    let auth = record.auth_method.map(AuthMethod::as_str);
    let log_id = record.redox_log_id.as_deref();
    let kind = match (record.oauth_endpoint, record.handshake) {
        (Some(Endpoint::Token), _) => "token",
        (Some(Endpoint::Jwks), _) => "jwks",
        (None, true) => "handshake",
        (None, false) => "push",
    };
    let outcome = match (refusal, kind) {
        (Some(refusal), _) => refusal.code(),
        (None, "token") => "token_issued",
        (None, "jwks") => "jwks_served",
        (None, "handshake") => "verified",
        (None, _) => "queued",
    };
    if let Some(namespace) = telemetry::emf_namespace() {
        let mut fields = serde_json::Map::new();
        let mut put = |name: &str, value: Option<&str>| {
            if let Some(value) = value {
                fields.insert(name.to_owned(), value.into());
            }
        };
        put("outcome", Some(outcome));
        put("kind", Some(kind));
        put("auth_method", auth);
        put("reason", refusal.map(|r| r.to_string()).as_deref());
        put("redox_log_id", log_id);
        put("redox_message_id", record.redox_message_id.as_deref());
        put("event_type", record.event_type.as_deref());
        put("message_id", record.message_id.as_deref());
        put("oauth_client", record.oauth_client.as_deref());
        put("source_ip", record.source_ip.as_deref());
        put("source_ip_from", record.source_ip_from);
        fields.insert("status".into(), status.into());
        fields.insert("latency_us".into(), latency_us.into());
        let metrics = RequestMetrics {
            outcome,
            status,
            auth_method: auth,
            dependency: failed,
            latency_ms: elapsed.as_secs_f64() * 1000.0,
            body_bytes: record.body_bytes,
            offloaded: record.offloaded,
        };
        let level = match (refusal, status) {
            (None, _) => "INFO",
            (Some(_), 500..) if status != 501 => "ERROR",
            (Some(_), _) => "WARN",
        };
        let message = if refusal.is_some() {
            "request refused"
        } else {
            "request handled"
        };
        telemetry::write_emf(namespace, level, message, &metrics, fields);
        return;
    }
    match refusal {
        None => tracing::info!(
            outcome,
            status,
            kind,
            auth_method = auth,
            redox_log_id = log_id,
            redox_message_id = record.redox_message_id.as_deref(),
            event_type = record.event_type.as_deref(),
            message_id = record.message_id.as_deref(),
            oauth_client = record.oauth_client.as_deref(),
            source_ip = record.source_ip.as_deref(),
            source_ip_from = record.source_ip_from,
            latency_us,
            "request handled"
        ),
        Some(refusal) => {
            let reason = refusal.to_string();
            let dependency = failed.map(Dependency::as_str);
            macro_rules! refused {
                ($level:ident) => {
                    tracing::$level!(
                        outcome,
                        status,
                        kind,
                        auth_method = auth,
                        redox_log_id = log_id,
                        redox_message_id = record.redox_message_id.as_deref(),
                        reason,
                        dependency,
                        source_ip = record.source_ip.as_deref(),
                        source_ip_from = record.source_ip_from,
                        latency_us,
                        "request refused"
                    )
                };
            }
            // Our own outages are errors; refusals of the caller are warnings.
            if status >= 500 && status != 501 {
                refused!(error);
            } else {
                refused!(warn);
            }
        }
    }
}

/// The log line (and EMF record) of a request whose handling panicked;
/// the front doors call it, since the destination never returned.
pub fn log_internal_error(body_bytes: usize, elapsed: Duration) {
    let record = RequestRecord {
        body_bytes,
        ..RequestRecord::default()
    };
    log_refused(&Refusal::Internal, &record, elapsed);
}

/// The log line (and EMF record) of a request a front door refused before
/// the destination saw it (a body too large, stalled, or without room in
/// memory).
pub fn log_refused(refusal: &Refusal, record: &RequestRecord, elapsed: Duration) {
    log_request(record, &refusal.response(), Some(refusal), None, elapsed);
}
