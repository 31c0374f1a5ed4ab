//! Property-based fuzzing of every parser of untrusted input (issue 11), one
//! target per parser, each fed structured inputs (a valid request, token,
//! event or document with one part mutated) and arbitrary ones (any Unicode,
//! lossily decoded bytes, invalid UTF-8 where the API takes bytes, huge and
//! empty values).
//!
//! Invariants: no panic anywhere; a mutation of a credential, a signature, a
//! signed header, a signed body or a token never authenticates; nothing is
//! queued for a refusal; a refusal is a JSON error with an `error` code; no
//! secret reaches a material parse error; queue attributes hold only what
//! SQS accepts.
//!
//! `REDOX_FUZZ_CASES` sets the cases per target (default 256, so `make test`
//! stays fast); `make fuzz` runs 100,000 per target with the release
//! profile. The RNG is ChaCha with a fixed seed (`REDOX_FUZZ_SEED` to
//! change it), so a run is reproducible; failures are printed with their
//! minimal input and nothing is persisted in the tree.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestCaseError, TestRunner};
use redox_destination::BoxFuture;
use redox_destination::auth::Authenticator;
use redox_destination::auth::jwt::jwk::{KeySet, SigningKey};
use redox_destination::auth::jwt::trust::{BuiltinBase, IssuerKind, JwtSettings, JwtTrust};
use redox_destination::auth::jwt::{TrustedIssuer, verify_jwt};
use redox_destination::auth::material::{Material, MaterialCache, SigV4Key, StaticMaterial};
use redox_destination::auth::sigv4::verify_sigv4;
use redox_destination::auth::{AuthMethod, AuthPolicy};
use redox_destination::clock::{UtcDateTime, rfc3339};
use redox_destination::destination::Destination;
use redox_destination::front::lambda_event::parse_event;
use redox_destination::inbound::{FrontDoor, InboundRequest, Origin};
use redox_destination::oauth;
use redox_destination::oauth::BuiltinIssuer;
use redox_destination::redox::{self, Classified, Envelope};
use redox_destination::response::HttpResponse;
use redox_destination::sink::media_type::{FALLBACK_MEDIA_TYPE, is_media_type, s3_content_type};
use redox_destination::sink::{MAX_ATTRIBUTES, QueuedMessage, Sink, SinkError};
use serde_json::{Map, Value, json};

// ---- the runner -------------------------------------------------------------

const DEFAULT_CASES: u32 = 256;
const DEFAULT_SEED: u64 = 0x0011_f022_5eed;

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Err(_) => default,
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a whole number")),
    }
}

/// Runs one target for `REDOX_FUZZ_CASES` cases and reports the count, or
/// fails with proptest's minimal failing input.
fn fuzz<S>(target: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let cases = u32::try_from(env_number("REDOX_FUZZ_CASES", u64::from(DEFAULT_CASES)))
        .expect("REDOX_FUZZ_CASES fits in 32 bits");
    let seed = env_number("REDOX_FUZZ_SEED", DEFAULT_SEED);
    let config = Config {
        cases,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(seed),
        // Failures are reported with their minimal input; nothing is
        // written into the source tree.
        failure_persistence: None,
        max_global_rejects: cases.saturating_mul(4),
        ..Config::default()
    };
    let started = Instant::now();
    let ran = AtomicU64::new(0);
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |value| {
        ran.fetch_add(1, Ordering::Relaxed);
        test(value)
    });
    let elapsed = started.elapsed();
    match result {
        Ok(()) => eprintln!(
            "fuzz target {target}: {cases} cases, no failure ({:.1} s, seed {seed})",
            elapsed.as_secs_f64()
        ),
        Err(failure) => panic!(
            "fuzz target {target}: FAILED after {} runs (seed {seed}): {failure}",
            ran.load(Ordering::Relaxed)
        ),
    }
}

/// Runs a target on a thread with a large stack: the nested strategies and
/// the request future are deep in an unoptimised build.
fn on_big_stack(body: impl FnOnce() + Send + 'static) {
    let worker = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(body)
        .expect("a fuzz thread");
    if let Err(panic) = worker.join() {
        std::panic::resume_unwind(panic);
    }
}

// ---- shared generators ----------------------------------------------------------

/// Text of every kind: any Unicode (all planes, controls, U+FFFE, lone
/// BOMs), bytes decoded lossily (what invalid UTF-8 becomes in a `&str`),
/// the characters that matter to headers, URLs and JSON, empty and huge.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        2 => vec(any::<u8>(), 0..48).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        2 => "[ -~]{0,40}",
        2 => "[%+&=;,:/ ?#a-zA-Z0-9\\\\\"'<>\r\n\t\u{0}\u{7f}\u{85}\u{a0}\u{fffe}\u{ffff}\u{feff}\u{d7ff}\u{e000}\u{10ffff}é€-]{0,24}",
        // Printable text with the non-characters XML (and so SQS) refuses.
        1 => "[a-zA-Z0-9\u{fffe}\u{ffff}]{1,8}",
        1 => Just(String::new()),
        1 => (any::<char>(), 1usize..40).prop_map(|(c, k)| c.to_string().repeat(k * 1000)),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 32, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(Value::Array),
            btree_map(text(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Bytes of every kind, including invalid UTF-8 and a large block.
fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => vec(any::<u8>(), 0..256),
        2 => text().prop_map(String::into_bytes),
        1 => Just(Vec::new()),
        1 => (any::<u8>(), 1usize..64).prop_map(|(b, k)| vec![b; k * 1024]),
    ]
}

/// Ways to change one string: replace it, insert at a char boundary, drop a
/// char, flip the case of an ASCII letter.
#[derive(Debug, Clone)]
enum TextEdit {
    Replace(String),
    Insert(usize, String),
    Remove(usize),
    FlipCase(usize),
    Append(String),
    Truncate(usize),
}

fn text_edit() -> impl Strategy<Value = TextEdit> {
    prop_oneof![
        text().prop_map(TextEdit::Replace),
        (any::<usize>(), text()).prop_map(|(i, t)| TextEdit::Insert(i, t)),
        any::<usize>().prop_map(TextEdit::Remove),
        any::<usize>().prop_map(TextEdit::FlipCase),
        text().prop_map(TextEdit::Append),
        any::<usize>().prop_map(TextEdit::Truncate),
    ]
}

fn boundary(s: &str, i: usize) -> usize {
    let mut at = if s.is_empty() { 0 } else { i % (s.len() + 1) };
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

impl TextEdit {
    fn apply(&self, s: &str) -> String {
        match self {
            TextEdit::Replace(t) => t.clone(),
            TextEdit::Insert(i, t) => {
                let at = boundary(s, *i);
                format!("{}{t}{}", &s[..at], &s[at..])
            }
            TextEdit::Remove(i) => {
                let mut chars: Vec<char> = s.chars().collect();
                if !chars.is_empty() {
                    let at = i % chars.len();
                    chars.remove(at);
                }
                chars.into_iter().collect()
            }
            TextEdit::FlipCase(i) => {
                let mut chars: Vec<char> = s.chars().collect();
                if !chars.is_empty() {
                    let at = i % chars.len();
                    let c = chars[at];
                    chars[at] = if c.is_ascii_lowercase() {
                        c.to_ascii_uppercase()
                    } else if c.is_ascii_uppercase() {
                        c.to_ascii_lowercase()
                    } else {
                        '\u{e9}'
                    };
                }
                chars.into_iter().collect()
            }
            TextEdit::Append(t) => format!("{s}{t}"),
            TextEdit::Truncate(i) => s[..boundary(s, *i)].to_owned(),
        }
    }
}

/// SQS accepts only XML characters in bodies and String attribute values.
fn sqs_accepts_text(value: &str) -> bool {
    value.chars().all(|c| {
        matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
    })
}

/// Every attribute a queued message carries is one SQS would accept.
fn check_attributes(message: &QueuedMessage) -> Result<(), TestCaseError> {
    prop_assert!(message.attributes.len() <= MAX_ATTRIBUTES);
    for (name, value) in &message.attributes {
        prop_assert!(!value.is_empty(), "attribute {} is empty", name);
        prop_assert!(
            value.len() <= 256,
            "attribute {} is {} bytes",
            name,
            value.len()
        );
        prop_assert!(
            sqs_accepts_text(value),
            "attribute {} = {:?} has a character SQS refuses (SPEC 2: #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF)",
            name,
            value
        );
    }
    Ok(())
}

// ---- keys, material and signed requests -------------------------------------------

const HOST: &str = "abcdefghij.lambda-url.us-east-1.on.aws";
const REGION: &str = "us-east-1";
const SERVICE: &str = "lambda";
const TOKEN: &str = "rdx-verif-fuzz-7Hq2Lm9fK3mZ1xP4";
const KEY_ID: &str = "AKIDREDOXFUZZ";
const KEY_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYfuzzKEY";
const SESSION_KEY_ID: &str = "ASIAREDOXFUZZSESSION";
const SESSION_SECRET: &str = "session/secret+0123456789fuzzfuzzfuzz";
const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+fuzz==";
const CLIENT_ID: &str = "redox-client";
const CLIENT_SECRET: &str = "s3cret+with/odd=chars&more";
const ISSUER: &str = "https://abcdefghij.lambda-url.us-east-1.on.aws";
const KID: &str = "fuzz-key-1";
const CHALLENGE: &str = "3f8a2c1e-9b7d-4e6f-a5c4-1d2e3f4a5b6c";
const SKEW: Duration = Duration::from_secs(300);

/// 2026-11-28T10:15:00Z: every signature and token is made at this instant.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_860_900)
}

struct Keys {
    ed25519: Ed25519KeyPair,
    pkcs8_pem: String,
    key_set: KeySet,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("an Ed25519 key");
        let ed25519 = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("the key parses");
        let pkcs8_pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(pkcs8.as_ref())
        );
        let jwks = json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "kid": KID, "use": "sig", "alg": "EdDSA",
            "x": URL_SAFE_NO_PAD.encode(ed25519.public_key().as_ref()),
        }]});
        let key_set = KeySet::from_jwks_json(jwks.to_string().as_bytes()).expect("a key set");
        Keys {
            ed25519,
            pkcs8_pem,
            key_set,
        }
    })
}

fn material_document() -> Value {
    json!({
        "verification_tokens": [TOKEN],
        "sigv4_keys": [
            {"access_key_id": KEY_ID, "secret_access_key": KEY_SECRET,
             "region": REGION, "service": SERVICE},
            {"access_key_id": SESSION_KEY_ID, "secret_access_key": SESSION_SECRET,
             "region": REGION, "service": SERVICE, "session_token": SESSION_TOKEN},
        ],
        "oauth_clients": [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}],
        "oauth_signing_keys": [{"kid": KID, "private_key_pem": keys().pkcs8_pem}],
    })
}

fn material() -> Material {
    Material::from_secret_text(&material_document().to_string()).expect("the fuzz material")
}

fn sigv4_keys() -> &'static [SigV4Key] {
    static KEYS: OnceLock<Vec<SigV4Key>> = OnceLock::new();
    KEYS.get_or_init(|| material().auth.sigv4_keys)
}

fn jwt_settings() -> &'static JwtSettings {
    static SETTINGS: OnceLock<JwtSettings> = OnceLock::new();
    SETTINGS.get_or_init(|| match BuiltinBase::fixed(ISSUER) {
        BuiltinBase::Fixed(settings) => settings,
        BuiltinBase::Auto => unreachable!("a fixed base"),
    })
}

fn push_body() -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/events/patientadmin-arrival.json"),
    )
    .expect("the push fixture")
}

fn push_json() -> &'static Value {
    static PUSH: OnceLock<Value> = OnceLock::new();
    PUSH.get_or_init(|| serde_json::from_slice(&push_body()).expect("push fixture JSON"))
}

fn inbound(
    method: &str,
    path: &str,
    query: &str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
) -> InboundRequest {
    InboundRequest {
        method: method.to_owned(),
        raw_path: path.to_owned(),
        raw_query: query.to_owned(),
        headers,
        body: Bytes::from(body),
        origin: Origin::new(FrontDoor::FunctionUrl),
    }
}

/// What a request the aws-sigv4 crate signed is made of.
#[derive(Debug, Clone)]
struct SignedParts {
    method: String,
    path: String,
    query: String,
    body: Vec<u8>,
    session: bool,
}

fn path_segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[A-Za-z0-9._~-]{1,8}",
        2 => "%[0-9A-F]{2}[a-z]{0,3}",
        1 => Just(".".to_owned()),
        1 => Just("..".to_owned()),
        1 => Just(String::new()),
        1 => "[!$'()*,;=:@]{1,3}",
    ]
}

fn signed_parts() -> impl Strategy<Value = SignedParts> {
    (
        prop_oneof![4 => Just("POST"), 1 => Just("GET"), 1 => Just("PUT")],
        vec(path_segment(), 0..5).prop_map(|s| format!("/{}", s.join("/"))),
        vec(
            (
                "[a-z][a-z0-9_.~-]{0,6}",
                "([A-Za-z0-9_.~-]|%[2-7][0-9A-F]){0,8}",
            ),
            0..4,
        )
        .prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        }),
        prop_oneof![3 => Just(push_body()), 2 => bytes()],
        any::<bool>(),
    )
        .prop_map(|(method, path, query, body, session)| SignedParts {
            method: method.to_owned(),
            path,
            query,
            body,
            session,
        })
}

/// Signs with the aws-sigv4 crate (an independent signer) at [`now`].
fn sign_request(parts: &SignedParts) -> InboundRequest {
    let (id, secret, token) = if parts.session {
        (
            SESSION_KEY_ID,
            SESSION_SECRET,
            Some(SESSION_TOKEN.to_owned()),
        )
    } else {
        (KEY_ID, KEY_SECRET, None)
    };
    let identity = Credentials::new(id, secret, token, None, "fuzz").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name(SERVICE)
        .time(now())
        .settings(SigningSettings::default())
        .build()
        .expect("signing params")
        .into();
    let url = if parts.query.is_empty() {
        format!("https://{HOST}{}", parts.path)
    } else {
        format!("https://{HOST}{}?{}", parts.path, parts.query)
    };
    let content_type = [("content-type", "application/json")];
    let signable = SignableRequest::new(
        &parts.method,
        url,
        content_type.iter().copied(),
        SignableBody::Bytes(&parts.body),
    )
    .expect("a signable request");
    let (instructions, _) = sign(signable, &params).expect("signs").into_parts();
    let mut headers = vec![
        ("host".to_owned(), HOST.to_owned()),
        ("content-type".to_owned(), "application/json".to_owned()),
    ];
    headers.extend(
        instructions
            .headers()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_owned())),
    );
    inbound(
        &parts.method,
        &parts.path,
        &parts.query,
        headers,
        parts.body.clone(),
    )
}

fn header<'a>(request: &'a InboundRequest, name: &str) -> &'a str {
    request
        .headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("the signed request has no {name}"))
}

fn set_header(request: &mut InboundRequest, name: &str, value: String) {
    match request.headers.iter_mut().find(|(n, _)| n == name) {
        Some(slot) => slot.1 = value,
        None => request.headers.push((name.to_owned(), value)),
    }
}

/// `(Credential, SignedHeaders, Signature)` of an authorization header this
/// test made (so the layout is known).
fn authorization_fields(value: &str) -> (String, String, String) {
    let fields = value
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .expect("the signer's algorithm");
    let mut out = (String::new(), String::new(), String::new());
    for field in fields.split(", ") {
        let (name, v) = field.split_once('=').expect("name=value");
        match name {
            "Credential" => out.0 = v.to_owned(),
            "SignedHeaders" => out.1 = v.to_owned(),
            "Signature" => out.2 = v.to_owned(),
            other => panic!("unexpected field {other}"),
        }
    }
    out
}

fn authorization(credential: &str, signed_headers: &str, signature: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed_headers}, Signature={signature}"
    )
}

/// AWS "Trimall", as the canonical request applies it to header values:
/// the value without surrounding spaces, runs of spaces as one.
fn trimall(value: &str) -> String {
    value
        .split(' ')
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether an authorization field's value really changed: spaces around a
/// field are separators (`Signature=... ` is the same signature), not part
/// of its value.
fn value_changed(new: &str, old: &str) -> bool {
    new.trim_matches(' ') != old
}

/// Whether a mutation must make the request fail, or may be neutral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The unmutated, valid request: it must be accepted.
    Accept,
    /// A credential, signature, signed header, signed body or token was
    /// changed: it must never be accepted.
    Refuse,
    /// Possibly neutral (path or query spelling, an extra header, Meta
    /// content): only the general invariants apply.
    Any,
}

