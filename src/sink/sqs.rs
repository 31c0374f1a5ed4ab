//! The SQS sink: one SendMessage per accepted push.
//!
//! Bodies SQS would refuse (characters outside its XML-allowed set, or not
//! UTF-8) are sent base64 with `ContentEncoding=base64`. FIFO queues get a
//! `MessageGroupId` chosen by [`FifoGroup`] and a `MessageDeduplicationId`
//! from Redox's log id (stable across Redox's retries) or the body's SHA-256.
//! Every call is bounded by a timeout; any failure is a [`SinkError`].
//!
//! With an [`S3Offload`], a message too large for SQS (or every message, if
//! so configured) is written to S3 first and the SQS body becomes the Amazon
//! SQS Extended Client pointer, so the official extended-client libraries
//! read the original body unchanged. 2xx requires both writes. The object is
//! deleted again only when SQS definitely did not store the pointer: after
//! an ambiguous failure (a lost or late answer) a pointer may be queued, so
//! the object must stay readable.
//!
//! The SQS client does no retries of its own: [`SqsSink`] retries a
//! SendMessage only after a fast failure, never after a timeout, so a slow
//! but successful call is not sent twice.

use std::time::Duration;

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageAttributeValue;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

use super::media_type::s3_content_type;
use super::{QueuedMessage, Sink, SinkError, sqs_accepts_body};
use crate::BoxFuture;
use crate::redox::DeliveryId;

/// SQS's limit for one message: body plus attribute names, types and values.
pub const SQS_MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// The class name the extended-client libraries expect in the pointer.
pub const EXTENDED_POINTER_CLASS: &str = "software.amazon.payloadoffloading.PayloadS3Pointer";
/// The Number attribute carrying the original body size.
pub const EXTENDED_SIZE_ATTRIBUTE: &str = "ExtendedPayloadSize";
/// Default offload threshold: just under 1 MiB, leaving room for attributes.
pub const DEFAULT_OFFLOAD_THRESHOLD: usize = SQS_MAX_MESSAGE_BYTES - 4096;

/// How FIFO messages are grouped (`REDOX_FIFO_GROUP`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FifoGroup {
    /// One group per Redox source (`Meta.Source.ID`): order kept per source.
    Source,
    /// One group per event type.
    EventType,
    /// Every message in one named group: total order.
    Fixed(String),
}

/// SQS MessageGroupId: 1-128 characters of alphanumerics and punctuation.
pub fn valid_group_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic())
}

pub struct SqsSink {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    fifo: bool,
    group: FifoGroup,
    timeout: Duration,
    offload: Option<S3Offload>,
}

/// Where large bodies go (`REDOX_PAYLOAD_BUCKET`).
pub struct S3Offload {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
    /// Key prefix, e.g. `redox/`; keys are `<prefix><YYYY-MM-DD>/<uuid>`.
    pub prefix: String,
    /// Messages whose SQS size (body plus attributes) exceeds this go to S3.
    pub threshold: usize,
    /// Offload every message, whatever its size.
    pub always: bool,
}

impl S3Offload {
    /// Whether a message of this inline SQS size goes through S3.
    fn applies(&self, inline_size: usize) -> bool {
        self.always || inline_size > self.threshold
    }

    /// Whether `message` goes through S3. Its inline size is the body's
    /// as text or, for a body SQS would refuse, as base64 (always larger);
    /// the body is scanned only when those two sizes fall on either side
    /// of the threshold, so a large body is not read just to be sent to S3.
    fn applies_to(&self, message: &QueuedMessage) -> bool {
        if self.applies(SqsPayload::inline_size(message, true)) {
            return true;
        }
        if !self.applies(SqsPayload::inline_size(message, false)) {
            return false;
        }
        self.applies(SqsPayload::inline_size(
            message,
            sqs_accepts_body(&message.body),
        ))
    }
}

/// The body and attributes exactly as they will be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsPayload {
    pub body: String,
    pub attributes: Vec<(&'static str, String)>,
}

