//! The AWS edges through the real AWS SDK against moto: Secrets Manager
//! material (caching, rotation, outages) and the SQS sink (attributes, FIFO
//! de-duplication, encoding, failures).

mod support;

use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use base64::Engine as _;
use support::aws::{World, attribute, send};

const ARRIVAL: &str = r#"{"Meta":{"DataModel":"PatientAdmin","EventType":"Arrival","EventDateTime":"2026-11-28T10:00:00.000Z","Test":true,"Source":{"ID":"7ce6f387-c33c-417d-8682-81e83628cbd9","Name":"Redox Dev Tools"},"Destinations":[{"ID":"af394f14-b34a-464f-8d24-895f370af4c9","Name":"Redox EMR"}],"Logs":[{"ID":"d9f5d293-7110-461e-a875-3beb089e79f3","AttemptID":"925d1617-2fe0-468c-a14c-f8c04b572c54"}],"FacilityCode":"RDX"},"Patient":{"Identifiers":[{"ID":"0000000001","IDType":"MR"}],"Demographics":{"FirstName":"Timothy","LastName":"Bixby"}}}"#;

#[tokio::test]
async fn a_push_lands_in_a_standard_queue_with_all_its_attributes() {
    let world = World::start().await;
    let queue = world.queue("redox-inbound").await;
    let secret = world
        .secret("redox/auth", r#"{"verification_tokens":["tok-current"]}"#)
        .await;
    let destination = world
        .destination(&[("REDOX_SECRET_ID", &secret), ("REDOX_QUEUE_URL", &queue)])
        .await;

    let answer = send(&destination, "tok-current", ARRIVAL.as_bytes()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let answer: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(answer["status"], "queued");

    let messages = world.receive_all(&queue).await;
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message.body.as_deref(), Some(ARRIVAL));
    assert_eq!(message.message_id.as_deref(), answer["message_id"].as_str());
    assert_eq!(attribute_names(message), ARRIVAL_ATTRIBUTES);
    for (name, value) in [
        ("RedoxDataModel", "PatientAdmin"),
        ("RedoxEventType", "Arrival"),
        ("RedoxLogId", "d9f5d293-7110-461e-a875-3beb089e79f3"),
        ("RedoxDestinationId", "af394f14-b34a-464f-8d24-895f370af4c9"),
        ("RedoxSourceId", "7ce6f387-c33c-417d-8682-81e83628cbd9"),
        ("RedoxTest", "true"),
        ("AuthMethod", "token"),
        ("RedoxFacilityCode", "RDX"),
        ("RedoxAttemptId", "925d1617-2fe0-468c-a14c-f8c04b572c54"),
        ("RedoxEventDateTime", "2026-11-28T10:00:00.000Z"),
    ] {
        assert_eq!(attribute(message, name).as_deref(), Some(value), "{name}");
    }
}

/// The attributes a message with every `Meta` field gets inline: ten, the
/// most SQS allows (ContentType, the eleventh, gives way).
const ARRIVAL_ATTRIBUTES: [&str; 10] = [
    "AuthMethod",
    "RedoxAttemptId",
    "RedoxDataModel",
    "RedoxDestinationId",
    "RedoxEventDateTime",
    "RedoxEventType",
    "RedoxFacilityCode",
    "RedoxLogId",
    "RedoxSourceId",
    "RedoxTest",
];

fn attribute_names(message: &aws_sdk_sqs::types::Message) -> Vec<&str> {
    let mut names: Vec<&str> = message
        .message_attributes
        .iter()
        .flatten()
        .map(|(name, _)| name.as_str())
        .collect();
    names.sort_unstable();
    names
}

#[tokio::test]
async fn beside_content_encoding_or_a_pointer_the_event_time_gives_way() {
    let world = World::start().await;
    let queue = world.queue("redox-full").await;
    let bucket = world.bucket("redox-full-payloads").await;
    let destination = world
        .destination(&[
            ("REDOX_VERIFICATION_TOKEN", "tok"),
            ("REDOX_QUEUE_URL", &queue),
            ("REDOX_PAYLOAD_BUCKET", &bucket),
            ("REDOX_OFFLOAD_THRESHOLD_BYTES", "4096"),
        ])
        .await;
    // A character SQS refuses (valid in JSON): sent base64.
    let refused = ARRIVAL.replace("Timothy", "Tim\u{FFFF}othy");
    // Over the threshold: an S3 pointer.
    let large = ARRIVAL.replace("Bixby", &"Bixby".repeat(1000));
    for body in [refused.as_bytes(), large.as_bytes()] {
        assert_eq!(send(&destination, "tok", body).await.status, 200);
    }
    let messages = world.receive_all(&queue).await;
    assert_eq!(messages.len(), 2);
    for message in &messages {
        let own = if attribute(message, "ContentEncoding").is_some() {
            "ContentEncoding"
        } else {
            "ExtendedPayloadSize"
        };
        let mut expected: Vec<&str> = ARRIVAL_ATTRIBUTES
            .iter()
            .copied()
            .filter(|n| *n != "RedoxEventDateTime")
            .chain([own])
            .collect();
        expected.sort_unstable();
        assert_eq!(attribute_names(message), expected, "{own}");
    }
}

#[tokio::test]
async fn the_same_redox_message_pushed_twice_to_a_fifo_queue_arrives_once() {
    let world = World::start().await;
    let queue = world.queue("redox-inbound.fifo").await;
    let destination = world
        .destination(&[
            ("REDOX_VERIFICATION_TOKEN", "tok"),
            ("REDOX_QUEUE_URL", &queue),
        ])
        .await;
    for _ in 0..2 {
        assert_eq!(
            send(&destination, "tok", ARRIVAL.as_bytes()).await.status,
            200
        );
    }
    let other = ARRIVAL.replace("d9f5d293", "00000000");
    assert_eq!(
        send(&destination, "tok", other.as_bytes()).await.status,
        200
    );

    let messages = world.receive_all(&queue).await;
    assert_eq!(
        messages.len(),
        2,
        "the retried message was not de-duplicated"
    );
    let first = &messages[0];
    let system = first.attributes.as_ref().expect("system attributes");
    assert_eq!(
        system
            .get(&MessageSystemAttributeName::MessageGroupId)
            .map(String::as_str),
        Some("7ce6f387-c33c-417d-8682-81e83628cbd9")
    );
    assert_eq!(
        system
            .get(&MessageSystemAttributeName::MessageDeduplicationId)
            .map(String::as_str),
        Some("d9f5d293-7110-461e-a875-3beb089e79f3")
    );
}

/// An older envelope (no `Logs`): Redox's message id, a transmission id,
/// and an event time; a retry changes only `Transmission.ID` and
/// `EventDateTime` (if Redox changes them at all: its documentation does
/// not say).
fn older_envelope(message_id: u64, transmission_id: u64, destination: &str, at: &str) -> String {
    serde_json::json!({
        "Meta": {
            "DataModel": "Clinical Summary", "EventType": "PatientPush", "EventDateTime": at,
            "Test": true, "Source": {"ID": "3f1d6c0e-5b7a-4e2c-9a8d-1c2b3a4d5e6f"},
            "Destinations": [{"ID": destination}],
            "Message": {"ID": message_id}, "Transmission": {"ID": transmission_id},
            "FacilityCode": "NORTH"
        },
        "Patient": {"Identifiers": [{"ID": "ZZ-00042", "IDType": "MR"}]}
    })
    .to_string()
}

#[tokio::test]
async fn a_retried_older_envelope_arrives_once_in_a_fifo_queue() {
    let world = World::start().await;
    let queue = world.queue("redox-older.fifo").await;
    let destination = world
        .destination(&[
            ("REDOX_VERIFICATION_TOKEN", "tok"),
            ("REDOX_QUEUE_URL", &queue),
        ])
        .await;
    let first = older_envelope(4815162342, 900001, "dest-a", "2019-05-02T14:31:07.112Z");
    let retry = older_envelope(4815162342, 900002, "dest-a", "2019-05-02T14:31:17.530Z");
    // The same source message, routed to a second destination on this endpoint.
    let other_destination =
        older_envelope(4815162342, 900003, "dest-b", "2019-05-02T14:31:07.200Z");
    for body in [&first, &retry, &first, &other_destination] {
        assert_eq!(send(&destination, "tok", body.as_bytes()).await.status, 200);
    }

    let messages = world.receive_all(&queue).await;
    assert_eq!(messages.len(), 2, "the retries were not de-duplicated");
    assert_eq!(messages[0].body.as_deref(), Some(first.as_str()));
    assert_eq!(
        messages[1].body.as_deref(),
        Some(other_destination.as_str())
    );
    for (message, destination) in messages.iter().zip(["dest-a", "dest-b"]) {
        assert_eq!(
            attribute(message, "RedoxMessageId").as_deref(),
            Some("4815162342")
        );
        assert_eq!(attribute(message, "RedoxLogId"), None);
        assert_eq!(
            attribute(message, "RedoxDestinationId").as_deref(),
            Some(destination)
        );
        assert_eq!(
            attribute(message, "RedoxDataModel").as_deref(),
            Some("Clinical Summary")
        );
        let system = message.attributes.as_ref().expect("system attributes");
        assert_eq!(
            system
                .get(&MessageSystemAttributeName::MessageDeduplicationId)
                .map(String::as_str),
            Some(format!("redox-message:4815162342:{destination}").as_str())
        );
    }
}

#[tokio::test]
async fn a_body_with_control_characters_arrives_base64_with_content_encoding() {
    let world = World::start().await;
    let queue = world.queue("redox-binary").await;
    let destination = world
        .destination(&[
            ("REDOX_VERIFICATION_TOKEN", "tok"),
            ("REDOX_QUEUE_URL", &queue),
        ])
        .await;
    let body = b"MSH|^~\\&|EPIC\x0bPID|1\x1c\x0d\x00\xff";
    assert_eq!(send(&destination, "tok", body).await.status, 200);
    let messages = world.receive_all(&queue).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        attribute(&messages[0], "ContentEncoding").as_deref(),
        Some("base64")
    );
    assert_eq!(
        attribute(&messages[0], "RedoxEnvelope").as_deref(),
        Some("not-json")
    );
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(messages[0].body.as_deref().unwrap())
        .unwrap();
    assert_eq!(decoded, body);
}

