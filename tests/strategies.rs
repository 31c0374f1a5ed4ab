//! Redox's SMART Backend and JWT Bearer strategies, and its OAuth 2.0
//! client's settings, against this function alone (issue 22), end to end:
//! the release binary serving locally, independent clients
//! (`tests/fixtures/jwt/smart_client.py`: Authlib's `private_key_jwt` for
//! what a real SMART client sends, PyJWT or hand-made JWS for what none
//! should; `make_tokens.py`: PyJWT for JWT Bearer tokens), a client's
//! `jwks_url` served on loopback, the auth material in a file or in
//! Secrets Manager (moto), and pushes checked in the spool.
//!
//! Needs `.venv` with Authlib and PyJWT (`make venv`) and
//! `cargo build --release`.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use support::jwt::{JwksServer, python};
use support::{ChildGuard, free_port, repo_root, wait_for_port};

const TOKEN: &str = "rdx-verif-strategies-1";
const SECRET_CLIENT: &str = "redox";
const CLIENT_SECRET: &str = "6f1d9a3c8b7e40f2a5d1c9e8b3a7f604";
const INLINE_CLIENT: &str = "smart-inline";
const URL_CLIENT: &str = "smart-url";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

// ---- the release binary, the clients, the material ---------------------------

/// The release binary serving on a free loopback port.
struct Server {
    port: u16,
    _child: ChildGuard,
}

impl Server {
    fn start(env: &[(String, String)]) -> Server {
        let port = free_port();
        let mut child = Command::new(support::release_binary())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("REDOX_LISTEN", format!("127.0.0.1:{port}"))
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the release binary");
        wait_for_port(port, &mut child, "redox-destination (release)");
        Server {
            port,
            _child: ChildGuard(child),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

fn signing_key_pem() -> String {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("an Ed25519 key");
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(pkcs8.as_ref())
    )
}

fn push_body() -> String {
    std::fs::read_to_string(repo_root().join("tests/fixtures/events/patientadmin-arrival.json"))
        .expect("push fixture")
}

/// The SMART clients' keys, made by the independent client.
struct SmartKeys(Value);

impl SmartKeys {
    fn make() -> SmartKeys {
        SmartKeys(python(
            "smart_client.py",
            &json!({"mode": "keys", "keys": [
                {"name": "rsa", "type": "RSA", "kid": "inline-rsa-1"},
                {"name": "ec", "type": "EC384", "kid": "inline-ec-1"},
                {"name": "url", "type": "RSA", "kid": "url-rsa-1"},
            ]}),
        ))
    }

    fn jwk(&self, name: &str) -> &Value {
        &self.0["jwk"][name]
    }

    fn pem(&self, name: &str) -> &str {
        self.0["private_pem"][name].as_str().expect("private PEM")
    }

    fn public_pem(&self, name: &str) -> &str {
        self.0["public_pem"][name].as_str().expect("public PEM")
    }
}

/// A verification token; the client-secret client `redox` (allowed the
/// scope `redox.push`) and `plain` (no scopes); `smart-inline` with its RSA
/// and P-384 keys inline; `smart-url` with a `jwks_url`.
fn smart_material(keys: &SmartKeys, jwks_url: &str) -> Value {
    json!({
        "verification_tokens": [TOKEN],
        "oauth_clients": [
            {"client_id": SECRET_CLIENT, "client_secret": CLIENT_SECRET, "scopes": ["redox.push"]},
            {"client_id": "plain", "client_secret": CLIENT_SECRET},
            {"client_id": INLINE_CLIENT, "jwks": {"keys": [keys.jwk("rsa"), keys.jwk("ec")]},
             "scopes": ["system/*.write", "system/Patient.read"]},
            {"client_id": URL_CLIENT, "jwks_url": jwks_url},
        ],
        "oauth_signing_keys": [{"kid": "own-1", "private_key_pem": signing_key_pem()}],
    })
}

/// The built-in issuer on, its material in `dir/material.json`.
fn issuer_env(dir: &Path, material: &Value, max_failures: u32) -> Vec<(String, String)> {
    let file = support::write_file(dir, "material.json", &material.to_string());
    vec![
        ("REDOX_SECRET_FILE".into(), file.display().to_string()),
        (
            "REDOX_SPOOL_DIR".into(),
            dir.join("spool").display().to_string(),
        ),
        ("REDOX_OAUTH_ISSUER".into(), "auto".into()),
        (
            "REDOX_OAUTH_MAX_FAILURES_PER_ADDRESS".into(),
            max_failures.to_string(),
        ),
    ]
}

/// Runs token-request cases against `server`; each case's answers.
fn run_cases(server: &Server, cases: Vec<Value>) -> Value {
    let answer = python(
        "smart_client.py",
        &json!({"mode": "cases", "token_url": server.url("/oauth2/token"),
                "push_url": server.url("/"), "push_body": push_body(), "cases": cases}),
    );
    answer["results"].clone()
}

fn only<'a>(results: &'a Value, name: &str) -> &'a Value {
    let answers = results[name].as_array().expect(name);
    assert_eq!(answers.len(), 1, "{name}: {answers:?}");
    &answers[0]
}

