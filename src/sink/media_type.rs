//! The `Content-Type` an offloaded body is stored under in S3.
//!
//! The push's own `Content-Type` is outside input: any text our checks
//! accept (the SQS attribute allows most of Unicode) may reach here. S3
//! signs its headers as bytes and refuses a value outside printable ASCII,
//! so sending such a value as it came would fail the same message on every
//! retry and stall Redox's feed behind it. What goes to S3 is therefore a
//! media type in RFC 9110's grammar made only of printable ASCII: the value
//! as sent when it is one, else its `type/subtype` when that part is, else
//! `application/octet-stream`. The original stays in the SQS `ContentType`
//! attribute. Pure, no I/O.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

/// What S3 gets when nothing of the sent value is a media type.
pub const FALLBACK_MEDIA_TYPE: &str = "application/octet-stream";

/// The longest value kept; SQS attributes the value came from stop at 256.
const MAX_MEDIA_TYPE_LEN: usize = 256;

/// The `Content-Type` to store in S3 for a push sent with `sent`.
pub fn s3_content_type(sent: &str) -> &str {
    let sent = sent.trim_matches(' ');
    let essence = sent.split(';').next().unwrap_or_default().trim_matches(' ');
    [sent, essence]
        .into_iter()
        .find(|candidate| candidate.len() <= MAX_MEDIA_TYPE_LEN && is_media_type(candidate))
        .unwrap_or(FALLBACK_MEDIA_TYPE)
}

/// RFC 9110 8.3.1: `type "/" subtype *( OWS ";" OWS [ parameter ] )`, with
/// OWS and quoted text limited to the space character and printable ASCII
/// (no tab, no obs-text).
pub fn is_media_type(value: &str) -> bool {
    let (essence, parameters) = match value.split_once(';') {
        Some((essence, rest)) => (essence.trim_end_matches(' '), Some(rest)),
        None => (value, None),
    };
    if !is_essence(essence) {
        return false;
    }
    let mut rest = match parameters {
        Some(rest) => rest,
        None => return true,
    };
    // Each step reads one `OWS [ parameter ] OWS` up to the next `;` or the
    // end; quoted strings may hold `;`, so they are walked, not split.
    loop {
        rest = rest.trim_start_matches(' ');
        if let Some(after) = rest.strip_prefix(';') {
            rest = after;
            continue;
        }
        if rest.is_empty() {
            return true;
        }
        let Some((name, value_and_more)) = rest.split_once('=') else {
            return false;
        };
        if !is_token(name) {
            return false;
        }
        let Some(after_value) = parameter_value_end(value_and_more) else {
            return false;
        };
        rest = after_value.trim_start_matches(' ');
        if !(rest.is_empty() || rest.starts_with(';')) {
            return false;
        }
    }
}

/// `type "/" subtype`, both tokens.
fn is_essence(value: &str) -> bool {
    value
        .split_once('/')
        .is_some_and(|(kind, subtype)| is_token(kind) && is_token(subtype))
}

/// What follows a parameter value (a token or a quoted string), or `None`
/// when there is no valid value.
fn parameter_value_end(text: &str) -> Option<&str> {
    if let Some(quoted) = text.strip_prefix('"') {
        let mut escaped = false;
        for (at, byte) in quoted.bytes().enumerate() {
            if !(0x20..=0x7e).contains(&byte) {
                return None;
            }
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => return quoted.get(at + 1..),
                (false, _) => {}
            }
        }
        return None;
    }
    let end = text
        .bytes()
        .position(|b| !is_tchar(b))
        .unwrap_or(text.len());
    if end == 0 {
        return None;
    }
    text.get(end..)
}

fn is_token(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(is_tchar)
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_made_of_printable_ascii_are_kept_as_sent() {
        for value in [
            "application/json",
            "application/fhir+json; charset=utf-8",
            "text/plain;charset=UTF-8",
            r#"multipart/related; type="application/dicom"; boundary="a;b c""#,
            r#"text/plain; title="say \"hi\"""#,
            "x-hl7/v2;;",
        ] {
            assert!(is_media_type(value), "{value}");
            assert_eq!(s3_content_type(value), value);
        }
        assert_eq!(s3_content_type("  text/plain  "), "text/plain");
    }

    #[test]
    fn a_bad_parameter_leaves_the_type_and_subtype() {
        for (value, stored) in [
            (r#"text/plain; charset="ütf-8""#, "text/plain"),
            ("application/json; charset=ütf-8", "application/json"),
            ("application/json; name=\"a\tb\"", "application/json"),
            ("application/json; charset", "application/json"),
            ("application/json; charset=", "application/json"),
            (r#"application/json; x="unterminated"#, "application/json"),
            ("application/json; a=b c", "application/json"),
        ] {
            assert!(!is_media_type(value), "{value}");
            assert_eq!(s3_content_type(value), stored, "{value}");
        }
    }

    #[test]
    fn anything_else_is_stored_as_octet_stream() {
        let long = format!("text/{}", "a".repeat(300));
        for value in [
            "",
            "json",
            "ünïcode/json",
            "text/",
            "/json",
            "text /plain",
            "text/plain\r\nx-amz-acl: public-read",
            "a/b/c",
            long.as_str(),
        ] {
            assert_eq!(s3_content_type(value), FALLBACK_MEDIA_TYPE, "{value:?}");
        }
    }

    #[test]
    fn what_goes_to_s3_is_always_printable_ascii_and_a_media_type() {
        for value in ["tëxt/plain", "text/plain; q=\"\u{7f}\"", "\u{0}/\u{0}", "é"] {
            let stored = s3_content_type(value);
            assert!(stored.bytes().all(|b| (0x20..=0x7e).contains(&b)));
            assert!(is_media_type(stored), "{stored}");
        }
    }
}
