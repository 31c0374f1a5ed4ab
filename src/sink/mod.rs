//! Where accepted messages go: the [`Sink`] trait and the message it takes.
//!
//! A sink answers `Ok` only once the message is durable (an SQS message id,
//! an fsynced spool file); the front door acknowledges Redox only then. Sinks
//! never look at authentication and never log a body.

pub mod media_type;
pub mod spool;
pub mod sqs;
pub mod sqs_body;

use std::time::SystemTime;

use bytes::Bytes;

use crate::BoxFuture;
use crate::auth::AuthMethod;
use crate::redox::{DeliveryId, Envelope, RedoxMeta};
use crate::telemetry::metrics::Dependency;

/// SQS allows at most 10 message attributes per message.
pub const MAX_ATTRIBUTES: usize = 10;
/// Longest attribute value copied from a message; longer values are left out.
pub const MAX_ATTRIBUTE_VALUE_LEN: usize = 256;

/// An accepted push, ready to be queued.
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    /// The request body exactly as received.
    pub body: Bytes,
    /// Attribute names and values (SPEC 3.5), each only when known, most
    /// useful first ([`QueuedMessage::new`]), at most [`MAX_ATTRIBUTES`].
    /// A sink that must add one of its own keeps the first ones
    /// ([`QueuedMessage::attributes_leaving`]).
    pub attributes: Vec<(&'static str, String)>,
    pub received_at: SystemTime,
    /// The push's `content-type` header, whether or not the `ContentType`
    /// attribute had room (an offloaded body's S3 object gets it).
    pub content_type: Option<String>,
    /// The id of this delivery of this Redox message, stable across
    /// Redox's retries: `Logs[0].ID`, else `Message.ID` with the destination.
    pub redox_delivery: Option<DeliveryId>,
    /// Redox's `Meta.Source.ID`.
    pub redox_source_id: Option<String>,
    pub redox_event_type: Option<String>,
}

