//! What bearer-JWT verification costs per request (RS256 with a 2048-bit
//! key, ES256, EdDSA), what the built-in token endpoint's signing costs,
//! and what checking a SMART client assertion costs (RS384, ES384), also
//! when it names an unknown client or `kid`, names a key of another type
//! than its `alg`, or carries a bad signature (all should cost alike: the
//! signature is checked with a placeholder key when no key fits).
//! Tokens are signed here with aws-lc-rs directly, not with the code under
//! test.
//!
//! Run with `cargo bench --bench jwt`.

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair, RSA_PKCS1_SHA256, RSA_PKCS1_SHA384, RsaKeyPair, RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use criterion::{Criterion, criterion_group, criterion_main};
use redox_destination::auth::jwt::jwk::KeySet;
use redox_destination::auth::jwt::trust::{IssuerKind, JwtSettings};
use redox_destination::auth::jwt::{TrustedIssuer, verify_jwt};
use redox_destination::auth::material::{ClientAuthentication, IssuerMaterial, PublicKeys};
use redox_destination::oauth::assertion::verify_assertion;
use redox_destination::oauth::sign_token;
use serde_json::{Value, json};

const ISSUER: &str = "https://idp.example.com/oauth2/default";
const AUDIENCE: &str = "api://redox-destination";
const NOW: u64 = 1_800_000_000;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token like an identity provider's access token, signed by `sign`.
fn token(alg: &str, kid: &str, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "0oa1redoxclient", "scope": "redox.push",
        "iat": NOW - 10, "exp": NOW + 3600, "jti": "AT.bench", "cid": "0oa1redoxclient",
    });
    signed(alg, kid, &claims, sign)
}

/// The compact JWS of `claims` under `{"alg", "kid", "typ": "JWT"}`.
fn signed(alg: &str, kid: &str, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let header = json!({"alg": alg, "kid": kid, "typ": "JWT"});
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = sign(message.as_bytes());
    format!("{message}.{}", b64(&signature))
}

fn bench_jwt(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let rsa = RsaKeyPair::generate(KeySize::Rsa2048).expect("rsa key");
    let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("ec key");
    let ed = Ed25519KeyPair::generate().expect("ed25519 key");
    let rsa_public = RsaPublicKeyComponents::<Vec<u8>>::from(rsa.public_key());
    let ec_point = ec.public_key().as_ref();
    let jwks: Value = json!({"keys": [
        {"kty": "RSA", "kid": "rsa-1", "use": "sig", "n": b64(&rsa_public.n), "e": b64(&rsa_public.e)},
        {"kty": "EC", "crv": "P-256", "kid": "ec-1", "use": "sig",
         "x": b64(&ec_point[1..33]), "y": b64(&ec_point[33..])},
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "use": "sig", "x": b64(ed.public_key().as_ref())},
    ]});
    let keys = KeySet::from_jwks_json(jwks.to_string().as_bytes()).expect("key set");
    let settings = JwtSettings {
        issuer: ISSUER.into(),
        audiences: vec![AUDIENCE.into()],
        required_scopes: vec!["redox.push".into()],
        ..JwtSettings::default()
    };
    let issuers = [TrustedIssuer {
        kind: IssuerKind::Remote,
        settings: &settings,
        keys: Some(&keys),
    }];
    let now = UNIX_EPOCH + Duration::from_secs(NOW);

    let tokens = [
        (
            "RS256",
            token("RS256", "rsa-1", |m| {
                let mut out = vec![0; rsa.public_modulus_len()];
                rsa.sign(&RSA_PKCS1_SHA256, &rng, m, &mut out)
                    .expect("rsa sign");
                out
            }),
        ),
        (
            "ES256",
            token("ES256", "ec-1", |m| {
                ec.sign(&rng, m).expect("ec sign").as_ref().to_vec()
            }),
        ),
        (
            "EdDSA",
            token("EdDSA", "ed-1", |m| ed.sign(m).as_ref().to_vec()),
        ),
    ];
    let mut group = c.benchmark_group("verify_jwt");
    for (alg, token) in &tokens {
        assert!(verify_jwt(token, &issuers, now).is_ok(), "{alg}");
        group.bench_function(*alg, |b| {
            b.iter(|| verify_jwt(black_box(token), &issuers, now))
        });
    }
    group.finish();

    let mut material = IssuerMaterial::default();
    let pkcs8 = ed.to_pkcs8v1().expect("pkcs8");
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(pkcs8.as_ref())
    );
    material
        .add_signing_key("own-1", &pem)
        .expect("signing key");
    let issued_at = SystemTime::now();
    c.bench_function("builtin_issuer/sign_token_EdDSA", |b| {
        b.iter(|| {
            sign_token(
                Duration::from_secs(300),
                "https://abc.lambda-url.us-east-1.on.aws",
                &material,
                black_box("redox"),
                None,
                issued_at,
            )
        })
    });
}

