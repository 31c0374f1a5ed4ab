//! Reading the queue: messages pushed through the real destination into
//! moto (SQS + S3) come back byte-exact through the `consumer` module and
//! through the release `redox-consumer` binary driven over the Lambda
//! Runtime API; messages written by the official Python extended client
//! decode too; broken pointers, missing objects and wrong sizes are named
//! errors and exactly the `batchItemFailures`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_sqs::types::Message;
use redox_destination::consumer::payload::PayloadSettings;
use redox_destination::consumer::{DecodeError, PayloadStore, QueueMessage, S3Location, decode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::aws::{World, send};
use support::{Invocation, RuntimeApi, release_binary_named, repo_root};

const TOKEN: &str = "consumer-token";
const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:consumer-queue";

async fn store(world: &World, bucket: Option<&str>) -> PayloadStore {
    let sdk = world.moto.sdk_config().await;
    PayloadStore::new(
        PayloadStore::client_from(&sdk),
        PayloadSettings {
            bucket: bucket.map(str::to_owned),
            timeout: Duration::from_secs(10),
        },
    )
}

fn redox_push(log_id: &str, data_model: &str, note: &str) -> Vec<u8> {
    json!({
        "Meta": {"DataModel": data_model, "EventType": "New", "Test": true,
                 "Source": {"ID": "source-1"}, "Logs": [{"ID": log_id, "AttemptID": format!("{log_id}-a1")}]},
        "Note": note
    })
    .to_string()
    .into_bytes()
}

/// What the tests push: (log id, body). One inline, one with a character
/// SQS refuses (queued base64), one over the offload threshold (queued as
/// an S3 pointer), and one that is not even UTF-8 (base64, no `Meta`).
fn pushes() -> Vec<(Option<&'static str>, Vec<u8>)> {
    vec![
        (
            Some("log-inline"),
            redox_push("log-inline", "PatientAdmin", "plain"),
        ),
        (
            Some("log-base64"),
            redox_push("log-base64", "Results", "refused \u{FFFF} char"),
        ),
        (
            Some("log-offloaded"),
            redox_push(
                "log-offloaded",
                "Clinical Summary",
                &"Résumé clinique — données. ".repeat(800),
            ),
        ),
        (None, b"\x00\xffnot json\x01".to_vec()),
    ]
}

/// Sends `bodies` through the destination into `queue`, offloading to
/// `bucket` above 4 KiB.
async fn push_through_the_destination(
    world: &World,
    queue: &str,
    bucket: &str,
    bodies: &[Vec<u8>],
) {
    let destination = world
        .destination(&[
            ("REDOX_VERIFICATION_TOKEN", TOKEN),
            ("REDOX_QUEUE_URL", queue),
            ("REDOX_PAYLOAD_BUCKET", bucket),
            ("REDOX_OFFLOAD_THRESHOLD_BYTES", "4096"),
        ])
        .await;
    for body in bodies {
        let answer = send(&destination, TOKEN, body).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
}

fn push_bodies() -> Vec<Vec<u8>> {
    pushes().into_iter().map(|(_, body)| body).collect()
}

/// A queue and a bucket on moto, the pushes sent through the destination,
/// and the messages as the queue holds them.
async fn pushed_through_the_destination(world: &World, name: &str) -> (String, Vec<Message>) {
    let queue = world.queue(name).await;
    let bucket = world.bucket(&format!("{name}-payloads")).await;
    push_through_the_destination(world, &queue, &bucket, &push_bodies()).await;
    let messages = world.receive_all(&queue).await;
    assert_eq!(messages.len(), pushes().len());
    (bucket, messages)
}

fn attribute_names(message: &QueueMessage) -> Vec<&str> {
    message.attributes.keys().map(String::as_str).collect()
}

#[tokio::test]
async fn pushed_messages_decode_back_byte_exact() {
    let world = World::start().await;
    let (bucket, messages) = pushed_through_the_destination(&world, "consumer-roundtrip").await;
    let store = store(&world, Some(&bucket)).await;

    let mut decoded_bodies = BTreeMap::new();
    for message in &messages {
        let queued = QueueMessage::from_sdk(message);
        let decoded = decode(&queued, &store)
            .await
            .unwrap_or_else(|e| panic!("{:?}: {e}", attribute_names(&queued)));
        let log_id = decoded.attributes.meta.log_id.clone();
        let offloaded = queued.attributes.contains_key("ExtendedPayloadSize");
        assert_eq!(decoded.offloaded_from.is_some(), offloaded);
        if let Some(location) = &decoded.offloaded_from {
            assert_eq!(location.bucket, bucket);
            assert_eq!(log_id.as_deref(), Some("log-offloaded"));
        }
        let base64 = queued.attributes.get("ContentEncoding").map(String::as_str);
        let expect_base64 = matches!(log_id.as_deref(), Some("log-base64") | None);
        assert_eq!(base64, expect_base64.then_some("base64"), "{log_id:?}");
        decoded_bodies.insert(log_id, decoded.body.to_vec());
    }
    let sent: BTreeMap<_, _> = pushes()
        .into_iter()
        .map(|(id, body)| (id.map(str::to_owned), body))
        .collect();
    assert!(
        decoded_bodies == sent,
        "a decoded body differs from the one pushed"
    );
}

#[tokio::test]
async fn typed_attributes_come_back_from_the_queue() {
    let world = World::start().await;
    let (bucket, messages) = pushed_through_the_destination(&world, "consumer-attributes").await;
    let store = store(&world, Some(&bucket)).await;
    let inline = messages
        .iter()
        .map(QueueMessage::from_sdk)
        .find(|m| m.attributes.get("RedoxLogId").map(String::as_str) == Some("log-inline"))
        .expect("the inline push");
    let attributes = decode(&inline, &store).await.expect("decodes").attributes;
    assert_eq!(attributes.meta.data_model.as_deref(), Some("PatientAdmin"));
    assert_eq!(attributes.meta.event_type.as_deref(), Some("New"));
    assert_eq!(attributes.meta.attempt_id.as_deref(), Some("log-inline-a1"));
    assert_eq!(attributes.meta.source_id.as_deref(), Some("source-1"));
    assert_eq!(attributes.meta.test, Some(true));
    assert_eq!(
        attributes.auth_method,
        Some(redox_destination::auth::AuthMethod::Token)
    );
    assert_eq!(attributes.content_type.as_deref(), Some("application/json"));
}

fn pointer_message(bucket: &str, key: &str, size_attribute: &str, size: &str) -> QueueMessage {
    QueueMessage {
        message_id: "m".into(),
        body: json!([
            "software.amazon.payloadoffloading.PayloadS3Pointer",
            {"s3BucketName": bucket, "s3Key": key}
        ])
        .to_string(),
        attributes: [(size_attribute.to_owned(), size.to_owned())].into(),
    }
}

#[tokio::test]
async fn pointer_problems_are_named_errors() {
    let world = World::start().await;
    let bucket = world.bucket("consumer-errors").await;
    let body = b"{\"Meta\":{\"DataModel\":\"PatientAdmin\"}}";
    world
        .s3
        .put_object()
        .bucket(&bucket)
        .key("redox/k1")
        .body(body.to_vec().into())
        .send()
        .await
        .expect("put object");
    let size = body.len().to_string();
    let store = store(&world, Some(&bucket)).await;

    // Both size attributes resolve the same object.
    for attribute in ["ExtendedPayloadSize", "SQSLargePayloadSize"] {
        let decoded = decode(
            &pointer_message(&bucket, "redox/k1", attribute, &size),
            &store,
        )
        .await
        .expect("decodes");
        assert_eq!(&decoded.body[..], body);
        assert_eq!(
            decoded.offloaded_from,
            Some(S3Location {
                bucket: bucket.clone(),
                key: "redox/k1".into()
            })
        );
    }

    let missing = decode(
        &pointer_message(&bucket, "redox/gone", "ExtendedPayloadSize", "5"),
        &store,
    )
    .await;
    assert!(
        matches!(&missing, Err(DecodeError::ObjectMissing { key, .. }) if key == "redox/gone"),
        "{missing:?}"
    );

    let wrong_size = decode(
        &pointer_message(&bucket, "redox/k1", "ExtendedPayloadSize", "7"),
        &store,
    )
    .await;
    assert!(
        matches!(
            wrong_size,
            Err(DecodeError::SizeMismatch { declared: 7, actual }) if actual == body.len() as u64
        ),
        "{wrong_size:?}"
    );

    let foreign = decode(
        &pointer_message("someone-elses", "redox/k1", "ExtendedPayloadSize", &size),
        &store,
    )
    .await;
    assert!(
        matches!(foreign, Err(DecodeError::ForeignBucket { .. })),
        "{foreign:?}"
    );

    // Without a configured bucket, a pointer to a bucket that does not exist is missing.
    let open = self::store(&world, None).await;
    let no_bucket = decode(
        &pointer_message("no-such-bucket", "redox/k1", "ExtendedPayloadSize", &size),
        &open,
    )
    .await;
    assert!(
        matches!(no_bucket, Err(DecodeError::ObjectMissing { .. })),
        "{no_bucket:?}"
    );
}

/// Sends `body` through S3 with the official Python extended client.
fn send_with_extended_client(
    world: &World,
    queue_url: &str,
    bucket: &str,
    legacy: bool,
    body: &str,
) {
    let script = r#"
import sys, boto3, sqs_extended_client  # noqa: F401 (patches boto3 sessions)
queue_url, bucket, legacy, body = sys.argv[1], sys.argv[2], sys.argv[3] == "legacy", sys.argv[4]
sqs = boto3.session.Session().client("sqs")
sqs.large_payload_support = bucket
sqs.always_through_s3 = True
sqs.use_legacy_attribute = legacy
sqs.send_message(QueueUrl=queue_url, MessageBody=body,
                 MessageAttributes={"RedoxLogId": {"DataType": "String", "StringValue": "python-log"}})
"#;
    let kind = if legacy { "legacy" } else { "current" };
    world.python(script, &[queue_url, bucket, kind, body]);
}

#[tokio::test]
async fn messages_from_the_python_extended_client_decode() {
    let world = World::start().await;
    let queue = world.queue("consumer-python").await;
    let bucket = world.bucket("consumer-python-payloads").await;
    let store = store(&world, Some(&bucket)).await;
    for legacy in [false, true] {
        let body = format!("{{\"Meta\":{{}},\"Note\":\"données {legacy}\"}}");
        send_with_extended_client(&world, &queue, &bucket, legacy, &body);
        let messages = world.receive_all(&queue).await;
        assert_eq!(messages.len(), 1);
        let queued = QueueMessage::from_sdk(&messages[0]);
        let size_attribute = if legacy {
            "SQSLargePayloadSize"
        } else {
            "ExtendedPayloadSize"
        };
        assert!(
            queued.attributes.contains_key(size_attribute),
            "{:?}",
            attribute_names(&queued)
        );
        let decoded = decode(&queued, &store).await.expect("decodes");
        assert_eq!(&decoded.body[..], body.as_bytes());
        assert!(decoded.offloaded_from.is_some());
        assert_eq!(
            decoded.attributes.meta.log_id.as_deref(),
            Some("python-log")
        );
        world
            .sqs
            .delete_message()
            .queue_url(&queue)
            .receipt_handle(messages[0].receipt_handle().unwrap_or_default())
            .send()
            .await
            .expect("delete");
    }
}

/// A Lambda SQS event record for a message as ReceiveMessage returned it.
fn lambda_record(message: &Message) -> Value {
    let attributes: serde_json::Map<String, Value> = message
        .message_attributes()
        .into_iter()
        .flatten()
        .map(|(name, value)| {
            (
                name.clone(),
                json!({"stringValue": value.string_value(), "stringListValues": [],
                       "binaryListValues": [], "dataType": value.data_type()}),
            )
        })
        .collect();
    json!({
        "messageId": message.message_id(), "receiptHandle": message.receipt_handle(),
        "body": message.body(), "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": attributes, "md5OfBody": message.md5_of_body(),
        "eventSource": "aws:sqs", "eventSourceARN": QUEUE_ARN, "awsRegion": "us-east-1"
    })
}

fn broken_record(id: &str, body: &str, attributes: &[(&str, &str)]) -> Value {
    let attributes: serde_json::Map<String, Value> = attributes
        .iter()
        .map(|(name, value)| {
            (
                name.to_string(),
                json!({"stringValue": value, "stringListValues": [], "binaryListValues": [],
                       "dataType": if name.ends_with("PayloadSize") { "Number" } else { "String" }}),
            )
        })
        .collect();
    json!({"messageId": id, "receiptHandle": "rh", "body": body, "attributes": {},
           "messageAttributes": attributes, "eventSource": "aws:sqs",
           "eventSourceARN": QUEUE_ARN, "awsRegion": "us-east-1"})
}

/// The release `redox-consumer` on this Runtime API, against moto.
fn start_consumer(api: &RuntimeApi, world: &World, bucket: &str) -> support::FunctionProcess {
    let mut env = world.moto.aws_env();
    env.push(("REDOX_PAYLOAD_BUCKET".into(), bucket.into()));
    env.push(("RUST_LOG".into(), "info".into()));
    api.start_binary(&release_binary_named("redox-consumer"), &env)
}

fn batch_failures(invocation: &Invocation) -> Value {
    match invocation {
        Invocation::Response(value) => value.clone(),
        Invocation::Error(error) => panic!("the consumer failed the invocation: {error}"),
    }
}

/// The consumer's "redox message" log lines, by message id.
fn logged_messages(log: &str) -> BTreeMap<String, Value> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == "redox message")
        .map(|line| (line["message_id"].as_str().unwrap_or("").to_owned(), line))
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[tokio::test]
async fn the_consumer_lambda_reports_exactly_the_records_it_could_not_decode() {
    let world = World::start().await;
    let (bucket, messages) = pushed_through_the_destination(&world, "consumer-lambda").await;
    let mut records: Vec<Value> = messages.iter().map(lambda_record).collect();
    records.insert(
        1,
        broken_record(
            "broken-pointer",
            r#"["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"x"}]"#,
            &[("ExtendedPayloadSize", "10")],
        ),
    );
    let missing_pointer = json!([
        "software.amazon.payloadoffloading.PayloadS3Pointer",
        {"s3BucketName": bucket, "s3Key": "redox/2026-11-28/missing"}
    ])
    .to_string();
    records.push(broken_record(
        "missing-object",
        &missing_pointer,
        &[("ExtendedPayloadSize", "10"), ("RedoxLogId", "log-missing")],
    ));
    records.push(broken_record(
        "bad-base64",
        "%%% not base64 %%%",
        &[("ContentEncoding", "base64")],
    ));
    let event = json!({ "Records": records }).to_string();

    let api = RuntimeApi::start();
    let function = start_consumer(&api, &world, &bucket);
    let answer = batch_failures(&api.invoke(event.as_bytes()));
    assert_eq!(
        answer,
        json!({"batchItemFailures": [
            {"itemIdentifier": "broken-pointer"},
            {"itemIdentifier": "missing-object"},
            {"itemIdentifier": "bad-base64"}
        ]})
    );

    // Every other record was decoded to exactly the bytes pushed: the log
    // line names its size and SHA-256 (never the body).
    let log = function.log();
    assert_one_line_per_push(&log, &owned(pushes()));
    let logged = logged_messages(&log);
    for message in &messages {
        let id = message.message_id().expect("id");
        assert!(logged.contains_key(id), "{id} not logged: {log}");
    }
    assert_no_body_in(&log);
}

fn assert_no_body_in(log: &str) {
    for (_, body) in pushes() {
        let text = String::from_utf8_lossy(&body);
        assert!(!log.contains(text.as_ref()), "a body is in the log");
    }
    assert!(!log.contains("Résumé"), "a body is in the log");
}

/// Checks the consumer's "redox message" lines against what was pushed:
/// one per push, each with its log id, size and SHA-256.
fn assert_one_line_per_push(log: &str, pushes: &[(Option<String>, Vec<u8>)]) {
    let logged = logged_messages(log);
    assert_eq!(logged.len(), pushes.len(), "{log}");
    let mut seen = BTreeSet::new();
    for line in logged.values() {
        let (log_id, body) = pushes
            .iter()
            .find(|(_, body)| line["sha256"] == sha256_hex(body))
            .unwrap_or_else(|| panic!("no push has the digest of {line}"));
        assert_eq!(line["size"], body.len(), "{line}");
        assert_eq!(line["log_id"], log_id.as_deref().unwrap_or("-"), "{line}");
        seen.insert(line["sha256"].to_string());
    }
    assert_eq!(seen.len(), pushes.len(), "a push was logged twice: {log}");
}

/// events/expected.json's `batch_item_failures` for one sample.
fn expected_failures(expected: &Value, name: &str) -> Value {
    let want = &expected[name];
    assert_eq!(want["function"], "redox-consumer", "{name}");
    let ids = want["batch_item_failures"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: no batch_item_failures in events/expected.json"));
    json!({"batchItemFailures": ids.iter().map(|id| json!({"itemIdentifier": id})).collect::<Vec<_>>()})
}

#[tokio::test]
async fn the_sample_sqs_events_give_their_expected_batch_failures() {
    let events = repo_root().join("events");
    let read = |name: &str| std::fs::read(events.join(name)).expect("read a sample");
    let expected: Value = serde_json::from_slice(&read("expected.json")).expect("expected.json");
    let world = World::start().await;

    // The offloaded sample's object, where its pointer says it is.
    let offloaded: Value = serde_json::from_slice(&read("sqs-consumer-offloaded.json")).unwrap();
    let record = &offloaded["Records"][0];
    let pointer: Value = serde_json::from_str(record["body"].as_str().unwrap()).unwrap();
    let (bucket, key) = (
        pointer[1]["s3BucketName"].as_str().unwrap(),
        pointer[1]["s3Key"].as_str().unwrap(),
    );
    let payload = read("payloads/sqs-consumer-offloaded.json");
    world.bucket(bucket).await;
    world
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(payload.clone().into())
        .send()
        .await
        .expect("put the sample's object");

    let api = RuntimeApi::start();
    let function = start_consumer(&api, &world, bucket);
    let samples = [
        "sqs-consumer-inline.json",
        "sqs-consumer-base64.json",
        "sqs-consumer-offloaded.json",
        "sqs-consumer-broken-pointer.json",
    ];
    for name in samples {
        let answer = batch_failures(&api.invoke(&read(name)));
        assert_eq!(answer, expected_failures(&expected, name), "{name}");
    }
    let logged = logged_messages(&function.log());
    let line = &logged[record["messageId"].as_str().unwrap()];
    assert_eq!(line["size"], payload.len(), "{line}");
    assert_eq!(line["sha256"], sha256_hex(&payload), "{line}");
    assert_eq!(line["offloaded"], true, "{line}");
    // inline + base64 + offloaded + the good half of the broken batch.
    assert_eq!(logged.len(), 4, "{}", function.log());
}

// ---- redox-consumer outside Lambda: it reads the queue itself ----

/// The release `redox-consumer` started outside Lambda against `queue` on
/// moto, its stderr (logs and summary) in a file.
struct LocalConsumer {
    child: support::ChildGuard,
    log: tempfile::NamedTempFile,
}

impl LocalConsumer {
    fn start(world: &World, queue: &str, bucket: &str, follow: bool) -> LocalConsumer {
        let log = tempfile::NamedTempFile::new().expect("log file");
        let child = std::process::Command::new(release_binary_named("redox-consumer"))
            .envs(world.moto.aws_env())
            .env("REDOX_QUEUE_URL", queue)
            .env("REDOX_PAYLOAD_BUCKET", bucket)
            .env("REDOX_CONSUMER_FOLLOW", if follow { "1" } else { "0" })
            .env("RUST_LOG", "info")
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log.reopen().expect("log file"))
            .spawn()
            .expect("start redox-consumer");
        LocalConsumer {
            child: support::ChildGuard(child),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Waits for it to exit; its exit code and its stderr.
    fn wait(mut self) -> (Option<i32>, String) {
        let status = self.child.0.wait().expect("wait for redox-consumer");
        (status.code(), self.log())
    }
}

/// Messages on the queue, visible or in flight.
async fn queue_depth(world: &World, queue: &str) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName as Name;
    let attributes = world
        .sqs
        .get_queue_attributes()
        .queue_url(queue)
        .attribute_names(Name::ApproximateNumberOfMessages)
        .attribute_names(Name::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(Name::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .unwrap_or_default();
    attributes
        .values()
        .map(|n| n.parse::<u64>().expect("a count"))
        .sum()
}

fn owned(pushes: Vec<(Option<&str>, Vec<u8>)>) -> Vec<(Option<String>, Vec<u8>)> {
    pushes
        .into_iter()
        .map(|(id, body)| (id.map(str::to_owned), body))
        .collect()
}

#[tokio::test]
async fn the_local_consumer_drains_the_queue_and_leaves_only_what_failed() {
    let world = World::start().await;
    let queue = world.queue("consumer-drain").await;
    // Short, so that the failed message is visible again soon after.
    world
        .sqs
        .set_queue_attributes()
        .queue_url(&queue)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "2",
        )
        .send()
        .await
        .expect("set the visibility timeout");
    let bucket = world.bucket("consumer-drain-payloads").await;
    push_through_the_destination(&world, &queue, &bucket, &push_bodies()).await;
    let size = aws_sdk_sqs::types::MessageAttributeValue::builder()
        .data_type("Number")
        .string_value("10")
        .build()
        .expect("attribute");
    let broken = world
        .sqs
        .send_message()
        .queue_url(&queue)
        .message_body(
            r#"["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"x"}]"#,
        )
        .message_attributes("ExtendedPayloadSize", size)
        .send()
        .await
        .expect("send the broken pointer")
        .message_id
        .expect("its id");

    let (code, log) = LocalConsumer::start(&world, &queue, &bucket, false).wait();

    // Exit 1: a message failed and stays on the queue.
    assert_eq!(code, Some(1), "{log}");
    let summary = format!("redox-consumer: {queue}: received 5, decoded 4, failed 1");
    assert!(log.lines().any(|line| line == summary), "{log}");
    assert_one_line_per_push(&log, &owned(pushes()));
    let warned = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .any(|line| line["level"] == "WARN" && line["message_id"] == broken.as_str());
    assert!(warned, "no warning for the broken pointer: {log}");
    assert_no_body_in(&log);

    // The good messages were deleted; the broken one comes back after its
    // visibility timeout, received once more.
    assert_eq!(queue_depth(&world, &queue).await, 1);
    let again = world
        .sqs
        .receive_message()
        .queue_url(&queue)
        .wait_time_seconds(10)
        .message_system_attribute_names(
            aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
        )
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message_id(), Some(broken.as_str()));
    let receives = again[0]
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
        })
        .and_then(|n| n.parse::<u32>().ok());
    assert!(receives >= Some(2), "{receives:?}");
}

