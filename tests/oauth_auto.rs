//! `REDOX_OAUTH_ISSUER=auto`: the built-in issuer lives at whatever base URL
//! the platform states for the request (the Function URL's domain in Lambda,
//! the listening address locally), so one deploy is enough, and a token
//! issued through one domain is refused at another.

mod support;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use support::{RuntimeApi, function_url_event, http_request, lambda_answer};

const TOKEN: &str = "rdx-verif-oauth-auto-1";
const CLIENT_ID: &str = "redox-auto";
const CLIENT_SECRET: &str = "client-secret-for-the-auto-issuer-test";
const DOMAIN_A: &str = "aaaaaaaaaaaaaaaa.lambda-url.us-east-1.on.aws";
const DOMAIN_B: &str = "bbbbbbbbbbbbbbbb.lambda-url.us-east-1.on.aws";

/// A secret file with a verification token, one OAuth client and a fresh
/// Ed25519 signing key.
fn secret_file(dir: &std::path::Path) -> std::path::PathBuf {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("an Ed25519 key");
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(pkcs8.as_ref())
    );
    let path = dir.join("material.json");
    let material = json!({
        "verification_tokens": [TOKEN],
        "oauth_clients": [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}],
        "oauth_signing_keys": [{"kid": "auto-1", "private_key_pem": pem}],
    });
    std::fs::write(&path, material.to_string()).expect("write the secret file");
    path
}

fn basic() -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    )
}

fn push_body() -> Vec<u8> {
    std::fs::read(support::repo_root().join("tests/fixtures/events/patientadmin-arrival.json"))
        .expect("the push fixture")
}

/// The claims of a JWT, unverified (the destination verifies it).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

/// A Function URL event as AWS writes it for a request to `domain`.
fn event_at(
    domain: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut event: Value =
        serde_json::from_slice(&function_url_event(method, path, "", headers, body))
            .expect("event");
    event["requestContext"]["domainName"] = domain.into();
    event["requestContext"]["domainPrefix"] = domain.split('.').next().unwrap_or_default().into();
    serde_json::to_vec(&event).expect("event JSON")
}

fn answer_body(answer: &Value) -> Value {
    let body = answer["body"].as_str().expect("a body");
    serde_json::from_str(body).unwrap_or(Value::String(body.to_owned()))
}

#[test]
fn a_token_issued_through_one_function_url_domain_is_refused_at_another() {
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = secret_file(dir.path());
    let spool = dir.path().join("spool");
    let api = RuntimeApi::start();
    let _function = api.start_function(&[
        ("REDOX_SECRET_FILE".into(), secret.display().to_string()),
        ("REDOX_SPOOL_DIR".into(), spool.display().to_string()),
        ("REDOX_OAUTH_ISSUER".into(), "auto".into()),
    ]);
    let form = [
        ("authorization", basic()),
        (
            "content-type",
            "application/x-www-form-urlencoded".to_owned(),
        ),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let issue_at = |domain: &str| -> String {
        let (status, answer) = lambda_answer(&api.invoke(&event_at(
            domain,
            "POST",
            "/oauth2/token",
            &form,
            b"grant_type=client_credentials",
        )));
        assert_eq!(status, 200, "token at {domain}: {answer}");
        answer_body(&answer)["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    };
    let push_at = |domain: &str, token: &str| -> (u16, Value) {
        let bearer = format!("Bearer {token}");
        lambda_answer(&api.invoke(&event_at(
            domain,
            "POST",
            "/",
            &[
                ("authorization", &bearer),
                ("content-type", "application/json"),
            ],
            &push_body(),
        )))
    };

    let from_a = issue_at(DOMAIN_A);
    assert_eq!(claims(&from_a)["iss"], format!("https://{DOMAIN_A}"));
    assert_eq!(claims(&from_a)["aud"], format!("https://{DOMAIN_A}"));
    let (status, answer) = push_at(DOMAIN_A, &from_a);
    assert_eq!(status, 200, "A's token at A: {answer}");
    let queued = std::fs::read_dir(&spool).expect("spool").count();
    assert_eq!(queued, 1, "the push at A was spooled");

    let (status, answer) = push_at(DOMAIN_B, &from_a);
    assert_eq!(status, 401, "A's token at B: {answer}");
    let from_b = issue_at(DOMAIN_B);
    assert_eq!(claims(&from_b)["iss"], format!("https://{DOMAIN_B}"));
    let (status, _) = push_at(DOMAIN_A, &from_b);
    assert_eq!(status, 401, "B's token at A");
    let (status, _) = push_at(DOMAIN_B, &from_b);
    assert_eq!(status, 200, "B's token at B");
    assert_eq!(
        std::fs::read_dir(&spool).expect("spool").count(),
        2,
        "nothing was spooled for the refusals"
    );

    // A client header cannot move the issuer: Host and X-Forwarded-Host
    // naming A change nothing for a request AWS says arrived at B.
    let bearer = format!("Bearer {from_a}");
    let (status, _) = lambda_answer(&api.invoke(&event_at(
        DOMAIN_B,
        "POST",
        "/",
        &[
            ("authorization", &bearer),
            ("host", DOMAIN_A),
            ("x-forwarded-host", DOMAIN_A),
            ("content-type", "application/json"),
        ],
        &push_body(),
    )));
    assert_eq!(status, 401, "client headers do not choose the issuer");
}

#[test]
fn locally_the_auto_issuer_is_the_listening_address() {
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = secret_file(dir.path());
    let spool = dir.path().join("spool");
    let server = support::LocalServer::start(&[
        ("REDOX_SECRET_FILE".into(), secret.display().to_string()),
        ("REDOX_SPOOL_DIR".into(), spool.display().to_string()),
        ("REDOX_OAUTH_ISSUER".into(), "auto".into()),
    ]);
    let issued = http_request(
        server.port,
        "POST",
        "/oauth2/token",
        &[
            ("authorization", &basic()),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        b"grant_type=client_credentials",
    );
    assert_eq!(issued.status, 200, "{}", issued.text());
    let token = issued.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    assert_eq!(
        claims(&token)["iss"],
        format!("http://127.0.0.1:{}", server.port)
    );
    let pushed = http_request(
        server.port,
        "POST",
        "/",
        &[
            ("authorization", &format!("Bearer {token}")),
            ("content-type", "application/json"),
        ],
        &push_body(),
    );
    assert_eq!(pushed.status, 200, "{}", pushed.text());
}