#[tokio::test]
async fn a_push_to_a_queue_that_does_not_exist_gets_503_and_leaves_nothing() {
    let world = World::start().await;
    let real = world.queue("redox-real").await;
    let missing = real.replace("redox-real", "redox-missing");
    let destination = world
        .destination(&[
            ("REDOX_VERIFICATION_TOKEN", "tok"),
            ("REDOX_QUEUE_URL", &missing),
        ])
        .await;
    let answer = send(&destination, "tok", ARRIVAL.as_bytes()).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.header("retry-after"), Some("10"));
    assert!(answer.body.contains("queue_unavailable"));
    assert!(world.receive_all(&real).await.is_empty());
    let queues = world.sqs.list_queues().send().await.unwrap();
    assert_eq!(queues.queue_urls.unwrap_or_default(), vec![real]);
}

#[tokio::test]
async fn a_push_while_the_emulator_is_stopped_gets_503() {
    let mut world = World::start().await;
    let queue = world.queue("redox-down").await;
    let destination = world
        .destination(&[
            ("REDOX_VERIFICATION_TOKEN", "tok"),
            ("REDOX_QUEUE_URL", &queue),
            ("REDOX_AWS_TIMEOUT_MS", "1500"),
        ])
        .await;
    world.moto.stop();
    let answer = send(&destination, "tok", ARRIVAL.as_bytes()).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(answer.header("retry-after").is_some());
}