/// One change to a SigV4-signed request.
#[derive(Debug, Clone)]
enum SigMutation {
    None,
    Body(TextEdit, Vec<u8>),
    Signature(TextEdit),
    CredentialPart(usize, TextEdit),
    SignedHeaders(TextEdit),
    SignedHeaderValue(usize, TextEdit),
    RepeatSignedHeader(usize, String),
    UnsignedAmzHeader(String, String),
    SessionToken(Option<TextEdit>),
    Method(TextEdit),
    AmzDate(String),
    Authorization(TextEdit),
    Path(TextEdit),
    Query(TextEdit),
    ExtraHeader(String, String),
    /// `x-amz-content-sha256` added unsigned (as aws-requests-auth sends
    /// it): the body's hash, maybe edited, or a value that is never a hash.
    UnsignedContentSha256(Option<TextEdit>, u8),
    /// The body replaced, with an unsigned `x-amz-content-sha256` that
    /// matches the new body.
    BodyWithItsUnsignedHash(Vec<u8>),
}

fn amz_date_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{8}T[0-9]{6}Z",
        // Same byte length as a real date, with multi-byte characters.
        "[0-9é]{6}T[0-9]{6}Z",
        "[0-9]{3}[é€😀][0-9]{0,3}T[0-9]{6}Z",
        (0usize..16, any::<char>()).prop_map(|(i, c)| {
            let mut s: Vec<char> = "20261128T101500Z".chars().collect();
            s[i] = c;
            s.into_iter().collect()
        }),
        text(),
    ]
}

fn sig_mutation() -> impl Strategy<Value = SigMutation> {
    prop_oneof![
        2 => Just(SigMutation::None),
        2 => (text_edit(), bytes()).prop_map(|(e, b)| SigMutation::Body(e, b)),
        2 => text_edit().prop_map(SigMutation::Signature),
        3 => (0usize..5, text_edit()).prop_map(|(i, e)| SigMutation::CredentialPart(i, e)),
        2 => text_edit().prop_map(SigMutation::SignedHeaders),
        2 => (any::<usize>(), text_edit()).prop_map(|(i, e)| SigMutation::SignedHeaderValue(i, e)),
        1 => (any::<usize>(), text()).prop_map(|(i, v)| SigMutation::RepeatSignedHeader(i, v)),
        1 => ("[A-Za-z0-9-]{1,12}", text()).prop_map(|(n, v)| SigMutation::UnsignedAmzHeader(n, v)),
        1 => proptest::option::of(text_edit()).prop_map(SigMutation::SessionToken),
        1 => text_edit().prop_map(SigMutation::Method),
        2 => amz_date_text().prop_map(SigMutation::AmzDate),
        2 => text_edit().prop_map(SigMutation::Authorization),
        1 => text_edit().prop_map(SigMutation::Path),
        1 => text_edit().prop_map(SigMutation::Query),
        1 => (text(), text()).prop_map(|(n, v)| SigMutation::ExtraHeader(n, v)),
        2 => (proptest::option::of(text_edit()), 0u8..4)
            .prop_map(|(e, form)| SigMutation::UnsignedContentSha256(e, form)),
        1 => bytes().prop_map(SigMutation::BodyWithItsUnsignedHash),
    ]
}

/// Applies a mutation to a freshly signed request; says what must follow.
fn mutate_signed(mut request: InboundRequest, mutation: &SigMutation) -> (InboundRequest, Expect) {
    let (credential, signed_headers, signature) =
        authorization_fields(header(&request, "authorization"));
    let signed: Vec<String> = signed_headers.split(';').map(str::to_owned).collect();
    let refuse_if = |changed: bool| if changed { Expect::Refuse } else { Expect::Any };
    let expect = match mutation {
        SigMutation::None => Expect::Accept,
        SigMutation::Body(edit, raw) => {
            let original = request.body.clone();
            let new_body = match edit {
                TextEdit::Replace(_) => raw.clone(),
                _ => {
                    let mut b = original.to_vec();
                    let text = String::from_utf8_lossy(&b).into_owned();
                    if b.is_empty() || std::str::from_utf8(&b).is_ok() {
                        b = edit.apply(&text).into_bytes();
                    } else {
                        let i = raw.first().map_or(0, |&x| usize::from(x)) % b.len();
                        b[i] ^= 0x01;
                    }
                    b
                }
            };
            request.body = Bytes::from(new_body);
            refuse_if(request.body != original)
        }
        SigMutation::Signature(edit) => {
            let new = edit.apply(&signature);
            set_header(
                &mut request,
                "authorization",
                authorization(&credential, &signed_headers, &new),
            );
            refuse_if(value_changed(&new, &signature))
        }
        SigMutation::CredentialPart(part, edit) => {
            let mut parts: Vec<String> = credential.split('/').map(str::to_owned).collect();
            parts[*part] = edit.apply(&parts[*part]);
            let new = parts.join("/");
            set_header(
                &mut request,
                "authorization",
                authorization(&new, &signed_headers, &signature),
            );
            refuse_if(value_changed(&new, &credential))
        }
        SigMutation::SignedHeaders(edit) => {
            let new = edit.apply(&signed_headers);
            set_header(
                &mut request,
                "authorization",
                authorization(&credential, &new, &signature),
            );
            refuse_if(value_changed(&new, &signed_headers))
        }
        SigMutation::SignedHeaderValue(i, edit) => {
            let name = &signed[i % signed.len()];
            let old = header(&request, name).to_owned();
            let new = edit.apply(&old);
            set_header(&mut request, name, new.clone());
            refuse_if(trimall(&new) != trimall(&old))
        }
        SigMutation::RepeatSignedHeader(i, value) => {
            let name = signed[i % signed.len()].clone();
            request.headers.push((name, value.clone()));
            Expect::Refuse
        }
        SigMutation::UnsignedAmzHeader(suffix, value) => {
            request.headers.push((
                format!("x-amz-{}", suffix.to_ascii_lowercase()),
                value.clone(),
            ));
            // Unless the header happens to be one already signed and sent.
            refuse_if(!signed.contains(&format!("x-amz-{}", suffix.to_ascii_lowercase())))
        }
        SigMutation::SessionToken(edit) => {
            let old = request
                .headers
                .iter()
                .position(|(n, _)| n == "x-amz-security-token");
            match (edit, old) {
                (None, Some(at)) => {
                    request.headers.remove(at);
                    Expect::Refuse
                }
                (None, None) => Expect::Accept,
                (Some(edit), Some(at)) => {
                    let new = edit.apply(&request.headers[at].1);
                    let changed = new != request.headers[at].1;
                    request.headers[at].1 = new;
                    refuse_if(changed)
                }
                (Some(edit), None) => {
                    request
                        .headers
                        .push(("x-amz-security-token".into(), edit.apply(SESSION_TOKEN)));
                    Expect::Refuse
                }
            }
        }
        SigMutation::Method(edit) => {
            let new = edit.apply(&request.method);
            let changed = new != request.method;
            request.method = new;
            refuse_if(changed)
        }
        SigMutation::AmzDate(new) => {
            let changed = new != header(&request, "x-amz-date");
            set_header(&mut request, "x-amz-date", new.clone());
            refuse_if(changed)
        }
        SigMutation::Authorization(edit) => {
            let new = edit.apply(header(&request, "authorization"));
            // Fields may be reordered or spaced differently: only a header
            // that still holds all three original values may pass.
            let keeps_all = new.contains(&format!("Credential={credential}"))
                && new.contains(&format!("SignedHeaders={signed_headers}"))
                && new.contains(&format!("Signature={signature}"));
            set_header(&mut request, "authorization", new);
            refuse_if(!keeps_all)
        }
        SigMutation::Path(edit) => {
            request.raw_path = edit.apply(&request.raw_path);
            Expect::Any
        }
        SigMutation::Query(edit) => {
            request.raw_query = edit.apply(&request.raw_query);
            Expect::Any
        }
        SigMutation::ExtraHeader(name, value) => {
            let lower = name.to_ascii_lowercase();
            let covered = lower.starts_with("x-amz-") || signed.contains(&lower);
            request.headers.push((name.clone(), value.clone()));
            refuse_if(covered)
        }
        SigMutation::UnsignedContentSha256(edit, form) => {
            let body_hash = sha256_hex(&request.body);
            let value = match form {
                0 => "UNSIGNED-PAYLOAD".to_owned(),
                1 => "STREAMING-UNSIGNED-PAYLOAD-TRAILER".to_owned(),
                _ => edit
                    .as_ref()
                    .map_or(body_hash.clone(), |e| e.apply(&body_hash)),
            };
            let name = if *form == 3 {
                "X-Amz-Content-Sha256"
            } else {
                "x-amz-content-sha256"
            };
            request.headers.push((name.to_owned(), value.clone()));
            // Only the lower-case hex of the body's own hash passes, under
            // the lower-case name every front door gives headers.
            if value == body_hash && *form != 3 {
                Expect::Accept
            } else {
                Expect::Refuse
            }
        }
        SigMutation::BodyWithItsUnsignedHash(body) => {
            let changed = request.body != body.as_slice();
            request.body = Bytes::from(body.clone());
            request
                .headers
                .push(("x-amz-content-sha256".into(), sha256_hex(body)));
            if changed {
                Expect::Refuse
            } else {
                Expect::Accept
            }
        }
    };
    (request, expect)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

// ---- target: the SigV4 authorization header and verification ------------------

#[test]
fn fuzz_sigv4_authorization_header() {
    on_big_stack(|| {
        let structured = (signed_parts(), 0usize..4, text(), text(), text(), text()).prop_map(
            |(parts, shape, a, b, c, d)| {
                let mut request = sign_request(&parts);
                let value = match shape {
                    0 => {
                        format!("AWS4-HMAC-SHA256 Credential={a}, SignedHeaders={b}, Signature={c}")
                    }
                    1 => format!("AWS4-HMAC-SHA256 {a}"),
                    2 => format!("{a} {b}={c},{d}"),
                    _ => a,
                };
                set_header(&mut request, "authorization", value);
                request
            },
        );
        fuzz("sigv4_authorization", structured, |request| {
            let result = verify_sigv4(&request, sigv4_keys(), now(), SKEW);
            prop_assert!(
                result.is_err(),
                "an arbitrary authorization header verified: {:?}",
                header(&request, "authorization")
            );
            if let Err(error) = result {
                // No refusal reason quotes the secret of a key.
                let reason = error.to_string();
                prop_assert!(!reason.contains(KEY_SECRET) && !reason.contains(SESSION_SECRET));
            }
            Ok(())
        });
    });
}

#[test]
fn fuzz_sigv4_signed_request_mutations() {
    on_big_stack(|| {
        fuzz(
            "sigv4_signed_request",
            (signed_parts(), sig_mutation()),
            |(parts, mutation)| {
                let (request, expect) = mutate_signed(sign_request(&parts), &mutation);
                let result = verify_sigv4(&request, sigv4_keys(), now(), SKEW);
                match expect {
                    Expect::Accept => prop_assert!(
                        result.is_ok(),
                        "a request aws-sigv4 signed was refused: {:?}",
                        result
                    ),
                    Expect::Refuse => {
                        prop_assert!(result.is_err(), "a mutated request verified: {:?}", request)
                    }
                    Expect::Any => {}
                }
                Ok(())
            },
        );
    });
}

// ---- target: x-amz-date and other date handling --------------------------------

#[test]
fn fuzz_amz_date_and_clock() {
    on_big_stack(|| {
        let input = prop_oneof![
            3 => amz_date_text().prop_map(|s| (s, 0i64)),
            1 => (-100_000_000_000i64..100_000_000_000).prop_map(|secs| (String::new(), secs)),
        ];
        fuzz("amz_date", input, |(text, secs)| {
            if let Some(parsed) = UtcDateTime::parse_amz_date(&text) {
                // Strict: only the one spelling of a real instant parses, and it
                // round-trips through the instant it names.
                prop_assert_eq!(parsed.amz_date(), text.clone());
                prop_assert!((1..=12).contains(&parsed.month) && (1..=31).contains(&parsed.day));
                prop_assert!(parsed.hour < 24 && parsed.minute < 60 && parsed.second < 60);
                prop_assert_eq!(
                    UtcDateTime::from_system_time(parsed.to_system_time()),
                    parsed
                );
            }
            let instant = if secs >= 0 {
                UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
            } else {
                UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
            };
            let civil = UtcDateTime::from_system_time(instant);
            prop_assert_eq!(civil.to_system_time(), instant);
            if (0..=9999).contains(&civil.year) {
                let amz = civil.amz_date();
                prop_assert_eq!(UtcDateTime::parse_amz_date(&amz), Some(civil));
            }
            let stamp = rfc3339(instant);
            prop_assert!(stamp.ends_with('Z'), "{}", stamp);
            Ok(())
        });
    });
}

// ---- target: JWT segments and header -----------------------------------------------

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn valid_header() -> Value {
    json!({"alg": "EdDSA", "typ": "at+jwt", "kid": KID})
}

fn valid_claims() -> Value {
    let now = now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    json!({"iss": ISSUER, "aud": ISSUER, "sub": CLIENT_ID, "client_id": CLIENT_ID,
           "iat": now - 10, "exp": now + 240, "jti": "fuzz"})
}

/// Signs `header_part.claims_part` with the Ed25519 key (aws-lc-rs, not the
/// code under test).
fn signed_jwt(header_part: &str, claims_part: &str) -> String {
    let signing_input = format!("{header_part}.{claims_part}");
    let signature = keys().ed25519.sign(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    )
}

#[derive(Debug, Clone)]
enum JwtMutation {
    None,
    /// One header member set, the token re-signed with the right key.
    ResignedHeader(String, Value),
    /// One claim set, the token re-signed with the right key.
    ResignedClaim(String, Value),
    /// One header member set, the original signature kept.
    Header(String, Value),
    /// One claim set, the original signature kept.
    Claim(String, Value),
    /// One segment replaced by base64url of arbitrary bytes.
    SegmentBytes(usize, Vec<u8>),
    /// One segment's text edited (non-ASCII, dots, huge, empty).
    SegmentText(usize, TextEdit),
    /// The whole token text edited.
    Token(TextEdit),
}

fn header_member() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("alg".to_owned()),
        Just("kid".to_owned()),
        Just("typ".to_owned()),
        Just("jku".to_owned()),
        Just("jwk".to_owned()),
        Just("x5u".to_owned()),
        Just("x5c".to_owned()),
        Just("crit".to_owned()),
        text(),
    ]
}

fn claim_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("iss".to_owned()),
        Just("aud".to_owned()),
        Just("exp".to_owned()),
        Just("nbf".to_owned()),
        Just("iat".to_owned()),
        Just("client_id".to_owned()),
        Just("scope".to_owned()),
        text(),
    ]
}

fn header_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("none")),
        Just(json!("HS256")),
        Just(json!("RS256")),
        Just(json!("ES256")),
        Just(json!("EdDSA")),
        Just(json!("eddsa")),
        Just(json!(KID)),
        json_value(),
    ]
}

fn jwt_mutation() -> impl Strategy<Value = JwtMutation> {
    token_mutation(claim_name, json_value)
}

/// One mutation of a signed token, claims named and valued by the
/// strategies the two functions make.
fn token_mutation<N, V>(
    names: impl Fn() -> N,
    values: impl Fn() -> V,
) -> impl Strategy<Value = JwtMutation>
where
    N: Strategy<Value = String> + 'static,
    V: Strategy<Value = Value> + 'static,
{
    prop_oneof![
        1 => Just(JwtMutation::None),
        2 => (header_member(), header_value()).prop_map(|(n, v)| JwtMutation::ResignedHeader(n, v)),
        2 => (names(), values()).prop_map(|(n, v)| JwtMutation::ResignedClaim(n, v)),
        1 => (header_member(), header_value()).prop_map(|(n, v)| JwtMutation::Header(n, v)),
        1 => (names(), values()).prop_map(|(n, v)| JwtMutation::Claim(n, v)),
        2 => (0usize..3, bytes()).prop_map(|(i, b)| JwtMutation::SegmentBytes(i, b)),
        2 => (0usize..3, text_edit()).prop_map(|(i, e)| JwtMutation::SegmentText(i, e)),
        2 => text_edit().prop_map(JwtMutation::Token),
    ]
}

/// A JWT with one mutation applied, and what must follow. A re-signed
/// token may pass only if its header and claims still meet every rule.
fn mutated_jwt(mutation: &JwtMutation) -> (String, Expect, Value, Value) {
    mutated_token(mutation, valid_header(), valid_claims())
}

