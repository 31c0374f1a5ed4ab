//! Client authentication at the token endpoint: a presented secret (RFC
//! 6749 2.3.1) or a signed client assertion (RFC 7523, [`super::assertion`])
//! against the configured clients. Ids and secrets are compared as
//! fixed-length digests over every client and every reading, without early
//! exit, so the time taken does not say which ids exist or where they sit
//! in the list. A secret authenticates only a client-secret client, an
//! assertion only a client with keys. Pure: the material comes in.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use super::error::OAuthError;
use crate::auth::material::{IssuerMaterial, OAuthClient, TokenDigest};

/// The index of the first client for which `hit` holds, every client
/// compared without early exit.
fn first_hit(
    material: &IssuerMaterial,
    hit: impl Fn(&OAuthClient) -> Choice,
) -> Option<&OAuthClient> {
    let mut found = Choice::from(0);
    let mut index = 0u64;
    for (i, client) in material.clients().iter().enumerate() {
        let this = hit(client) & !found;
        index.conditional_assign(&(i as u64), this);
        found |= this;
    }
    if bool::from(found) {
        usize::try_from(index)
            .ok()
            .and_then(|i| material.clients().get(i))
    } else {
        None
    }
}

/// The client-secret client whose id and secret both match.
pub fn matching_client<'m>(
    material: &'m IssuerMaterial,
    client_id: &str,
    client_secret: &str,
) -> Option<&'m OAuthClient> {
    let id = TokenDigest::of(client_id.as_bytes());
    let secret = TokenDigest::of(client_secret.as_bytes());
    // A client with keys has no secret: its slot is compared too (the same
    // work for every client) but masked off, so no presented secret, the
    // empty one included, authenticates it.
    let no_secret = TokenDigest::of(b"");
    first_hit(material, |client| {
        let (digest, is_secret_client) = match client.authentication.secret_digest() {
            Some(digest) => (digest, Choice::from(1)),
            None => (&no_secret, Choice::from(0)),
        };
        client.id_digest.0.ct_eq(&id.0) & digest.0.ct_eq(&secret.0) & is_secret_client
    })
}

/// The first configured client with this id, whatever its kind.
pub fn client_named<'m>(material: &'m IssuerMaterial, client_id: &str) -> Option<&'m OAuthClient> {
    let id = TokenDigest::of(client_id.as_bytes());
    first_hit(material, |client| client.id_digest.0.ct_eq(&id.0))
}

/// The configured client-secret client one of the presented readings
/// authenticates as. Every reading is checked, whichever matches; the
/// client is the configured one, not the spelling sent (`%6Fther` that
/// authenticates as `other` is `other`).
pub fn authenticate_secret<'m>(
    readings: &[(String, String)],
    material: &'m IssuerMaterial,
) -> Result<&'m OAuthClient, OAuthError> {
    let matches: Vec<Option<&OAuthClient>> = readings
        .iter()
        .map(|(id, secret)| matching_client(material, id, secret))
        .collect();
    matches
        .into_iter()
        .flatten()
        .next()
        .ok_or(OAuthError::ClientMismatch)
}
