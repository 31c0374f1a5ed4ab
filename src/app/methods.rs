//! Which auth methods are on, and each one's start-up. One home per method
//! that needs more than the auth material: `jwt.rs` (identity providers,
//! the built-in issuer) and `google.rs` (Google's keys and token-info);
//! `token` and `sigv4` need only the material, `iam` only
//! `REDOX_ALLOWED_PRINCIPALS`. Adding a method is one file there and one
//! line in [`start`].

use super::{StartupError, google, jwt};
use crate::auth::AuthMethod;
use crate::auth::google::GoogleMethod;
use crate::auth::jwt::trust::JwtTrust;
use crate::auth::material::Material;
use crate::config::Config;
use crate::oauth::BuiltinIssuer;

/// Every method's start-up, done.
pub(super) struct StartedMethods {
    pub enabled: Vec<AuthMethod>,
    pub trust: JwtTrust,
    pub issuer: Option<BuiltinIssuer>,
    pub google: Option<GoogleMethod>,
    /// Where keys and answers come from besides the material, for the banner.
    pub description: String,
}

/// `REDOX_AUTH_METHODS`, or, unset, the methods the configuration and the
/// material at start-up give something to check with.
fn enabled(config: &Config, initial: Option<&Material>) -> Vec<AuthMethod> {
    if let Some(methods) = &config.auth_methods {
        return methods.clone();
    }
    let mut methods = vec![AuthMethod::Token];
    let has = |what: fn(&Material) -> bool| initial.is_some_and(what);
    if has(|m| !m.auth.sigv4_keys.is_empty()) {
        methods.push(AuthMethod::Sigv4);
    }
    if !config.allowed_principals.is_empty() {
        methods.push(AuthMethod::Iam);
    }
    if config.jwt_configured() || has(|m| !m.auth.jwt_issuers.is_empty()) {
        methods.push(AuthMethod::Jwt);
    }
    if has(|m| !m.auth.google_service_accounts.is_empty()) {
        methods.push(AuthMethod::Google);
    }
    methods
}

pub(super) async fn start(
    config: &Config,
    initial: Option<&Material>,
) -> Result<StartedMethods, StartupError> {
    let enabled = enabled(config, initial);
    let jwt = jwt::start(config, &enabled, initial).await?;
    let google = google::start(config, &enabled, initial).await?;
    if enabled.contains(&AuthMethod::Iam) && !config.lambda {
        tracing::warn!(
            "the iam method needs a gateway-verified principal; the local server never has one"
        );
    }
    let mut description = jwt::describe(&jwt);
    if let Some(method) = &google {
        description.push_str(&google::describe(method));
    }
    Ok(StartedMethods {
        enabled,
        trust: jwt.trust,
        issuer: jwt.issuer,
        google,
        description,
    })
}
