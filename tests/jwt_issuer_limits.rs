//! What a JWT must be beyond a good signature, end to end through the local
//! server (the debug binary): a JWT Bearer token (`jwt_issuers`) lives
//! minutes, not years, and with `replay_check` is accepted once (issue 26,
//! finding 6). Tokens are signed here with aws-lc-rs, not by the code under
//! test; nothing refused is queued.

mod support;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use support::{HttpAnswer, LocalServer};

const TOKEN: &str = "rdx-verif-jwt-limits-1";
const JB_ISSUER: &str = "redox-jwt-bearer";
const JB_AUDIENCE: &str = "https://abcdefghij.lambda-url.us-east-1.on.aws";
const YEAR: u64 = 365 * 24 * 3600;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

struct Signer {
    kid: &'static str,
    pair: Ed25519KeyPair,
}

impl Signer {
    fn new(kid: &'static str) -> Signer {
        Signer {
            kid,
            pair: Ed25519KeyPair::generate().expect("ed25519"),
        }
    }

    fn jwks(&self) -> Value {
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": self.kid,
                         "x": URL_SAFE_NO_PAD.encode(self.pair.public_key().as_ref())}]})
    }

    fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "EdDSA", "kid": self.kid, "typ": "JWT"});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = URL_SAFE_NO_PAD.encode(self.pair.sign(input.as_bytes()).as_ref());
        format!("{input}.{signature}")
    }
}

/// `claims` with the members of `changes` set (`null` removes one).
fn with(mut claims: Value, changes: Value) -> Value {
    for (name, value) in changes.as_object().expect("an object") {
        if value.is_null() {
            claims.as_object_mut().expect("an object").remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

/// What Redox's JWT Bearer credential signs for a push: fresh, five minutes.
fn jwt_bearer_claims(jti: &str) -> Value {
    let now = now_secs();
    json!({"iss": JB_ISSUER, "sub": "redox", "aud": JB_AUDIENCE,
           "iat": now, "exp": now + 300, "jti": jti})
}

struct Destination {
    server: LocalServer,
    spool: PathBuf,
    _dir: tempfile::TempDir,
}

impl Destination {
    /// The local server with `jwt_issuers` (`entry` plus the signer's
    /// keys) in its material file, and `env`.
    fn start(entry: Option<Value>, env: &[(String, String)]) -> Destination {
        let dir = tempfile::tempdir().expect("temp dir");
        let spool = dir.path().join("spool");
        let mut material = json!({"verification_tokens": [TOKEN]});
        if let Some(entry) = entry {
            material["jwt_issuers"] = json!([entry]);
        }
        let material_file = support::write_file(dir.path(), "material.json", &material.to_string());
        let mut vars = vec![
            ("REDOX_SPOOL_DIR".to_string(), spool.display().to_string()),
            (
                "REDOX_SECRET_FILE".into(),
                material_file.display().to_string(),
            ),
            ("REDOX_AUTH_METHODS".into(), "token,jwt".into()),
        ];
        vars.extend_from_slice(env);
        Destination {
            server: LocalServer::start(&vars),
            spool,
            _dir: dir,
        }
    }

    fn push(&self, bearer: &str) -> HttpAnswer {
        let authorization = format!("Bearer {bearer}");
        self.server.post(
            &[
                ("content-type", "application/json"),
                ("authorization", authorization.as_str()),
            ],
            br#"{"Meta":{"DataModel":"PatientAdmin","EventType":"Arrival"}}"#,
        )
    }

    fn queued(&self) -> usize {
        std::fs::read_dir(&self.spool)
            .map(|entries| entries.count())
            .unwrap_or(0)
    }
}

fn assert_status(answer: &HttpAnswer, status: u16, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.text());
}

fn jwt_issuers_entry(signer: &Signer, extra: Value) -> Value {
    with(
        json!({"issuer": JB_ISSUER, "audiences": [JB_AUDIENCE], "jwks": signer.jwks()}),
        extra,
    )
}

#[test]
fn a_jwt_bearer_token_that_lives_a_year_is_refused() {
    let signer = Signer::new("jb-1");
    let destination = Destination::start(Some(jwt_issuers_entry(&signer, json!({}))), &[]);
    let now = now_secs();
    let fresh = signer.sign(&jwt_bearer_claims("a"));
    assert_status(&destination.push(&fresh), 200, "five minutes");
    let a_year = signer.sign(&with(jwt_bearer_claims("b"), json!({"exp": now + YEAR})));
    assert_status(&destination.push(&a_year), 401, "exp a year ahead");
    let no_iat = signer.sign(&with(
        jwt_bearer_claims("c"),
        json!({"iat": null, "exp": now + YEAR}),
    ));
    assert_status(&destination.push(&no_iat), 401, "exp a year ahead, no iat");
    assert_eq!(destination.queued(), 1);

    // An entry may allow more, for a credential that signs longer tokens.
    let signer = Signer::new("jb-2");
    let longer = Destination::start(
        Some(jwt_issuers_entry(
            &signer,
            json!({"max_token_lifetime_secs": 3600}),
        )),
        &[],
    );
    let hour = signer.sign(&with(jwt_bearer_claims("d"), json!({"exp": now + 3600})));
    assert_status(&longer.push(&hour), 200, "an hour, allowed");
    let a_year = signer.sign(&with(jwt_bearer_claims("e"), json!({"exp": now + YEAR})));
    assert_status(&longer.push(&a_year), 401, "still not a year");
}

#[test]
fn the_same_jwt_bearer_token_twice_is_refused_when_the_issuer_checks_replays() {
    let signer = Signer::new("jb-1");
    let destination = Destination::start(
        Some(jwt_issuers_entry(&signer, json!({"replay_check": true}))),
        &[],
    );
    let token = signer.sign(&jwt_bearer_claims("jti-1"));
    assert_status(&destination.push(&token), 200, "first use");
    assert_status(&destination.push(&token), 401, "the same token again");
    let other = signer.sign(&jwt_bearer_claims("jti-2"));
    assert_status(&destination.push(&other), 200, "a fresh jti");
    let without_jti = signer.sign(&with(jwt_bearer_claims("x"), json!({"jti": null})));
    assert_status(&destination.push(&without_jti), 401, "no jti");
    assert_eq!(destination.queued(), 2);

    // Off (the default), a token may be pushed again while it lives.
    let signer = Signer::new("jb-2");
    let lenient = Destination::start(Some(jwt_issuers_entry(&signer, json!({}))), &[]);
    let token = signer.sign(&jwt_bearer_claims("jti-1"));
    assert_status(&lenient.push(&token), 200, "first use");
    assert_status(&lenient.push(&token), 200, "again, no replay check");
}
