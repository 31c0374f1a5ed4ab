//! The release binary in Lambda mode, driven through a fake Lambda Runtime
//! API exactly as Lambda drives it, with SQS and Secrets Manager on moto.

mod support;

use std::path::Path;
use std::time::Duration;

use support::aws::World;
use support::{Invocation, RuntimeApi, function_url_event, lambda_answer, repo_root};

const TOKEN: &str = "example-verification-token-change-me";

struct Function {
    api: RuntimeApi,
    process: support::FunctionProcess,
}

fn start_function(env: &[(String, String)]) -> Function {
    let api = RuntimeApi::start();
    let process = api.start_function(env);
    Function { api, process }
}

/// Runs an async set-up step against the emulator from a plain test.
fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().unwrap().block_on(future)
}

/// The release binary in Lambda mode with a spool sink in `dir`.
fn spool_function(dir: &Path, extra: &[(&str, &str)]) -> Function {
    let mut env = vec![
        ("REDOX_VERIFICATION_TOKEN".to_string(), TOKEN.to_string()),
        (
            "REDOX_SPOOL_DIR".to_string(),
            dir.to_str().unwrap().to_string(),
        ),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    start_function(&env)
}

fn with_queue_env(
    moto: &support::Moto,
    queue_url: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env = moto.aws_env();
    env.push(("REDOX_QUEUE_URL".into(), queue_url.into()));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

#[test]
fn every_sample_event_is_answered_as_documented() {
    let events_dir = repo_root().join("events");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(events_dir.join("expected.json")).expect("events/expected.json"),
    )
    .expect("expected.json is JSON");
    let expected = expected.as_object().expect("expected.json is an object");
    assert!(expected.len() >= 10, "too few sample events");

    let world = block_on(World::start());
    let queue = block_on(world.queue("redox-events"));
    let secret_file = events_dir.join("example-secret.json");
    let function = start_function(&with_queue_env(
        &world.moto,
        &queue,
        &[("REDOX_SECRET_FILE", secret_file.to_str().unwrap())],
    ));

    for (file, want) in expected {
        // The consumer's SQS samples go to redox-consumer (tests/consumer.rs).
        if want["function"] == "redox-consumer" {
            continue;
        }
        let path = events_dir.join(file);
        let event = if want["resign"].as_bool() == Some(true) {
            resign(&path)
        } else {
            std::fs::read(&path).unwrap_or_else(|e| panic!("{file}: {e}"))
        };
        let (status, response) = lambda_answer(&function.api.invoke(&event));
        let body = response["body"].as_str().unwrap_or_default().to_string();
        assert_eq!(
            u64::from(status),
            want["status"].as_u64().expect("status"),
            "{file}: {body}"
        );
        if let Some(exact) = want["body_equals"].as_str() {
            assert_eq!(body, exact, "{file}");
            assert_eq!(
                response["headers"]["content-type"], "text/plain; charset=utf-8",
                "{file}"
            );
        }
        if let Some(code) = want["error"].as_str() {
            let error: serde_json::Value = serde_json::from_str(&body).expect("error body is JSON");
            assert_eq!(error["error"], code, "{file}");
        }
        let arrived = block_on(world.receive_all(&queue));
        let queued = want["queued"].as_bool().expect("queued");
        assert_eq!(arrived.len(), usize::from(queued), "{file}: queued");
        if queued {
            let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(
                answer["message_id"].as_str(),
                arrived[0].message_id.as_deref()
            );
        }
        if let Some(attributes) = want.get("attributes") {
            let got: serde_json::Map<String, serde_json::Value> = arrived[0]
                .message_attributes
                .iter()
                .flatten()
                .map(|(name, value)| {
                    let text = value.string_value.clone().unwrap_or_default();
                    (name.clone(), serde_json::Value::String(text))
                })
                .collect();
            assert_eq!(
                serde_json::Value::Object(got),
                *attributes,
                "{file}: attributes"
            );
        }
    }
}

/// Re-signs the sample SigV4 event at the current time (its committed
/// signature is stale by design) with botocore, an independent signer.
fn resign(path: &Path) -> Vec<u8> {
    let python = support::venv_bin("python");
    let out = std::process::Command::new(python)
        .arg(repo_root().join("scripts/sign_event.py"))
        .arg(path)
        .output()
        .expect("run scripts/sign_event.py");
    assert!(
        out.status.success(),
        "sign_event.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn function_url_http_api_and_rest_pushes_all_reach_the_queue() {
    let world = block_on(World::start());
    let queue = block_on(world.queue("redox-doors"));
    let function = start_function(&with_queue_env(
        &world.moto,
        &queue,
        &[("REDOX_VERIFICATION_TOKEN", TOKEN)],
    ));
    let body = r#"{"Meta":{"DataModel":"Results","EventType":"New","Logs":[{"ID":"log-1","AttemptID":"a-1"}]}}"#;

    let function_url = function_url_event(
        "POST",
        "/",
        "",
        &[
            ("content-type", "application/json"),
            ("verification-token", TOKEN),
        ],
        body.as_bytes(),
    );
    let http_api = String::from_utf8(function_url.clone()).unwrap().replace(
        "abcdefghijklmnop.lambda-url.us-east-1.on.aws",
        "abc123.execute-api.us-east-1.amazonaws.com",
    );
    let rest = serde_json::json!({
        "resource": "/{proxy+}", "path": "/redox", "httpMethod": "POST",
        "headers": {"Content-Type": "application/json", "verification-token": TOKEN},
        "multiValueHeaders": {"Content-Type": ["application/json"], "verification-token": [TOKEN]},
        "queryStringParameters": null, "multiValueQueryStringParameters": null,
        "requestContext": {"path": "/prod/redox", "httpMethod": "POST", "stage": "prod",
                           "identity": {"sourceIp": "198.51.100.7"}},
        "body": body, "isBase64Encoded": false
    })
    .to_string();

    for event in [function_url, http_api.into_bytes(), rest.into_bytes()] {
        let (status, response) = lambda_answer(&function.api.invoke(&event));
        assert_eq!(status, 200, "{response}");
    }
    let arrived = block_on(world.receive_all(&queue));
    assert_eq!(arrived.len(), 3);
    for message in &arrived {
        assert_eq!(message.body.as_deref(), Some(body));
    }

    // A refused push leaves nothing behind.
    let refused = function_url_event(
        "POST",
        "/",
        "",
        &[("verification-token", "not-the-token")],
        body.as_bytes(),
    );
    let (status, response) = lambda_answer(&function.api.invoke(&refused));
    assert_eq!(status, 401, "{response}");
    assert!(block_on(world.receive_all(&queue)).is_empty());

    // One JSON log line per request; never the token or the body.
    let log = function.process.log();
    let requests: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line.get("outcome").is_some())
        .collect();
    assert_eq!(requests.len(), 4, "{log}");
    assert_eq!(requests[3]["outcome"], "unauthorized");
    assert_eq!(requests[0]["redox_log_id"], "log-1");
    assert!(requests[3]["reason"].as_str().is_some());
    assert!(
        !log.contains(TOKEN) && !log.contains("not-the-token"),
        "{log}"
    );
    assert!(!log.contains("\"DataModel\""), "{log}");
}

#[test]
fn a_malformed_event_is_a_400_answer_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let function = spool_function(dir.path(), &[]);
    for event in [
        br#"{"Records": []}"#.to_vec(),
        br#"{"version":"2.0","rawPath":"/","requestContext":{"http":{"method":"POST"}},"body":"!!","isBase64Encoded":true}"#.to_vec(),
        b"[1,2,3]".to_vec(),
    ] {
        let (status, response) = lambda_answer(&function.api.invoke(&event));
        assert_eq!(status, 400, "{response}");
    }
    // Still alive and answering after bad events.
    let handshake = function_url_event(
        "GET",
        "/",
        &format!("challenge=abc-123&verification-token={TOKEN}"),
        &[],
        b"",
    );
    let (status, response) = lambda_answer(&function.api.invoke(&handshake));
    assert_eq!(status, 200);
    assert_eq!(response["body"], "abc-123");
}

