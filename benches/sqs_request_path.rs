//! One push from the Lambda event to the Lambda answer, with the SQS call
//! stubbed at the HTTP layer only: event parsing, authentication,
//! classification, the SendMessage request through the real SDK client
//! (serialisation, endpoint resolution, SigV4 signing, interceptors, retry
//! and timeout machinery, response parsing), the JSON log line and the
//! response JSON. Next to it, the SDK's SendMessage alone, so the SDK's share
//! of the path is visible.
//!
//! Run with `cargo bench --bench sqs_request_path`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::Credentials;
use aws_sdk_sqs::types::MessageAttributeValue;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use redox_destination::auth::Authenticator;
use redox_destination::auth::jwt::trust::JwtTrust;
use redox_destination::auth::material::{AuthMaterial, MaterialCache, StaticMaterial};
use redox_destination::auth::{AuthMethod, AuthPolicy};
use redox_destination::destination::Destination;
use redox_destination::front::lambda::handle_event;
use redox_destination::sink::sqs::FifoGroup;
use redox_destination::sink::sqs::SqsSink;
use serde_json::value::RawValue;

const TOKEN: &str = "bench-verification-token-0123456789abcdef";
const HOST: &str = "abcdefghijklmnop.lambda-url.us-east-1.on.aws";
const QUEUE_URL: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/redox";
const ACCESS_KEY: &str = "AKIDREDOXBENCH";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYredoxBENCH";
/// What SQS (JSON protocol) answers to a SendMessage.
const SEND_MESSAGE_RESPONSE: &str = r#"{"MD5OfMessageAttributes":"0f3b4a4f2c6f9a1f3e0c8f0a7d5b1c2e","MD5OfMessageBody":"51b0a325b2dd43ba1d9e1d4a4f7d2c9b","MessageId":"5fea7756-0ea4-451a-a703-a558b933e274"}"#;

/// Answers every request with a canned SendMessage response, without I/O.
#[derive(Debug, Clone)]
struct CannedSqs;

impl HttpConnector for CannedSqs {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        let mut response = HttpResponse::new(
            200.try_into().expect("status"),
            SdkBody::from(SEND_MESSAGE_RESPONSE),
        );
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        response
            .headers_mut()
            .insert("x-amzn-requestid", "d2f4b0a1-0b1c-5f7e-9b8a-8f1e2d3c4b5a");
        HttpConnectorFuture::ready(Ok(response))
    }
}

impl HttpClient for CannedSqs {
    fn http_connector(
        &self,
        _: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// The SQS client as `app` builds it (same timeouts, the body interceptor),
/// on the canned answer.
async fn sqs_client() -> aws_sdk_sqs::Client {
    let timeout = Duration::from_secs(5);
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDSQS", "secret", None, None, "bench"))
        .http_client(SharedHttpClient::new(CannedSqs))
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(timeout)
                .operation_attempt_timeout(timeout / 2)
                .connect_timeout(Duration::from_secs(2))
                .build(),
        )
        .load()
        .await;
    let sqs = aws_sdk_sqs::config::Builder::from(&sdk)
        .interceptor(redox_destination::sink::sqs_body::FastBodyInterceptor::new())
        .build();
    aws_sdk_sqs::Client::from_conf(sqs)
}

/// A Redox PatientAdmin message padded with notes to about `size` bytes.
fn message(size: usize) -> String {
    let head = r#"{"Meta":{"DataModel":"PatientAdmin","EventType":"Arrival","EventDateTime":"2026-11-28T10:00:00.000Z","Test":true,"Source":{"ID":"7ce6f387-c33c-417d-8682-81e83628cbd9","Name":"Redox Dev Tools"},"Destinations":[{"ID":"af394f14-b34a-464f-8d24-895f370af4c9","Name":"Redox EMR"}],"Logs":[{"ID":"d9f5d293-7110-461e-a875-3beb089e79f3","AttemptID":"925d1617-2fe0-468c-a14c-f8c04b572c54"}],"FacilityCode":null},"Patient":{"Identifiers":[{"ID":"0000000001","IDType":"MR"}],"Demographics":{"FirstName":"Timothy","LastName":"Bixby","DOB":"2008-01-06","Sex":"Male"},"Notes":["#;
    let note = r#""Patient arrived for a scheduled visit; vitals recorded and reviewed by the attending clinician.","#;
    let mut body = String::with_capacity(size + 64);
    body.push_str(head);
    while body.len() + note.len() + 4 < size {
        body.push_str(note);
    }
    body.push_str(r#""end"]}}"#);
    body
}

fn event(headers: serde_json::Value, body: &str) -> String {
    serde_json::json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "",
        "headers": headers,
        "requestContext": {"domainName": HOST,
                           "http": {"method": "POST", "path": "/", "sourceIp": "198.51.100.7"}},
        "body": body, "isBase64Encoded": false
    })
    .to_string()
}

