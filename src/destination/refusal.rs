//! [`Refusal`]: every reason a request is not acknowledged, and the one
//! place each becomes an HTTP answer.

use std::time::Duration;

use crate::auth::material::MaterialError;
use crate::auth::{AuthError, AuthFailure};
use crate::oauth::{self, OAuthError};
use crate::redox::HandshakeError;
use crate::response::HttpResponse;
use crate::sink::SinkError;

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
    /// Google could not say whether an access token is valid.
    #[error("google token-info unavailable: {0}")]
    GoogleUnavailable(String),
    /// The source address spent its token-info calls for now.
    #[error("the address's google token-info calls are spent; retry in {retry_after_secs} s")]
    GoogleLimited { retry_after_secs: u64 },
    #[error("token endpoint: {0}")]
    OAuth(#[from] OAuthError),
    #[error("{0}")]
    Sink(#[from] SinkError),
    #[error("the request's deadline ({0:?}) ran out before it was answered")]
    DeadlineExceeded(Duration),
    /// Server mode: the body stopped arriving before the request's deadline.
    #[error("the body stalled: {received} bytes arrived before the deadline ({deadline:?})")]
    BodyTimeout { received: usize, deadline: Duration },
    /// Server mode: the body does not fit in `REDOX_BODY_MEMORY_BYTES`
    /// beside the bodies already in flight, even after a wait.
    #[error(
        "a {size}-byte body did not fit in the body memory budget ({budget} bytes) within {waited:?}"
    )]
    BodyMemoryFull {
        size: usize,
        budget: usize,
        waited: Duration,
    },
    /// Server mode: after the grace period the body arrived slower than
    /// `REDOX_MIN_BODY_BYTES_PER_SEC`.
    #[error(
        "the body arrived too slowly: {received} bytes in {elapsed:?}, under the minimum of {min_rate} bytes/s after the grace period"
    )]
    BodyTooSlow {
        received: usize,
        elapsed: Duration,
        min_rate: u64,
    },
    /// Server mode: the client address already holds its share of the
    /// server (`REDOX_MAX_CLIENT_REQUESTS`, `REDOX_CLIENT_BODY_MEMORY_BYTES`).
    #[error("the client address already holds its share of {0}")]
    ClientShareFull(&'static str),
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
            Refusal::MaterialUnavailable(_)
            | Refusal::JwksUnavailable
            | Refusal::GoogleUnavailable(_) => "auth_unavailable",
            Refusal::GoogleLimited { .. } => "too_many_requests",
            Refusal::OAuth(error) => error.error_code(),
            Refusal::Sink(SinkError::TooLarge { .. }) => "payload_too_large",
            Refusal::Sink(_) => "queue_unavailable",
            Refusal::DeadlineExceeded(_) => "deadline_exceeded",
            Refusal::BodyTimeout { .. } | Refusal::BodyTooSlow { .. } => "request_timeout",
            Refusal::ClientShareFull(_) => "too_many_requests",
            Refusal::BodyMemoryFull { .. } => "server_busy",
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
                    _ if error.is_client_failure() => response.with_header(
                        "www-authenticate",
                        format!("Basic realm=\"{}\"", oauth::REALM),
                    ),
                    OAuthError::MethodNotAllowed(allow) => response.with_header("allow", *allow),
                    OAuthError::Throttled { retry_after_secs }
                    | OAuthError::TooManyGrants { retry_after_secs }
                    | OAuthError::ReplayCacheFull { retry_after_secs } => {
                        response.with_header("retry-after", retry_after_secs.to_string())
                    }
                    OAuthError::NoSigningKey
                    | OAuthError::SigningFailed
                    | OAuthError::ClientKeysUnavailable => {
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
            Refusal::GoogleLimited { retry_after_secs } => HttpResponse::error(
                429,
                code,
                "Too many requests from this address; the message was not queued. Retry later.",
            )
            .with_header("retry-after", retry_after_secs.max(&1).to_string()),
            Refusal::MaterialUnavailable(_)
            | Refusal::JwksUnavailable
            | Refusal::GoogleUnavailable(_)
            | Refusal::Sink(_)
            | Refusal::DeadlineExceeded(_) => {
                HttpResponse::error(503, code, "The message was not queued; retry later.")
                    .with_header("retry-after", RETRY_AFTER_SECS.to_string())
            }
            // The server front door closes the connection after it
            // (RFC 9110 15.5.9): the rest of the body is never read.
            Refusal::BodyTimeout { .. } => HttpResponse::error(
                408,
                code,
                "The body did not arrive in time; the message was not queued. Retry.",
            ),
            Refusal::BodyTooSlow { .. } => HttpResponse::error(
                408,
                code,
                "The body arrived too slowly; the message was not queued. Retry.",
            ),
            Refusal::ClientShareFull(_) => HttpResponse::error(
                429,
                code,
                "Too many requests from this address at once; the message was not queued. Retry later.",
            )
            .with_header("retry-after", RETRY_AFTER_SECS.to_string()),
            Refusal::BodyMemoryFull { .. } => HttpResponse::error(
                503,
                code,
                "The destination is receiving other large messages; the message was not queued. Retry later.",
            )
            .with_header("retry-after", RETRY_AFTER_SECS.to_string()),
            Refusal::Internal => HttpResponse::error(
                500,
                code,
                "The destination failed unexpectedly; the message was not queued. Retry later.",
            )
            .with_header("retry-after", RETRY_AFTER_SECS.to_string()),
        }
    }
}

impl From<AuthFailure> for Refusal {
    fn from(failure: AuthFailure) -> Self {
        match failure {
            AuthFailure::Refused(error) => Refusal::Unauthorized(error),
            AuthFailure::MaterialUnavailable(error) => Refusal::MaterialUnavailable(error),
            AuthFailure::JwksUnavailable => Refusal::JwksUnavailable,
            AuthFailure::GoogleUnavailable(why) => Refusal::GoogleUnavailable(why),
            AuthFailure::GoogleLimited { retry_after_secs } => {
                Refusal::GoogleLimited { retry_after_secs }
            }
        }
    }
}