/// The spooled message a push answer names must have come in by `jwt`.
fn assert_queued_by_jwt(spool: &Path, push: &Value, what: &str) {
    assert_eq!(push["status"], 200, "{what}: {push}");
    let id = push["body"]["message_id"].as_str().expect("message_id");
    let stored: Value = serde_json::from_slice(
        &std::fs::read(spool.join(format!("{id}.json"))).expect("spooled message"),
    )
    .expect("spool JSON");
    assert_eq!(stored["attributes"]["AuthMethod"], "jwt", "{what}");
}

fn spooled(spool: &Path) -> usize {
    std::fs::read_dir(spool).map_or(0, |entries| entries.count())
}

fn assertion_case(name: &str, keys: &SmartKeys, key: &str, alg: &str, kid: &str) -> Value {
    json!({"name": name, "how": "assertion", "client_id": INLINE_CLIENT,
           "key_pem": keys.pem(key), "alg": alg, "kid": kid})
}

fn with(mut case: Value, changes: Value) -> Value {
    for (name, value) in changes.as_object().expect("changes") {
        case[name] = value.clone();
    }
    case
}

// ---- SMART Backend Services ----------------------------------------------------

#[test]
fn authlib_gets_tokens_with_rs384_and_es384_from_inline_keys_and_a_jwks_url_and_pushes_with_them() {
    let keys = SmartKeys::make();
    let jwks = JwksServer::start(&json!({"keys": [keys.jwk("url")]}));
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = dir.path().join("spool");
    let server = Server::start(&issuer_env(
        dir.path(),
        &smart_material(&keys, &jwks.url()),
        10,
    ));
    let authlib = |name: &str, client: &str, key: &str, alg: &str, kid: &str| {
        json!({"name": name, "how": "authlib", "client_id": client, "key_pem": keys.pem(key),
               "alg": alg, "kid": kid, "push": true})
    };
    let results = run_cases(
        &server,
        vec![
            authlib("rs384", INLINE_CLIENT, "rsa", "RS384", "inline-rsa-1"),
            with(
                authlib("es384", INLINE_CLIENT, "ec", "ES384", "inline-ec-1"),
                json!({"scope": "system/*.write system/Patient.read"}),
            ),
        ],
    );
    // Inline keys: the client's jwks_url neighbour was never fetched.
    assert_eq!(
        jwks.gets(),
        0,
        "a jwks_url is fetched only when its client asks"
    );
    for name in ["rs384", "es384"] {
        let answer = only(&results, name);
        assert_eq!(answer["status"], 200, "{name}: {answer}");
        assert_eq!(answer["body"]["token_type"], "Bearer");
        assert_queued_by_jwt(&spool, &answer["push"], name);
    }
    assert_eq!(
        only(&results, "es384")["body"]["scope"],
        "system/*.write system/Patient.read"
    );
    assert!(only(&results, "rs384")["body"].get("scope").is_none());

    let results = run_cases(
        &server,
        vec![
            authlib("url_rs384", URL_CLIENT, "url", "RS384", "url-rsa-1"),
            // PyJWT, with the registered URL as jku.
            json!({"name": "url_jku", "how": "assertion", "client_id": URL_CLIENT,
                   "key_pem": keys.pem("url"), "alg": "RS384", "kid": "url-rsa-1",
                   "headers": {"jku": jwks.url()}, "push": true}),
        ],
    );
    for name in ["url_rs384", "url_jku"] {
        let answer = only(&results, name);
        assert_eq!(answer["status"], 200, "{name}: {answer}");
        assert_queued_by_jwt(&spool, &answer["push"], name);
    }
    assert_eq!(jwks.gets(), 1, "the jwks_url is fetched once, then cached");
    assert_eq!(spooled(&spool), 4);
}

