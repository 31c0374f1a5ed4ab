//! The `Meta` fields of a Data Model push that travel beside it as queue
//! attributes, and the id that names one delivery of it.
//!
//! Each field has its own type rule; a value of any other type is treated
//! as absent, never guessed at. Text is kept as Redox sent it (no change of
//! case or spacing: an attribute always agrees with the body), and an id
//! sent as a JSON integer is written in decimal. Only `Meta` is read, never
//! a field that could carry patient data. No I/O.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use serde_json::Value;

/// Longest `Meta.Destinations[0].ID` kept (Redox's are 36-character UUIDs).
pub const MAX_DESTINATION_ID_LEN: usize = 128;
/// Longest `Meta.FacilityCode` kept (an EHR's code for a facility).
pub const MAX_FACILITY_CODE_LEN: usize = 64;
/// Longest `Meta.EventDateTime` kept (ISO 8601 with a fraction and an offset
/// is under 40 characters).
pub const MAX_EVENT_DATE_TIME_LEN: usize = 40;
/// `Meta.Message.ID` is a number: at most `u64::MAX`, 20 digits.
const MAX_MESSAGE_ID_DIGITS: usize = 20;

/// The Redox `Meta` fields that travel as queue attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedoxMeta {
    pub data_model: Option<String>,
    pub event_type: Option<String>,
    /// `Meta.Logs[0].ID`: Redox's log of this delivery, the same on every
    /// retry of it.
    pub log_id: Option<String>,
    /// `Meta.Logs[0].AttemptID`: changes on every attempt.
    pub attempt_id: Option<String>,
    pub source_id: Option<String>,
    pub test: Option<bool>,
    /// `Meta.Message.ID` (older envelopes; deprecated by Redox in favour of
    /// `Logs`): the record Redox made when the source sent the message, in
    /// decimal.
    pub message_id: Option<String>,
    /// `Meta.Destinations[0].ID`: which Redox destination it was sent to.
    pub destination_id: Option<String>,
    /// `Meta.FacilityCode`.
    pub facility_code: Option<String>,
    /// `Meta.EventDateTime`, as sent (ISO 8601).
    pub event_date_time: Option<String>,
}

/// The id that names one delivery of one Redox message: the same on every
/// retry of it, different for every other message or destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryId {
    /// `Meta.Logs[0].ID`. Redox makes one log per message and destination
    /// and retries within it (each retry a new `AttemptID`).
    Log(String),
    /// `Meta.Message.ID`, for older envelopes without `Logs`. Redox makes
    /// the message record once, when the source sends, before any delivery,
    /// so every retry carries it unchanged; but one source message sent to
    /// several destinations shares it, so the destination is part of the id.
    /// (`Meta.Transmission.ID`, Redox's record of the sending to one
    /// destination, is not used: Redox documents nothing about whether a
    /// retry keeps it.)
    Message {
        message_id: String,
        destination_id: Option<String>,
    },
}

impl DeliveryId {
    /// `redox-log:<Logs[0].ID>`, or `redox-message:<Message.ID>` followed
    /// by `:<Destinations[0].ID>` when there is one. The message id is
    /// digits only, so the two parts never run together.
    pub fn key(&self) -> String {
        match self {
            DeliveryId::Log(id) => format!("redox-log:{id}"),
            DeliveryId::Message {
                message_id,
                destination_id: Some(destination),
            } => format!("redox-message:{message_id}:{destination}"),
            DeliveryId::Message {
                message_id,
                destination_id: None,
            } => format!("redox-message:{message_id}"),
        }
    }

    /// Which envelope field it came from.
    pub fn source(&self) -> &'static str {
        match self {
            DeliveryId::Log(_) => "Meta.Logs[0].ID",
            DeliveryId::Message { .. } => "Meta.Message.ID",
        }
    }
}

impl RedoxMeta {
    /// `Logs[0].ID` when the envelope has it, else `Message.ID` with the
    /// destination.
    pub fn delivery_id(&self) -> Option<DeliveryId> {
        if let Some(log_id) = &self.log_id {
            return Some(DeliveryId::Log(log_id.clone()));
        }
        self.message_id
            .as_ref()
            .map(|message_id| DeliveryId::Message {
                message_id: message_id.clone(),
                destination_id: self.destination_id.clone(),
            })
    }

    /// Leaves out every text field `keep` refuses.
    pub fn retain_text(&mut self, keep: impl Fn(&str) -> bool) {
        for field in [
            &mut self.data_model,
            &mut self.event_type,
            &mut self.log_id,
            &mut self.attempt_id,
            &mut self.source_id,
            &mut self.message_id,
            &mut self.destination_id,
            &mut self.facility_code,
            &mut self.event_date_time,
        ] {
            if field.as_deref().is_some_and(|value| !keep(value)) {
                *field = None;
            }
        }
    }

