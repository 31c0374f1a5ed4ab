//! Whom the `jwt` method trusts: the issuers whose bearer JWTs are accepted.
//!
//! A [`JwtTrust`] holds a remote issuer (an identity provider: its
//! [`JwtSettings`] and the [`JwksCache`] of its keys) and/or the built-in
//! issuer (this function's own token endpoint, whose keys live in the auth
//! material). Fetching and caching a key set is [`crate::auth::jwt::jwks`]'s
//! job, and verifying a token [`crate::auth::jwt::verify`]'s (pure); this
//! file only says whom to trust, and imports neither back.

use std::borrow::Cow;
use std::time::Duration;

use crate::auth::jwt::caller::CallerPin;
use crate::auth::jwt::jwks::JwksCache;
use crate::auth::jwt::replay::IssuerReplay;
use crate::inbound::Origin;

/// What a token from one issuer must say about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JwtSettings {
    /// The exact `iss` claim.
    pub issuer: String,
    /// The token's `aud` must contain at least one of these.
    pub audiences: Vec<String>,
    /// Every one of these must be in the token's `scope` or `scp`.
    pub required_scopes: Vec<String>,
    /// Who may present the issuer's tokens; `None`: every caller the
    /// issuer serves (a shared tenant's other clients too).
    pub callers: Option<CallerPin>,
    /// The longest a token may live: `exp - iat`, and `exp` no further than
    /// this from now (each with the leeway); `None`: no bound but `exp`.
    pub max_lifetime: Option<Duration>,
}

/// Which issuer a token claims to come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerKind {
    /// An identity provider, keys from its JWKS URL.
    Remote,
    /// This function's own token endpoint, keys from the auth material.
    BuiltIn,
    /// An issuer whose public keys are inline in the auth material
    /// (`jwt_issuers`), such as the key Redox signs JWT Bearer tokens with.
    Inline,
}

/// An identity provider: what its tokens must say, and its keys.
pub struct RemoteIssuer {
    pub settings: JwtSettings,
    pub jwks: JwksCache,
}

/// Where the built-in issuer ([`crate::oauth`]) is, and so what its tokens
/// say about themselves: `iss` and `aud` are both its public base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuiltinBase {
    /// A base URL fixed by configuration.
    Fixed(JwtSettings),
    /// `auto`: the base URL the platform states for each request
    /// ([`Origin::public_base_url`]), so a token issued through one domain
    /// is refused at another.
    Auto,
}

impl BuiltinBase {
    /// A fixed base URL such as `https://abc.lambda-url.us-east-1.on.aws`
    /// (a trailing `/` is dropped).
    pub fn fixed(base_url: &str) -> BuiltinBase {
        BuiltinBase::Fixed(builtin_settings(base_url.trim_end_matches('/')))
    }

    /// The base URL for a request; `None` for `auto` when the platform
    /// stated none.
    pub fn url<'a>(&'a self, origin: &'a Origin) -> Option<&'a str> {
        match self {
            BuiltinBase::Fixed(settings) => Some(&settings.issuer),
            BuiltinBase::Auto => origin.public_base_url.as_deref(),
        }
    }

    /// What a built-in token presented with this request must say.
    pub fn settings(&self, origin: &Origin) -> Option<Cow<'_, JwtSettings>> {
        match self {
            BuiltinBase::Fixed(settings) => Some(Cow::Borrowed(settings)),
            BuiltinBase::Auto => Some(Cow::Owned(builtin_settings(
                origin.public_base_url.as_deref()?,
            ))),
        }
    }
}

fn builtin_settings(base_url: &str) -> JwtSettings {
    JwtSettings {
        issuer: base_url.to_owned(),
        audiences: vec![base_url.to_owned()],
        ..JwtSettings::default()
    }
}

/// Everything the `jwt` method trusts; empty when it is off.
#[derive(Default)]
pub struct JwtTrust {
    pub remote: Option<RemoteIssuer>,
    /// The built-in issuer, whose keys are in the auth material.
    pub builtin: Option<BuiltinBase>,
    /// The `jti`s already used, per `jwt_issuers` entry with `replay_check`
    /// (kept here, not in the material, so a refresh forgets none).
    pub used_jtis: IssuerReplay,
}