/// The JWT of `header` and `claims`, signed, with one mutation applied.
fn mutated_token(
    mutation: &JwtMutation,
    mut header: Value,
    mut claims: Value,
) -> (String, Expect, Value, Value) {
    let original = signed_jwt(&b64(&header), &b64(&claims));
    let segments: Vec<String> = original.split('.').map(str::to_owned).collect();
    let (token, expect) = match mutation {
        JwtMutation::None => (original.clone(), Expect::Accept),
        JwtMutation::ResignedHeader(name, value) => {
            header[name.as_str()] = value.clone();
            (signed_jwt(&b64(&header), &segments[1]), Expect::Any)
        }
        JwtMutation::ResignedClaim(name, value) => {
            claims[name.as_str()] = value.clone();
            (signed_jwt(&segments[0], &b64(&claims)), Expect::Any)
        }
        JwtMutation::Header(name, value) => {
            header[name.as_str()] = value.clone();
            let token = format!("{}.{}.{}", b64(&header), segments[1], segments[2]);
            (token, Expect::Any)
        }
        JwtMutation::Claim(name, value) => {
            claims[name.as_str()] = value.clone();
            let token = format!("{}.{}.{}", segments[0], b64(&claims), segments[2]);
            (token, Expect::Any)
        }
        JwtMutation::SegmentBytes(i, raw) => {
            let mut parts = segments.clone();
            parts[*i] = URL_SAFE_NO_PAD.encode(raw);
            (parts.join("."), Expect::Any)
        }
        JwtMutation::SegmentText(i, edit) => {
            let mut parts = segments.clone();
            parts[*i] = edit.apply(&parts[*i]);
            (parts.join("."), Expect::Any)
        }
        JwtMutation::Token(edit) => (edit.apply(&original), Expect::Any),
    };
    // Any change to the signed text, or to the signature's bytes, without
    // re-signing must be refused.
    let expect = match (expect, mutation) {
        (Expect::Accept, _) => Expect::Accept,
        (_, JwtMutation::ResignedHeader(..) | JwtMutation::ResignedClaim(..)) => Expect::Any,
        _ => {
            let signing_input_changed =
                !token.starts_with(&format!("{}.{}.", segments[0], segments[1]));
            let signature_changed = token
                .rsplit_once('.')
                .map(|(_, sig)| {
                    URL_SAFE_NO_PAD.decode(sig).ok() != URL_SAFE_NO_PAD.decode(&segments[2]).ok()
                })
                .unwrap_or(true);
            if signing_input_changed || signature_changed {
                Expect::Refuse
            } else {
                Expect::Any
            }
        }
    };
    (token, expect, header, claims)
}

/// What the rules of `verify_jwt` demand of a token that passes.
fn check_accepted_jwt(header: &Value, claims: &Value) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        &header["alg"],
        "EdDSA",
        "a token passed with alg {}",
        header["alg"]
    );
    for refused in ["jku", "jwk", "x5u", "x5c", "crit"] {
        prop_assert!(
            header.get(refused).is_none(),
            "a token with {} passed",
            refused
        );
    }
    prop_assert!(header.get("kid").is_none_or(|kid| kid == KID));
    prop_assert_eq!(&claims["iss"], ISSUER);
    prop_assert!(
        claims["exp"].is_number(),
        "a token without a numeric exp passed"
    );
    let aud_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == ISSUER,
        Some(Value::Array(list)) => list.iter().any(|a| a == ISSUER),
        None => claims["client_id"] == ISSUER,
        Some(_) => false,
    };
    prop_assert!(aud_ok, "a token for another audience passed: {}", claims);
    Ok(())
}

#[test]
fn fuzz_jwt_segments_and_header() {
    on_big_stack(|| {
        let input = prop_oneof![
            4 => jwt_mutation().prop_map(Some),
            1 => Just(None),
        ];
        fuzz("jwt_segments", (input, text()), |(mutation, arbitrary)| {
            let key_set = &keys().key_set;
            let issuers = [TrustedIssuer {
                kind: IssuerKind::BuiltIn,
                settings: jwt_settings(),
                keys: Some(key_set),
            }];
            let Some(mutation) = mutation else {
                // Arbitrary text as a bearer value.
                prop_assert!(verify_jwt(&arbitrary, &issuers, now()).is_err());
                return Ok(());
            };
            let (token, expect, header, claims) = mutated_jwt(&mutation);
            let result = verify_jwt(&token, &issuers, now());
            match expect {
                Expect::Accept => {
                    prop_assert!(result.is_ok(), "a valid token was refused: {:?}", result)
                }
                Expect::Refuse => {
                    prop_assert!(result.is_err(), "a tampered token verified: {}", token)
                }
                Expect::Any => {
                    if result.is_ok() {
                        check_accepted_jwt(&header, &claims)?;
                    }
                }
            }
            if let Err(error) = result {
                // A refusal reason never carries the token itself.
                let reason = error.to_string();
                prop_assert!(token.len() < 16 || !reason.contains(&token));
            }
            Ok(())
        });
    });
}

// ---- target: client assertions (SMART Backend Services) ----------------------------

/// The client that authenticates with the fuzz key (kid `KID`), inline.
const ASSERTION_CLIENT: &str = "smart-fuzz";

fn token_url() -> String {
    format!("{ISSUER}{}", oauth::TOKEN_PATH)
}

fn now_secs() -> u64 {
    now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn assertion_header() -> Value {
    json!({"alg": "EdDSA", "kid": KID, "typ": "JWT"})
}

fn assertion_claims(jti: &str) -> Value {
    let now = now_secs();
    json!({"iss": ASSERTION_CLIENT, "sub": ASSERTION_CLIENT, "aud": token_url(),
           "iat": now, "exp": now + 240, "jti": jti})
}

fn assertion_claim_name() -> impl Strategy<Value = String> {
    const NAMES: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];
    prop_oneof![
        7 => proptest::sample::select(&NAMES[..]).prop_map(str::to_owned),
        1 => text(),
    ]
}

/// Values near the rules' edges, and anything.
fn assertion_claim_value() -> impl Strategy<Value = Value> {
    let now = now_secs() as i64;
    prop_oneof![
        Just(json!(ASSERTION_CLIENT)),
        Just(json!(CLIENT_ID)),
        Just(json!(token_url())),
        Just(json!([ISSUER, token_url()])),
        Just(json!(ISSUER)),
        (now - 200..now + 800).prop_map(Value::from),
        "[a-z0-9]{0,300}".prop_map(Value::from),
        json_value(),
    ]
}

fn assertion_mutation() -> impl Strategy<Value = JwtMutation> {
    token_mutation(assertion_claim_name, assertion_claim_value)
}

/// The rules an assertion that passes must meet (RFC 7523 3, SMART
/// Backend Services), as a model independent of the code under test.
fn assertion_meets_the_rules(assertion: &str, header: &Value, claims: &Value) -> bool {
    let now = now_secs() as f64;
    if assertion.len() > 8 * 1024 {
        return false;
    }
    let header_ok = header["alg"] == "EdDSA"
        && header["kid"] == KID
        && header
            .get("typ")
            .is_none_or(|typ| typ.as_str().is_some_and(|t| t.eq_ignore_ascii_case("JWT")))
        && ["jku", "jwk", "x5u", "x5c", "crit"]
            .iter()
            .all(|name| header.get(*name).is_none());
    let time = |name: &str| claims.get(name).map(Value::as_f64);
    let times_ok = match time("exp") {
        Some(Some(exp)) => now < exp + 60.0 && exp <= now + 360.0,
        _ => false,
    } && ["nbf", "iat"].iter().all(|name| match time(name) {
        None => true,
        Some(Some(t)) => t <= now + 60.0,
        Some(None) => false,
    });
    let aud_ok = match claims.get("aud") {
        Some(Value::String(aud)) => *aud == token_url(),
        Some(Value::Array(list)) => list.iter().any(|a| *a == token_url()),
        _ => false,
    };
    let jti_ok = claims["jti"]
        .as_str()
        .is_some_and(|jti| !jti.is_empty() && jti.len() <= 256);
    header_ok
        && times_ok
        && aud_ok
        && jti_ok
        && claims["iss"] == ASSERTION_CLIENT
        && claims["sub"] == ASSERTION_CLIENT
}

fn assertion_material() -> &'static Material {
    static MATERIAL: OnceLock<Material> = OnceLock::new();
    MATERIAL.get_or_init(|| {
        let mut document = material_document();
        document["oauth_clients"]
            .as_array_mut()
            .expect("clients")
            .push(json!({"client_id": ASSERTION_CLIENT, "jwks": {"keys": [{
                "kty": "OKP", "crv": "Ed25519", "kid": KID,
                "x": URL_SAFE_NO_PAD.encode(keys().ed25519.public_key().as_ref()),
            }]}}));
        Material::from_secret_text(&document.to_string()).expect("the assertion material")
    })
}

#[test]
fn fuzz_client_assertions() {
    use redox_destination::oauth::assertion::verify_assertion;
    on_big_stack(|| {
        let input = prop_oneof![
            4 => assertion_mutation().prop_map(Some),
            1 => Just(None),
        ];
        fuzz(
            "client_assertion",
            (input, text()),
            |(mutation, arbitrary)| {
                let material = &assertion_material().issuer;
                let verify = |assertion: &str| {
                    verify_assertion(assertion, None, material, None, &token_url(), now())
                };
                let Some(mutation) = mutation else {
                    prop_assert!(verify(&arbitrary).is_err());
                    return Ok(());
                };
                let (assertion, expect, header, claims) =
                    mutated_token(&mutation, assertion_header(), assertion_claims("fuzz-jti"));
                let result = verify(&assertion);
                match expect {
                    Expect::Accept => {
                        prop_assert!(
                            result.is_ok(),
                            "a valid assertion was refused: {:?}",
                            result
                        )
                    }
                    Expect::Refuse => {
                        prop_assert!(
                            result.is_err(),
                            "a tampered assertion verified: {}",
                            assertion
                        )
                    }
                    Expect::Any => {
                        let resigned = matches!(
                            mutation,
                            JwtMutation::ResignedHeader(..) | JwtMutation::ResignedClaim(..)
                        );
                        let valid = assertion_meets_the_rules(&assertion, &header, &claims);
                        if result.is_ok() {
                            prop_assert!(
                                valid,
                                "an assertion against the rules passed: {} {}",
                                header,
                                claims
                            );
                        } else if resigned {
                            prop_assert!(
                                !valid,
                                "a valid assertion was refused ({:?}): {} {}",
                                result,
                                header,
                                claims
                            );
                        }
                    }
                }
                if let Ok(verified) = &result {
                    prop_assert_eq!(&verified.client.client_id, ASSERTION_CLIENT);
                }
                Ok(())
            },
        );
    });
}

// ---- target: JWK sets and PKCS#8 keys -------------------------------------------------

fn jwk_value() -> impl Strategy<Value = Value> {
    let b64_of_len = |lens: std::ops::Range<usize>| {
        vec(any::<u8>(), lens).prop_map(|b| Value::String(URL_SAFE_NO_PAD.encode(b)))
    };
    (
        prop_oneof![
            Just("RSA"),
            Just("EC"),
            Just("OKP"),
            Just("oct"),
            Just("rsa")
        ],
        prop_oneof![
            Just(json!("P-256")),
            Just(json!("P-384")),
            Just(json!("Ed25519")),
            json_value()
        ],
        prop_oneof![b64_of_len(0..600), text().prop_map(Value::String)],
        prop_oneof![b64_of_len(0..64), json_value()],
        prop_oneof![
            b64_of_len(30..50),
            b64_of_len(0..4),
            text().prop_map(Value::String)
        ],
        prop_oneof![Just(Value::Null), header_value(), json_value()],
        proptest::option::of((text(), json_value())),
    )
        .prop_map(|(kty, crv, n_or_x, e, y, alg, extra)| {
            let mut key = json!({"kty": kty, "crv": crv, "n": n_or_x, "x": n_or_x,
                                 "e": e, "y": y, "kid": "k"});
            if !alg.is_null() {
                key["alg"] = alg;
            }
            if let Some((name, value)) = extra {
                key[name] = value;
            }
            key
        })
}

#[derive(Debug, Clone)]
enum PemInput {
    Text(String),
    Edited(TextEdit),
    Body(Vec<u8>),
    Label(String, String),
}

#[test]
fn fuzz_jwks_and_private_keys() {
    on_big_stack(|| {
        let jwks = prop_oneof![
            vec(jwk_value(), 0..4).prop_map(|keys| json!({"keys": keys}).to_string().into_bytes()),
            json_value().prop_map(|v| json!({"keys": v}).to_string().into_bytes()),
            bytes(),
            (1usize..4).prop_map(|k| {
                let key = json!({"kty": "OKP", "crv": "Ed25519", "kid": "k",
                             "x": URL_SAFE_NO_PAD.encode([7u8; 32])});
                json!({"keys": vec![key; 99 + k]}).to_string().into_bytes()
            }),
        ];
        let pem = prop_oneof![
            text().prop_map(PemInput::Text),
            text_edit().prop_map(PemInput::Edited),
            bytes().prop_map(PemInput::Body),
            (text(), text()).prop_map(|(a, b)| PemInput::Label(a, b)),
        ];
        fuzz("jwk", (jwks, pem), |(document, pem)| {
            match KeySet::from_jwks_json(&document) {
                Ok(set) => {
                    prop_assert!(!set.is_empty() && set.keys().len() <= 100);
                    for key in set.keys() {
                        if let Some(alg) = key.alg {
                            prop_assert!(key.kind.accepts(alg));
                        }
                    }
                }
                Err(error) => {
                    let _ = error.to_string();
                }
            }
            let valid = &keys().pkcs8_pem;
            let text = match &pem {
                PemInput::Text(t) => t.clone(),
                PemInput::Edited(edit) => edit.apply(valid),
                PemInput::Body(b) => format!(
                    "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----",
                    STANDARD.encode(b)
                ),
                PemInput::Label(a, b) => format!("-----BEGIN {a}-----\n{b}\n-----END {a}-----"),
            };
            match SigningKey::from_pkcs8_pem(KID, &text) {
                Ok(key) => {
                    // Only a real key parses; its public half verifies its own
                    // signatures (checked by its kind matching its algorithm).
                    prop_assert!(key.verification.kind.accepts(key.algorithm));
                    let debug = format!("{key:?}");
                    prop_assert!(!debug.contains("PRIVATE"), "Debug shows the key: {}", debug);
                }
                Err(error) => {
                    // No part of a key's base64 body is quoted (the error
                    // texts name the expected markers, so those may appear).
                    let reason = error.to_string();
                    let body = match &pem {
                        PemInput::Edited(_) => valid
                            .lines()
                            .filter(|l| !l.starts_with("-----"))
                            .collect::<Vec<_>>()
                            .concat(),
                        PemInput::Body(raw) => STANDARD.encode(raw),
                        PemInput::Text(_) | PemInput::Label(..) => String::new(),
                    };
                    let quoted = body.len() >= 16
                        && (0..=body.len() - 16).any(|i| reason.contains(&body[i..i + 16]));
                    prop_assert!(!quoted, "the PEM body is quoted in the error: {}", reason);
                }
            }
            Ok(())
        });
    });
}

// ---- target: the OAuth token endpoint, its form and Basic decoding ----------------

/// RFC 3986 percent-encoding of every byte but the unreserved ones, so the
/// form decoder gives back exactly `value`.
fn form_encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `application/x-www-form-urlencoded` decoding as RFC 6749 clients expect.
fn form_decode(value: &str) -> Vec<u8> {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[derive(Debug, Clone)]
enum ClientAuth {
    /// HTTP Basic with these raw id and secret.
    Basic(String, String),
    /// HTTP Basic with arbitrary bytes as the base64 payload.
    BasicBytes(Vec<u8>),
    /// An arbitrary Authorization header.
    Header(String),
    /// Form fields (encoded so they decode to exactly these).
    Form(String, String),
    /// Form fields with raw, unencoded text.
    RawForm(String, String),
    /// A client assertion of the assertion client, and whether it is the
    /// valid one (signed, for this token URL, a fresh jti).
    Assertion(String, bool),
}

/// A client assertion with the jti `n`: valid, or for another audience.
fn fuzz_assertion(n: u64, valid: bool) -> ClientAuth {
    let mut claims = assertion_claims(&format!("fuzz-{n}"));
    if !valid {
        claims["aud"] = json!(ISSUER);
    }
    ClientAuth::Assertion(signed_jwt(&b64(&assertion_header()), &b64(&claims)), valid)
}

fn secret_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(CLIENT_SECRET.to_owned()),
        3 => text_edit().prop_map(|e| e.apply(CLIENT_SECRET)),
        1 => text(),
    ]
}

fn client_id_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(CLIENT_ID.to_owned()),
        1 => text_edit().prop_map(|e| e.apply(CLIENT_ID)),
        1 => text(),
    ]
}

fn client_auth() -> impl Strategy<Value = ClientAuth> {
    prop_oneof![
        3 => (client_id_text(), secret_text()).prop_map(|(i, s)| ClientAuth::Basic(i, s)),
        1 => bytes().prop_map(ClientAuth::BasicBytes),
        1 => text().prop_map(ClientAuth::Header),
        3 => (client_id_text(), secret_text()).prop_map(|(i, s)| ClientAuth::Form(i, s)),
        1 => (text(), text()).prop_map(|(i, s)| ClientAuth::RawForm(i, s)),
        2 => (any::<u64>(), any::<bool>()).prop_map(|(n, valid)| fuzz_assertion(n, valid)),
        1 => text().prop_map(|garbage| ClientAuth::Assertion(garbage, false)),
    ]
}

#[derive(Debug, Clone)]
struct TokenRequest {
    method: String,
    content_type: String,
    grant_type: Option<String>,
    scope: Option<String>,
    auth: ClientAuth,
    extra: Option<(String, String)>,
    raw_body: Option<Vec<u8>>,
    /// The fields as a JSON object (`application/json`) instead of a form.
    json: bool,
}

