//! JSON Web Keys (RFC 7517): the public keys bearer JWTs are checked
//! against, and the built-in issuer's own signing keys.
//!
//! [`KeySet`] is a JWK Set parsed into ready verification keys: only
//! asymmetric signing keys are kept (RSA, EC P-256/P-384, Ed25519), so no
//! shared secret can ever be used to check a token. [`SigningKey`] is a
//! PKCS#8 private key (Ed25519 or P-256) with its public half as a JWK.
//! Pure: no I/O, no clock; fetching a JWKS is [`crate::auth::jwt::jwks`]'s job.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use std::fmt;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair,
    RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde::Deserialize;

/// The most keys one JWK Set may hold; identity providers publish a handful.
pub const MAX_KEYS: usize = 100;

/// Why a key or key set could not be used.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum JwkError {
    #[error("the JWK Set is not a JSON object with a \"keys\" array")]
    NotAKeySet,
    #[error("the JWK Set has no usable signing key (RSA, EC P-256/P-384 or Ed25519)")]
    NoUsableKey,
    #[error("the JWK Set has more than {MAX_KEYS} keys")]
    TooManyKeys,
    #[error("the private key is not PEM (-----BEGIN PRIVATE KEY-----)")]
    NotPem,
    #[error(
        "the private key is SEC1 or PKCS#1 PEM; convert it with `openssl pkcs8 -topk8 -nocrypt`"
    )]
    NotPkcs8,
    #[error("the private key is not an unencrypted Ed25519 or P-256 PKCS#8 key")]
    UnsupportedPrivateKey,
}

/// The kind of public key, which decides the algorithms it may verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

impl KeyKind {
    /// Whether `alg` is the algorithm family of this key (RFC 7518 3.1, RFC 8037).
    pub fn accepts(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        matches!(
            (self, alg),
            (KeyKind::Rsa, RS256 | RS384 | RS512 | PS256 | PS384 | PS512)
                | (KeyKind::EcP256, ES256)
                | (KeyKind::EcP384, ES384)
                | (KeyKind::Ed25519, EdDSA)
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Rsa => "RSA",
            KeyKind::EcP256 => "EC P-256",
            KeyKind::EcP384 => "EC P-384",
            KeyKind::Ed25519 => "OKP Ed25519",
        }
    }
}

