//! Reading the queue: one SQS message, as the queue holds it, back into the
//! Redox message the destination accepted.
//!
//! The reverse of [`crate::sink::sqs`]: a body sent base64 because SQS
//! would refuse its characters (`ContentEncoding=base64`) is decoded, and an
//! Amazon SQS Extended Client pointer (`ExtendedPayloadSize`, or the legacy
//! `SQSLargePayloadSize`) is resolved by fetching the object from S3
//! ([`payload`]). The attributes the sink wrote come back typed
//! ([`RedoxAttributes`]). [`batch`] runs a whole Lambda SQS batch through
//! a [`batch::MessageHandler`] and reports partial batch failures;
//! [`poll`] feeds it from ReceiveMessage instead, outside Lambda.
//!
//! A pointer is followed only into the payload bucket, under the payload
//! prefix, to a key shaped as the destination writes it ([`pointer`]);
//! any other is refused before any I/O.
//!
//! Every failure is a [`DecodeError`] naming the problem; none quotes the
//! body (bodies are PHI), and no input makes this module panic.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

pub mod batch;
pub mod payload;
pub mod pointer;
pub mod poll;

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::auth::AuthMethod;
use crate::redox::{DeliveryId, RedoxMeta, data_model_meta, event_types};
use crate::sink::is_attribute_safe;
use crate::sink::sqs::EXTENDED_SIZE_ATTRIBUTE;

pub use payload::PayloadStore;
pub use pointer::{PayloadOrigin, PointerRefusal, parse_pointer};

/// The size attribute of the first extended-client versions; still read.
pub const LEGACY_SIZE_ATTRIBUTE: &str = "SQSLargePayloadSize";
/// The pointer class name of the first (Java) extended client; still read.
pub const LEGACY_POINTER_CLASS: &str = "com.amazon.sqs.javamessaging.MessageS3Pointer";

/// One SQS message as received: its id, its body, and its String and
/// Number message attributes by name (Binary ones are not Redox's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueMessage {
    pub message_id: String,
    pub body: String,
    pub attributes: BTreeMap<String, String>,
}

impl QueueMessage {
    /// A record of a Lambda SQS event. A record without a body decodes to
    /// [`DecodeError::MissingBody`]; without an id, `message_id` is empty.
    pub fn from_lambda_record(record: &aws_lambda_events::sqs::SqsMessage) -> Option<Self> {
        Some(QueueMessage {
            message_id: record.message_id.clone().unwrap_or_default(),
            body: record.body.clone()?,
            attributes: record
                .message_attributes
                .iter()
                .filter_map(|(name, value)| Some((name.clone(), value.string_value.clone()?)))
                .collect(),
        })
    }

    /// A message from the SDK's ReceiveMessage (ask for
    /// `MessageAttributeNames=All`, or the attributes are not there).
    pub fn from_sdk(message: &aws_sdk_sqs::types::Message) -> Self {
        QueueMessage {
            message_id: message.message_id.clone().unwrap_or_default(),
            body: message.body.clone().unwrap_or_default(),
            attributes: message
                .message_attributes
                .iter()
                .flatten()
                .filter_map(|(name, value)| Some((name.clone(), value.string_value.clone()?)))
                .collect(),
        }
    }

    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).map(String::as_str)
    }
}

/// The attributes the destination writes on every queued message (SPEC
/// 3.5), each present only when the destination knew it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedoxAttributes {
    /// The `Meta` fields: `RedoxDataModel`, `RedoxEventType`, `RedoxLogId`
    /// (Redox's `Logs[0].ID`, the same on every retry of one message: the
    /// idempotency key), `RedoxMessageId` (`Message.ID`, sent instead of
    /// `RedoxLogId` for older envelopes without `Logs`),
    /// `RedoxDestinationId`, `RedoxSourceId`, `RedoxTest`,
    /// `RedoxFacilityCode`, `RedoxAttemptId`, `RedoxEventDateTime`.
    /// [`decode`] completes them from the body's `Meta` when the queue had
    /// no room for some (see [`DecodedMessage::attributes`]).
    pub meta: RedoxMeta,
    /// `RedoxEnvelope`: how the destination classified the body.
    pub envelope: Option<String>,
    /// `AuthMethod`: how the push was authenticated.
    pub auth_method: Option<AuthMethod>,
    /// `ContentType`: the push's `content-type` header.
    pub content_type: Option<String>,
}