fn token_request() -> impl Strategy<Value = TokenRequest> {
    (
        prop_oneof![5 => Just("POST".to_owned()), 1 => text()],
        prop_oneof![
            5 => Just("application/x-www-form-urlencoded".to_owned()),
            1 => Just("Application/X-WWW-Form-Urlencoded; charset=utf-8".to_owned()),
            1 => text()
        ],
        prop_oneof![
            5 => Just(Some("client_credentials".to_owned())),
            1 => Just(None),
            1 => text().prop_map(Some)
        ],
        prop_oneof![4 => Just(None), 1 => text().prop_map(Some)],
        client_auth(),
        proptest::option::of((text(), text())),
        prop_oneof![8 => Just(None), 1 => bytes().prop_map(Some)],
        prop_oneof![3 => Just(false), 1 => Just(true)],
    )
        .prop_map(
            |(method, content_type, grant_type, scope, auth, extra, raw_body, json)| TokenRequest {
                method,
                content_type,
                grant_type,
                scope,
                auth,
                extra,
                raw_body,
                json,
            },
        )
}

impl TokenRequest {
    fn build(&self) -> InboundRequest {
        let mut headers: Vec<(String, String)> = self.authorization().into_iter().collect();
        let fields = self.fields();
        let body = if self.json {
            headers.push(("content-type".into(), "application/json".into()));
            // Member by member, so a name may repeat.
            let members: Vec<String> = fields
                .iter()
                .map(|(name, value, _)| format!("{}:{}", json!(name), json!(value)))
                .collect();
            format!("{{{}}}", members.join(",")).into_bytes()
        } else {
            headers.push(("content-type".into(), self.content_type.clone()));
            let pairs: Vec<&str> = fields.iter().map(|(_, _, pair)| pair.as_str()).collect();
            pairs.join("&").into_bytes()
        };
        let body = self.raw_body.clone().unwrap_or(body);
        let mut request = inbound(&self.method, oauth::TOKEN_PATH, "", headers, body);
        request.origin = Origin::new(FrontDoor::LocalServer);
        request
    }

    /// The Authorization header the client authentication puts there.
    fn authorization(&self) -> Option<(String, String)> {
        let value = match &self.auth {
            ClientAuth::Basic(id, secret) => {
                format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
            }
            ClientAuth::BasicBytes(raw) => format!("Basic {}", STANDARD.encode(raw)),
            ClientAuth::Header(value) => value.clone(),
            _ => return None,
        };
        Some(("authorization".into(), value))
    }

    /// The body's fields: name, value (as a JSON body carries it) and the
    /// `name=value` text of a form body.
    fn fields(&self) -> Vec<(String, String, String)> {
        let encoded = |name: &str, value: &str| {
            (
                name.to_owned(),
                value.to_owned(),
                format!("{name}={}", form_encode(value)),
            )
        };
        let mut fields = Vec::new();
        fields.extend(self.grant_type.as_deref().map(|g| encoded("grant_type", g)));
        fields.extend(self.scope.as_deref().map(|s| encoded("scope", s)));
        match &self.auth {
            ClientAuth::Form(id, secret) => {
                fields.push(encoded("client_id", id));
                fields.push(encoded("client_secret", secret));
            }
            ClientAuth::RawForm(id, secret) => {
                fields.push(("client_id".into(), id.clone(), format!("client_id={id}")));
                fields.push((
                    "client_secret".into(),
                    secret.clone(),
                    format!("client_secret={secret}"),
                ));
            }
            ClientAuth::Assertion(assertion, _) => {
                fields.push(encoded(
                    "client_assertion_type",
                    oauth::assertion::ASSERTION_TYPE,
                ));
                fields.push(encoded("client_assertion", assertion));
            }
            _ => {}
        }
        if let Some((name, value)) = &self.extra {
            fields.push((name.clone(), value.clone(), format!("{name}={value}")));
        }
        fields
    }

    /// Whether the request presents a credential of a configured client:
    /// the valid client assertion, or (any reading of) the client's secret
    /// (Basic is read raw and form-decoded, RFC 6749 2.3.1).
    fn presents_the_client(&self) -> bool {
        if let ClientAuth::Assertion(_, valid) = &self.auth {
            return *valid;
        }
        if self.json && self.raw_body.is_none() {
            let request = self.build();
            let body: Option<Map<String, Value>> = serde_json::from_slice(&request.body).ok();
            let field = |name: &str| {
                body.as_ref()
                    .and_then(|b| b.get(name))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let form_ok = field("client_id").as_deref() == Some(CLIENT_ID)
                && field("client_secret").as_deref() == Some(CLIENT_SECRET);
            return form_ok || self.basic_presents_the_client();
        }
        let form_pair = |body: &str| {
            let mut id = None;
            let mut secret = None;
            for part in body.split('&') {
                let (k, v) = part.split_once('=').unwrap_or((part, ""));
                match form_decode(k).as_slice() {
                    b"client_id" => id = Some(form_decode(v)),
                    b"client_secret" => secret = Some(form_decode(v)),
                    _ => {}
                }
            }
            id.zip(secret)
        };
        let request = self.build();
        let body = String::from_utf8_lossy(&request.body).into_owned();
        let form_ok = form_pair(&body).is_some_and(|(id, secret)| is_client(&id, &secret));
        self.basic_presents_the_client() || form_ok
    }

    /// Whether the Basic credentials, read raw or form-decoded, are the
    /// client's.
    fn basic_presents_the_client(&self) -> bool {
        // RFC 7617: the user id ends at the first colon.
        let split = |t: String| t.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned()));
        let basic = match &self.auth {
            ClientAuth::Basic(id, secret) => split(format!("{id}:{secret}")),
            ClientAuth::BasicBytes(raw) => String::from_utf8(raw.clone()).ok().and_then(split),
            // Arbitrary header text is never taken to present the client.
            _ => None,
        };
        basic.is_some_and(|(id, secret)| {
            is_client(id.as_bytes(), secret.as_bytes())
                || is_client(&form_decode(&id), &form_decode(&secret))
        })
    }
}

fn is_client(id: &[u8], secret: &[u8]) -> bool {
    id == CLIENT_ID.as_bytes() && secret == CLIENT_SECRET.as_bytes()
}

#[test]
fn fuzz_oauth_token_endpoint() {
    on_big_stack(|| {
        let issuer = BuiltinIssuer::new(ISSUER, Duration::from_secs(300));
        let material = assertion_material();
        fuzz("oauth_token_endpoint", token_request(), |spec| {
            let request = spec.build();
            match oauth::issue_token(&request, &issuer, &material.issuer, now()) {
                Ok(issued) => {
                    prop_assert!(
                        spec.presents_the_client(),
                        "a token was issued without the client's credentials"
                    );
                    let expected = match spec.auth {
                        ClientAuth::Assertion(..) => ASSERTION_CLIENT,
                        _ => CLIENT_ID,
                    };
                    prop_assert_eq!(&issued.client_id, expected);
                    // The token it issued is one the jwt method accepts.
                    let issuers = [TrustedIssuer {
                        kind: IssuerKind::BuiltIn,
                        settings: jwt_settings(),
                        keys: Some(material.issuer.verification_keys()),
                    }];
                    prop_assert!(verify_jwt(&issued.access_token, &issuers, now()).is_ok());
                }
                Err(error) => {
                    // 429: the client's assertion grants of the minute are spent.
                    prop_assert!([400, 401, 405, 429, 503].contains(&error.status()));
                    let reason = error.to_string();
                    prop_assert!(!reason.contains(CLIENT_SECRET));
                    prop_assert!(!error.description().contains(CLIENT_SECRET));
                }
            }
            Ok(())
        });
    });
}

// ---- target: handshake classification and Meta extraction ------------------------

#[derive(Debug, Clone)]
enum RedoxBody {
    /// The push fixture with one Meta field set to this value.
    Meta(&'static str, Value),
    /// The push fixture with one Meta field set to a string.
    MetaText(&'static str, String),
    /// A handshake body with this challenge and token.
    Handshake(Value, Option<Value>),
    /// The push fixture's text with arbitrary bytes spliced in.
    Spliced(usize, Vec<u8>),
    /// Anything.
    Raw(Vec<u8>),
    /// A FHIR message bundle with this first entry.
    Fhir(Value),
}

const META_FIELDS: [&str; 13] = [
    "/Meta/DataModel",
    "/Meta/EventType",
    "/Meta/Logs/0/ID",
    "/Meta/Logs/0/AttemptID",
    "/Meta/Source/ID",
    "/Meta/Test",
    "/Meta/Logs",
    "/Meta/Source",
    "/Meta",
    "/Meta/Destinations/0/ID",
    "/Meta/FacilityCode",
    "/Meta/EventDateTime",
    "/Meta/Message",
];

fn meta_field() -> impl Strategy<Value = &'static str> {
    (0..META_FIELDS.len()).prop_map(|i| META_FIELDS[i])
}

fn set_pointer(doc: &mut Value, pointer: &str, value: Value) {
    let (parent, last) = pointer.rsplit_once('/').expect("a pointer");
    if let Some(target) = doc.pointer_mut(parent) {
        match target {
            Value::Array(list) => {
                if let Ok(i) = last.parse::<usize>()
                    && i < list.len()
                {
                    list[i] = value;
                }
            }
            other => other[last] = value,
        }
    }
}

fn redox_body() -> impl Strategy<Value = RedoxBody> {
    prop_oneof![
        2 => (meta_field(), json_value()).prop_map(|(f, v)| RedoxBody::Meta(f, v)),
        3 => (meta_field(), text()).prop_map(|(f, v)| RedoxBody::MetaText(f, v)),
        2 => (
            prop_oneof![Just(json!(CHALLENGE)), "[A-Za-z0-9._~-]{0,130}".prop_map(Value::String), json_value()],
            proptest::option::of(prop_oneof![Just(json!(TOKEN)), json_value()]),
        ).prop_map(|(c, t)| RedoxBody::Handshake(c, t)),
        1 => (any::<usize>(), bytes()).prop_map(|(i, b)| RedoxBody::Spliced(i, b)),
        1 => bytes().prop_map(RedoxBody::Raw),
        1 => json_value().prop_map(RedoxBody::Fhir),
    ]
}

impl RedoxBody {
    fn bytes(&self) -> Vec<u8> {
        match self {
            RedoxBody::Meta(field, value) => {
                let mut doc = push_json().clone();
                set_pointer(&mut doc, field, value.clone());
                serde_json::to_vec(&doc).expect("JSON")
            }
            RedoxBody::MetaText(field, value) => {
                RedoxBody::Meta(field, Value::String(value.clone())).bytes()
            }
            RedoxBody::Handshake(challenge, token) => {
                let mut doc = json!({"challenge": challenge});
                if let Some(token) = token {
                    doc["verification-token"] = token.clone();
                }
                serde_json::to_vec(&doc).expect("JSON")
            }
            RedoxBody::Spliced(at, raw) => {
                let mut body = push_body();
                let at = at % (body.len() + 1);
                body.splice(at..at, raw.iter().copied());
                body
            }
            RedoxBody::Raw(raw) => raw.clone(),
            RedoxBody::Fhir(first) => serde_json::to_vec(&json!({
                "resourceType": "Bundle", "type": "message",
                "entry": [first, {"resource": {"resourceType": "Patient"}}],
            }))
            .expect("JSON"),
        }
    }
}

#[test]
fn fuzz_redox_classify_and_meta() {
    on_big_stack(|| {
        fuzz(
            "redox_classify",
            (redox_body(), any::<bool>(), text()),
            |(body, get, query)| {
                let bytes = body.bytes();
                let request = if get {
                    inbound("GET", "/", &query, Vec::new(), bytes)
                } else {
                    inbound("POST", "/", "", Vec::new(), bytes)
                };
                let classified = redox::classify(&request);
                match &classified {
                    Classified::Handshake(handshake) => {
                        if let Ok(challenge) = handshake.checked_challenge() {
                            prop_assert!(
                                !challenge.is_empty()
                                    && challenge.len() <= redox::MAX_CHALLENGE_LEN
                            );
                            prop_assert!(
                                challenge
                                    .bytes()
                                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
                            );
                        }
                    }
                    Classified::Push(envelope) => {
                        prop_assert!(!get, "a GET was classified as a push");
                        let message = QueuedMessage::new(
                            request.body.clone(),
                            envelope,
                            AuthMethod::Token,
                            Some("application/json"),
                            now(),
                        );
                        check_attributes(&message)?;
                        prop_assert_eq!(message.body.clone(), request.body.clone());
                    }
                }
                if !get {
                    match &body {
                        RedoxBody::MetaText(field, value) if *field != "/Meta" => {
                            let Classified::Push(Envelope::DataModel(meta)) = &classified else {
                                return Err(TestCaseError::fail(format!(
                                    "a push with Meta was not a Data Model push: {classified:?}"
                                )));
                            };
                            let extracted = match *field {
                                "/Meta/DataModel" => meta.data_model.clone(),
                                "/Meta/EventType" => meta.event_type.clone(),
                                "/Meta/Logs/0/ID" => meta.log_id.clone(),
                                "/Meta/Logs/0/AttemptID" => meta.attempt_id.clone(),
                                "/Meta/Source/ID" => meta.source_id.clone(),
                                _ => return Ok(()),
                            };
                            let expected = (!value.is_empty()).then(|| value.clone());
                            prop_assert_eq!(
                                extracted,
                                expected,
                                "Meta field {} was not read as sent",
                                field
                            );
                        }
                        RedoxBody::Meta(..) | RedoxBody::MetaText(..) => prop_assert!(
                            matches!(classified, Classified::Push(_)),
                            "a push with Meta was classified as {:?}",
                            classified
                        ),
                        _ => {}
                    }
                }
                Ok(())
            },
        );
    });
}

// ---- target: the handshake's shape (SPEC 3.2) ------------------------------------

/// The oracle, from the parsed JSON: an object with both handshake members
/// and no `Meta`.
fn has_handshake_shape(body: &[u8]) -> bool {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(members)) => {
            members.contains_key("verification-token")
                && members.contains_key("challenge")
                && !members.contains_key("Meta")
        }
        _ => false,
    }
}

/// An object whose members are any of the three that decide, each maybe
/// present with any value (`null` included), among other members; written
/// as an object, as an array of its values, or with whitespace around it.
#[derive(Debug, Clone)]
struct ShapeCase {
    token: Option<Value>,
    challenge: Option<Value>,
    meta: Option<Value>,
    others: Vec<(String, Value)>,
    layout: u8,
}

fn shape_case() -> impl Strategy<Value = ShapeCase> {
    let member = || {
        proptest::option::of(prop_oneof![
            Just(Value::Null),
            Just(json!(TOKEN)),
            Just(json!(CHALLENGE)),
            json_value()
        ])
    };
    let other_name = prop_oneof![
        Just("meta".to_owned()),
        Just("Challenge".to_owned()),
        Just("verification_token".to_owned()),
        Just("Patient".to_owned()),
        text(),
    ];
    (
        member(),
        member(),
        member(),
        vec((other_name, json_value()), 0..4),
        0u8..4,
    )
        .prop_map(|(token, challenge, meta, others, layout)| ShapeCase {
            token,
            challenge,
            meta,
            others,
            layout,
        })
}

impl ShapeCase {
    fn bytes(&self) -> Vec<u8> {
        let mut members = Map::new();
        for (name, value) in &self.others {
            members.insert(name.clone(), value.clone());
        }
        for (name, value) in [
            ("verification-token", &self.token),
            ("challenge", &self.challenge),
            ("Meta", &self.meta),
        ] {
            match value {
                Some(value) => members.insert(name.to_owned(), value.clone()),
                None => members.remove(name),
            };
        }
        let object = Value::Object(members);
        match self.layout {
            0 => serde_json::to_vec(&object).expect("JSON"),
            1 => format!(" \r\n\t{object}\n").into_bytes(),
            // The values by position: a struct reader would take them for
            // the members in declaration order.
            2 => {
                let values: Vec<Value> = [&self.meta, &self.challenge, &self.token]
                    .into_iter()
                    .map(|v| v.clone().unwrap_or(Value::Null))
                    .chain([Value::Null, Value::Null])
                    .collect();
                serde_json::to_vec(&values).expect("JSON")
            }
            _ => serde_json::to_vec(&json!([object])).expect("JSON"),
        }
    }
}

