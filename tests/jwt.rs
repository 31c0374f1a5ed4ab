//! The `jwt` method and the built-in OAuth 2.0 issuer, end to end: the local
//! server (the debug binary) with a JWKS served by a test HTTP server, and
//! tokens signed by an independent library (PyJWT on `cryptography`, with
//! RSA, EC and Ed25519 keys, through `tests/fixtures/jwt/make_tokens.py`).
//! The token endpoint is called by curl, and its tokens are checked by PyJWT
//! too.
//!
//! Needs `.venv` with PyJWT (`make venv`) and `curl`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support::jwt::JwksServer;
use support::{HttpAnswer, LocalServer, http_request, repo_root};

const ISSUER: &str = "https://idp.example.com/oauth2/default";
const AUDIENCE: &str = "api://redox-destination";
const SCOPE: &str = "redox.push";
const TOKEN: &str = "rdx-verif-jwt-tests-1";
const BEARER_CHALLENGE: &str = r#"Bearer error="invalid_token""#;

// ---- helpers ---------------------------------------------------------------

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Runs the independent signer/verifier with one JSON request.
fn python(request: &Value) -> Value {
    support::jwt::python("make_tokens.py", request)
}

fn jwks(keys: &[&Value]) -> Value {
    json!({ "keys": keys })
}

fn push_body() -> Vec<u8> {
    std::fs::read(repo_root().join("tests/fixtures/events/patientadmin-arrival.json"))
        .expect("push fixture")
}

