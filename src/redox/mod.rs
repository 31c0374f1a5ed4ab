//! What Redox sent: a verification handshake or a push, and for a push the
//! envelope fields that become queue attributes ([`meta`]) and whether it
//! is a synchronous request ([`event_types`]).
//!
//! Classification never refuses a push for its shape (Redox would retry it
//! forever): a body that is not JSON, or JSON without `Meta`, is a push with
//! no Redox attributes. Only the first level of the body and the `Meta`
//! object are deserialised; everything else is skipped without allocation.
//! No I/O happens here.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

pub mod event_types;
pub mod meta;

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::Value;

use crate::inbound::InboundRequest;

pub use meta::{DeliveryId, RedoxMeta, extract_meta};

/// The longest challenge echoed back; Redox sends a UUID (36 characters).
pub const MAX_CHALLENGE_LEN: usize = 128;

/// The largest body that can be a verification handshake. Redox's is a
/// JSON object of two short strings (about 100 bytes); a larger body is a
/// push, whatever it holds. It bounds what a request without a credential
/// in its head may send: server mode reads no more of such a body.
pub const MAX_HANDSHAKE_BYTES: usize = 16 * 1024;

/// A verification handshake (SPEC 2): a challenge to echo and the token
/// carried in the body (POST) or query (GET).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeRequest {
    pub challenge: String,
    pub token: Option<String>,
}

/// Why a handshake cannot be answered, even with a valid token.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    #[error(
        "the challenge is empty, longer than {MAX_CHALLENGE_LEN} characters, or has characters outside A-Z a-z 0-9 - . _ ~"
    )]
    InvalidChallenge,
}

impl HandshakeRequest {
    /// The challenge, if it is safe to reflect: only URL-unreserved
    /// characters, so it can never be read as markup or split a header.
    pub fn checked_challenge(&self) -> Result<&str, HandshakeError> {
        let c = &self.challenge;
        let safe = !c.is_empty()
            && c.len() <= MAX_CHALLENGE_LEN
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if safe {
            Ok(c)
        } else {
            Err(HandshakeError::InvalidChallenge)
        }
    }
}

/// What kind of body a push carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Envelope {
    /// A Data Model message with a `Meta` object.
    DataModel(RedoxMeta),
    /// A FHIR `Bundle` of type `message`; `event` from its `MessageHeader`.
    FhirBundle { event: Option<String> },
    /// Valid JSON without `Meta`.
    JsonWithoutMeta,
    /// Not JSON at all.
    NotJson,
}

impl Envelope {
    /// The `RedoxEnvelope` attribute value, absent for Data Model messages.
    pub fn attribute_value(&self) -> Option<&'static str> {
        match self {
            Envelope::DataModel(_) => None,
            Envelope::FhirBundle { .. } => Some("fhir-bundle"),
            Envelope::JsonWithoutMeta => Some("json-without-meta"),
            Envelope::NotJson => Some("not-json"),
        }
    }

    pub fn meta(&self) -> Option<&RedoxMeta> {
        match self {
            Envelope::DataModel(meta) => Some(meta),
            _ => None,
        }
    }

    /// A synchronous request of Redox's Data Model API (a query, a
    /// `Scheduling.Booked`, an `SSO.Sign-on`, …: [`event_types`]) expects
    /// an answer built from data, which a queue cannot give.
    pub fn is_synchronous_query(&self) -> bool {
        self.meta().is_some_and(|m| {
            matches!((&m.data_model, &m.event_type), (Some(data_model), Some(event_type))
                if event_types::is_synchronous_request(data_model, event_type))
        })
    }
}

/// A request, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    Handshake(HandshakeRequest),
    Push(Envelope),
}

/// The first level of a JSON object body; values are kept only where needed.
/// The three members that tell a handshake from a push are kept whenever
/// they are present, `null` included: the handshake is recognised by which
/// members the object has, not by what they hold.
#[derive(Deserialize)]
struct TopLevel {
    #[serde(rename = "Meta", default, deserialize_with = "present")]
    meta: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    challenge: Option<Value>,
    #[serde(rename = "verification-token", default, deserialize_with = "present")]
    verification_token: Option<Value>,
    #[serde(rename = "resourceType")]
    resource_type: Option<Value>,
    #[serde(rename = "type")]
    bundle_type: Option<Value>,
    #[serde(default, deserialize_with = "first_element")]
    entry: Option<Value>,
}