#[test]
fn fuzz_redox_handshake_shape() {
    on_big_stack(|| {
        fuzz(
            "redox_handshake_shape",
            prop_oneof![
                6 => shape_case().prop_map(|case| case.bytes()),
                1 => bytes(),
                1 => (any::<usize>(), bytes()).prop_map(|(at, raw)| {
                    let mut body = serde_json::to_vec(
                        &json!({"verification-token": TOKEN, "challenge": CHALLENGE}),
                    )
                    .expect("JSON");
                    let at = at % (body.len() + 1);
                    body.splice(at..at, raw);
                    body
                }),
            ],
            |body| {
                let request = inbound("POST", "/", "", Vec::new(), body.clone());
                let classified = redox::classify(&request);
                let shape = has_handshake_shape(&body);
                match &classified {
                    Classified::Handshake(handshake) => {
                        prop_assert!(
                            shape && body.len() <= redox::MAX_HANDSHAKE_BYTES,
                            "taken for a handshake: {:?}",
                            String::from_utf8_lossy(&body)
                        );
                        let members: Value = serde_json::from_slice(&body).expect("an object");
                        prop_assert_eq!(
                            handshake.challenge.as_str(),
                            members["challenge"].as_str().unwrap_or_default()
                        );
                        prop_assert_eq!(
                            handshake.token.as_deref(),
                            members["verification-token"].as_str()
                        );
                    }
                    // A body with a repeated member is refused by the
                    // classifier's reader (serde's duplicate-field check) and
                    // queued, while the oracle keeps the last copy: a push is
                    // always the safe side.
                    // And a body over the handshake limit is a push
                    // whatever its shape.
                    Classified::Push(_) => prop_assert!(
                        !shape
                            || has_repeated_member(&body)
                            || body.len() > redox::MAX_HANDSHAKE_BYTES,
                        "a handshake-shaped body was taken for a push: {:?}",
                        String::from_utf8_lossy(&body)
                    ),
                }
                Ok(())
            },
        );
    });
}

/// Whether the top-level object names one of the deciding members twice.
fn has_repeated_member(body: &[u8]) -> bool {
    struct Counter(bool);
    impl<'de> serde::de::Visitor<'de> for Counter {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut seen = std::collections::HashSet::new();
            let mut repeated = self.0;
            while let Some(name) = map.next_key::<String>()? {
                map.next_value::<serde::de::IgnoredAny>()?;
                if [
                    "verification-token",
                    "challenge",
                    "Meta",
                    "resourceType",
                    "type",
                    "entry",
                ]
                .contains(&name.as_str())
                {
                    repeated |= !seen.insert(name);
                }
            }
            Ok(repeated)
        }
    }
    let mut reader = serde_json::Deserializer::from_slice(body);
    serde::Deserializer::deserialize_map(&mut reader, Counter(false)).unwrap_or(false)
}

// ---- target: the Content-Type stored in S3 -------------------------------------------

/// A media type built from RFC 9110's grammar (printable ASCII only), with
/// its parameters, or that with one part spoiled.
fn media_type_text() -> impl Strategy<Value = String> {
    let token = "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}";
    let quoted = r#""([ !#-\[\]-~]|\\[ -~]){0,12}""#;
    let parameter = (
        token,
        prop_oneof![token.boxed(), quoted.boxed()],
        " {0,2}",
        " {0,2}",
    )
        .prop_map(|(name, value, before, after)| format!("{before};{after}{name}={value}"));
    (token, token, vec(parameter, 0..4))
        .prop_map(|(kind, subtype, parameters)| format!("{kind}/{subtype}{}", parameters.concat()))
}

#[test]
fn fuzz_s3_content_type() {
    on_big_stack(|| {
        fuzz(
            "s3_content_type",
            prop_oneof![
                3 => media_type_text().prop_map(|value| (value, true)),
                // One character anywhere: non-ASCII, a control, a quote, a
                // separator.
                3 => (media_type_text(), any::<usize>(), prop_oneof![any::<char>(), Just('"'), Just(';'), Just(' '), Just('\t'), Just('é')])
                    .prop_map(|(value, at, c)| {
                        let at = boundary(&value, at);
                        (format!("{}{c}{}", &value[..at], &value[at..]), false)
                    }),
                2 => text().prop_map(|t| (t, false)),
            ],
            |(sent, valid)| {
                let stored = s3_content_type(&sent);
                prop_assert!(
                    !stored.is_empty()
                        && stored.len() <= 256
                        && stored.bytes().all(|b| (0x20..=0x7e).contains(&b)),
                    "not printable ASCII: {:?}",
                    stored
                );
                prop_assert!(is_media_type(stored), "not a media type: {:?}", stored);
                prop_assert_eq!(s3_content_type(stored), stored, "not stable");
                if valid && sent.len() <= 256 {
                    prop_assert_eq!(stored, sent.as_str(), "a valid media type was changed");
                }
                if stored != FALLBACK_MEDIA_TYPE {
                    prop_assert!(
                        sent.trim_matches(' ').starts_with(stored),
                        "{:?} is not taken from {:?}",
                        stored,
                        sent
                    );
                }
                Ok(())
            },
        );
    });
}

// ---- target: the CLI's plain-HTTP rule for secrets -----------------------------------

/// A URL host and whether it is this machine's loopback, decided from how it
/// was built rather than by parsing it back.
fn cli_host() -> impl Strategy<Value = (String, bool)> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|[a, b, c, d]| (format!("{a}.{b}.{c}.{d}"), a == 127)),
        any::<[u16; 8]>().prop_map(|s| {
            let text = s
                .iter()
                .map(|x| format!("{x:x}"))
                .collect::<Vec<_>>()
                .join(":");
            let loopback = s == [0, 0, 0, 0, 0, 0, 0, 1]
                || (s[..6] == [0, 0, 0, 0, 0, 0xffff] && s[6] >> 8 == 127);
            (format!("[{text}]"), loopback)
        }),
        Just(("[::1]".to_owned(), true)),
        Just(("[::ffff:127.0.0.1]".to_owned(), true)),
        (any::<u8>(), any::<bool>()).prop_map(|(mask, dot)| {
            let name: String = "localhost"
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if mask >> (i % 8) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            (format!("{name}{}", if dot { "." } else { "" }), true)
        }),
        "[a-z0-9-]{1,12}(\\.[a-z0-9-]{1,12}){0,3}".prop_map(|name| {
            let loopback = name == "localhost";
            (name, loopback)
        }),
        Just(("localhost.example.com".to_owned(), false)),
        Just(("127.0.0.1.nip.io".to_owned(), false)),
        Just(("2130706433".to_owned(), false)),
    ]
}

#[test]
fn fuzz_cli_secret_transport() {
    use redox_destination::cli::http::{check_secret_transport, is_loopback, parse_url};
    on_big_stack(|| {
        fuzz(
            "cli_secret_transport",
            prop_oneof![
                4 => (cli_host(), any::<bool>(), proptest::option::of(any::<u16>()), "(/[a-z0-9%]{0,8}){0,3}")
                    .prop_map(|((host, loopback), https, port, path)| {
                        let scheme = if https { "https" } else { "http" };
                        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
                        (format!("{scheme}://{host}{port}{path}"), Some((loopback, https)))
                    }),
                1 => text().prop_map(|t| (t, None)),
                1 => text().prop_map(|t| (format!("http://{t}/"), None)),
            ],
            |(text, expected)| {
                let Ok(url) = parse_url(&text) else {
                    // A built URL always parses; anything else may not.
                    prop_assert!(expected.is_none(), "{} did not parse", text);
                    return Ok(());
                };
                let verdict = check_secret_transport(&url, "the token");
                if url.scheme_str() == Some("https") {
                    prop_assert!(verdict.is_ok(), "https refused: {}", text);
                } else {
                    prop_assert_eq!(verdict.is_ok(), is_loopback(&url), "{}", text);
                }
                if let Some((loopback, https)) = expected {
                    prop_assert_eq!(is_loopback(&url), loopback, "{}", text);
                    prop_assert_eq!(verdict.is_ok(), https || loopback, "{}", text);
                }
                Ok(())
            },
        );
    });
}

// ---- target: Lambda event mapping (Function URL 2.0, HTTP API 2.0, REST 1.0) -------

fn event_fixtures() -> &'static Vec<(String, Value)> {
    static FIXTURES: OnceLock<Vec<(String, Value)>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut all = Vec::new();
        for dir in ["tests/fixtures/events", "events"] {
            let mut entries: Vec<_> = std::fs::read_dir(root.join(dir))
                .expect("fixture folder")
                .map(|e| e.expect("entry").path())
                // Sample events only: `events/payloads/` holds S3 objects.
                .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
                .collect();
            entries.sort();
            for path in entries {
                let value: Value =
                    serde_json::from_slice(&std::fs::read(&path).expect("fixture")).expect("JSON");
                if value.get("requestContext").is_some() {
                    all.push((path.display().to_string(), value));
                }
            }
        }
        let shapes = |v: &Value| (v["version"] == "2.0", v.get("httpMethod").is_some());
        assert!(
            all.iter().any(|(_, v)| shapes(v) == (true, false)),
            "a 2.0 event"
        );
        assert!(
            all.iter().any(|(_, v)| shapes(v) == (false, true)),
            "a REST event"
        );
        assert!(
            all.iter().any(|(_, v)| v["requestContext"]["domainName"]
                .as_str()
                .is_some_and(|d| !d.contains(".lambda-url."))
                && v["version"] == "2.0"),
            "an HTTP API event"
        );
        all
    })
}

const EVENT_FIELDS: &[&str] = &[
    "/version",
    "/rawPath",
    "/rawQueryString",
    "/cookies",
    "/headers",
    "/multiValueHeaders",
    "/queryStringParameters",
    "/multiValueQueryStringParameters",
    "/httpMethod",
    "/path",
    "/body",
    "/isBase64Encoded",
    "/requestContext",
    "/requestContext/domainName",
    "/requestContext/http",
    "/requestContext/http/method",
    "/requestContext/http/sourceIp",
    "/requestContext/path",
    "/requestContext/httpMethod",
    "/requestContext/identity",
    "/requestContext/identity/userArn",
    "/requestContext/authorizer",
    "/requestContext/authorizer/iam/userArn",
];

#[derive(Debug, Clone)]
enum EventMutation {
    None,
    /// One field set to any JSON value (or removed when `None`).
    Field(usize, Option<Value>),
    /// One header added with any name and value (both header maps).
    Header(String, String),
    /// The body as arbitrary bytes, base64-encoded and flagged so.
    Base64Body(Vec<u8>),
    /// The body as text, flagged base64 or not.
    TextBody(String, bool),
    /// The serialized event with text spliced in.
    Spliced(usize, String),
}

fn event_mutation() -> impl Strategy<Value = EventMutation> {
    prop_oneof![
        1 => Just(EventMutation::None),
        4 => ((0..EVENT_FIELDS.len()), proptest::option::of(json_value()))
            .prop_map(|(i, v)| EventMutation::Field(i, v)),
        2 => (text(), text()).prop_map(|(n, v)| EventMutation::Header(n, v)),
        2 => bytes().prop_map(EventMutation::Base64Body),
        2 => (text(), any::<bool>()).prop_map(|(t, b)| EventMutation::TextBody(t, b)),
        1 => (any::<usize>(), text()).prop_map(|(i, t)| EventMutation::Spliced(i, t)),
    ]
}

fn remove_pointer(doc: &mut Value, pointer: &str) {
    let (parent, last) = pointer.rsplit_once('/').expect("a pointer");
    if let Some(Value::Object(map)) = doc.pointer_mut(parent) {
        map.remove(last);
    }
}

fn set_event_field(doc: &mut Value, pointer: &str, value: Value) {
    // Creates the parents, so nested fields are set even where absent.
    let mut target = doc;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for part in &parts[..parts.len() - 1] {
        if !target.get(*part).is_some_and(Value::is_object) {
            target[*part] = json!({});
        }
        target = &mut target[*part];
    }
    target[parts[parts.len() - 1]] = value;
}

#[test]
fn fuzz_lambda_event_mapping() {
    on_big_stack(|| {
        let fixtures = event_fixtures();
        let input = (0..fixtures.len(), event_mutation());
        fuzz("lambda_event", input, |(index, mutation)| {
            let (_, base) = &fixtures[index];
            let mut event = base.clone();
            let mut expected_body: Option<Vec<u8>> = None;
            let text = match &mutation {
                EventMutation::None => event.to_string(),
                EventMutation::Field(i, value) => {
                    match value {
                        Some(v) => set_event_field(&mut event, EVENT_FIELDS[*i], v.clone()),
                        None => remove_pointer(&mut event, EVENT_FIELDS[*i]),
                    }
                    event.to_string()
                }
                EventMutation::Header(name, value) => {
                    for map in ["headers", "multiValueHeaders"] {
                        if let Some(Value::Object(headers)) = event.get_mut(map) {
                            let v = if map == "headers" {
                                json!(value)
                            } else {
                                json!([value])
                            };
                            headers.insert(name.clone(), v);
                        }
                    }
                    event.to_string()
                }
                EventMutation::Base64Body(raw) => {
                    event["body"] = json!(STANDARD.encode(raw));
                    event["isBase64Encoded"] = json!(true);
                    expected_body = Some(raw.clone());
                    event.to_string()
                }
                EventMutation::TextBody(body, flagged) => {
                    event["body"] = json!(body);
                    event["isBase64Encoded"] = json!(flagged);
                    if !flagged {
                        expected_body = Some(body.clone().into_bytes());
                    }
                    event.to_string()
                }
                EventMutation::Spliced(at, insert) => {
                    let text = event.to_string();
                    let at = boundary(&text, *at);
                    format!("{}{insert}{}", &text[..at], &text[at..])
                }
            };
            let parsed = parse_event(&text);
            if let EventMutation::None = mutation {
                prop_assert!(parsed.is_ok(), "a real event was refused: {:?}", parsed);
            }
            if let Ok(request) = parsed {
                prop_assert_eq!(request.method.to_ascii_uppercase(), request.method.clone());
                prop_assert!(
                    request
                        .headers
                        .iter()
                        .all(|(n, _)| *n == n.to_ascii_lowercase()),
                    "header names are lower-cased"
                );
                if let Some(body) = expected_body {
                    prop_assert_eq!(
                        request.body.as_ref(),
                        body.as_slice(),
                        "the body was not kept exactly"
                    );
                }
                if event["version"] == "2.0"
                    && let Some(raw_path) = event["rawPath"].as_str()
                    && !matches!(mutation, EventMutation::Spliced(..))
                {
                    prop_assert_eq!(&request.raw_path, raw_path, "rawPath was not kept as sent");
                }
            }
            Ok(())
        });
    });
}

// ---- target: the auth material parser -----------------------------------------------

/// A canary secret: any refusal or Debug output that shows it leaks.
const CANARY: &str = "CANARY-fuzz-7f3k9q2x";

/// Secret-bearing positions of the document and the wrong shapes a secret
/// may arrive in there.
const SECRET_POINTERS: [&str; 6] = [
    "/verification_tokens",
    "/sigv4_keys/0/secret_access_key",
    "/sigv4_keys/1/session_token",
    "/oauth_clients/0/client_secret",
    "/oauth_signing_keys/0/private_key_pem",
    "/sigv4_keys",
];

#[derive(Debug, Clone)]
enum MaterialInput {
    /// The valid document with one field set to any JSON value.
    Field(usize, Value),
    /// The canary as a secret, in one wrong shape, at one secret position.
    Canary(usize, usize, String),
    /// The valid document's text, edited.
    Edited(TextEdit),
    /// Anything.
    Raw(String),
}

fn canary_shape(shape: usize, noise: &str) -> Value {
    let canary = format!("{CANARY}{noise}");
    match shape % 9 {
        0 => json!(canary),
        1 => json!([canary]),
        2 => json!({"value": canary}),
        3 => json!([[canary]]),
        4 => json!([{"secret": canary}]),
        5 => json!(format!(" {canary}\u{1}")),
        6 => json!(format!(
            "-----BEGIN PRIVATE KEY-----\n{canary}\n-----END PRIVATE KEY-----"
        )),
        7 => json!(format!(
            "-----BEGIN EC PRIVATE KEY-----\n{canary}\n-----END EC PRIVATE KEY-----"
        )),
        _ => json!([canary, 42]),
    }
}

const MATERIAL_FIELDS: [&str; 14] = [
    "/verification_tokens",
    "/verification_tokens/0",
    "/sigv4_keys",
    "/sigv4_keys/0",
    "/sigv4_keys/0/access_key_id",
    "/sigv4_keys/0/secret_access_key",
    "/sigv4_keys/0/region",
    "/sigv4_keys/1/session_token",
    "/oauth_clients",
    "/oauth_clients/0/client_id",
    "/oauth_clients/0/client_secret",
    "/oauth_signing_keys",
    "/oauth_signing_keys/0/kid",
    "/oauth_signing_keys/0/private_key_pem",
];

fn material_input() -> impl Strategy<Value = MaterialInput> {
    prop_oneof![
        3 => ((0..MATERIAL_FIELDS.len()), json_value()).prop_map(|(i, v)| MaterialInput::Field(i, v)),
        3 => ((0..SECRET_POINTERS.len()), 0usize..9, "[a-z0-9]{0,6}")
            .prop_map(|(p, s, n)| MaterialInput::Canary(p, s, n)),
        2 => text_edit().prop_map(MaterialInput::Edited),
        1 => text().prop_map(MaterialInput::Raw),
    ]
}

fn material_text(input: &MaterialInput) -> String {
    let mut doc = material_document();
    match input {
        MaterialInput::Field(i, value) => {
            set_pointer(&mut doc, MATERIAL_FIELDS[*i], value.clone());
            doc.to_string()
        }
        MaterialInput::Canary(p, shape, noise) => {
            set_pointer(&mut doc, SECRET_POINTERS[*p], canary_shape(*shape, noise));
            doc.to_string()
        }
        MaterialInput::Edited(edit) => edit.apply(&doc.to_string()),
        MaterialInput::Raw(text) => text.clone(),
    }
}

