//! The decision table of SPEC 3.2, driven through `Destination::handle` with
//! real auth material and a real spool in a temporary folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use redox_destination::BoxFuture;
use redox_destination::auth::Authenticator;
use redox_destination::auth::jwt::trust::JwtTrust;
use redox_destination::auth::material::{
    AuthMaterial, AuthMaterialSource, FileMaterial, MaterialCache, StaticMaterial,
};
use redox_destination::auth::{AuthMethod, AuthPolicy};
use redox_destination::destination::Destination;
use redox_destination::inbound::{FrontDoor, InboundRequest, Origin};
use redox_destination::response::HttpResponse;
use redox_destination::sink::spool::SpoolSink;
use redox_destination::sink::{QueuedMessage, Sink, SinkError};
use serde_json::Value;
use tempfile::TempDir;

const TOKEN: &str = "rdx-verif-7Hq2Lm9fK3mZ1xP4";
const CHALLENGE: &str = "3f8a2c1e-9b7d-4e6f-a5c4-1d2e3f4a5b6c";
const MAX_BODY_BYTES: usize = 64 * 1024;
/// 2024-03-14T15:09:26.535Z, the `EventDateTime` of the PatientAdmin fixture.
const NOW_SECS: u64 = 1_710_428_966;
const NOW_MILLIS: u64 = 535;

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(NOW_SECS) + Duration::from_millis(NOW_MILLIS)
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/events")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A sink that is always down, as SQS is during an outage.
struct UnavailableSink;

impl Sink for UnavailableSink {
    fn put<'a>(&'a self, _message: &'a QueuedMessage) -> BoxFuture<'a, Result<String, SinkError>> {
        Box::pin(async { Err(SinkError::Unavailable("the queue is down".into())) })
    }
    fn describe(&self) -> String {
        "a queue that is down".into()
    }
}

struct Harness {
    destination: Destination,
    spool: PathBuf,
    _dir: TempDir,
}

fn token_policy() -> AuthPolicy {
    AuthPolicy {
        enabled: vec![AuthMethod::Token],
        allowed_principals: Vec::new(),
        clock_skew: Duration::from_secs(300),
    }
}

fn destination_with(source: Box<dyn AuthMaterialSource>, sink: Option<Arc<dyn Sink>>) -> Harness {
    let dir = tempfile::tempdir().expect("temporary folder");
    let spool = dir.path().join("spool");
    let sink = sink.unwrap_or_else(|| Arc::new(SpoolSink::open(spool.clone()).expect("spool")));
    std::fs::create_dir_all(&spool).expect("spool folder");
    Harness {
        destination: Destination {
            auth: Authenticator {
                material: Arc::new(MaterialCache::new(vec![source], Duration::from_secs(300))),
                trust: JwtTrust::default(),
                google: None,
                policy: token_policy(),
            },
            issuer: None,
            sink,
            max_body_bytes: MAX_BODY_BYTES,
            request_timeout: Duration::from_secs(10),
        },
        spool,
        _dir: dir,
    }
}

fn destination_with_tokens(tokens: &[&str]) -> Harness {
    let material = AuthMaterial::from_token_list(&tokens.join(",")).expect("tokens");
    destination_with(Box::new(StaticMaterial::new(material, "test tokens")), None)
}

fn destination() -> Harness {
    destination_with_tokens(&[TOKEN])
}

impl Harness {
    async fn send(&self, request: InboundRequest) -> HttpResponse {
        self.destination.handle(request, now()).await
    }

    /// Everything in the spool folder, temporary files included, so a
    /// leftover half-written file counts too.
    fn spooled(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.spool)
            .expect("spool folder")
            .map(|entry| entry.expect("spool entry").path())
            .collect();
        files.sort();
        files
    }

    fn assert_nothing_spooled(&self, what: &str) {
        assert_eq!(self.spooled(), Vec::<PathBuf>::new(), "{what} was spooled");
    }

    /// The spool document of an acknowledged push, checked against its answer.
    fn spooled_message(&self, response: &HttpResponse) -> Value {
        let message_id = assert_queued(response);
        let path = self.spool.join(format!("{message_id}.json"));
        assert_eq!(self.spooled(), vec![path.clone()], "exactly one spool file");
        let doc: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("spool file")).expect("JSON");
        assert_eq!(doc["message_id"], message_id.as_str());
        doc
    }
}

fn request(method: &str, query: &str, headers: &[(&str, &str)], body: &[u8]) -> InboundRequest {
    InboundRequest {
        method: method.into(),
        raw_path: "/redox".into(),
        raw_query: query.into(),
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: Bytes::copy_from_slice(body),
        origin: Origin::new(FrontDoor::LocalServer),
    }
}

