//! The `google` method's start-up: Google's key set for ID tokens and the
//! token-info lookups for access tokens (each client built here, once),
//! checked against the auth material's `google_service_accounts` and the
//! other methods.

use super::{StartupError, setting};
use crate::auth::AuthMethod;
use crate::auth::google::lookups::AccessTokenLookups;
use crate::auth::google::tokeninfo::TokenInfoClient;
use crate::auth::google::{GoogleMethod, ISSUERS};
use crate::auth::jwt::jwks::{HttpsJwks, JwksCache};
use crate::auth::material::Material;
use crate::config::Config;

pub(super) async fn start(
    config: &Config,
    methods: &[AuthMethod],
    initial: Option<&Material>,
) -> Result<Option<GoogleMethod>, StartupError> {
    let google = &config.google;
    let accounts = initial.map(|m| m.auth.google_service_accounts.len());
    if !methods.contains(&AuthMethod::Google) {
        if accounts.is_some_and(|n| n > 0) {
            return Err(setting(
                "REDOX_AUTH_METHODS",
                "the auth material has google_service_accounts but the google method is not enabled",
            ));
        }
        if let Some(variable) = google.set_variable {
            return Err(setting(
                variable,
                "applies to the google method, which is not enabled (REDOX_AUTH_METHODS, or \
                 google_service_accounts in the auth material)",
            ));
        }
        return Ok(None);
    }
    if accounts == Some(0) {
        return Err(setting(
            "REDOX_AUTH_METHODS",
            "the google method needs google_service_accounts in the auth material: the \
             service accounts Redox authenticates as (their unique id and/or email)",
        ));
    }
    // Google's tokens are the google method's; the same issuer under jwt
    // would accept any Google user's ID token for the audience.
    if let Some(remote) = &config.jwt_remote
        && ISSUERS.contains(&remote.issuer.as_str())
    {
        return Err(setting(
            "REDOX_JWT_ISSUER",
            "Google ID tokens are checked by the google method (pinned to service accounts); \
             unset REDOX_JWT_JWKS_URL, REDOX_JWT_ISSUER and REDOX_JWT_AUDIENCE",
        ));
    }
    if google.audiences.is_empty() {
        tracing::warn!(
            "REDOX_GOOGLE_AUDIENCE is not set: Google ID tokens are refused, access tokens \
             are still checked"
        );
    }
    let keys = HttpsJwks::new(&google.jwks_url, config.aws_timeout)
        .map_err(|why| setting("REDOX_GOOGLE_JWKS_URL", why))?;
    let tokeninfo = TokenInfoClient::new(&google.tokeninfo_url, config.aws_timeout)
        .map_err(|why| setting("REDOX_GOOGLE_TOKENINFO_URL", why))?;
    let method = GoogleMethod {
        audiences: google.audiences.clone(),
        required_scopes: google.required_scopes.clone(),
        keys: JwksCache::new(Box::new(keys), google.jwks_ttl),
        lookups: AccessTokenLookups::new(Box::new(tokeninfo), google.lookups),
    };
    // ID tokens are expected: fetch Google's keys during init.
    if !method.audiences.is_empty() && method.keys.current().await.is_none() {
        tracing::warn!(
            jwks = %method.keys.describe(),
            "Google's keys are not available yet; Google ID tokens get 503 until they are"
        );
    }
    Ok(Some(method))
}

/// For the start-up banner: where Google credentials are checked.
pub(super) fn describe(method: &GoogleMethod) -> String {
    format!(
        " + Google ({}, {})",
        method.keys.describe(),
        method.lookups.describe()
    )
}
