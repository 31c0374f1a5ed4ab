//! The destination: one request in, one answer and one log line out.
//!
//! [`Destination::handle_until`] bounds the request by its deadline and
//! routes it: the built-in OAuth issuer's endpoints (`oauth.rs`) when that
//! issuer is on, every other request through the decision table of SPEC
//! 3.2 (`decide.rs`). Refusals are [`Refusal`] values, turned into HTTP
//! answers in `refusal.rs` only; `log.rs` writes the request's line.

mod decide;
mod log;
mod oauth;
mod refusal;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::auth::Authenticator;
use crate::inbound::InboundRequest;
use crate::oauth::BuiltinIssuer;
use crate::response::HttpResponse;
use crate::sink::{Sink, SinkError};
use crate::telemetry::metrics::Dependency;

pub use decide::BodyAllowance;
use log::log_request;
pub use log::{RequestRecord, log_internal_error, log_refused};
pub use refusal::{RETRY_AFTER_SECS, Refusal};

/// The destination: who is trusted, where messages go, and the limits.
pub struct Destination {
    pub auth: Authenticator,
    /// The built-in OAuth issuer (`REDOX_OAUTH_ISSUER`), when on.
    pub issuer: Option<BuiltinIssuer>,
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
            source_ip: request.origin.source_ip.clone(),
            source_ip_from: request.origin.source_ip_from,
            ..RequestRecord::default()
        };
        let decided =
            match tokio::time::timeout_at(deadline, self.route(request, now, &mut record)).await {
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
            Refusal::GoogleUnavailable(_) => Some(Dependency::GoogleTokenInfo),
            Refusal::JwksUnavailable
            | Refusal::OAuth(crate::oauth::OAuthError::ClientKeysUnavailable) => {
                Some(Dependency::Jwks)
            }
            Refusal::Sink(SinkError::TooLarge { .. }) => None,
            Refusal::Sink(error) => Some(error.dependency(self.sink.dependency())),
            Refusal::DeadlineExceeded(_) => record.waiting_on,
            _ => None,
        }
    }

    /// The issuer's endpoints beside the push table, never inside it.
    async fn route(
        &self,
        request: InboundRequest,
        now: SystemTime,
        record: &mut RequestRecord,
    ) -> Result<HttpResponse, Refusal> {
        if let Some(issuer) = &self.issuer
            && let Some(endpoint) = crate::oauth::endpoint(&request, issuer)
        {
            record.oauth_endpoint = Some(endpoint);
            return self
                .answer_oauth(endpoint, issuer, &request, now, record)
                .await;
        }
        self.decide(request, now, record).await
    }
}