/// Starts the function with `env`, expects it to report an init error whose
/// message starts with `variable` and to exit unsuccessfully; returns its log.
fn expect_init_error(env: &[(&str, &str)], variable: &str) -> String {
    let api = RuntimeApi::start();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut child = api.start_function(&env);
    let error = api
        .wait_init_error(Duration::from_secs(30))
        .expect("no /init/error report");
    let message = error["errorMessage"].as_str().unwrap_or_default();
    assert!(message.starts_with(variable), "{error}");
    assert!(!child.wait().success());
    assert_eq!(api.next_calls(), 0, "asked for an event after failing init");
    child.log()
}

#[test]
fn lambda_mode_without_a_queue_reports_an_init_error_naming_the_variable() {
    expect_init_error(&[("REDOX_VERIFICATION_TOKEN", TOKEN)], "REDOX_QUEUE_URL");
}

#[test]
fn a_bad_setting_stops_lambda_start_up_with_one_line() {
    let output = expect_init_error(&[("REDOX_MAX_BODY_BYTES", "huge")], "REDOX_MAX_BODY_BYTES");
    let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{output}");
    assert!(lines[0].contains("REDOX_MAX_BODY_BYTES"));
}

#[test]
fn invocation_results_are_never_runtime_errors_for_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let function = spool_function(dir.path(), &[("REDOX_MAX_BODY_BYTES", "1000")]);
    let big = vec![b'x'; 2000];
    let event = function_url_event("POST", "/", "", &[("verification-token", TOKEN)], &big);
    match function.api.invoke(&event) {
        Invocation::Response(response) => assert_eq!(response["statusCode"], 413),
        Invocation::Error(error) => panic!("413 came back as a runtime error: {error}"),
    }
}

