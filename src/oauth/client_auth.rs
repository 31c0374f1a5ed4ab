//! Client authentication at the token endpoint: the presented credentials
//! against the configured clients (RFC 6749 2.3.1), compared as
//! fixed-length digests over every client and every reading, without early
//! exit, so the time taken does not say which ids exist or where they sit
//! in the list. Pure: the material comes in.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use super::OAuthError;
use super::request::PresentedClient;
use crate::auth::material::{IssuerMaterial, OAuthClient, TokenDigest};

/// The configured client whose id and secret both match. Every client is
/// compared, as digests, without early exit.
pub fn matching_client<'m>(
    material: &'m IssuerMaterial,
    client_id: &str,
    client_secret: &str,
) -> Option<&'m OAuthClient> {
    let id = TokenDigest::of(client_id.as_bytes());
    let secret = TokenDigest::of(client_secret.as_bytes());
    let mut found = Choice::from(0);
    let mut index = 0u64;
    for (i, client) in material.clients().iter().enumerate() {
        let hit =
            client.id_digest.0.ct_eq(&id.0) & client.secret_digest.0.ct_eq(&secret.0) & !found;
        index.conditional_assign(&(i as u64), hit);
        found |= hit;
    }
    if bool::from(found) {
        usize::try_from(index)
            .ok()
            .and_then(|i| material.clients().get(i))
    } else {
        None
    }
}

/// The configured client the presented credentials authenticate as. Every
/// reading is checked, whichever matches; the client is the configured
/// one, not the spelling sent (`%6Fther` that authenticates as `other` is
/// `other`).
pub fn authenticate<'m>(
    presented: &PresentedClient,
    material: &'m IssuerMaterial,
) -> Result<&'m OAuthClient, OAuthError> {
    let matches: Vec<Option<&OAuthClient>> = presented
        .readings
        .iter()
        .map(|(id, secret)| matching_client(material, id, secret))
        .collect();
    matches
        .into_iter()
        .flatten()
        .next()
        .ok_or(OAuthError::ClientMismatch)
}