#[test]
fn fuzz_material_secret_text() {
    on_big_stack(|| {
        let secrets = [
            TOKEN,
            KEY_SECRET,
            SESSION_SECRET,
            SESSION_TOKEN,
            CLIENT_SECRET,
            CANARY,
        ];
        fuzz("material", material_input(), |input| {
            let text = material_text(&input);
            match Material::from_secret_text(&text) {
                Ok(material) => {
                    let debug = format!("{material:?}");
                    for secret in secrets {
                        prop_assert!(
                            !debug.contains(secret),
                            "Debug of the material shows {}",
                            secret
                        );
                    }
                    prop_assert!(!debug.contains("PRIVATE KEY"), "Debug shows a private key");
                }
                Err(error) => {
                    let reason = error.to_string();
                    for secret in secrets {
                        prop_assert!(
                            !reason.contains(secret),
                            "the material error quotes the secret {:?}: {}",
                            secret,
                            reason
                        );
                    }
                    prop_assert!(
                        !reason.contains("PRIVATE KEY-----\n"),
                        "the error quotes a PEM"
                    );
                }
            }
            Ok(())
        });
    });
}

// ---- target: the whole Destination::handle -------------------------------------------

/// A sink that keeps the last message in memory and counts them all.
#[derive(Default)]
struct RecordingSink {
    count: AtomicUsize,
    last: Mutex<Option<(String, QueuedMessage)>>,
}

impl Sink for RecordingSink {
    fn put<'a>(&'a self, message: &'a QueuedMessage) -> BoxFuture<'a, Result<String, SinkError>> {
        Box::pin(async move {
            let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
            let id = format!("fuzz-message-{n}");
            *self.last.lock().expect("sink lock") = Some((id.clone(), message.clone()));
            Ok(id)
        })
    }
    fn describe(&self) -> String {
        "an in-memory recording sink".into()
    }
}

fn destination(sink: Arc<RecordingSink>) -> Destination {
    let builtin = BuiltinIssuer::new(ISSUER, Duration::from_secs(300));
    let cache = MaterialCache::new(
        vec![Box::new(StaticMaterial::new(material(), "fuzz material"))],
        Duration::from_secs(300),
    );
    Destination {
        auth: Authenticator {
            material: Arc::new(cache),
            trust: JwtTrust {
                remote: None,
                builtin: Some(builtin.base.clone()),
                ..JwtTrust::default()
            },
            google: None,
            policy: AuthPolicy {
                enabled: vec![AuthMethod::Token, AuthMethod::Sigv4, AuthMethod::Jwt],
                allowed_principals: Vec::new(),
                clock_skew: SKEW,
            },
        },
        issuer: Some(builtin),
        sink,
        max_body_bytes: 64 * 1024,
        request_timeout: Duration::from_secs(10),
    }
}

#[derive(Debug, Clone)]
enum HandleCase {
    /// A SigV4-signed push, mutated.
    Sigv4(SignedParts, SigMutation),
    /// A bearer-JWT push, mutated.
    Jwt(JwtMutation),
    /// A verification-token push with the header and/or Bearer edited, and
    /// maybe the Meta of its body.
    Token(Option<TextEdit>, Option<TextEdit>, Option<RedoxBody>),
    /// A POST or GET handshake with its token edited.
    Handshake(bool, Option<TextEdit>),
    /// A token endpoint request.
    OAuth(TokenRequest),
    /// Any request at all.
    Arbitrary(String, String, Vec<(String, String)>, Vec<u8>),
}

fn handle_case() -> impl Strategy<Value = HandleCase> {
    prop_oneof![
        4 => (signed_parts(), sig_mutation()).prop_map(|(p, m)| HandleCase::Sigv4(p, m)),
        3 => jwt_mutation().prop_map(HandleCase::Jwt),
        3 => (
            proptest::option::of(text_edit()),
            proptest::option::of(text_edit()),
            proptest::option::of(redox_body()),
        ).prop_map(|(h, b, body)| HandleCase::Token(h, b, body)),
        1 => (any::<bool>(), proptest::option::of(text_edit())).prop_map(|(g, e)| HandleCase::Handshake(g, e)),
        1 => token_request().prop_map(HandleCase::OAuth),
        1 => (
            prop_oneof![Just("POST".to_owned()), Just("GET".to_owned()), text()],
            prop_oneof![Just("/redox".to_owned()), Just(oauth::TOKEN_PATH.to_owned()), Just(oauth::JWKS_PATH.to_owned()), text()],
            vec((
                prop_oneof![Just("authorization".to_owned()), Just("verification-token".to_owned()), Just("x-amz-date".to_owned()), text()],
                prop_oneof![Just(format!("Bearer {TOKEN}")), text()],
            ), 0..5),
            bytes(),
        ).prop_map(|(m, p, h, b)| HandleCase::Arbitrary(m, p, h, b)),
    ]
}

/// What a handled case must have led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Push,
    Handshake,
    OAuth,
    Other,
}

fn build_case(case: &HandleCase) -> (InboundRequest, Expect, Kind) {
    let json_headers = |extra: Vec<(String, String)>| {
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        headers.extend(extra);
        headers
    };
    match case {
        HandleCase::Sigv4(parts, mutation) => {
            let mut parts = parts.clone();
            parts.method = "POST".into();
            parts.body = push_body();
            if parts.path.starts_with("/oauth2") || parts.path.starts_with("/.well-known") {
                parts.path = "/redox".into();
            }
            let (request, expect) = mutate_signed(sign_request(&parts), mutation);
            (request, expect, Kind::Push)
        }
        HandleCase::Jwt(mutation) => {
            let (token, expect, _, _) = mutated_jwt(mutation);
            let headers = json_headers(vec![("authorization".into(), format!("Bearer {token}"))]);
            (
                inbound("POST", "/redox", "", headers, push_body()),
                expect,
                Kind::Push,
            )
        }
        HandleCase::Token(header_edit, bearer_edit, body) => {
            let header = header_edit
                .as_ref()
                .map_or(TOKEN.to_owned(), |e| e.apply(TOKEN));
            let bearer = bearer_edit
                .as_ref()
                .map_or(TOKEN.to_owned(), |e| e.apply(TOKEN));
            let headers = json_headers(vec![
                ("verification-token".into(), header.clone()),
                ("authorization".into(), format!("Bearer {bearer}")),
            ]);
            let body_bytes = body.as_ref().map_or_else(push_body, RedoxBody::bytes);
            let expect = if header != TOKEN || bearer != TOKEN {
                Expect::Refuse
            } else if body.is_none() {
                Expect::Accept
            } else {
                Expect::Any
            };
            // Only a body of the handshake's exact shape may be answered
            // without being queued.
            let kind = if has_handshake_shape(&body_bytes) {
                Kind::Other
            } else {
                Kind::Push
            };
            (
                inbound("POST", "/redox", "", headers, body_bytes),
                expect,
                kind,
            )
        }
        HandleCase::Handshake(get, edit) => {
            let token = edit.as_ref().map_or(TOKEN.to_owned(), |e| e.apply(TOKEN));
            let expect = if token == TOKEN {
                Expect::Accept
            } else {
                Expect::Refuse
            };
            let request = if *get {
                let query = format!(
                    "challenge={CHALLENGE}&verification-token={}",
                    form_encode(&token)
                );
                inbound("GET", "/redox", &query, Vec::new(), Vec::new())
            } else {
                let body = serde_json::to_vec(
                    &json!({"challenge": CHALLENGE, "verification-token": token}),
                )
                .expect("JSON");
                inbound("POST", "/redox", "", json_headers(Vec::new()), body)
            };
            (request, expect, Kind::Handshake)
        }
        HandleCase::OAuth(spec) => {
            let expect = if spec.presents_the_client() {
                Expect::Any
            } else {
                Expect::Refuse
            };
            // Each case from an address of its own, so the failure throttle
            // (per source address) lets every one be evaluated.
            static NEXT_ADDRESS: AtomicU64 = AtomicU64::new(0);
            let n = NEXT_ADDRESS.fetch_add(1, Ordering::Relaxed);
            let mut request = spec.build();
            request.origin.source_ip =
                Some(std::net::Ipv4Addr::from(0x0a00_0000 + n as u32).to_string());
            (request, expect, Kind::OAuth)
        }
        HandleCase::Arbitrary(method, path, headers, body) => (
            inbound(method, path, "", headers.clone(), body.clone()),
            Expect::Any,
            Kind::Other,
        ),
    }
}

