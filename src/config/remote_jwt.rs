//! `REDOX_JWT_*`: a remote identity provider whose JWTs the `jwt` method
//! accepts.

use std::time::Duration;

use super::{ConfigError, list, number, problem};

/// An identity provider whose JWTs the `jwt` method accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteJwtConfig {
    pub jwks_url: String,
    pub issuer: String,
    pub audiences: Vec<String>,
    pub required_scopes: Vec<String>,
    /// How long a fetched JWKS is trusted before it is fetched again.
    pub jwks_ttl: Duration,
    /// Least time between re-fetches caused by an unknown `kid`.
    pub jwks_refetch: Duration,
}

/// `REDOX_JWT_*`: all of URL, issuer and audience, or none of them.
pub(super) fn remote_jwt<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
) -> Result<Option<RemoteJwtConfig>, ConfigError> {
    let url = get("REDOX_JWT_JWKS_URL");
    let issuer = get("REDOX_JWT_ISSUER");
    let audience = get("REDOX_JWT_AUDIENCE");
    let (url, issuer, audience) = match (url, issuer, audience) {
        (None, None, None) => {
            if get("REDOX_JWT_REQUIRED_SCOPE").is_some() {
                return Err(problem(
                    "REDOX_JWT_REQUIRED_SCOPE",
                    "applies to a remote issuer: set REDOX_JWT_JWKS_URL, REDOX_JWT_ISSUER and REDOX_JWT_AUDIENCE too",
                ));
            }
            return Ok(None);
        }
        (Some(url), Some(issuer), Some(audience)) => (url, issuer, audience),
        (None, _, _) => return Err(missing_jwt_setting("REDOX_JWT_JWKS_URL")),
        (_, None, _) => return Err(missing_jwt_setting("REDOX_JWT_ISSUER")),
        (_, _, None) => return Err(missing_jwt_setting("REDOX_JWT_AUDIENCE")),
    };
    crate::auth::jwt::jwks::check_url(url).map_err(|why| problem("REDOX_JWT_JWKS_URL", why))?;
    Ok(Some(RemoteJwtConfig {
        jwks_url: url.to_owned(),
        issuer: issuer.to_owned(),
        audiences: list(audience),
        required_scopes: get("REDOX_JWT_REQUIRED_SCOPE")
            .map(list)
            .unwrap_or_default(),
        jwks_ttl: Duration::from_secs(number(get, "REDOX_JWT_JWKS_TTL_SECS", 3600, 60, 86_400)?),
        jwks_refetch: Duration::from_secs(number(get, "REDOX_JWT_JWKS_REFETCH_SECS", 60, 1, 3600)?),
    }))
}

fn missing_jwt_setting(variable: &'static str) -> ConfigError {
    problem(
        variable,
        "a remote JWT issuer needs REDOX_JWT_JWKS_URL, REDOX_JWT_ISSUER and REDOX_JWT_AUDIENCE together",
    )
}