#[test]
fn every_refused_assertion_is_invalid_client() {
    let keys = SmartKeys::make();
    let jwks = JwksServer::start(&json!({"keys": [keys.jwk("url")]}));
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&issuer_env(
        dir.path(),
        &smart_material(&keys, &jwks.url()),
        1000,
    ));
    let now = now_secs();
    let rs = |name: &str| assertion_case(name, &keys, "rsa", "RS384", "inline-rsa-1");
    let cases = vec![
        // Controls: the same assertions, untampered, get tokens.
        rs("control_inline"),
        assertion_case("control_es384", &keys, "ec", "ES384", "inline-ec-1"),
        with(
            rs("wrong_aud"),
            json!({"claims": {"aud": "https://elsewhere.example.com/oauth2/token"}}),
        ),
        with(
            rs("aud_is_the_base_url"),
            json!({"claims": {"aud": server.url("")}}),
        ),
        with(
            rs("expired"),
            json!({"claims": {"iat": now - 900, "exp": now - 600}}),
        ),
        with(rs("far_future_exp"), json!({"claims": {"exp": now + 3600}})),
        with(rs("no_jti"), json!({"claims": {"jti": null}})),
        with(
            rs("sub_not_the_client"),
            json!({"claims": {"sub": "someone"}}),
        ),
        with(rs("unknown_kid"), json!({"kid": "inline-rsa-9"})),
        // Another key's signature under the client's kid.
        with(
            rs("signed_by_another_key"),
            json!({"key_pem": keys.pem("url")}),
        ),
        with(
            rs("jku_on_an_inline_client"),
            json!({"headers": {"jku": jwks.url()}}),
        ),
        json!({"name": "jku_not_registered", "how": "assertion", "client_id": URL_CLIENT,
               "key_pem": keys.pem("url"), "alg": "RS384", "kid": "url-rsa-1",
               "headers": {"jku": "http://127.0.0.1:1/evil-jwks.json"}}),
        with(rs("alg_none"), json!({"special": "alg_none"})),
        with(
            rs("hs384_with_the_public_key"),
            json!({"special": "hs384_public_key", "public_pem": keys.public_pem("rsa")}),
        ),
        // Signed by the SMART client's key, naming the client-secret client.
        with(
            rs("secret_client_sends_an_assertion"),
            json!({"client_id": SECRET_CLIENT}),
        ),
        // The SMART client presenting a secret instead, or an empty one.
        json!({"name": "assertion_client_sends_a_secret", "how": "form",
               "fields": {"grant_type": "client_credentials"},
               "basic": [INLINE_CLIENT, CLIENT_SECRET]}),
        json!({"name": "assertion_client_sends_an_empty_secret", "how": "form",
               "fields": {"grant_type": "client_credentials", "client_id": INLINE_CLIENT,
                          "client_secret": ""}}),
        // A good assertion under another assertion type.
        with(
            rs("saml_assertion_type"),
            json!({"fields": {"client_assertion_type":
                              "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"}}),
        ),
        // Authlib, twice with one fixed jti: the second is a replay.
        json!({"name": "replayed_jti", "how": "authlib", "client_id": INLINE_CLIENT,
               "key_pem": keys.pem("rsa"), "alg": "RS384", "kid": "inline-rsa-1",
               "claims": {"jti": "fixed-jti-1"}, "repeat": 2}),
        // PyJWT, the same assertion bytes twice.
        with(
            rs("replayed_assertion"),
            json!({"claims": {"jti": "fixed-jti-2"}, "repeat": 2}),
        ),
    ];
    let results = run_cases(&server, cases);
    for name in ["control_inline", "control_es384"] {
        assert_eq!(only(&results, name)["status"], 200, "{name}: {results}");
    }
    for name in [
        "wrong_aud",
        "aud_is_the_base_url",
        "expired",
        "far_future_exp",
        "no_jti",
        "sub_not_the_client",
        "unknown_kid",
        "signed_by_another_key",
        "jku_on_an_inline_client",
        "jku_not_registered",
        "alg_none",
        "hs384_with_the_public_key",
        "secret_client_sends_an_assertion",
        "assertion_client_sends_a_secret",
        "assertion_client_sends_an_empty_secret",
        "saml_assertion_type",
    ] {
        let answer = only(&results, name);
        assert_eq!(answer["status"], 401, "{name}: {answer}");
        assert_eq!(answer["body"]["error"], "invalid_client", "{name}");
        assert_eq!(
            answer["body"]["error_description"], "Client authentication failed.",
            "{name}: the reason is logged, never returned"
        );
    }
    let replayed = results["replayed_jti"].as_array().expect("two answers");
    assert_eq!(replayed[0]["status"], 200, "{replayed:?}");
    assert_eq!(
        replayed[1]["body"]["error"], "invalid_client",
        "{replayed:?}"
    );
    let replayed = results["replayed_assertion"]
        .as_array()
        .expect("two answers");
    assert_eq!(replayed[0]["status"], 200, "{replayed:?}");
    assert_eq!(replayed[1]["status"], 401, "{replayed:?}");
    assert_eq!(
        jwks.gets(),
        1,
        "a jku is never fetched; the registered URL once"
    );
}