fn attributes_size(attributes: &[(&'static str, String)]) -> usize {
    attributes
        .iter()
        .map(|(n, v)| n.len() + "String".len() + v.len())
        .sum()
}

impl SqsPayload {
    /// Prepares a message for SQS, base64-encoding a body it would refuse.
    pub fn from_message(message: &QueuedMessage) -> SqsPayload {
        Self::inline(message, sqs_accepts_body(&message.body))
    }

    fn inline(message: &QueuedMessage, body_accepted: bool) -> SqsPayload {
        // An accepted body is UTF-8: one copy, no lossy re-decoding.
        let text = if body_accepted {
            std::str::from_utf8(&message.body).ok()
        } else {
            None
        };
        if let Some(text) = text {
            return SqsPayload {
                body: text.to_owned(),
                attributes: message.attributes.clone(),
            };
        }
        let mut attributes = message.attributes_leaving(1).to_vec();
        attributes.push(("ContentEncoding", "base64".to_owned()));
        SqsPayload {
            body: BASE64.encode(&message.body),
            attributes,
        }
    }

    /// The SQS size the message would have inline, computed without
    /// building it (a large body is not copied just to be measured).
    fn inline_size(message: &QueuedMessage, body_accepted: bool) -> usize {
        if body_accepted {
            message.body.len() + attributes_size(&message.attributes)
        } else {
            message.body.len().div_ceil(3) * 4
                + attributes_size(message.attributes_leaving(1))
                + "ContentEncoding".len()
                + "String".len()
                + "base64".len()
        }
    }

    /// The Extended Client pointer to an S3 object holding the body, with
    /// the attributes that fit beside `ExtendedPayloadSize`.
    pub fn pointer(message: &QueuedMessage, bucket: &str, key: &str) -> SqsPayload {
        let body = serde_json::json!([
            EXTENDED_POINTER_CLASS,
            {"s3BucketName": bucket, "s3Key": key}
        ])
        .to_string();
        SqsPayload {
            body,
            attributes: message.attributes_leaving(1).to_vec(),
        }
    }

    /// The size SQS counts against its limit.
    pub fn size(&self) -> usize {
        self.body.len() + attributes_size(&self.attributes)
    }
}

/// Hex SHA-256, truncated to fit SQS id fields.
fn digest_id(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl SqsSink {
    pub fn new(
        client: aws_sdk_sqs::Client,
        queue_url: String,
        group: FifoGroup,
        timeout: Duration,
        offload: Option<S3Offload>,
    ) -> Self {
        SqsSink {
            fifo: queue_url.ends_with(".fifo"),
            client,
            queue_url,
            group,
            timeout,
            offload,
        }
    }

    /// Sends the message, retrying (at most [`SEND_ATTEMPTS`] attempts in
    /// all) only after failures that came back fast. A timeout is never
    /// retried: the message may be on its way into the queue, and sending
    /// it again would queue it twice.
    async fn send(
        &self,
        message: &QueuedMessage,
        payload: SqsPayload,
        extended_size: Option<usize>,
    ) -> Result<String, SendFailure> {
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(payload.body);
        for (name, value) in payload.attributes {
            request = request.message_attributes(name, string_attribute("String", value)?);
        }
        if let Some(size) = extended_size {
            request = request.message_attributes(
                EXTENDED_SIZE_ATTRIBUTE,
                string_attribute("Number", size.to_string())?,
            );
        }
        if self.fifo {
            request = request
                .message_group_id(self.group_id(message))
                .message_deduplication_id(Self::deduplication_id(message));
        }
        let mut maybe_stored = false;
        let mut attempt = 1;
        loop {
            let outcome = tokio::time::timeout(self.timeout, request.clone().send()).await;
            let (error, retry) = match outcome {
                Ok(Ok(output)) => {
                    return output.message_id.ok_or_else(|| {
                        // Stored, yet unanswerable: Redox's retry is the safe way out.
                        SendFailure::MaybeStored(SinkError::Unavailable(
                            "SQS answered without a message id".into(),
                        ))
                    });
                }
                Err(_) => (
                    SinkError::Timeout(self.timeout),
                    SendVerdict::MaybeStoredFinal,
                ),
                Ok(Err(error)) => (
                    SinkError::Unavailable(format!(
                        "SQS SendMessage: {}",
                        DisplayErrorContext(&error)
                    )),
                    classify_send_error(&error),
                ),
            };
            maybe_stored |= retry.maybe_stored();
            if !retry.retryable() || attempt >= SEND_ATTEMPTS {
                return Err(if maybe_stored {
                    SendFailure::MaybeStored(error)
                } else {
                    SendFailure::NotStored(error)
                });
            }
            tracing::debug!(attempt, error = %error, "SendMessage failed fast; retrying");
            tokio::time::sleep(retry_pause(attempt)).await;
            attempt += 1;
        }
    }

    /// Uploads the body, then queues the pointer. The object is removed
    /// again only when SQS definitely did not store the pointer; after an
    /// ambiguous failure it stays (the bucket's lifecycle rule removes it
    /// if it was never needed), so every pointer SQS holds resolves, and a
    /// FIFO queue that de-duplicates Redox's retry keeps pointing at it.
    async fn put_offloaded(
        &self,
        offload: &S3Offload,
        message: &QueuedMessage,
    ) -> Result<String, SinkError> {
        let key = offload_key(&offload.prefix, message.received_at);
        let mut put = offload
            .client
            .put_object()
            .bucket(&offload.bucket)
            .key(&key)
            .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
            // Bytes clones share the buffer: the body is not copied here.
            .body(aws_sdk_s3::primitives::ByteStream::from(
                message.body.clone(),
            ));
        // S3 gets a printable-ASCII media type; the SQS attribute keeps
        // what Redox sent.
        if let Some(content_type) = message.content_type.as_deref() {
            put = put.content_type(s3_content_type(content_type));
        }
        tokio::time::timeout(self.timeout, put.send())
            .await
            .map_err(|_| SinkError::StorageTimeout(self.timeout))?
            .map_err(|e| {
                SinkError::StorageUnavailable(format!(
                    "S3 PutObject: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                ))
            })?;
        let payload = SqsPayload::pointer(message, &offload.bucket, &key);
        match self.send(message, payload, Some(message.body.len())).await {
            Ok(id) => Ok(id),
            Err(SendFailure::MaybeStored(error)) => {
                tracing::info!(
                    bucket = %offload.bucket,
                    key = %key,
                    "SQS may hold a pointer to this offloaded body; it is kept"
                );
                Err(error)
            }
            Err(SendFailure::NotStored(error)) => {
                let delete = offload
                    .client
                    .delete_object()
                    .bucket(&offload.bucket)
                    .key(&key)
                    .send();
                match tokio::time::timeout(self.timeout, delete).await {
                    Ok(Ok(_)) => {}
                    _ => tracing::warn!(
                        bucket = %offload.bucket,
                        key = %key,
                        "could not delete the offloaded body after SQS refused its pointer; the bucket lifecycle rule will"
                    ),
                }
                Err(error)
            }
        }
    }

    /// FIFO `MessageGroupId`: the configured choice, made safe for SQS.
    pub fn group_id(&self, message: &QueuedMessage) -> String {
        let chosen = match &self.group {
            FifoGroup::Fixed(name) => return name.clone(),
            FifoGroup::Source => message.redox_source_id.as_deref(),
            FifoGroup::EventType => message.redox_event_type.as_deref(),
        };
        match chosen {
            Some(id) if valid_group_id(id) => id.to_owned(),
            Some(id) => digest_id(id.as_bytes()),
            None => "redox".to_owned(),
        }
    }

    /// FIFO `MessageDeduplicationId`: Redox's log id as it is; for an
    /// older envelope, its delivery key (`redox-message:<Message.ID>:
    /// <destination>`); either one's SHA-256 when SQS would not take it;
    /// the body's SHA-256 when Redox gave no id.
    pub fn deduplication_id(message: &QueuedMessage) -> String {
        let key = match &message.redox_delivery {
            Some(DeliveryId::Log(id)) => id.clone(),
            Some(message_id) => message_id.key(),
            None => return digest_id(&message.body),
        };
        if valid_group_id(&key) {
            key
        } else {
            digest_id(key.as_bytes())
        }
    }
}

fn string_attribute(data_type: &str, value: String) -> Result<MessageAttributeValue, SinkError> {
    MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(value)
        .build()
        .map_err(|e| SinkError::Unavailable(format!("message attribute: {e}")))
}

/// How many times one SendMessage is tried, within the request's deadline.
pub const SEND_ATTEMPTS: u32 = 3;

/// Why a SendMessage failed, as far as the message's fate is concerned.
#[derive(Debug)]
enum SendFailure {
    /// SQS cannot have stored it: nothing was sent, or SQS refused it.
    NotStored(SinkError),
    /// SQS may have stored it: the answer was lost, late or unreadable.
    MaybeStored(SinkError),
}

impl From<SendFailure> for SinkError {
    fn from(failure: SendFailure) -> Self {
        match failure {
            SendFailure::NotStored(error) | SendFailure::MaybeStored(error) => error,
        }
    }
}

impl From<SinkError> for SendFailure {
    fn from(error: SinkError) -> Self {
        SendFailure::NotStored(error)
    }
}

/// What one failed SendMessage attempt tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendVerdict {
    /// Refused for good (a 4xx other than throttling): retrying cannot help.
    NotStoredFinal,
    /// Refused for now (throttling): not stored, worth another attempt.
    NotStoredRetry,
    /// Failed fast but may have been stored (a 5xx, a dropped connection,
    /// an unreadable answer): worth another attempt, at the price of a
    /// possible duplicate, which at-least-once delivery allows.
    MaybeStoredRetry,
    /// Slow (a timeout): may be stored and may still be storing it.
    MaybeStoredFinal,
}

impl SendVerdict {
    fn retryable(self) -> bool {
        matches!(
            self,
            SendVerdict::NotStoredRetry | SendVerdict::MaybeStoredRetry
        )
    }
    fn maybe_stored(self) -> bool {
        matches!(
            self,
            SendVerdict::MaybeStoredRetry | SendVerdict::MaybeStoredFinal
        )
    }
}

/// SQS's throttling error codes (JSON and query protocols).
const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "RequestThrottled",
    "AWS.SimpleQueueService.RequestThrottled",
    "KmsThrottled",
];

fn classify_send_error(
    error: &aws_sdk_sqs::error::SdkError<
        aws_sdk_sqs::operation::send_message::SendMessageError,
        aws_sdk_sqs::config::http::HttpResponse,
    >,
) -> SendVerdict {
    use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
    match error {
        // Never left the process.
        SdkError::ConstructionFailure(_) => SendVerdict::NotStoredFinal,
        SdkError::TimeoutError(_) => SendVerdict::MaybeStoredFinal,
        SdkError::DispatchFailure(failure) if failure.is_timeout() => SendVerdict::MaybeStoredFinal,
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => SendVerdict::MaybeStoredRetry,
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            if THROTTLING_CODES.contains(&code) {
                SendVerdict::NotStoredRetry
            } else if service.raw().status().as_u16() < 500 {
                SendVerdict::NotStoredFinal
            } else {
                SendVerdict::MaybeStoredRetry
            }
        }
        _ => SendVerdict::MaybeStoredRetry,
    }
}

/// A short pause before the next attempt, with jitter so that many
/// requests throttled together do not come back together.
fn retry_pause(attempt: u32) -> Duration {
    let base = 25u64 << (2 * attempt.saturating_sub(1).min(4));
    let mut byte = [0u8; 1];
    let jitter = if getrandom::fill(&mut byte).is_ok() {
        u64::from(byte[0]) % (base / 2 + 1)
    } else {
        0
    };
    Duration::from_millis(base + jitter)
}

/// A fresh object key per request: `<prefix><YYYY-MM-DD>/<uuid>`. Never
/// reused, so deleting it after SQS refused its pointer cannot break a
/// pointer queued by another attempt.
fn offload_key(prefix: &str, received_at: std::time::SystemTime) -> String {
    let day = crate::clock::rfc3339(received_at);
    let day = day.get(..10).unwrap_or("unknown-day");
    format!("{prefix}{day}/{}", super::new_message_id())
}

impl Sink for SqsSink {
    fn put<'a>(&'a self, message: &'a QueuedMessage) -> BoxFuture<'a, Result<String, SinkError>> {
        Box::pin(async move {
            if let Some(offload) = &self.offload
                && offload.applies_to(message)
            {
                return self.put_offloaded(offload, message).await;
            }
            let body_accepted = sqs_accepts_body(&message.body);
            let size = SqsPayload::inline_size(message, body_accepted);
            if size > SQS_MAX_MESSAGE_BYTES {
                return Err(SinkError::TooLarge {
                    size,
                    limit: SQS_MAX_MESSAGE_BYTES,
                });
            }
            let payload = SqsPayload::inline(message, body_accepted);
            Ok(self.send(message, payload, None).await?)
        })
    }

    fn offloads(&self, message: &QueuedMessage) -> bool {
        self.offload
            .as_ref()
            .is_some_and(|offload| offload.applies_to(message))
    }

    fn describe(&self) -> String {
        let offload = match &self.offload {
            Some(o) if o.always => format!(", every body via s3://{}/{}", o.bucket, o.prefix),
            Some(o) => format!(
                ", bodies over {} bytes via s3://{}/{}",
                o.threshold, o.bucket, o.prefix
            ),
            None => String::new(),
        };
        format!(
            "SQS queue {}{}{offload}",
            self.queue_url,
            if self.fifo { " (FIFO)" } else { "" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthMethod;
    use crate::redox::{Envelope, RedoxMeta};
    use crate::sink::MAX_ATTRIBUTES;
    use bytes::Bytes;
    use std::time::SystemTime;

    fn message(body: &[u8], log_id: Option<&str>) -> QueuedMessage {
        QueuedMessage::new(
            Bytes::copy_from_slice(body),
            &Envelope::DataModel(RedoxMeta {
                log_id: log_id.map(str::to_owned),
                source_id: Some("source one".into()),
                ..RedoxMeta::default()
            }),
            AuthMethod::Token,
            None,
            SystemTime::UNIX_EPOCH,
        )
    }

    fn offload(threshold: usize, always: bool) -> S3Offload {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .build();
        S3Offload {
            client: aws_sdk_s3::Client::from_conf(config),
            bucket: "bucket".into(),
            prefix: String::new(),
            threshold,
            always,
        }
    }

    #[test]
    fn the_offload_decision_matches_the_inline_size_sqs_would_count() {
        // Bodies of one length, one sent as text, one (a refused byte) as
        // base64: a threshold between their inline sizes sends only the
        // second to S3.
        let text = message(&[b'a'; 300], None);
        let mut refused_body = [b'a'; 300];
        refused_body[150] = 0x01;
        let refused = message(&refused_body, None);
        let as_text = SqsPayload::inline_size(&text, true);
        let as_base64 = SqsPayload::inline_size(&refused, false);
        assert_eq!(as_text, SqsPayload::from_message(&text).size());
        assert_eq!(as_base64, SqsPayload::from_message(&refused).size());
        let between = offload(as_text, false);
        assert!(!between.applies_to(&text));
        assert!(between.applies_to(&refused));
        let below = offload(as_text - 1, false);
        assert!(below.applies_to(&text) && below.applies_to(&refused));
        let above = offload(as_base64, false);
        assert!(!above.applies_to(&text) && !above.applies_to(&refused));
        assert!(offload(usize::MAX, true).applies_to(&text));
    }

    #[test]
    fn refused_characters_are_sent_base64_with_an_attribute() {
        let payload = SqsPayload::from_message(&message(b"a\x00b", None));
        assert_eq!(payload.body, BASE64.encode(b"a\x00b"));
        assert!(
            payload
                .attributes
                .contains(&("ContentEncoding", "base64".into()))
        );
        let payload = SqsPayload::from_message(&message(b"{\"ok\":1}", None));
        assert_eq!(payload.body, "{\"ok\":1}");
        assert!(
            !payload
                .attributes
                .iter()
                .any(|(n, _)| *n == "ContentEncoding")
        );
    }

    #[test]
    fn inline_size_matches_the_built_payload() {
        for body in [&b"{\"ok\":1}"[..], b"a\x00b\x01c", b"", b"\xff\xfe\xfd\xfc"] {
            let m = message(body, Some("log"));
            let accepted = sqs_accepts_body(body);
            assert_eq!(
                SqsPayload::inline_size(&m, accepted),
                SqsPayload::inline(&m, accepted).size()
            );
        }
    }

    #[test]
    fn the_pointer_is_the_extended_client_format() {
        let m = message(b"large", None);
        let payload = SqsPayload::pointer(&m, "bucket-1", "redox/2026-11-28/id");
        let parsed: serde_json::Value = serde_json::from_str(&payload.body).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!([
                "software.amazon.payloadoffloading.PayloadS3Pointer",
                {"s3BucketName": "bucket-1", "s3Key": "redox/2026-11-28/id"}
            ])
        );
        assert_eq!(payload.attributes, m.attributes);
    }

    #[test]
    fn deduplication_uses_the_log_id_then_the_body_digest() {
        assert_eq!(
            SqsSink::deduplication_id(&message(b"x", Some("log-1"))),
            "log-1"
        );
        let by_body = SqsSink::deduplication_id(&message(b"x", None));
        assert_eq!(by_body.len(), 64);
        assert_ne!(by_body, SqsSink::deduplication_id(&message(b"y", None)));
    }

    fn older_envelope(body: &[u8], destination: Option<&str>) -> QueuedMessage {
        QueuedMessage::new(
            Bytes::copy_from_slice(body),
            &Envelope::DataModel(RedoxMeta {
                message_id: Some("4815162342".into()),
                destination_id: destination.map(str::to_owned),
                ..RedoxMeta::default()
            }),
            AuthMethod::Token,
            None,
            SystemTime::UNIX_EPOCH,
        )
    }

    #[test]
    fn an_older_envelope_is_deduplicated_by_its_message_and_destination_not_its_body() {
        // A retry may differ in its body (Transmission.ID, EventDateTime).
        let first = SqsSink::deduplication_id(&older_envelope(b"try 1", Some("dest-a")));
        let retry = SqsSink::deduplication_id(&older_envelope(b"try 2", Some("dest-a")));
        assert_eq!(first, "redox-message:4815162342:dest-a");
        assert_eq!(retry, first);
        // The same source message sent to another destination is another delivery.
        let other = SqsSink::deduplication_id(&older_envelope(b"try 1", Some("dest-b")));
        assert_ne!(other, first);
        assert_eq!(
            SqsSink::deduplication_id(&older_envelope(b"x", None)),
            "redox-message:4815162342"
        );
        // Too long for SQS: its digest, still the same on every retry.
        let long = "d".repeat(120);
        let hashed = SqsSink::deduplication_id(&older_envelope(b"try 1", Some(&long)));
        assert_eq!(hashed.len(), 64);
        assert_eq!(
            hashed,
            SqsSink::deduplication_id(&older_envelope(b"try 2", Some(&long)))
        );
    }

    #[test]
    fn the_sinks_own_attribute_always_has_room() {
        let full = QueuedMessage::new(
            Bytes::from_static(b"a\x00b"),
            &Envelope::DataModel(RedoxMeta {
                data_model: Some("PatientAdmin".into()),
                event_type: Some("Arrival".into()),
                log_id: Some("log".into()),
                attempt_id: Some("attempt".into()),
                source_id: Some("source".into()),
                test: Some(false),
                message_id: None,
                destination_id: Some("destination".into()),
                facility_code: Some("RES".into()),
                event_date_time: Some("2026-11-28T10:00:00Z".into()),
            }),
            AuthMethod::Token,
            Some("application/json"),
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(full.attributes.len(), MAX_ATTRIBUTES);
        let inline = SqsPayload::from_message(&full);
        assert_eq!(inline.attributes.len(), MAX_ATTRIBUTES);
        assert_eq!(
            inline.attributes.last(),
            Some(&("ContentEncoding", "base64".to_owned()))
        );
        assert_eq!(
            SqsPayload::inline_size(&full, false),
            inline.size(),
            "the size counts the attributes sent"
        );
        // The pointer leaves room for ExtendedPayloadSize, added when sent.
        let pointer = SqsPayload::pointer(&full, "bucket", "redox/2026-11-28/k");
        assert_eq!(pointer.attributes.len(), MAX_ATTRIBUTES - 1);
        assert!(
            pointer
                .attributes
                .iter()
                .all(|(n, _)| *n != "RedoxEventDateTime")
        );
    }

    /// SQS's rule for `MessageGroupId` and `MessageDeduplicationId`, written
    /// out from its documentation rather than with `valid_group_id`.
    fn sqs_accepts_fifo_id(id: &str) -> bool {
        (1..=128).contains(&id.chars().count())
            && id.chars().all(|c| {
                c.is_ascii_alphanumeric() || "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".contains(c)
            })
    }

    #[test]
    fn fifo_ids_from_message_content_are_always_ones_sqs_accepts() {
        let client = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
                .region(aws_sdk_sqs::config::Region::new("us-east-1"))
                .build(),
        );
        let sinks = [FifoGroup::Source, FifoGroup::EventType].map(|group| {
            SqsSink::new(
                client.clone(),
                "https://sqs.us-east-1.amazonaws.com/1/q.fifo".into(),
                group,
                Duration::from_secs(1),
                None,
            )
        });
        let long = "x".repeat(129);
        let hostile = [
            "",
            " ",
            "a b",
            "tab\there",
            "é",
            "\u{FFFF}",
            "\u{0}",
            "\u{7F}",
            long.as_str(),
            &long[..128],
            "!~",
            "ok-id_1.2",
        ];
        for id in hostile {
            let mut m = message(b"body", Some(id));
            m.redox_source_id = Some(id.to_owned());
            m.redox_event_type = Some(id.to_owned());
            for sink in &sinks {
                let group = sink.group_id(&m);
                assert!(sqs_accepts_fifo_id(&group), "{id:?} -> {group:?}");
            }
            let dedup = SqsSink::deduplication_id(&m);
            assert!(sqs_accepts_fifo_id(&dedup), "{id:?} -> {dedup:?}");
        }
        let mut none = message(b"", None);
        none.redox_source_id = None;
        assert!(sqs_accepts_fifo_id(&sinks[0].group_id(&none)));
        assert!(sqs_accepts_fifo_id(&SqsSink::deduplication_id(&none)));
    }
}
