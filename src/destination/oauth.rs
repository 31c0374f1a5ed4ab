//! The built-in OAuth issuer's two endpoints, answered beside the push
//! decision table (see [`crate::oauth`] for the issuer itself).

use std::time::SystemTime;

use super::log::RequestRecord;
use super::{Destination, Refusal};
use crate::inbound::InboundRequest;
use crate::oauth::{self, BuiltinIssuer, Endpoint, OAuthError};
use crate::response::HttpResponse;

impl Destination {
    /// Answers the built-in issuer's token and JWKS endpoints.
    pub(super) async fn answer_oauth(
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
                let material = self.auth.material.current().await?;
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
                let material = self.auth.material.current().await?;
                let mut result = oauth::issue_token(request, builtin, &material.issuer, now);
                // A client secret rotated since the cache was filled.
                if let Err(OAuthError::ClientMismatch) = result
                    && let Some(fresh) = self.auth.material.refresh_after_miss().await
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
