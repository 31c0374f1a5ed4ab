//! Large messages through S3 in the Amazon SQS Extended Client format,
//! against moto (S3 + SQS), read back by the official Python extended client.

mod support;

use support::aws::{World, attribute, large_message, receive_with_extended_client, send};

/// A queue, a bucket, and a destination that offloads to it.
async fn offloading(
    name: &str,
    extra: &[(&str, &str)],
) -> (
    World,
    String,
    String,
    redox_destination::destination::Destination,
) {
    let world = World::start().await;
    let queue = world.queue(name).await;
    let bucket = world.bucket(&format!("{name}-payloads")).await;
    let mut vars = vec![
        ("REDOX_VERIFICATION_TOKEN", "tok"),
        ("REDOX_QUEUE_URL", queue.as_str()),
        ("REDOX_PAYLOAD_BUCKET", bucket.as_str()),
    ];
    vars.extend_from_slice(extra);
    let destination = world.destination(&vars).await;
    (world, queue, bucket, destination)
}

#[tokio::test]
async fn a_3mb_push_goes_through_s3_and_the_extended_client_reads_it_unchanged() {
    let (world, queue, bucket, destination) = offloading("redox-large", &[]).await;
    let body = large_message(3 * 1024 * 1024);
    let answer = send(&destination, "tok", &body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    let keys = world.object_keys(&bucket).await;
    assert_eq!(keys.len(), 1);
    assert!(keys[0].starts_with("redox/"), "{}", keys[0]);
    let object = world
        .s3
        .get_object()
        .bucket(&bucket)
        .key(&keys[0])
        .send()
        .await
        .unwrap();
    assert_eq!(object.content_type.as_deref(), Some("application/json"));

    let received = receive_with_extended_client(&world, &queue, &bucket);
    assert_eq!(received.len(), body.len());
    assert!(received == body, "the extended client's body differs");
}

#[tokio::test]
async fn a_500kb_push_goes_inline() {
    let (world, queue, bucket, destination) = offloading("redox-inline", &[]).await;
    let body = large_message(500 * 1024);
    assert_eq!(send(&destination, "tok", &body).await.status, 200);
    assert!(world.object_keys(&bucket).await.is_empty());
    let messages = world.receive_all(&queue).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].body.as_deref().map(str::as_bytes),
        Some(&body[..])
    );
    assert_eq!(attribute(&messages[0], "ExtendedPayloadSize"), None);
}

#[tokio::test]
async fn offload_all_sends_even_a_small_message_through_s3() {
    let (world, queue, bucket, destination) = offloading(
        "redox-all",
        &[
            ("REDOX_OFFLOAD_ALL", "true"),
            ("REDOX_PAYLOAD_PREFIX", "inbound/"),
        ],
    )
    .await;
    let body = br#"{"Meta":{"DataModel":"Results","EventType":"New"}}"#;
    assert_eq!(send(&destination, "tok", body).await.status, 200);
    let messages = world.receive_all(&queue).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        attribute(&messages[0], "ExtendedPayloadSize").as_deref(),
        Some(body.len().to_string().as_str())
    );
    assert_eq!(
        attribute(&messages[0], "RedoxDataModel").as_deref(),
        Some("Results")
    );
    let pointer: serde_json::Value =
        serde_json::from_str(messages[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(
        pointer[0],
        "software.amazon.payloadoffloading.PayloadS3Pointer"
    );
    assert_eq!(pointer[1]["s3BucketName"], bucket.as_str());
    assert!(
        pointer[1]["s3Key"]
            .as_str()
            .unwrap()
            .starts_with("inbound/")
    );
}

#[tokio::test]
async fn s3_failing_gives_503_and_nothing_queued() {
    let world = World::start().await;
    let queue = world.queue("redox-s3-down").await;
    let destination = world
        .destination(&[
            ("REDOX_VERIFICATION_TOKEN", "tok"),
            ("REDOX_QUEUE_URL", &queue),
            ("REDOX_PAYLOAD_BUCKET", "bucket-that-does-not-exist"),
        ])
        .await;
    let answer = send(&destination, "tok", &large_message(2 * 1024 * 1024)).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(answer.header("retry-after").is_some());
    assert!(world.receive_all(&queue).await.is_empty());
}

#[tokio::test]
async fn sqs_failing_after_the_upload_gives_503_and_leaves_no_object() {
    let world = World::start().await;
    let real = world.queue("redox-exists").await;
    let missing = real.replace("redox-exists", "redox-gone");
    let bucket = world.bucket("redox-orphans").await;
    let destination = world
        .destination(&[
            ("REDOX_VERIFICATION_TOKEN", "tok"),
            ("REDOX_QUEUE_URL", &missing),
            ("REDOX_PAYLOAD_BUCKET", &bucket),
        ])
        .await;
    let answer = send(&destination, "tok", &large_message(2 * 1024 * 1024)).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(world.object_keys(&bucket).await.is_empty());
}

#[tokio::test]
async fn an_oversized_body_without_a_bucket_gets_413_naming_the_setting() {
    let world = World::start().await;
    let queue = world.queue("redox-nobucket").await;
    let destination = world
        .destination(&[
            ("REDOX_VERIFICATION_TOKEN", "tok"),
            ("REDOX_QUEUE_URL", &queue),
        ])
        .await;
    let answer = send(&destination, "tok", &large_message(2 * 1024 * 1024)).await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert!(
        answer.body.contains("REDOX_PAYLOAD_BUCKET"),
        "{}",
        answer.body
    );
    assert!(world.receive_all(&queue).await.is_empty());

    // Over REDOX_MAX_BODY_BYTES: refused before any work, whatever the sink.
    let answer = send(&destination, "tok", &vec![b' '; 6 * 1024 * 1024 + 1]).await;
    assert_eq!(answer.status, 413);
}