    /// Fills every field this one lacks from `other`.
    pub fn complete_from(&mut self, other: RedoxMeta) {
        fn fill<T>(mine: &mut Option<T>, theirs: Option<T>) {
            if mine.is_none() {
                *mine = theirs;
            }
        }
        fill(&mut self.data_model, other.data_model);
        fill(&mut self.event_type, other.event_type);
        fill(&mut self.log_id, other.log_id);
        fill(&mut self.attempt_id, other.attempt_id);
        fill(&mut self.source_id, other.source_id);
        fill(&mut self.test, other.test);
        fill(&mut self.message_id, other.message_id);
        fill(&mut self.destination_id, other.destination_id);
        fill(&mut self.facility_code, other.facility_code);
        fill(&mut self.event_date_time, other.event_date_time);
    }
}

/// Text as sent, or a whole number in decimal. A fraction, an exponent or a
/// number beyond `u64` is no id (JSON parsers round such numbers, so two ids
/// could collide), and neither is anything else.
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        _ => None,
    }
}

/// `Meta.Message.ID`: a whole number (Redox's schemas say number), or the
/// same digits as a string.
fn message_id(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        Value::String(s)
            if (1..=MAX_MESSAGE_ID_DIGITS).contains(&s.len())
                && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(s.clone())
        }
        _ => None,
    }
}

/// A string of 1..=`max` bytes, every one allowed by `allowed`.
fn bounded(value: Option<&Value>, max: usize, allowed: fn(u8) -> bool) -> Option<String> {
    match value? {
        Value::String(s) if (1..=max).contains(&s.len()) && s.bytes().all(allowed) => {
            Some(s.clone())
        }
        _ => None,
    }
}

/// An id: printable ASCII without spaces.
fn id_byte(b: u8) -> bool {
    b.is_ascii_graphic()
}

/// A code: printable ASCII, spaces included.
fn code_byte(b: u8) -> bool {
    b == b' ' || b.is_ascii_graphic()
}

/// A date and time: digits and ISO 8601's separators, nothing that could
/// spell a word.
fn date_time_byte(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b'-' | b':' | b'.' | b'+' | b'T' | b'Z' | b't' | b'z')
}

fn event_date_time(value: Option<&Value>) -> Option<String> {
    bounded(value, MAX_EVENT_DATE_TIME_LEN, date_time_byte)
        .filter(|s| s.len() >= 4 && s.bytes().take(4).all(|b| b.is_ascii_digit()))
}