/// Everything in the spool folder, temporary files included.
fn spooled(spool: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(spool)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn push_with(server: &LocalServer, bearer: &str, extra: &[(&str, &str)]) -> HttpAnswer {
    let authorization = format!("Bearer {bearer}");
    let mut headers = vec![
        ("content-type", "application/json"),
        ("authorization", authorization.as_str()),
    ];
    headers.extend_from_slice(extra);
    server.post(&headers, &push_body())
}

fn assert_queued(answer: &HttpAnswer, spool: &Path, what: &str) {
    assert_eq!(answer.status, 200, "{what}: {}", answer.text());
    let id = answer.json()["message_id"]
        .as_str()
        .expect("message_id")
        .to_owned();
    let stored: Value = serde_json::from_slice(
        &std::fs::read(spool.join(format!("{id}.json"))).expect("spooled message"),
    )
    .expect("spool JSON");
    assert_eq!(stored["attributes"]["AuthMethod"], "jwt", "{what}");
}

fn assert_invalid_token(answer: &HttpAnswer, what: &str) {
    assert_eq!(answer.status, 401, "{what}: {}", answer.text());
    assert_eq!(
        answer.header("www-authenticate"),
        Some(BEARER_CHALLENGE),
        "{what}"
    );
    assert_eq!(
        answer.json(),
        json!({"error": "unauthorized", "message": "The request could not be authenticated."}),
        "{what}: the reason is logged, never returned"
    );
}

fn remote_env(jwks: &JwksServer, spool: &Path, refetch_secs: Option<u64>) -> Vec<(String, String)> {
    let mut env = vec![
        ("REDOX_SPOOL_DIR".to_string(), spool.display().to_string()),
        ("REDOX_VERIFICATION_TOKEN".into(), TOKEN.into()),
        ("REDOX_AUTH_METHODS".into(), "token,jwt".into()),
        ("REDOX_JWT_JWKS_URL".into(), jwks.url()),
        ("REDOX_JWT_ISSUER".into(), ISSUER.into()),
        ("REDOX_JWT_AUDIENCE".into(), AUDIENCE.into()),
        ("REDOX_JWT_REQUIRED_SCOPE".into(), SCOPE.into()),
    ];
    if let Some(secs) = refetch_secs {
        env.push(("REDOX_JWT_JWKS_REFETCH_SECS".into(), secs.to_string()));
    }
    env
}

fn token_spec(name: &str, key: &str, alg: &str) -> Value {
    json!({"name": name, "key": key, "alg": alg})
}

fn with(mut spec: Value, field: &str, value: Value) -> Value {
    spec[field] = value;
    spec
}

// ---- a remote issuer -------------------------------------------------------

#[test]
fn independently_signed_tokens_are_accepted_and_every_refusal_leaves_nothing_queued() {
    let now = now_secs();
    let made = python(&json!({
        "mode": "make", "now": now, "issuer": ISSUER, "audience": AUDIENCE,
        "keys": [
            {"name": "rsa", "type": "RSA", "kid": "rsa-1"},
            {"name": "ec", "type": "EC", "kid": "ec-1"},
            {"name": "ec384", "type": "EC384", "kid": "ec384-1"},
            {"name": "ed", "type": "Ed25519", "kid": "ed-1"},
        ],
        "tokens": [
            token_spec("rs256", "rsa", "RS256"),
            token_spec("rs512", "rsa", "RS512"),
            token_spec("ps256", "rsa", "PS256"),
            token_spec("es256", "ec", "ES256"),
            token_spec("es384", "ec384", "ES384"),
            token_spec("eddsa", "ed", "EdDSA"),
            with(token_spec("scp_array", "ed", "EdDSA"), "claims",
                 json!({"scope": null, "scp": ["openid", SCOPE]})),
            with(token_spec("expired", "ed", "EdDSA"), "claims",
                 json!({"iat": now - 4000, "exp": now - 3600})),
            with(token_spec("not_yet_valid", "ed", "EdDSA"), "claims", json!({"nbf": now + 3600})),
            with(token_spec("wrong_iss", "ed", "EdDSA"), "claims",
                 json!({"iss": "https://evil.example.com/"})),
            with(token_spec("wrong_aud", "ed", "EdDSA"), "claims", json!({"aud": "api://someone-else"})),
            with(token_spec("no_exp", "ed", "EdDSA"), "claims", json!({"exp": null})),
            with(token_spec("missing_scope", "ed", "EdDSA"), "claims", json!({"scope": "openid"})),
            {"name": "alg_none", "key": "ed", "special": "alg_none"},
            {"name": "hs256_public_key", "key": "rsa", "special": "hs256_public_key"},
            with(token_spec("alg_kty_mismatch", "rsa", "RS256"), "headers", json!({"kid": "ec-1"})),
            with(token_spec("eddsa_on_rsa_key", "ed", "EdDSA"), "headers", json!({"kid": "rsa-1"})),
            with(token_spec("jku", "ed", "EdDSA"), "headers",
                 json!({"jku": "https://evil.example.com/jwks.json"})),
            with(token_spec("x5u", "ed", "EdDSA"), "headers",
                 json!({"x5u": "https://evil.example.com/cert.pem"})),
            with(token_spec("jwk", "ed", "EdDSA"), "headers",
                 json!({"jwk": {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}})),
            with(token_spec("oversized", "ed", "EdDSA"), "claims", json!({"pad": "x".repeat(9000)})),
            with(token_spec("unknown_kid", "ed", "EdDSA"), "headers", json!({"kid": "ed-rotated"})),
            // ID tokens are not access tokens (Cognito marks them, OIDC
            // ones bind themselves to an access token).
            with(token_spec("cognito_id_token", "ed", "EdDSA"), "claims", json!({"token_use": "id"})),
            with(token_spec("oidc_id_token", "ed", "EdDSA"), "claims",
                 json!({"at_hash": "x4Rn2Mh9P6qZbF1tLk0A3w", "nonce": "n-0S6_WzA2Mj"})),
            with(token_spec("logout_token", "ed", "EdDSA"), "headers", json!({"typ": "logout+jwt"})),
            with(token_spec("cognito_access_token", "ed", "EdDSA"), "claims", json!({"token_use": "access"})),
            with(token_spec("rfc9068_access_token", "ed", "EdDSA"), "headers", json!({"typ": "at+jwt"})),
        ],
    }));
    let token = |name: &str| made["tokens"][name].as_str().expect(name).to_owned();
    let public = &made["jwks"];
    let jwks = JwksServer::start(&jwks(&[
        &public["rsa"],
        &public["ec"],
        &public["ec384"],
        &public["ed"],
    ]));
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = dir.path().join("spool");
    let server = LocalServer::start(&remote_env(&jwks, &spool, None));
    assert_eq!(jwks.gets(), 1, "the JWKS is fetched during start-up");

    for name in [
        "rs256",
        "rs512",
        "ps256",
        "es256",
        "es384",
        "eddsa",
        "scp_array",
        "cognito_access_token",
        "rfc9068_access_token",
    ] {
        assert_queued(&push_with(&server, &token(name), &[]), &spool, name);
    }
    // A JWT and Redox's verification-token header are each checked; both pass.
    assert_queued(
        &push_with(&server, &token("eddsa"), &[("verification-token", TOKEN)]),
        &spool,
        "jwt and token header",
    );
    let accepted = spooled(&spool).len();
    assert_eq!(accepted, 10);

    for name in [
        "expired",
        "not_yet_valid",
        "wrong_iss",
        "wrong_aud",
        "no_exp",
        "missing_scope",
        "alg_none",
        "hs256_public_key",
        "alg_kty_mismatch",
        "eddsa_on_rsa_key",
        "jku",
        "x5u",
        "jwk",
        "oversized",
        "unknown_kid",
        "cognito_id_token",
        "oidc_id_token",
        "logout_token",
    ] {
        assert_invalid_token(&push_with(&server, &token(name), &[]), name);
        assert_eq!(spooled(&spool).len(), accepted, "{name} queued something");
    }
    assert!(token("oversized").len() > 8 * 1024);
    // A good JWT does not carry a wrong verification-token header through.
    let answer = push_with(&server, &token("eddsa"), &[("verification-token", "wrong")]);
    assert_eq!(answer.status, 401, "{}", answer.text());
    // The verification token as Bearer is still the token method.
    let answer = push_with(&server, TOKEN, &[("verification-token", TOKEN)]);
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(spooled(&spool).len(), accepted + 1);

    // Many requests, one fetch: the unknown kid came within the minute.
    assert_eq!(jwks.gets(), 1);
}

#[test]
fn the_jwks_is_fetched_once_for_many_requests_and_again_after_a_key_rotation() {
    let now = now_secs();
    let made = python(&json!({
        "mode": "make", "now": now, "issuer": ISSUER, "audience": AUDIENCE,
        "keys": [
            {"name": "old", "type": "Ed25519", "kid": "2026-01"},
            {"name": "new", "type": "RSA", "kid": "2026-02"},
        ],
        "tokens": [
            token_spec("old", "old", "EdDSA"),
            token_spec("new", "new", "RS256"),
            with(token_spec("bogus", "new", "RS256"), "headers", json!({"kid": "2026-03"})),
        ],
    }));
    let token = |name: &str| made["tokens"][name].as_str().expect(name).to_owned();
    let jwks = JwksServer::start(&jwks(&[&made["jwks"]["old"]]));
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = dir.path().join("spool");
    let server = LocalServer::start(&remote_env(&jwks, &spool, Some(1)));

    for i in 0..20 {
        assert_queued(
            &push_with(&server, &token("old"), &[]),
            &spool,
            &format!("push {i}"),
        );
    }
    assert_eq!(jwks.gets(), 1, "20 pushes, one fetch");

    // The provider rotates: the new kid is unknown to the cache, so the
    // destination re-fetches (at most once per REDOX_JWT_JWKS_REFETCH_SECS).
    jwks.publish(&jwks_doc_of(&made, &["new"]));
    thread::sleep(Duration::from_millis(1200));
    assert_queued(
        &push_with(&server, &token("new"), &[]),
        &spool,
        "first push after rotation",
    );
    assert_eq!(jwks.gets(), 2);
    for i in 0..5 {
        assert_queued(
            &push_with(&server, &token("new"), &[]),
            &spool,
            &format!("rotated {i}"),
        );
    }
    // A kid nobody published, right after a fetch: refused, and no new fetch.
    assert_invalid_token(&push_with(&server, &token("bogus"), &[]), "unknown kid");
    assert_eq!(jwks.gets(), 2, "unknown kids are rate-limited");
    // The withdrawn key no longer verifies.
    assert_invalid_token(&push_with(&server, &token("old"), &[]), "withdrawn key");
    assert_eq!(spooled(&spool).len(), 26);
}

#[test]
fn an_unreachable_jwks_is_an_outage_answered_503_while_tokens_still_work() {
    use base64::Engine as _;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = dir.path().join("spool");
    let closed = support::free_port();
    let mut env = vec![
        ("REDOX_SPOOL_DIR".to_string(), spool.display().to_string()),
        ("REDOX_VERIFICATION_TOKEN".into(), TOKEN.into()),
        (
            "REDOX_JWT_JWKS_URL".into(),
            format!("http://127.0.0.1:{closed}/jwks.json"),
        ),
        ("REDOX_JWT_ISSUER".into(), ISSUER.into()),
        ("REDOX_JWT_AUDIENCE".into(), AUDIENCE.into()),
    ];
    env.push(("REDOX_AUTH_METHODS".into(), "token,jwt".into()));
    let server = LocalServer::start(&env);
    let jwt = format!(
        "{}.{}.c2ln",
        b64(json!({"alg": "RS256", "kid": "k"})),
        b64(json!({"iss": ISSUER, "aud": AUDIENCE, "exp": now_secs() + 300}))
    );
    let answer = push_with(&server, &jwt, &[]);
    assert_eq!(answer.status, 503, "{}", answer.text());
    assert_eq!(answer.json()["error"], "auth_unavailable");
    assert!(answer.header("retry-after").is_some());
    assert!(spooled(&spool).is_empty());
    let answer = push_with(&server, TOKEN, &[("verification-token", TOKEN)]);
    assert_eq!(answer.status, 200, "{}", answer.text());
}

fn jwks_doc_of(made: &Value, names: &[&str]) -> Value {
    let keys: Vec<&Value> = names.iter().map(|n| &made["jwks"][*n]).collect();
    jwks(&keys)
}

// ---- the built-in issuer ---------------------------------------------------

const CLIENT_ID: &str = "redox";
const CLIENT_SECRET: &str = "k9P2-vQ7+xR4/zT8mW1s";
const OWN_ISSUER: &str = "http://localhost";

struct Curl {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Curl {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `curl -i` against the local server; the answer's status, headers and JSON.
fn curl(port: u16, path: &str, args: &[&str]) -> Curl {
    let output = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "30"])
        .args(args)
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("curl is installed");
    assert!(
        output.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer = support::parse_answer(&output.stdout);
    Curl {
        status: answer.status,
        body: answer.json(),
        headers: answer.headers,
    }
}

fn assert_oauth_error(answer: &Curl, status: u16, error: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["error"], error);
    assert!(answer.body["error_description"].is_string());
    assert_eq!(answer.header("cache-control"), Some("no-store"));
}

#[test]
fn the_builtin_token_endpoint_issues_tokens_that_curl_fetches_and_pushes_use() {
    let made = python(&json!({
        "mode": "make", "now": now_secs(), "issuer": OWN_ISSUER, "audience": OWN_ISSUER,
        "keys": [
            {"name": "signing", "type": "EC", "kid": "own-2026-02"},
            {"name": "previous", "type": "Ed25519", "kid": "own-2026-01"},
            {"name": "stranger", "type": "EC", "kid": "own-2026-02"},
        ],
        "tokens": [
            // A token "from us", under our kid, signed by a key that is not ours.
            token_spec("forged", "stranger", "ES256"),
        ],
    }));
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = dir.path().join("spool");
    let secret_file = dir.path().join("material.json");
    std::fs::write(
        &secret_file,
        json!({
            "verification_tokens": [TOKEN],
            "oauth_clients": [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}],
            "oauth_signing_keys": [
                {"kid": "own-2026-02", "private_key_pem": made["private_pem"]["signing"]},
                {"kid": "own-2026-01", "private_key_pem": made["private_pem"]["previous"]},
            ],
        })
        .to_string(),
    )
    .expect("write material");
    let server = LocalServer::start(&[
        ("REDOX_SPOOL_DIR".into(), spool.display().to_string()),
        (
            "REDOX_SECRET_FILE".into(),
            secret_file.display().to_string(),
        ),
        ("REDOX_OAUTH_ISSUER".into(), OWN_ISSUER.into()),
    ]);
    let port = server.port;
    let grant = "grant_type=client_credentials";

    // HTTP Basic, as `curl -u` sends it (not form-encoded first).
    let basic = curl(
        port,
        "/oauth2/token",
        &["-u", &format!("{CLIENT_ID}:{CLIENT_SECRET}"), "-d", grant],
    );
    assert_eq!(basic.status, 200, "{}", basic.body);
    assert_eq!(basic.body["token_type"], "Bearer");
    assert_eq!(basic.body["expires_in"], 300);
    assert_eq!(basic.header("cache-control"), Some("no-store"));
    assert_eq!(basic.header("pragma"), Some("no-cache"));
    let from_basic = basic.body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();

    // Form fields.
    let form = curl(
        port,
        "/oauth2/token",
        &[
            "--data-urlencode",
            grant,
            "--data-urlencode",
            &format!("client_id={CLIENT_ID}"),
            "--data-urlencode",
            &format!("client_secret={CLIENT_SECRET}"),
        ],
    );
    assert_eq!(form.status, 200, "{}", form.body);
    let from_form = form.body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();

    // The published keys verify the tokens in an independent library too.
    let published = http_request(port, "GET", "/.well-known/jwks.json", &[], b"");
    assert_eq!(published.status, 200);
    let published = published.json();
    assert_eq!(published["keys"].as_array().map(Vec::len), Some(2));
    assert!(
        !published.to_string().contains("\"d\""),
        "no private key material"
    );
    let verified = python(&json!({
        "mode": "verify", "token": from_basic, "jwks": published,
        "issuer": OWN_ISSUER, "audience": OWN_ISSUER,
    }));
    assert_eq!(verified["claims"]["client_id"], CLIENT_ID, "{verified}");
    assert_eq!(
        verified["header"]["kid"], "own-2026-02",
        "the first key signs"
    );
    assert_eq!(verified["header"]["alg"], "ES256");

    // Redox pushes with the token it was issued.
    for access_token in [&from_basic, &from_form] {
        assert_queued(
            &push_with(&server, access_token, &[]),
            &spool,
            "push with an issued token",
        );
    }
    let queued = spooled(&spool).len();
    assert_eq!(queued, 2);

    // Refusals, as RFC 6749 5.2 says.
    let wrong_secret = curl(
        port,
        "/oauth2/token",
        &[
            "-u",
            &format!("{CLIENT_ID}:wrong-secret-value"),
            "-d",
            grant,
        ],
    );
    assert_oauth_error(&wrong_secret, 401, "invalid_client");
    assert_eq!(
        wrong_secret.header("www-authenticate"),
        Some(r#"Basic realm="redox-destination""#)
    );
    let unknown_client = curl(
        port,
        "/oauth2/token",
        &["-u", &format!("someone:{CLIENT_SECRET}"), "-d", grant],
    );
    assert_oauth_error(&unknown_client, 401, "invalid_client");
    let no_client = curl(port, "/oauth2/token", &["-d", grant]);
    assert_oauth_error(&no_client, 401, "invalid_client");
    assert!(no_client.header("www-authenticate").is_some());
    let wrong_grant = curl(
        port,
        "/oauth2/token",
        &[
            "-u",
            &format!("{CLIENT_ID}:{CLIENT_SECRET}"),
            "-d",
            "grant_type=password",
        ],
    );
    assert_oauth_error(&wrong_grant, 400, "unsupported_grant_type");
    let no_grant = curl(
        port,
        "/oauth2/token",
        &["-u", &format!("{CLIENT_ID}:{CLIENT_SECRET}"), "-d", "x=1"],
    );
    assert_oauth_error(&no_grant, 400, "invalid_request");
    // Redox's OAuth client may send JSON (its contentType setting): a JSON
    // object of strings is read like the form; anything else is malformed.
    let json_body = |body: &str| {
        curl(
            port,
            "/oauth2/token",
            &[
                "-u",
                &format!("{CLIENT_ID}:{CLIENT_SECRET}"),
                "-H",
                "content-type: application/json",
                "-d",
                body,
            ],
        )
    };
    let as_json = json_body(r#"{"grant_type":"client_credentials"}"#);
    assert_eq!(as_json.status, 200, "{}", as_json.body);
    let not_an_object = json_body(r#"["grant_type", "client_credentials"]"#);
    assert_oauth_error(&not_an_object, 400, "invalid_request");

    // A token claiming to be ours but signed by another key is refused.
    assert_invalid_token(
        &push_with(
            &server,
            made["tokens"]["forged"].as_str().expect("forged"),
            &[],
        ),
        "forged",
    );
    assert_eq!(spooled(&spool).len(), queued);
}
