//! `REDOX_JWT_*`: a remote identity provider whose JWTs the `jwt` method
//! accepts.

use std::time::Duration;

use super::{ConfigError, list, number, problem};
use crate::auth::jwt::caller::{CallerClaim, valid_caller};

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
    /// The callers whose tokens are accepted (`REDOX_JWT_ALLOWED_CALLERS`);
    /// empty: every caller the issuer serves.
    pub allowed_callers: Vec<String>,
    /// The claim that names the caller (`REDOX_JWT_CALLER_CLAIM`).
    pub caller_claim: CallerClaim,
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
            for variable in [
                "REDOX_JWT_REQUIRED_SCOPE",
                "REDOX_JWT_ALLOWED_CALLERS",
                "REDOX_JWT_CALLER_CLAIM",
            ] {
                if get(variable).is_some() {
                    return Err(problem(
                        variable,
                        "applies to a remote issuer: set REDOX_JWT_JWKS_URL, REDOX_JWT_ISSUER and REDOX_JWT_AUDIENCE too",
                    ));
                }
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
        allowed_callers: allowed_callers(get)?,
        caller_claim: match get("REDOX_JWT_CALLER_CLAIM") {
            None => CallerClaim::Auto,
            Some(_) if get("REDOX_JWT_ALLOWED_CALLERS").is_none() => {
                return Err(problem(
                    "REDOX_JWT_CALLER_CLAIM",
                    "names the claim REDOX_JWT_ALLOWED_CALLERS is matched against; set that too",
                ));
            }
            Some(name) => {
                CallerClaim::parse(name).map_err(|why| problem("REDOX_JWT_CALLER_CLAIM", why))?
            }
        },
    }))
}

/// `REDOX_JWT_ALLOWED_CALLERS`: comma-separated caller ids (client ids,
/// application ids, service account ids or emails).
fn allowed_callers<'a>(get: &impl Fn(&str) -> Option<&'a str>) -> Result<Vec<String>, ConfigError> {
    let Some(text) = get("REDOX_JWT_ALLOWED_CALLERS") else {
        return Ok(Vec::new());
    };
    let callers: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    if callers.is_empty() || callers.len() > 100 || !callers.iter().all(|c| valid_caller(c)) {
        return Err(problem(
            "REDOX_JWT_ALLOWED_CALLERS",
            "list 1-100 caller ids, comma-separated, each at most 1024 characters without control characters",
        ));
    }
    Ok(callers)
}

fn missing_jwt_setting(variable: &'static str) -> ConfigError {
    problem(
        variable,
        "a remote JWT issuer needs REDOX_JWT_JWKS_URL, REDOX_JWT_ISSUER and REDOX_JWT_AUDIENCE together",
    )
}
