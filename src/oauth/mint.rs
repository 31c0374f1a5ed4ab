//! What the built-in issuer hands out: access tokens (RFC 9068 shape,
//! signed with the first signing key of the auth material) and the JWKS
//! document of its public keys. Pure: the material and the clock come in.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::error::OAuthError;
use crate::auth::material::IssuerMaterial;

/// A token the endpoint issued.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: u64,
    pub client_id: String,
    /// The scope granted, when one was asked for.
    pub scope: Option<String>,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("expires_in", &self.expires_in)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl IssuedToken {
    /// The RFC 6749 5.1 answer body.
    pub fn response_body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        });
        if let (Some(scope), Some(fields)) = (&self.scope, body.as_object_mut()) {
            fields.insert("scope".into(), scope.as_str().into());
        }
        body
    }
}

/// The JWKS document of the built-in issuer: every signing key's public half.
pub fn jwks_document(material: &IssuerMaterial) -> serde_json::Value {
    let keys: Vec<&serde_json::Value> = material
        .signing_keys()
        .iter()
        .map(|key| &key.public_jwk)
        .collect();
    serde_json::json!({ "keys": keys })
}

/// Signs an access token for `client_id` (RFC 9068 shape) with the
/// `scope` granted, if any, issued at and for `base_url`, valid for
/// `token_lifetime` from `now`.
pub fn sign_token(
    token_lifetime: Duration,
    base_url: &str,
    material: &IssuerMaterial,
    client_id: &str,
    scope: Option<&str>,
    now: SystemTime,
) -> Result<IssuedToken, OAuthError> {
    let key = material
        .signing_keys()
        .first()
        .ok_or(OAuthError::NoSigningKey)?;
    let issued_at = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let lifetime = token_lifetime.as_secs();
    let mut jti = [0u8; 16];
    getrandom::fill(&mut jti).map_err(|_| OAuthError::SigningFailed)?;
    let mut claims = serde_json::json!({
        "iss": base_url,
        "aud": base_url,
        "sub": client_id,
        "client_id": client_id,
        "iat": issued_at,
        "exp": issued_at + lifetime,
        "jti": URL_SAFE_NO_PAD.encode(jti),
    });
    if let (Some(scope), Some(fields)) = (scope, claims.as_object_mut()) {
        fields.insert("scope".into(), scope.into());
    }
    let mut header = jsonwebtoken::Header::new(key.algorithm);
    header.kid = Some(key.kid.clone());
    header.typ = Some("at+jwt".into());
    let access_token = jsonwebtoken::encode(&header, &claims, key.encoding_key())
        .map_err(|_| OAuthError::SigningFailed)?;
    Ok(IssuedToken {
        access_token,
        expires_in: lifetime,
        client_id: client_id.to_owned(),
        scope: scope.map(str::to_owned),
    })
}
