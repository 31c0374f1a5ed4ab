//! Client assertions (RFC 7523 section 3, as SMART Backend Services uses
//! them): a JWT a client signs with its private key and sends as
//! `client_assertion` instead of a secret. [`verify_assertion`] checks one
//! against the configured client it names and that client's public keys:
//! the header (an asymmetric algorithm, a `kid`, `jku` only as the
//! registered `jwks_url`, no key carried), the signature, then the claims
//! (`iss` = `sub` = the client id, `aud` = this token endpoint's URL, `exp`
//! at most five minutes ahead, a `jti`). Whether the `jti` was seen before
//! is [`super::replay`]'s job. Pure: keys and the clock come in.
//!
//! The signature is checked before any refusal is decided, with a
//! placeholder key when the client or the `kid` is unknown or its key is of
//! another type than `alg`, so every refusal costs one signature check for
//! `alg`, as a bad signature does, whatever the client id and `kid`.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::client_auth::client_named;
use super::error::AssertionError;
use crate::auth::jwt::jwk::KeySet;
use crate::auth::jwt::{
    JwtError, JwtParts, LEEWAY, MAX_JTI_BYTES, check_algorithm, check_times, key_id, loggable,
    numeric_date, refuse_key_headers,
};
use crate::auth::material::{ClientAuthentication, IssuerMaterial, OAuthClient};

/// `client_assertion_type` of a JWT client assertion (RFC 7523 2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The furthest ahead an assertion's `exp` may be (SMART Backend Services:
/// "no more than five minutes in the future"), beyond the clock leeway.
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(300);

/// An assertion that passed every check but the replay check.
#[derive(Debug)]
pub struct VerifiedAssertion<'m> {
    pub client: &'m OAuthClient,
    pub jti: String,
    /// When it stops being acceptable: `exp` plus the leeway, in seconds
    /// since the epoch.
    pub acceptable_until: u64,
}

/// The `jwks_url` of the client an assertion names, read from its
/// unverified `iss`, so the caller can fetch that key set first. `None`
/// for anything else (a client with inline keys, an unknown one, junk).
pub fn jwks_url_of<'m>(assertion: &str, material: &'m IssuerMaterial) -> Option<&'m str> {
    let claims = JwtParts::split(assertion).ok()?.claims_object().ok()?;
    let iss = claims.get("iss").and_then(Value::as_str)?;
    match &client_named(material, iss)?.authentication {
        ClientAuthentication::JwksUrl(url) => Some(url),
        _ => None,
    }
}

/// Checks a client assertion sent to `token_url` at `now`. `url_keys` is
/// the key set fetched from the named client's `jwks_url`, if it has one;
/// `client_id` is the request's `client_id` parameter, if sent.
pub fn verify_assertion<'m>(
    assertion: &str,
    client_id: Option<&str>,
    material: &'m IssuerMaterial,
    url_keys: Option<&KeySet>,
    token_url: &str,
    now: SystemTime,
) -> Result<VerifiedAssertion<'m>, AssertionError> {
    let parts = JwtParts::split(assertion)?;
    let header = parts.header_object()?;
    let alg = check_algorithm(&header)?;
    refuse_key_headers(&header, true)?;
    match header.get("typ") {
        None => {}
        Some(Value::String(typ)) if typ.eq_ignore_ascii_case("JWT") => {}
        Some(_) => return Err(AssertionError::NotAnAssertion),
    }
    let kid = key_id(&header)?.ok_or(AssertionError::MissingKeyId)?;
    let claims = parts.claims_object()?;

    let client = claims
        .get("iss")
        .and_then(Value::as_str)
        .and_then(|iss| client_named(material, iss));
    let keys = match client.map(|c| &c.authentication) {
        Some(ClientAuthentication::Jwks(keys)) => Some(keys.set()),
        Some(ClientAuthentication::JwksUrl(_)) => url_keys,
        _ => None,
    };
    let key = keys.and_then(|keys| keys.find(Some(kid)));
    // One signature check whatever the client, kid and key type: with a
    // placeholder when no key fits (see `JwtParts::verify_signature_with`).
    let signature = parts.verify_signature_with(key, alg);

    let client = client.ok_or(AssertionError::UnknownClient)?;
    let registered_url = match &client.authentication {
        ClientAuthentication::Secret(_) => return Err(AssertionError::SecretClient),
        ClientAuthentication::Jwks(_) => None,
        ClientAuthentication::JwksUrl(url) => {
            if url_keys.is_none() {
                return Err(AssertionError::KeysUnavailable);
            }
            Some(url.as_str())
        }
    };
    // A jku is never fetched: it may only repeat the registered URL.
    match (header.get("jku"), registered_url) {
        (None, _) => {}
        (Some(Value::String(jku)), Some(url)) if jku == url => {}
        _ => return Err(AssertionError::UnregisteredJku),
    }
    if key.is_none() {
        return Err(AssertionError::UnknownKeyId(loggable(kid)));
    }
    signature?;
    check_claims(&claims, client, client_id, token_url, now)
}