fn check_refusal(response: &HttpResponse) -> Result<(), TestCaseError> {
    prop_assert_eq!(response.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_str(&response.body).map_err(|e| {
        TestCaseError::fail(format!("a refusal is not JSON ({e}): {}", response.body))
    })?;
    prop_assert!(
        body["error"].as_str().is_some_and(|code| !code.is_empty()),
        "a refusal without an error code: {}",
        response.body
    );
    Ok(())
}

#[test]
fn fuzz_destination_handle() {
    on_big_stack(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let sink = Arc::new(RecordingSink::default());
        let destination = destination(sink.clone());
        fuzz("destination_handle", handle_case(), |case| {
            let (request, expect, kind) = build_case(&case);
            let queued_before = sink.count.load(Ordering::SeqCst);
            let response = runtime.block_on(destination.handle(request, now()));
            let queued = sink.count.load(Ordering::SeqCst) - queued_before;
            let ok = (200..300).contains(&response.status);
            match expect {
                Expect::Accept => prop_assert!(
                    ok || response.status == 501,
                    "a valid {:?} request was answered {}: {}",
                    kind,
                    response.status,
                    response.body
                ),
                Expect::Refuse => prop_assert!(
                    !ok,
                    "a request with a broken credential was answered {}: {}",
                    response.status,
                    response.body
                ),
                Expect::Any => {}
            }
            if ok {
                let body: Option<Value> = serde_json::from_str(&response.body).ok();
                let queued_id = body
                    .as_ref()
                    .and_then(|b| b.get("message_id"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                match queued_id {
                    Some(id) => {
                        prop_assert_eq!(queued, 1, "a 2xx push queued {} messages", queued);
                        let last = sink.last.lock().expect("sink lock").clone();
                        let (last_id, message) = last.expect("a queued message");
                        prop_assert_eq!(last_id, id);
                        check_attributes(&message)?;
                    }
                    None => {
                        prop_assert_eq!(queued, 0, "a handshake or token answer queued something")
                    }
                }
                if kind == Kind::Handshake {
                    prop_assert_eq!(&response.body, CHALLENGE);
                }
                if kind == Kind::Push {
                    prop_assert_eq!(queued, 1, "a 2xx push was not queued: {}", response.body);
                }
            } else {
                prop_assert_eq!(
                    queued,
                    0,
                    "a refusal ({}) queued a message",
                    response.status
                );
                prop_assert!(response.status >= 400, "status {}", response.status);
                if kind != Kind::OAuth {
                    check_refusal(&response)?;
                } else {
                    let body: Value = serde_json::from_str(&response.body).map_err(|e| {
                        TestCaseError::fail(format!("a token endpoint refusal is not JSON ({e})"))
                    })?;
                    prop_assert!(body["error"].is_string());
                }
            }
            Ok(())
        });
    });
}

// ---- the consumer: queued messages and the S3 pointers it follows ---------------

/// An independent statement of the keys the destination writes after its
/// prefix: `YYYY-MM-DD/<8-4-4-4-12 lower-case hex>`.
fn destination_key_tail(tail: &str) -> bool {
    let Some((day, uuid)) = tail.split_once('/') else {
        return false;
    };
    let groups = |text: &str, lengths: &[usize], allowed: &dyn Fn(char) -> bool| {
        let parts: Vec<&str> = text.split('-').collect();
        parts.len() == lengths.len()
            && parts
                .iter()
                .zip(lengths)
                .all(|(part, n)| part.chars().count() == *n && part.chars().all(allowed))
    };
    groups(day, &[4, 2, 2], &|c| c.is_ascii_digit())
        && groups(uuid, &[8, 4, 4, 4, 12], &|c| {
            c.is_ascii_digit() || ('a'..='f').contains(&c)
        })
}

#[test]
fn fuzz_consumer_messages_and_pointers() {
    use redox_destination::consumer::pointer::PayloadOrigin;
    use redox_destination::consumer::{QueueMessage, StoredBody, stored_body};

    const BUCKET: &str = "redox-payloads";
    const PREFIX: &str = "redox/";
    const KEY: &str = "redox/2026-11-28/3f0c2a1b-9d8e-4c7b-a6f5-0e1d2c3b4a59";
    let origin = PayloadOrigin::new(BUCKET, PREFIX).expect("an origin");
    let strategy = (
        prop_oneof![Just(None), text_edit().prop_map(Some)],
        vec(text_edit(), 0..3),
        prop_oneof![
            3 => Just(None),
            1 => json_value().prop_map(|v| Some(v.to_string())),
            1 => text().prop_map(Some),
        ],
        prop_oneof![
            Just("ExtendedPayloadSize"),
            Just("SQSLargePayloadSize"),
            Just("ContentEncoding")
        ],
        prop_oneof![Just("2619".to_owned()), Just("base64".to_owned()), text()],
    );
    fuzz(
        "consumer_messages_and_pointers",
        strategy,
        |(bucket_edit, key_edits, other_body, attribute, value)| {
            let bucket = bucket_edit.map_or(BUCKET.to_owned(), |edit| edit.apply(BUCKET));
            let key = key_edits
                .iter()
                .fold(KEY.to_owned(), |key, edit| edit.apply(&key));
            let body = other_body.unwrap_or_else(|| {
                json!(["software.amazon.payloadoffloading.PayloadS3Pointer",
                       {"s3BucketName": bucket, "s3Key": key}])
                .to_string()
            });
            let message = QueueMessage {
                message_id: "m".into(),
                body,
                attributes: [(attribute.to_owned(), value)].into(),
            };
            // Never a panic, whatever the body and attributes.
            let Ok(StoredBody::Offloaded { location, .. }) = stored_body(&message) else {
                return Ok(());
            };
            let admitted = origin.admit(&location).is_ok();
            let expected = location.bucket == BUCKET
                && location
                    .key
                    .strip_prefix(PREFIX)
                    .is_some_and(destination_key_tail);
            prop_assert_eq!(
                admitted,
                expected,
                "bucket {:?} key {:?}",
                location.bucket,
                location.key
            );
            if admitted {
                prop_assert!(!location.key.contains(".."), "{:?}", location.key);
            }
            Ok(())
        },
    );
}

// ---- targets for issue 21: the token request, client secrets, the throttle ------
//
// The allocator counts the bytes each thread asks for, a second measure of
// work beside the parsers' own step counter (`redox_destination::work`):
// steps see nested loops, allocations see per-item copies.

struct CountingAllocator;

thread_local! {
    static ALLOCATED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn note_allocation(bytes: usize) {
    // `try_with`: an allocation during thread teardown is simply not counted.
    let _ = ALLOCATED.try_with(|cell| cell.set(cell.get().saturating_add(bytes as u64)));
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// only addition is a thread-local counter that never allocates.
unsafe impl std::alloc::GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        note_allocation(layout.size());
        // SAFETY: the caller's contract is passed on as it is.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: as above.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        note_allocation(new_size);
        // SAFETY: as above.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// The steps counted and the bytes allocated while `f` runs on this thread.
fn work_of<T>(f: impl FnOnce() -> T) -> (T, u64, u64) {
    let before = ALLOCATED.with(std::cell::Cell::get);
    let (result, steps) = redox_destination::work::measure(f);
    let allocated = ALLOCATED.with(std::cell::Cell::get) - before;
    (result, steps, allocated)
}

/// A token endpoint request with this body and maybe an Authorization header.
fn form_request(body: Vec<u8>, authorization: Option<String>) -> InboundRequest {
    let mut headers = vec![(
        "content-type".to_owned(),
        "application/x-www-form-urlencoded".to_owned(),
    )];
    headers.extend(authorization.map(|value| ("authorization".to_owned(), value)));
    inbound("POST", oauth::TOKEN_PATH, "", headers, body)
}

/// A form body: named parameters in any order, repeats and oddities allowed.
fn form_body() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        3 => prop_oneof![
            Just("grant_type".to_owned()),
            Just("client_id".to_owned()),
            Just("client_secret".to_owned()),
            Just("scope".to_owned()),
            Just("gr%61nt_type".to_owned()),
        ],
        3 => "[a-z]{1,3}",
        1 => text(),
    ];
    vec((name, text()), 0..12)
}

#[test]
fn fuzz_token_request_parse() {
    use redox_destination::oauth::{OAuthError, TokenRequest};
    on_big_stack(|| {
        fuzz(
            "token_request_parse",
            (form_body(), proptest::option::of(text())),
            |(pairs, authorization)| {
                let body = pairs
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("&");
                let request = form_request(body.clone().into_bytes(), authorization);
                let parsed = TokenRequest::parse(&request);
                if body.len() > oauth::MAX_FORM_BYTES {
                    prop_assert_eq!(
                        parsed.err(),
                        Some(OAuthError::InvalidRequest("The body is too large."))
                    );
                    return Ok(());
                }
                // The reference: names decoded as RFC 6749 clients encode
                // them (lossily, as the endpoint reads them), compared after
                // the body is split exactly as the endpoint splits it.
                let names: Vec<String> = body
                    .split('&')
                    .filter(|part| !part.is_empty())
                    .map(|part| part.split_once('=').map_or(part, |(k, _)| k))
                    .map(|name| String::from_utf8_lossy(&form_decode(name)).into_owned())
                    .collect();
                let mut unique = names.clone();
                unique.sort();
                unique.dedup();
                let repeated = unique.len() != names.len();
                match parsed {
                    Err(OAuthError::InvalidRequest("A parameter is repeated.")) => {
                        prop_assert!(repeated, "no name is repeated in {body:?}")
                    }
                    Err(error) => {
                        prop_assert!(!repeated, "a repeated name was missed in {body:?}");
                        prop_assert!([400, 401].contains(&error.status()), "{error}");
                    }
                    Ok(parsed) => {
                        prop_assert!(!repeated, "a repeated name was missed in {body:?}");
                        prop_assert!(names.iter().any(|n| n == "grant_type"));
                        prop_assert_eq!(
                            Some(parsed.grant_type.as_str()),
                            parsed.parameters.get("grant_type")
                        );
                    }
                }
                Ok(())
            },
        );
    });
}

fn random_secret() -> impl Strategy<Value = String> {
    prop_oneof![
        // openssl rand -hex 16..32 (all 32 digits decimal: 1 in 3 million)
        "[0-9a-f]{32,64}",
        "[0-9A-F]{32,64}",
        // openssl rand -base64 24 and more
        "[A-Za-z0-9+/]{32,64}",
        // The lengths the README gives: a random secret this long clears
        // 128 bits even when it misses a character class by chance.
        "[A-Za-z0-9]{26,64}",
        "[!-~]{24,64}",
    ]
}

#[test]
fn fuzz_client_secret_strength() {
    use redox_destination::auth::material::strength::{
        MIN_SECRET_BITS, check_client_secret, estimated_bits,
    };
    fuzz(
        "client_secret_strength",
        (random_secret(), text(), 2usize..6),
        |(secret, anything, times)| {
            // Random secrets of the lengths the README gives always load.
            prop_assert_eq!(check_client_secret(&secret), Ok(()), "{}", secret);
            // Whatever else is checked: no panic, and a pass means the
            // estimate is at least 128 bits.
            if check_client_secret(&anything).is_ok() {
                prop_assert!(estimated_bits(&anything) >= MIN_SECRET_BITS);
            }
            // Repeating a secret adds nothing to its estimate.
            let repeated = anything.repeat(times);
            prop_assert!(estimated_bits(&repeated) <= estimated_bits(&anything) + 1e-9);
            // A material document with it never quotes it in an error.
            let canary = format!("{anything}CANARY");
            let document =
                json!({"oauth_clients": [{"client_id": "redox", "client_secret": canary}]});
            if let Err(error) = Material::from_secret_text(&document.to_string()) {
                let shown = format!("{error} {error:?}");
                prop_assert!(!shown.contains("CANARY"), "{}", shown);
            }
            Ok(())
        },
    );
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Failed,
    Succeeded,
    Dropped,
}

#[derive(Debug, Clone)]
struct ThrottleCase {
    per_address: u32,
    tracked: usize,
    /// (address, milliseconds since the previous attempt, outcome)
    attempts: Vec<(u8, u32, Outcome)>,
}

fn throttle_case() -> impl Strategy<Value = ThrottleCase> {
    let outcome = prop_oneof![
        4 => Just(Outcome::Failed),
        1 => Just(Outcome::Succeeded),
        1 => Just(Outcome::Dropped)
    ];
    (
        1u32..12,
        1usize..10,
        vec((0u8..16, 0u32..4000, outcome), 0..120),
    )
        .prop_map(|(per_address, tracked, attempts)| ThrottleCase {
            per_address,
            tracked,
            attempts,
        })
}

#[test]
fn fuzz_failure_throttle_against_a_model() {
    use redox_destination::throttle::{FailureLimits, FailureThrottle, SourceKey, WINDOW};
    fuzz("failure_throttle_model", throttle_case(), |case| {
        let throttle = FailureThrottle::new(FailureLimits {
            per_address: case.per_address,
            tracked_addresses: case.tracked,
        });
        // The model: each address's own allowance, never forgotten.
        let interval = WINDOW.as_millis() as u64 / u64::from(case.per_address);
        let burst = interval * u64::from(case.per_address);
        let mut due: std::collections::HashMap<u8, u64> = Default::default();
        let distinct = case
            .attempts
            .iter()
            .map(|(a, _, _)| *a)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let mut clock_ms = 1_800_000_000_000u64;
        for (address, gap, outcome) in &case.attempts {
            clock_ms += u64::from(*gap);
            let now = UNIX_EPOCH + Duration::from_millis(clock_ms);
            let key = SourceKey::of(Some(&format!("192.0.2.{address}")));
            let model_due = due.get(address).copied().unwrap_or(clock_ms).max(clock_ms) + interval;
            let model_allows = model_due - clock_ms <= burst;
            let reserved = throttle.reserve(key, now);
            // Never refused when the address's own record allows it, however
            // many other addresses failed (and the table overflowed).
            if model_allows {
                prop_assert!(reserved.is_ok(), "a clean allowance was refused");
            } else if distinct <= case.tracked {
                // Nothing forgotten: exactly the model.
                prop_assert!(
                    reserved.is_err(),
                    "an address over its allowance was evaluated"
                );
            }
            prop_assert!(throttle.tracked() <= case.tracked);
            if let Ok(attempt) = reserved {
                // The model keeps every failure evaluated, even one the
                // throttle let through after forgetting the address.
                let spent = model_due;
                match outcome {
                    Outcome::Failed => {
                        attempt.failed();
                        due.insert(*address, spent);
                    }
                    Outcome::Dropped => {
                        drop(attempt);
                        due.insert(*address, spent);
                    }
                    Outcome::Succeeded => {
                        attempt.succeeded();
                        due.insert(*address, spent - interval);
                    }
                }
            }
            if let Err(throttled) = reserved_retry(&throttle, key, now) {
                prop_assert!(throttled.retry_after >= Duration::from_secs(1));
                prop_assert!(throttled.retry_after.as_millis() <= u128::from(interval) + 1000);
            }
        }
        Ok(())
    });
}

/// A second look at the throttle after an attempt, given straight back.
fn reserved_retry(
    throttle: &redox_destination::throttle::FailureThrottle,
    key: redox_destination::throttle::SourceKey,
    now: SystemTime,
) -> Result<(), redox_destination::throttle::Throttled> {
    throttle
        .reserve(key, now)
        .map(|attempt| attempt.succeeded())
}

/// One parser that runs before authentication, fed `units` items of one
/// adversarial shape.
#[derive(Debug, Clone, Copy)]
enum PreAuthInput {
    /// The issue's form: distinct short names.
    FormDistinctNames,
    /// One name sent over and over.
    FormRepeatedName,
    /// Percent-escaped names and values.
    FormEscapes,
    /// One long Basic credential.
    BasicCredentials,
    /// SigV4: many signed headers and many more unsigned ones.
    Sigv4Headers,
    /// SigV4: a long query to canonicalise.
    Sigv4Query,
    /// SigV4 checked from the head alone (server mode), many signed headers.
    Sigv4Head,
    /// A Google-shaped ID token with many claims, classified and checked.
    GoogleIdToken,
    /// A GET handshake with a long query.
    HandshakeQuery,
    /// A JSON handshake with many members.
    HandshakeJson,
    /// A Lambda event with many headers.
    LambdaEvent,
    /// A JWT with many claims.
    JwtClaims,
    /// A token request whose JSON body has many members.
    TokenJson,
    /// A token request with a client assertion of many claims, checked.
    ClientAssertion,
}

fn pre_auth_input() -> impl Strategy<Value = (PreAuthInput, usize)> {
    let kind = prop_oneof![
        Just(PreAuthInput::FormDistinctNames),
        Just(PreAuthInput::FormRepeatedName),
        Just(PreAuthInput::FormEscapes),
        Just(PreAuthInput::BasicCredentials),
        Just(PreAuthInput::Sigv4Headers),
        Just(PreAuthInput::Sigv4Query),
        Just(PreAuthInput::Sigv4Head),
        Just(PreAuthInput::GoogleIdToken),
        Just(PreAuthInput::HandshakeQuery),
        Just(PreAuthInput::HandshakeJson),
        Just(PreAuthInput::LambdaEvent),
        Just(PreAuthInput::JwtClaims),
        Just(PreAuthInput::TokenJson),
        Just(PreAuthInput::ClientAssertion),
    ];
    (kind, prop_oneof![1usize..64, 64usize..4096])
}

/// Two-character names, all distinct for up to 62 x 62.
fn short_name(i: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let a = ALPHABET[i / ALPHABET.len() % ALPHABET.len()] as char;
    let b = ALPHABET[i % ALPHABET.len()] as char;
    format!("{a}{b}{}", i / (ALPHABET.len() * ALPHABET.len()))
}

/// Runs one parser on its input; returns the input's size in bytes.
fn run_pre_auth(kind: PreAuthInput, units: usize) -> usize {
    match kind {
        PreAuthInput::FormDistinctNames
        | PreAuthInput::FormRepeatedName
        | PreAuthInput::FormEscapes => {
            let body = (0..units)
                .map(|i| match kind {
                    PreAuthInput::FormDistinctNames => format!("{}=", short_name(i)),
                    PreAuthInput::FormRepeatedName => "aa=".to_owned(),
                    _ => format!("%{:02X}{}=%41%4", i % 256, short_name(i)),
                })
                .collect::<Vec<_>>()
                .join("&");
            let size = body.len();
            let _ = oauth::TokenRequest::parse(&form_request(body.into_bytes(), None));
            size
        }
        PreAuthInput::BasicCredentials => {
            let credentials = format!("redox:{}", "s%41".repeat(units));
            let header = format!("Basic {}", STANDARD.encode(&credentials));
            let size = header.len();
            let request = form_request(b"grant_type=client_credentials".to_vec(), Some(header));
            let _ = oauth::TokenRequest::parse(&request);
            size + 29
        }
        PreAuthInput::Sigv4Headers | PreAuthInput::Sigv4Query | PreAuthInput::Sigv4Head => {
            let (signed_count, query) = match kind {
                PreAuthInput::Sigv4Headers | PreAuthInput::Sigv4Head => (units, String::new()),
                _ => (
                    0,
                    (0..units)
                        .map(|i| format!("{}=%7E{}", short_name(units - i), i))
                        .collect::<Vec<_>>()
                        .join("&"),
                ),
            };
            let mut signed: Vec<String> = (0..signed_count).map(|i| format!("h{i:05}")).collect();
            signed.push("host".into());
            signed.push("x-amz-date".into());
            signed.sort();
            let mut headers: Vec<(String, String)> = vec![
                (
                    "authorization".into(),
                    authorization(
                        &format!("{KEY_ID}/20261128/{REGION}/{SERVICE}/aws4_request"),
                        &signed.join(";"),
                        &"0".repeat(64),
                    ),
                ),
                (
                    "host".into(),
                    "abcdefghij.lambda-url.us-east-1.on.aws".into(),
                ),
                ("x-amz-date".into(), "20261128T101500Z".into()),
            ];
            for i in 0..signed_count {
                headers.push((format!("h{i:05}"), "v".into()));
                headers.push((format!("u{i:05}"), "w".into()));
            }
            let request = inbound("POST", "/", &query, headers, Vec::new());
            let size = request
                .headers
                .iter()
                .map(|(n, v)| n.len() + v.len())
                .sum::<usize>()
                + query.len();
            if let PreAuthInput::Sigv4Head = kind {
                let _ = redox_destination::auth::sigv4::verify_sigv4_head(
                    &request,
                    sigv4_keys(),
                    now(),
                    SKEW,
                );
            } else {
                let _ = verify_sigv4(&request, sigv4_keys(), now(), SKEW);
            }
            size
        }
        PreAuthInput::GoogleIdToken => {
            use redox_destination::auth::google::{
                GoogleBearer, GoogleTrust, google_bearer, verify_google,
            };
            let mut claims = valid_claims();
            claims["iss"] = "https://accounts.google.com".into();
            for i in 0..units {
                claims[short_name(i)] = Value::from(i);
            }
            let header = json!({"alg": "RS256", "kid": KID});
            let token = signed_jwt(&b64(&header), &b64(&claims));
            let size = token.len();
            if let Some(GoogleBearer::IdToken(id_token)) = google_bearer(&token) {
                let trust = GoogleTrust {
                    keys: Some(&keys().key_set),
                    ..GoogleTrust::NOTHING
                };
                let _ = verify_google(GoogleBearer::IdToken(id_token), &trust, now());
            }
            size
        }
        PreAuthInput::HandshakeQuery => {
            let query = (0..units)
                .map(|i| format!("{}=%41", short_name(i)))
                .chain(["challenge=c&verification-token=t".to_owned()])
                .collect::<Vec<_>>()
                .join("&");
            let size = query.len();
            let _ = redox::classify(&inbound("GET", "/", &query, Vec::new(), Vec::new()));
            size
        }
        PreAuthInput::HandshakeJson => {
            let mut members: Map<String, Value> = (0..units)
                .map(|i| (short_name(i), Value::from(i)))
                .collect();
            members.insert("challenge".into(), "c".into());
            members.insert("verification-token".into(), "t".into());
            let body = serde_json::to_vec(&Value::Object(members)).expect("JSON");
            let size = body.len();
            let headers = vec![("content-type".to_owned(), "application/json".to_owned())];
            let _ = redox::classify(&inbound("POST", "/", "", headers, body));
            size
        }
        PreAuthInput::LambdaEvent => {
            let headers: Vec<(String, String)> = (0..units)
                .map(|i| (short_name(i), "v".to_owned()))
                .collect();
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let event = String::from_utf8(event_with_headers(&headers)).expect("UTF-8 event");
            let size = event.len();
            let _ = parse_event(&event);
            size
        }
        PreAuthInput::JwtClaims => {
            let mut claims = valid_claims();
            for i in 0..units {
                claims[short_name(i)] = Value::from(i);
            }
            let token = signed_jwt(&b64(&valid_header()), &b64(&claims));
            let size = token.len();
            let issuers = [TrustedIssuer {
                kind: IssuerKind::Remote,
                settings: jwt_settings(),
                keys: Some(&keys().key_set),
            }];
            let _ = verify_jwt(&token, &issuers, now());
            size
        }
        PreAuthInput::TokenJson => {
            let mut members: Map<String, Value> = (0..units)
                .map(|i| (short_name(i), Value::from("%41")))
                .collect();
            members.insert("grant_type".into(), "client_credentials".into());
            let body = serde_json::to_vec(&Value::Object(members)).expect("JSON");
            let size = body.len();
            let mut request = form_request(body, None);
            request.headers[0].1 = "application/json".into();
            let _ = oauth::TokenRequest::parse(&request);
            size
        }
        PreAuthInput::ClientAssertion => {
            let mut claims = assertion_claims("linear");
            for i in 0..units {
                claims[short_name(i)] = Value::from(i);
            }
            let assertion = signed_jwt(&b64(&assertion_header()), &b64(&claims));
            let body = format!(
                "grant_type=client_credentials&client_assertion_type={}&client_assertion={assertion}",
                form_encode(oauth::assertion::ASSERTION_TYPE)
            );
            let size = body.len();
            let request = form_request(body.into_bytes(), None);
            if let Ok(parsed) = oauth::TokenRequest::parse(&request)
                && let oauth::request::PresentedClient::Assertion { assertion, .. } = &parsed.client
            {
                let _ = oauth::assertion::verify_assertion(
                    assertion,
                    None,
                    &assertion_material().issuer,
                    None,
                    &token_url(),
                    now(),
                );
            }
            size
        }
    }
}

/// A Function URL event around a request with these headers.
fn event_with_headers(headers: &[(&str, &str)]) -> Vec<u8> {
    let headers: Map<String, Value> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), Value::from(*v)))
        .collect();
    serde_json::to_vec(&json!({
        "version": "2.0", "rawPath": "/", "rawQueryString": "", "headers": headers,
        "requestContext": {"domainName": "abcdefghij.lambda-url.us-east-1.on.aws",
                           "http": {"method": "POST", "sourceIp": "198.51.100.7"}},
        "body": "", "isBase64Encoded": false
    }))
    .expect("event JSON")
}

/// Most steps and bytes allocated per input byte a pre-auth parser may take,
/// beyond a fixed allowance per request. The parsers measure at most 2.7
/// steps and 58 bytes per byte; quadratic ones (a repeated-name check
/// comparing every pair, a signed header looked up in every request
/// header) pass these bounds within a few hundred items.
const STEPS_PER_BYTE: u64 = 4;
const ALLOCATED_PER_BYTE: u64 = 128;
const FIXED_STEPS: u64 = 4096;
const FIXED_ALLOCATION: u64 = 256 * 1024;

