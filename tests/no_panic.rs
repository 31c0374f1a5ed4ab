//! No input panics the receiver (SPEC 3.2): random text, bytes and JSON in
//! every field of a Lambda event and of an inbound request go through event
//! parsing, classification, authentication and the whole decision table.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use redox_destination::auth::Authenticator;
use redox_destination::auth::jwt::trust::JwtTrust;
use redox_destination::auth::material::{AuthMaterial, MaterialCache, StaticMaterial};
use redox_destination::auth::{self, AuthMethod, AuthPolicy};
use redox_destination::destination::Destination;
use redox_destination::front::lambda_event::parse_event;
use redox_destination::inbound::{FrontDoor, InboundRequest, Origin};
use redox_destination::redox::{self, Classified};
use redox_destination::sink::spool::SpoolSink;
use serde_json::{Map, Value, json};

const TOKEN: &str = "rdx-verif-7Hq2Lm9fK3mZ1xP4";
const PRINCIPAL: &str = "arn:aws:iam::123456789012:user/redox-sender";
const MAX_BODY_BYTES: usize = 2048;
const CASES: u32 = 256;

fn config() -> Config {
    Config {
        cases: CASES,
        // Failures are reported with their minimal input; nothing is written
        // into the source tree.
        failure_persistence: None,
        ..Config::default()
    }
}

fn material() -> AuthMaterial {
    AuthMaterial::from_secret_text(&format!(
        r#"{{"verification_tokens": ["{TOKEN}", "rdx-verif-next"],
            "sigv4_keys": [{{"access_key_id": "AKIDREDOXEXAMPLE", "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                             "region": "us-east-1", "service": "lambda"}}]}}"#
    ))
    .expect("material")
}

fn policy() -> AuthPolicy {
    AuthPolicy {
        enabled: vec![AuthMethod::Token, AuthMethod::Sigv4, AuthMethod::Iam],
        allowed_principals: vec![PRINCIPAL.to_owned()],
        clock_skew: Duration::from_secs(300),
    }
}

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/events")
        .join(name);
    serde_json::from_slice(&std::fs::read(&path).expect("fixture")).expect("fixture JSON")
}

// ---- strategies -----------------------------------------------------------

/// Text of every kind: arbitrary Unicode, lossily decoded bytes, and the
/// characters that matter to URLs, headers and JSON.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        vec(any::<u8>(), 0..64).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        "[%+&=;,:/ ?#a-zA-Z0-9\\\\\"'<>\r\n\t\u{0}-]{0,40}",
        Just(String::new()),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(text(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        text(),
        vec(
            (
                prop_oneof![
                    Just("challenge".to_owned()),
                    Just("verification-token".to_owned()),
                    Just("X-Amz-Signature".to_owned()),
                    Just("X-Amz-Credential".to_owned()),
                    text(),
                ],
                prop_oneof![Just(TOKEN.to_owned()), text()],
            ),
            0..5
        )
        .prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        }),
    ]
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("verification-token".to_owned()),
        Just("authorization".to_owned()),
        Just("content-type".to_owned()),
        Just("host".to_owned()),
        Just("x-amz-date".to_owned()),
        Just("x-amz-content-sha256".to_owned()),
        Just("x-amz-security-token".to_owned()),
        text(),
    ]
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(TOKEN.to_owned()),
        Just(format!("Bearer {TOKEN}")),
        text().prop_map(|t| format!("Bearer {t}")),
        text().prop_map(|t| format!("Basic {t}")),
        (text(), text(), text()).prop_map(|(c, h, s)| format!(
            "AWS4-HMAC-SHA256 Credential={c}, SignedHeaders={h}, Signature={s}"
        )),
        text().prop_map(|t| format!("AWS4-HMAC-SHA256 {t}")),
        "[0-9]{8}T[0-9]{6}Z",
        text(),
    ]
}

fn meta_body() -> impl Strategy<Value = Vec<u8>> {
    (
        json_value(),
        prop_oneof![Just(json!("Query")), Just(json!("Arrival")), json_value()],
        json_value(),
        json_value(),
        json_value(),
    )
        .prop_map(|(data_model, event_type, logs, source, test)| {
            serde_json::to_vec(&json!({
                "Meta": {
                    "DataModel": data_model,
                    "EventType": event_type,
                    "Logs": logs,
                    "Source": source,
                    "Test": test,
                },
                "Patient": {}
            }))
            .expect("JSON")
        })
}