fn post(headers: &[(&str, &str)], body: &[u8]) -> InboundRequest {
    request("POST", "", headers, body)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn handshake_body(token: Option<&str>, challenge: &str) -> Vec<u8> {
    let mut doc = serde_json::json!({ "challenge": challenge });
    if let Some(token) = token {
        doc["verification-token"] = Value::String(token.into());
    }
    serde_json::to_vec(&doc).expect("JSON")
}

fn push_body() -> Vec<u8> {
    fixture("patientadmin-arrival.json")
}

fn body_of(doc: &Value) -> Vec<u8> {
    match (doc.get("body"), doc.get("body_base64")) {
        (Some(Value::String(text)), None) => text.as_bytes().to_vec(),
        (None, Some(Value::String(b64))) => BASE64.decode(b64).expect("base64 body"),
        other => panic!("spool file has no single body field: {other:?}"),
    }
}

/// Checks an error answer: its status and the `{"error","message"}` body.
fn assert_error(response: &HttpResponse, status: u16, code: &str) -> String {
    assert_eq!(response.status, status, "body: {}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_str(&response.body).expect("error body is JSON");
    let fields = body.as_object().expect("error body is an object");
    let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["error", "message"], "error body fields");
    assert_eq!(body["error"], code);
    let message = body["message"].as_str().expect("message is text");
    assert!(!message.is_empty());
    response.body.clone()
}

fn assert_unauthorized(response: &HttpResponse) -> String {
    assert_error(response, 401, "unauthorized")
}

/// Checks a 200 push answer and returns its message id.
fn assert_queued(response: &HttpResponse) -> String {
    assert_eq!(response.status, 200, "body: {}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_str(&response.body).expect("JSON");
    let fields = body.as_object().expect("object");
    let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["message_id", "status"]);
    assert_eq!(body["status"], "queued");
    let id = body["message_id"].as_str().expect("message id is text");
    assert!(!id.is_empty());
    id.to_owned()
}

fn assert_challenge_echoed(response: &HttpResponse, challenge: &str) {
    assert_eq!(response.status, 200, "body: {}", response.body);
    assert_eq!(response.body, challenge);
    assert!(
        response
            .header("content-type")
            .is_some_and(|v| v.starts_with("text/plain")),
        "content-type {:?}",
        response.header("content-type")
    );
    assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
}

// ---- the handshake -------------------------------------------------------

#[tokio::test]
async fn post_handshake_with_the_token_only_in_the_body_echoes_the_challenge() {
    let h = destination();
    let response = h
        .send(post(
            &[("content-type", "application/json")],
            &handshake_body(Some(TOKEN), CHALLENGE),
        ))
        .await;
    assert_challenge_echoed(&response, CHALLENGE);
    h.assert_nothing_spooled("a handshake");
}

#[tokio::test]
async fn post_handshake_with_body_and_header_tokens_that_agree_echoes_the_challenge() {
    let h = destination();
    let response = h
        .send(post(
            &[
                ("content-type", "application/json"),
                ("verification-token", TOKEN),
            ],
            &handshake_body(Some(TOKEN), CHALLENGE),
        ))
        .await;
    assert_challenge_echoed(&response, CHALLENGE);
    h.assert_nothing_spooled("a handshake");
}

#[tokio::test]
async fn post_handshake_with_body_and_header_tokens_that_differ_is_refused() {
    let h = destination();
    for (in_header, in_body) in [(TOKEN, "rdx-verif-other"), ("rdx-verif-other", TOKEN)] {
        let response = h
            .send(post(
                &[("verification-token", in_header)],
                &handshake_body(Some(in_body), CHALLENGE),
            ))
            .await;
        assert_unauthorized(&response);
        assert!(!response.body.contains(CHALLENGE));
    }
    h.assert_nothing_spooled("a refused handshake");
}

#[tokio::test]
async fn post_handshake_with_a_bearer_that_differs_from_its_token_is_refused() {
    // Every credential a request presents must hold (SPEC 3.3); the doc of
    // `authenticate_handshake` says all tokens present must agree.
    let h = destination();
    let response = h
        .send(post(
            &[("authorization", &bearer("rdx-verif-other"))],
            &handshake_body(Some(TOKEN), CHALLENGE),
        ))
        .await;
    assert_unauthorized(&response);
    assert!(!response.body.contains(CHALLENGE));
}

#[tokio::test]
async fn post_handshake_without_a_token_is_refused() {
    let h = destination();
    // With no `verification-token` member the body is a push without a
    // credential; with one that is not text, a handshake without a token.
    let null_token = format!(r#"{{"verification-token":null,"challenge":"{CHALLENGE}"}}"#);
    for body in [handshake_body(None, CHALLENGE), null_token.into_bytes()] {
        let response = h
            .send(post(&[("content-type", "application/json")], &body))
            .await;
        assert_unauthorized(&response);
        assert!(!response.body.contains(CHALLENGE));
    }
    h.assert_nothing_spooled("a refused request");
}

#[tokio::test]
async fn post_handshake_with_a_wrong_token_is_refused() {
    let h = destination();
    let response = h
        .send(post(
            &[("content-type", "application/json")],
            &handshake_body(Some("rdx-verif-wrong"), CHALLENGE),
        ))
        .await;
    assert_unauthorized(&response);
    assert!(!response.body.contains(CHALLENGE));
    h.assert_nothing_spooled("a refused handshake");
}

#[tokio::test]
async fn get_handshake_with_a_good_token_echoes_the_challenge() {
    let h = destination();
    let query = format!("challenge={CHALLENGE}&verification-token={TOKEN}");
    let response = h.send(request("GET", &query, &[], b"")).await;
    assert_challenge_echoed(&response, CHALLENGE);
    h.assert_nothing_spooled("a handshake");
}

#[tokio::test]
async fn get_handshake_with_a_wrong_token_is_refused() {
    let h = destination();
    let query = format!("challenge={CHALLENGE}&verification-token=rdx-verif-wrong");
    let response = h.send(request("GET", &query, &[], b"")).await;
    assert_unauthorized(&response);
    assert!(!response.body.contains(CHALLENGE));
}

#[tokio::test]
async fn get_handshake_without_a_token_is_refused() {
    let h = destination();
    let query = format!("challenge={CHALLENGE}");
    let response = h.send(request("GET", &query, &[], b"")).await;
    assert_unauthorized(&response);
    assert!(!response.body.contains(CHALLENGE));
}

#[tokio::test]
async fn get_handshake_with_query_and_header_tokens_must_agree() {
    let h = destination();
    let query = format!("challenge={CHALLENGE}&verification-token={TOKEN}");
    let agreeing = h
        .send(request(
            "GET",
            &query,
            &[("verification-token", TOKEN)],
            b"",
        ))
        .await;
    assert_challenge_echoed(&agreeing, CHALLENGE);
    let differing = h
        .send(request(
            "GET",
            &query,
            &[("verification-token", "rdx-verif-other")],
            b"",
        ))
        .await;
    assert_unauthorized(&differing);
    assert!(!differing.body.contains(CHALLENGE));
}

#[tokio::test]
async fn handshake_challenge_of_the_maximum_length_is_echoed() {
    let h = destination();
    let challenge = "a".repeat(128);
    let response = h
        .send(post(&[], &handshake_body(Some(TOKEN), &challenge)))
        .await;
    assert_challenge_echoed(&response, &challenge);
}

#[tokio::test]
async fn unsafe_handshake_challenges_are_refused_and_never_reflected() {
    let h = destination();
    let too_long = "a".repeat(129);
    for challenge in [
        "<script>alert(1)</script>",
        "<html><body>hi</body></html>",
        "x\r\nSet-Cookie: session=stolen",
        "a b",
        too_long.as_str(),
        "",
    ] {
        let response = h
            .send(post(&[], &handshake_body(Some(TOKEN), challenge)))
            .await;
        assert_error(&response, 400, "invalid_challenge");
        if !challenge.is_empty() {
            assert!(
                !response.body.contains(challenge),
                "{challenge:?} was reflected"
            );
        }
    }
    let query = format!("challenge=%3Cscript%3Ealert(1)%3C%2Fscript%3E&verification-token={TOKEN}");
    let response = h.send(request("GET", &query, &[], b"")).await;
    assert_error(&response, 400, "invalid_challenge");
    assert!(!response.body.contains("<script>"));
    h.assert_nothing_spooled("a handshake");
}

#[tokio::test]
async fn a_handshake_challenge_that_is_not_a_string_is_refused() {
    let h = destination();
    let body = format!(r#"{{"verification-token":"{TOKEN}","challenge":{{"html":"<b>"}}}}"#);
    let response = h.send(post(&[], body.as_bytes())).await;
    assert_error(&response, 400, "invalid_challenge");
    assert!(!response.body.contains("<b>"));
}

#[tokio::test]
async fn an_authenticated_push_with_a_challenge_member_is_queued_not_answered_as_a_handshake() {
    // SPEC 3.2: only an object with both `verification-token` and
    // `challenge` (and no `Meta`) is a handshake; a message that merely has
    // a `challenge` member must reach the queue.
    let body = format!(r#"{{"challenge":"{CHALLENGE}","Patient":{{"Identifiers":[]}}}}"#);
    for credentials in [
        vec![("verification-token", TOKEN.to_owned())],
        vec![("authorization", bearer(TOKEN))],
    ] {
        let h = destination();
        let headers: Vec<(&str, &str)> =
            credentials.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let response = h.send(post(&headers, body.as_bytes())).await;
        let doc = h.spooled_message(&response);
        assert_eq!(body_of(&doc), body.as_bytes());
        assert_eq!(doc["attributes"]["RedoxEnvelope"], "json-without-meta");
    }
}

#[tokio::test]
async fn both_handshake_members_next_to_meta_are_a_push() {
    let h = destination();
    let mut doc: Value = serde_json::from_slice(&push_body()).expect("fixture JSON");
    doc["verification-token"] = Value::String(TOKEN.into());
    doc["challenge"] = Value::String(CHALLENGE.into());
    let body = serde_json::to_vec(&doc).expect("JSON");
    let response = h.send(post(&[("verification-token", TOKEN)], &body)).await;
    let spooled = h.spooled_message(&response);
    assert_eq!(body_of(&spooled), body);
    assert_eq!(spooled["attributes"]["RedoxDataModel"], "PatientAdmin");
}

#[tokio::test]
async fn an_array_body_is_a_push_even_when_its_elements_line_up_as_a_handshake() {
    let h = destination();
    let body = format!(r#"[null,"{CHALLENGE}","{TOKEN}",null,null]"#);
    let response = h
        .send(post(&[("verification-token", TOKEN)], body.as_bytes()))
        .await;
    let doc = h.spooled_message(&response);
    assert_eq!(body_of(&doc), body.as_bytes());
}

// ---- pushes: which credentials pass --------------------------------------

#[tokio::test]
async fn push_with_the_verification_token_header_only_is_queued() {
    let h = destination();
    let response = h
        .send(post(&[("verification-token", TOKEN)], &push_body()))
        .await;
    let doc = h.spooled_message(&response);
    assert_eq!(body_of(&doc), push_body());
    assert_eq!(doc["attributes"]["AuthMethod"], "token");
}

#[tokio::test]
async fn push_with_a_bearer_token_only_is_queued() {
    let h = destination();
    let response = h
        .send(post(&[("authorization", &bearer(TOKEN))], &push_body()))
        .await;
    let doc = h.spooled_message(&response);
    assert_eq!(body_of(&doc), push_body());
}

#[tokio::test]
async fn bearer_scheme_name_is_case_insensitive() {
    let h = destination();
    let response = h
        .send(post(
            &[("authorization", &format!("bearer {TOKEN}"))],
            &push_body(),
        ))
        .await;
    h.spooled_message(&response);
}

#[tokio::test]
async fn push_with_header_and_bearer_tokens_that_agree_is_queued() {
    let h = destination();
    let response = h
        .send(post(
            &[
                ("verification-token", TOKEN),
                ("authorization", &bearer(TOKEN)),
            ],
            &push_body(),
        ))
        .await;
    h.spooled_message(&response);
}

#[tokio::test]
async fn bearer_and_header_tokens_that_differ_are_refused() {
    // Both configured: each is valid alone, but the two must be the same.
    let h = destination_with_tokens(&[TOKEN, "rdx-verif-next"]);
    for (header, auth) in [
        (TOKEN, "rdx-verif-next"),
        ("rdx-verif-next", TOKEN),
        (TOKEN, "rdx-verif-wrong"),
        ("rdx-verif-wrong", TOKEN),
    ] {
        let response = h
            .send(post(
                &[
                    ("verification-token", header),
                    ("authorization", &bearer(auth)),
                ],
                &push_body(),
            ))
            .await;
        assert_unauthorized(&response);
    }
    h.assert_nothing_spooled("a push with disagreeing tokens");
}

fn near_miss_tokens() -> Vec<(&'static str, String)> {
    let mut one_byte = TOKEN.as_bytes().to_vec();
    let last = one_byte.len() - 1;
    one_byte[last] ^= 0x01;
    vec![
        (
            "one byte different",
            String::from_utf8(one_byte).expect("ASCII"),
        ),
        ("upper case", TOKEN.to_uppercase()),
        ("lower case", TOKEN.to_lowercase()),
        ("a prefix of it", TOKEN[..TOKEN.len() - 1].to_owned()),
        ("its first half", TOKEN[..TOKEN.len() / 2].to_owned()),
        ("it behind a prefix", format!("x{TOKEN}")),
        ("it with a suffix", format!("{TOKEN}x")),
        ("a suffix of it", TOKEN[1..].to_owned()),
        ("empty", String::new()),
        ("leading space", format!(" {TOKEN}")),
        ("trailing space", format!("{TOKEN} ")),
        ("surrounding spaces", format!("  {TOKEN}  ")),
        ("trailing newline", format!("{TOKEN}\n")),
        ("leading tab", format!("\t{TOKEN}")),
        ("trailing NUL", format!("{TOKEN}\0")),
    ]
}

#[tokio::test]
async fn near_miss_tokens_in_the_header_are_refused_and_not_spooled() {
    let h = destination();
    for (what, token) in near_miss_tokens() {
        let response = h
            .send(post(&[("verification-token", &token)], &push_body()))
            .await;
        assert_eq!(response.status, 401, "token that is {what} was accepted");
        assert_unauthorized(&response);
    }
    h.assert_nothing_spooled("a push with a near-miss token");
}

#[tokio::test]
async fn near_miss_tokens_as_bearer_are_refused_and_not_spooled() {
    let h = destination();
    for (what, token) in near_miss_tokens() {
        let response = h
            .send(post(&[("authorization", &bearer(&token))], &push_body()))
            .await;
        assert_eq!(response.status, 401, "bearer that is {what} was accepted");
        assert_unauthorized(&response);
    }
    // A bare scheme carries an empty token.
    let response = h
        .send(post(&[("authorization", "Bearer")], &push_body()))
        .await;
    assert_unauthorized(&response);
    h.assert_nothing_spooled("a push with a near-miss bearer");
}

#[tokio::test]
async fn near_miss_tokens_in_the_handshake_are_refused() {
    let h = destination();
    for (what, token) in near_miss_tokens() {
        let response = h
            .send(post(&[], &handshake_body(Some(&token), CHALLENGE)))
            .await;
        assert_eq!(response.status, 401, "handshake token {what} was accepted");
        assert!(!response.body.contains(CHALLENGE));
    }
}

#[tokio::test]
async fn every_configured_token_is_accepted_during_rotation() {
    let tokens = ["rdx-verif-current", "rdx-verif-next", "rdx-verif-third"];
    let h = destination_with_tokens(&tokens);
    for token in tokens {
        let response = h
            .send(post(&[("verification-token", token)], &push_body()))
            .await;
        assert_queued(&response);
        let response = h
            .send(post(&[("authorization", &bearer(token))], &push_body()))
            .await;
        assert_queued(&response);
        let response = h
            .send(post(&[], &handshake_body(Some(token), CHALLENGE)))
            .await;
        assert_challenge_echoed(&response, CHALLENGE);
    }
    assert_eq!(h.spooled().len(), 2 * tokens.len());
}

#[tokio::test]
async fn a_repeated_verification_token_header_is_refused() {
    let h = destination();
    let response = h
        .send(post(
            &[("verification-token", TOKEN), ("verification-token", TOKEN)],
            &push_body(),
        ))
        .await;
    assert_unauthorized(&response);
    let response = h
        .send(post(
            &[("verification-token", TOKEN), ("verification-token", TOKEN)],
            &handshake_body(Some(TOKEN), CHALLENGE),
        ))
        .await;
    assert_unauthorized(&response);
    h.assert_nothing_spooled("a push with a repeated token header");
}

#[tokio::test]
async fn a_repeated_authorization_header_is_refused() {
    let h = destination();
    let response = h
        .send(post(
            &[
                ("authorization", &bearer(TOKEN)),
                ("authorization", &bearer(TOKEN)),
            ],
            &push_body(),
        ))
        .await;
    assert_unauthorized(&response);
    h.assert_nothing_spooled("a push with a repeated authorization header");
}

#[tokio::test]
async fn an_unknown_authorization_scheme_is_refused_even_beside_a_good_token() {
    let h = destination();
    let basic = format!("Basic {}", BASE64.encode(format!("redox:{TOKEN}")));
    let response = h
        .send(post(&[("authorization", &basic)], &push_body()))
        .await;
    assert_unauthorized(&response);
    let response = h
        .send(post(
            &[("verification-token", TOKEN), ("authorization", &basic)],
            &push_body(),
        ))
        .await;
    assert_unauthorized(&response);
    h.assert_nothing_spooled("a push with Basic auth");
}

#[tokio::test]
async fn a_push_without_any_credential_is_refused() {
    let h = destination();
    let response = h
        .send(post(&[("content-type", "application/json")], &push_body()))
        .await;
    assert_unauthorized(&response);
    h.assert_nothing_spooled("an unauthenticated push");
}

#[tokio::test]
async fn every_authentication_failure_has_the_same_body() {
    let h = destination();
    let wrong = bearer("rdx-verif-wrong");
    let other = bearer("rdx-verif-other");
    let cases: Vec<InboundRequest> = vec![
        post(&[], &push_body()),
        post(&[("verification-token", "rdx-verif-wrong")], &push_body()),
        post(&[("authorization", &wrong)], &push_body()),
        post(
            &[("verification-token", TOKEN), ("authorization", &other)],
            &push_body(),
        ),
        post(
            &[("verification-token", TOKEN), ("verification-token", TOKEN)],
            &push_body(),
        ),
        post(&[("authorization", "Basic cmVkb3g6cGFzcw==")], &push_body()),
        post(&[], &handshake_body(None, CHALLENGE)),
        post(&[], &handshake_body(Some("rdx-verif-wrong"), CHALLENGE)),
        post(
            &[("verification-token", "rdx-verif-other")],
            &handshake_body(Some(TOKEN), CHALLENGE),
        ),
        request("GET", &format!("challenge={CHALLENGE}"), &[], b""),
    ];
    let mut bodies = Vec::new();
    for req in cases {
        let response = h.send(req).await;
        bodies.push(assert_unauthorized(&response));
    }
    let first = &bodies[0];
    for body in &bodies {
        assert_eq!(body, first, "401 bodies differ by reason");
    }
}

// ---- pushes: what is queued ----------------------------------------------

#[tokio::test]
async fn a_patientadmin_arrival_is_queued_with_its_redox_attributes() {
    let h = destination();
    let body = push_body();
    let response = h
        .send(post(
            &[
                ("content-type", "application/json"),
                ("verification-token", TOKEN),
                ("authorization", &bearer(TOKEN)),
            ],
            &body,
        ))
        .await;
    let doc = h.spooled_message(&response);
    assert_eq!(
        body_of(&doc),
        body,
        "spooled body differs from the one sent"
    );
    assert_eq!(doc["received_at"], "2024-03-14T15:09:26.535Z");
    // Eleven known, ten fit: ContentType (a Data Model push is JSON) gives way.
    let expected = serde_json::json!({
        "RedoxDataModel": "PatientAdmin",
        "RedoxEventType": "Arrival",
        "RedoxLogId": "d9f5d293-7110-461e-a875-3beb089e79f3",
        "RedoxDestinationId": "af394f14-b34a-464f-8d24-895f370af4c9",
        "RedoxSourceId": "7ce6f387-c33c-417d-8682-81e83628cbd9",
        "RedoxTest": "true",
        "AuthMethod": "token",
        "RedoxFacilityCode": "RES",
        "RedoxAttemptId": "925d1617-2fe0-468c-a14c-f8c04b572c54",
        "RedoxEventDateTime": "2024-03-14T15:09:26.535Z",
    });
    assert_eq!(doc["attributes"], expected);
}

// ---- Redox's envelopes: older ids, numbers, spellings ----------------------

/// A Data Model envelope shaped as Redox's schemas describe `Meta`, with a
/// patient section; `ids` holds the id members (`Logs`, `Message`,
/// `Transmission`) this test gives it.
fn envelope(data_model: &str, event_type: &str, ids: Value) -> Vec<u8> {
    let mut meta = serde_json::json!({
        "DataModel": data_model,
        "EventType": event_type,
        "EventDateTime": "2019-05-02T14:31:07.112Z",
        "Test": false,
        "Source": {"ID": "3f1d6c0e-5b7a-4e2c-9a8d-1c2b3a4d5e6f", "Name": "Fictional EHR"},
        "Destinations": [{"ID": "b7e3a1c9-2d4f-4a6b-8c0e-9f1a2b3c4d5e", "Name": "Integration Queue"}],
        "FacilityCode": "NORTH"
    });
    for (name, value) in ids.as_object().expect("an object of id members") {
        meta[name] = value.clone();
    }
    serde_json::to_vec(&serde_json::json!({
        "Meta": meta,
        "Patient": {"Identifiers": [{"ID": "ZZ-00042", "IDType": "MR"}]}
    }))
    .expect("JSON")
}

impl Harness {
    /// Pushes `body` with a good token and returns its spooled attributes.
    async fn queued_attributes(&self, body: &[u8]) -> Value {
        let response = self
            .send(post(
                &[
                    ("content-type", "application/json"),
                    ("verification-token", TOKEN),
                ],
                body,
            ))
            .await;
        let message_id = assert_queued(&response);
        let path = self.spool.join(format!("{message_id}.json"));
        let doc: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("spool file")).expect("JSON");
        std::fs::remove_file(&path).expect("remove the spool file");
        assert_eq!(
            body_of(&doc),
            body,
            "spooled body differs from the one sent"
        );
        doc["attributes"].clone()
    }
}

#[tokio::test]
async fn an_older_envelope_without_logs_is_queued_with_its_message_id() {
    let h = destination();
    let body = envelope(
        "Clinical Summary",
        "PatientPush",
        serde_json::json!({"Message": {"ID": 4815162342u64}, "Transmission": {"ID": 2718281828u64}}),
    );
    let attributes = h.queued_attributes(&body).await;
    // The data model as sent; Message.ID in decimal under its own name, so
    // the consumer knows which id it got; no RedoxLogId, no attempt.
    assert_eq!(
        attributes,
        serde_json::json!({
            "RedoxDataModel": "Clinical Summary",
            "RedoxEventType": "PatientPush",
            "RedoxMessageId": "4815162342",
            "RedoxDestinationId": "b7e3a1c9-2d4f-4a6b-8c0e-9f1a2b3c4d5e",
            "RedoxSourceId": "3f1d6c0e-5b7a-4e2c-9a8d-1c2b3a4d5e6f",
            "RedoxTest": "false",
            "AuthMethod": "token",
            "RedoxFacilityCode": "NORTH",
            "RedoxEventDateTime": "2019-05-02T14:31:07.112Z",
            "ContentType": "application/json",
        })
    );
}

#[tokio::test]
async fn an_envelope_with_logs_and_message_is_known_by_its_log_id() {
    let h = destination();
    let body = envelope(
        "ClinicalSummary",
        "PatientPush",
        serde_json::json!({
            "Logs": [{"ID": "0c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f", "AttemptID": "5e4d3c2b-1a09-4f8e-9d7c-6b5a49382716"}],
            "Message": {"ID": 4815162342u64},
            "Transmission": {"ID": 2718281828u64}
        }),
    );
    let attributes = h.queued_attributes(&body).await;
    assert_eq!(
        attributes["RedoxLogId"],
        "0c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f"
    );
    assert_eq!(
        attributes["RedoxAttemptId"],
        "5e4d3c2b-1a09-4f8e-9d7c-6b5a49382716"
    );
    assert!(attributes.get("RedoxMessageId").is_none(), "{attributes}");
    assert_eq!(attributes.as_object().expect("object").len(), 10);
}

#[tokio::test]
async fn ids_sent_as_numbers_are_queued_in_decimal() {
    let h = destination();
    let body = envelope(
        "Results",
        "New",
        serde_json::json!({"Logs": [{"ID": 9007199254740993u64, "AttemptID": 12}]}),
    );
    let attributes = h.queued_attributes(&body).await;
    // Exact even beyond 2^53, where a float would round it.
    assert_eq!(attributes["RedoxLogId"], "9007199254740993");
    assert_eq!(attributes["RedoxAttemptId"], "12");
    let fractions = envelope(
        "Results",
        "New",
        serde_json::json!({"Logs": [{"ID": 1.5}], "Message": {"ID": -7}}),
    );
    let attributes = h.queued_attributes(&fractions).await;
    assert!(attributes.get("RedoxLogId").is_none(), "{attributes}");
    assert!(attributes.get("RedoxMessageId").is_none(), "{attributes}");
}

#[tokio::test]
async fn routing_fields_of_the_wrong_type_or_shape_are_not_attributes() {
    let h = destination();
    let mut doc: Value = serde_json::from_slice(&envelope(
        "Results",
        "New",
        serde_json::json!({"Logs": [{"ID": "log-1"}]}),
    ))
    .expect("JSON");
    doc["Meta"]["Destinations"] = serde_json::json!([{"ID": 42}]);
    doc["Meta"]["FacilityCode"] = serde_json::json!({"Code": "NORTH"});
    doc["Meta"]["EventDateTime"] = serde_json::json!("Doe, Jane");
    let attributes = h
        .queued_attributes(&serde_json::to_vec(&doc).expect("JSON"))
        .await;
    for name in [
        "RedoxDestinationId",
        "RedoxFacilityCode",
        "RedoxEventDateTime",
    ] {
        assert!(attributes.get(name).is_none(), "{name}: {attributes}");
    }
    assert_eq!(attributes["RedoxLogId"], "log-1");
}

// ---- synchronous requests: Redox's schemas, pair by pair -------------------

/// The commit of github.com/redox-contrib/models whose `schemas/` folder
/// is listed below (and which `redox::event_types` was written from).
const SCHEMA_COMMIT: &str = "4f3e2ceb3311df7a0fd6da5c9f8935f2182968b4";

/// Every file under `schemas/` at [`SCHEMA_COMMIT`].
const SCHEMA_FILES: [&str; 89] = [
    "claim/payment.json",
    "claim/paymentbatch.json",
    "claim/submission.json",
    "claim/submissionbatch.json",
    "clinicaldecisions/request.json",
    "clinicaldecisions/response.json",
    "clinicalsummary/documentget.json",
    "clinicalsummary/documentgetresponse.json",
    "clinicalsummary/documentquery.json",
    "clinicalsummary/documentqueryresponse.json",
    "clinicalsummary/patientpush.json",
    "clinicalsummary/patientquery.json",
    "clinicalsummary/patientqueryresponse.json",
    "clinicalsummary/visitpush.json",
    "clinicalsummary/visitquery.json",
    "clinicalsummary/visitqueryresponse.json",
    "device/new.json",
    "financial/accountupdate.json",
    "financial/transaction.json",
    "flowsheet/new.json",
    "inventory/deplete.json",
    "inventory/update.json",
    "media/delete.json",
    "media/new.json",
    "media/queryresponse.json",
    "media/replace.json",
    "medications/administration.json",
    "medications/new.json",
    "notes/delete.json",
    "notes/new.json",
    "notes/query.json",
    "notes/queryresponse.json",
    "notes/replace.json",
    "order/groupedorders.json",
    "order/query.json",
    "order/queryresponse.json",
    "order/update.json",
    "organization/new.json",
    "organization/query.json",
    "organization/queryresponse.json",
    "organization/update.json",
    "patientadmin/cancel.json",
    "patientadmin/censusquery.json",
    "patientadmin/censusqueryresponse.json",
    "patientadmin/discharge.json",
    "patientadmin/newpatient.json",
    "patientadmin/patientmerge.json",
    "patientadmin/patientupdate.json",
    "patientadmin/preadmit.json",
    "patientadmin/transfer.json",
    "patientadmin/visitmerge.json",
    "patientadmin/visitquery.json",
    "patientadmin/visitqueryresponse.json",
    "patientadmin/visitupdate.json",
    "patienteducation/new.json",
    "patientsearch/locationquery.json",
    "patientsearch/locationqueryresponse.json",
    "patientsearch/query.json",
    "patientsearch/response.json",
    "provider/activate.json",
    "provider/providerquery.json",
    "provider/update.json",
    "referral/authresponse.json",
    "referral/authreview.json",
    "referral/new.json",
    "referral/query.json",
    "referral/queryresponse.json",
    "research/study.json",
    "research/subjectupdate.json",
    "results/new.json",
    "results/newunsolicited.json",
    "results/query.json",
    "results/queryresponse.json",
    "scheduling/availableslots.json",
    "scheduling/availableslotsresponse.json",
    "scheduling/booked.json",
    "scheduling/bookedresponse.json",
    "scheduling/cancel.json",
    "scheduling/new.json",
    "scheduling/noshow.json",
    "scheduling/pushslots.json",
    "scheduling/reschedule.json",
    "sso/sign-on.json",
    "surgicalscheduling/cancel.json",
    "surgicalscheduling/new.json",
    "surgicalscheduling/noshow.json",
    "vaccination/administration.json",
    "vaccination/new.json",
    "vaccination/patientqueryresponse.json",
];

/// Redox's list of synchronous event types ("Event types for data models",
/// docs.redoxengine.com): the oracle for which pairs are answered 501.
const SYNCHRONOUS: [(&str, &str); 20] = [
    ("ClinicalSummary", "PatientQuery"),
    ("ClinicalSummary", "VisitQuery"),
    ("ClinicalSummary", "DocumentQuery"),
    ("ClinicalSummary", "DocumentGet"),
    ("ClinicalDecisions", "Request"),
    ("Media", "Query"),
    ("Notes", "Query"),
    ("Order", "Query"),
    ("Organization", "Query"),
    ("PatientAdmin", "CensusQuery"),
    ("PatientAdmin", "VisitQuery"),
    ("PatientSearch", "Query"),
    ("PatientSearch", "LocationQuery"),
    ("Provider", "ProviderQuery"),
    ("Referral", "Query"),
    ("Results", "Query"),
    ("Scheduling", "AvailableSlots"),
    ("Scheduling", "Booked"),
    ("SSO", "Sign-on"),
    ("Vaccination", "PatientQuery"),
];

/// `data_model` with a space before each inner capital, as older Redox
/// messages write "Clinical Summary".
fn spaced(data_model: &str) -> String {
    let mut out = String::new();
    for (i, c) in data_model.char_indices() {
        let after_lower = data_model[..i]
            .chars()
            .last()
            .is_some_and(char::is_lowercase);
        if c.is_uppercase() && after_lower {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// Sends one push of this pair and checks the answer: 501 and nothing
/// spooled for a request, 200 and exactly one spool file otherwise.
async fn assert_answered(h: &Harness, data_model: &str, event_type: &str, request: bool, n: u64) {
    let body = envelope(
        data_model,
        event_type,
        serde_json::json!({"Message": {"ID": n}, "Transmission": {"ID": n + 1}}),
    );
    let before = h.spooled().len();
    let response = h.send(post(&[("verification-token", TOKEN)], &body)).await;
    let what = format!("{data_model:?}.{event_type:?} (schemas at {SCHEMA_COMMIT})");
    if request {
        assert_error(&response, 501, "sync_query_not_supported");
        assert_eq!(h.spooled().len(), before, "{what} was spooled");
    } else {
        assert_queued(&response);
        assert_eq!(h.spooled().len(), before + 1, "{what} was not spooled once");
    }
}

#[tokio::test]
async fn every_pair_in_redoxs_schemas_is_answered_501_if_synchronous_and_queued_otherwise() {
    use redox_destination::redox::event_types::{known_event, same_name};
    let h = destination();
    let is_synchronous = |data_model: &str, event_type: &str| {
        SYNCHRONOUS
            .iter()
            .any(|(d, e)| same_name(d, data_model) && same_name(e, event_type))
    };
    let mut n = 1000;
    for file in SCHEMA_FILES {
        let (folder, stem) = file
            .strip_suffix(".json")
            .and_then(|path| path.split_once('/'))
            .expect("<datamodel>/<eventtype>.json");
        let event = known_event(folder, stem).unwrap_or_else(|| {
            panic!("{file} of the schemas at {SCHEMA_COMMIT} is not in the table")
        });
        assert_eq!(event.schema, Some(file));
        let request = is_synchronous(event.data_model, event.event_type);
        // As Redox spells it now, as the schema file names it, and with the
        // spaces older messages put in a data model's name.
        for data_model in [
            event.data_model.to_owned(),
            folder.to_owned(),
            spaced(event.data_model),
        ] {
            for event_type in [event.event_type, stem] {
                n += 2;
                assert_answered(&h, &data_model, event_type, request, n).await;
            }
        }
    }
    // Redox's synchronous requests whose own schema the repository lacks.
    for (data_model, event_type) in SYNCHRONOUS {
        n += 2;
        assert_answered(&h, data_model, event_type, true, n).await;
    }
}

#[tokio::test]
async fn clinical_summary_with_a_space_is_the_clinical_summary_data_model() {
    let h = destination();
    for data_model in ["Clinical Summary", "ClinicalSummary", "clinical summary"] {
        assert_answered(&h, data_model, "DocumentGet", true, 7).await;
        assert_answered(&h, data_model, "VisitPush", false, 7).await;
    }
}

#[tokio::test]
async fn a_fhir_message_bundle_is_queued_with_its_event_uri() {
    let h = destination();
    let body = fixture("fhir-bundle-patient-arrived.json");
    let response = h
        .send(post(
            &[
                ("content-type", "application/fhir+json"),
                ("authorization", &bearer(TOKEN)),
            ],
            &body,
        ))
        .await;
    let doc = h.spooled_message(&response);
    assert_eq!(body_of(&doc), body);
    let attributes = &doc["attributes"];
    assert_eq!(attributes["RedoxEnvelope"], "fhir-bundle");
    assert_eq!(
        attributes["RedoxEventType"],
        "https://fhir.redoxengine.com/EventDefinition/PatientArrived"
    );
    assert_eq!(attributes["AuthMethod"], "token");
    assert_eq!(attributes["ContentType"], "application/fhir+json");
}

#[tokio::test]
async fn an_authenticated_body_that_is_not_json_is_queued_as_it_came() {
    let h = destination();
    let body = b"MSH|^~\\&|EPIC|RES|REDOX|RDX|20240314150926||ADT^A04|1234|P|2.3\rPID|1||0000000001^^^MR\r";
    let response = h
        .send(post(
            &[
                ("verification-token", TOKEN),
                ("content-type", "text/plain"),
            ],
            body,
        ))
        .await;
    let doc = h.spooled_message(&response);
    assert_eq!(body_of(&doc), body);
    assert_eq!(doc["attributes"]["RedoxEnvelope"], "not-json");
    assert_eq!(doc["attributes"]["ContentType"], "text/plain");
    assert!(doc["attributes"].get("RedoxDataModel").is_none());
}

#[tokio::test]
async fn authenticated_json_without_meta_is_queued_as_it_came() {
    let h = destination();
    let body =
        br#"{"Patient":{"Identifiers":[{"ID":"0000000001","IDType":"MR"}]},"Note":"no Meta here"}"#;
    let response = h.send(post(&[("verification-token", TOKEN)], body)).await;
    let doc = h.spooled_message(&response);
    assert_eq!(body_of(&doc), body);
    assert_eq!(doc["attributes"]["RedoxEnvelope"], "json-without-meta");
    assert!(doc["attributes"].get("RedoxEventType").is_none());
}

#[tokio::test]
async fn an_empty_authenticated_body_is_queued_not_refused() {
    let h = destination();
    let response = h.send(post(&[("verification-token", TOKEN)], b"")).await;
    let doc = h.spooled_message(&response);
    assert_eq!(body_of(&doc), b"");
}

#[tokio::test]
async fn a_body_with_control_characters_spools_back_to_the_exact_bytes() {
    let h = destination();
    let body = b"{\"Meta\":{\"DataModel\":\"PatientAdmin\",\"EventType\":\"Arrival\"},\"Note\":\"bell \x07 esc \x1b[31m nul \x00 del \x7f\"}\r\n\x0b\x0c";
    let response = h.send(post(&[("verification-token", TOKEN)], body)).await;
    let doc = h.spooled_message(&response);
    assert_eq!(body_of(&doc), body);
}

#[tokio::test]
async fn a_body_that_is_not_utf8_spools_back_to_the_exact_bytes() {
    let h = destination();
    let body: Vec<u8> = [
        0xff, 0xfe, 0x00, 0x80, b'{', 0xc3, 0x28, b'}', 0xed, 0xa0, 0x80,
    ]
    .into_iter()
    .chain(0u8..=255)
    .collect();
    let response = h
        .send(post(
            &[
                ("verification-token", TOKEN),
                ("content-type", "application/octet-stream"),
            ],
            &body,
        ))
        .await;
    let doc = h.spooled_message(&response);
    assert_eq!(body_of(&doc), body);
    assert_eq!(doc["attributes"]["RedoxEnvelope"], "not-json");
}

#[tokio::test]
async fn synchronous_queries_are_refused_with_501_and_not_spooled() {
    let h = destination();
    for (data_model, event_type) in [
        ("PatientSearch", "Query"),
        ("Clinical Summary", "PatientQuery"),
        ("Clinical Summary", "DocumentQuery"),
        // Requests whose names do not end in Query.
        ("Scheduling", "Booked"),
        ("Scheduling", "AvailableSlots"),
        ("ClinicalSummary", "DocumentGet"),
        ("ClinicalDecisions", "Request"),
    ] {
        let body = serde_json::json!({
            "Meta": {
                "DataModel": data_model,
                "EventType": event_type,
                "EventDateTime": "2024-03-14T15:09:26.535Z",
                "Test": true,
                "Source": {"ID": "7ce6f387-c33c-417d-8682-81e83628cbd9", "Name": "Redox Dev Tools"},
                "Destinations": [{"ID": "af394f14-b34a-464f-8d24-895f370af4c9", "Name": "Redox EMR"}],
                "Logs": [{"ID": "d9f5d293-7110-461e-a875-3beb089e79f3", "AttemptID": "925d1617"}]
            },
            "Patient": {"Identifiers": [{"ID": "0000000001", "IDType": "MR"}]}
        });
        let response = h
            .send(post(
                &[("verification-token", TOKEN)],
                &serde_json::to_vec(&body).expect("JSON"),
            ))
            .await;
        assert_error(&response, 501, "sync_query_not_supported");
    }
    h.assert_nothing_spooled("a synchronous query");
}

#[tokio::test]
async fn an_unauthenticated_query_is_refused_as_unauthorized() {
    let h = destination();
    let body = br#"{"Meta":{"DataModel":"PatientSearch","EventType":"Query"}}"#;
    let response = h.send(post(&[], body)).await;
    assert_unauthorized(&response);
}

// ---- methods and sizes ---------------------------------------------------

#[tokio::test]
async fn methods_other_than_post_and_get_are_refused_with_405() {
    let h = destination();
    for method in ["PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"] {
        let response = h
            .send(request(
                method,
                "",
                &[("verification-token", TOKEN)],
                &push_body(),
            ))
            .await;
        assert_error(&response, 405, "method_not_allowed");
        assert!(response.header("allow").is_some(), "405 without allow");
    }
    h.assert_nothing_spooled("a push with another method");
}

#[tokio::test]
async fn get_without_a_challenge_is_refused_with_405() {
    let h = destination();
    for query in ["", "verification-token=rdx-verif-7Hq2Lm9fK3mZ1xP4", "x=1"] {
        let response = h
            .send(request("GET", query, &[("verification-token", TOKEN)], b""))
            .await;
        assert_error(&response, 405, "method_not_allowed");
    }
    h.assert_nothing_spooled("a GET");
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413_before_authentication() {
    let h = destination();
    let big = vec![b'x'; MAX_BODY_BYTES + 1];
    for headers in [
        vec![],
        vec![("verification-token", "rdx-verif-wrong")],
        vec![("verification-token", TOKEN)],
    ] {
        let response = h.send(post(&headers, &big)).await;
        assert_error(&response, 413, "payload_too_large");
    }
    h.assert_nothing_spooled("an oversized push");
}

#[tokio::test]
async fn a_body_exactly_at_the_limit_is_accepted() {
    let h = destination();
    let body = vec![b'x'; MAX_BODY_BYTES];
    let response = h.send(post(&[("verification-token", TOKEN)], &body)).await;
    let doc = h.spooled_message(&response);
    assert_eq!(body_of(&doc), body);
}

// ---- outages -------------------------------------------------------------

#[tokio::test]
async fn a_failing_sink_is_a_503_with_retry_after() {
    let material = AuthMaterial::from_token_list(TOKEN).expect("token");
    let h = destination_with(
        Box::new(StaticMaterial::new(material, "test token")),
        Some(Arc::new(UnavailableSink)),
    );
    let response = h
        .send(post(&[("verification-token", TOKEN)], &push_body()))
        .await;
    assert_error(&response, 503, "queue_unavailable");
    let retry_after = response.header("retry-after").expect("retry-after");
    assert!(
        retry_after.parse::<u64>().is_ok_and(|s| s > 0),
        "retry-after {retry_after:?}"
    );
    h.assert_nothing_spooled("a push to a failing sink");
}

#[tokio::test]
async fn unreadable_auth_material_is_a_503_with_retry_after() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let missing = dir.path().join("no-such-secret.json");
    let h = destination_with(Box::new(FileMaterial::new(missing)), None);
    let response = h
        .send(post(&[("verification-token", TOKEN)], &push_body()))
        .await;
    assert_eq!(response.status, 503, "body: {}", response.body);
    assert!(response.header("retry-after").is_some());
    let body: Value = serde_json::from_str(&response.body).expect("JSON");
    assert!(body["error"].is_string() && body["message"].is_string());
    h.assert_nothing_spooled("a push without auth material");
}

#[tokio::test]
async fn a_name_that_merely_ends_in_query_is_queued() {
    let h = destination();
    // Not pairs of Redox's: a feed must never stop behind a guess.
    for (data_model, event_type) in [
        ("Scheduling", "Query"),
        ("PatientAdmin", "ArrivalQuery"),
        ("NotARedoxModel", "PatientQuery"),
        ("Referral", "AuthReview"),
    ] {
        assert_answered(&h, data_model, event_type, false, 11).await;
    }
}