#[test]
fn an_assertion_next_to_a_secret_is_malformed() {
    let keys = SmartKeys::make();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&issuer_env(
        dir.path(),
        &smart_material(&keys, "https://keys.example.com/jwks.json"),
        1000,
    ));
    let good = assertion_case("good", &keys, "rsa", "RS384", "inline-rsa-1");
    let results = run_cases(
        &server,
        vec![
            with(
                good.clone(),
                json!({"name": "with_basic", "basic": [SECRET_CLIENT, CLIENT_SECRET]}),
            ),
            with(
                good.clone(),
                json!({"name": "with_body_secret", "fields": {"client_secret": CLIENT_SECRET}}),
            ),
            json!({"name": "type_without_assertion", "how": "form",
                   "fields": {"grant_type": "client_credentials",
                              "client_assertion_type": ASSERTION_TYPE}}),
            good,
        ],
    );
    for name in ["with_basic", "with_body_secret", "type_without_assertion"] {
        let answer = only(&results, name);
        assert_eq!(answer["status"], 400, "{name}: {answer}");
        assert_eq!(answer["body"]["error"], "invalid_request", "{name}");
    }
    assert_eq!(only(&results, "good")["status"], 200, "{results}");
}

#[test]
fn failed_assertions_are_counted_by_the_throttle_like_wrong_secrets() {
    let keys = SmartKeys::make();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&issuer_env(
        dir.path(),
        &smart_material(&keys, "https://keys.example.com/jwks.json"),
        2,
    ));
    let good = assertion_case("good", &keys, "rsa", "RS384", "inline-rsa-1");
    let results = run_cases(
        &server,
        vec![
            // A success costs nothing.
            with(good.clone(), json!({"name": "first"})),
            with(
                good.clone(),
                json!({"name": "unknown_kid", "kid": "inline-rsa-9"}),
            ),
            with(
                good.clone(),
                json!({"name": "wrong_aud", "claims": {"aud": "https://x/oauth2/token"}}),
            ),
            // Two failures from this address: even a good assertion is now
            // refused unchecked.
            with(good, json!({"name": "good_after"})),
        ],
    );
    assert_eq!(only(&results, "first")["status"], 200, "{results}");
    for name in ["unknown_kid", "wrong_aud"] {
        assert_eq!(only(&results, name)["status"], 401, "{name}: {results}");
    }
    let after = only(&results, "good_after");
    assert_eq!(after["status"], 429, "{after}");
    assert_eq!(after["body"]["error"], "slow_down");
}

// ---- Redox's OAuth 2.0 client settings -----------------------------------------

