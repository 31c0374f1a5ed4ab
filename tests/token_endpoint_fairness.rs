//! The built-in token endpoint treats every SMART client alike (issue 26):
//! every refused client assertion costs the same work whatever its client
//! id, `kid` and key type (finding 5: counted as signature checks, never
//! timed here; `cargo bench --bench jwt -- verify_assertion` times them),
//! and one client's grants can neither evict nor exhaust another's (finding
//! 4: the `jti` replay table is per client, and successful assertion grants
//! are capped per client per minute).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA384,
    RsaKeyPair, RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use redox_destination::auth::jwt::jwk::KeySet;
use redox_destination::auth::jwt::trust::{IssuerKind, JwtSettings};
use redox_destination::auth::jwt::{
    JwtError, TrustedIssuer, signature_checks_on_this_thread, verify_jwt,
};
use redox_destination::auth::material::Material;
use redox_destination::inbound::{FrontDoor, InboundRequest, Origin};
use redox_destination::oauth::{
    AssertionError, BuiltinIssuer, IssuedToken, OAuthError, TOKEN_PATH, issue_token,
};
use serde_json::json;

const BASE: &str = "https://abcdefghij.lambda-url.us-east-1.on.aws";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

struct Keys {
    rsa: RsaKeyPair,
    ec: EcdsaKeyPair,
    ed: Ed25519KeyPair,
    ed_other: Ed25519KeyPair,
}

impl Keys {
    fn new() -> Keys {
        Keys {
            rsa: RsaKeyPair::generate(KeySize::Rsa2048).expect("rsa"),
            ec: EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).expect("p-384"),
            ed: Ed25519KeyPair::generate().expect("ed25519"),
            ed_other: Ed25519KeyPair::generate().expect("ed25519"),
        }
    }

    /// `smart` holds an RSA, a P-384 and an Ed25519 key; `smart-b` one
    /// Ed25519 key of its own; `redox` a client secret.
    fn material(&self) -> Material {
        let rsa = RsaPublicKeyComponents::<Vec<u8>>::from(self.rsa.public_key());
        let point = self.ec.public_key().as_ref();
        let signing = Ed25519KeyPair::generate().expect("ed25519");
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(signing.to_pkcs8v1().expect("pkcs8").as_ref())
        );
        let document = json!({
            "oauth_clients": [
                {"client_id": "smart", "jwks": {"keys": [
                    {"kty": "RSA", "kid": "rsa-1", "n": b64(&rsa.n), "e": b64(&rsa.e)},
                    {"kty": "EC", "crv": "P-384", "kid": "ec-1", "x": b64(&point[1..49]), "y": b64(&point[49..])},
                    {"kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "x": b64(self.ed.public_key().as_ref())},
                ]}},
                {"client_id": "smart-b", "jwks": {"keys": [
                    {"kty": "OKP", "crv": "Ed25519", "kid": "b-1", "x": b64(self.ed_other.public_key().as_ref())},
                ]}},
                {"client_id": "redox", "client_secret": "0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3"},
            ],
            "oauth_signing_keys": [{"kid": "own-1", "private_key_pem": pem}],
        });
        Material::from_secret_text(&document.to_string()).expect("material")
    }
}