impl QueuedMessage {
    /// Builds the message and its attributes from what classification found.
    ///
    /// The attributes are listed most useful first; when more are known
    /// than SQS's ten allow (only a Data Model message can have that many),
    /// the last ones are left out: `ContentType` first (a Data Model push
    /// is JSON, and an offloaded body's S3 object keeps it), then
    /// `RedoxEventDateTime` (a time, not a route). Everything before them
    /// always fits, even beside the one attribute a sink may add.
    pub fn new(
        body: Bytes,
        envelope: &Envelope,
        auth_method: AuthMethod,
        content_type: Option<&str>,
        received_at: SystemTime,
    ) -> Self {
        let mut attributes: Vec<(&'static str, String)> = Vec::with_capacity(MAX_ATTRIBUTES + 2);
        let mut add = |name: &'static str, value: Option<&str>| {
            if let Some(value) = value.filter(|v| is_attribute_safe(v)) {
                attributes.push((name, value.to_owned()));
            }
        };
        let meta = envelope.meta();
        let event_type = match envelope {
            Envelope::FhirBundle { event } => event.clone(),
            _ => meta.and_then(|m| m.event_type.clone()),
        };
        let delivery = meta.and_then(RedoxMeta::delivery_id);
        add("RedoxDataModel", meta.and_then(|m| m.data_model.as_deref()));
        add("RedoxEventType", event_type.as_deref());
        match &delivery {
            Some(DeliveryId::Log(log_id)) => add("RedoxLogId", Some(log_id)),
            Some(DeliveryId::Message { message_id, .. }) => {
                add("RedoxMessageId", Some(message_id));
            }
            None => {}
        }
        add(
            "RedoxDestinationId",
            meta.and_then(|m| m.destination_id.as_deref()),
        );
        add("RedoxSourceId", meta.and_then(|m| m.source_id.as_deref()));
        add(
            "RedoxTest",
            meta.and_then(|m| m.test)
                .map(|t| if t { "true" } else { "false" }),
        );
        add("RedoxEnvelope", envelope.attribute_value());
        add("AuthMethod", Some(auth_method.as_str()));
        add(
            "RedoxFacilityCode",
            meta.and_then(|m| m.facility_code.as_deref()),
        );
        add("RedoxAttemptId", meta.and_then(|m| m.attempt_id.as_deref()));
        add(
            "RedoxEventDateTime",
            meta.and_then(|m| m.event_date_time.as_deref()),
        );
        add("ContentType", content_type);
        attributes.truncate(MAX_ATTRIBUTES);
        QueuedMessage {
            body,
            attributes,
            received_at,
            content_type: content_type.map(str::to_owned),
            redox_delivery: delivery,
            redox_source_id: meta.and_then(|m| m.source_id.clone()),
            redox_event_type: event_type,
        }
    }

    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The attributes that fit beside `reserved` attributes of the sink's
    /// own (`ContentEncoding`, `ExtendedPayloadSize`): the first ones.
    pub fn attributes_leaving(&self, reserved: usize) -> &[(&'static str, String)] {
        let keep = MAX_ATTRIBUTES.saturating_sub(reserved);
        self.attributes.get(..keep).unwrap_or(&self.attributes)
    }
}

/// Attribute values must be non-empty, short, and made of characters SQS
/// accepts; anything else is left out rather than failing the message (SQS
/// would refuse it on every retry, and Redox's feed would stop behind it).
pub fn is_attribute_safe(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_ATTRIBUTE_VALUE_LEN
        && value
            .chars()
            .all(|c| sqs_accepts_char(c) && !c.is_control())
}

/// `true` for the characters SQS accepts in a body or a String attribute
/// value, the XML 1.0 set: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD |
/// #x10000-#x10FFFF (surrogates cannot occur in a `char`).
pub fn sqs_accepts_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `true` when SQS accepts `body` as it is: UTF-8 made only of
/// [`sqs_accepts_char`] characters.
///
/// In valid UTF-8 (no surrogates can occur) that rule refuses only the ASCII
/// controls other than tab, LF and CR, and U+FFFE / U+FFFF (`EF BF BE`,
/// `EF BF BF`), so it is checked on bytes rather than decoded characters:
/// this runs over every queued body, up to 1 MiB.
pub fn sqs_accepts_body(body: &[u8]) -> bool {
    if std::str::from_utf8(body).is_err() {
        return false;
    }
    // Branch-free per byte, so the compiler can vectorise it; a chunk at a
    // time to stop early on a refused body.
    let mut lead_ef = false;
    for chunk in body.chunks(512) {
        let (refused, ef) = chunk.iter().fold((false, false), |(refused, ef), &b| {
            let control = b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r';
            (refused | control, ef | (b == 0xEF))
        });
        if refused {
            return false;
        }
        lead_ef |= ef;
    }
    !lead_ef
        || !body
            .windows(3)
            .any(|w| w[0] == 0xEF && w[1] == 0xBF && (w[2] == 0xBE || w[2] == 0xBF))
}

/// Why a sink could not make a message durable. Every variant is a 503 with
/// `Retry-After` unless stated: Redox keeps the message and retries.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("the queue did not accept the message: {0}")]
    Unavailable(String),
    #[error("the queue did not answer within {0:?}")]
    Timeout(std::time::Duration),
    #[error("the offloaded body could not be stored: {0}")]
    StorageUnavailable(String),
    #[error("S3 did not store the offloaded body within {0:?}")]
    StorageTimeout(std::time::Duration),
    #[error(
        "the message is {size} bytes, over the queue's limit of {limit}; set REDOX_PAYLOAD_BUCKET to offload large messages to S3"
    )]
    TooLarge { size: usize, limit: usize },
}

/// A durable destination for accepted messages.
pub trait Sink: Send + Sync {
    /// Makes the message durable and returns its id.
    fn put<'a>(&'a self, message: &'a QueuedMessage) -> BoxFuture<'a, Result<String, SinkError>>;
    /// Where messages go, for the start-up banner.
    fn describe(&self) -> String;
    /// Whether `put` sends this message's body through S3 (for metrics).
    fn offloads(&self, _message: &QueuedMessage) -> bool {
        false
    }
    /// The service this sink writes to, named in metrics when it fails.
    fn dependency(&self) -> Dependency {
        Dependency::Sqs
    }
}

impl SinkError {
    /// The service at fault, when it is not the sink's own.
    pub fn dependency(&self, sink: Dependency) -> Dependency {
        match self {
            SinkError::StorageUnavailable(_) | SinkError::StorageTimeout(_) => Dependency::S3,
            _ => sink,
        }
    }
}