fn handshake_body() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![
            "[A-Za-z0-9._~-]{0,130}",
            text(),
            json_value().prop_map(|v| v.to_string())
        ],
        prop_oneof![
            Just(Some(TOKEN.to_owned())),
            Just(None),
            text().prop_map(Some)
        ],
    )
        .prop_map(|(challenge, token)| {
            let mut doc = json!({ "challenge": challenge });
            if let Some(token) = token {
                doc["verification-token"] = Value::String(token);
            }
            serde_json::to_vec(&doc).expect("JSON")
        })
}

fn fhir_body() -> impl Strategy<Value = Vec<u8>> {
    (json_value(), json_value()).prop_map(|(first_entry, rest)| {
        serde_json::to_vec(&json!({
            "resourceType": "Bundle",
            "type": "message",
            "entry": [first_entry, rest],
        }))
        .expect("JSON")
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..256),
        vec(any::<u8>(), MAX_BODY_BYTES - 2..MAX_BODY_BYTES + 2),
        json_value().prop_map(|v| serde_json::to_vec(&v).expect("JSON")),
        meta_body(),
        handshake_body(),
        fhir_body(),
        text().prop_map(String::into_bytes),
    ]
}

fn origin() -> impl Strategy<Value = Origin> {
    (
        prop_oneof![
            Just(FrontDoor::FunctionUrl),
            Just(FrontDoor::HttpApi),
            Just(FrontDoor::RestApi),
            Just(FrontDoor::LocalServer),
        ],
        prop_oneof![
            Just(None),
            Just(Some(PRINCIPAL.to_owned())),
            text().prop_map(Some)
        ],
        proptest::option::of(text()),
    )
        .prop_map(|(front_door, verified_iam_principal, source_ip)| Origin {
            front_door,
            verified_iam_principal,
            source_ip,
            source_ip_from: None,
            public_base_url: None,
        })
}

fn inbound_request() -> impl Strategy<Value = InboundRequest> {
    (
        prop_oneof![Just("POST".to_owned()), Just("GET".to_owned()), text()],
        text(),
        query(),
        vec((header_name(), header_value()), 0..6),
        body(),
        origin(),
    )
        .prop_map(
            |(method, raw_path, raw_query, headers, body, origin)| InboundRequest {
                method,
                raw_path,
                raw_query,
                headers,
                body: Bytes::from(body),
                origin,
            },
        )
}

/// Any instant within about ±30,000 years of the epoch.
fn instant() -> impl Strategy<Value = SystemTime> {
    (
        -1_000_000_000_000i64..1_000_000_000_000,
        0u32..1_000_000_000,
    )
        .prop_map(|(secs, nanos)| {
            let offset = Duration::new(secs.unsigned_abs(), nanos);
            let t = if secs >= 0 {
                SystemTime::UNIX_EPOCH.checked_add(offset)
            } else {
                SystemTime::UNIX_EPOCH.checked_sub(offset)
            };
            t.unwrap_or(SystemTime::UNIX_EPOCH)
        })
}

/// Fields of the three event shapes, top level and inside `requestContext`.
const EVENT_FIELDS: &[&[&str]] = &[
    &["version"],
    &["rawPath"],
    &["rawQueryString"],
    &["cookies"],
    &["headers"],
    &["multiValueHeaders"],
    &["queryStringParameters"],
    &["multiValueQueryStringParameters"],
    &["httpMethod"],
    &["path"],
    &["body"],
    &["isBase64Encoded"],
    &["requestContext"],
    &["requestContext", "domainName"],
    &["requestContext", "http"],
    &["requestContext", "http", "method"],
    &["requestContext", "http", "sourceIp"],
    &["requestContext", "path"],
    &["requestContext", "httpMethod"],
    &["requestContext", "identity"],
    &["requestContext", "identity", "userArn"],
    &["requestContext", "authorizer"],
    &["requestContext", "authorizer", "iam"],
    &["requestContext", "authorizer", "iam", "userArn"],
];

fn set_field(event: &mut Value, path: &[&str], value: Value) {
    let mut target = event;
    for key in &path[..path.len() - 1] {
        if !target.get(*key).is_some_and(Value::is_object) {
            target[*key] = json!({});
        }
        target = &mut target[*key];
    }
    target[path[path.len() - 1]] = value;
}

/// A real event with a few fields replaced by random values of any type,
/// header maps filled with random names and values, or the body replaced by
/// random (often invalid) base64.
fn mutated_event() -> impl Strategy<Value = String> {
    let fixtures = prop_oneof![
        Just("function-url.json"),
        Just("http-api.json"),
        Just("rest-api.json"),
    ];
    let edits = vec(
        (
            0..EVENT_FIELDS.len(),
            prop_oneof![
                json_value(),
                text().prop_map(Value::String),
                btree_map(text(), text(), 0..5).prop_map(|m| json!(m)),
                btree_map(text(), vec(proptest::option::of(text()), 0..3), 0..4)
                    .prop_map(|m| json!(m)),
            ],
        ),
        1..4,
    );
    (fixtures, edits, any::<bool>(), text()).prop_map(|(name, edits, base64, body)| {
        let mut event = fixture(name);
        for (field, value) in edits {
            set_field(&mut event, EVENT_FIELDS[field], value);
        }
        if base64 {
            event["isBase64Encoded"] = Value::Bool(true);
            event["body"] = Value::String(body);
        }
        event.to_string()
    })
}