fn check_claims<'m>(
    claims: &Map<String, Value>,
    client: &'m OAuthClient,
    client_id: Option<&str>,
    token_url: &str,
    now: SystemTime,
) -> Result<VerifiedAssertion<'m>, AssertionError> {
    let id = client.client_id.as_str();
    if claims.get("sub").and_then(Value::as_str) != Some(id) {
        return Err(AssertionError::SubjectNotClient);
    }
    if client_id.is_some_and(|sent| sent != id) {
        return Err(AssertionError::ClientIdDiffers);
    }
    let audience_matches = match claims.get("aud") {
        Some(Value::String(aud)) => aud == token_url,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(token_url)),
        _ => false,
    };
    if !audience_matches {
        return Err(AssertionError::WrongAudience);
    }
    check_times(claims, now)?;
    let exp = numeric_date(claims, "exp")?.ok_or(JwtError::MissingExpiry)?;
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let latest = now_secs + MAX_ASSERTION_LIFETIME.as_secs_f64() + LEEWAY.as_secs_f64();
    if exp > latest {
        return Err(AssertionError::ExpiresTooLate);
    }
    let jti = match claims.get("jti") {
        Some(Value::String(jti)) if !jti.is_empty() && jti.len() <= MAX_JTI_BYTES => jti.clone(),
        _ => return Err(AssertionError::MissingJti),
    };
    // `exp` is finite and below `latest` here, so the cast cannot wrap.
    let acceptable_until = (exp + LEEWAY.as_secs_f64()).ceil().max(0.0) as u64;
    Ok(VerifiedAssertion {
        client,
        jti,
        acceptable_until,
    })
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]
mod tests {
    use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA384, RSA_PSS_SHA384};
    use serde_json::json;

    use std::sync::OnceLock;

    use super::*;
    use crate::auth::jwt::jwk::test_keys;
    use crate::auth::jwt::verify::test_tokens::{Signer, token, with};
    use crate::auth::material::{ClientAuthentication, PublicKeys};

    const TOKEN_URL: &str = "https://abc.lambda-url.us-east-1.on.aws/oauth2/token";
    const JWKS_URL: &str = "https://redox.example.com/jwks.json";
    const NOW: u64 = 1_800_000_000;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    struct Fixture {
        rsa: aws_lc_rs::signature::RsaKeyPair,
        ec: aws_lc_rs::signature::EcdsaKeyPair,
        material: IssuerMaterial,
        url_keys: KeySet,
    }

    fn fixture() -> &'static Fixture {
        static FIXTURE: OnceLock<Fixture> = OnceLock::new();
        FIXTURE.get_or_init(|| {
            let rsa = test_keys::rsa_pair();
            let ec = test_keys::p384_pair();
            let inline = json!({"keys": [test_keys::rsa_jwk(&rsa, "rsa-1"), test_keys::p384_jwk(&ec, "ec-1")]});
            let mut material = IssuerMaterial::default();
            material
                .add_client_at(
                    "t",
                    "smart",
                    ClientAuthentication::Jwks(PublicKeys::from_value(&inline, "t").unwrap()),
                    Some(vec!["system/*.write".into()]),
                )
                .unwrap();
            material
                .add_client_at(
                    "t",
                    "smart-url",
                    ClientAuthentication::JwksUrl(JWKS_URL.into()),
                    None,
                )
                .unwrap();
            material
                .add_client("redox", "a-long-enough-secret-of-128-bits")
                .unwrap();
            let url_keys = KeySet::from_jwks_json(inline.to_string().as_bytes()).unwrap();
            Fixture {
                rsa,
                ec,
                material,
                url_keys,
            }
        })
    }

    fn claims(client: &str) -> Value {
        json!({"iss": client, "sub": client, "aud": TOKEN_URL, "exp": NOW + 240,
               "iat": NOW, "jti": "a-unique-id"})
    }

    fn rs384(header: Value, claims: &Value) -> String {
        token(
            &header,
            claims,
            Signer::Rsa(&fixture().rsa, &RSA_PKCS1_SHA384),
        )
    }

    fn check(assertion: &str) -> Result<VerifiedAssertion<'static>, AssertionError> {
        let f = fixture();
        verify_assertion(
            assertion,
            None,
            &f.material,
            Some(&f.url_keys),
            TOKEN_URL,
            now(),
        )
    }

    #[test]
    fn rs384_ps384_and_es384_assertions_name_their_client() {
        let f = fixture();
        let c = claims("smart");
        let assertions = [
            rs384(json!({"alg": "RS384", "kid": "rsa-1", "typ": "JWT"}), &c),
            token(
                &json!({"alg": "PS384", "kid": "rsa-1"}),
                &c,
                Signer::Rsa(&f.rsa, &RSA_PSS_SHA384),
            ),
            token(
                &json!({"alg": "ES384", "kid": "ec-1"}),
                &c,
                Signer::Ec(&f.ec),
            ),
        ];
        for assertion in assertions {
            let verified = check(&assertion).unwrap();
            assert_eq!(verified.client.client_id, "smart");
            assert_eq!(verified.jti, "a-unique-id");
            assert_eq!(verified.acceptable_until, NOW + 240 + 60);
        }
        // A jwks_url client, its jku the registered URL.
        let url_client = rs384(
            json!({"alg": "RS384", "kid": "rsa-1", "jku": JWKS_URL}),
            &claims("smart-url"),
        );
        assert_eq!(check(&url_client).unwrap().client.client_id, "smart-url");
        assert_eq!(jwks_url_of(&url_client, &f.material), Some(JWKS_URL));
        // aud as a list holding the token URL.
        let listed = with(c.clone(), json!({"aud": ["x", TOKEN_URL]}));
        assert!(check(&rs384(json!({"alg": "RS384", "kid": "rsa-1"}), &listed)).is_ok());
    }

    #[test]
    fn every_refusal_has_its_reason() {
        let f = fixture();
        let c = claims("smart");
        let head = json!({"alg": "RS384", "kid": "rsa-1"});
        let cases: Vec<(String, AssertionError)> = vec![
            (
                rs384(
                    head.clone(),
                    &with(c.clone(), json!({"aud": "https://other/oauth2/token"})),
                ),
                AssertionError::WrongAudience,
            ),
            (
                rs384(
                    head.clone(),
                    &with(
                        c.clone(),
                        json!({"aud": TOKEN_URL.trim_end_matches("/token")}),
                    ),
                ),
                AssertionError::WrongAudience,
            ),
            (
                rs384(head.clone(), &with(c.clone(), json!({"exp": NOW - 61}))),
                AssertionError::Jwt(JwtError::Expired),
            ),
            (
                rs384(head.clone(), &with(c.clone(), json!({"exp": NOW + 361}))),
                AssertionError::ExpiresTooLate,
            ),
            (
                rs384(head.clone(), &with(c.clone(), json!({"exp": null}))),
                AssertionError::Jwt(JwtError::MissingExpiry),
            ),
            (
                rs384(head.clone(), &with(c.clone(), json!({"jti": null}))),
                AssertionError::MissingJti,
            ),
            (
                rs384(head.clone(), &with(c.clone(), json!({"jti": 7}))),
                AssertionError::MissingJti,
            ),
            (
                rs384(head.clone(), &with(c.clone(), json!({"sub": "someone"}))),
                AssertionError::SubjectNotClient,
            ),
            (
                rs384(
                    head.clone(),
                    &with(c.clone(), json!({"iss": "nobody", "sub": "nobody"})),
                ),
                AssertionError::UnknownClient,
            ),
            (
                rs384(head.clone(), &claims("redox")),
                AssertionError::SecretClient,
            ),
            (
                rs384(json!({"alg": "RS384", "kid": "rsa-9"}), &c),
                AssertionError::UnknownKeyId("rsa-9".into()),
            ),
            (
                rs384(json!({"alg": "RS384"}), &c),
                AssertionError::MissingKeyId,
            ),
            (
                rs384(json!({"alg": "RS384", "kid": "rsa-1", "jku": JWKS_URL}), &c),
                AssertionError::UnregisteredJku,
            ),
            (
                rs384(
                    json!({"alg": "RS384", "kid": "rsa-1", "jku": "https://evil.example.com/j"}),
                    &claims("smart-url"),
                ),
                AssertionError::UnregisteredJku,
            ),
            (
                rs384(json!({"alg": "RS384", "kid": "rsa-1", "typ": "at+jwt"}), &c),
                AssertionError::NotAnAssertion,
            ),
            (
                rs384(
                    json!({"alg": "RS384", "kid": "rsa-1", "x5u": "https://e/c"}),
                    &c,
                ),
                AssertionError::Jwt(JwtError::KeyInHeader("x5u")),
            ),
            (
                token(
                    &json!({"alg": "none", "kid": "rsa-1"}),
                    &c,
                    Signer::Unsigned,
                ),
                AssertionError::Jwt(JwtError::AlgNone),
            ),
            (
                token(
                    &json!({"alg": "ES384", "kid": "rsa-1"}),
                    &c,
                    Signer::Ec(&f.ec),
                ),
                AssertionError::Jwt(JwtError::AlgorithmKeyMismatch {
                    alg: "ES384".into(),
                    key: "RSA",
                }),
            ),
            (
                // Signed by a key that is not the client's, under its kid.
                token(
                    &json!({"alg": "ES384", "kid": "ec-1"}),
                    &c,
                    Signer::Ec(&test_keys::p384_pair()),
                ),
                AssertionError::Jwt(JwtError::BadSignature),
            ),
        ];
        for (assertion, expected) in cases {
            assert_eq!(check(&assertion).unwrap_err(), expected, "{assertion}");
        }
        // HS384 keyed with the public key (the confusion attack).
        let public = f.rsa.public_key().as_ref().to_vec();
        let hs = token(
            &json!({"alg": "HS384", "kid": "rsa-1"}),
            &c,
            Signer::Hmac(&public),
        );
        assert!(matches!(
            check(&hs),
            Err(AssertionError::Jwt(JwtError::HmacAlgorithm(_)))
        ));
        // The client_id parameter, when sent, must be the assertion's iss.
        let good = rs384(head.clone(), &c);
        let refused = verify_assertion(&good, Some("other"), &f.material, None, TOKEN_URL, now());
        assert_eq!(refused.unwrap_err(), AssertionError::ClientIdDiffers);
        let sent = verify_assertion(&good, Some("smart"), &f.material, None, TOKEN_URL, now());
        assert!(sent.is_ok());
        // A jwks_url client whose key set could not be fetched.
        let url_client = rs384(head, &claims("smart-url"));
        let unavailable = verify_assertion(&url_client, None, &f.material, None, TOKEN_URL, now());
        assert_eq!(unavailable.unwrap_err(), AssertionError::KeysUnavailable);
    }

    #[test]
    fn refusals_that_fresher_material_could_fix_are_marked_so() {
        assert!(AssertionError::UnknownClient.may_be_stale_material());
        assert!(AssertionError::UnknownKeyId("k".into()).may_be_stale_material());
        assert!(AssertionError::Jwt(JwtError::BadSignature).may_be_stale_material());
        assert!(!AssertionError::WrongAudience.may_be_stale_material());
        assert!(!AssertionError::Replayed.may_be_stale_material());
    }
}