/// A random UUID (version 4) for message ids.
pub fn new_message_id() -> String {
    let mut bytes = [0u8; 16];
    // The OS random source failing is not recoverable; fall back to the
    // clock so a message id is still unique enough to name a file.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        bytes = nanos.to_le_bytes();
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redox::RedoxMeta;

    #[test]
    fn sqs_body_characters_follow_the_xml_rule() {
        assert!(sqs_accepts_body(b"plain {\"json\": 1}\r\n\t"));
        assert!(sqs_accepts_body("émoji 😀".as_bytes()));
        assert!(!sqs_accepts_body(b"nul \0 inside"));
        assert!(!sqs_accepts_body(b"bell \x07"));
        assert!(!sqs_accepts_body(&[0xff, 0xfe]));
        assert!(!sqs_accepts_body("\u{FFFE}".as_bytes()));
        assert!(!sqs_accepts_body("a\u{FFFF}".as_bytes()));
        assert!(sqs_accepts_body(
            "\u{FFFD}\u{EFFF}\u{F000}\u{10FFFF}".as_bytes()
        ));
        assert!(!sqs_accepts_body(&[0xed, 0xa0, 0x80])); // an encoded surrogate
    }

    /// The byte-level check agrees with the rule stated on characters,
    /// including a refused character split across the 512-byte chunks.
    #[test]
    fn sqs_body_check_matches_the_character_rule() {
        fn xml_char(c: char) -> bool {
            matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        }
        let by_chars =
            |body: &[u8]| std::str::from_utf8(body).is_ok_and(|text| text.chars().all(xml_char));
        let mut samples: Vec<Vec<u8>> = (0u8..=0x7f).map(|b| vec![b'x', b, b'y']).collect();
        for c in [
            '\u{D7FF}',
            '\u{E000}',
            '\u{FFFD}',
            '\u{FFFE}',
            '\u{FFFF}',
            '\u{10000}',
            'é',
            '😀',
        ] {
            let mut text = "a".repeat(511);
            text.push(c);
            samples.push(text.into_bytes());
        }
        samples.push(vec![0xef, 0xbf]);
        samples.push(vec![0xef, 0xbf, 0xbd, 0xef, 0xbf, 0xbe]);
        for sample in samples {
            assert_eq!(sqs_accepts_body(&sample), by_chars(&sample), "{sample:x?}");
        }
    }

    #[test]
    fn the_sqs_character_set_is_exactly_the_xml_one() {
        let boundaries = [
            ('\u{0}', false),
            ('\u{8}', false),
            ('\u{9}', true),
            ('\u{A}', true),
            ('\u{B}', false),
            ('\u{C}', false),
            ('\u{D}', true),
            ('\u{E}', false),
            ('\u{1F}', false),
            ('\u{20}', true),
            ('\u{7F}', true),
            ('\u{D7FF}', true),
            ('\u{E000}', true),
            ('\u{FFFD}', true),
            ('\u{FFFE}', false),
            ('\u{FFFF}', false),
            ('\u{10000}', true),
            ('\u{10FFFF}', true),
        ];
        for (c, accepted) in boundaries {
            assert_eq!(sqs_accepts_char(c), accepted, "U+{:04X}", c as u32);
            let text = c.to_string();
            assert_eq!(
                sqs_accepts_body(text.as_bytes()),
                accepted,
                "U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn attribute_values_with_characters_sqs_refuses_are_left_out() {
        for refused in ["\u{FFFE}", "\u{FFFF}", "\u{8}", "\u{1F}", "\u{0}"] {
            let value = format!("Patient{refused}Admin");
            assert!(!is_attribute_safe(&value), "{value:?}");
            let meta = RedoxMeta {
                data_model: Some(value.clone()),
                event_type: Some(value.clone()),
                log_id: Some(value.clone()),
                attempt_id: Some(value.clone()),
                source_id: Some(value.clone()),
                message_id: None,
                destination_id: Some(value.clone()),
                facility_code: Some(value.clone()),
                event_date_time: Some(value),
                test: None,
            };
            let message = QueuedMessage::new(
                Bytes::new(),
                &Envelope::DataModel(meta),
                AuthMethod::Token,
                Some("application/json\u{FFFF}"),
                SystemTime::UNIX_EPOCH,
            );
            assert_eq!(
                message.attributes,
                vec![("AuthMethod", "token".to_owned())],
                "{refused:?}"
            );
        }
        // Every other attribute character is one SQS takes.
        for accepted in [
            "\u{D7FF}",
            "\u{E000}",
            "\u{FFFD}",
            "\u{10000}",
            "\u{10FFFF}",
            "é",
        ] {
            assert!(is_attribute_safe(&format!("x{accepted}")), "{accepted:?}");
        }
    }

    fn everything_known() -> RedoxMeta {
        RedoxMeta {
            data_model: Some("PatientAdmin".into()),
            event_type: Some("Arrival".into()),
            log_id: Some("log".into()),
            attempt_id: Some("attempt".into()),
            source_id: Some("source".into()),
            test: Some(true),
            message_id: Some("12345".into()),
            destination_id: Some("destination".into()),
            facility_code: Some("RES".into()),
            event_date_time: Some("2026-11-28T10:00:00.000Z".into()),
        }
    }

    fn names(attributes: &[(&'static str, String)]) -> Vec<&'static str> {
        attributes.iter().map(|(n, _)| *n).collect()
    }

    /// Every attribute a Data Model message can have, in the order kept:
    /// only `RedoxEventDateTime` and `ContentType` ever give way.
    const ORDER: [&str; 11] = [
        "RedoxDataModel",
        "RedoxEventType",
        "RedoxLogId",
        "RedoxDestinationId",
        "RedoxSourceId",
        "RedoxTest",
        "AuthMethod",
        "RedoxFacilityCode",
        "RedoxAttemptId",
        "RedoxEventDateTime",
        "ContentType",
    ];

    #[test]
    fn attributes_never_exceed_the_sqs_limit_and_the_least_useful_give_way() {
        let message = QueuedMessage::new(
            Bytes::from_static(b"{}"),
            &Envelope::DataModel(everything_known()),
            AuthMethod::Token,
            Some("application/json"),
            SystemTime::UNIX_EPOCH,
        );
        // Eleven known: ContentType has no room, but is kept for S3.
        assert_eq!(names(&message.attributes), ORDER[..10]);
        assert_eq!(message.content_type.as_deref(), Some("application/json"));
        // Beside ContentEncoding or ExtendedPayloadSize, the event time goes too.
        assert_eq!(names(message.attributes_leaving(1)), ORDER[..9]);
        assert_eq!(message.attribute("RedoxTest"), Some("true"));
        assert_eq!(message.attribute("RedoxEnvelope"), None);
        // With Logs, Message.ID is in the body only.
        assert_eq!(message.attribute("RedoxMessageId"), None);
        assert_eq!(message.redox_delivery, Some(DeliveryId::Log("log".into())));
    }

    #[test]
    fn an_older_envelope_carries_its_message_id_and_every_field_fits() {
        let meta = RedoxMeta {
            log_id: None,
            attempt_id: None,
            ..everything_known()
        };
        let message = QueuedMessage::new(
            Bytes::from_static(b"{}"),
            &Envelope::DataModel(meta),
            AuthMethod::Token,
            Some("application/json"),
            SystemTime::UNIX_EPOCH,
        );
        let mut expected: Vec<&str> = ORDER.to_vec();
        expected.retain(|n| *n != "RedoxAttemptId");
        expected[2] = "RedoxMessageId";
        assert_eq!(names(&message.attributes), expected);
        assert_eq!(message.attribute("RedoxMessageId"), Some("12345"));
        assert_eq!(names(message.attributes_leaving(1)), expected[..9]);
        assert_eq!(
            message.redox_delivery,
            Some(DeliveryId::Message {
                message_id: "12345".into(),
                destination_id: Some("destination".into())
            })
        );
    }

    #[test]
    fn a_push_without_meta_keeps_its_content_type() {
        let message = QueuedMessage::new(
            Bytes::from_static(b"MSH|"),
            &Envelope::NotJson,
            AuthMethod::Sigv4,
            Some("text/plain"),
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(
            names(message.attributes_leaving(1)),
            ["RedoxEnvelope", "AuthMethod", "ContentType"]
        );
    }

    #[test]
    fn unsafe_attribute_values_are_left_out() {
        let meta = RedoxMeta {
            data_model: Some("bad\u{0}value".into()),
            event_type: Some("x".repeat(300)),
            ..RedoxMeta::default()
        };
        let message = QueuedMessage::new(
            Bytes::new(),
            &Envelope::DataModel(meta),
            AuthMethod::Token,
            None,
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(message.attribute("RedoxDataModel"), None);
        assert_eq!(message.attribute("RedoxEventType"), None);
        assert_eq!(message.attribute("AuthMethod"), Some("token"));
    }

    #[test]
    fn message_ids_are_distinct_uuids() {
        let a = new_message_id();
        let b = new_message_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }
}
