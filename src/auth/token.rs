//! The `token` method: Redox's verification token, sent in the
//! `verification-token` header and, by current Redox, also as
//! `authorization: Bearer`.
//!
//! Every comparison hashes the presented value to a fixed-length digest and
//! compares it with every configured digest using `subtle`, with no early
//! exit, so timing reveals neither which token matched nor how much of it.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use subtle::{Choice, ConstantTimeEq};

use crate::auth::credential::Credential;
use crate::auth::error::AuthError;
use crate::auth::material::{AuthMaterial, TokenDigest};
use crate::inbound::InboundRequest;

/// `true` when `presented` equals one of the configured tokens.
pub fn token_matches(material: &AuthMaterial, presented: &[u8]) -> bool {
    let presented = TokenDigest::of(presented);
    let mut matched = Choice::from(0);
    for known in &material.token_digests {
        matched |= known.0.ct_eq(&presented.0);
    }
    bool::from(matched)
}

/// The token a push presents: the header, the bearer value, or both (which
/// must then be equal). `Ok(None)` when it presents neither.
pub fn presented_token<'a>(
    request: &'a InboundRequest,
    bearer: Option<&'a str>,
) -> Result<Option<&'a str>, AuthError> {
    let header = request
        .single_header("verification-token")
        .map_err(|_| AuthError::RepeatedCredentialHeader("verification-token"))?;
    agreeing_token(header, bearer)
}

/// One token from two places that may each carry it: both present must be
/// equal (compared as digests, in constant time).
pub fn agreeing_token<'a>(
    first: Option<&'a str>,
    second: Option<&'a str>,
) -> Result<Option<&'a str>, AuthError> {
    match (first, second) {
        (None, None) => Ok(None),
        (Some(one), None) | (None, Some(one)) => Ok(Some(one)),
        (Some(first), Some(second)) => {
            let same = TokenDigest::of(first.as_bytes())
                .0
                .ct_eq(&TokenDigest::of(second.as_bytes()).0);
            if bool::from(same) {
                Ok(Some(first))
            } else {
                Err(AuthError::TokensDiffer)
            }
        }
    }
}

/// Checks the `token` method's credential, if the request presents one.
pub fn check_token(
    request: &InboundRequest,
    credential: &Credential<'_>,
    material: &AuthMaterial,
) -> Option<Result<(), AuthError>> {
    let bearer = match credential {
        Credential::Bearer(value) => Some(*value),
        _ => None,
    };
    match presented_token(request, bearer) {
        Ok(None) => None,
        Ok(Some(token)) if token_matches(material, token.as_bytes()) => Some(Ok(())),
        Ok(Some(_)) => Some(Err(AuthError::TokenMismatch)),
        Err(error) => Some(Err(error)),
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]
mod tests {
    use super::*;

    fn material(tokens: &[&str]) -> AuthMaterial {
        AuthMaterial::from_token_list(&tokens.join(",")).unwrap()
    }

    #[test]
    fn every_configured_token_is_accepted() {
        let m = material(&["current-token", "next-token"]);
        assert!(token_matches(&m, b"current-token"));
        assert!(token_matches(&m, b"next-token"));
    }

    #[test]
    fn near_misses_are_refused() {
        let m = material(&["Secret-Token-123"]);
        for near in [
            "Secret-Token-124",
            "secret-token-123",
            "SECRET-TOKEN-123",
            "Secret-Token-12",
            "Secret-Token-1234",
            "xSecret-Token-123",
            " Secret-Token-123",
            "Secret-Token-123 ",
            "Secret-Token-123\n",
            "",
        ] {
            assert!(!token_matches(&m, near.as_bytes()), "{near:?} matched");
        }
    }

    #[test]
    fn no_configured_tokens_match_nothing() {
        assert!(!token_matches(&AuthMaterial::default(), b""));
        assert!(!token_matches(&AuthMaterial::default(), b"anything"));
    }
}
