//! The SQS sink: one SendMessage per accepted push.
//!
//! Bodies SQS would refuse (characters outside its XML-allowed set, or not
//! UTF-8) are sent base64 with `ContentEncoding=base64`. FIFO queues get a
//! `MessageGroupId` chosen by [`FifoGroup`] and a `MessageDeduplicationId`
//! from Redox's log id (stable across Redox's retries) or the body's SHA-256.
//! Every call is bounded by a timeout; any failure is a [`SinkError`].

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

pub struct SqsSink {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    fifo: bool,
    group: FifoGroup,
    timeout: Duration,
}

/// The body and attributes exactly as they will be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsPayload {
    pub body: String,
    pub attributes: Vec<(&'static str, String)>,
}

impl SqsPayload {
    /// Prepares a message for SQS, base64-encoding a body it would refuse.
    pub fn from_message(message: &QueuedMessage) -> SqsPayload {
        let mut attributes = message.attributes.clone();
        let body = if sqs_accepts_body(&message.body) {
            String::from_utf8_lossy(&message.body).into_owned()
        } else {
            attributes.push(("ContentEncoding", "base64".to_owned()));
            BASE64.encode(&message.body)
        };
        SqsPayload { body, attributes }
    }

    /// The size SQS counts against its limit.
    pub fn size(&self) -> usize {
        self.body.len()
            + self
                .attributes
                .iter()
                .map(|(n, v)| n.len() + "String".len() + v.len())
                .sum::<usize>()
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
    ) -> Self {
        SqsSink {
            fifo: queue_url.ends_with(".fifo"),
            client,
            queue_url,
            group,
            timeout,
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

impl Sink for SqsSink {
    fn put<'a>(&'a self, message: &'a QueuedMessage) -> BoxFuture<'a, Result<String, SinkError>> {
        Box::pin(async move {
            let payload = SqsPayload::from_message(message);
            let size = payload.size();
            if size > SQS_MAX_MESSAGE_BYTES {
                return Err(SinkError::TooLarge {
                    size,
                    limit: SQS_MAX_MESSAGE_BYTES,
                });
            }
            let mut request = self
                .client
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(payload.body);
            for (name, value) in payload.attributes {
                let value = MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(value)
                    .build()
                    .map_err(|e| SinkError::Unavailable(format!("attribute {name}: {e}")))?;
                request = request.message_attributes(name, value);
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
        })
    }

    fn describe(&self) -> String {
        format!(
            "SQS queue {}{}",
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