/// `Some` for a member that is present, whatever its value.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// Keeps the first element of a JSON array and skips the rest unread.
fn first_element<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    struct FirstVisitor;
    impl<'de> Visitor<'de> for FirstVisitor {
        type Value = Option<Value>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let first = seq.next_element::<Value>()?;
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(first)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            IgnoredAny::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    deserializer.deserialize_any(FirstVisitor)
}

/// Classifies a request whose method is already known to be POST or GET.
pub fn classify(request: &InboundRequest) -> Classified {
    if request.method == "GET" {
        let pairs = request.query_pairs();
        let find = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        return Classified::Handshake(HandshakeRequest {
            challenge: find("challenge").unwrap_or_default(),
            token: find("verification-token"),
        });
    }
    // serde reads a struct from a JSON array too (members by position), so
    // only a body that opens as an object is read member by member.
    let is_object = request.body.trim_ascii_start().first() == Some(&b'{');
    match serde_json::from_slice::<TopLevel>(&request.body) {
        Ok(top) if is_object && request.body.len() > MAX_HANDSHAKE_BYTES => classify_push(top),
        Ok(top) if is_object => classify_json(top),
        _ if serde_json::from_slice::<IgnoredAny>(&request.body).is_ok() => {
            Classified::Push(Envelope::JsonWithoutMeta)
        }
        _ => Classified::Push(Envelope::NotJson),
    }
}

fn classify_json(top: TopLevel) -> Classified {
    // SPEC 3.2: a POST handshake is an object with both `verification-token`
    // and `challenge` and no `Meta`. Any other object is a push, so a message
    // that merely has a `challenge` member is queued, never swallowed.
    if let (None, Some(challenge), Some(token)) =
        (&top.meta, &top.challenge, &top.verification_token)
    {
        return Classified::Handshake(HandshakeRequest {
            // A challenge that is not a string can never be echoed safely.
            challenge: challenge.as_str().map(str::to_owned).unwrap_or_default(),
            // Only a string is a copy of the token; the headers may still
            // carry one.
            token: token.as_str().map(str::to_owned),
        });
    }
    classify_push(top)
}

/// A JSON object that is not a handshake: a Data Model message, a FHIR
/// message bundle, or other JSON.
fn classify_push(top: TopLevel) -> Classified {
    if let Some(meta) = top.meta.filter(|meta| !meta.is_null()) {
        return Classified::Push(Envelope::DataModel(extract_meta(&meta)));
    }
    let is_message_bundle = top.resource_type.as_ref().and_then(Value::as_str) == Some("Bundle")
        && top.bundle_type.as_ref().and_then(Value::as_str) == Some("message");
    if is_message_bundle {
        let header = top.entry.as_ref().and_then(|e| e.get("resource"));
        let event = header
            .filter(|r| r.get("resourceType").and_then(Value::as_str) == Some("MessageHeader"))
            .and_then(|r| {
                r.get("eventUri")
                    .and_then(Value::as_str)
                    .or_else(|| r.pointer("/eventCoding/code").and_then(Value::as_str))
            })
            .map(str::to_owned);
        return Classified::Push(Envelope::FhirBundle { event });
    }
    Classified::Push(Envelope::JsonWithoutMeta)
}

