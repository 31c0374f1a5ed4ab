//! [`AuthError`]: every reason a credential is refused, and which refusals
//! fresher material or a fresher key set could turn around. Below every
//! method's file: the methods and [`crate::auth::policy`] import it; it
//! imports only the methods' own error types.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use crate::auth::jwt::trust::IssuerKind;
use crate::auth::{google, iam, jwt, sigv4};

/// Every reason a credential is refused. The variant is logged; the client
/// only ever sees one generic message.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AuthError {
    #[error("no credential for an enabled auth method was presented")]
    NoCredential,
    #[error("the verification token matches no configured token")]
    TokenMismatch,
    #[error("the verification-token header and the Bearer value differ")]
    TokensDiffer,
    #[error("the credential header {0} was sent more than once")]
    RepeatedCredentialHeader(&'static str),
    #[error("the authorization header uses a scheme no enabled method accepts")]
    UnsupportedAuthorizationScheme,
    #[error("the handshake carries no verification token")]
    HandshakeWithoutToken,
    #[error("sigv4: {0}")]
    Sigv4(#[from] sigv4::Sigv4Error),
    #[error("iam: {0}")]
    Iam(#[from] iam::IamError),
    #[error("jwt: {0}")]
    Jwt(#[from] jwt::JwtError),
    #[error("google: {0}")]
    Google(#[from] google::GoogleError),
}

impl AuthError {
    /// Whether fresher material could turn this refusal into an acceptance
    /// (a token or key rotated since the cache was filled). Every refusal
    /// that came from comparing with the material is, alike: the re-fetch
    /// it costs must not tell a caller which tokens or key ids exist.
    pub fn may_be_stale_material(&self) -> bool {
        match self {
            AuthError::TokenMismatch => true,
            // With `jwt` on, a Bearer that is a configured token is checked
            // against the header (and may differ), while any other Bearer
            // goes to `jwt` (`NotAJwt`, stale-possible): both alike.
            AuthError::TokensDiffer => true,
            AuthError::Sigv4(error) => error.depends_on_keys(),
            // A freshly rotated verification token sent only as Bearer.
            AuthError::Jwt(jwt::JwtError::NotAJwt) => true,
            // The built-in issuer's kids are public (its JWKS document), so
            // a known kid failing otherwise reveals nothing; an inline
            // issuer's keys (and the issuer itself) come from the material
            // too, so a key or issuer added to the secret is found.
            AuthError::Jwt(
                jwt::JwtError::UnknownKeyId {
                    issuer: IssuerKind::BuiltIn | IssuerKind::Inline,
                    ..
                }
                | jwt::JwtError::UntrustedIssuer,
            ) => true,
            // A service account pinned since the cache was filled.
            AuthError::Google(google::GoogleError::NotPinned { .. }) => true,
            AuthError::Jwt(_)
            | AuthError::Google(_)
            | AuthError::NoCredential
            | AuthError::RepeatedCredentialHeader(_)
            | AuthError::UnsupportedAuthorizationScheme
            | AuthError::HandshakeWithoutToken
            | AuthError::Iam(_) => false,
        }
    }

    /// Whether a fresher key set from Google could turn this refusal into
    /// an acceptance (Google rotated its signing keys).
    pub fn may_be_stale_google_keys(&self) -> bool {
        matches!(self, AuthError::Google(error) if error.may_be_stale_keys())
    }

    /// Whether a fresher JWKS from the remote issuer could turn this refusal
    /// into an acceptance (the provider rotated its signing key).
    pub fn may_be_stale_jwks(&self) -> bool {
        matches!(
            self,
            AuthError::Jwt(jwt::JwtError::UnknownKeyId {
                issuer: IssuerKind::Remote,
                ..
            })
        )
    }
}
