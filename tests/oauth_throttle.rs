//! The token endpoint's failure throttle as an attacker meets it in Lambda
//! mode (issue 21, finding 1): failures are counted per source address, so
//! wrong secrets for Redox's client id from one address, or a spray of
//! client ids, never make the endpoint refuse Redox's right secret from its
//! own address, and one address gets about ten secrets evaluated a minute.
//! The release binary runs through the Runtime API, with the source address
//! AWS writes in each event's request context. (Concurrent guesses during a
//! material re-fetch, finding 2, are in `tests/security.rs`.)

mod support;

use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use support::{RuntimeApi, function_url_event, lambda_answer};

const CLIENT_ID: &str = "redox";
/// 32 random hex digits: 128 bits.
const CLIENT_SECRET: &str = "5d0b8e4f1c7a93d26e8f0a4b7c1d9e35";
const GUESSER: &str = "203.0.113.9";
const SPRAYER: &str = "203.0.113.10";
const REDOX_ADDRESS: &str = "198.51.100.7";

fn signing_key_pem() -> String {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("an Ed25519 key");
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(pkcs8.as_ref())
    )
}

fn material_document() -> String {
    json!({
        "verification_tokens": ["rdx-verif-oauth-throttle-1"],
        "oauth_clients": [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}],
        "oauth_signing_keys": [{"kid": "throttle-1", "private_key_pem": signing_key_pem()}],
    })
    .to_string()
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// A Function URL event for the token endpoint, from `source_ip` as AWS
/// writes it in `requestContext.http.sourceIp`.
fn token_event(authorization: &str, source_ip: &str) -> Vec<u8> {
    let mut event: Value = serde_json::from_slice(&function_url_event(
        "POST",
        "/oauth2/token",
        "",
        &[
            ("authorization", authorization),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        b"grant_type=client_credentials",
    ))
    .expect("event");
    event["requestContext"]["http"]["sourceIp"] = source_ip.into();
    serde_json::to_vec(&event).expect("event JSON")
}

/// The release binary in Lambda mode with the built-in issuer on.
struct Function {
    api: RuntimeApi,
    _process: support::FunctionProcess,
    _dir: tempfile::TempDir,
}

impl Function {
    fn start() -> Function {
        let dir = tempfile::tempdir().expect("temp dir");
        let secret = support::write_file(dir.path(), "material.json", &material_document());
        let api = RuntimeApi::start();
        let process = api.start_function(&[
            ("REDOX_SECRET_FILE".into(), secret.display().to_string()),
            (
                "REDOX_SPOOL_DIR".into(),
                dir.path().join("spool").display().to_string(),
            ),
            ("REDOX_OAUTH_ISSUER".into(), "auto".into()),
        ]);
        Function {
            api,
            _process: process,
            _dir: dir,
        }
    }

    /// The status and `Retry-After` of one token request.
    fn ask(&self, authorization: &str, source_ip: &str) -> (u16, Option<u64>) {
        let (status, answer) =
            lambda_answer(&self.api.invoke(&token_event(authorization, source_ip)));
        let retry_after = answer["headers"]["retry-after"]
            .as_str()
            .and_then(|s| s.parse().ok());
        (status, retry_after)
    }
}

/// How many of `answers` were evaluated (401) and refused unchecked (429);
/// anything else fails the test.
fn tally(answers: &[(u16, Option<u64>)]) -> (usize, usize) {
    let evaluated = answers.iter().filter(|(s, _)| *s == 401).count();
    let throttled = answers.iter().filter(|(s, _)| *s == 429).count();
    assert_eq!(evaluated + throttled, answers.len(), "{answers:?}");
    (evaluated, throttled)
}

#[test]
fn thirty_wrong_secrets_for_redoxs_id_from_one_address_never_refuse_redox_elsewhere() {
    let function = Function::start();
    let answers: Vec<(u16, Option<u64>)> = (0..30)
        .map(|i| function.ask(&basic(CLIENT_ID, &format!("wrong-{i}")), GUESSER))
        .collect();
    let (evaluated, throttled) = tally(&answers);
    eprintln!("30 wrong secrets from {GUESSER}: {evaluated} evaluated, {throttled} answered 429");
    assert!(evaluated <= 11, "{evaluated} secrets evaluated");
    // The guessing address is refused even with the right secret.
    assert_eq!(
        function.ask(&basic(CLIENT_ID, CLIENT_SECRET), GUESSER).0,
        429
    );
    // Redox's right secret from its own address: a token.
    let (status, _) = function.ask(&basic(CLIENT_ID, CLIENT_SECRET), REDOX_ADDRESS);
    assert_eq!(
        status, 200,
        "Redox was refused for another address's failures"
    );
}

#[test]
fn a_spray_of_client_ids_from_one_address_gets_about_ten_secrets_evaluated_a_minute() {
    let function = Function::start();
    let started = Instant::now();
    let answers: Vec<(u16, Option<u64>)> = (0..1100)
        .map(|i| function.ask(&basic(&format!("client-{i}"), "a-guess"), SPRAYER))
        .collect();
    let spray_secs = started.elapsed().as_secs_f64();
    let (evaluated, throttled) = tally(&answers);
    eprintln!(
        "1,100 client ids from {SPRAYER} in {spray_secs:.1} s: {evaluated} secrets evaluated, \
         {throttled} answered 429"
    );
    // A burst of 10, then one more every 6 s while the spray lasts.
    let allowed = 10 + (spray_secs / 6.0).ceil() as usize;
    assert!(
        evaluated <= allowed,
        "{evaluated} evaluated in {spray_secs:.1} s"
    );
    // Redox's right secret from elsewhere, right after the spray: a token.
    let (status, _) = function.ask(&basic(CLIENT_ID, CLIENT_SECRET), REDOX_ADDRESS);
    assert_eq!(
        status, 200,
        "Redox was refused during a spray from elsewhere"
    );

    // The spraying address is told when to come back, and gets one guess
    // then: one every 6 s, 10 a minute.
    let (status, retry_after) = function.ask(&basic("client-x", "a-guess"), SPRAYER);
    assert_eq!(status, 429);
    let retry_after = retry_after.expect("Retry-After on a 429");
    assert!((1..=6).contains(&retry_after), "Retry-After: {retry_after}");
    std::thread::sleep(Duration::from_secs(retry_after));
    let after: Vec<(u16, Option<u64>)> = (0..3)
        .map(|i| function.ask(&basic(&format!("late-{i}"), "a-guess"), SPRAYER))
        .collect();
    let (late_evaluated, _) = tally(&after);
    eprintln!("{retry_after} s later: {late_evaluated} of 3 evaluated");
    assert_eq!(late_evaluated, 1, "{after:?}");
}
