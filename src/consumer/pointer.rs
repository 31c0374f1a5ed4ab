//! The Extended Client pointer: its format, and which pointers the consumer
//! follows.
//!
//! A pointer is outside input: anyone who can send to the queue can write
//! one, and following it reads an object with the consumer's own
//! credentials and hands it to the handler as a Redox message. So the
//! consumer follows only the pointers the destination writes: into the
//! payload bucket ([`PayloadOrigin`], `REDOX_PAYLOAD_BUCKET`), under the
//! payload prefix (`REDOX_PAYLOAD_PREFIX`), to a key of the destination's
//! exact shape, `<prefix><YYYY-MM-DD>/<uuid>`. Any other pointer (another
//! bucket, an ARN or access point, a key outside the prefix or of another
//! shape, `..` included) is a [`PointerRefusal`], decided here before any
//! I/O. Pure: no I/O, no clock.

use std::collections::HashMap;

use super::{DecodeError, LEGACY_POINTER_CLASS, S3Location};
use crate::sink::sqs::EXTENDED_POINTER_CLASS;

/// The destination's default `REDOX_PAYLOAD_PREFIX`; the consumer's too.
pub const DEFAULT_PAYLOAD_PREFIX: &str = "redox/";
/// The longest prefix the destination accepts.
const MAX_PREFIX_LEN: usize = 512;
/// How much of a refused bucket or key an error quotes (they are outside
/// input, of any length).
const QUOTED_CHARS: usize = 100;

/// `["<pointer class>", {"s3BucketName": "...", "s3Key": "..."}]`, the
/// format of the extended-client libraries (and of [`crate::sink::sqs`]).
/// Where it points is not checked here: see [`PayloadOrigin::admit`].
pub fn parse_pointer(body: &str) -> Result<S3Location, DecodeError> {
    use serde_json::Value;
    let value: Value = serde_json::from_str(body)
        .map_err(|_| DecodeError::MalformedPointer("the body is not JSON"))?;
    let Value::Array(items) = value else {
        return Err(DecodeError::MalformedPointer(
            "the body is not a JSON array",
        ));
    };
    let [class, fields] = items.as_slice() else {
        return Err(DecodeError::MalformedPointer(
            "the array does not have exactly two elements",
        ));
    };
    match class.as_str() {
        Some(EXTENDED_POINTER_CLASS | LEGACY_POINTER_CLASS) => {}
        _ => {
            return Err(DecodeError::MalformedPointer(
                "the first element is not a known pointer class",
            ));
        }
    }
    let field = |name: &'static str| {
        fields
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let bucket =
        field("s3BucketName").ok_or(DecodeError::MalformedPointer("no s3BucketName string"))?;
    let key = field("s3Key").ok_or(DecodeError::MalformedPointer("no s3Key string"))?;
    Ok(S3Location { bucket, key })
}

/// Why a well-formed pointer is not followed. The object is never fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PointerRefusal {
    /// Another bucket, an ARN, an access point or its alias: anything but
    /// the payload bucket's exact name.
    #[error("it names bucket {named}, not the payload bucket {allowed:?} (REDOX_PAYLOAD_BUCKET)")]
    ForeignBucket { named: String, allowed: String },
    #[error("its key {key} is not under the payload prefix {prefix:?} (REDOX_PAYLOAD_PREFIX)")]
    OutsidePrefix { key: String, prefix: String },
    #[error(
        "its key {key} is not <prefix><YYYY-MM-DD>/<uuid>, the only shape the destination writes"
    )]
    UnexpectedKeyShape { key: String },
}

/// Where the destination writes offloaded bodies: the only place the
/// consumer reads them from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadOrigin {
    bucket: String,
    prefix: String,
}