#[tokio::test]
async fn the_local_consumer_drains_batch_after_batch_and_exits_0() {
    let world = World::start().await;
    let queue = world.queue("consumer-drain-all").await;
    let bucket = world.bucket("consumer-drain-all-payloads").await;
    // More than two ReceiveMessage batches of 10.
    let pushed: Vec<(Option<String>, Vec<u8>)> = (0..23)
        .map(|i| {
            let log_id = format!("log-{i}");
            let body = redox_push(&log_id, "PatientAdmin", &format!("message {i}"));
            (Some(log_id), body)
        })
        .collect();
    let bodies: Vec<Vec<u8>> = pushed.iter().map(|(_, body)| body.clone()).collect();
    push_through_the_destination(&world, &queue, &bucket, &bodies).await;

    let (code, log) = LocalConsumer::start(&world, &queue, &bucket, false).wait();

    assert_eq!(code, Some(0), "{log}");
    let summary = format!("redox-consumer: {queue}: received 23, decoded 23, failed 0");
    assert!(log.lines().any(|line| line == summary), "{log}");
    assert_one_line_per_push(&log, &pushed);
    assert_eq!(queue_depth(&world, &queue).await, 0);
}

#[tokio::test]
async fn the_local_consumer_follows_the_queue_until_interrupted() {
    let world = World::start().await;
    let queue = world.queue("consumer-follow").await;
    let bucket = world.bucket("consumer-follow-payloads").await;
    let pushed = owned(pushes());
    let consumer = LocalConsumer::start(&world, &queue, &bucket, true);
    // Pushed one at a time, each after the previous one was read: the
    // consumer is still there, waiting for more.
    for (count, (_, body)) in pushed.iter().enumerate() {
        push_through_the_destination(&world, &queue, &bucket, std::slice::from_ref(body)).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while logged_messages(&consumer.log()).len() <= count {
            assert!(
                std::time::Instant::now() < deadline,
                "not read: {}",
                consumer.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &consumer.child.0.id().to_string()])
        .status()
        .expect("run kill");
    assert!(interrupted.success());

    let (code, log) = consumer.wait();
    assert_eq!(code, Some(0), "{log}");
    let summary = format!("redox-consumer: {queue}: received 4, decoded 4, failed 0");
    assert!(log.lines().any(|line| line == summary), "{log}");
    assert_one_line_per_push(&log, &pushed);
    assert_eq!(queue_depth(&world, &queue).await, 0);
}
