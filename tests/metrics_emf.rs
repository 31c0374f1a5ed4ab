//! EMF records from real requests: the local server with `REDOX_METRICS=emf`
//! and the release binary in Lambda mode (EMF by default). Each request's
//! line is parsed, checked against the EMF specification, and its values
//! compared with what the request did; no token or body appears.

mod support;

use std::process::{Command, Stdio};

use redox_destination::telemetry::metrics::check_emf;
use serde_json::Value;
use support::{
    ChildGuard, RuntimeApi, free_port, function_url_event, http_request, lambda_answer,
    wait_for_port,
};

const TOKEN: &str = "emf-test-token-0123456789";
const PUSH: &str = r#"{"Meta":{"DataModel":"PatientAdmin","EventType":"Arrival","Logs":[{"ID":"emf-log-1","AttemptID":"a1"}]},"Patient":{"Demographics":{"FirstName":"Secretname"}}}"#;

/// The EMF records among the log lines, each checked against the spec.
fn emf_records(log: &str) -> Vec<Value> {
    let records: Vec<Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|value| value.get("_aws").is_some())
        .collect();
    for record in &records {
        check_emf(record).unwrap_or_else(|why| panic!("not valid EMF ({why}): {record}"));
        assert_eq!(
            record["_aws"]["CloudWatchMetrics"][0]["Namespace"], "RedoxTest",
            "{record}"
        );
    }
    assert!(!log.contains(TOKEN), "the token is in the log:\n{log}");
    assert!(
        !log.contains("Secretname"),
        "the body is in the log:\n{log}"
    );
    records
}

fn assert_record(record: &Value, outcome: &str, status: u64, dependency: Option<&str>) {
    assert_eq!(record["Outcome"], outcome, "{record}");
    assert_eq!(record["outcome"], outcome, "{record}");
    assert_eq!(record["status"], status, "{record}");
    assert_eq!(record["Requests"], 1);
    assert!(record["Latency"].as_f64().is_some_and(|ms| ms >= 0.0));
    assert_eq!(
        record["ServerErrors"],
        u64::from(status >= 500 && status != 501)
    );
    assert_eq!(
        record["ClientErrors"],
        u64::from((400..500).contains(&status))
    );
    assert_eq!(record.get("Dependency").and_then(Value::as_str), dependency);
    // Dimensions never carry per-message values.
    let dimensions = record["_aws"]["CloudWatchMetrics"][0]["Dimensions"].to_string();
    for high_cardinality in ["redox_log_id", "message_id", "oauth_client"] {
        assert!(!dimensions.contains(high_cardinality), "{dimensions}");
    }
}

#[test]
fn the_local_server_writes_one_emf_record_per_request_when_asked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_redox-destination"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("REDOX_LISTEN", format!("127.0.0.1:{port}"))
        .env("REDOX_VERIFICATION_TOKEN", TOKEN)
        .env("REDOX_SPOOL_DIR", dir.path().join("spool"))
        .env("REDOX_METRICS", "emf")
        .env("REDOX_METRICS_NAMESPACE", "RedoxTest")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start the local server");
    wait_for_port(port, &mut child, "redox-destination");
    let _guard = ChildGuard(child);

    let push = |token: &str| {
        http_request(
            port,
            "POST",
            "/",
            &[
                ("content-type", "application/json"),
                ("verification-token", token),
            ],
            PUSH.as_bytes(),
        )
    };
    assert_eq!(push(TOKEN).status, 200);
    assert_eq!(push("wrong-token").status, 401);
    std::thread::sleep(std::time::Duration::from_millis(200));

    let log = std::fs::read_to_string(&log_path).expect("read the log");
    let records = emf_records(&log);
    assert_eq!(records.len(), 2, "{log}");
    assert_record(&records[0], "queued", 200, None);
    assert_eq!(records[0]["AuthMethod"], "token");
    assert_eq!(records[0]["BodyBytes"], PUSH.len() as u64);
    assert_eq!(records[0]["Offloaded"], 0);
    assert_eq!(records[0]["redox_log_id"], "emf-log-1");
    assert_record(&records[1], "unauthorized", 401, None);
    assert!(records[1].get("AuthMethod").is_none());
    for record in &records {
        eprintln!("local EMF: {record}");
    }
}

#[test]
fn lambda_mode_writes_emf_by_default_for_queued_refused_and_failed_pushes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let api = RuntimeApi::start();
    // A spool for the first function; the second has an unreachable SQS.
    let spool = dir.path().join("spool");
    std::fs::create_dir_all(&spool).expect("spool");
    let env = |extra: &[(&str, String)]| -> Vec<(String, String)> {
        let mut env = vec![
            ("REDOX_VERIFICATION_TOKEN".to_string(), TOKEN.to_string()),
            ("REDOX_METRICS_NAMESPACE".into(), "RedoxTest".into()),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        env
    };
    let event = |token: &str| {
        function_url_event(
            "POST",
            "/",
            "",
            &[
                ("content-type", "application/json"),
                ("verification-token", token),
            ],
            PUSH.as_bytes(),
        )
    };

    let function = api.start_function(&env(&[("REDOX_SPOOL_DIR", spool.display().to_string())]));
    assert_eq!(lambda_answer(&api.invoke(&event(TOKEN))).0, 200);
    assert_eq!(lambda_answer(&api.invoke(&event("wrong"))).0, 401);
    let log = function.log();
    let records = emf_records(&log);
    assert_eq!(records.len(), 2, "{log}");
    assert_record(&records[0], "queued", 200, None);
    assert_eq!(records[0]["AuthMethod"], "token");
    assert_eq!(records[0]["BodyBytes"], PUSH.len() as u64);
    assert_record(&records[1], "unauthorized", 401, None);
    for record in &records {
        eprintln!("lambda EMF: {record}");
    }
    drop(function);

    // Nothing listens on this port: SendMessage fails, the push gets 503.
    let closed = free_port();
    let api = RuntimeApi::start();
    let endpoint = format!("http://127.0.0.1:{closed}");
    let failing = api.start_function(&env(&[
        (
            "REDOX_QUEUE_URL",
            format!("{endpoint}/123456789012/redox-inbound"),
        ),
        ("AWS_ENDPOINT_URL", endpoint.clone()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("REDOX_AWS_TIMEOUT_MS", "1000".into()),
    ]));
    let (status, response) = lambda_answer(&api.invoke(&event(TOKEN)));
    assert_eq!(status, 503, "{response}");

    let mut log = String::new();
    for _ in 0..20 {
        log = failing.log();
        if log.contains("queue_unavailable") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let failed = emf_records(&log);
    assert_eq!(failed.len(), 1, "{log}");
    assert_record(&failed[0], "queue_unavailable", 503, Some("SQS"));
    eprintln!("lambda EMF (503): {}", failed[0]);
}
