//! Lambda Function URL (payload 2.0), API Gateway HTTP API (2.0) and API
//! Gateway REST API (1.0) events carrying one request map onto the same
//! `InboundRequest`, apart from the differences each front door imposes.

use std::path::Path;

use redox_destination::front::lambda_event::{EventError, LambdaHttpResponse, parse_event};
use redox_destination::inbound::{FrontDoor, InboundRequest};
use redox_destination::response::HttpResponse;
use serde_json::{Value, json};

const TOKEN: &str = "rdx-verif-7Hq2Lm9fK3mZ1xP4";
const PRINCIPAL: &str = "arn:aws:iam::123456789012:user/redox-sender";
const DOORS: [(&str, FrontDoor); 3] = [
    ("function-url.json", FrontDoor::FunctionUrl),
    ("http-api.json", FrontDoor::HttpApi),
    ("rest-api.json", FrontDoor::RestApi),
];

fn fixture_text(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/events")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture_text(name)).expect("fixture is JSON")
}

fn parse_value(event: &Value) -> Result<InboundRequest, EventError> {
    parse_event(&event.to_string())
}

fn parse_fixture(name: &str) -> InboundRequest {
    parse_event(&fixture_text(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The headers the client itself sent (front doors add their own), with
/// repeats joined by commas as payload 2.0 delivers them.
fn client_headers(request: &InboundRequest) -> Vec<(String, String)> {
    let mut joined: Vec<(String, String)> = Vec::new();
    for name in [
        "accept",
        "authorization",
        "content-type",
        "cookie",
        "user-agent",
        "verification-token",
        "x-redox-trace",
    ] {
        let values: Vec<&str> = request.header_values(name).collect();
        if !values.is_empty() {
            joined.push((name.to_owned(), values.join(",")));
        }
    }
    joined
}

#[test]
fn the_three_front_doors_map_one_request_to_the_same_inbound_value() {
    let expected_body = fixture_text("patientadmin-arrival.json");
    let expected_headers = vec![
        ("accept".to_owned(), "*/*".to_owned()),
        ("authorization".to_owned(), format!("Bearer {TOKEN}")),
        ("content-type".to_owned(), "application/json".to_owned()),
        ("cookie".to_owned(), "session=abc; theme=dark".to_owned()),
        ("user-agent".to_owned(), "Redox/1.0".to_owned()),
        ("verification-token".to_owned(), TOKEN.to_owned()),
        ("x-redox-trace".to_owned(), "first,second".to_owned()),
    ];
    for (name, door) in DOORS {
        let request = parse_fixture(name);
        assert_eq!(request.method, "POST", "{name}");
        assert_eq!(request.raw_path, "/prod/redox", "{name}");
        assert_eq!(request.raw_query, "source=redox&tag=a%20b&tag=c", "{name}");
        assert_eq!(&request.body[..], expected_body.as_bytes(), "{name}");
        assert_eq!(client_headers(&request), expected_headers, "{name}");
        assert_eq!(request.origin.front_door, door, "{name}");
        assert_eq!(
            request.origin.source_ip.as_deref(),
            Some("54.91.12.37"),
            "{name}"
        );
        assert_eq!(request.origin.verified_iam_principal, None, "{name}");
        assert!(
            request
                .headers
                .iter()
                .all(|(n, _)| *n == n.to_ascii_lowercase()),
            "{name}: header names are not lower-cased"
        );
    }
}

#[test]
fn base64_bodies_are_decoded_to_the_bytes_sent() {
    let http_api = fixture_json("http-api.json");
    let rest = fixture_json("rest-api.json");
    assert_eq!(http_api["isBase64Encoded"], true);
    assert_eq!(rest["isBase64Encoded"], true);
    let expected = fixture_text("patientadmin-arrival.json");
    assert_eq!(
        &parse_value(&http_api).expect("parses").body[..],
        expected.as_bytes()
    );
    assert_eq!(
        &parse_value(&rest).expect("parses").body[..],
        expected.as_bytes()
    );

    // A binary body (not UTF-8) survives the base64 round trip byte for byte.
    let binary: Vec<u8> = (0u8..=255).rev().collect();
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&binary);
    for (name, _) in DOORS {
        let mut event = fixture_json(name);
        event["body"] = Value::String(encoded.clone());
        event["isBase64Encoded"] = Value::Bool(true);
        assert_eq!(
            &parse_value(&event).expect("parses").body[..],
            &binary[..],
            "{name}"
        );
    }
}

#[test]
fn a_body_not_marked_base64_is_taken_as_text_even_if_it_looks_like_base64() {
    for (name, _) in DOORS {
        let mut event = fixture_json(name);
        event["body"] = Value::String("aGVsbG8=".into());
        event["isBase64Encoded"] = Value::Bool(false);
        assert_eq!(
            &parse_value(&event).expect("parses").body[..],
            b"aGVsbG8=",
            "{name}"
        );
    }
}

#[test]
fn invalid_base64_is_an_error_for_every_front_door() {
    for (name, _) in DOORS {
        for bad in ["@@@ not base64 @@@", "aGVsbG8=!", "é"] {
            let mut event = fixture_json(name);
            event["body"] = Value::String(bad.into());
            event["isBase64Encoded"] = Value::Bool(true);
            assert_eq!(
                parse_value(&event),
                Err(EventError::InvalidBase64Body),
                "{name} with body {bad:?}"
            );
        }
    }
}

#[test]
fn a_missing_body_is_an_empty_body() {
    for (name, _) in DOORS {
        let mut event = fixture_json(name);
        event["body"] = Value::Null;
        event["isBase64Encoded"] = Value::Bool(false);
        assert!(
            parse_value(&event).expect("parses").body.is_empty(),
            "{name}"
        );
        event.as_object_mut().expect("object").remove("body");
        assert!(
            parse_value(&event).expect("parses").body.is_empty(),
            "{name}"
        );
    }
}

#[test]
fn rest_repeated_headers_arrive_as_separate_values_in_order() {
    let request = parse_fixture("rest-api.json");
    let trace: Vec<&str> = request.header_values("x-redox-trace").collect();
    assert_eq!(trace, ["first", "second"]);
    // The single-valued `headers` map keeps only the last; it must not win.
    let event = fixture_json("rest-api.json");
    assert_eq!(event["headers"]["X-Redox-Trace"], "second");
}

#[test]
fn payload_2_repeated_headers_arrive_comma_joined() {
    for name in ["function-url.json", "http-api.json"] {
        let request = parse_fixture(name);
        let trace: Vec<&str> = request.header_values("x-redox-trace").collect();
        assert_eq!(trace, ["first,second"], "{name}");
    }
}

#[test]
fn headers_keep_the_order_of_the_event() {
    let request = parse_fixture("function-url.json");
    let names: Vec<&str> = request.headers.iter().map(|(n, _)| n.as_str()).collect();
    // The order of function-url.json, then the cookies put back.
    assert_eq!(
        names,
        [
            "x-amzn-tls-cipher-suite",
            "content-length",
            "x-amzn-tls-version",
            "x-amzn-trace-id",
            "x-forwarded-proto",
            "host",
            "x-forwarded-port",
            "content-type",
            "x-forwarded-for",
            "verification-token",
            "authorization",
            "x-redox-trace",
            "accept",
            "user-agent",
            "cookie",
        ]
    );
}

#[test]
fn payload_2_cookies_are_put_back_as_one_cookie_header() {
    for name in ["function-url.json", "http-api.json"] {
        let request = parse_fixture(name);
        let cookies: Vec<&str> = request.header_values("cookie").collect();
        assert_eq!(cookies, ["session=abc; theme=dark"], "{name}");
    }
}

#[test]
fn function_url_keeps_the_raw_path_and_query_as_sent() {
    let mut event = fixture_json("function-url.json");
    event["rawPath"] = json!("/prod/redox/a%2Fb%20c");
    event["rawQueryString"] = json!("z=1&a=%7e&tag=a+b&empty=&flag");
    let request = parse_value(&event).expect("parses");
    assert_eq!(request.raw_path, "/prod/redox/a%2Fb%20c");
    assert_eq!(request.raw_query, "z=1&a=%7e&tag=a+b&empty=&flag");
    assert_eq!(request.origin.front_door, FrontDoor::FunctionUrl);
}

#[test]
fn http_api_raw_path_arrives_decoded_and_is_kept_as_delivered() {
    // The client sent /prod/redox/a%2Fb%20c; HTTP API delivers rawPath decoded.
    let mut event = fixture_json("http-api.json");
    event["rawPath"] = json!("/prod/redox/a/b c");
    event["rawQueryString"] = json!("z=1&a=%7e");
    let request = parse_value(&event).expect("parses");
    assert_eq!(request.raw_path, "/prod/redox/a/b c");
    assert_eq!(request.raw_query, "z=1&a=%7e");
    // The door is recorded so signature checks know the path is not raw.
    assert_eq!(request.origin.front_door, FrontDoor::HttpApi);
}

/// The event's text with one top-level field set to `raw_json` verbatim, so
/// that its key order survives (serde_json's own map would sort it).
fn with_raw_field(mut event: Value, key: &str, raw_json: &str) -> String {
    const PLACEHOLDER: &str = "__raw_field__";
    event[key] = json!(PLACEHOLDER);
    event
        .to_string()
        .replacen(&format!("\"{PLACEHOLDER}\""), raw_json, 1)
}

#[test]
fn rest_query_is_rebuilt_from_the_decoded_maps() {
    // The client sent ?tag=a+b&z=1&a=%7e&tag=c; REST keeps only decoded maps
    // (repeats grouped under their key), so the query is rebuilt with RFC 3986
    // encoding in map order: spelling and order on the wire are lost.
    let mut event = fixture_json("rest-api.json");
    event["queryStringParameters"] = json!({"tag": "c", "z": "1", "a": "~"});
    let text = with_raw_field(
        event.clone(),
        "multiValueQueryStringParameters",
        r#"{"tag": ["a b", "c"], "z": ["1"], "a": ["~"]}"#,
    );
    let request = parse_event(&text).expect("parses");
    assert_eq!(request.raw_query, "tag=a%20b&tag=c&z=1&a=~");
    assert_eq!(request.origin.front_door, FrontDoor::RestApi);

    // Without the multi-value map, the single-value map is used.
    event["multiValueQueryStringParameters"] = Value::Null;
    let text = with_raw_field(
        event.clone(),
        "queryStringParameters",
        r#"{"q": "x/y z", "k": ""}"#,
    );
    assert_eq!(
        parse_event(&text).expect("parses").raw_query,
        "q=x%2Fy%20z&k="
    );

    // No query at all: both maps are null in real events.
    event["queryStringParameters"] = Value::Null;
    assert_eq!(parse_value(&event).expect("parses").raw_query, "");
}

#[test]
fn rest_path_includes_the_stage_the_client_sent() {
    let event = fixture_json("rest-api.json");
    assert_eq!(event["path"], "/redox");
    assert_eq!(event["requestContext"]["path"], "/prod/redox");
    assert_eq!(parse_value(&event).expect("parses").raw_path, "/prod/redox");
}

#[test]
fn rest_headers_without_multi_value_headers_use_the_single_map() {
    let mut event = fixture_json("rest-api.json");
    event["multiValueHeaders"] = Value::Null;
    let request = parse_value(&event).expect("parses");
    assert_eq!(
        request
            .header_values("verification-token")
            .collect::<Vec<_>>(),
        [TOKEN]
    );
    assert_eq!(
        request.header_values("x-redox-trace").collect::<Vec<_>>(),
        ["second"]
    );
}

#[test]
fn the_method_is_upper_cased() {
    let mut event = fixture_json("http-api.json");
    event["requestContext"]["http"]["method"] = json!("post");
    assert_eq!(parse_value(&event).expect("parses").method, "POST");
    let mut event = fixture_json("rest-api.json");
    event["httpMethod"] = json!("get");
    assert_eq!(parse_value(&event).expect("parses").method, "GET");
}

#[test]
fn an_event_without_a_method_is_refused() {
    let mut event = fixture_json("function-url.json");
    event["requestContext"]["http"]
        .as_object_mut()
        .expect("http")
        .remove("method");
    assert_eq!(parse_value(&event), Err(EventError::MissingMethod));
}

#[test]
fn events_that_are_not_http_are_refused() {
    for text in [
        "",
        "null",
        "[]",
        "42",
        r#"{"Records":[{"eventSource":"aws:sqs","body":"x"}]}"#,
        r#"{"httpMethod":"POST"}"#,
        "{not json",
    ] {
        assert!(
            matches!(
                parse_event(text),
                Err(EventError::UnknownShape(_) | EventError::MissingMethod)
            ),
            "{text:?} was accepted"
        );
    }
}

#[test]
fn the_iam_principal_is_read_from_the_request_context() {
    let iam = json!({
        "accessKey": "AKIAIOSFODNN7EXAMPLE",
        "accountId": "123456789012",
        "callerId": "AIDACKCEVSQ6C2EXAMPLE",
        "cognitoIdentity": null,
        "principalOrgId": null,
        "userArn": PRINCIPAL,
        "userId": "AIDACKCEVSQ6C2EXAMPLE"
    });
    for name in ["function-url.json", "http-api.json"] {
        let mut event = fixture_json(name);
        event["requestContext"]["authorizer"] = json!({ "iam": iam });
        let request = parse_value(&event).expect("parses");
        assert_eq!(
            request.origin.verified_iam_principal.as_deref(),
            Some(PRINCIPAL),
            "{name}"
        );
    }
    let mut event = fixture_json("rest-api.json");
    event["requestContext"]["identity"]["userArn"] = json!(PRINCIPAL);
    event["requestContext"]["identity"]["accessKey"] = json!("AKIAIOSFODNN7EXAMPLE");
    let request = parse_value(&event).expect("parses");
    assert_eq!(
        request.origin.verified_iam_principal.as_deref(),
        Some(PRINCIPAL)
    );
}

#[test]
fn a_header_claiming_an_iam_principal_is_ignored() {
    let forged = "arn:aws:iam::999999999999:user/attacker";
    for (name, _) in DOORS {
        let mut event = fixture_json(name);
        for header in ["x-amzn-iam-user-arn", "userArn", "x-amz-user-arn"] {
            event["headers"][header] = json!(forged);
            if name == "rest-api.json" {
                event["multiValueHeaders"][header] = json!([forged]);
            }
        }
        let request = parse_value(&event).expect("parses");
        assert_eq!(request.origin.verified_iam_principal, None, "{name}");
    }

    // With a real principal in the context, the header still does not win.
    let mut event = fixture_json("http-api.json");
    event["headers"]["x-amzn-iam-user-arn"] = json!(forged);
    event["requestContext"]["authorizer"] = json!({"iam": {"userArn": PRINCIPAL}});
    let request = parse_value(&event).expect("parses");
    assert_eq!(
        request.origin.verified_iam_principal.as_deref(),
        Some(PRINCIPAL)
    );
}

#[test]
fn lambda_http_response_serialises_to_the_front_door_shape() {
    let response = HttpResponse::error(
        401,
        "unauthorized",
        "The request could not be authenticated.",
    )
    .with_header("retry-after", "10");
    let value = serde_json::to_value(LambdaHttpResponse::from(response)).expect("serialises");
    let object = value.as_object().expect("object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["body", "headers", "isBase64Encoded", "statusCode"]);
    assert_eq!(value["statusCode"], 401);
    assert_eq!(value["isBase64Encoded"], false);
    assert_eq!(value["headers"]["content-type"], "application/json");
    assert_eq!(value["headers"]["x-content-type-options"], "nosniff");
    assert_eq!(value["headers"]["retry-after"], "10");
    let body: Value =
        serde_json::from_str(value["body"].as_str().expect("body is a string")).expect("JSON");
    assert_eq!(body["error"], "unauthorized");

    let challenge = HttpResponse::plain_text(200, "3f8a2c1e-9b7d-4e6f-a5c4-1d2e3f4a5b6c".into());
    let value = serde_json::to_value(LambdaHttpResponse::from(challenge)).expect("serialises");
    assert_eq!(value["statusCode"], 200);
    assert_eq!(value["body"], "3f8a2c1e-9b7d-4e6f-a5c4-1d2e3f4a5b6c");
    assert!(
        value["headers"]["content-type"]
            .as_str()
            .is_some_and(|v| v.starts_with("text/plain"))
    );
}