#[test]
fn every_redox_oauth_setting_combination_gets_the_documented_answer() {
    let keys = SmartKeys::make();
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = dir.path().join("spool");
    let server = Server::start(&issuer_env(
        dir.path(),
        &smart_material(&keys, "https://keys.example.com/jwks.json"),
        1000,
    ));
    let mut cases = Vec::new();
    let mut expected = Vec::new();
    for content_type in ["form", "json"] {
        for basic in [true, false] {
            for extras in [false, true] {
                for (client, scope, status) in [
                    (SECRET_CLIENT, None, 200),
                    (SECRET_CLIENT, Some("redox.push"), 200),
                    ("plain", None, 200),
                    // A client without `scopes` may ask for none.
                    ("plain", Some("redox.push"), 400),
                    // Only configured scopes, exactly.
                    (SECRET_CLIENT, Some("redox.*"), 400),
                ] {
                    let name = format!(
                        "{content_type}-{}-{}-{client}-{}",
                        if basic { "basic" } else { "body" },
                        if extras { "extras" } else { "plain" },
                        scope.unwrap_or("no-scope")
                    );
                    let mut fields = json!({"grant_type": "client_credentials"});
                    if !basic {
                        fields["client_id"] = client.into();
                        fields["client_secret"] = CLIENT_SECRET.into();
                    }
                    if extras {
                        // Redox's audience, resource and custom field: ignored.
                        fields["audience"] = "https://destination.example.com".into();
                        fields["resource"] = server.url("/").into();
                        fields["tenant"] = "acme".into();
                    }
                    if let Some(scope) = scope {
                        fields["scope"] = scope.into();
                    }
                    let mut case = json!({"name": name, "how": "form", "fields": fields,
                                          "content_type": content_type, "push": true});
                    if basic {
                        case["basic"] = json!([client, CLIENT_SECRET]);
                    }
                    cases.push(case);
                    expected.push((name, scope, status));
                }
            }
        }
    }
    let results = run_cases(&server, cases);
    for (name, scope, status) in expected {
        let answer = only(&results, &name);
        assert_eq!(answer["status"], status, "{name}: {answer}");
        if status == 200 {
            assert_eq!(answer["body"]["expires_in"], 300, "{name}");
            assert_eq!(
                answer["body"].get("scope").and_then(Value::as_str),
                scope,
                "{name}"
            );
            assert_queued_by_jwt(&spool, &answer["push"], &name);
        } else {
            assert_eq!(answer["body"]["error"], "invalid_scope", "{name}");
        }
    }
    // Arrays, numbers and repeated names in a JSON body are malformed.
    let results = run_cases(
        &server,
        vec![
            json!({"name": "array", "how": "form", "content_type": "json",
                    "fields": {"grant_type": "client_credentials", "client_id": "plain",
                               "client_secret": CLIENT_SECRET, "scope": ["redox.push"]}}),
        ],
    );
    assert_eq!(only(&results, "array")["status"], 400, "{results}");
}

// ---- JWT Bearer with the keys inline -------------------------------------------

const JB_ISSUER: &str = "https://redox.example.com/jwt-bearer";
const JB_AUDIENCE: &str = "https://destination.example.com";

/// Keys A (RSA) and B (P-384) and a JWT Bearer token signed by each,
/// made with PyJWT.
fn jwt_bearer_tokens() -> Value {
    python(
        "make_tokens.py",
        &json!({"mode": "make", "now": now_secs(), "issuer": JB_ISSUER, "audience": JB_AUDIENCE,
                "keys": [{"name": "a", "type": "RSA", "kid": "jb-a"},
                         {"name": "b", "type": "EC384", "kid": "jb-b"}],
                "tokens": [{"name": "a", "key": "a", "alg": "RS384"},
                           {"name": "b", "key": "b", "alg": "ES384"},
                           {"name": "a_wrong_aud", "key": "a", "alg": "RS384",
                            "claims": {"aud": "https://other.example.com"}}]}),
    )
}

fn jwt_bearer_material(made: &Value, keys: &[&str]) -> Value {
    let jwks: Vec<&Value> = keys.iter().map(|k| &made["jwks"][*k]).collect();
    json!({
        "verification_tokens": [TOKEN],
        "jwt_issuers": [{"issuer": JB_ISSUER, "audiences": [JB_AUDIENCE],
                         "required_scopes": ["redox.push"], "jwks": {"keys": jwks}}],
    })
}

fn push_with(server: &Server, bearer: &str) -> support::HttpAnswer {
    support::http_request(
        server.port,
        "POST",
        "/",
        &[
            ("authorization", &format!("Bearer {bearer}")),
            ("content-type", "application/json"),
        ],
        push_body().as_bytes(),
    )
}

