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
use redox_destination::consumer::{
    DecodeError, PayloadOrigin, PayloadStore, PointerRefusal, QueueMessage, S3Location, decode,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::aws::{World, send};
use support::{Invocation, RuntimeApi, release_binary_named, repo_root};

const TOKEN: &str = "consumer-token";
const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:consumer-queue";

async fn store(world: &World, bucket: &str) -> PayloadStore {
    let sdk = world.moto.sdk_config().await;
    PayloadStore::new(
        PayloadStore::client_from(&sdk),
        PayloadSettings {
            origin: PayloadOrigin::new(bucket, "redox/").expect("a bucket name"),
            timeout: Duration::from_secs(10),
        },
    )
}

/// A key of the shape the destination writes (`redox/<day>/<uuid>`),
/// unique per `n`.
fn payload_key(n: u32) -> String {
    format!("redox/2026-11-28/3f0c2a1b-9d8e-4c7b-a6f5-{n:012x}")
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
    let store = store(&world, &bucket).await;

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
    let store = store(&world, &bucket).await;
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

/// A Data Model message with every `Meta` field the destination routes on;
/// `ids` are its id members (`Logs`, or an older envelope's `Message`).
fn full_meta_push(ids: Value, note: &str) -> Vec<u8> {
    let mut meta = json!({
        "DataModel": "Clinical Summary", "EventType": "PatientPush",
        "EventDateTime": "2019-05-02T14:31:07.112Z", "Test": false,
        "Source": {"ID": "source-9"}, "Destinations": [{"ID": "dest-9"}],
        "FacilityCode": "NORTH"
    });
    for (name, value) in ids.as_object().expect("id members") {
        meta[name] = value.clone();
    }
    json!({"Meta": meta, "Note": note}).to_string().into_bytes()
}

#[tokio::test]
async fn a_handler_gets_every_routing_field_without_parsing_the_body() {
    let world = World::start().await;
    let queue = world.queue("consumer-routing").await;
    let bucket = world.bucket("consumer-routing-payloads").await;
    let logs = json!({"Logs": [{"ID": "log-9", "AttemptID": "attempt-9"}]});
    let older = json!({"Message": {"ID": 4815162342u64}, "Transmission": {"ID": 77}});
    let bodies = [
        full_meta_push(logs.clone(), "inline"),
        full_meta_push(logs.clone(), "refused \u{FFFF} char: base64"),
        full_meta_push(logs, &"Résumé clinique — données. ".repeat(400)),
        full_meta_push(older.clone(), "older, inline"),
        full_meta_push(older, &"Résumé, older. ".repeat(600)),
    ];
    push_through_the_destination(&world, &queue, &bucket, &bodies).await;
    let store = store(&world, &bucket).await;
    let messages = world.receive_all(&queue).await;
    assert_eq!(messages.len(), bodies.len());
    for message in &messages {
        let queued = QueueMessage::from_sdk(message);
        let decoded = decode(&queued, &store).await.expect("decodes");
        let body = decoded.body.to_vec();
        let attributes = &decoded.attributes;
        let meta = &attributes.meta;
        assert!(attributes.is_event("ClinicalSummary", "PatientPush"));
        assert_eq!(meta.data_model.as_deref(), Some("Clinical Summary"));
        assert_eq!(meta.destination_id.as_deref(), Some("dest-9"));
        assert_eq!(meta.source_id.as_deref(), Some("source-9"));
        assert_eq!(meta.facility_code.as_deref(), Some("NORTH"));
        assert_eq!(meta.test, Some(false));
        // Even where the queue had no room for it (base64, S3 pointer).
        assert_eq!(
            meta.event_date_time.as_deref(),
            Some("2019-05-02T14:31:07.112Z")
        );
        let id = attributes.delivery_id().expect("a delivery id");
        if bodies[..3].contains(&body) {
            assert_eq!(id.source(), "Meta.Logs[0].ID");
            assert_eq!(decoded.idempotency_key(), "redox-log:log-9");
            assert_eq!(meta.attempt_id.as_deref(), Some("attempt-9"));
        } else {
            assert!(bodies[3..].contains(&body), "a body that was not pushed");
            assert_eq!(id.source(), "Meta.Message.ID");
            assert_eq!(decoded.idempotency_key(), "redox-message:4815162342:dest-9");
            assert_eq!(
                queued.attributes.get("RedoxMessageId").map(String::as_str),
                Some("4815162342")
            );
        }
    }
}

/// An Extended Client pointer's SQS body.
fn pointer_body(bucket: &str, key: &str) -> String {
    json!([
        "software.amazon.payloadoffloading.PayloadS3Pointer",
        {"s3BucketName": bucket, "s3Key": key}
    ])
    .to_string()
}

fn pointer_message(bucket: &str, key: &str, size_attribute: &str, size: &str) -> QueueMessage {
    QueueMessage {
        message_id: "m".into(),
        body: pointer_body(bucket, key),
        attributes: [(size_attribute.to_owned(), size.to_owned())].into(),
    }
}

#[tokio::test]
async fn pointer_problems_are_named_errors() {
    let world = World::start().await;
    let bucket = world.bucket("consumer-errors").await;
    let body = b"{\"Meta\":{\"DataModel\":\"PatientAdmin\"}}";
    let key = payload_key(1);
    world
        .s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(body.to_vec().into())
        .send()
        .await
        .expect("put object");
    let size = body.len().to_string();
    let store = store(&world, &bucket).await;

    // Both size attributes resolve the same object.
    for attribute in ["ExtendedPayloadSize", "SQSLargePayloadSize"] {
        let decoded = decode(&pointer_message(&bucket, &key, attribute, &size), &store)
            .await
            .expect("decodes");
        assert_eq!(&decoded.body[..], body);
        assert_eq!(
            decoded.offloaded_from,
            Some(S3Location {
                bucket: bucket.clone(),
                key: key.clone()
            })
        );
    }

    let gone = payload_key(2);
    let missing = decode(
        &pointer_message(&bucket, &gone, "ExtendedPayloadSize", "5"),
        &store,
    )
    .await;
    assert!(
        matches!(&missing, Err(DecodeError::ObjectMissing { key, .. }) if *key == gone),
        "{missing:?}"
    );

    let wrong_size = decode(
        &pointer_message(&bucket, &key, "ExtendedPayloadSize", "7"),
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
        &pointer_message("someone-elses", &key, "ExtendedPayloadSize", &size),
        &store,
    )
    .await;
    assert!(
        matches!(
            foreign,
            Err(DecodeError::RefusedPointer(
                PointerRefusal::ForeignBucket { .. }
            ))
        ),
        "{foreign:?}"
    );
}

/// Sends `body` through S3 with the official Python extended client, at
/// `key` (its `S3Key` attribute) or, with `None`, at the client's own
/// choice (a bare UUID).
fn send_with_extended_client(
    world: &World,
    queue_url: &str,
    bucket: &str,
    legacy: bool,
    key: Option<&str>,
    body: &str,
) {
    let script = r#"
import sys, boto3, sqs_extended_client  # noqa: F401 (patches boto3 sessions)
queue_url, bucket, legacy, key, body = sys.argv[1], sys.argv[2], sys.argv[3] == "legacy", sys.argv[4], sys.argv[5]
sqs = boto3.session.Session().client("sqs")
sqs.large_payload_support = bucket
sqs.always_through_s3 = True
sqs.use_legacy_attribute = legacy
attributes = {"RedoxLogId": {"DataType": "String", "StringValue": "python-log"}}
if key:
    attributes["S3Key"] = {"DataType": "String", "StringValue": key}
sqs.send_message(QueueUrl=queue_url, MessageBody=body, MessageAttributes=attributes)
"#;
    let kind = if legacy { "legacy" } else { "current" };
    world.python(script, &[queue_url, bucket, kind, key.unwrap_or(""), body]);
}

/// The one message on `queue`, then deleted.
async fn take_one(world: &World, queue: &str) -> QueueMessage {
    let messages = world.receive_all(queue).await;
    assert_eq!(messages.len(), 1);
    world
        .sqs
        .delete_message()
        .queue_url(queue)
        .receipt_handle(messages[0].receipt_handle().unwrap_or_default())
        .send()
        .await
        .expect("delete");
    QueueMessage::from_sdk(&messages[0])
}

#[tokio::test]
async fn messages_from_the_python_extended_client_decode() {
    let world = World::start().await;
    let queue = world.queue("consumer-python").await;
    let bucket = world.bucket("consumer-python-payloads").await;
    let store = store(&world, &bucket).await;
    for (n, legacy) in [false, true].into_iter().enumerate() {
        let body = format!("{{\"Meta\":{{}},\"Note\":\"données {legacy}\"}}");
        let key = payload_key(n as u32);
        send_with_extended_client(&world, &queue, &bucket, legacy, Some(&key), &body);
        let queued = take_one(&world, &queue).await;
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
        assert_eq!(decoded.offloaded_from.map(|at| at.key), Some(key));
        assert_eq!(
            decoded.attributes.meta.log_id.as_deref(),
            Some("python-log")
        );
    }

    // At the client's own key (a bare UUID, outside the destination's
    // prefix): not something the destination wrote, so not followed.
    send_with_extended_client(&world, &queue, &bucket, false, None, "{\"Meta\":{}}");
    let queued = take_one(&world, &queue).await;
    let refused = decode(&queued, &store).await;
    assert!(
        matches!(
            refused,
            Err(DecodeError::RefusedPointer(
                PointerRefusal::OutsidePrefix { .. }
            ))
        ),
        "{refused:?}"
    );
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
    start_consumer_on(api, world.moto.aws_env(), Some(bucket))
}

/// The release `redox-consumer` on this Runtime API with `aws_env` (moto's,
/// or the fault proxy's), and `REDOX_PAYLOAD_BUCKET` when given.
fn start_consumer_on(
    api: &RuntimeApi,
    mut env: Vec<(String, String)>,
    bucket: Option<&str>,
) -> support::FunctionProcess {
    if let Some(bucket) = bucket {
        env.push(("REDOX_PAYLOAD_BUCKET".into(), bucket.into()));
    }
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
    let missing_pointer = pointer_body(&bucket, &payload_key(99));
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
    world.bucket("redox-payloads-elsewhere").await;
    // The untrusted sample's pointers, each with an object of the declared
    // size where S3 could hold one: refused all the same, never fetched.
    let untrusted: Value =
        serde_json::from_slice(&read("sqs-consumer-untrusted-pointers.json")).unwrap();
    let mut objects = vec![(bucket.to_owned(), key.to_owned())];
    for record in untrusted["Records"].as_array().unwrap() {
        let pointer: Value = serde_json::from_str(record["body"].as_str().unwrap()).unwrap();
        let (bucket, key) = (
            pointer[1]["s3BucketName"].as_str().unwrap(),
            pointer[1]["s3Key"].as_str().unwrap(),
        );
        if !bucket.starts_with("arn:") && !key.contains("..") {
            objects.push((bucket.to_owned(), key.to_owned()));
        }
    }
    for (bucket, key) in &objects {
        world
            .s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(payload.clone().into())
            .send()
            .await
            .expect("put a sample's object");
    }

    let api = RuntimeApi::start();
    let function = start_consumer(&api, &world, bucket);
    let samples = [
        "sqs-consumer-inline.json",
        "sqs-consumer-base64.json",
        "sqs-consumer-offloaded.json",
        "sqs-consumer-broken-pointer.json",
        "sqs-consumer-untrusted-pointers.json",
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

/// A queue on moto whose messages are visible again `seconds` after a
/// receive.
async fn queue_with_visibility(world: &World, name: &str, seconds: &str) -> String {
    let queue = world.queue(name).await;
    world
        .sqs
        .set_queue_attributes()
        .queue_url(&queue)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            seconds,
        )
        .send()
        .await
        .expect("set the visibility timeout");
    queue
}

fn string_attribute(data_type: &str, value: &str) -> aws_sdk_sqs::types::MessageAttributeValue {
    aws_sdk_sqs::types::MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(value)
        .build()
        .expect("attribute")
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
    // Short, so that the failed message is visible again soon after.
    let queue = queue_with_visibility(&world, "consumer-drain", "2").await;
    let bucket = world.bucket("consumer-drain-payloads").await;
    push_through_the_destination(&world, &queue, &bucket, &push_bodies()).await;
    let size = string_attribute("Number", "10");
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

// ---- what the consumer follows, FIFO order, the invocation deadline ----

/// The `WARN` lines of a consumer log, by message id: their reasons.
fn warned_reasons(log: &str) -> BTreeMap<String, String> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["level"] == "WARN")
        .filter_map(|line| {
            Some((
                line["message_id"].as_str()?.to_owned(),
                line["reason"].as_str().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

fn failure_ids(answer: &Value) -> Vec<String> {
    answer["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("not a batch response: {answer}"))
        .iter()
        .map(|item| item["itemIdentifier"].as_str().expect("an id").to_owned())
        .collect()
}

#[tokio::test]
async fn the_consumer_refuses_to_start_without_a_payload_bucket() {
    let world = World::start().await;
    for bucket in [
        None,
        Some("arn:aws:s3:us-east-1:123456789012:accesspoint/redox"),
    ] {
        // In Lambda: reported to /init/error, exit status 2.
        let api = RuntimeApi::start();
        let mut function = start_consumer_on(&api, world.moto.aws_env(), bucket);
        let error = api
            .wait_init_error(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("{bucket:?}: no /init/error: {}", function.log()));
        assert_eq!(error["errorType"], "Runtime.ConfigError", "{error}");
        let message = error["errorMessage"].as_str().unwrap_or_default();
        assert!(message.starts_with("REDOX_PAYLOAD_BUCKET"), "{error}");
        assert_eq!(function.wait().code(), Some(2), "{bucket:?}");
        assert_eq!(api.next_calls(), 0, "it must not take events");

        // Outside Lambda: one line on stderr, exit status 2.
        let mut local = std::process::Command::new(release_binary_named("redox-consumer"));
        local
            .envs(world.moto.aws_env())
            .env("REDOX_QUEUE_URL", "http://127.0.0.1:9/123456789012/q")
            .env_remove("REDOX_PAYLOAD_BUCKET")
            .env_remove("AWS_LAMBDA_RUNTIME_API");
        if let Some(bucket) = bucket {
            local.env("REDOX_PAYLOAD_BUCKET", bucket);
        }
        let output = local.output().expect("run redox-consumer");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.starts_with("redox-consumer: configuration error: REDOX_PAYLOAD_BUCKET"),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn pointers_the_destination_did_not_write_are_refused_and_never_fetched() {
    let world = World::start().await;
    let proxy = support::faults::FaultProxy::start(&world.moto);
    let bucket = world.bucket("consumer-trusted").await;
    let elsewhere = world.bucket("consumer-elsewhere").await;
    // Objects that exist and whose sizes match their pointers: the old
    // consumer fetched them and handed them over as Redox messages.
    let body = b"{\"Meta\":{\"DataModel\":\"Forged\"}}".to_vec();
    let size = body.len().to_string();
    let good_key = payload_key(1);
    let stored = [
        (&bucket, good_key.as_str()),
        (&elsewhere, good_key.as_str()),
        (
            &bucket,
            "secrets/2026-11-28/3f0c2a1b-9d8e-4c7b-a6f5-000000000001",
        ),
        (&bucket, "config.json"),
        (&bucket, "redox/2026-11-28/report.json"),
        (&bucket, "3f0c2a1b-9d8e-4c7b-a6f5-000000000001"),
    ];
    for (in_bucket, key) in stored {
        world
            .s3
            .put_object()
            .bucket(in_bucket)
            .key(key)
            .body(body.clone().into())
            .send()
            .await
            .expect("put object");
    }
    let pointer = |id: &str, bucket: &str, key: &str| {
        broken_record(
            id,
            &pointer_body(bucket, key),
            &[("ExtendedPayloadSize", size.as_str())],
        )
    };
    let refused = [
        pointer("other-bucket", &elsewhere, &good_key),
        pointer(
            "access-point-arn",
            "arn:aws:s3:us-east-1:123456789012:accesspoint/consumer-trusted",
            &good_key,
        ),
        pointer("bucket-arn", &format!("arn:aws:s3:::{bucket}"), &good_key),
        pointer(
            "outside-prefix",
            &bucket,
            "secrets/2026-11-28/3f0c2a1b-9d8e-4c7b-a6f5-000000000001",
        ),
        pointer("bare-key", &bucket, "config.json"),
        pointer(
            "client-chosen-key",
            &bucket,
            "3f0c2a1b-9d8e-4c7b-a6f5-000000000001",
        ),
        pointer("odd-shape", &bucket, "redox/2026-11-28/report.json"),
        pointer(
            "dot-dot",
            &bucket,
            "redox/../secrets/2026-11-28/3f0c2a1b-9d8e-4c7b-a6f5-000000000001",
        ),
        pointer(
            "dot-dot-tail",
            &bucket,
            "redox/2026-11-28/../../config.json",
        ),
    ];
    let refused_ids: Vec<String> = refused
        .iter()
        .map(|record| record["messageId"].as_str().expect("id").to_owned())
        .collect();
    let mut records = vec![pointer("trusted", &bucket, &good_key)];
    records.extend(refused);
    let event = json!({ "Records": records }).to_string();

    let api = RuntimeApi::start();
    let function = start_consumer_on(&api, proxy.aws_env(), Some(&bucket));
    let answer = batch_failures(&api.invoke(event.as_bytes()));

    let log = function.log();
    assert_eq!(failure_ids(&answer), refused_ids, "{log}");
    // Only the trusted pointer became a message, and only its object was
    // requested from S3.
    let logged = logged_messages(&log);
    assert_eq!(logged.keys().collect::<Vec<_>>(), ["trusted"], "{log}");
    let get = proxy.stats().get("GetObject");
    assert_eq!(get.seen, 1, "{}", proxy.trace_matching("/"));
    let reasons = warned_reasons(&log);
    for id in &refused_ids {
        let reason = reasons.get(id).map(String::as_str).unwrap_or_default();
        assert!(
            reason.starts_with("pointer refused, not fetched"),
            "{id}: {reason:?}"
        );
    }
    assert!(!log.contains("Forged"), "an object's body is in the log");
}

fn redox_push_from(source: &str, log_id: &str) -> Vec<u8> {
    json!({
        "Meta": {"DataModel": "PatientAdmin", "EventType": "Arrival", "Test": true,
                 "Source": {"ID": source}, "Logs": [{"ID": log_id, "AttemptID": format!("{log_id}-a1")}]}
    })
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn a_drain_keeps_fifo_group_order_across_batches() {
    let world = World::start().await;
    // Visible again at once: a failed message comes back in the very next
    // receive of the drain, with the rest of its group.
    let queue = queue_with_visibility(&world, "consumer-order.fifo", "0").await;
    let bucket = world.bucket("consumer-order-payloads").await;
    // Group h (source "h"): h1..h9, then h10 last. Group g: g1, a pointer
    // that cannot be decoded, then g2. The first receive brings h1..h9 and
    // g1 (10, the most one receive returns); the next brings g1 again, g2
    // and h10.
    let group_h: Vec<Vec<u8>> = (1..=9)
        .map(|i| redox_push_from("h", &format!("h{i}")))
        .collect();
    push_through_the_destination(&world, &queue, &bucket, &group_h).await;
    world
        .sqs
        .send_message()
        .queue_url(&queue)
        .message_body(pointer_body(&bucket, "no/such/key"))
        .message_attributes("ExtendedPayloadSize", string_attribute("Number", "10"))
        .message_attributes("RedoxLogId", string_attribute("String", "g1"))
        .message_group_id("g")
        .message_deduplication_id("g1")
        .send()
        .await
        .expect("send g1");
    let rest = [redox_push_from("g", "g2"), redox_push_from("h", "h10")];
    push_through_the_destination(&world, &queue, &bucket, &rest).await;

    let (code, log) = LocalConsumer::start(&world, &queue, &bucket, false).wait();

    // g2 was not handled (nor deleted) behind the failed g1; group h went on.
    let handled: BTreeSet<String> = logged_messages(&log)
        .values()
        .map(|line| line["log_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let expected: BTreeSet<String> = (1..=10).map(|i| format!("h{i}")).collect();
    assert_eq!(handled, expected, "{log}");
    assert_eq!(code, Some(1), "{log}");
    let summary = format!("redox-consumer: {queue}: received 12, decoded 10, failed 2");
    assert!(log.lines().any(|line| line == summary), "{log}");
    // g1 and g2 are still on the queue (every h was deleted). Not read
    // back here: with a visibility timeout of 0, moto hands out g2 alone
    // while g1 is marked in flight, which SQS would not.
    assert_eq!(queue_depth(&world, &queue).await, 2);
}

#[tokio::test]
async fn a_batch_is_answered_before_the_invocation_deadline_when_s3_hangs() {
    use support::faults::{FaultProxy, Kind};

    let world = World::start().await;
    let proxy = FaultProxy::start(&world.moto);
    let bucket = world.bucket("consumer-deadline").await;
    let key = payload_key(7);
    let body = redox_push("log-slow", "PatientAdmin", "offloaded");
    world
        .s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(body.clone().into())
        .send()
        .await
        .expect("put object");
    // Held far longer than the 5 s fetch bound and the 4 s deadline.
    proxy.inject("GetObject", Kind::Hang, -1, Duration::from_secs(30));

    let api = RuntimeApi::start();
    let function = start_consumer_on(&api, proxy.aws_env(), Some(&bucket));
    batch_failures(&api.invoke(br#"{"Records": []}"#));

    let budget = Duration::from_secs(4);
    for arn in [QUEUE_ARN.to_owned(), format!("{QUEUE_ARN}.fifo")] {
        let record = |id: &str, body: &str, attributes: &[(&str, &str)]| {
            let mut record = broken_record(id, body, attributes);
            record["eventSourceARN"] = json!(arn);
            record["attributes"] = json!({"MessageGroupId": id});
            record
        };
        let inline =
            String::from_utf8(redox_push("log-first", "PatientAdmin", "inline")).expect("utf-8");
        let size = body.len().to_string();
        let event = json!({"Records": [
            record("first", &inline, &[("RedoxLogId", "log-first")]),
            record("slow", &pointer_body(&bucket, &key), &[("ExtendedPayloadSize", size.as_str())]),
            record("after", &inline, &[("RedoxLogId", "log-after")]),
        ]})
        .to_string();

        let started = std::time::Instant::now();
        let answer = batch_failures(&api.invoke_with_deadline(event.as_bytes(), budget));
        let elapsed = started.elapsed();

        let log = function.log();
        // Answered before Lambda would have ended the invocation, with the
        // record in progress and the one never started as failures.
        assert!(elapsed < budget, "{arn}: answered after {elapsed:?}");
        assert_eq!(failure_ids(&answer), ["slow", "after"], "{arn}: {log}");
        let reasons = warned_reasons(&log);
        assert!(reasons["slow"].contains("deadline"), "{reasons:?}");
        assert!(
            reasons["after"].contains("deadline") || arn.ends_with(".fifo"),
            "{reasons:?}"
        );
        assert!(logged_messages(&log).contains_key("first"), "{log}");
    }
    assert!(!logged_messages(&function.log()).contains_key("after"));
}
