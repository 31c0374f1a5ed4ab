//! The private key the command line signs JWTs with, as Redox's SMART
//! Backend and JWT Bearer credentials do: a client assertion for a token
//! endpoint (RFC 7523), or a JWT sent as the Bearer itself. An unencrypted
//! PKCS#8 PEM file (`openssl genpkey` writes one) of RSA (RS384 by
//! default), EC P-384 (ES384), EC P-256 (ES256) or Ed25519 (EdDSA), signed
//! with aws-lc-rs directly. Its public half is printed as a JWK Set for
//! the auth material (`redox-destination jwk`). The private key is never
//! printed.

use std::fmt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::auth::jwt::jwk::{
    ec_public_jwk, ed25519_public_jwk, pem_body, rsa_public_jwk, signing_jwk,
};

/// The key pair, by type.
enum Pair {
    Rsa(RsaKeyPair),
    P256(EcdsaKeyPair),
    P384(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A private signing key, its `kid` and the algorithm it signs with.
pub struct SigningKey {
    pair: Pair,
    pub kid: String,
    pub alg: &'static str,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads a PKCS#8 PEM private key from `path`. `alg` chooses among the
    /// algorithms the key's type allows (RSA: RS256/384/512, PS256/384/512).
    pub fn from_file(path: &Path, kid: &str, alg: Option<&str>) -> Result<SigningKey, String> {
        let pem = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        SigningKey::from_pem(&pem, kid, alg).map_err(|why| format!("{}: {why}", path.display()))
    }

    pub fn from_pem(pem: &str, kid: &str, alg: Option<&str>) -> Result<SigningKey, String> {
        if kid.is_empty() || kid.len() > 128 || !kid.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the kid must be 1-128 printable ASCII characters".into());
        }
        let der = pem_body(pem, "PRIVATE KEY").map_err(|e| e.to_string())?;
        let (pair, allowed): (Pair, &[&'static str]) = if let Ok(pair) =
            RsaKeyPair::from_pkcs8(&der)
        {
            let allowed: &[&'static str] = &["RS384", "RS256", "RS512", "PS256", "PS384", "PS512"];
            (Pair::Rsa(pair), allowed)
        } else if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &der) {
            (Pair::P384(pair), &["ES384"])
        } else if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der) {
            (Pair::P256(pair), &["ES256"])
        } else if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der) {
            (Pair::Ed25519(pair), &["EdDSA"])
        } else {
            return Err(
                "not an unencrypted PKCS#8 RSA (2048 bits or more), EC P-256/P-384 or \
                     Ed25519 private key"
                    .into(),
            );
        };
        let alg = match alg {
            None => allowed.first().copied().unwrap_or("RS384"),
            Some(asked) => allowed
                .iter()
                .copied()
                .find(|a| *a == asked)
                .ok_or_else(|| {
                    format!("this key signs with {}, not {asked}", allowed.join(", "))
                })?,
        };
        Ok(SigningKey {
            pair,
            kid: kid.to_owned(),
            alg,
        })
    }

    /// The public half as a JWK (`kid`, `use: sig`, `alg`).
    pub fn public_jwk(&self) -> Value {
        let members = match &self.pair {
            Pair::Rsa(pair) => Some(rsa_public_jwk(pair)),
            Pair::P256(pair) => ec_public_jwk("P-256", pair.public_key().as_ref()),
            Pair::P384(pair) => ec_public_jwk("P-384", pair.public_key().as_ref()),
            Pair::Ed25519(pair) => Some(ed25519_public_jwk(pair.public_key().as_ref())),
        };
        // aws-lc-rs gives every EC public key as an uncompressed point.
        signing_jwk(members.unwrap_or_default(), &self.kid, self.alg)
    }

    /// A compact JWS of `claims`, header `{"alg", "kid", "typ": "JWT"}`.
    pub fn sign(&self, claims: &Value) -> Result<String, String> {
        let header = json!({"alg": self.alg, "kid": self.kid, "typ": "JWT"});
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let rng = SystemRandom::new();
        let failed = |_| "signing failed".to_owned();
        let signature: Vec<u8> = match &self.pair {
            Pair::Rsa(pair) => {
                let encoding: &'static dyn signature::RsaEncoding = match self.alg {
                    "RS256" => &signature::RSA_PKCS1_SHA256,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    "PS384" => &signature::RSA_PSS_SHA384,
                    "PS512" => &signature::RSA_PSS_SHA512,
                    _ => &signature::RSA_PKCS1_SHA384,
                };
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(encoding, &rng, message.as_bytes(), &mut out)
                    .map_err(failed)?;
                out
            }
            Pair::P256(pair) | Pair::P384(pair) => pair
                .sign(&rng, message.as_bytes())
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            Pair::Ed25519(pair) => pair.sign(message.as_bytes()).as_ref().to_vec(),
        };
        Ok(format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// Claims a short-lived JWT from `issuer` to `audience` carries:
    /// `iat`, `exp` five minutes on (SMART's most), a fresh `jti`.
    pub fn claims(issuer: &str, subject: &str, audience: &str, now: SystemTime) -> Value {
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        json!({"iss": issuer, "sub": subject, "aud": audience, "iat": now,
               "exp": now + 300, "jti": crate::sink::new_message_id()})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwt::jwk::{KeySet, test_keys};
    use crate::auth::jwt::{JwtParts, check_algorithm};

    fn verify(key: &SigningKey, token: &str) -> bool {
        let set =
            KeySet::from_jwks_json(json!({"keys": [key.public_jwk()]}).to_string().as_bytes())
                .unwrap();
        let parts = JwtParts::split(token).unwrap();
        let alg = check_algorithm(&parts.header_object().unwrap()).unwrap();
        parts
            .verify_signature(set.find(Some(&key.kid)).unwrap(), alg)
            .is_ok()
    }

    #[test]
    fn every_key_type_signs_what_its_public_jwk_verifies() {
        let rsa = test_keys::pem(&test_keys::rsa_pkcs8(&test_keys::rsa_pair()));
        let p384 = test_keys::pem(
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &SystemRandom::new())
                .unwrap()
                .as_ref(),
        );
        let cases = [
            (rsa.clone(), None, "RS384"),
            (rsa, Some("PS256"), "PS256"),
            (p384, None, "ES384"),
            (test_keys::p256_pem(), None, "ES256"),
            (test_keys::ed25519_pem(), None, "EdDSA"),
        ];
        for (pem, alg, expected) in cases {
            let key = SigningKey::from_pem(&pem, "k-1", alg).unwrap();
            assert_eq!(key.alg, expected);
            let claims = SigningKey::claims(
                "smart",
                "smart",
                "https://x/oauth2/token",
                SystemTime::now(),
            );
            let token = key.sign(&claims).unwrap();
            assert!(verify(&key, &token), "{expected}");
            let jwk = key.public_jwk().to_string();
            assert!(!jwk.contains("\"d\""), "{jwk}");
            assert!(!format!("{key:?}").contains("PRIVATE"));
        }
    }

    #[test]
    fn wrong_keys_algorithms_and_kids_are_refused() {
        let ed = test_keys::ed25519_pem();
        assert!(
            SigningKey::from_pem(&ed, "k", Some("RS384"))
                .unwrap_err()
                .contains("EdDSA")
        );
        assert!(SigningKey::from_pem("junk", "k", None).is_err());
        assert!(SigningKey::from_pem(&ed, "a kid", None).is_err());
    }
}