fn token_of<'a>(made: &'a Value, name: &str) -> &'a str {
    made["tokens"][name].as_str().expect(name)
}

fn jwt_bearer_env(spool: &Path) -> Vec<(String, String)> {
    vec![
        ("REDOX_SPOOL_DIR".into(), spool.display().to_string()),
        // A failing credential may re-fetch the material once a second.
        ("REDOX_SECRET_REFETCH_SECS".into(), "1".into()),
    ]
}

#[test]
fn a_jwt_bearer_key_inline_in_the_secret_file_works_until_it_is_removed() {
    let made = jwt_bearer_tokens();
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = dir.path().join("spool");
    let file = support::write_file(
        dir.path(),
        "material.json",
        &jwt_bearer_material(&made, &["a"]).to_string(),
    );
    let mut env = jwt_bearer_env(&spool);
    env.push(("REDOX_SECRET_FILE".into(), file.display().to_string()));
    let server = Server::start(&env);

    let answer = push_with(&server, token_of(&made, "a"));
    assert_eq!(answer.status, 200, "{}", answer.text());
    let wrong_aud = push_with(&server, token_of(&made, "a_wrong_aud"));
    assert_eq!(wrong_aud.status, 401, "{}", wrong_aud.text());

    // Rotation: B added, A removed, in the file.
    std::fs::write(&file, jwt_bearer_material(&made, &["b"]).to_string()).expect("rewrite");
    std::thread::sleep(Duration::from_millis(1100));
    // B's unknown kid re-fetches the material: accepted at once.
    let answer = push_with(&server, token_of(&made, "b"));
    assert_eq!(answer.status, 200, "{}", answer.text());
    // A is no longer in the material: refused, now and a moment later.
    for _ in 0..2 {
        let answer = push_with(&server, token_of(&made, "a"));
        assert_eq!(answer.status, 401, "{}", answer.text());
        assert_eq!(
            answer.header("www-authenticate"),
            Some(r#"Bearer error="invalid_token""#)
        );
        std::thread::sleep(Duration::from_millis(1100));
    }
    assert_eq!(spooled(&spool), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwt_bearer_key_removed_from_the_secrets_manager_secret_is_refused_after_the_next_rotation()
 {
    let made = jwt_bearer_tokens();
    let world = support::aws::World::start().await;
    let secret = world
        .secret(
            "redox/jwt-bearer",
            &jwt_bearer_material(&made, &["a"]).to_string(),
        )
        .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = dir.path().join("spool");
    let mut env = jwt_bearer_env(&spool);
    env.push(("REDOX_SECRET_ID".into(), secret.clone()));
    // A copy past one second is refreshed behind the next request.
    env.push(("REDOX_SECRET_TTL_SECS".into(), "1".into()));
    env.extend(world.moto.aws_env());
    let server = Server::start(&env);
    let put = |keys: &'static [&'static str]| {
        let value = jwt_bearer_material(&made, keys).to_string();
        let secrets = world.secrets.clone();
        let id = secret.clone();
        async move {
            secrets
                .put_secret_value()
                .secret_id(id)
                .secret_string(value)
                .send()
                .await
                .expect("put secret value");
        }
    };

    assert_eq!(push_with(&server, token_of(&made, "a")).status, 200);
    // B replaces A: AWSPREVIOUS (with A) still counts until the next
    // rotation, as it does for tokens and client secrets.
    put(&["b"]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let answer = push_with(&server, token_of(&made, "b"));
    assert_eq!(answer.status, 200, "{}", answer.text());
    let answer = push_with(&server, token_of(&made, "a"));
    assert_eq!(
        answer.status,
        200,
        "A is still AWSPREVIOUS: {}",
        answer.text()
    );
    // The next rotation drops A from both versions.
    put(&["b"]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Past the cache's TTL the material is fetched again; until then, A's
    // failure re-fetches it (B is known, so it does not).
    let mut refused = false;
    for _ in 0..3 {
        let answer = push_with(&server, token_of(&made, "a"));
        if answer.status == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert!(refused, "A was still accepted after the second rotation");
    assert_eq!(push_with(&server, token_of(&made, "b")).status, 200);
}
