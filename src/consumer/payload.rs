//! Offloaded bodies: the S3 side of an Extended Client pointer.
//!
//! [`PayloadStore`] fetches the object a pointer names, only once
//! [`PayloadOrigin::admit`] has found it to be one the destination wrote,
//! and checks it holds exactly the bytes the pointer declares. It never
//! deletes the object: the bucket's lifecycle rule does, after the longest
//! time a pointer can wait on the queue and its dead-letter queue.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use bytes::Bytes;

use super::{DecodeError, PayloadOrigin, S3Location};

/// The largest offloaded body fetched: Redox allows 40 MB per message.
pub const MAX_PAYLOAD_BYTES: u64 = 64 * 1024 * 1024;
/// Bound on one fetch (the GetObject and reading its body), by default.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The consumer's settings, from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadSettings {
    /// `REDOX_PAYLOAD_BUCKET` and `REDOX_PAYLOAD_PREFIX`: the only place
    /// pointers are followed to (a pointer is outside input; IAM limits
    /// the rest).
    pub origin: PayloadOrigin,
    /// `REDOX_AWS_TIMEOUT_MS`: bound on one fetch.
    pub timeout: Duration,
}

impl PayloadSettings {
    /// Reads the settings; the error names the variable that is wrong.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, String> {
        let origin = PayloadOrigin::from_vars(vars)?;
        let timeout = match vars.get("REDOX_AWS_TIMEOUT_MS").map(|v| v.trim()) {
            None | Some("") => DEFAULT_FETCH_TIMEOUT,
            Some(text) => match text.parse::<u64>() {
                Ok(ms) if (1..=900_000).contains(&ms) => Duration::from_millis(ms),
                _ => {
                    return Err(format!(
                        "REDOX_AWS_TIMEOUT_MS must be a number of milliseconds from 1 to 900000, not {text:?}"
                    ));
                }
            },
        };
        Ok(PayloadSettings { origin, timeout })
    }
}

/// Reads offloaded bodies from S3.
pub struct PayloadStore {
    client: aws_sdk_s3::Client,
    settings: PayloadSettings,
}

impl PayloadStore {
    pub fn new(client: aws_sdk_s3::Client, settings: PayloadSettings) -> Self {
        PayloadStore { client, settings }
    }

    /// An S3 client from the standard AWS environment (`AWS_REGION`,
    /// `AWS_ENDPOINT_URL`, …); path-style addressing when an endpoint is
    /// overridden, because emulators have no bucket subdomains.
    pub fn client_from(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(sdk)
                .force_path_style(sdk.endpoint_url().is_some())
                .build(),
        )
    }

    /// Where pointers are followed to.
    pub fn origin(&self) -> &PayloadOrigin {
        &self.settings.origin
    }

    /// The object's bytes, exactly `declared_size` of them. A pointer the
    /// destination could not have written is refused before any request.
    pub async fn fetch(
        &self,
        location: &S3Location,
        declared_size: u64,
    ) -> Result<Bytes, DecodeError> {
        self.settings.origin.admit(location)?;
        if declared_size > MAX_PAYLOAD_BYTES {
            return Err(DecodeError::PayloadTooLarge {
                declared: declared_size,
                limit: MAX_PAYLOAD_BYTES,
            });
        }
        let timeout = self.settings.timeout;
        tokio::time::timeout(timeout, self.get(location, declared_size))
            .await
            .map_err(|_| DecodeError::StorageTimeout {
                bucket: location.bucket.clone(),
                key: location.key.clone(),
                timeout,
            })?
    }

    async fn get(&self, location: &S3Location, declared_size: u64) -> Result<Bytes, DecodeError> {
        let unavailable = |detail: String| DecodeError::StorageUnavailable {
            bucket: location.bucket.clone(),
            key: location.key.clone(),
            detail,
        };
        let output = self
            .client
            .get_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .send()
            .await
            .map_err(|error| {
                let missing = error
                    .as_service_error()
                    .is_some_and(|e| e.is_no_such_key() || e.code() == Some("NoSuchBucket"));
                if missing {
                    DecodeError::ObjectMissing {
                        bucket: location.bucket.clone(),
                        key: location.key.clone(),
                    }
                } else {
                    unavailable(format!("S3 GetObject: {}", DisplayErrorContext(&error)))
                }
            })?;
        // Refused before the body is read: a wrong object is not downloaded.
        if let Some(length) = output.content_length
            && u64::try_from(length).ok() != Some(declared_size)
        {
            return Err(DecodeError::SizeMismatch {
                declared: declared_size,
                actual: u64::try_from(length).unwrap_or(0),
            });
        }
        let body = output
            .body
            .collect()
            .await
            .map_err(|error| unavailable(format!("reading the object: {error}")))?
            .into_bytes();
        if body.len() as u64 != declared_size {
            return Err(DecodeError::SizeMismatch {
                declared: declared_size,
                actual: body.len() as u64,
            });
        }
        Ok(body)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<PayloadSettings, String> {
        let map = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        PayloadSettings::from_vars(&map.collect())
    }

    #[test]
    fn settings_default_and_name_the_bad_variable() {
        let bucket = ("REDOX_PAYLOAD_BUCKET", "payloads");
        assert_eq!(
            settings(&[bucket]).unwrap(),
            PayloadSettings {
                origin: PayloadOrigin::new("payloads", "redox/").unwrap(),
                timeout: DEFAULT_FETCH_TIMEOUT
            }
        );
        let set = settings(&[bucket, ("REDOX_AWS_TIMEOUT_MS", "2500")]).unwrap();
        assert_eq!(set.timeout, Duration::from_millis(2500));
        for bad in ["0", "-1", "soon", "900001"] {
            let error = settings(&[bucket, ("REDOX_AWS_TIMEOUT_MS", bad)]).unwrap_err();
            assert!(error.starts_with("REDOX_AWS_TIMEOUT_MS"), "{error}");
        }
        let error = settings(&[("REDOX_AWS_TIMEOUT_MS", "2500")]).unwrap_err();
        assert!(error.starts_with("REDOX_PAYLOAD_BUCKET"), "{error}");
    }
}
