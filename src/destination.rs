//! The decision table of SPEC 3.2, in one place.
//!
//! [`Destination::handle`] takes one [`InboundRequest`] and the time, runs
//! method and size checks, the handshake or authentication, classification
//! and the sink, and returns the [`HttpResponse`] with one log line per
//! request. Every refusal is a [`Refusal`] variant, mapped to its HTTP answer
//! by [`Refusal::response`] and nowhere else.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::auth::{self, AuthError, AuthMethod, AuthPolicy};
use crate::inbound::InboundRequest;
use crate::material::{AuthMaterial, MaterialCache, MaterialError};
use crate::redox::{self, Classified, HandshakeError};
use crate::response::HttpResponse;
use crate::sink::{QueuedMessage, Sink, SinkError};

/// Seconds Redox is asked to wait before retrying after a 503.
pub const RETRY_AFTER_SECS: u64 = 10;

/// Every reason a request is not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("method {0} is not allowed")]
    MethodNotAllowed(String),
    #[error("the body is {size} bytes, over the limit of {limit}")]
    BodyTooLarge { size: usize, limit: usize },
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("{0}")]
    Unauthorized(#[from] AuthError),
    #[error("synchronous query event type {0} cannot be answered from a queue")]
    SynchronousQuery(String),
    #[error("auth material unavailable: {0}")]
    MaterialUnavailable(#[from] MaterialError),
    #[error("{0}")]
    Sink(#[from] SinkError),
}

impl Refusal {
    /// Short machine-readable code for the log and the error body.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::MethodNotAllowed(_) => "method_not_allowed",
            Refusal::BodyTooLarge { .. } => "payload_too_large",
            Refusal::BadRequest(_) => "bad_request",
            Refusal::Handshake(_) => "invalid_challenge",
            Refusal::Unauthorized(_) => "unauthorized",
            Refusal::SynchronousQuery(_) => "sync_query_not_supported",
            Refusal::MaterialUnavailable(_) => "auth_unavailable",
            Refusal::Sink(SinkError::TooLarge { .. }) => "payload_too_large",
            Refusal::Sink(_) => "queue_unavailable",
        }
    }

    /// The one place refusals become HTTP answers. Authentication failures
    /// all look the same from outside; the reason goes only to the log.
    pub fn response(&self) -> HttpResponse {
        let code = self.code();
        match self {
            Refusal::MethodNotAllowed(_) => HttpResponse::error(
                405,
                code,
                "Use POST (GET only for the verification handshake).",
            )
            .with_header("allow", "POST, GET"),
            Refusal::BodyTooLarge { limit, .. } => HttpResponse::error(
                413,
                code,
                &format!("The body is larger than this destination accepts ({limit} bytes)."),
            ),
            Refusal::BadRequest(why) => HttpResponse::error(400, code, why),
            Refusal::Handshake(why) => HttpResponse::error(400, code, &why.to_string()),
            Refusal::Unauthorized(_) => {
                HttpResponse::error(401, code, "The request could not be authenticated.")
            }
            Refusal::SynchronousQuery(_) => HttpResponse::error(
                501,
                code,
                "This destination queues messages; it cannot answer synchronous queries.",
            ),
            Refusal::Sink(SinkError::TooLarge { .. }) => {
                HttpResponse::error(413, code, &self.to_string())
            }
            Refusal::MaterialUnavailable(_) | Refusal::Sink(_) => {
                HttpResponse::error(503, code, "The message was not queued; retry later.")
                    .with_header("retry-after", RETRY_AFTER_SECS.to_string())
            }
        }
    }
}

/// What happened to one request, for its log line.
#[derive(Debug, Default)]
pub struct RequestRecord {
    pub auth_method: Option<AuthMethod>,
    pub redox_log_id: Option<String>,
    pub event_type: Option<String>,
    pub message_id: Option<String>,
    pub handshake: bool,
}

/// The destination: auth material, policy, sink and limits.
pub struct Destination {
    pub material: Arc<MaterialCache>,
    pub policy: AuthPolicy,
    pub sink: Arc<dyn Sink>,
    pub max_body_bytes: usize,
}

