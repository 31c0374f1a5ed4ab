//! The built-in OAuth issuer's two endpoints, answered beside the push
//! decision table (see [`crate::oauth`] for the issuer itself), and the
//! token endpoint's failure throttle applied to each request: its source
//! address's attempt reserved first, resolved once the outcome is known.

use std::time::SystemTime;

use super::log::RequestRecord;
use super::{Destination, Refusal};
use crate::inbound::InboundRequest;
use crate::oauth::throttle::{Attempt, SourceKey};
use crate::oauth::{self, BuiltinIssuer, Endpoint, IssuedToken, OAuthError, TokenRequest};
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
        match endpoint {
            Endpoint::Jwks => self.answer_jwks(request).await,
            Endpoint::Token => {
                // The attempt is reserved before anything is parsed or
                // awaited: past its address's allowance a request is refused
                // unchecked, so guessing cannot go on behind the 429s, and
                // concurrent guesses cannot all pass one check.
                let attempt = self.reserve_attempt(builtin, request, now)?;
                // Too large is a failure of its source (the attempt drops spent).
                self.check_body_size(request)?;
                let issued = self.grant_token(builtin, request, now, attempt).await?;
                record.oauth_client = Some(issued.client_id.clone());
                Ok(HttpResponse::json(200, &issued.response_body())
                    .with_header("pragma", "no-cache"))
            }
        }
    }

    async fn answer_jwks(&self, request: &InboundRequest) -> Result<HttpResponse, Refusal> {
        self.check_body_size(request)?;
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

    fn check_body_size(&self, request: &InboundRequest) -> Result<(), Refusal> {
        if request.body.len() > self.max_body_bytes {
            return Err(Refusal::BodyTooLarge {
                size: request.body.len(),
                limit: self.max_body_bytes,
            });
        }
        Ok(())
    }

    /// Reserves one attempt for the request's source address.
    fn reserve_attempt(
        &self,
        builtin: &BuiltinIssuer,
        request: &InboundRequest,
        now: SystemTime,
    ) -> Result<Attempt, Refusal> {
        let source = SourceKey::of(request.origin.source_ip.as_deref());
        let attempt = builtin
            .failure_throttle
            .reserve(source, now)
            .map_err(|throttled| OAuthError::Throttled {
                retry_after_secs: throttled.retry_after.as_secs(),
            })?;
        // Said at the 1st, 2nd, 4th, 8th… time, so a spray cannot flood the log.
        if let Some(forgotten) = attempt.forgot_an_address()
            && forgotten.is_power_of_two()
        {
            tracing::warn!(
                forgotten,
                tracked = builtin.failure_throttle.limits().tracked_addresses,
                "token endpoint throttle full: an address still in debt was forgotten \
                 (failed token requests from more addresses a minute than are tracked)"
            );
        }
        Ok(attempt)
    }

    /// Parses the token request once, authenticates its client against the
    /// cached material (and once more against freshly fetched material, for
    /// a secret rotated since), and resolves the reservation: given back
    /// once the client has authenticated, or when nothing could be
    /// evaluated; spent for a malformed request or a failed authentication.
    async fn grant_token(
        &self,
        builtin: &BuiltinIssuer,
        request: &InboundRequest,
        now: SystemTime,
        attempt: Attempt,
    ) -> Result<IssuedToken, Refusal> {
        let token_request = match TokenRequest::parse(request) {
            Ok(parsed) => parsed,
            Err(error) => {
                attempt.failed();
                return Err(error.into());
            }
        };
        let material = match self.auth.material.current().await {
            Ok(material) => material,
            Err(error) => {
                attempt.not_evaluated();
                return Err(error.into());
            }
        };
        let origin = &request.origin;
        let mut result = oauth::grant(&token_request, builtin, origin, &material.issuer, now);
        if let Err(OAuthError::ClientMismatch) = result
            && let Some(fresh) = self.auth.material.refresh_after_miss().await
        {
            result = oauth::grant(&token_request, builtin, origin, &fresh.issuer, now);
        }
        match &result {
            Err(OAuthError::ClientMismatch | OAuthError::InvalidClient(_)) => attempt.failed(),
            // Anything else comes after the client authenticated.
            _ => attempt.succeeded(),
        }
        Ok(result?)
    }
}