/// Reads the attribute fields of `Meta`, leaving out any that is missing or
/// of an unexpected type.
pub fn extract_meta(meta: &Value) -> RedoxMeta {
    let first_log = meta.get("Logs").and_then(|logs| logs.get(0));
    RedoxMeta {
        data_model: text(meta.get("DataModel")),
        event_type: text(meta.get("EventType")),
        log_id: text(first_log.and_then(|l| l.get("ID"))),
        attempt_id: text(first_log.and_then(|l| l.get("AttemptID"))),
        source_id: text(meta.pointer("/Source/ID")),
        test: meta.get("Test").and_then(Value::as_bool),
        message_id: message_id(meta.pointer("/Message/ID")),
        destination_id: bounded(
            meta.get("Destinations").and_then(|d| d.get(0)?.get("ID")),
            MAX_DESTINATION_ID_LEN,
            id_byte,
        ),
        facility_code: bounded(meta.get("FacilityCode"), MAX_FACILITY_CODE_LEN, code_byte)
            .filter(|code| !code.trim().is_empty()),
        event_date_time: event_date_time(meta.get("EventDateTime")),
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_sent_as_whole_numbers_are_written_in_decimal() {
        let meta = extract_meta(&json!({
            "Logs": [{"ID": 123456789, "AttemptID": 7}],
            "Source": {"ID": 42},
            "Message": {"ID": 18446744073709551615u64}
        }));
        assert_eq!(meta.log_id.as_deref(), Some("123456789"));
        assert_eq!(meta.attempt_id.as_deref(), Some("7"));
        assert_eq!(meta.source_id.as_deref(), Some("42"));
        assert_eq!(meta.message_id.as_deref(), Some("18446744073709551615"));
    }

    #[test]
    fn numbers_that_are_no_id_are_left_out() {
        // Beyond u64 serde_json keeps only a rounded float: two ids could
        // become one.
        let body = r#"{"Logs":[{"ID":123456789012345678901234,"AttemptID":1.5}],
                       "Message":{"ID":-3},"Source":{"ID":1e3}}"#;
        let meta = extract_meta(&serde_json::from_str(body).unwrap());
        assert_eq!(meta.log_id, None);
        assert_eq!(meta.attempt_id, None);
        assert_eq!(meta.message_id, None);
        assert_eq!(meta.source_id, None);
    }

    #[test]
    fn a_message_id_is_a_number_or_its_digits() {
        for (value, expected) in [
            (json!(4815162342u64), Some("4815162342")),
            (json!("4815162342"), Some("4815162342")),
            (json!("48151623x"), None),
            (json!(""), None),
            (json!("123456789012345678901"), None),
            (json!(1.0), None),
            (json!(null), None),
            (json!({"ID": 1}), None),
        ] {
            let meta = extract_meta(&json!({ "Message": { "ID": value } }));
            assert_eq!(meta.message_id.as_deref(), expected, "{value}");
        }
    }

    #[test]
    fn routing_fields_have_strict_types_and_bounds() {
        let meta = extract_meta(&json!({
            "Destinations": [{"ID": "af394f14-b34a-464f-8d24-895f370af4c9"}, {"ID": "second"}],
            "FacilityCode": "RES Main",
            "EventDateTime": "2017-11-27T15:09:34.227Z"
        }));
        assert_eq!(
            meta.destination_id.as_deref(),
            Some("af394f14-b34a-464f-8d24-895f370af4c9")
        );
        assert_eq!(meta.facility_code.as_deref(), Some("RES Main"));
        assert_eq!(
            meta.event_date_time.as_deref(),
            Some("2017-11-27T15:09:34.227Z")
        );
        let long = "x".repeat(129);
        for meta in [
            json!({"Destinations": [{"ID": 7}], "FacilityCode": 12, "EventDateTime": 1511795374}),
            json!({"Destinations": [{"ID": "has space"}], "FacilityCode": "  ", "EventDateTime": "Jane Doe"}),
            json!({"Destinations": [{"ID": long}], "FacilityCode": "x".repeat(65), "EventDateTime": "2017-11-27T15:09:34.227Z and more"}),
            json!({"Destinations": {"ID": "not-a-list"}, "FacilityCode": "tab\there", "EventDateTime": "11-27"}),
            json!({"Destinations": [], "FacilityCode": "é", "EventDateTime": ""}),
        ] {
            let meta = extract_meta(&meta);
            assert_eq!(meta.destination_id, None, "{meta:?}");
            assert_eq!(meta.facility_code, None, "{meta:?}");
            assert_eq!(meta.event_date_time, None, "{meta:?}");
        }
    }

    #[test]
    fn the_delivery_id_is_the_log_id_else_the_message_id_with_its_destination() {
        let both = extract_meta(&json!({
            "Logs": [{"ID": "log-1"}], "Message": {"ID": 17}, "Destinations": [{"ID": "dest-1"}]
        }));
        assert_eq!(both.delivery_id(), Some(DeliveryId::Log("log-1".into())));
        assert_eq!(both.delivery_id().unwrap().key(), "redox-log:log-1");
        assert_eq!(both.delivery_id().unwrap().source(), "Meta.Logs[0].ID");

        let older = extract_meta(&json!({
            "Message": {"ID": 17}, "Transmission": {"ID": 99}, "Destinations": [{"ID": "dest-1"}]
        }));
        let id = older.delivery_id().unwrap();
        assert_eq!(id.key(), "redox-message:17:dest-1");
        assert_eq!(id.source(), "Meta.Message.ID");

        let no_destination = extract_meta(&json!({"Message": {"ID": "17"}}));
        assert_eq!(
            no_destination.delivery_id().unwrap().key(),
            "redox-message:17"
        );
        assert_eq!(
            extract_meta(&json!({"Transmission": {"ID": 99}})).delivery_id(),
            None
        );
    }

    #[test]
    fn retaining_leaves_out_the_refused_text_only() {
        let mut meta = extract_meta(&json!({
            "DataModel": "x".repeat(300), "EventType": "New", "Test": true,
            "Logs": [{"ID": "y".repeat(300)}]
        }));
        meta.retain_text(|v| v.len() <= 256);
        assert_eq!(meta.data_model, None);
        assert_eq!(meta.log_id, None);
        assert_eq!(meta.event_type.as_deref(), Some("New"));
        assert_eq!(meta.test, Some(true));
    }

    #[test]
    fn completing_fills_only_what_is_missing() {
        let mut mine = RedoxMeta {
            data_model: Some("Clinical Summary".into()),
            ..RedoxMeta::default()
        };
        mine.complete_from(RedoxMeta {
            data_model: Some("Other".into()),
            event_date_time: Some("2026-01-01".into()),
            test: Some(false),
            ..RedoxMeta::default()
        });
        assert_eq!(mine.data_model.as_deref(), Some("Clinical Summary"));
        assert_eq!(mine.event_date_time.as_deref(), Some("2026-01-01"));
        assert_eq!(mine.test, Some(false));
    }
}
