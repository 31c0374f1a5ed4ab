//! The `jwt` method's start-up: the remote identity provider
//! (`REDOX_JWT_*`, its JWKS client built here, once), the built-in issuer
//! (`REDOX_OAUTH_ISSUER`) and the auth material's `jwt_issuers`, checked
//! against each other.

use super::{StartupError, setting};
use crate::auth::AuthMethod;
use crate::auth::jwt::caller::CallerPin;
use crate::auth::jwt::jwks::{ClientKeySets, HttpsJwks, JwksCache};
use crate::auth::jwt::trust::{BuiltinBase, JwtSettings, JwtTrust, RemoteIssuer};
use crate::auth::material::Material;
use crate::config::{AUTO_ISSUER, Config};
use crate::oauth::BuiltinIssuer;

/// What the `jwt` method trusts, and the built-in issuer.
pub(super) struct StartedJwt {
    pub trust: JwtTrust,
    pub issuer: Option<BuiltinIssuer>,
}

pub(super) async fn start(
    config: &Config,
    methods: &[AuthMethod],
    initial: Option<&Material>,
) -> Result<StartedJwt, StartupError> {
    let issuer = config.oauth_issuer.as_deref().map(|url| {
        let issuer = match url {
            AUTO_ISSUER => BuiltinIssuer::auto(config.oauth_token_ttl),
            url => BuiltinIssuer::new(url, config.oauth_token_ttl),
        };
        issuer
            .with_failure_limits(config.oauth_failure_limits)
            .with_client_keys(ClientKeySets::https(config.aws_timeout))
    });
    let trust = JwtTrust {
        remote: remote_issuer(config)?,
        builtin: issuer.as_ref().map(|issuer| issuer.base.clone()),
        ..JwtTrust::default()
    };
    if let Some(material) = initial {
        check_jwt_issuers(config, methods, material)?;
        if config.oauth_issuer.is_some() {
            if material.issuer.signing_keys().is_empty() {
                return Err(setting(
                    "REDOX_OAUTH_ISSUER",
                    "the built-in issuer needs oauth_signing_keys in the auth material",
                ));
            }
            if material.issuer.clients().is_empty() {
                return Err(setting(
                    "REDOX_OAUTH_ISSUER",
                    "the built-in issuer needs oauth_clients in the auth material",
                ));
            }
        }
    }
    if let Some(remote) = &trust.remote
        && remote.jwks.current().await.is_none()
    {
        tracing::warn!(
            jwks = %remote.jwks.describe(),
            "JWKS not available yet; bearer JWTs get 503 until it is"
        );
    }
    Ok(StartedJwt { trust, issuer })
}

/// For the start-up banner: where JWT keys come from.
pub(super) fn describe(started: &StartedJwt) -> String {
    let mut description = String::new();
    if let Some(remote) = &started.trust.remote {
        description.push_str(&format!(" + {}", remote.jwks.describe()));
    }
    match started.issuer.as_ref().map(|issuer| &issuer.base) {
        Some(BuiltinBase::Fixed(settings)) => {
            description.push_str(&format!(" + built-in OAuth issuer {}", settings.issuer))
        }
        Some(BuiltinBase::Auto) => {
            description.push_str(" + built-in OAuth issuer at each request's own URL")
        }
        None => {}
    }
    description
}

/// The auth material's `jwt_issuers` against the configuration: the `jwt`
/// method on when there are some, some issuer when it is on, and none named
/// like the remote or the built-in issuer (which would win over it).
fn check_jwt_issuers(
    config: &Config,
    methods: &[AuthMethod],
    material: &Material,
) -> Result<(), StartupError> {
    let inline = &material.auth.jwt_issuers;
    let jwt_on = methods.contains(&AuthMethod::Jwt);
    if !inline.is_empty() && !jwt_on {
        return Err(setting(
            "REDOX_AUTH_METHODS",
            "the auth material has jwt_issuers but the jwt method is not enabled",
        ));
    }
    if jwt_on && inline.is_empty() && !config.jwt_configured() {
        return Err(setting(
            "REDOX_JWT_JWKS_URL",
            "the jwt method needs an issuer: set REDOX_JWT_JWKS_URL, REDOX_JWT_ISSUER and \
             REDOX_JWT_AUDIENCE, REDOX_OAUTH_ISSUER for the built-in token endpoint, or \
             jwt_issuers in the auth material",
        ));
    }
    let taken = [
        config.jwt_remote.as_ref().map(|r| r.issuer.as_str()),
        config
            .oauth_issuer
            .as_deref()
            .filter(|url| *url != AUTO_ISSUER),
    ];
    for (i, issuer) in inline.iter().enumerate() {
        if taken
            .iter()
            .flatten()
            .any(|name| *name == issuer.settings.issuer)
        {
            return Err(setting(
                "REDOX_JWT_ISSUER",
                format!(
                    "jwt_issuers[{i}].issuer is REDOX_JWT_ISSUER's or REDOX_OAUTH_ISSUER's; \
                     an issuer is configured in one place only"
                ),
            ));
        }
    }
    Ok(())
}

/// The identity provider the `jwt` method trusts, from the configuration;
/// the JWKS client is built here, once.
fn remote_issuer(config: &Config) -> Result<Option<RemoteIssuer>, StartupError> {
    let Some(remote) = &config.jwt_remote else {
        return Ok(None);
    };
    let source = HttpsJwks::new(&remote.jwks_url, config.aws_timeout)
        .map_err(|why| setting("REDOX_JWT_JWKS_URL", why))?;
    let callers = (!remote.allowed_callers.is_empty())
        .then(|| CallerPin::new(remote.caller_claim.clone(), &remote.allowed_callers));
    if callers.is_none() && remote.required_scopes.is_empty() {
        tracing::warn!(
            issuer = %remote.issuer,
            "the remote JWT issuer has no caller pin (REDOX_JWT_ALLOWED_CALLERS) and no \
             required scope (REDOX_JWT_REQUIRED_SCOPE): every client it serves that can get a \
             token for REDOX_JWT_AUDIENCE is accepted"
        );
    }
    Ok(Some(RemoteIssuer {
        settings: JwtSettings {
            issuer: remote.issuer.clone(),
            audiences: remote.audiences.clone(),
            required_scopes: remote.required_scopes.clone(),
            callers,
            max_lifetime: None,
        },
        jwks: JwksCache::new(Box::new(source), remote.jwks_ttl)
            .with_refetch_interval(remote.jwks_refetch),
    }))
}