const TOKEN_URL: &str = "https://abc.lambda-url.us-east-1.on.aws/oauth2/token";

/// A client assertion from `client`, signed by `sign`.
fn assertion(client: &str, alg: &str, kid: &str, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let claims = json!({"iss": client, "sub": client, "aud": TOKEN_URL,
                        "iat": NOW, "exp": NOW + 240, "jti": "bench-jti"});
    signed(alg, kid, &claims, sign)
}

fn bench_assertions(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let rsa = RsaKeyPair::generate(KeySize::Rsa2048).expect("rsa key");
    let other = RsaKeyPair::generate(KeySize::Rsa2048).expect("rsa key");
    let ec = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).expect("ec key");
    let rsa_public = RsaPublicKeyComponents::<Vec<u8>>::from(rsa.public_key());
    let point = ec.public_key().as_ref();
    let jwks = json!({"keys": [
        {"kty": "RSA", "kid": "rsa-1", "n": b64(&rsa_public.n), "e": b64(&rsa_public.e)},
        {"kty": "EC", "crv": "P-384", "kid": "ec-1", "x": b64(&point[1..49]), "y": b64(&point[49..])},
    ]});
    let mut material = IssuerMaterial::default();
    material
        .add_client_at(
            "bench",
            "smart",
            ClientAuthentication::Jwks(PublicKeys::from_value(&jwks, "bench").expect("jwks")),
            None,
        )
        .expect("client");
    let rs384 = |key: &RsaKeyPair, m: &[u8]| {
        let mut out = vec![0; key.public_modulus_len()];
        key.sign(&RSA_PKCS1_SHA384, &rng, m, &mut out)
            .expect("rsa sign");
        out
    };
    let now = UNIX_EPOCH + Duration::from_secs(NOW);
    let cases = [
        (
            "RS384",
            assertion("smart", "RS384", "rsa-1", |m| rs384(&rsa, m)),
            true,
        ),
        (
            "ES384",
            assertion("smart", "ES384", "ec-1", |m| {
                ec.sign(&rng, m).expect("ec sign").as_ref().to_vec()
            }),
            true,
        ),
        (
            "RS384_unknown_client",
            assertion("nobody", "RS384", "rsa-1", |m| rs384(&rsa, m)),
            false,
        ),
        (
            "RS384_bad_signature",
            assertion("smart", "RS384", "rsa-1", |m| rs384(&other, m)),
            false,
        ),
        // Issue 26, finding 5: ES384 with a junk signature must cost alike
        // whatever the client, kid and key type (one P-384 check each).
        (
            "ES384_junk_known_client_ec_kid",
            assertion("smart", "ES384", "ec-1", |_| vec![7; 96]),
            false,
        ),
        (
            "ES384_junk_known_client_rsa_kid",
            assertion("smart", "ES384", "rsa-1", |_| vec![7; 96]),
            false,
        ),
        (
            "ES384_junk_known_client_unknown_kid",
            assertion("smart", "ES384", "nope-1", |_| vec![7; 96]),
            false,
        ),
        (
            "ES384_junk_unknown_client",
            assertion("nobody", "ES384", "ec-1", |_| vec![7; 96]),
            false,
        ),
    ];
    let mut group = c.benchmark_group("verify_assertion");
    for (name, assertion, valid) in &cases {
        let check =
            || verify_assertion(black_box(assertion), None, &material, None, TOKEN_URL, now);
        assert_eq!(check().is_ok(), *valid, "{name}");
        group.bench_function(*name, |b| b.iter(check));
    }
    group.finish();
}

criterion_group!(benches, bench_jwt, bench_assertions);
criterion_main!(benches);
