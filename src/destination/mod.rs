//! The decision table of SPEC 3.2, in one place.
//!
//! [`Destination::handle`] takes one [`InboundRequest`] and the time, runs
//! method and size checks, the handshake or authentication, classification
//! and the sink, and returns the [`HttpResponse`] with one log line per
//! request. With the built-in OAuth issuer on, its two endpoints are routed
//! first. Every refusal is a [`Refusal`] variant, mapped to its HTTP answer
//! by [`Refusal::response`] and nowhere else.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::auth::jwt::JwtError;
use crate::auth::jwt::jwk::KeySet;
use crate::auth::jwt::trust::{BuiltinIssuer, IssuerKind};
use crate::auth::material::{Material, MaterialCache, MaterialError};
use crate::auth::{self, AuthError, AuthMethod, AuthPolicy, TrustedIssuer};
use crate::inbound::InboundRequest;
use crate::oauth::{self, Endpoint, OAuthError};
use crate::redox::{self, Classified, HandshakeError};
use crate::response::HttpResponse;
use crate::sink::{QueuedMessage, Sink, SinkError};
use crate::telemetry;
use crate::telemetry::metrics::{Dependency, RequestMetrics};

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
    #[error("the JWT issuer's keys (JWKS) are unavailable")]
    JwksUnavailable,
    #[error("token endpoint: {0}")]
    OAuth(#[from] OAuthError),
    #[error("{0}")]
    Sink(#[from] SinkError),
    #[error("the request's deadline ({0:?}) ran out before it was answered")]
    DeadlineExceeded(Duration),
    #[error("a bug: the handler panicked")]
    Internal,
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
            Refusal::MaterialUnavailable(_) | Refusal::JwksUnavailable => "auth_unavailable",
            Refusal::OAuth(error) => error.error_code(),
            Refusal::Sink(SinkError::TooLarge { .. }) => "payload_too_large",
            Refusal::Sink(_) => "queue_unavailable",
            Refusal::DeadlineExceeded(_) => "deadline_exceeded",
            Refusal::Internal => "internal_error",
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
            // RFC 6750 3.1: a refused bearer token says so, and only that.
            Refusal::Unauthorized(AuthError::Jwt(_)) => {
                HttpResponse::error(401, code, "The request could not be authenticated.")
                    .with_header("www-authenticate", r#"Bearer error="invalid_token""#)
            }
            Refusal::Unauthorized(_) => {
                HttpResponse::error(401, code, "The request could not be authenticated.")
            }
            // RFC 6749 5.2: the token endpoint's own error format.
            Refusal::OAuth(error) => {
                let response = HttpResponse::json(
                    error.status(),
                    &serde_json::json!({
                        "error": error.error_code(),
                        "error_description": error.description(),
                    }),
                )
                .with_header("pragma", "no-cache");
                match error {
                    OAuthError::InvalidClient(_) | OAuthError::ClientMismatch => response
                        .with_header(
                            "www-authenticate",
                            format!("Basic realm=\"{}\"", oauth::REALM),
                        ),
                    OAuthError::MethodNotAllowed(allow) => response.with_header("allow", *allow),
                    OAuthError::Throttled { retry_after_secs } => {
                        response.with_header("retry-after", retry_after_secs.to_string())
                    }
                    OAuthError::NoSigningKey | OAuthError::SigningFailed => {
                        response.with_header("retry-after", RETRY_AFTER_SECS.to_string())
                    }
                    _ => response,
                }
            }
            Refusal::SynchronousQuery(_) => HttpResponse::error(
                501,
                code,
                "This destination queues messages; it cannot answer synchronous queries.",
            ),
            Refusal::Sink(SinkError::TooLarge { .. }) => {
                HttpResponse::error(413, code, &self.to_string())
            }
            Refusal::MaterialUnavailable(_)
            | Refusal::JwksUnavailable
            | Refusal::Sink(_)
            | Refusal::DeadlineExceeded(_) => {
                HttpResponse::error(503, code, "The message was not queued; retry later.")
                    .with_header("retry-after", RETRY_AFTER_SECS.to_string())
            }
            Refusal::Internal => HttpResponse::error(
                500,
                code,
                "The destination failed unexpectedly; the message was not queued. Retry later.",
            )
            .with_header("retry-after", RETRY_AFTER_SECS.to_string()),
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
}

/// The destination: auth material, policy, sink and limits.
pub struct Destination {
    pub material: Arc<MaterialCache>,
    pub policy: AuthPolicy,
    pub sink: Arc<dyn Sink>,
    pub max_body_bytes: usize,
    /// Bound on one request when the front door sets none tighter.
    pub request_timeout: Duration,
}

impl Destination {
    /// Handles one request within [`Destination::request_timeout`] and logs
    /// one line about it.
    pub async fn handle(&self, request: InboundRequest, now: SystemTime) -> HttpResponse {
        let deadline = tokio::time::Instant::now() + self.request_timeout;
        self.handle_until(request, now, deadline).await
    }

    /// Handles one request and logs one line about it. Whatever is still
    /// running at `deadline` (a fetch, an upload, a SendMessage) is
    /// abandoned and the answer is 503 with `Retry-After`: Redox keeps the
    /// message and retries, where a Lambda timeout would give it a bare 502.
    pub async fn handle_until(
        &self,
        request: InboundRequest,
        now: SystemTime,
        deadline: tokio::time::Instant,
    ) -> HttpResponse {
        let started = Instant::now();
        let budget = deadline.saturating_duration_since(tokio::time::Instant::now());
        let mut record = RequestRecord {
            body_bytes: request.body.len(),
            ..RequestRecord::default()
        };
        let decided =
            match tokio::time::timeout_at(deadline, self.decide(request, now, &mut record)).await {
                Ok(decided) => decided,
                Err(_) => Err(Refusal::DeadlineExceeded(budget)),
            };
        let (response, refusal) = match decided {
            Ok(response) => (response, None),
            Err(refusal) => (refusal.response(), Some(refusal)),
        };
        let failed = refusal
            .as_ref()
            .and_then(|r| self.failed_dependency(r, &record));
        log_request(
            &record,
            &response,
            refusal.as_ref(),
            failed,
            started.elapsed(),
        );
        response
    }

    /// For a 5xx caused by a dependency: which one.
    fn failed_dependency(&self, refusal: &Refusal, record: &RequestRecord) -> Option<Dependency> {
        match refusal {
            Refusal::MaterialUnavailable(_) => Some(Dependency::SecretsManager),
            Refusal::JwksUnavailable => Some(Dependency::Jwks),
            Refusal::Sink(SinkError::TooLarge { .. }) => None,
            Refusal::Sink(error) => Some(error.dependency(self.sink.dependency())),
            Refusal::DeadlineExceeded(_) => record.waiting_on,
            _ => None,
        }
    }

    async fn decide(
        &self,
        request: InboundRequest,
        now: SystemTime,
        record: &mut RequestRecord,
    ) -> Result<HttpResponse, Refusal> {
        if let Some(builtin) = self.builtin_issuer()
            && let Some(endpoint) = oauth::endpoint(&request, builtin)
        {
            record.oauth_endpoint = Some(endpoint);
            return self
                .answer_oauth(endpoint, builtin, &request, now, record)
                .await;
        }
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

        record.waiting_on = Some(Dependency::SecretsManager);
        let material = self.material.current().await?;
        record.waiting_on = None;
        match redox::classify(&request) {
            Classified::Handshake(handshake) => {
                record.handshake = true;
                let token = handshake.token.as_deref();
                self.authenticate_with_refresh(&request, material, |m, issuers| {
                    auth::authenticate_handshake_with_issuers(
                        &request,
                        token,
                        &m.auth,
                        &self.policy,
                        issuers,
                        now,
                    )
                })
                .await?;
                let challenge = handshake.checked_challenge()?;
                Ok(HttpResponse::plain_text(200, challenge.to_owned()))
            }
            Classified::Push(envelope) => {
                let method = self
                    .authenticate_with_refresh(&request, material, |m, issuers| {
                        auth::authenticate_with_issuers(
                            &request,
                            &m.auth,
                            &self.policy,
                            issuers,
                            now,
                        )
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
                record.waiting_on = Some(self.sink.dependency());
                let message_id = self.sink.put(&message).await?;
                record.waiting_on = None;
                record.offloaded = self.sink.offloads(&message);
                record.message_id = Some(message_id.clone());
                Ok(HttpResponse::json(
                    200,
                    &serde_json::json!({"status": "queued", "message_id": message_id}),
                ))
            }
        }
    }

    /// Runs a check with the material and the JWT issuers' key sets; if it
    /// fails in a way fresher material could fix (a rotated token or key),
    /// re-fetches once (rate-limited) and re-checks, and likewise for the
    /// remote JWKS after an unknown `kid`, so the first use of a new
    /// credential is not refused.
    async fn authenticate_with_refresh<T>(
        &self,
        request: &InboundRequest,
        material: Arc<Material>,
        check: impl Fn(&Material, &[TrustedIssuer<'_>]) -> Result<T, AuthError>,
    ) -> Result<T, Refusal> {
        let mut remote_keys = self.remote_keys_for(request).await;
        let run = |material: &Material, remote_keys: Option<&KeySet>| {
            let issuers = self.trusted_issuers(remote_keys, material.issuer.verification_keys());
            check(material, &issuers)
        };
        let mut material = material;
        let mut result = run(&material, remote_keys.as_deref());
        if let Err(error) = &result
            && error.may_be_stale_material()
            && let Some(fresh) = self.material.refresh_after_miss().await
        {
            material = fresh;
            result = run(&material, remote_keys.as_deref());
        }
        if let Err(error) = &result
            && error.may_be_stale_jwks()
            && let Some(remote) = self.material.jwt_trust().and_then(|t| t.remote.as_ref())
            && let Some(fresh) = remote.jwks.refresh_after_unknown_kid().await
        {
            remote_keys = Some(fresh);
            result = run(&material, remote_keys.as_deref());
        }
        result.map_err(|error| match error {
            // Our own outage, not the caller's fault: Redox retries a 503.
            AuthError::Jwt(JwtError::KeysUnavailable) => Refusal::JwksUnavailable,
            other => Refusal::Unauthorized(other),
        })
    }

    /// The remote issuer's key set, fetched (or served from cache) only for
    /// a request that carries a Bearer value while `jwt` is on.
    async fn remote_keys_for(&self, request: &InboundRequest) -> Option<Arc<KeySet>> {
        let remote = self.material.jwt_trust()?.remote.as_ref()?;
        if !self.policy.is_enabled(AuthMethod::Jwt)
            || !matches!(
                auth::authorization_credential(request),
                Ok(auth::Credential::Bearer(_))
            )
        {
            return None;
        }
        remote.jwks.current().await
    }

    /// The issuers a bearer JWT may come from, with their keys.
    fn trusted_issuers<'a>(
        &'a self,
        remote_keys: Option<&'a KeySet>,
        builtin_keys: &'a KeySet,
    ) -> Vec<TrustedIssuer<'a>> {
        let Some(trust) = self.material.jwt_trust() else {
            return Vec::new();
        };
        let mut issuers = Vec::with_capacity(2);
        if let Some(remote) = &trust.remote {
            issuers.push(TrustedIssuer {
                kind: IssuerKind::Remote,
                settings: &remote.settings,
                keys: remote_keys,
            });
        }
        if let Some(builtin) = &trust.builtin {
            issuers.push(TrustedIssuer {
                kind: IssuerKind::BuiltIn,
                settings: &builtin.settings,
                keys: Some(builtin_keys),
            });
        }
        issuers
    }

    fn builtin_issuer(&self) -> Option<&BuiltinIssuer> {
        self.material.jwt_trust()?.builtin.as_ref()
    }

    /// Answers the built-in issuer's token and JWKS endpoints.
    async fn answer_oauth(
        &self,
        endpoint: Endpoint,
        builtin: &BuiltinIssuer,
        request: &InboundRequest,
        now: SystemTime,
        record: &mut RequestRecord,
    ) -> Result<HttpResponse, Refusal> {
        if request.body.len() > self.max_body_bytes {
            return Err(Refusal::BodyTooLarge {
                size: request.body.len(),
                limit: self.max_body_bytes,
            });
        }
        match endpoint {
            Endpoint::Jwks => {
                if request.method != "GET" {
                    return Err(OAuthError::MethodNotAllowed("GET").into());
                }
                let material = self.material.current().await?;
                let mut response = HttpResponse::json(200, &oauth::jwks_document(&material.issuer));
                response
                    .headers
                    .retain(|(name, _)| *name != "cache-control");
                Ok(response.with_header("cache-control", "public, max-age=300"))
            }
            Endpoint::Token => {
                // Past the failure limits a request is refused before any
                // secret is checked, so guessing cannot go on behind 429s.
                let presented = oauth::presented_client_ids(request);
                let presented: Vec<&str> = presented.iter().map(String::as_str).collect();
                let throttle = &builtin.failure_throttle;
                throttle
                    .check(&presented, now)
                    .map_err(|throttled| OAuthError::Throttled {
                        retry_after_secs: throttled.retry_after.as_secs(),
                    })?;
                let material = self.material.current().await?;
                let mut result = oauth::issue_token(request, builtin, &material.issuer, now);
                // A client secret rotated since the cache was filled.
                if let Err(OAuthError::ClientMismatch) = result
                    && let Some(fresh) = self.material.refresh_after_miss().await
                {
                    result = oauth::issue_token(request, builtin, &fresh.issuer, now);
                }
                if let Err(OAuthError::ClientMismatch) = result {
                    throttle.record_failure(&presented, now);
                }
                let issued = result?;
                record.oauth_client = Some(issued.client_id.clone());
                Ok(HttpResponse::json(200, &issued.response_body())
                    .with_header("pragma", "no-cache"))
            }
        }
    }
}

fn log_request(
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
        put("event_type", record.event_type.as_deref());
        put("message_id", record.message_id.as_deref());
        put("oauth_client", record.oauth_client.as_deref());
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
            event_type = record.event_type.as_deref(),
            message_id = record.message_id.as_deref(),
            oauth_client = record.oauth_client.as_deref(),
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
                        reason,
                        dependency,
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
    let refusal = Refusal::Internal;
    let response = refusal.response();
    let record = RequestRecord {
        body_bytes,
        ..RequestRecord::default()
    };
    log_request(&record, &response, Some(&refusal), None, elapsed);
}