#[tokio::test]
async fn a_rotated_token_is_accepted_on_first_use_while_the_previous_still_works() {
    let world = World::start().await;
    let queue = world.queue("redox-rotation").await;
    let secret = world.secret("redox/rotation", "token-one").await;
    let destination = world
        .destination(&[
            ("REDOX_SECRET_ID", &secret),
            ("REDOX_QUEUE_URL", &queue),
            ("REDOX_SECRET_REFETCH_SECS", "1"),
        ])
        .await;
    assert_eq!(
        send(&destination, "token-one", ARRIVAL.as_bytes())
            .await
            .status,
        200
    );

    world
        .secrets
        .put_secret_value()
        .secret_id(&secret)
        .secret_string("token-two")
        .send()
        .await
        .unwrap();
    // The cache (TTL 300 s) still holds only token-one; the first push with
    // token-two must trigger the one re-fetch and pass within that request.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    world.moto.start_recording();
    let answer = send(&destination, "token-two", ARRIVAL.as_bytes()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        send(&destination, "token-one", ARRIVAL.as_bytes())
            .await
            .status,
        200
    );
    assert_eq!(
        send(&destination, "token-three", ARRIVAL.as_bytes())
            .await
            .status,
        401
    );
    assert_eq!(world.receive_all(&queue).await.len(), 3);
    // One re-fetch reads both stages; the refused token-three comes within
    // the rate limit and triggers none.
    assert_eq!(
        world.moto.recorded_calls("secretsmanager.GetSecretValue"),
        2
    );
}