impl Destination {
    /// Handles one request and logs one line about it.
    pub async fn handle(&self, request: InboundRequest, now: SystemTime) -> HttpResponse {
        let started = Instant::now();
        let mut record = RequestRecord::default();
        let result = self.decide(request, now, &mut record).await;
        log_request(&record, &result, started.elapsed());
        match result {
            Ok(response) => response,
            Err(refusal) => refusal.response(),
        }
    }

    async fn decide(
        &self,
        request: InboundRequest,
        now: SystemTime,
        record: &mut RequestRecord,
    ) -> Result<HttpResponse, Refusal> {
        let is_get = request.method == "GET";
        if request.method != "POST" && !is_get {
            return Err(Refusal::MethodNotAllowed(request.method));
        }
        if request.body.len() > self.max_body_bytes {
            return Err(Refusal::BodyTooLarge {
                size: request.body.len(),
                limit: self.max_body_bytes,
            });
        }
        if is_get && request.query_param("challenge").is_none() {
            return Err(Refusal::MethodNotAllowed(request.method));
        }

        let material = self.material.current().await?;
        match redox::classify(&request) {
            Classified::Handshake(handshake) => {
                record.handshake = true;
                let token = handshake.token.as_deref();
                self.with_refresh_on_miss(material, |m| {
                    auth::authenticate_handshake(&request, token, m)
                })
                .await?;
                let challenge = handshake.checked_challenge()?;
                Ok(HttpResponse::plain_text(200, challenge.to_owned()))
            }
            Classified::Push(envelope) => {
                let method = self
                    .with_refresh_on_miss(material, |m| {
                        auth::authenticate(&request, m, &self.policy, now)
                    })
                    .await?;
                record.auth_method = Some(method);
                if let Some(meta) = envelope.meta() {
                    record.redox_log_id = meta.log_id.clone();
                    record.event_type = meta.event_type.clone();
                }
                if envelope.is_synchronous_query() {
                    let event_type = record.event_type.clone().unwrap_or_default();
                    return Err(Refusal::SynchronousQuery(event_type));
                }
                let content_type = request
                    .header_values("content-type")
                    .next()
                    .map(str::to_owned);
                let message = QueuedMessage::new(
                    request.body,
                    &envelope,
                    method,
                    content_type.as_deref(),
                    now,
                );
                let message_id = self.sink.put(&message).await?;
                record.message_id = Some(message_id.clone());
                Ok(HttpResponse::json(
                    200,
                    &serde_json::json!({"status": "queued", "message_id": message_id}),
                ))
            }
        }
    }

    /// Runs a check; if it fails in a way fresher material could fix (a
    /// rotated token or key), re-fetches once (rate-limited) and re-checks,
    /// so the first use of a new credential is not refused.
    async fn with_refresh_on_miss<T>(
        &self,
        material: Arc<AuthMaterial>,
        check: impl Fn(&AuthMaterial) -> Result<T, AuthError>,
    ) -> Result<T, AuthError> {
        match check(&material) {
            Err(error) if error.may_be_stale_material() => {
                match self.material.refresh_after_miss().await {
                    Some(fresh) => check(&fresh),
                    None => Err(error),
                }
            }
            other => other,
        }
    }
}

fn log_request(record: &RequestRecord, result: &Result<HttpResponse, Refusal>, elapsed: Duration) {
    let latency_us = elapsed.as_micros() as u64;
    let auth = record.auth_method.map(AuthMethod::as_str);
    let log_id = record.redox_log_id.as_deref();
    let kind = if record.handshake {
        "handshake"
    } else {
        "push"
    };
    match result {
        Ok(response) => tracing::info!(
            outcome = if record.handshake {
                "verified"
            } else {
                "queued"
            },
            status = response.status,
            kind,
            auth_method = auth,
            redox_log_id = log_id,
            event_type = record.event_type.as_deref(),
            message_id = record.message_id.as_deref(),
            latency_us,
            "request handled"
        ),
        Err(refusal) => {
            let status = refusal.response().status;
            let reason = refusal.to_string();
            macro_rules! refused {
                ($level:ident) => {
                    tracing::$level!(
                        outcome = refusal.code(),
                        status,
                        kind,
                        auth_method = auth,
                        redox_log_id = log_id,
                        reason,
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