// ---- properties -----------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parse_event_never_panics_on_any_text(event in text()) {
        let _ = parse_event(&event);
    }

    #[test]
    fn parse_event_never_panics_on_any_bytes(event in vec(any::<u8>(), 0..512)) {
        let _ = parse_event(&String::from_utf8_lossy(&event));
    }

    #[test]
    fn parse_event_never_panics_on_any_json(event in json_value()) {
        let _ = parse_event(&event.to_string());
    }

    #[test]
    fn parse_event_never_panics_on_real_events_with_random_fields(event in mutated_event()) {
        if let Ok(request) = parse_event(&event) {
            prop_assert_eq!(request.method.to_ascii_uppercase(), request.method.clone());
            prop_assert!(
                request.headers.iter().all(|(n, _)| *n == n.to_ascii_lowercase()),
                "header names are lower-cased"
            );
        }
    }

    #[test]
    fn classify_never_panics_and_only_echoes_safe_challenges(request in inbound_request()) {
        if let Classified::Handshake(handshake) = redox::classify(&request)
            && let Ok(challenge) = handshake.checked_challenge()
        {
            prop_assert!(!challenge.is_empty() && challenge.len() <= redox::MAX_CHALLENGE_LEN);
            prop_assert!(challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)));
        }
    }

    #[test]
    fn authenticate_never_panics_and_accepts_only_a_real_credential(
        request in inbound_request(),
        now in instant(),
    ) {
        let material = material();
        match auth::authenticate(&request, &material, &policy(), now) {
            Ok(AuthMethod::Token) => {
                let header = request.header_values("verification-token").any(|v| v == TOKEN || v == "rdx-verif-next");
                let bearer = request.header_values("authorization").any(|v| {
                    v.split_once(' ').is_some_and(|(scheme, rest)| {
                        scheme.eq_ignore_ascii_case("bearer") && (rest == TOKEN || rest == "rdx-verif-next")
                    })
                });
                prop_assert!(header || bearer, "token method accepted without a configured token");
            }
            Ok(AuthMethod::Iam) => {
                prop_assert_eq!(request.origin.verified_iam_principal.as_deref(), Some(PRINCIPAL));
            }
            Ok(_) | Err(_) => {}
        }
        let token = request.query_param("verification-token");
        let _ = auth::authenticate_handshake(&request, token.as_deref(), &material);
    }
}

#[test]
fn destination_handle_never_panics_and_answers_from_the_decision_table() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temporary folder");
    let spool = dir.path().join("spool");
    let destination = Destination {
        auth: Authenticator {
            material: Arc::new(MaterialCache::new(
                vec![Box::new(StaticMaterial::new(material(), "test material"))],
                Duration::from_secs(300),
            )),
            trust: JwtTrust::default(),
            google: None,
            policy: policy(),
        },
        issuer: None,
        sink: Arc::new(SpoolSink::open(spool.clone()).expect("spool")),
        max_body_bytes: MAX_BODY_BYTES,
        request_timeout: Duration::from_secs(10),
    };
    let mut runner = TestRunner::new(config());
    let result = runner.run(&(inbound_request(), instant()), |(request, now)| {
        let method = request.method.clone();
        let response = runtime.block_on(destination.handle(request, now));
        prop_assert!(
            [200, 400, 401, 405, 413, 501].contains(&response.status),
            "status {} is not in the decision table (healthy sink and material)",
            response.status
        );
        if response.status == 200 {
            prop_assert!(method == "POST" || method == "GET");
            if response.header("content-type") == Some("application/json") {
                let body: Value = serde_json::from_str(&response.body).expect("JSON");
                prop_assert_eq!(&body["status"], "queued");
                let id = body["message_id"].as_str().expect("message id");
                prop_assert!(spool.join(format!("{id}.json")).is_file(), "no spool file");
            } else {
                prop_assert!(
                    response
                        .body
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)),
                    "an unsafe challenge was echoed: {:?}",
                    response.body
                );
            }
        } else {
            let body: Value = serde_json::from_str(&response.body).expect("error body is JSON");
            prop_assert!(body["error"].is_string() && body["message"].is_string());
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