impl PayloadOrigin {
    /// `bucket` must be an S3 bucket name (not an ARN or an access point),
    /// `prefix` at most 512 characters and not starting with `/`, as the
    /// destination requires. The error names the variable.
    pub fn new(bucket: &str, prefix: &str) -> Result<Self, String> {
        if !crate::config::valid_bucket_name(bucket) {
            return Err(format!(
                "REDOX_PAYLOAD_BUCKET: {} is not an S3 bucket name (3-63 of a-z 0-9 . -; \
                 not an ARN or an access point): name the bucket the destination writes to",
                quoted(bucket)
            ));
        }
        if prefix.len() > MAX_PREFIX_LEN || prefix.starts_with('/') {
            return Err(format!(
                "REDOX_PAYLOAD_PREFIX must be at most {MAX_PREFIX_LEN} characters and not start \
                 with /, as for the destination"
            ));
        }
        Ok(PayloadOrigin {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// `REDOX_PAYLOAD_BUCKET` (required: any message can carry a pointer,
    /// so a consumer without it could be pointed anywhere) and
    /// `REDOX_PAYLOAD_PREFIX` (default `redox/`, the destination's).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, String> {
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let bucket = get("REDOX_PAYLOAD_BUCKET").ok_or(
            "REDOX_PAYLOAD_BUCKET must name the bucket the destination offloads large bodies to \
             (its own REDOX_PAYLOAD_BUCKET): the consumer follows S3 pointers into that bucket \
             only, and any message can carry a pointer, so it is required even if none is large",
        )?;
        PayloadOrigin::new(
            bucket,
            get("REDOX_PAYLOAD_PREFIX").unwrap_or(DEFAULT_PAYLOAD_PREFIX),
        )
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether the consumer may fetch `location`: the payload bucket, by
    /// its exact name, and a key the destination could have written.
    pub fn admit(&self, location: &S3Location) -> Result<(), PointerRefusal> {
        if location.bucket != self.bucket {
            return Err(PointerRefusal::ForeignBucket {
                named: quoted(&location.bucket),
                allowed: self.bucket.clone(),
            });
        }
        let Some(rest) = location.key.strip_prefix(&self.prefix) else {
            return Err(PointerRefusal::OutsidePrefix {
                key: quoted(&location.key),
                prefix: self.prefix.clone(),
            });
        };
        if !is_day_and_uuid(rest) {
            return Err(PointerRefusal::UnexpectedKeyShape {
                key: quoted(&location.key),
            });
        }
        Ok(())
    }
}

/// `YYYY-MM-DD/xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (lower-case hex): what
/// the destination puts after the prefix. A closed alphabet, so no `..`,
/// `//`, escapes or control characters get through.
fn is_day_and_uuid(text: &str) -> bool {
    const SHAPE: &[u8] = b"dddd-dd-dd/hhhhhhhh-hhhh-hhhh-hhhh-hhhhhhhhhhhh";
    text.len() == SHAPE.len()
        && text.bytes().zip(SHAPE).all(|(byte, class)| match class {
            b'd' => byte.is_ascii_digit(),
            b'h' => byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte),
            separator => byte == *separator,
        })
}

/// `text` Debug-escaped, at most [`QUOTED_CHARS`] characters of it.
fn quoted(text: &str) -> String {
    let mut excerpt: String = text.chars().take(QUOTED_CHARS).collect();
    if excerpt.len() < text.len() {
        excerpt.push('…');
    }
    format!("{excerpt:?}")
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

    const BUCKET: &str = "redox-payloads";
    const KEY: &str = "redox/2026-11-28/3f0c2a1b-9d8e-4c7b-a6f5-0e1d2c3b4a59";

    fn origin() -> PayloadOrigin {
        PayloadOrigin::new(BUCKET, "redox/").unwrap()
    }

    fn at(bucket: &str, key: &str) -> S3Location {
        S3Location {
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_destinations_own_keys_are_admitted() {
        assert_eq!(origin().admit(&at(BUCKET, KEY)), Ok(()));
        let custom = PayloadOrigin::new(BUCKET, "prod/redox/").unwrap();
        let key = KEY.replacen("redox/", "prod/redox/", 1);
        assert_eq!(custom.admit(&at(BUCKET, &key)), Ok(()));
    }

    #[test]
    fn other_buckets_arns_and_access_points_are_refused() {
        for bucket in [
            "someone-elses",
            "Redox-Payloads",
            "redox-payloads ",
            "redox-payloads.s3.amazonaws.com",
            "arn:aws:s3:::redox-payloads",
            "arn:aws:s3:us-east-1:123456789012:accesspoint/redox-payloads",
            "arn:aws:s3-object-lambda:us-east-1:123456789012:accesspoint/x",
            "arn:aws:s3::123456789012:accesspoint/mfzwi23gnjvgw.mrap",
            "redox-payloads-ap-abcdefghijklmnopqrstuvwxyz-s3alias",
        ] {
            assert!(
                matches!(
                    origin().admit(&at(bucket, KEY)),
                    Err(PointerRefusal::ForeignBucket { .. })
                ),
                "{bucket}"
            );
        }
    }

    #[test]
    fn keys_outside_the_prefix_are_refused() {
        for key in [
            "2026-11-28/3f0c2a1b-9d8e-4c7b-a6f5-0e1d2c3b4a59",
            "other/2026-11-28/3f0c2a1b-9d8e-4c7b-a6f5-0e1d2c3b4a59",
            "/redox/2026-11-28/3f0c2a1b-9d8e-4c7b-a6f5-0e1d2c3b4a59",
            "Redox/2026-11-28/3f0c2a1b-9d8e-4c7b-a6f5-0e1d2c3b4a59",
            "redox",
            "3f0c2a1b-9d8e-4c7b-a6f5-0e1d2c3b4a59",
        ] {
            assert!(
                matches!(
                    origin().admit(&at(BUCKET, key)),
                    Err(PointerRefusal::OutsidePrefix { .. })
                ),
                "{key}"
            );
        }
    }

    #[test]
    fn keys_of_another_shape_are_refused_dot_dot_included() {
        for key in [
            "redox/",
            "redox/../secrets/2026-11-28/3f0c2a1b-9d8e-4c7b-a6f5-0e1d2c3b4a59",
            "redox/2026-11-28/../../etc/passwd",
            "redox/2026-11-28/../3f0c2a1b-9d8e-4c7b-a6f5-0e1d2c3b4a",
            "redox/./2026-11-28/3f0c2a1b-9d8e-4c7b-a6f5-0e1d2c3b4a5",
            "redox//2026-11-28/3f0c2a1b-9d8e-4c7b-a6f5-0e1d2c3b4a5",
            "redox/2026-11-28/3F0C2A1B-9D8E-4C7B-A6F5-0E1D2C3B4A59",
            "redox/2026-11-28/3f0c2a1b9d8e4c7ba6f50e1d2c3b4a59",
            "redox/2026-11-28/3f0c2a1b-9d8e-4c7b-a6f5-0e1d2c3b4a59/x",
            "redox/2026-11-28/3f0c2a1b-9d8e-4c7b-a6f5-0e1d2c3b4a5g",
            "redox/2026-1-28/3f0c2a1b-9d8e-4c7b-a6f5-0e1d2c3b4a590",
            "redox/2026-11-28/3f0c2a1b-9d8e-4c7b-a6f5-0e1d2c3b4a5%2F",
            "redox/2026-11-28/3f0c2a1b-9d8e-4c7b-a6f5-0e1d2c3b4\u{e9}",
            "redox/2026-11-28/3f0c2a1b-9d8e-4c7b-a6f5-0e1d2c3b4a59\n",
            "redox/２０２６-11-28/3f0c2a1b-9d8e-4c7b-a6f5-0e1d2c3b4a59",
        ] {
            assert!(
                matches!(
                    origin().admit(&at(BUCKET, key)),
                    Err(PointerRefusal::UnexpectedKeyShape { .. })
                ),
                "{key:?}"
            );
        }
    }

    #[test]
    fn a_refusal_quotes_a_bounded_escaped_excerpt() {
        let long = format!("arn:aws:s3:::{}\n", "x".repeat(5000));
        let refusal = origin().admit(&at(&long, KEY)).unwrap_err().to_string();
        assert!(refusal.len() < 300, "{refusal}");
        assert!(!refusal.contains('\n'), "{refusal}");
        assert!(refusal.contains("REDOX_PAYLOAD_BUCKET"), "{refusal}");
    }

    #[test]
    fn the_bucket_is_required_and_the_prefix_defaults_to_the_destinations() {
        let error = PayloadOrigin::from_vars(&vars(&[])).unwrap_err();
        assert!(error.starts_with("REDOX_PAYLOAD_BUCKET"), "{error}");
        let error = PayloadOrigin::from_vars(&vars(&[("REDOX_PAYLOAD_BUCKET", "  ")])).unwrap_err();
        assert!(error.starts_with("REDOX_PAYLOAD_BUCKET"), "{error}");

        let read = PayloadOrigin::from_vars(&vars(&[("REDOX_PAYLOAD_BUCKET", BUCKET)])).unwrap();
        assert_eq!((read.bucket(), read.prefix()), (BUCKET, "redox/"));
        let read = PayloadOrigin::from_vars(&vars(&[
            ("REDOX_PAYLOAD_BUCKET", BUCKET),
            ("REDOX_PAYLOAD_PREFIX", "prod/"),
        ]))
        .unwrap();
        assert_eq!(read.prefix(), "prod/");

        for bucket in [
            "arn:aws:s3:::redox-payloads",
            "arn:aws:s3:us-east-1:123456789012:accesspoint/ap",
            "Redox",
            "ab",
        ] {
            let error =
                PayloadOrigin::from_vars(&vars(&[("REDOX_PAYLOAD_BUCKET", bucket)])).unwrap_err();
            let named = format!("REDOX_PAYLOAD_BUCKET: {bucket:?} is not an S3 bucket name");
            assert!(error.starts_with(&named), "{error}");
        }
        for prefix in ["/redox/".to_owned(), "p".repeat(513)] {
            let error = PayloadOrigin::from_vars(&vars(&[
                ("REDOX_PAYLOAD_BUCKET", BUCKET),
                ("REDOX_PAYLOAD_PREFIX", &prefix),
            ]))
            .unwrap_err();
            assert!(error.starts_with("REDOX_PAYLOAD_PREFIX"), "{error}");
        }
    }
}