#[test]
fn fuzz_pre_auth_parsers_do_linear_work() {
    on_big_stack(|| {
        fuzz("pre_auth_linear_work", pre_auth_input(), |(kind, units)| {
            let (size, steps, allocated) = work_of(|| run_pre_auth(kind, units));
            let size = size as u64;
            prop_assert!(
                steps <= STEPS_PER_BYTE * size + FIXED_STEPS,
                "{kind:?} x{units}: {steps} steps for {size} bytes"
            );
            prop_assert!(
                allocated <= ALLOCATED_PER_BYTE * size + FIXED_ALLOCATION,
                "{kind:?} x{units}: {allocated} bytes allocated for {size} bytes"
            );
            Ok(())
        });
    });
}

// ---- the client address behind the load balancer ------------------------------

/// An `X-Forwarded-For` line: arbitrary bytes, or entries (addresses,
/// junk, spaces) joined by commas as clients and the ALB write them.
fn forwarded_for_line() -> impl Strategy<Value = Vec<u8>> {
    let entry = prop_oneof![
        any::<std::net::Ipv4Addr>().prop_map(|ip| ip.to_string()),
        any::<std::net::Ipv6Addr>().prop_map(|ip| ip.to_string()),
        "[ \t]{0,2}[0-9a-fA-F.:\\[\\]%a-z]{0,20}[ \t]{0,2}",
        text(),
    ];
    prop_oneof![
        3 => vec(entry, 0..6).prop_map(|entries| entries.join(",").into_bytes()),
        1 => bytes(),
    ]
}

#[test]
fn fuzz_forwarded_for_client_address() {
    use redox_destination::front::server::forwarded::{AddressSource, client_address};
    use std::net::{IpAddr, Ipv4Addr};
    let peer = IpAddr::V4(Ipv4Addr::new(10, 0, 7, 7));
    let strategy = (
        vec(forwarded_for_line(), 0..4),
        any::<std::net::IpAddr>(),
        any::<bool>(),
    );
    fuzz("forwarded_for", strategy, |(lines, appended, append)| {
        let mut lines = lines;
        if append {
            // What the ALB does: its entry after whatever the client sent.
            match lines.last_mut() {
                Some(last) => last.extend_from_slice(format!(", {appended}").as_bytes()),
                None => lines.push(appended.to_string().into_bytes()),
            }
        }
        let address = client_address(peer, true, lines.iter().map(Vec::as_slice));
        if lines.len() > 1 {
            // Several lines: no order among them is trusted.
            prop_assert_eq!(
                (address.ip, address.source),
                (peer, AddressSource::PeerForwardedForGarbled)
            );
        }
        match address.source {
            AddressSource::ForwardedFor => {
                // Only ever the last entry of the one line.
                let last = lines.last().expect("a line");
                let entry = last.rsplit(|b| *b == b',').next().expect("an entry");
                let entry = String::from_utf8_lossy(entry.trim_ascii()).into_owned();
                prop_assert_eq!(entry.parse::<IpAddr>().ok(), Some(address.ip));
            }
            AddressSource::Peer => prop_assert!(false, "behind the ALB, never the plain peer"),
            _ => prop_assert_eq!(address.ip, peer),
        }
        if append && lines.len() == 1 {
            prop_assert_eq!(address.source, AddressSource::ForwardedFor);
            prop_assert_eq!(address.ip, appended);
        }
        let direct = client_address(peer, false, lines.iter().map(Vec::as_slice));
        prop_assert_eq!((direct.ip, direct.source), (peer, AddressSource::Peer));
        Ok(())
    });
}

// ---- target: the decision in two phases (server mode) -------------------------

/// A credential header a head may carry.
fn credential_value() -> impl Strategy<Value = Option<String>> {
    let jwt = signed_jwt(&b64(&valid_header()), &b64(&valid_claims()));
    prop_oneof![
        2 => Just(None),
        2 => Just(Some(TOKEN.to_owned())),
        1 => Just(Some(format!("Bearer {TOKEN}"))),
        1 => Just(Some(format!("Bearer {jwt}"))),
        1 => text_edit().prop_map(move |edit| Some(format!("Bearer {}", edit.apply(&jwt)))),
        1 => text_edit().prop_map(|edit| Some(edit.apply(TOKEN))),
        1 => text().prop_map(Some),
        1 => Just(Some("Basic cmVkb3g6c2VjcmV0".to_owned())),
    ]
}

/// A body the head may be followed by: a push, handshakes with right and
/// wrong tokens, bodies just under and over the handshake limit, bytes.
fn two_phase_body() -> impl Strategy<Value = Vec<u8>> {
    let handshake = |token: &str| {
        json!({"verification-token": token, "challenge": CHALLENGE})
            .to_string()
            .into_bytes()
    };
    let padded = |len: usize| {
        let mut body = json!({"verification-token": TOKEN, "challenge": CHALLENGE, "pad": ""})
            .to_string()
            .into_bytes();
        let missing = len.saturating_sub(body.len());
        body.splice(
            body.len() - 2..body.len() - 2,
            std::iter::repeat_n(b' ', missing),
        );
        body
    };
    prop_oneof![
        2 => Just(push_body()),
        2 => Just(handshake(TOKEN)),
        1 => text().prop_map(move |token| handshake(&token)),
        1 => Just(padded(redox::MAX_HANDSHAKE_BYTES)),
        1 => Just(padded(redox::MAX_HANDSHAKE_BYTES + 1)),
        1 => bytes(),
    ]
}

/// Any request: one aws-sigv4 signed and mutated, or one with token and
/// Bearer headers of every kind, with any body.
fn two_phase_request() -> impl Strategy<Value = InboundRequest> {
    let signed = (
        signed_parts(),
        sig_mutation(),
        two_phase_body(),
        any::<bool>(),
    )
        .prop_map(|(parts, mutation, body, swap_body)| {
            let (mut request, _) = mutate_signed(sign_request(&parts), &mutation);
            if swap_body {
                request.body = Bytes::from(body);
            }
            request
        });
    let headed = (
        prop_oneof![4 => Just("POST"), 1 => Just("GET")],
        credential_value(),
        credential_value(),
        two_phase_body(),
    )
        .prop_map(|(method, token_header, authorization, body)| {
            let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
            if let Some(value) = token_header {
                headers.push(("verification-token".to_owned(), value));
            }
            if let Some(value) = authorization {
                headers.push(("authorization".to_owned(), value));
            }
            let query = if method == "GET" {
                format!("challenge={CHALLENGE}&verification-token={TOKEN}")
            } else {
                String::new()
            };
            inbound(method, "/", &query, headers, body)
        });
    prop_oneof![signed, headed]
}

#[test]
fn fuzz_two_phase_decision_refuses_from_the_head_only_what_the_whole_request_refuses() {
    use redox_destination::auth::{
        AuthError, HeadVerdict, authenticate_handshake_with_issuers, authenticate_with_issuers,
        screen_head_with_issuers,
    };
    on_big_stack(|| {
        let material = material();
        let policy = AuthPolicy {
            enabled: AuthMethod::ALL.to_vec(),
            allowed_principals: Vec::new(),
            clock_skew: SKEW,
        };
        let issuers = [TrustedIssuer {
            kind: IssuerKind::BuiltIn,
            settings: jwt_settings(),
            keys: Some(&keys().key_set),
        }];
        fuzz("two_phase_decision", two_phase_request(), |request| {
            let mut head = request.clone();
            head.body = Bytes::new();
            let early = screen_head_with_issuers(&head, &material.auth, &policy, &issuers, now());
            let whole = match redox::classify(&request) {
                Classified::Handshake(handshake) => authenticate_handshake_with_issuers(
                    &request,
                    handshake.token.as_deref(),
                    &material.auth,
                    &policy,
                    &issuers,
                    now(),
                ),
                Classified::Push(_) => {
                    authenticate_with_issuers(&request, &material.auth, &policy, &issuers, now())
                        .map(|_| ())
                }
            };
            match early {
                Err(refusal) => prop_assert!(
                    whole.is_err(),
                    "the head was refused ({refusal}) but the whole request passes"
                ),
                Ok(HeadVerdict::Unproven)
                    if request.method == "POST"
                        && request.body.len() > redox::MAX_HANDSHAKE_BYTES =>
                {
                    prop_assert_eq!(whole, Err(AuthError::NoCredential));
                }
                Ok(_) => {}
            }
            Ok(())
        });
    });
}

// ---- target: caller pins, token lifetimes and their jwt_issuers fields --------

/// Claim names the caller pin and the lifetime check read, and others.
fn pin_claim_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "azp", "appid", "client_id", "cid", "sub", "email", "email_verified", "exp", "iat",
        ])
        .prop_map(str::to_owned),
        1 => text(),
    ]
}

/// A value for those claims: often a pinned caller, or a time near now.
fn pin_claim_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => prop::sample::select(vec!["redox", "other", "", "true", "false"]).prop_map(Value::from),
        2 => (-400i64..400).prop_map(|d| json!(now_secs() as i64 + d)),
        1 => any::<bool>().prop_map(Value::Bool),
        2 => json_leaf(),
    ]
}

/// The issue 27 model: the one claim that names the caller decides.
fn caller_admitted(
    claim: &Option<String>,
    claims: &Map<String, Value>,
    allowed: &[String],
) -> bool {
    let auto = ["azp", "appid", "client_id", "cid"];
    let name = match claim {
        None => match auto.iter().find(|name| claims.contains_key(**name)) {
            Some(name) => *name,
            None => return false,
        },
        Some(name) => name.as_str(),
    };
    let Some(Value::String(caller)) = claims.get(name) else {
        return false;
    };
    if name == "email"
        && !matches!(claims.get("email_verified"), Some(Value::Bool(true)))
        && claims.get("email_verified") != Some(&json!("true"))
    {
        return false;
    }
    allowed.iter().any(|a| a == caller)
}

#[test]
fn fuzz_caller_pin_and_token_lifetime() {
    use redox_destination::auth::jwt::caller::{CallerClaim, CallerPin};
    use redox_destination::auth::jwt::check_lifetime;
    let strategy = (
        btree_map(pin_claim_name(), pin_claim_value(), 0..8),
        prop_oneof![
            2 => Just(None),
            3 => prop::sample::select(vec!["sub", "email", "cid", "client_id"]).prop_map(|c| Some(c.to_owned())),
            1 => text().prop_map(Some),
        ],
        vec(
            prop::sample::select(vec!["redox", "other", "x"]).prop_map(str::to_owned),
            1..3,
        ),
        1u64..1000,
    );
    fuzz(
        "caller_pin_lifetime",
        strategy,
        |(claims, claim, allowed, max)| {
            let claims: Map<String, Value> = claims.into_iter().collect();
            let parsed = match &claim {
                None => Some(CallerClaim::Auto),
                Some(name) => CallerClaim::parse(name).ok(),
            };
            if let Some(parsed) = parsed {
                let pin = CallerPin::new(parsed.clone(), &allowed);
                let named = match parsed {
                    CallerClaim::Auto => None,
                    CallerClaim::Named(name) => Some(name),
                };
                prop_assert_eq!(
                    pin.admits(&claims).is_ok(),
                    caller_admitted(&named, &claims, &allowed),
                    "{:?} {:?} {:?}",
                    named,
                    claims,
                    allowed
                );
            }
            // The lifetime: refused iff exp is missing or not a number, or
            // either bound (with the 60 s leeway) is passed; never a panic.
            let now = SystemTime::now();
            let now_f = now.duration_since(UNIX_EPOCH).expect("clock").as_secs_f64();
            let result = check_lifetime(&claims, Duration::from_secs(max), now);
            let number = |name: &str| claims.get(name).map(Value::as_f64);
            let expected = match (number("exp"), number("iat")) {
                (None, _) | (Some(None), _) | (_, Some(None)) => false,
                (Some(Some(exp)), iat) => {
                    let long = iat
                        .flatten()
                        .is_some_and(|iat| exp - iat > max as f64 + 60.0);
                    !long && exp <= now_f + max as f64 + 60.0
                }
            };
            prop_assert_eq!(result.is_ok(), expected, "{:?} max {}", claims, max);
            Ok(())
        },
    );
}

/// The new fields of a `jwt_issuers` entry, set to anything or to a canary:
/// parsed or refused, never a panic, and a refusal never quotes the value.
#[test]
fn fuzz_jwt_issuer_entry_fields() {
    let fields = [
        "max_token_lifetime_secs",
        "replay_check",
        "allowed_callers",
        "caller_claim",
    ];
    let strategy = (
        0..fields.len(),
        prop_oneof![
            3 => json_value(),
            1 => (0usize..9, "[a-z0-9]{0,6}").prop_map(|(shape, noise)| canary_shape(shape, &noise)),
        ],
        any::<bool>(),
    );
    fuzz(
        "jwt_issuer_entry",
        strategy,
        |(field, value, with_callers)| {
            let mut entry = json!({
                "issuer": "redox", "audiences": ["https://d.example.com"],
                "jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": KID,
                         "x": URL_SAFE_NO_PAD.encode(keys().ed25519.public_key().as_ref())}]},
            });
            if with_callers {
                entry["allowed_callers"] = json!(["redox"]);
            }
            entry[fields[field]] = value;
            let document = json!({"jwt_issuers": [entry]}).to_string();
            match Material::from_secret_text(&document) {
                Ok(material) => {
                    prop_assert_eq!(material.auth.jwt_issuers.len(), 1);
                    // A claim name is kept as written; callers only as digests.
                    if fields[field] != "caller_claim" {
                        let debug = format!("{material:?}");
                        prop_assert!(!debug.contains(CANARY), "Debug shows the canary");
                    }
                }
                Err(error) => {
                    let reason = error.to_string();
                    prop_assert!(
                        !reason.contains(CANARY),
                        "the error quotes the value: {}",
                        reason
                    );
                }
            }
            Ok(())
        },
    );
}

// ---- target: Google's token-info answers --------------------------------------

/// A value for a token-info field: Google's own types, the wrong ones, and
/// anything.
fn tokeninfo_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => "[0-9]{1,12}".prop_map(Value::String),
        2 => prop_oneof![Just("true"), Just("false")].prop_map(|s| Value::String(s.to_owned())),
        2 => any::<u64>().prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => any::<f64>().prop_map(|f| json!(f)),
        1 => text().prop_map(Value::String),
        1 => json_value(),
    ]
}

fn tokeninfo_body() -> impl Strategy<Value = Vec<u8>> {
    let field = prop_oneof![
        Just("azp".to_owned()),
        Just("aud".to_owned()),
        Just("sub".to_owned()),
        Just("scope".to_owned()),
        Just("exp".to_owned()),
        Just("expires_in".to_owned()),
        Just("email".to_owned()),
        Just("email_verified".to_owned()),
        Just("access_type".to_owned()),
        text(),
    ];
    prop_oneof![
        4 => btree_map(field, tokeninfo_value(), 0..10)
            .prop_map(|fields| serde_json::to_vec(&fields).expect("JSON")),
        1 => bytes(),
        1 => (any::<u8>(), 1usize..40_000).prop_map(|(b, n)| vec![b; n]),
        1 => json_value().prop_map(|v| serde_json::to_vec(&v).expect("JSON")),
    ]
}

#[test]
fn fuzz_google_tokeninfo_answers() {
    use redox_destination::auth::google::tokeninfo::{
        MAX_ANSWER_BYTES, TokenInfoAnswer, TokenInfoError, parse_answer,
    };
    on_big_stack(|| {
        let status = prop_oneof![4 => Just(200u16), 1 => Just(400u16), 1 => any::<u16>()];
        fuzz(
            "google_tokeninfo",
            (status, tokeninfo_body()),
            |(status, body)| {
                // Bounded work: what it allocates grows with the answer at most.
                let (size, _, allocated) = work_of(|| {
                    let _ = parse_answer(status, &body);
                    body.len()
                });
                prop_assert!(allocated <= ALLOCATED_PER_BYTE * size as u64 + FIXED_ALLOCATION);
                match parse_answer(status, &body) {
                    Ok(TokenInfoAnswer::Valid(info)) => {
                        prop_assert_eq!(status, 200);
                        prop_assert!(body.len() <= MAX_ANSWER_BYTES);
                        let fields: Value = serde_json::from_slice(&body).expect("parsed JSON");
                        let exp = &fields["exp"];
                        let expected = exp
                            .as_u64()
                            .or_else(|| exp.as_str().and_then(|digits| digits.parse().ok()));
                        prop_assert_eq!(Some(info.exp), expected);
                        if let Some(azp) = &info.azp {
                            prop_assert_eq!(fields["azp"].as_str(), Some(azp.as_str()));
                        }
                    }
                    Ok(TokenInfoAnswer::Refused) => prop_assert_eq!(status, 400),
                    Err(TokenInfoError::Status(code)) => {
                        prop_assert!(code != 200 && code != 400);
                    }
                    Err(_) => prop_assert_eq!(status, 200),
                }
                Ok(())
            },
        );
    });
}
