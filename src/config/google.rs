//! `REDOX_GOOGLE_*`: what the `google` method needs besides the service
//! accounts it trusts (those are in the auth material, so changing them is
//! a secret update, not a redeploy). Google's endpoints are the defaults;
//! another URL is for tests and private mirrors only (`https://`, or
//! `http://` on loopback).

use std::time::Duration;

use super::{ConfigError, list, number, problem};
use crate::auth::google::DEFAULT_JWKS_URL;
use crate::auth::google::lookups::CallLimits;
use crate::auth::google::tokeninfo::DEFAULT_TOKENINFO_URL;

/// The `google` method's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleConfig {
    /// `REDOX_GOOGLE_AUDIENCE`: the `aud` a Google ID token must carry (one
    /// of them); empty: ID tokens are refused, access tokens still checked.
    pub audiences: Vec<String>,
    /// `REDOX_GOOGLE_REQUIRED_SCOPE`: scopes an access token must carry.
    pub required_scopes: Vec<String>,
    /// `REDOX_GOOGLE_JWKS_URL`: Google's ID-token keys, or a mirror.
    pub jwks_url: String,
    /// `REDOX_GOOGLE_TOKENINFO_URL`: Google's token-info, or a mirror.
    pub tokeninfo_url: String,
    pub jwks_ttl: Duration,
    /// `REDOX_GOOGLE_MAX_LOOKUPS_PER_ADDRESS`, `REDOX_GOOGLE_MAX_LOOKUPS`.
    pub lookups: CallLimits,
    /// The first `REDOX_GOOGLE_*` variable set, if any (a setting for a
    /// method that is off is an error naming it).
    pub set_variable: Option<&'static str>,
}

/// Every `REDOX_GOOGLE_*` variable.
pub const VARIABLES: [&str; 7] = [
    "REDOX_GOOGLE_AUDIENCE",
    "REDOX_GOOGLE_REQUIRED_SCOPE",
    "REDOX_GOOGLE_JWKS_URL",
    "REDOX_GOOGLE_TOKENINFO_URL",
    "REDOX_GOOGLE_JWKS_TTL_SECS",
    "REDOX_GOOGLE_MAX_LOOKUPS_PER_ADDRESS",
    "REDOX_GOOGLE_MAX_LOOKUPS",
];

impl Default for GoogleConfig {
    fn default() -> Self {
        GoogleConfig {
            audiences: Vec::new(),
            required_scopes: Vec::new(),
            jwks_url: DEFAULT_JWKS_URL.to_owned(),
            tokeninfo_url: DEFAULT_TOKENINFO_URL.to_owned(),
            jwks_ttl: Duration::from_secs(3600),
            lookups: CallLimits::default(),
            set_variable: None,
        }
    }
}

pub(super) fn google<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
) -> Result<GoogleConfig, ConfigError> {
    let url = |variable: &'static str, default: &str| -> Result<String, ConfigError> {
        let url = get(variable).unwrap_or(default);
        crate::auth::jwt::jwks::check_url(url).map_err(|why| problem(variable, why))?;
        Ok(url.to_owned())
    };
    let defaults = CallLimits::default();
    Ok(GoogleConfig {
        audiences: get("REDOX_GOOGLE_AUDIENCE").map(list).unwrap_or_default(),
        required_scopes: get("REDOX_GOOGLE_REQUIRED_SCOPE")
            .map(list)
            .unwrap_or_default(),
        jwks_url: url("REDOX_GOOGLE_JWKS_URL", DEFAULT_JWKS_URL)?,
        tokeninfo_url: url("REDOX_GOOGLE_TOKENINFO_URL", DEFAULT_TOKENINFO_URL)?,
        jwks_ttl: Duration::from_secs(number(get, "REDOX_GOOGLE_JWKS_TTL_SECS", 3600, 60, 86_400)?),
        lookups: CallLimits {
            per_address: number(
                get,
                "REDOX_GOOGLE_MAX_LOOKUPS_PER_ADDRESS",
                u64::from(defaults.per_address),
                1,
                1000,
            )? as u32,
            total: number(
                get,
                "REDOX_GOOGLE_MAX_LOOKUPS",
                u64::from(defaults.total),
                1,
                100_000,
            )? as u32,
        },
        set_variable: VARIABLES.into_iter().find(|name| get(name).is_some()),
    })
}