/// A client assertion for `client` with `alg`/`kid`, its signature made by
/// `sign` over the signing input.
fn assertion(
    client: &str,
    alg: &str,
    kid: &str,
    jti: &str,
    sign: impl Fn(&[u8]) -> Vec<u8>,
) -> String {
    let now = now_secs();
    let header = json!({"alg": alg, "kid": kid, "typ": "JWT"});
    let claims = json!({"iss": client, "sub": client, "aud": format!("{BASE}{TOKEN_PATH}"),
                        "iat": now, "exp": now + 240, "jti": jti});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

fn token_request(assertion: &str) -> InboundRequest {
    InboundRequest {
        method: "POST".into(),
        raw_path: TOKEN_PATH.into(),
        raw_query: String::new(),
        headers: vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: Bytes::from(format!(
            "grant_type=client_credentials&client_assertion_type={}&client_assertion={assertion}",
            ASSERTION_TYPE.replace(':', "%3A")
        )),
        origin: Origin::new(FrontDoor::LocalServer),
    }
}

fn issuer() -> BuiltinIssuer {
    BuiltinIssuer::new(BASE, Duration::from_secs(300))
}

/// The signature checks one call makes on this thread.
fn checks<T>(call: impl FnOnce() -> T) -> (T, u64) {
    let before = signature_checks_on_this_thread();
    let outcome = call();
    (outcome, signature_checks_on_this_thread() - before)
}

#[test]
fn every_refused_assertion_costs_one_signature_check_whatever_the_client_kid_and_key_type() {
    let keys = Keys::new();
    let material = keys.material();
    let issuer = issuer();
    let junk = |length: usize| move |_: &[u8]| vec![7u8; length];
    // Each alg with a junk signature, against every way a client id and a
    // kid can exist or not, and a key that does or does not fit the alg.
    let mut cases = Vec::new();
    for (alg, length) in [("ES384", 96), ("RS384", 256), ("EdDSA", 64)] {
        for (client, kid, what) in [
            ("smart", "ec-1", "known client, its P-384 kid"),
            ("smart", "rsa-1", "known client, its RSA kid"),
            ("smart", "ed-1", "known client, its Ed25519 kid"),
            ("smart", "no-such-kid", "known client, unknown kid"),
            ("nobody", "ec-1", "unknown client"),
            ("redox", "ec-1", "a client-secret client"),
        ] {
            let assertion = assertion(client, alg, kid, "jti-1", junk(length));
            cases.push((format!("{alg} junk, {what}"), assertion));
        }
    }
    for (what, assertion) in &cases {
        let request = token_request(assertion);
        let (outcome, count) =
            checks(|| issue_token(&request, &issuer, &material.issuer, SystemTime::now()));
        let error = outcome.expect_err(what);
        assert!(
            matches!(error, OAuthError::InvalidAssertion(_)),
            "{what}: {error}"
        );
        assert_eq!(error.status(), 401, "{what}");
        assert_eq!(count, 1, "{what}: {error}");
    }
    // And a good assertion costs the same one check.
    let good = assertion("smart", "EdDSA", "ed-1", "jti-good", |m| {
        keys.ed.sign(m).as_ref().to_vec()
    });
    let request = token_request(&good);
    let (issued, count) =
        checks(|| issue_token(&request, &issuer, &material.issuer, SystemTime::now()));
    assert!(issued.is_ok(), "{issued:?}");
    assert_eq!(count, 1);
}

#[test]
fn a_bearer_jwt_with_an_unknown_kid_or_a_key_of_another_type_costs_one_signature_check() {
    let keys = Keys::new();
    let rsa = RsaPublicKeyComponents::<Vec<u8>>::from(keys.rsa.public_key());
    let set = KeySet::from_jwks_json(
        json!({"keys": [
            {"kty": "RSA", "kid": "rsa-1", "n": b64(&rsa.n), "e": b64(&rsa.e)},
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "x": b64(keys.ed.public_key().as_ref())},
        ]})
        .to_string()
        .as_bytes(),
    )
    .expect("key set");
    let settings = JwtSettings {
        issuer: "https://idp.example.com/".into(),
        audiences: vec!["redox".into()],
        required_scopes: Vec::new(),
        ..JwtSettings::default()
    };
    let issuers = [TrustedIssuer {
        kind: IssuerKind::Inline,
        settings: &settings,
        keys: Some(&set),
    }];
    let token = |alg: &str, kid: &str, signature: Vec<u8>| {
        let header = json!({"alg": alg, "kid": kid});
        let claims =
            json!({"iss": "https://idp.example.com/", "aud": "redox", "exp": now_secs() + 60});
        format!(
            "{}.{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes()),
            b64(&signature)
        )
    };
    let rng = SystemRandom::new();
    let mut rs384 = vec![0u8; keys.rsa.public_modulus_len()];
    keys.rsa
        .sign(&RSA_PKCS1_SHA384, &rng, b"not the input", &mut rs384)
        .expect("rsa sign");
    for (what, jwt, expected) in [
        (
            "RS384, known kid, bad signature",
            token("RS384", "rsa-1", rs384.clone()),
            JwtError::BadSignature,
        ),
        (
            "RS384, the kid of an Ed25519 key",
            token("RS384", "ed-1", rs384.clone()),
            JwtError::AlgorithmKeyMismatch {
                alg: "RS384".into(),
                key: "OKP Ed25519",
            },
        ),
        (
            "RS384, unknown kid",
            token("RS384", "rsa-9", rs384),
            JwtError::UnknownKeyId {
                issuer: IssuerKind::Inline,
                kid: "rsa-9".into(),
            },
        ),
    ] {
        let (outcome, count) = checks(|| verify_jwt(&jwt, &issuers, SystemTime::now()));
        assert_eq!(outcome, Err(expected), "{what}");
        assert_eq!(count, 1, "{what}");
    }
}

/// A good assertion of `smart-b`, which must get its token.
fn grant_for_b(keys: &Keys, issuer: &BuiltinIssuer, material: &Material, jti: &str) -> IssuedToken {
    let good = assertion("smart-b", "EdDSA", "b-1", jti, |m| {
        keys.ed_other.sign(m).as_ref().to_vec()
    });
    issue_token(
        &token_request(&good),
        issuer,
        &material.issuer,
        SystemTime::now(),
    )
    .expect("smart-b gets its token")
}

#[test]
fn one_smart_client_making_20000_valid_grants_cannot_deny_another_its_token() {
    let keys = Keys::new();
    let material = keys.material();
    let issuer = issuer();
    let mut granted = 0;
    let mut refused: Vec<OAuthError> = Vec::new();
    for i in 0..20_000 {
        let jti = format!("a-{i}");
        let good = assertion("smart", "EdDSA", "ed-1", &jti, |m| {
            keys.ed.sign(m).as_ref().to_vec()
        });
        match issue_token(
            &token_request(&good),
            &issuer,
            &material.issuer,
            SystemTime::now(),
        ) {
            Ok(_) => granted += 1,
            Err(error) => refused.push(error),
        }
        if i % 5_000 == 0 {
            grant_for_b(&keys, &issuer, &material, &format!("b-{i}"));
        }
    }
    let issued = grant_for_b(&keys, &issuer, &material, "b-last");
    assert_eq!(issued.client_id, "smart-b");
    eprintln!(
        "client smart: {granted} granted, {} refused ({:?}); client smart-b still granted",
        refused.len(),
        refused.first()
    );
    // The flood is held to its own cap, answered 429 with a Retry-After,
    // and its replays are still replays.
    assert!(granted <= 120, "{granted}");
    let first = refused.first().expect("the flood is capped");
    assert_eq!(first.status(), 429, "{first}");
    assert!(
        matches!(first, OAuthError::TooManyGrants { retry_after_secs } if *retry_after_secs >= 1),
        "{first}"
    );
    let replay = assertion("smart-b", "EdDSA", "b-1", "b-last", |m| {
        keys.ed_other.sign(m).as_ref().to_vec()
    });
    assert_eq!(
        issue_token(
            &token_request(&replay),
            &issuer,
            &material.issuer,
            SystemTime::now()
        ),
        Err(OAuthError::InvalidAssertion(AssertionError::Replayed))
    );
}