impl RedoxAttributes {
    pub fn from_message(message: &QueueMessage) -> Self {
        let text = |name: &str| message.attribute(name).map(str::to_owned);
        RedoxAttributes {
            meta: RedoxMeta {
                data_model: text("RedoxDataModel"),
                event_type: text("RedoxEventType"),
                log_id: text("RedoxLogId"),
                attempt_id: text("RedoxAttemptId"),
                source_id: text("RedoxSourceId"),
                test: match message.attribute("RedoxTest") {
                    Some("true") => Some(true),
                    Some("false") => Some(false),
                    _ => None,
                },
                message_id: text("RedoxMessageId"),
                destination_id: text("RedoxDestinationId"),
                facility_code: text("RedoxFacilityCode"),
                event_date_time: text("RedoxEventDateTime"),
            },
            envelope: text("RedoxEnvelope"),
            auth_method: message.attribute("AuthMethod").and_then(AuthMethod::parse),
            content_type: text("ContentType"),
        }
    }

    /// The id of this delivery of the Redox message, and which envelope
    /// field it is (`Logs[0].ID`, or `Message.ID` and the destination for
    /// older envelopes).
    pub fn delivery_id(&self) -> Option<DeliveryId> {
        self.meta.delivery_id()
    }

    /// `true` when the message is this data model and event type, however
    /// Redox spelled them (`"Clinical Summary"` is `"ClinicalSummary"`).
    pub fn is_event(&self, data_model: &str, event_type: &str) -> bool {
        let same = |sent: &Option<String>, wanted| {
            sent.as_deref()
                .is_some_and(|sent| event_types::same_name(sent, wanted))
        };
        same(&self.meta.data_model, data_model) && same(&self.meta.event_type, event_type)
    }
}

/// Where an offloaded body lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub key: String,
}

/// The Redox message back: the body exactly as Redox sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedMessage {
    pub message_id: String,
    pub body: Bytes,
    /// The message attributes, typed. For a Data Model message, any `Meta`
    /// field the queue had no room for (`RedoxEventDateTime` beside
    /// `ContentEncoding` or an S3 pointer) or that an older destination
    /// did not write is read from the body's `Meta`, so a handler never
    /// has to parse the body for them.
    pub attributes: RedoxAttributes,
    /// Where the body was fetched from, when it was offloaded.
    pub offloaded_from: Option<S3Location>,
}

impl DecodedMessage {
    /// The key to de-duplicate on, the same across Redox's retries:
    /// `redox-log:<Logs[0].ID>`; for an older envelope without `Logs`,
    /// `redox-message:<Message.ID>:<Destinations[0].ID>`
    /// ([`DeliveryId::key`]); else (a push without `Meta`) `sha256:` and
    /// the body's SHA-256. Delivery is at-least-once: the same message can
    /// arrive twice (a Redox retry after a lost answer, an SQS redelivery).
    pub fn idempotency_key(&self) -> String {
        match self.attributes.delivery_id() {
            Some(id) => id.key(),
            None => format!("sha256:{}", self.body_sha256()),
        }
    }

    /// Hex SHA-256 of the body: lets logs and tests match a body without
    /// showing it.
    pub fn body_sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.body))
    }
}