/// One public key, ready to verify signatures.
#[derive(Clone)]
pub struct VerificationKey {
    pub kid: Option<String>,
    pub kind: KeyKind,
    /// The JWK's own `alg`, when it names one: tokens must then use exactly it.
    pub alg: Option<Algorithm>,
    pub decoding: DecodingKey,
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The members of a JWK this crate reads; others (`x5c`, `x5t`, …) are ignored.
#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    key_use: Option<String>,
    #[serde(default)]
    key_ops: Option<Vec<String>>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

fn b64url(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

impl VerificationKey {
    /// A JWK as a verification key; `None` for keys that must not or cannot
    /// verify signatures (symmetric `oct` keys, encryption keys, odd curves).
    fn from_raw(raw: RawJwk) -> Option<VerificationKey> {
        if raw.key_use.as_deref().is_some_and(|u| u != "sig") {
            return None;
        }
        if raw
            .key_ops
            .as_ref()
            .is_some_and(|ops| !ops.iter().any(|op| op == "verify"))
        {
            return None;
        }
        let alg = match raw.alg.as_deref() {
            None => None,
            Some(name) => Some(parse_algorithm(name)?),
        };
        let (kind, decoding) = match (raw.kty.as_str(), raw.crv.as_deref()) {
            ("RSA", _) => {
                let n = b64url(raw.n.as_deref()?)?;
                let e = b64url(raw.e.as_deref()?)?;
                // aws-lc-rs refuses moduli under 2048 bits when verifying.
                (KeyKind::Rsa, DecodingKey::from_rsa_raw_components(&n, &e))
            }
            ("EC", Some(curve @ ("P-256" | "P-384"))) => {
                let (kind, len) = if curve == "P-256" {
                    (KeyKind::EcP256, 32)
                } else {
                    (KeyKind::EcP384, 48)
                };
                let x = b64url(raw.x.as_deref()?)?;
                let y = b64url(raw.y.as_deref()?)?;
                if x.len() != len || y.len() != len {
                    return None;
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                (kind, DecodingKey::from_ec_der(&point))
            }
            ("OKP", Some("Ed25519")) => {
                let x = b64url(raw.x.as_deref()?)?;
                if x.len() != 32 {
                    return None;
                }
                (KeyKind::Ed25519, DecodingKey::from_ed_der(&x))
            }
            _ => return None,
        };
        if alg.is_some_and(|alg| !kind.accepts(alg)) {
            return None;
        }
        Some(VerificationKey {
            kid: raw.kid,
            kind,
            alg,
            decoding,
        })
    }
}

impl VerificationKey {
    /// One JWK, given as JSON, as a verification key; `None` for a key that
    /// must not or cannot verify signatures.
    pub fn from_jwk(value: &serde_json::Value) -> Option<VerificationKey> {
        serde_json::from_value::<RawJwk>(value.clone())
            .ok()
            .and_then(VerificationKey::from_raw)
    }
}

/// The algorithms of the allow-list, by their JOSE names. HMAC and `none`
/// are deliberately absent.
pub fn parse_algorithm(name: &str) -> Option<Algorithm> {
    Some(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

/// A JWK Set as verification keys.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<VerificationKey>,
}

impl KeySet {
    pub fn new(keys: Vec<VerificationKey>) -> KeySet {
        KeySet { keys }
    }

    /// Parses a JWKS document (`{"keys": [...]}`). Keys that cannot verify
    /// signatures are skipped; a set with none left is an error.
    pub fn from_jwks_json(document: &[u8]) -> Result<KeySet, JwkError> {
        #[derive(Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let document: Document =
            serde_json::from_slice(document).map_err(|_| JwkError::NotAKeySet)?;
        if document.keys.len() > MAX_KEYS {
            return Err(JwkError::TooManyKeys);
        }
        let keys: Vec<VerificationKey> = document
            .keys
            .into_iter()
            .filter_map(|value| serde_json::from_value::<RawJwk>(value).ok())
            .filter_map(VerificationKey::from_raw)
            .collect();
        if keys.is_empty() {
            return Err(JwkError::NoUsableKey);
        }
        Ok(KeySet { keys })
    }

    pub fn push(&mut self, key: VerificationKey) {
        self.keys.push(key);
    }

    pub fn keys(&self) -> &[VerificationKey] {
        &self.keys
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key a token's header names: by `kid`, or, for a token without
    /// one, the only key in the set. `None` when no key fits.
    pub fn find(&self, kid: Option<&str>) -> Option<&VerificationKey> {
        match kid {
            Some(kid) => self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        }
    }
}

/// Public keys nobody holds the private half of, one per key type (RSA
/// 2048, P-256, P-384, Ed25519): a signature is checked against one when no
/// real key fits (an unknown client or `kid`, a key of another type than
/// `alg`), and fails, so that such a refusal costs what a bad signature
/// costs.
const PLACEHOLDER_JWKS: &str = r#"{"keys": [
 {"kty": "RSA", "kid": "placeholder-rsa", "e": "AQAB", "n": "u734-faZRQ6uNXBbekKYumnr2TdW1bGhuix2MvTPHGxcXeGX-Vy8SieILHXsqLD3zoiNjXPkUO0IPrqXrOYR4FjNSvutUl3XXn62IclVHCKXfHchBWiYeQzLgaxTxyAlfqUj8DHRO55qL9u5Hq5q_B3F1RuiNhwFRyKiJO62E6B8tnEPh4N_RyS9hluEL9SpCQB0tivNG4uR7lHW2fMtiNb-GVKayJpPgrXVwgWaNCbEYvPIbEXoXkVGPegNKZ7-PFNBgPTwuXgymUOI3IzCU4H1nujQb0IzdRBRSl8elyWXJRarNVbs9d7jc4azhC9xHKlHnr48tMmhkjbC1N-3lw"},
 {"kty": "EC", "crv": "P-256", "kid": "placeholder-p256", "x": "W7yOxU7y452OMAKFzPVgxrUPPuJayEwOQCRzcJZ97Kc", "y": "g3S5lLNdgIVftQoHGuIv3qFmAEKGcdx03eSBTVzIKIU"},
 {"kty": "EC", "crv": "P-384", "kid": "placeholder-p384", "x": "OdIKucg095_QVbJuhg-qfXqgUARnQL21df3FUbpvLh4wK72YHig8XudyVvkR4an4", "y": "njXWED3W5iR_CRFQZoqS1tPPkEE7P4zysf6noZynLFdrnbGnwRrQd9qr3GMEXtjj"},
 {"kty": "OKP", "crv": "Ed25519", "kid": "placeholder-ed25519", "x": "gyegqHUgUjAztrmJfREEXwBpcxlo0Tw9mVzX415kiS4"}
]}"#;

/// The placeholder key of `alg`'s type (see [`PLACEHOLDER_JWKS`]).
pub fn placeholder_key(alg: Algorithm) -> Option<&'static VerificationKey> {
    static KEYS: std::sync::OnceLock<KeySet> = std::sync::OnceLock::new();
    let keys = KEYS
        .get_or_init(|| KeySet::from_jwks_json(PLACEHOLDER_JWKS.as_bytes()).unwrap_or_default());
    keys.keys().iter().find(|key| key.kind.accepts(alg))
}

/// A private key of the built-in issuer, with its public half.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub algorithm: Algorithm,
    encoding: EncodingKey,
    /// The public key as a JWK (`kty`, `crv`, `x`, `y`, `kid`, `use`, `alg`).
    pub public_jwk: serde_json::Value,
    pub verification: VerificationKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl PartialEq for SigningKey {
    fn eq(&self, other: &Self) -> bool {
        self.kid == other.kid && self.public_jwk == other.public_jwk
    }
}

impl Eq for SigningKey {}

impl SigningKey {
    /// Parses an unencrypted PKCS#8 PEM private key: Ed25519 (EdDSA) or
    /// P-256 (ES256).
    pub fn from_pkcs8_pem(kid: &str, pem: &str) -> Result<SigningKey, JwkError> {
        let der = pem_body(pem, "PRIVATE KEY")?;
        if let Ok(pair) = Ed25519KeyPair::from_pkcs8(&der) {
            let public_jwk =
                signing_jwk(ed25519_public_jwk(pair.public_key().as_ref()), kid, "EdDSA");
            return Ok(SigningKey {
                kid: kid.to_owned(),
                algorithm: Algorithm::EdDSA,
                encoding: EncodingKey::from_ed_der(&der),
                verification: VerificationKey {
                    kid: Some(kid.to_owned()),
                    kind: KeyKind::Ed25519,
                    alg: Some(Algorithm::EdDSA),
                    decoding: DecodingKey::from_ed_der(pair.public_key().as_ref()),
                },
                public_jwk,
            });
        }
        if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der) {
            let point = pair.public_key().as_ref();
            let Some(members) = ec_public_jwk("P-256", point) else {
                return Err(JwkError::UnsupportedPrivateKey);
            };
            let public_jwk = signing_jwk(members, kid, "ES256");
            return Ok(SigningKey {
                kid: kid.to_owned(),
                algorithm: Algorithm::ES256,
                encoding: EncodingKey::from_ec_der(&der),
                verification: VerificationKey {
                    kid: Some(kid.to_owned()),
                    kind: KeyKind::EcP256,
                    alg: Some(Algorithm::ES256),
                    decoding: DecodingKey::from_ec_der(point),
                },
                public_jwk,
            });
        }
        Err(JwkError::UnsupportedPrivateKey)
    }

    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }
}

