//! Authentication: decides whether a push comes from Redox.
//!
//! Each method (`token`, `sigv4`, `iam`) looks at the credential it owns and
//! says *not presented*, *verified*, or *failed* with a typed [`AuthError`].
//! A request passes when at least one enabled method verifies it and no
//! credential it presents for an enabled method fails (SPEC 3.3). The module
//! is pure: material and the clock come in as arguments.

pub mod iam;
pub mod sigv4;
pub mod token;

use std::fmt;
use std::time::{Duration, SystemTime};

use crate::inbound::InboundRequest;
use crate::material::AuthMaterial;

/// The authentication methods of SPEC 3.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    Token,
    Sigv4,
    Iam,
    Jwt,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 4] = [
        AuthMethod::Token,
        AuthMethod::Sigv4,
        AuthMethod::Iam,
        AuthMethod::Jwt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Token => "token",
            AuthMethod::Sigv4 => "sigv4",
            AuthMethod::Iam => "iam",
            AuthMethod::Jwt => "jwt",
        }
    }

    pub fn parse(name: &str) -> Option<AuthMethod> {
        AuthMethod::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
}

impl AuthError {
    /// Whether fresher material could turn this refusal into an acceptance
    /// (a token or key rotated since the cache was filled).
    pub fn may_be_stale_material(&self) -> bool {
        matches!(
            self,
            AuthError::TokenMismatch
                | AuthError::Sigv4(sigv4::Sigv4Error::UnknownAccessKey)
                | AuthError::Sigv4(sigv4::Sigv4Error::SignatureMismatch)
        )
    }
}

/// The policy every request is checked against.
#[derive(Debug, Clone)]
pub struct AuthPolicy {
    pub enabled: Vec<AuthMethod>,
    pub allowed_principals: Vec<String>,
    pub clock_skew: Duration,
}

impl AuthPolicy {
    pub fn is_enabled(&self, method: AuthMethod) -> bool {
        self.enabled.contains(&method)
    }
}

/// What the `authorization` header carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    None,
    Bearer(&'a str),
    Sigv4(&'a str),
    Other,
}

/// Classifies the `authorization` header (scheme names are case-insensitive).
pub fn authorization_credential(request: &InboundRequest) -> Result<Credential<'_>, AuthError> {
    let Some(value) = request
        .single_header("authorization")
        .map_err(|_| AuthError::RepeatedCredentialHeader("authorization"))?
    else {
        return Ok(Credential::None);
    };
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        Ok(Credential::Bearer(rest))
    } else if scheme == sigv4::ALGORITHM {
        Ok(Credential::Sigv4(value))
    } else {
        Ok(Credential::Other)
    }
}

/// Authenticates a push. Returns the method that verified it.
pub fn authenticate(
    request: &InboundRequest,
    material: &AuthMaterial,
    policy: &AuthPolicy,
    now: SystemTime,
) -> Result<AuthMethod, AuthError> {
    let credential = authorization_credential(request)?;
    let mut verified = None;
    let mut record = |method: AuthMethod, outcome: Option<Result<(), AuthError>>| match outcome {
        None => Ok(()),
        Some(Ok(())) => {
            verified.get_or_insert(method);
            Ok(())
        }
        Some(Err(error)) => Err(error),
    };

    if policy.is_enabled(AuthMethod::Sigv4) {
        let outcome = match credential {
            Credential::Sigv4(_) => Some(
                sigv4::verify_sigv4(request, &material.sigv4_keys, now, policy.clock_skew)
                    .map(|_| ())
                    .map_err(AuthError::from),
            ),
            _ => sigv4::presigned_query_refusal(request).map(|e| Err(AuthError::from(e))),
        };
        record(AuthMethod::Sigv4, outcome)?;
    }
    if policy.is_enabled(AuthMethod::Token) {
        record(
            AuthMethod::Token,
            token::check_token(request, &credential, material),
        )?;
    }
    if policy.is_enabled(AuthMethod::Iam) {
        record(
            AuthMethod::Iam,
            iam::check_iam(request, &policy.allowed_principals),
        )?;
    }
    if let Credential::Other = credential {
        // A scheme nobody enabled understands is a failed credential, unless
        // the gateway itself already verified the caller.
        if verified != Some(AuthMethod::Iam) {
            return Err(AuthError::UnsupportedAuthorizationScheme);
        }
    }
    verified.ok_or(AuthError::NoCredential)
}

/// Checks the token of a verification handshake. Redox puts it in the body
/// (POST) or the query (GET), and may repeat it in the `verification-token`
/// header and as `authorization: Bearer`; every copy that is present must
/// agree, and the agreed token must match a configured one.
pub fn authenticate_handshake(
    request: &InboundRequest,
    token_in_message: Option<&str>,
    material: &AuthMaterial,
) -> Result<(), AuthError> {
    let header = request
        .single_header("verification-token")
        .map_err(|_| AuthError::RepeatedCredentialHeader("verification-token"))?;
    let bearer = match authorization_credential(request)? {
        Credential::Bearer(value) => Some(value),
        _ => None,
    };
    let in_headers = token::agreeing_token(header, bearer)?;
    let token = token::agreeing_token(in_headers, token_in_message)?
        .ok_or(AuthError::HandshakeWithoutToken)?;
    if token::token_matches(material, token.as_bytes()) {
        Ok(())
    } else {
        Err(AuthError::TokenMismatch)
    }
}