#[tokio::test]
async fn a_thousand_pushes_cost_a_handful_of_get_secret_value_calls() {
    let world = World::start().await;
    let queue = world.queue("redox-many").await;
    let secret = world
        .secret("redox/many", r#"{"verification_tokens":["tok-a","tok-b"]}"#)
        .await;
    world.moto.start_recording();
    let destination = world
        .destination(&[("REDOX_SECRET_ID", &secret), ("REDOX_QUEUE_URL", &queue)])
        .await;
    let started = std::time::Instant::now();
    for i in 0..1000 {
        let token = if i % 2 == 0 { "tok-a" } else { "tok-b" };
        let answer = send(&destination, token, br#"{"Meta":{"DataModel":"Results"}}"#).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    // Valid pushes never go back to Secrets Manager within the TTL.
    assert_eq!(
        world.moto.recorded_calls("secretsmanager.GetSecretValue"),
        2
    );

    // A burst of wrong tokens re-fetches at most once per REDOX_SECRET_REFETCH_SECS (5 s).
    for _ in 0..100 {
        let answer = send(&destination, "wrong-token", b"{}").await;
        assert_eq!(answer.status, 401);
    }
    let windows = started.elapsed().as_secs() / 5 + 1;
    let calls = world.moto.recorded_calls("secretsmanager.GetSecretValue");
    assert!(
        calls <= 2 + 2 * windows as usize,
        "{calls} GetSecretValue calls over {windows} five-second windows"
    );
    eprintln!(
        "1100 pushes ({:?}): {calls} GetSecretValue calls",
        started.elapsed()
    );
}

#[tokio::test]
async fn with_secrets_manager_down_and_nothing_cached_pushes_get_503_never_200() {
    let mut world = World::start().await;
    let queue = world.queue("redox-nosecret").await;
    let secret = world.secret("redox/down", "tok").await;
    world.moto.stop();
    let destination = world
        .destination(&[
            ("REDOX_SECRET_ID", &secret),
            ("REDOX_QUEUE_URL", &queue),
            ("REDOX_AWS_TIMEOUT_MS", "1500"),
        ])
        .await;
    let answer = send(&destination, "tok", ARRIVAL.as_bytes()).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(answer.body.contains("auth_unavailable"));
}

#[tokio::test]
async fn a_missing_secret_version_previous_is_not_an_error() {
    let world = World::start().await;
    let queue = world.queue("redox-single").await;
    let secret = world.secret("redox/single", "only-version").await;
    world.moto.start_recording();
    let destination = world
        .destination(&[("REDOX_SECRET_ID", &secret), ("REDOX_QUEUE_URL", &queue)])
        .await;
    assert_eq!(send(&destination, "only-version", b"{}").await.status, 200);
    assert_eq!(
        world.moto.recorded_calls("secretsmanager.GetSecretValue"),
        2
    );
}