/// The `Meta` fields of a queued body, read as classification reads them:
/// `None` unless the body is a JSON object with a `Meta` object. For a
/// consumer, which has the body but not always every attribute.
pub fn data_model_meta(body: &[u8]) -> Option<RedoxMeta> {
    if body.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    let top = serde_json::from_slice::<TopLevel>(body).ok()?;
    top.meta
        .filter(Value::is_object)
        .map(|meta| extract_meta(&meta))
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
    use crate::inbound::{FrontDoor, Origin};

    fn post(body: &str) -> InboundRequest {
        InboundRequest {
            method: "POST".into(),
            raw_path: "/".into(),
            raw_query: String::new(),
            headers: vec![],
            body: bytes::Bytes::copy_from_slice(body.as_bytes()),
            origin: Origin::new(FrontDoor::LocalServer),
        }
    }

    #[test]
    fn post_handshake_is_recognised() {
        let req = post(r#"{"verification-token":"tok","challenge":"5c2b-11"}"#);
        assert_eq!(
            classify(&req),
            Classified::Handshake(HandshakeRequest {
                challenge: "5c2b-11".into(),
                token: Some("tok".into())
            })
        );
    }

    #[test]
    fn a_challenge_next_to_meta_is_a_push() {
        let req = post(r#"{"challenge":"x","Meta":{"DataModel":"PatientAdmin"}}"#);
        assert!(matches!(
            classify(&req),
            Classified::Push(Envelope::DataModel(_))
        ));
    }

    #[test]
    fn a_challenge_without_the_token_member_is_a_push() {
        for body in [
            r#"{"challenge":"5c2b-11"}"#,
            r#"{"challenge":"5c2b-11","Patient":{"Identifiers":[]}}"#,
            r#"{"verification-token":"tok"}"#,
        ] {
            assert_eq!(
                classify(&post(body)),
                Classified::Push(Envelope::JsonWithoutMeta),
                "{body}"
            );
        }
    }

    #[test]
    fn both_handshake_members_next_to_meta_are_a_push() {
        for meta in [r#"{"DataModel":"PatientAdmin"}"#, "null", "[]"] {
            let body = format!(r#"{{"verification-token":"tok","challenge":"c","Meta":{meta}}}"#);
            assert!(
                matches!(classify(&post(&body)), Classified::Push(_)),
                "{body}"
            );
        }
    }

    #[test]
    fn a_handshake_is_recognised_by_its_members_whatever_they_hold() {
        // The values are judged later: a challenge that is not a string is
        // refused, and only a string token is a copy of the token.
        let req = post(r#"{"verification-token":null,"challenge":7,"x":1}"#);
        assert_eq!(
            classify(&req),
            Classified::Handshake(HandshakeRequest {
                challenge: String::new(),
                token: None
            })
        );
    }

    #[test]
    fn an_array_is_never_read_as_members_by_position() {
        for body in [
            r#"[null,"5c2b-11","tok",null,null]"#,
            r#"[{"DataModel":"PatientAdmin"},null,null,null,null,null]"#,
            r#"  ["x"]"#,
        ] {
            assert_eq!(
                classify(&post(body)),
                Classified::Push(Envelope::JsonWithoutMeta),
                "{body}"
            );
        }
    }

    #[test]
    fn meta_fields_become_attributes() {
        let req = post(
            r#"{"Meta":{"DataModel":"PatientAdmin","EventType":"Arrival","Test":true,
                "Source":{"ID":"7ce6f387-c33c-417d-8682-81e83628cbd9","Name":"Redox Dev Tools"},
                "Logs":[{"ID":"d9f5d293-7110-461e-a875-3beb089e79f3","AttemptID":"925d1617"}]},
                "Patient":{}}"#,
        );
        let Classified::Push(Envelope::DataModel(meta)) = classify(&req) else {
            panic!("not a data model push")
        };
        assert_eq!(meta.data_model.as_deref(), Some("PatientAdmin"));
        assert_eq!(meta.event_type.as_deref(), Some("Arrival"));
        assert_eq!(meta.test, Some(true));
        assert_eq!(
            meta.source_id.as_deref(),
            Some("7ce6f387-c33c-417d-8682-81e83628cbd9")
        );
        assert_eq!(
            meta.log_id.as_deref(),
            Some("d9f5d293-7110-461e-a875-3beb089e79f3")
        );
        assert_eq!(meta.attempt_id.as_deref(), Some("925d1617"));
    }

    #[test]
    fn odd_shapes_are_pushes_without_attributes() {
        assert_eq!(
            classify(&post("not json")),
            Classified::Push(Envelope::NotJson)
        );
        assert_eq!(
            classify(&post("[1,2]")),
            Classified::Push(Envelope::JsonWithoutMeta)
        );
        assert_eq!(
            classify(&post(r#"{"a":1}"#)),
            Classified::Push(Envelope::JsonWithoutMeta)
        );
        let Classified::Push(Envelope::DataModel(meta)) =
            classify(&post(r#"{"Meta":{"DataModel":5,"Logs":"x","Source":[]}}"#))
        else {
            panic!("Meta of odd shape is still a data model push")
        };
        assert_eq!(meta.data_model.as_deref(), Some("5"));
        assert_eq!(meta.log_id, None);
    }

    #[test]
    fn fhir_message_bundle_event_is_read_from_its_header() {
        let req = post(
            r#"{"resourceType":"Bundle","type":"message","entry":[
                {"resource":{"resourceType":"MessageHeader","eventUri":"https://fhir.redoxengine.com/EventDefinition/PatientAdminNewPatient"}},
                {"resource":{"resourceType":"Patient"}}]}"#,
        );
        assert_eq!(
            classify(&req),
            Classified::Push(Envelope::FhirBundle {
                event: Some(
                    "https://fhir.redoxengine.com/EventDefinition/PatientAdminNewPatient".into()
                )
            })
        );
    }

    #[test]
    fn synchronous_requests_are_known_by_their_pair() {
        let push = |data_model: &str, event_type: &str| {
            let body =
                serde_json::json!({"Meta": {"DataModel": data_model, "EventType": event_type}});
            let Classified::Push(envelope) = classify(&post(&body.to_string())) else {
                panic!("not a push")
            };
            envelope.is_synchronous_query()
        };
        assert!(push("Scheduling", "Booked"));
        assert!(push("Clinical Summary", "PatientQuery"));
        assert!(!push("Scheduling", "New"));
        assert!(!push("Clinical Summary", "PatientQueryResponse"));
        // A name pattern decides nothing: a pair Redox does not have is queued.
        assert!(!push("PatientAdmin", "ArrivalQuery"));
        let Classified::Push(no_data_model) =
            classify(&post(r#"{"Meta":{"EventType":"PatientQuery"}}"#))
        else {
            panic!("not a push")
        };
        assert!(!no_data_model.is_synchronous_query());
    }

    #[test]
    fn a_queued_body_gives_back_its_meta_fields() {
        let meta = data_model_meta(
            br#" {"Patient":{},"Meta":{"DataModel":"Clinical Summary","Message":{"ID":42},
                 "Destinations":[{"ID":"d-1"}],"FacilityCode":"RES"}}"#,
        )
        .expect("a Data Model body");
        assert_eq!(meta.data_model.as_deref(), Some("Clinical Summary"));
        assert_eq!(meta.message_id.as_deref(), Some("42"));
        assert_eq!(meta.destination_id.as_deref(), Some("d-1"));
        assert_eq!(meta.facility_code.as_deref(), Some("RES"));
        for body in [
            &b"not json"[..],
            b"[{\"Meta\":{}}]",
            b"{\"Meta\":null}",
            b"{\"Meta\":\"x\"}",
            b"{\"resourceType\":\"Bundle\"}",
            b"{\"Meta\":{\"DataModel\":",
        ] {
            assert_eq!(
                data_model_meta(body),
                None,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn challenges_that_could_carry_markup_are_not_reflected() {
        let ok = HandshakeRequest {
            challenge: "0b1c2d3e-aaaa-4bbb-8ccc-123456789012".into(),
            token: None,
        };
        assert!(ok.checked_challenge().is_ok());
        for bad in [
            "",
            "<script>",
            "a b",
            "a\r\nSet-Cookie: x",
            &"a".repeat(129),
        ] {
            let h = HandshakeRequest {
                challenge: bad.into(),
                token: None,
            };
            assert_eq!(h.checked_challenge(), Err(HandshakeError::InvalidChallenge));
        }
    }
}
