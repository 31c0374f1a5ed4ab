//! Every refusal of the built-in issuer: [`OAuthError`] (RFC 6749 5.2, and
//! our own outages), which [`crate::destination`] turns into the answer, and
//! [`AssertionError`], why a client assertion was refused. A leaf of
//! [`crate::oauth`]: every other file of it may import this one, and it
//! imports none of them.

use crate::auth::jwt::JwtError;

/// Why a client assertion is refused. Every one is `invalid_client`.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AssertionError {
    #[error("{0}")]
    Jwt(#[from] JwtError),
    #[error("the header's typ is not JWT")]
    NotAnAssertion,
    #[error("the header has no kid")]
    MissingKeyId,
    #[error("iss names no configured client")]
    UnknownClient,
    #[error("the client authenticates with a client secret, not an assertion")]
    SecretClient,
    #[error("the header's jku is not the client's registered jwks_url")]
    UnregisteredJku,
    #[error("the client has no key with kid {0}")]
    UnknownKeyId(String),
    #[error("the client's key set (jwks_url) could not be fetched")]
    KeysUnavailable,
    #[error("sub is not the client id")]
    SubjectNotClient,
    #[error("the client_id parameter is not the assertion's iss")]
    ClientIdDiffers,
    #[error("aud is not this token endpoint's URL")]
    WrongAudience,
    #[error("exp is more than five minutes ahead")]
    ExpiresTooLate,
    #[error("the assertion has no jti, or one that is not a 1-256 byte string")]
    MissingJti,
    #[error("the jti was used before")]
    Replayed,
}

impl AssertionError {
    /// Whether fresher auth material could accept it: a client, key or
    /// `jwks_url` added or rotated since the cache was filled. Unknown
    /// clients and bad signatures alike, so the re-fetch they cost says
    /// nothing about which client ids exist.
    pub fn may_be_stale_material(&self) -> bool {
        matches!(
            self,
            AssertionError::UnknownClient
                | AssertionError::SecretClient
                | AssertionError::UnregisteredJku
                | AssertionError::UnknownKeyId(_)
                | AssertionError::Jwt(
                    JwtError::BadSignature | JwtError::AlgorithmKeyMismatch { .. }
                )
        )
    }
}

/// Every reason a token request is refused (RFC 6749 5.2). The `Display`
/// text is for the log; clients get [`OAuthError::description`].
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum OAuthError {
    #[error("method not allowed (the endpoint takes {0})")]
    MethodNotAllowed(&'static str),
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    #[error("invalid_client: {0}")]
    InvalidClient(&'static str),
    #[error("invalid_client: unknown client or wrong secret")]
    ClientMismatch,
    #[error("invalid_client: client assertion: {0}")]
    InvalidAssertion(AssertionError),
    #[error(
        "too many failed attempts from this source address; refused unchecked for {retry_after_secs} s"
    )]
    Throttled { retry_after_secs: u64 },
    #[error("unsupported_grant_type: only client_credentials is issued")]
    UnsupportedGrantType,
    #[error("invalid_scope: {0}")]
    InvalidScope(&'static str),
    #[error("the auth material has no oauth_signing_keys")]
    NoSigningKey,
    #[error("signing the token failed")]
    SigningFailed,
    #[error("the client's key set (jwks_url) could not be fetched")]
    ClientKeysUnavailable,
    #[error(
        "this client's remembered client assertions fill its share and none has expired; retry in {retry_after_secs} s"
    )]
    ReplayCacheFull { retry_after_secs: u64 },
    #[error("this client had its assertion grants for the minute; retry in {retry_after_secs} s")]
    TooManyGrants { retry_after_secs: u64 },
}

impl OAuthError {
    /// The RFC 6749 `error` code (or ours, for our own outages).
    pub fn error_code(&self) -> &'static str {
        match self {
            OAuthError::MethodNotAllowed(_) | OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient(_)
            | OAuthError::ClientMismatch
            | OAuthError::InvalidAssertion(_) => "invalid_client",
            // RFC 8628 3.5, registered for the token endpoint: poll slower.
            OAuthError::Throttled { .. } | OAuthError::TooManyGrants { .. } => "slow_down",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::NoSigningKey
            | OAuthError::SigningFailed
            | OAuthError::ClientKeysUnavailable => "auth_unavailable",
            // RFC 6749 4.1.2.1's code for an overloaded server.
            OAuthError::ReplayCacheFull { .. } => "temporarily_unavailable",
        }
    }

    /// Whether the client failed to authenticate: what the throttle counts.
    pub fn is_client_failure(&self) -> bool {
        matches!(
            self,
            OAuthError::InvalidClient(_)
                | OAuthError::ClientMismatch
                | OAuthError::InvalidAssertion(_)
        )
    }

    /// Whether fresher auth material could turn this into a token: a
    /// client, secret or key added or rotated since the cache was filled.
    pub fn may_be_stale_material(&self) -> bool {
        match self {
            OAuthError::ClientMismatch => true,
            OAuthError::InvalidAssertion(error) => error.may_be_stale_material(),
            _ => false,
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            OAuthError::MethodNotAllowed(_) => 405,
            // RFC 6749 5.2: 401 with a WWW-Authenticate challenge.
            OAuthError::InvalidClient(_)
            | OAuthError::ClientMismatch
            | OAuthError::InvalidAssertion(_) => 401,
            OAuthError::Throttled { .. } | OAuthError::TooManyGrants { .. } => 429,
            OAuthError::NoSigningKey
            | OAuthError::SigningFailed
            | OAuthError::ClientKeysUnavailable
            | OAuthError::ReplayCacheFull { .. } => 503,
            _ => 400,
        }
    }

    /// The `error_description` sent to the client: why the request is
    /// malformed, but never which part of a client credential was wrong.
    pub fn description(&self) -> &'static str {
        match self {
            OAuthError::MethodNotAllowed("GET") => "Use GET.",
            OAuthError::MethodNotAllowed(_) => "Use POST.",
            OAuthError::InvalidRequest(why) => why,
            OAuthError::InvalidClient(_)
            | OAuthError::ClientMismatch
            | OAuthError::InvalidAssertion(_) => "Client authentication failed.",
            OAuthError::Throttled { .. } => {
                "Too many failed attempts from this address; retry after the Retry-After delay."
            }
            OAuthError::TooManyGrants { .. } => {
                "Too many tokens for this client this minute; reuse the last one or retry after the Retry-After delay."
            }
            OAuthError::UnsupportedGrantType => "Only grant_type=client_credentials is supported.",
            OAuthError::InvalidScope(why) => why,
            OAuthError::NoSigningKey
            | OAuthError::SigningFailed
            | OAuthError::ClientKeysUnavailable
            | OAuthError::ReplayCacheFull { .. } => "No token could be issued; retry later.",
        }
    }
}
