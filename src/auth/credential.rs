//! What the `authorization` header carries ([`Credential`]), read once by
//! [`authorization_credential`] for every method that looks at it.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use crate::auth::error::AuthError;
use crate::auth::sigv4;
use crate::inbound::InboundRequest;

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
