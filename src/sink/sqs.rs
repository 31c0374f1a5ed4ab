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
//! read the original body unchanged. 2xx requires both writes; if SQS fails
//! after the upload, the object is deleted (best effort).

use std::time::Duration;

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageAttributeValue;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

use super::{QueuedMessage, Sink, SinkError, sqs_accepts_body};
use crate::config::{FifoGroup, valid_group_id};
use crate::material::BoxFuture;

/// SQS's limit for one message: body plus attribute names, types and values.
pub const SQS_MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// The class name the extended-client libraries expect in the pointer.
pub const EXTENDED_POINTER_CLASS: &str = "software.amazon.payloadoffloading.PayloadS3Pointer";
/// The Number attribute carrying the original body size.
pub const EXTENDED_SIZE_ATTRIBUTE: &str = "ExtendedPayloadSize";
/// Default offload threshold: just under 1 MiB, leaving room for attributes.
pub const DEFAULT_OFFLOAD_THRESHOLD: usize = SQS_MAX_MESSAGE_BYTES - 4096;

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
        let mut attributes = message.attributes.clone();
        // An accepted body is UTF-8: one copy, no lossy re-decoding.
        let text = if body_accepted {
            std::str::from_utf8(&message.body).ok()
        } else {
            None
        };
        let body = if let Some(text) = text {
            text.to_owned()
        } else {
            attributes.push(("ContentEncoding", "base64".to_owned()));
            BASE64.encode(&message.body)
        };
        SqsPayload { body, attributes }
    }

    /// The SQS size the message would have inline, computed without
    /// building it (a large body is not copied just to be measured).
    fn inline_size(message: &QueuedMessage, body_accepted: bool) -> usize {
        let attributes = attributes_size(&message.attributes);
        if body_accepted {
            message.body.len() + attributes
        } else {
            message.body.len().div_ceil(3) * 4
                + attributes
                + "ContentEncoding".len()
                + "String".len()
                + "base64".len()
        }
    }

    /// The Extended Client pointer to an S3 object holding the body.
    pub fn pointer(message: &QueuedMessage, bucket: &str, key: &str) -> SqsPayload {
        let body = serde_json::json!([
            EXTENDED_POINTER_CLASS,
            {"s3BucketName": bucket, "s3Key": key}
        ])
        .to_string();
        SqsPayload {
            body,
            attributes: message.attributes.clone(),
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

    async fn send(
        &self,
        message: &QueuedMessage,
        payload: SqsPayload,
        extended_size: Option<usize>,
    ) -> Result<String, SinkError> {
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
        let output = tokio::time::timeout(self.timeout, request.send())
            .await
            .map_err(|_| SinkError::Timeout(self.timeout))?
            .map_err(|e| SinkError::Unavailable(DisplayErrorContext(&e).to_string()))?;
        output
            .message_id
            .ok_or_else(|| SinkError::Unavailable("SQS answered without a message id".into()))
    }

    /// Uploads the body, then queues the pointer; removes the object again
    /// if the queue refuses, so a 503 leaves nothing behind.
    async fn put_offloaded(
        &self,
        offload: &S3Offload,
        message: &QueuedMessage,
    ) -> Result<String, SinkError> {
        let day = crate::clock::rfc3339(message.received_at);
        let key = format!(
            "{}{}/{}",
            offload.prefix,
            &day[..10],
            super::new_message_id()
        );
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
        if let Some(content_type) = message.attribute("ContentType") {
            put = put.content_type(content_type);
        }
        tokio::time::timeout(self.timeout, put.send())
            .await
            .map_err(|_| SinkError::Timeout(self.timeout))?
            .map_err(|e| {
                SinkError::Unavailable(format!(
                    "S3 PutObject: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                ))
            })?;
        let payload = SqsPayload::pointer(message, &offload.bucket, &key);
        match self.send(message, payload, Some(message.body.len())).await {
            Ok(id) => Ok(id),
            Err(error) => {
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
                        "could not delete the offloaded body after SQS failed; the bucket lifecycle rule will"
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

    /// FIFO `MessageDeduplicationId`: Redox's log id, else the body's SHA-256.
    pub fn deduplication_id(message: &QueuedMessage) -> String {
        match message.redox_log_id.as_deref() {
            Some(id) if valid_group_id(id) => id.to_owned(),
            _ => digest_id(&message.body),
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

impl Sink for SqsSink {
    fn put<'a>(&'a self, message: &'a QueuedMessage) -> BoxFuture<'a, Result<String, SinkError>> {
        Box::pin(async move {
            let body_accepted = sqs_accepts_body(&message.body);
            let size = SqsPayload::inline_size(message, body_accepted);
            if let Some(offload) = &self.offload
                && (offload.always || size > offload.threshold)
            {
                return self.put_offloaded(offload, message).await;
            }
            if size > SQS_MAX_MESSAGE_BYTES {
                return Err(SinkError::TooLarge {
                    size,
                    limit: SQS_MAX_MESSAGE_BYTES,
                });
            }
            let payload = SqsPayload::inline(message, body_accepted);
            self.send(message, payload, None).await
        })
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
}
