//! A panic is an answer, not a dropped request; a request that cannot
//! finish in time is answered 503 before its deadline. Driven through both
//! front doors in-process (the Lambda event handler and the local server on
//! a real socket) with sinks that panic or never answer.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redox_destination::BoxFuture;
use redox_destination::auth::Authenticator;
use redox_destination::auth::jwt::trust::JwtTrust;
use redox_destination::auth::material::{AuthMaterial, MaterialCache, StaticMaterial};
use redox_destination::auth::{AuthMethod, AuthPolicy};
use redox_destination::destination::Destination;
use redox_destination::front::lambda;
use redox_destination::front::server::{self, ServerSettings};
use redox_destination::sink::{QueuedMessage, Sink, SinkError};
use serde_json::value::RawValue;

const TOKEN: &str = "rdx-guard-token-0123456789";
const PUSH: &str = r#"{"Meta":{"DataModel":"PatientAdmin","EventType":"Arrival","Logs":[{"ID":"log-1","AttemptID":"a-1"}]}}"#;

/// A sink with a bug: it panics on every message (a deliberately
/// panicking handler, as a test build would have).
struct PanickingSink {
    calls: AtomicUsize,
}

impl Sink for PanickingSink {
    fn put<'a>(&'a self, _message: &'a QueuedMessage) -> BoxFuture<'a, Result<String, SinkError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async {
            let ids: Vec<String> = Vec::new();
            // An out-of-bounds index, the kind of bug a panic guard exists for.
            Ok(ids[ids.len()].clone())
        })
    }
    fn describe(&self) -> String {
        "a sink that panics".into()
    }
}

/// A sink that never answers, as SQS does when a connection hangs.
struct HangingSink;

impl Sink for HangingSink {
    fn put<'a>(&'a self, _message: &'a QueuedMessage) -> BoxFuture<'a, Result<String, SinkError>> {
        Box::pin(std::future::pending())
    }
    fn describe(&self) -> String {
        "a sink that hangs".into()
    }
}

fn destination(sink: Arc<dyn Sink>, request_timeout: Duration) -> Arc<Destination> {
    let material = AuthMaterial::from_token_list(TOKEN).expect("token");
    Arc::new(Destination {
        auth: Authenticator {
            material: Arc::new(MaterialCache::new(
                vec![Box::new(StaticMaterial::new(material, "test token"))],
                Duration::from_secs(300),
            )),
            trust: JwtTrust::default(),
            google: None,
            policy: AuthPolicy {
                enabled: vec![AuthMethod::Token],
                allowed_principals: Vec::new(),
                clock_skew: Duration::from_secs(300),
            },
        },
        issuer: None,
        sink,
        max_body_bytes: 1024 * 1024,
        request_timeout,
    })
}

fn push_event() -> Box<RawValue> {
    let event = support::function_url_event(
        "POST",
        "/",
        "",
        &[
            ("content-type", "application/json"),
            ("verification-token", TOKEN),
        ],
        PUSH.as_bytes(),
    );
    RawValue::from_string(String::from_utf8(event).expect("utf-8")).expect("raw event")
}

fn error_code(body: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(body).expect("JSON error body");
    value["error"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_panic_in_lambda_mode_is_a_500_with_retry_after_and_the_next_event_is_served() {
    let sink = Arc::new(PanickingSink {
        calls: AtomicUsize::new(0),
    });
    let destination = destination(sink.clone(), Duration::from_secs(10));
    for _ in 0..2 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let answer = lambda::handle_event(&destination, push_event(), deadline).await;
        let answer = serde_json::to_value(&answer).expect("answer");
        assert_eq!(answer["statusCode"], 500, "{answer}");
        assert_eq!(
            error_code(answer["body"].as_str().expect("body")),
            "internal_error"
        );
        let retry_after = answer["headers"]["retry-after"].as_str();
        assert_eq!(retry_after, Some("10"), "{answer}");
    }
    assert_eq!(
        sink.calls.load(Ordering::SeqCst),
        2,
        "both events reached the sink"
    );
}

#[tokio::test]
async fn a_lambda_invocation_is_answered_503_before_its_deadline_when_the_queue_hangs() {
    let destination = destination(Arc::new(HangingSink), Duration::from_secs(10));
    let started = tokio::time::Instant::now();
    let deadline = started + Duration::from_millis(300);
    let answer = lambda::handle_event(&destination, push_event(), deadline).await;
    let elapsed = started.elapsed();
    let answer = serde_json::to_value(&answer).expect("answer");
    assert_eq!(answer["statusCode"], 503, "{answer}");
    assert_eq!(
        error_code(answer["body"].as_str().expect("body")),
        "deadline_exceeded"
    );
    assert_eq!(answer["headers"]["retry-after"].as_str(), Some("10"));
    // Answered at the deadline, not at the destination's 10 s bound.
    assert!(
        elapsed < Duration::from_secs(5),
        "answered after {elapsed:?}"
    );
}

async fn serve(destination: Arc<Destination>) -> (u16, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(
        listener,
        destination,
        ServerSettings::default(),
        async {
            let _ = stopped.await;
        },
    ));
    (port, stop)
}

async fn post(port: u16) -> support::HttpAnswer {
    tokio::task::spawn_blocking(move || {
        support::http_request(
            port,
            "POST",
            "/",
            &[
                ("content-type", "application/json"),
                ("verification-token", TOKEN),
            ],
            PUSH.as_bytes(),
        )
    })
    .await
    .expect("client thread")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_on_the_local_server_is_a_500_and_the_server_keeps_serving() {
    let sink = Arc::new(PanickingSink {
        calls: AtomicUsize::new(0),
    });
    let (port, _stop) = serve(destination(sink.clone(), Duration::from_secs(10))).await;
    for _ in 0..3 {
        let answer = post(port).await;
        assert_eq!(answer.status, 500, "{}", answer.text());
        assert_eq!(error_code(&answer.text()), "internal_error");
        assert_eq!(answer.header("retry-after"), Some("10"));
    }
    assert_eq!(sink.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_server_answers_503_when_the_request_timeout_runs_out() {
    let (port, _stop) = serve(destination(
        Arc::new(HangingSink),
        Duration::from_millis(300),
    ))
    .await;
    let started = std::time::Instant::now();
    let answer = post(port).await;
    assert_eq!(answer.status, 503, "{}", answer.text());
    assert_eq!(error_code(&answer.text()), "deadline_exceeded");
    assert_eq!(answer.header("retry-after"), Some("10"));
    assert!(started.elapsed() < Duration::from_secs(5));
}