/// The public members of an EC key's JWK (`kty`, `crv`, `x`, `y`) from
/// its uncompressed point (`0x04`, then x and y of equal length); `None`
/// for any other encoding.
pub(crate) fn ec_public_jwk(crv: &str, point: &[u8]) -> Option<serde_json::Value> {
    let (&0x04, coordinates) = point.split_first()? else {
        return None;
    };
    let (x, y) = coordinates.split_at_checked(coordinates.len() / 2)?;
    (!x.is_empty() && x.len() == y.len()).then(|| {
        serde_json::json!({
            "kty": "EC", "crv": crv,
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
        })
    })
}

/// The public members of an Ed25519 key's JWK (`kty`, `crv`, `x`).
pub(crate) fn ed25519_public_jwk(public_key: &[u8]) -> serde_json::Value {
    serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(public_key)})
}

/// The public members of an RSA key's JWK (`kty`, `n`, `e`).
pub(crate) fn rsa_public_jwk(pair: &RsaKeyPair) -> serde_json::Value {
    let components = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
    serde_json::json!({
        "kty": "RSA",
        "n": URL_SAFE_NO_PAD.encode(&components.n),
        "e": URL_SAFE_NO_PAD.encode(&components.e),
    })
}

/// Adds `kid`, `use: sig` and `alg` to a JWK's public members.
pub(crate) fn signing_jwk(
    mut members: serde_json::Value,
    kid: &str,
    alg: &str,
) -> serde_json::Value {
    if let Some(object) = members.as_object_mut() {
        object.insert("kid".into(), kid.into());
        object.insert("use".into(), "sig".into());
        object.insert("alg".into(), alg.into());
    }
    members
}