/// Why a message could not be turned back into the Redox message. The
/// text names the problem, never the body.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the SQS record has no body")]
    MissingBody,
    #[error("ContentEncoding is {0:?}; only base64 is known")]
    UnknownContentEncoding(String),
    #[error("the body says ContentEncoding=base64 but is not valid base64")]
    BadBase64,
    #[error("{attribute} is not a byte count")]
    BadPayloadSize { attribute: &'static str },
    #[error("malformed extended-client pointer: {0}")]
    MalformedPointer(&'static str),
    /// A well-formed pointer the consumer does not follow: never fetched.
    #[error("pointer refused, not fetched: {0}")]
    RefusedPointer(#[from] PointerRefusal),
    #[error("the offloaded body s3://{bucket}/{key} does not exist")]
    ObjectMissing { bucket: String, key: String },
    #[error("the offloaded body s3://{bucket}/{key} could not be read: {detail}")]
    StorageUnavailable {
        bucket: String,
        key: String,
        detail: String,
    },
    #[error("S3 did not return s3://{bucket}/{key} within {timeout:?}")]
    StorageTimeout {
        bucket: String,
        key: String,
        timeout: std::time::Duration,
    },
    #[error("the pointer declares {declared} bytes but the object holds {actual}")]
    SizeMismatch { declared: u64, actual: u64 },
    #[error("the pointer declares {declared} bytes, over the {limit}-byte limit")]
    PayloadTooLarge { declared: u64, limit: u64 },
}

/// Where a message's body is, before any I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredBody {
    Inline(Bytes),
    Offloaded {
        location: S3Location,
        declared_size: u64,
    },
}

/// Reads the message's own body and attributes (pure, no I/O): the inline
/// body, decoded, or the pointer to the offloaded one.
///
/// A message is a pointer exactly when it carries a size attribute, as the
/// extended-client libraries decide; a body that merely looks like a
/// pointer is an inline body. `ContentEncoding` describes the SQS body
/// only: an offloaded object holds the raw body.
pub fn stored_body(message: &QueueMessage) -> Result<StoredBody, DecodeError> {
    let size = [EXTENDED_SIZE_ATTRIBUTE, LEGACY_SIZE_ATTRIBUTE]
        .into_iter()
        .find_map(|name| Some((name, message.attribute(name)?)));
    if let Some((attribute, size)) = size {
        let declared_size =
            parse_byte_count(size).ok_or(DecodeError::BadPayloadSize { attribute })?;
        let location = parse_pointer(&message.body)?;
        return Ok(StoredBody::Offloaded {
            location,
            declared_size,
        });
    }
    match message.attribute("ContentEncoding") {
        None => Ok(StoredBody::Inline(Bytes::copy_from_slice(
            message.body.as_bytes(),
        ))),
        Some("base64") => BASE64
            .decode(message.body.as_bytes())
            .map(|bytes| StoredBody::Inline(Bytes::from(bytes)))
            .map_err(|_| DecodeError::BadBase64),
        Some(other) => Err(DecodeError::UnknownContentEncoding(
            other.chars().take(32).collect(),
        )),
    }
}

/// Decimal digits only (SQS Number attributes also allow signs, fractions
/// and exponents, none of which is a byte count).
fn parse_byte_count(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Turns one queued message back into the Redox message, fetching an
/// offloaded body through `payloads`.
pub async fn decode(
    message: &QueueMessage,
    payloads: &PayloadStore,
) -> Result<DecodedMessage, DecodeError> {
    let mut attributes = RedoxAttributes::from_message(message);
    let (body, offloaded_from) = match stored_body(message)? {
        StoredBody::Inline(body) => (body, None),
        StoredBody::Offloaded {
            location,
            declared_size,
        } => (
            payloads.fetch(&location, declared_size).await?,
            Some(location),
        ),
    };
    complete_from_body(&mut attributes, &body);
    Ok(DecodedMessage {
        message_id: message.message_id.clone(),
        body,
        attributes,
        offloaded_from,
    })
}

/// Fills the `Meta` fields a Data Model message's attributes lack from its
/// body, each as the destination would have written it (the same rules,
/// the same bounds). Only for a message the destination read a `Meta` from
/// (some `Meta` attribute, no `RedoxEnvelope`), and only when a field is
/// missing: a record without Redox's attributes is never read for them.
fn complete_from_body(attributes: &mut RedoxAttributes, body: &[u8]) {
    let meta = &attributes.meta;
    if attributes.envelope.is_some() || *meta == RedoxMeta::default() {
        return;
    }
    let complete = meta.data_model.is_some()
        && meta.event_type.is_some()
        && meta.delivery_id().is_some()
        && meta.destination_id.is_some()
        && meta.source_id.is_some()
        && meta.test.is_some()
        && meta.facility_code.is_some()
        && meta.event_date_time.is_some();
    if complete {
        return;
    }
    if let Some(mut from_body) = data_model_meta(body) {
        from_body.retain_text(is_attribute_safe);
        attributes.meta.complete_from(from_body);
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]
mod tests {
    use super::*;
    use crate::sink::sqs::EXTENDED_POINTER_CLASS;

    fn message(body: &str, attributes: &[(&str, &str)]) -> QueueMessage {
        QueueMessage {
            message_id: "m-1".into(),
            body: body.into(),
            attributes: attributes
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    const POINTER: &str = r#"["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"b","s3Key":"redox/2026-01-01/k"}]"#;

    #[test]
    fn an_inline_body_is_returned_as_it_is() {
        assert_eq!(
            stored_body(&message("{\"Meta\":{}}", &[])).unwrap(),
            StoredBody::Inline(Bytes::from_static(b"{\"Meta\":{}}"))
        );
    }

    #[test]
    fn a_base64_body_is_decoded_to_its_bytes() {
        let encoded = BASE64.encode(b"a\x00b\xff");
        assert_eq!(
            stored_body(&message(&encoded, &[("ContentEncoding", "base64")])).unwrap(),
            StoredBody::Inline(Bytes::from_static(b"a\x00b\xff"))
        );
        assert!(matches!(
            stored_body(&message("not base64!", &[("ContentEncoding", "base64")])),
            Err(DecodeError::BadBase64)
        ));
        assert!(matches!(
            stored_body(&message("x", &[("ContentEncoding", "gzip")])),
            Err(DecodeError::UnknownContentEncoding(e)) if e == "gzip"
        ));
    }

    #[test]
    fn a_pointer_is_read_with_either_size_attribute() {
        let expected = StoredBody::Offloaded {
            location: S3Location {
                bucket: "b".into(),
                key: "redox/2026-01-01/k".into(),
            },
            declared_size: 1234,
        };
        for attribute in ["ExtendedPayloadSize", "SQSLargePayloadSize"] {
            assert_eq!(
                stored_body(&message(POINTER, &[(attribute, "1234")])).unwrap(),
                expected
            );
        }
        let legacy = POINTER.replace(EXTENDED_POINTER_CLASS, LEGACY_POINTER_CLASS);
        assert!(stored_body(&message(&legacy, &[("ExtendedPayloadSize", "1234")])).is_ok());
    }

    #[test]
    fn a_pointer_shaped_body_without_a_size_attribute_is_inline() {
        assert_eq!(
            stored_body(&message(POINTER, &[])).unwrap(),
            StoredBody::Inline(Bytes::from_static(POINTER.as_bytes()))
        );
    }

    #[test]
    fn malformed_pointers_and_sizes_are_named() {
        for body in [
            "not json",
            "{}",
            "[]",
            r#"["software.amazon.payloadoffloading.PayloadS3Pointer"]"#,
            r#"["other.Class",{"s3BucketName":"b","s3Key":"k"}]"#,
            r#"["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3Key":"k"}]"#,
            r#"["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"b","s3Key":""}]"#,
            r#"["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"b","s3Key":7}]"#,
            r#"["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"b","s3Key":"k"},1]"#,
        ] {
            let result = stored_body(&message(body, &[("ExtendedPayloadSize", "5")]));
            assert!(
                matches!(result, Err(DecodeError::MalformedPointer(_))),
                "{body}: {result:?}"
            );
        }
        for size in ["", "-1", "1.5", "1e3", " 12", "99999999999999999999999"] {
            let result = stored_body(&message(POINTER, &[("SQSLargePayloadSize", size)]));
            assert!(
                matches!(
                    result,
                    Err(DecodeError::BadPayloadSize {
                        attribute: "SQSLargePayloadSize"
                    })
                ),
                "{size:?}: {result:?}"
            );
        }
    }

    #[test]
    fn errors_never_quote_the_body() {
        let secret = "PHI-Jane-Doe-1970";
        for (body, attributes) in [
            (
                format!("[\"{secret}\"]"),
                vec![("ExtendedPayloadSize", "1")],
            ),
            (format!("{secret}!!"), vec![("ContentEncoding", "base64")]),
            (secret.to_owned(), vec![("ExtendedPayloadSize", "1")]),
        ] {
            let error = stored_body(&message(&body, &attributes)).unwrap_err();
            assert!(!error.to_string().contains(secret), "{error}");
            assert!(!format!("{error:?}").contains(secret), "{error:?}");
        }
    }

    #[test]
    fn attributes_come_back_typed_and_the_log_id_is_the_idempotency_key() {
        let queued = message(
            "{}",
            &[
                ("RedoxDataModel", "PatientAdmin"),
                ("RedoxEventType", "Arrival"),
                ("RedoxLogId", "log-1"),
                ("RedoxAttemptId", "attempt-1"),
                ("RedoxSourceId", "source-1"),
                ("RedoxTest", "true"),
                ("RedoxEnvelope", "data-model"),
                ("AuthMethod", "sigv4"),
                ("ContentType", "application/json"),
                ("RedoxDestinationId", "destination-1"),
                ("RedoxFacilityCode", "RES"),
                ("RedoxEventDateTime", "2026-11-28T10:00:00Z"),
            ],
        );
        let attributes = RedoxAttributes::from_message(&queued);
        assert_eq!(
            attributes,
            RedoxAttributes {
                meta: RedoxMeta {
                    data_model: Some("PatientAdmin".into()),
                    event_type: Some("Arrival".into()),
                    log_id: Some("log-1".into()),
                    attempt_id: Some("attempt-1".into()),
                    source_id: Some("source-1".into()),
                    test: Some(true),
                    message_id: None,
                    destination_id: Some("destination-1".into()),
                    facility_code: Some("RES".into()),
                    event_date_time: Some("2026-11-28T10:00:00Z".into()),
                },
                envelope: Some("data-model".into()),
                auth_method: Some(AuthMethod::Sigv4),
                content_type: Some("application/json".into()),
            }
        );
        let mut decoded = DecodedMessage {
            message_id: "m".into(),
            body: Bytes::from_static(b"{}"),
            attributes,
            offloaded_from: None,
        };
        assert_eq!(decoded.idempotency_key(), "redox-log:log-1");
        decoded.attributes.meta.log_id = None;
        assert_eq!(
            decoded.idempotency_key(),
            format!("sha256:{}", hex::encode(Sha256::digest(b"{}")))
        );
    }

    #[test]
    fn an_older_envelope_is_keyed_on_its_message_id_and_destination() {
        let queued = message(
            "{}",
            &[
                ("RedoxDataModel", "Clinical Summary"),
                ("RedoxEventType", "PatientPush"),
                ("RedoxMessageId", "4815162342"),
                ("RedoxDestinationId", "dest-1"),
            ],
        );
        let attributes = RedoxAttributes::from_message(&queued);
        let id = attributes.delivery_id().expect("an id");
        assert_eq!(id.source(), "Meta.Message.ID");
        assert_eq!(
            id,
            DeliveryId::Message {
                message_id: "4815162342".into(),
                destination_id: Some("dest-1".into())
            }
        );
        let decoded = DecodedMessage {
            message_id: "m".into(),
            body: Bytes::from_static(b"{}"),
            attributes,
            offloaded_from: None,
        };
        assert_eq!(decoded.idempotency_key(), "redox-message:4815162342:dest-1");
        assert!(
            decoded
                .attributes
                .is_event("ClinicalSummary", "PatientPush")
        );
        assert!(
            decoded
                .attributes
                .is_event("clinical summary", "patientpush")
        );
        assert!(
            !decoded
                .attributes
                .is_event("ClinicalSummary", "PatientQuery")
        );
    }

    /// Inline messages only: no request ever reaches this client (the
    /// batch tests use it too).
    pub(super) fn inline_only() -> PayloadStore {
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .region(aws_sdk_s3::config::Region::new("us-east-1"))
                .build(),
        );
        PayloadStore::new(
            s3,
            payload::PayloadSettings {
                origin: PayloadOrigin::new("payloads", "redox/").unwrap(),
                timeout: payload::DEFAULT_FETCH_TIMEOUT,
            },
        )
    }

    const DATA_MODEL_BODY: &str = r#"{"Meta":{"DataModel":"PatientAdmin","EventType":"Arrival",
        "EventDateTime":"2026-11-28T10:00:00.000Z","Test":true,"Source":{"ID":"source-1"},
        "Destinations":[{"ID":"dest-1"}],"Logs":[{"ID":"log-1","AttemptID":"attempt-1"}],
        "FacilityCode":"RES"},"Patient":{}}"#;

    #[tokio::test]
    async fn meta_fields_the_queue_had_no_room_for_are_read_from_the_body() {
        // As the destination queues a base64 body: no room for the event time.
        let queued = message(
            &BASE64.encode(DATA_MODEL_BODY),
            &[
                ("RedoxDataModel", "PatientAdmin"),
                ("RedoxEventType", "Arrival"),
                ("RedoxLogId", "log-1"),
                ("RedoxDestinationId", "dest-1"),
                ("RedoxSourceId", "source-1"),
                ("RedoxTest", "true"),
                ("AuthMethod", "token"),
                ("RedoxFacilityCode", "RES"),
                ("RedoxAttemptId", "attempt-1"),
                ("ContentEncoding", "base64"),
            ],
        );
        let decoded = decode(&queued, &inline_only()).await.unwrap();
        let meta = &decoded.attributes.meta;
        assert_eq!(
            meta.event_date_time.as_deref(),
            Some("2026-11-28T10:00:00.000Z")
        );
        assert_eq!(meta.log_id.as_deref(), Some("log-1"));
        assert_eq!(decoded.idempotency_key(), "redox-log:log-1");
        // A message queued by an older destination: the new fields from the body.
        let older = message(
            DATA_MODEL_BODY,
            &[("RedoxDataModel", "PatientAdmin"), ("AuthMethod", "token")],
        );
        let meta = decode(&older, &inline_only())
            .await
            .unwrap()
            .attributes
            .meta;
        assert_eq!(meta.destination_id.as_deref(), Some("dest-1"));
        assert_eq!(meta.facility_code.as_deref(), Some("RES"));
        assert_eq!(meta.data_model.as_deref(), Some("PatientAdmin"));
        // A record without Redox's attributes is never read for them.
        let foreign = message(DATA_MODEL_BODY, &[("AuthMethod", "token")]);
        let meta = decode(&foreign, &inline_only())
            .await
            .unwrap()
            .attributes
            .meta;
        assert_eq!(meta, RedoxMeta::default());
        // Nor is a push the destination found no Meta in.
        let not_meta = message(DATA_MODEL_BODY, &[("RedoxEnvelope", "json-without-meta")]);
        let meta = decode(&not_meta, &inline_only())
            .await
            .unwrap()
            .attributes
            .meta;
        assert_eq!(meta, RedoxMeta::default());
    }
}
