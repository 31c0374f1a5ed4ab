//! What a JWT must be beyond a good signature, end to end through the local
//! server (the debug binary): a JWT Bearer token (`jwt_issuers`) lives
//! minutes, not years, and with `replay_check` is accepted once (issue 26,
//! finding 6); and a token of another client of the same issuer and
//! audience is refused when the issuer pins its callers, for a remote
//! issuer (`REDOX_JWT_ALLOWED_CALLERS`) and for `jwt_issuers`
//! (`allowed_callers`) alike (issue 27). Tokens are signed here with
//! aws-lc-rs, not by the code under test; nothing refused is queued.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use support::jwt::JwksServer;
use support::{ChildGuard, HttpAnswer, LocalServer};

const TOKEN: &str = "rdx-verif-jwt-limits-1";
const ISSUER: &str = "https://idp.example.com/oauth2/default";
const AUDIENCE: &str = "api://redox-destination";
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

#[test]
fn a_token_of_another_client_of_a_pinned_jwt_issuer_is_refused() {
    let signer = Signer::new("jb-1");
    let destination = Destination::start(
        Some(jwt_issuers_entry(
            &signer,
            json!({"allowed_callers": ["redox"], "caller_claim": "sub"}),
        )),
        &[],
    );
    let redox = signer.sign(&jwt_bearer_claims("a"));
    assert_status(&destination.push(&redox), 200, "the pinned caller");
    let other = signer.sign(&with(
        jwt_bearer_claims("b"),
        json!({"sub": "another-client"}),
    ));
    assert_status(&destination.push(&other), 401, "another caller");
    // Only the named claim counts: the pinned value elsewhere does not.
    let elsewhere = signer.sign(&with(
        jwt_bearer_claims("c"),
        json!({"sub": "another-client", "azp": "redox", "client_id": "redox"}),
    ));
    assert_status(
        &destination.push(&elsewhere),
        401,
        "pinned value in another claim",
    );
    assert_eq!(destination.queued(), 1);
}

fn remote_env(jwks: &JwksServer, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = vec![
        ("REDOX_JWT_JWKS_URL".to_string(), jwks.url()),
        ("REDOX_JWT_ISSUER".into(), ISSUER.into()),
        ("REDOX_JWT_AUDIENCE".into(), AUDIENCE.into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

/// An access token of the shared tenant for `client`, as each provider
/// names the client.
fn provider_token(signer: &Signer, client_claims: Value) -> String {
    let now = now_secs();
    signer.sign(&with(
        json!({"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 3600}),
        client_claims,
    ))
}

#[test]
fn a_token_of_another_client_of_a_pinned_remote_issuer_is_refused() {
    let signer = Signer::new("idp-1");
    let jwks = JwksServer::start(&signer.jwks());
    let destination = Destination::start(
        None,
        &remote_env(&jwks, &[("REDOX_JWT_ALLOWED_CALLERS", "0oa1redox")]),
    );
    // The default claim order: Entra v2 (azp), Entra v1 (appid), Cognito
    // (client_id), Okta (cid).
    for claims in [
        json!({"azp": "0oa1redox"}),
        json!({"appid": "0oa1redox"}),
        json!({"client_id": "0oa1redox", "sub": "0oa1redox"}),
        json!({"cid": "0oa1redox", "sub": "0oa1redox"}),
    ] {
        let answer = destination.push(&provider_token(&signer, claims.clone()));
        assert_status(&answer, 200, &format!("pinned caller {claims}"));
    }
    for claims in [
        json!({"azp": "0oa9other"}),
        json!({"appid": "0oa9other"}),
        json!({"client_id": "0oa9other", "sub": "0oa9other"}),
        json!({"cid": "0oa9other", "sub": "user@example.com"}),
        // Strict: the claim that names the caller decides, not another one.
        json!({"azp": "0oa9other", "client_id": "0oa1redox"}),
        json!({"sub": "0oa1redox"}),
    ] {
        let answer = destination.push(&provider_token(&signer, claims.clone()));
        assert_status(&answer, 401, &format!("another caller {claims}"));
    }
    assert_eq!(destination.queued(), 4);

    // A named claim: Okta's cid only.
    let okta = Destination::start(
        None,
        &remote_env(
            &jwks,
            &[
                ("REDOX_JWT_ALLOWED_CALLERS", "0oa1redox"),
                ("REDOX_JWT_CALLER_CLAIM", "cid"),
            ],
        ),
    );
    let ours = provider_token(&signer, json!({"cid": "0oa1redox", "azp": "x"}));
    assert_status(&okta.push(&ours), 200, "cid pinned");
    let theirs = provider_token(&signer, json!({"cid": "0oa9other", "azp": "0oa1redox"}));
    assert_status(&okta.push(&theirs), 401, "cid of another client");
}

/// The start-up log of the binary with `env`, until it listens.
fn startup_log(env: &[(String, String)], dir: &Path) -> String {
    let port = support::free_port();
    let log = dir.join("startup.log");
    let file = std::fs::File::create(&log).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_redox-destination"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("REDOX_LISTEN", format!("127.0.0.1:{port}"))
        .env("REDOX_VERIFICATION_TOKEN", TOKEN)
        .env("REDOX_SPOOL_DIR", dir.join("spool"))
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(file.try_clone().expect("log file"))
        .stderr(file)
        .spawn()
        .expect("start the local server");
    support::wait_for_port(port, &mut child, "redox-destination");
    drop(ChildGuard(child));
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("listening") || started.elapsed() > Duration::from_secs(2) {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_remote_issuer_without_a_pin_or_a_required_scope_is_warned_about_once_at_start_up() {
    let signer = Signer::new("idp-1");
    let jwks = JwksServer::start(&signer.jwks());
    let dir = tempfile::tempdir().expect("temp dir");
    let warning = "no caller pin";
    let open = startup_log(&remote_env(&jwks, &[]), dir.path());
    assert_eq!(open.matches(warning).count(), 1, "{open}");
    let pinned = startup_log(
        &remote_env(&jwks, &[("REDOX_JWT_ALLOWED_CALLERS", "0oa1redox")]),
        dir.path(),
    );
    assert!(!pinned.contains(warning), "{pinned}");
    let scoped = remote_env(&jwks, &[("REDOX_JWT_REQUIRED_SCOPE", "redox.push")]);
    let scoped = startup_log(&scoped, dir.path());
    assert!(!scoped.contains(warning), "{scoped}");
}
