//! The built-in OAuth issuer's two endpoints, answered beside the push
//! decision table (see [`crate::oauth`] for the issuer itself), and the
//! token endpoint's failure throttle applied to each request: its source
//! address's attempt reserved first, resolved once the outcome is known.

use std::sync::Arc;
use std::time::SystemTime;

use super::log::RequestRecord;
use super::{Destination, Refusal};
use crate::auth::jwt::jwk::KeySet;
use crate::auth::jwt::jwks::{JwksCache, Refresh};
use crate::auth::material::Material;
use crate::inbound::InboundRequest;
use crate::oauth::assertion::jwks_url_of;
use crate::oauth::request::PresentedClient;
use crate::oauth::{
    self, AssertionError, BuiltinIssuer, Endpoint, IssuedToken, OAuthError, TokenRequest,
};
use crate::response::HttpResponse;
use crate::throttle::{Attempt, SourceKey};

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
    /// a secret or key rotated since; and, for a client with a `jwks_url`,
    /// once more against its re-fetched key set after an unknown `kid`), and
    /// resolves the reservation: given back once the client has
    /// authenticated, or when nothing could be evaluated; spent for a
    /// malformed request or a failed authentication.
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
        let mut material = match self.auth.material.current().await {
            Ok(material) => material,
            Err(error) => {
                attempt.not_evaluated();
                return Err(error.into());
            }
        };
        let origin = &request.origin;
        let mut url_keys = client_url_keys(builtin, &token_request, &material).await;
        let grant = |material: &Material, url_keys: Option<&KeySet>| {
            oauth::grant(
                &token_request,
                builtin,
                origin,
                &material.issuer,
                url_keys,
                now,
            )
        };
        let mut result = grant(&material, url_keys.as_ref().map(|(_, keys)| keys.as_ref()));
        if let Err(error) = &result
            && error.may_be_stale_material()
            && let Some(fresh) = self.auth.material.refresh_after_miss().await
        {
            material = fresh;
            url_keys = client_url_keys(builtin, &token_request, &material).await;
            result = grant(&material, url_keys.as_ref().map(|(_, keys)| keys.as_ref()));
        }
        if let Err(OAuthError::InvalidAssertion(AssertionError::UnknownKeyId(_))) = &result
            && let Some((cache, _)) = &url_keys
        {
            match cache.refresh_after_unknown_kid().await {
                Refresh::Fetched(fresh) => result = grant(&material, Some(&fresh)),
                Refresh::Unchanged => {}
                // The kid may be new but cannot be checked: not the client's fault.
                Refresh::Unavailable => result = Err(OAuthError::ClientKeysUnavailable),
            }
        }
        match &result {
            Err(error) if error.is_client_failure() => attempt.failed(),
            // The client's key set could not be had: our outage, or its.
            Err(OAuthError::ClientKeysUnavailable) => attempt.not_evaluated(),
            // Anything else comes after the client authenticated.
            _ => attempt.succeeded(),
        }
        Ok(result?)
    }
}

/// The key set of the client an assertion names, when that client
/// registered a `jwks_url`: fetched (or served from its cache) only for
/// such a request, never for a client-secret client.
async fn client_url_keys(
    builtin: &BuiltinIssuer,
    token_request: &TokenRequest,
    material: &Material,
) -> Option<(Arc<JwksCache>, Arc<KeySet>)> {
    let PresentedClient::Assertion { assertion, .. } = &token_request.client else {
        return None;
    };
    let url = jwks_url_of(assertion, &material.issuer)?;
    let cache = builtin.client_keys.cache(url)?;
    let keys = cache.current().await?;
    Some((cache, keys))
}