/// The DER inside a PEM block with the given label.
pub(crate) fn pem_body(pem: &str, label: &str) -> Result<Vec<u8>, JwkError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let Some((_, after_begin)) = pem.split_once(&begin) else {
        return Err(
            if pem.contains("-----BEGIN EC PRIVATE KEY-----")
                || pem.contains("-----BEGIN RSA PRIVATE KEY-----")
            {
                JwkError::NotPkcs8
            } else {
                JwkError::NotPem
            },
        );
    };
    let Some((body, _)) = after_begin.split_once(&end) else {
        return Err(JwkError::NotPem);
    };
    let body: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(body).map_err(|_| JwkError::NotPem)
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]
pub(crate) mod test_keys {
    //! Keys made fresh for unit tests.

    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, RsaKeyPair};

    pub fn pem(der: &[u8]) -> String {
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(der)
        )
    }

    pub fn ed25519_pem() -> String {
        let pair = Ed25519KeyPair::generate().expect("ed25519 key");
        pem(pair.to_pkcs8v1().expect("pkcs8").as_ref())
    }

    pub fn p256_pem() -> String {
        let doc = EcdsaKeyPair::generate_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &aws_lc_rs::rand::SystemRandom::new(),
        )
        .expect("p256 key");
        pem(doc.as_ref())
    }

    pub fn p384_pair() -> EcdsaKeyPair {
        EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).expect("p384 key")
    }

    pub fn rsa_pair() -> RsaKeyPair {
        RsaKeyPair::generate(KeySize::Rsa2048).expect("rsa key")
    }

    /// The public JWK of an RSA key pair (no `alg`).
    pub fn rsa_jwk(pair: &RsaKeyPair, kid: &str) -> serde_json::Value {
        with_kid(rsa_public_jwk(pair), kid)
    }

    /// The public JWK of a P-384 key pair (no `alg`).
    pub fn p384_jwk(pair: &EcdsaKeyPair, kid: &str) -> serde_json::Value {
        with_kid(
            ec_public_jwk("P-384", pair.public_key().as_ref()).unwrap(),
            kid,
        )
    }

    fn with_kid(mut jwk: serde_json::Value, kid: &str) -> serde_json::Value {
        jwk["kid"] = kid.into();
        jwk["use"] = "sig".into();
        jwk
    }

    /// PKCS#8 DER of an RSA pair (to show it is refused as a signing key).
    pub fn rsa_pkcs8(pair: &RsaKeyPair) -> Vec<u8> {
        pair.as_der().expect("der").as_ref().to_vec()
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
    use super::test_keys::*;
    use super::*;

    fn set(keys: serde_json::Value) -> Result<KeySet, JwkError> {
        KeySet::from_jwks_json(serde_json::json!({ "keys": keys }).to_string().as_bytes())
    }

    #[test]
    fn signing_keys_publish_their_public_half() {
        let ed = SigningKey::from_pkcs8_pem("ed-1", &ed25519_pem()).unwrap();
        assert_eq!(ed.algorithm, Algorithm::EdDSA);
        assert_eq!(ed.public_jwk["kty"], "OKP");
        assert!(ed.public_jwk.get("d").is_none());
        let ec = SigningKey::from_pkcs8_pem("ec-1", &p256_pem()).unwrap();
        assert_eq!(ec.algorithm, Algorithm::ES256);
        assert_eq!(ec.public_jwk["crv"], "P-256");
        // The published JWKs parse back into the same kinds of key.
        let keys = set(serde_json::json!([ed.public_jwk, ec.public_jwk])).unwrap();
        assert_eq!(keys.find(Some("ed-1")).unwrap().kind, KeyKind::Ed25519);
        assert_eq!(keys.find(Some("ec-1")).unwrap().kind, KeyKind::EcP256);
    }

    #[test]
    fn unusable_private_keys_are_refused_with_a_reason() {
        assert_eq!(
            SigningKey::from_pkcs8_pem("k", "not a key").unwrap_err(),
            JwkError::NotPem
        );
        assert_eq!(
            SigningKey::from_pkcs8_pem(
                "k",
                "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----"
            )
            .unwrap_err(),
            JwkError::NotPkcs8
        );
        let rsa = pem(&rsa_pkcs8(&rsa_pair()));
        assert_eq!(
            SigningKey::from_pkcs8_pem("k", &rsa).unwrap_err(),
            JwkError::UnsupportedPrivateKey
        );
        let debug = format!(
            "{:?}",
            SigningKey::from_pkcs8_pem("k", &ed25519_pem()).unwrap()
        );
        assert!(!debug.contains("PRIVATE"), "{debug}");
    }

    #[test]
    fn symmetric_encryption_and_odd_keys_are_never_trusted() {
        let rsa = rsa_jwk(&rsa_pair(), "rsa");
        let keys = set(serde_json::json!([
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "EC", "crv": "P-521", "kid": "p521", "x": "AA", "y": "AA"},
            {"kty": "EC", "crv": "P-256", "kid": "short", "x": "AA", "y": "AA"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": rsa["n"], "e": rsa["e"]},
            {"kty": "RSA", "kid": "wrong-alg", "alg": "ES256", "n": rsa["n"], "e": rsa["e"]},
            {"kty": "RSA", "kid": "hs-alg", "alg": "HS256", "n": rsa["n"], "e": rsa["e"]},
            "not an object",
            rsa,
        ]))
        .unwrap();
        assert_eq!(keys.keys().len(), 1);
        assert!(keys.find(Some("rsa")).is_some());
        assert!(keys.find(Some("hmac")).is_none());
        // Without a kid, the only key is chosen.
        assert!(keys.find(None).is_some());
    }

    #[test]
    fn documents_that_are_not_key_sets_are_refused() {
        for bad in [
            "",
            "[]",
            "{}",
            r#"{"keys": {}}"#,
            r#"{"keys": []}"#,
            r#"{"keys": [{"kty": "oct", "k": "AA"}]}"#,
        ] {
            assert!(KeySet::from_jwks_json(bad.as_bytes()).is_err(), "{bad}");
        }
        let many: Vec<serde_json::Value> = (0..=MAX_KEYS)
            .map(|i| {
                serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": i.to_string(),
                                        "x": URL_SAFE_NO_PAD.encode([0u8; 32])})
            })
            .collect();
        assert_eq!(
            set(serde_json::Value::from(many)).unwrap_err(),
            JwkError::TooManyKeys
        );
    }

    #[test]
    fn a_token_without_kid_is_ambiguous_against_several_keys() {
        let a = SigningKey::from_pkcs8_pem("a", &ed25519_pem()).unwrap();
        let b = SigningKey::from_pkcs8_pem("b", &ed25519_pem()).unwrap();
        let keys = set(serde_json::json!([a.public_jwk, b.public_jwk])).unwrap();
        assert!(keys.find(None).is_none());
        assert!(keys.find(Some("c")).is_none());
    }

    #[test]
    fn placeholder_keys_cover_every_allowed_algorithm() {
        use Algorithm::*;
        for alg in [
            RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA,
        ] {
            let key = placeholder_key(alg).unwrap();
            assert!(key.kind.accepts(alg), "{alg:?}");
        }
    }
}