#[test]
fn a_6mb_body_goes_through_s3_within_a_128mb_function() {
    let world = block_on(World::start());
    let queue = block_on(world.queue("redox-six"));
    block_on(world.s3.create_bucket().bucket("redox-six-payloads").send()).expect("create bucket");
    let mut env = world.moto.aws_env();
    env.extend([
        ("REDOX_QUEUE_URL".to_string(), queue.clone()),
        (
            "REDOX_PAYLOAD_BUCKET".to_string(),
            "redox-six-payloads".to_string(),
        ),
        ("REDOX_VERIFICATION_TOKEN".to_string(), TOKEN.to_string()),
    ]);
    let function = start_function(&env);

    // Not UTF-8, so the event carries it base64 (about 8 MB), as Lambda does.
    let body: Vec<u8> = (0..6_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let event = function_url_event("POST", "/", "", &[("verification-token", TOKEN)], &body);
    assert!(event.len() > 8_000_000);
    let (status, response) = lambda_answer(&function.api.invoke(&event));
    assert_eq!(status, 200, "{response}");

    let peak_kib = function.process.peak_rss_kib();
    eprintln!(
        "peak RSS with a 6 MB body: {:.1} MiB",
        peak_kib as f64 / 1024.0
    );
    assert!(
        peak_kib < 128 * 1024,
        "peak RSS {peak_kib} KiB does not fit 128 MB"
    );

    let messages = block_on(world.receive_all(&queue));
    assert_eq!(messages.len(), 1);
    let stored = block_on(async {
        let list = world
            .s3
            .list_objects_v2()
            .bucket("redox-six-payloads")
            .send()
            .await
            .unwrap();
        let key = list.contents.unwrap()[0].key.clone().unwrap();
        world
            .s3
            .get_object()
            .bucket("redox-six-payloads")
            .key(key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes()
    });
    assert!(stored[..] == body[..], "the stored body differs");
}
