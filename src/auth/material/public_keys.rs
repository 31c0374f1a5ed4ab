//! Public keys pasted into the auth material as a JWK Set: an OAuth
//! client's `jwks` (SMART Backend Services) and a `jwt_issuers` entry's
//! `jwks` (JWT Bearer). Stricter than a fetched JWKS: a key that cannot be
//! used is an error naming where it sits, not silently skipped, because a
//! key the user pasted and the destination ignores would only show up as
//! refused pushes. No message quotes a value.

use serde_json::Value;

use super::MaterialError;
use crate::auth::jwt::jwk::{KeySet, MAX_KEYS, VerificationKey};

/// JWK members that only a private key (or a shared secret) has.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];
/// The shortest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// A JWK Set from the auth material: the keys, ready to verify, and the
/// JWKs as given, which say whether two sets are the same.
#[derive(Debug, Clone, Default)]
pub struct PublicKeys {
    set: KeySet,
    jwks: Vec<Value>,
}

impl PartialEq for PublicKeys {
    fn eq(&self, other: &Self) -> bool {
        self.jwks == other.jwks
    }
}

impl Eq for PublicKeys {}

impl PublicKeys {
    /// Parses `{"keys": [...]}` found at `at`: 1-100 public signing keys
    /// (RSA of 2048 bits or more, EC P-256 or P-384, Ed25519), each with a
    /// `kid` of its own.
    pub fn from_value(value: &Value, at: &str) -> Result<PublicKeys, MaterialError> {
        let invalid = |why: String| MaterialError::Invalid(format!("{at}: {why}"));
        let Some(fields) = value.as_object() else {
            return Err(invalid(
                "expected a JWK Set, an object {\"keys\": [...]}".into(),
            ));
        };
        if fields.keys().any(|name| name != "keys") {
            return Err(invalid("has a field that is not keys".into()));
        }
        let Some(Value::Array(keys)) = fields.get("keys") else {
            return Err(invalid("keys is missing or not a list".into()));
        };
        if keys.is_empty() || keys.len() > MAX_KEYS {
            return Err(invalid(format!("must hold 1 to {MAX_KEYS} keys")));
        }
        let mut set = KeySet::default();
        for (i, jwk) in keys.iter().enumerate() {
            let at = format!("keys[{i}]");
            let key = public_key(jwk).map_err(|why| invalid(format!("{at}: {why}")))?;
            if set.find(key.kid.as_deref()).is_some() {
                return Err(invalid(format!(
                    "{at}: kid is the same as an earlier key's"
                )));
            }
            set.push(key);
        }
        Ok(PublicKeys {
            set,
            jwks: keys.clone(),
        })
    }

    pub fn set(&self) -> &KeySet {
        &self.set
    }

    /// Adds the keys of `other` whose kid this set lacks (the AWSPREVIOUS
    /// version's keys keep working until the next rotation, as its tokens do).
    pub fn add_missing(&mut self, other: &PublicKeys) {
        for (key, jwk) in other.set.keys().iter().zip(&other.jwks) {
            if self.set.find(key.kid.as_deref()).is_none() && self.set.keys().len() < MAX_KEYS {
                self.set.push(key.clone());
                self.jwks.push(jwk.clone());
            }
        }
    }
}

/// One JWK as a verification key with a kid, or why it cannot be one.
fn public_key(jwk: &Value) -> Result<VerificationKey, String> {
    let Some(members) = jwk.as_object() else {
        return Err("expected a JWK object".into());
    };
    if PRIVATE_MEMBERS
        .iter()
        .any(|name| members.contains_key(*name))
    {
        return Err("is a private or secret key; paste only the public half".into());
    }
    match members.get("kid") {
        Some(Value::String(kid))
            if !kid.is_empty() && kid.len() <= 128 && kid.bytes().all(|b| b.is_ascii_graphic()) => {
        }
        _ => return Err("needs a kid of 1-128 printable ASCII characters".into()),
    }
    let short_rsa = members.get("kty").and_then(Value::as_str) == Some("RSA")
        && members
            .get("n")
            .and_then(Value::as_str)
            // base64url without padding: 4 characters per 3 bytes.
            .is_some_and(|n| n.len() * 3 / 4 < MIN_RSA_MODULUS_BYTES);
    if short_rsa {
        return Err("is an RSA key of fewer than 2048 bits".into());
    }
    VerificationKey::from_jwk(jwk).ok_or_else(|| {
        "is not a usable public signing key (RSA, EC P-256 or P-384, Ed25519; use \"sig\" \
         if given; alg, if given, one of RS256/384/512, PS256/384/512, ES256, ES384, EdDSA \
         fitting the key)"
            .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwt::jwk::test_keys;
    use serde_json::json;

    fn rsa() -> Value {
        test_keys::rsa_jwk(&test_keys::rsa_pair(), "rsa-1")
    }

    #[test]
    fn usable_public_keys_parse_and_merge_by_kid() {
        let p384 = test_keys::p384_jwk(&test_keys::p384_pair(), "ec-1");
        let keys = PublicKeys::from_value(&json!({"keys": [rsa(), p384]}), "jwks").unwrap();
        assert_eq!(keys.set().keys().len(), 2);
        let other_rsa = test_keys::rsa_jwk(&test_keys::rsa_pair(), "rsa-1");
        let mut current = PublicKeys::from_value(&json!({"keys": [other_rsa]}), "j").unwrap();
        current.add_missing(&keys);
        let kids: Vec<_> = current.set().keys().iter().map(|k| k.kid.clone()).collect();
        assert_eq!(kids, [Some("rsa-1".into()), Some("ec-1".into())]);
        assert_ne!(current, keys, "rsa-1 is the current one's");
    }

    #[test]
    fn unusable_keys_are_refused_saying_where_and_never_quoting() {
        let mut private = rsa();
        private["d"] = json!("CANARY");
        let mut no_kid = rsa();
        no_kid.as_object_mut().unwrap().remove("kid");
        let short = json!({"kty": "RSA", "kid": "s", "n": "CANARY", "e": "AQAB"});
        let cases = [
            (json!("CANARY"), "expected a JWK Set"),
            (json!({"keys": []}), "1 to 100 keys"),
            (json!({"keys": [rsa()], "CANARY": 1}), "not keys"),
            (json!({"keys": [private]}), "keys[0]: is a private"),
            (json!({"keys": [rsa(), no_kid]}), "keys[1]: needs a kid"),
            (json!({"keys": [short]}), "fewer than 2048 bits"),
            (
                json!({"keys": [{"kty": "oct", "kid": "h", "alg": "HS256"}]}),
                "not a usable",
            ),
            (json!({"keys": [rsa(), rsa()]}), "keys[1]: kid is the same"),
        ];
        for (value, expected) in cases {
            let error = PublicKeys::from_value(&value, "oauth_clients[0].jwks")
                .unwrap_err()
                .to_string();
            assert!(error.contains("oauth_clients[0].jwks: "), "{error}");
            assert!(error.contains(expected), "{error}");
            assert!(!error.contains("CANARY"), "{error}");
        }
    }
}