fn token_event(body: &str) -> String {
    event(
        serde_json::json!({"content-type": "application/json", "verification-token": TOKEN,
                           "authorization": format!("Bearer {TOKEN}"), "host": HOST}),
        body,
    )
}

/// Signed once at start-up: a criterion run stays inside the 300 s window.
fn sigv4_event(body: &str) -> String {
    let identity = Credentials::new(ACCESS_KEY, SECRET, None, None, "bench").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("lambda")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .expect("signing params")
        .into();
    let signable = SignableRequest::new(
        "POST",
        format!("https://{HOST}/"),
        [("content-type", "application/json")].into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .expect("signable");
    let (instructions, _) = sign(signable, &params).expect("signs").into_parts();
    let mut headers = serde_json::Map::new();
    headers.insert("content-type".into(), "application/json".into());
    headers.insert("host".into(), HOST.into());
    for (name, value) in instructions.headers() {
        headers.insert(name.to_owned(), value.into());
    }
    event(serde_json::Value::Object(headers), body)
}

fn destination(client: aws_sdk_sqs::Client) -> Destination {
    let material = AuthMaterial::from_secret_text(
        &serde_json::json!({
            "verification_tokens": [TOKEN, "previous-token"],
            "sigv4_keys": [{"access_key_id": ACCESS_KEY, "secret_access_key": SECRET,
                            "region": "us-east-1", "service": "lambda"}]
        })
        .to_string(),
    )
    .expect("material");
    Destination {
        auth: Authenticator {
            material: Arc::new(MaterialCache::new(
                vec![Box::new(StaticMaterial::new(material, "bench"))],
                Duration::from_secs(3600),
            )),
            trust: JwtTrust::default(),
            google: None,
            policy: AuthPolicy {
                enabled: vec![AuthMethod::Token, AuthMethod::Sigv4],
                allowed_principals: vec![],
                clock_skew: Duration::from_secs(300),
            },
        },
        issuer: None,
        sink: Arc::new(SqsSink::new(
            client,
            QUEUE_URL.into(),
            FifoGroup::Source,
            Duration::from_secs(5),
            None,
        )),
        max_body_bytes: 6 * 1024 * 1024,
        request_timeout: Duration::from_secs(10),
    }
}

/// A deadline far enough away never to run out during one iteration.
fn deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(10)
}

fn string_attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("attribute")
}

fn sqs_request_path(c: &mut Criterion) {
    // The JSON log line the function writes in Lambda, formatted and dropped.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .without_time()
        .try_init();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = runtime.block_on(sqs_client());
    let destination = destination(client.clone());

    let mut group = c.benchmark_group("sqs_request_path");
    let cases = [
        ("token", "2KB", token_event(&message(2 * 1024))),
        ("token", "256KB", token_event(&message(256 * 1024))),
        ("sigv4", "256KB", sigv4_event(&message(256 * 1024))),
    ];
    for (auth, size, event) in &cases {
        let first = runtime.block_on(handle_event(
            &destination,
            RawValue::from_string(event.clone()).expect("raw"),
            deadline(),
        ));
        assert_eq!(first.status_code, 200, "{}", first.body);
        group.throughput(Throughput::Bytes(event.len() as u64));
        group.bench_with_input(
            BenchmarkId::new(format!("lambda_push_{auth}"), size),
            event,
            |b, event| {
                b.iter(|| {
                    let payload = RawValue::from_string(event.clone()).expect("raw");
                    let answer = runtime.block_on(handle_event(&destination, payload, deadline()));
                    serde_json::to_vec(&answer).expect("answer JSON")
                })
            },
        );
    }
    for (size, body) in [("2KB", message(2 * 1024)), ("256KB", message(256 * 1024))] {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("sdk_send_message_only", size),
            &body,
            |b, body| {
                b.iter(|| {
                    let mut request = client
                        .send_message()
                        .queue_url(QUEUE_URL)
                        .message_body(body.clone());
                    for (name, value) in [
                        ("RedoxDataModel", "PatientAdmin"),
                        ("RedoxEventType", "Arrival"),
                        ("RedoxLogId", "d9f5d293-7110-461e-a875-3beb089e79f3"),
                        ("RedoxAttemptId", "925d1617-2fe0-468c-a14c-f8c04b572c54"),
                        ("RedoxSourceId", "7ce6f387-c33c-417d-8682-81e83628cbd9"),
                        ("RedoxTest", "true"),
                        ("AuthMethod", "token"),
                        ("ContentType", "application/json"),
                    ] {
                        request = request.message_attributes(name, string_attribute(value));
                    }
                    runtime.block_on(request.send()).expect("canned answer")
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, sqs_request_path);
criterion_main!(benches);
