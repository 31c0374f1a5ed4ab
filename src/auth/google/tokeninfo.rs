//! Google's token-info endpoint: what it says of an opaque access token.
//!
//! Only Google can tell whether a `ya29.` access token is valid and whose
//! it is: `GET https://oauth2.googleapis.com/tokeninfo?access_token=…` (the
//! form Google documents, "Token types") answers 200 with the token's
//! `azp`/`aud` (a service account's unique id), `sub`, `scope`, `exp`,
//! `expires_in` and, with the email scope, `email` and `email_verified`
//! (numbers and booleans as JSON strings), or 400 `invalid_token` for a
//! token that is not valid. The call goes straight to Google over TLS (no
//! proxy), and nothing of it is logged.
//!
//! [`parse_answer`] reads an answer strictly (any JSON, any size, any types
//! in: a typed outcome out, in bounded work); [`TokenInfoClient`] is the
//! HTTPS edge, on the project's one TLS stack. Caching and rate limits are
//! [`super::lookups`]'s job.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use std::time::Duration;

use http::Uri;
use serde_json::{Map, Value};

use crate::BoxFuture;
use crate::auth::jwt::jwks::{BoundedGet, check_url};

/// Google's token-info endpoint.
pub const DEFAULT_TOKENINFO_URL: &str = "https://oauth2.googleapis.com/tokeninfo";

/// The largest answer read; Google's are a few hundred bytes.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// Longest value kept from an answer field.
const MAX_FIELD_LEN: usize = 512;

/// What Google says of a valid access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenInfo {
    /// The client the token was issued to: a service account's unique id.
    pub azp: Option<String>,
    pub aud: Option<String>,
    pub sub: Option<String>,
    /// Space-separated scopes.
    pub scope: String,
    /// Seconds since the epoch.
    pub exp: u64,
    /// With the email scope only.
    pub email: Option<String>,
    pub email_verified: bool,
}

impl AccessTokenInfo {
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }
}

/// The outcome of one token-info call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenInfoAnswer {
    /// 200 with a well-formed answer.
    Valid(AccessTokenInfo),
    /// 400: Google does not know the token (invalid, expired or revoked).
    Refused,
}

/// Why Google could not be asked (our outage, not the caller's fault:
/// 503, Redox retries).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TokenInfoError {
    #[error("token-info could not be reached: {0}")]
    Unreachable(String),
    #[error("token-info answered HTTP {0}")]
    Status(u16),
    #[error("token-info's answer is not usable: {0}")]
    Malformed(&'static str),
}

/// Reads a token-info answer: its HTTP status and body.
pub fn parse_answer(status: u16, body: &[u8]) -> Result<TokenInfoAnswer, TokenInfoError> {
    match status {
        200 => {}
        // Google answers 400 `invalid_token` for a token it does not know.
        400 => return Ok(TokenInfoAnswer::Refused),
        other => return Err(TokenInfoError::Status(other)),
    }
    if body.len() > MAX_ANSWER_BYTES {
        return Err(TokenInfoError::Malformed("the answer is too large"));
    }
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return Err(TokenInfoError::Malformed("the answer is not a JSON object"));
    };
    let exp = number(&fields, "exp")?.ok_or(TokenInfoError::Malformed("no exp"))?;
    let email_verified = match fields.get("email_verified") {
        None => false,
        Some(Value::Bool(verified)) => *verified,
        Some(Value::String(text)) if text == "true" => true,
        Some(Value::String(text)) if text == "false" => false,
        Some(_) => return Err(TokenInfoError::Malformed("email_verified is not a boolean")),
    };
    Ok(TokenInfoAnswer::Valid(AccessTokenInfo {
        azp: text(&fields, "azp")?,
        aud: text(&fields, "aud")?,
        sub: text(&fields, "sub")?,
        scope: text(&fields, "scope")?.unwrap_or_default(),
        exp,
        email: text(&fields, "email")?,
        email_verified,
    }))
}

fn text(fields: &Map<String, Value>, name: &'static str) -> Result<Option<String>, TokenInfoError> {
    match fields.get(name) {
        None => Ok(None),
        Some(Value::String(value)) if value.len() <= MAX_FIELD_LEN => Ok(Some(value.clone())),
        Some(Value::String(_)) => Err(TokenInfoError::Malformed("a field is too long")),
        Some(_) => Err(TokenInfoError::Malformed("a field is not a string")),
    }
}

/// A whole number of seconds, sent as a JSON string of digits (Google's
/// form) or a JSON number.
fn number(fields: &Map<String, Value>, name: &'static str) -> Result<Option<u64>, TokenInfoError> {
    let malformed = TokenInfoError::Malformed("a time field is not a whole number");
    match fields.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or(malformed),
        Some(Value::String(digits))
            if !digits.is_empty()
                && digits.len() <= 20
                && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            digits.parse().map(Some).map_err(|_| malformed)
        }
        Some(_) => Err(malformed),
    }
}

/// Somewhere access tokens are checked (Google, or a stand-in in tests).
pub trait TokenInfoSource: Send + Sync {
    fn check<'a>(
        &'a self,
        access_token: &'a str,
    ) -> BoxFuture<'a, Result<TokenInfoAnswer, TokenInfoError>>;
    /// Where tokens are checked, for the start-up banner.
    fn describe(&self) -> String;
}

/// Google's token-info endpoint over HTTPS.
pub struct TokenInfoClient {
    url: Uri,
    get: BoundedGet,
}

impl TokenInfoClient {
    /// A client for `url` (`https://`, or `http://` on loopback for
    /// tests); each call is bounded by `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<TokenInfoClient, String> {
        let url = check_url(url)?;
        let get = BoundedGet::new(&url, timeout)?;
        Ok(TokenInfoClient { url, get })
    }

    async fn call(&self, access_token: &str) -> Result<TokenInfoAnswer, TokenInfoError> {
        let mut target = self.url.to_string();
        target.push(if self.url.query().is_some() { '&' } else { '?' });
        target.push_str("access_token=");
        crate::inbound::percent_encode_unreserved(access_token, &mut target);
        let target = target
            .parse()
            .map_err(|_| TokenInfoError::Unreachable(format!("{}: no such URL", self.url)))?;
        let (status, body) = self
            .get
            .get(target, &self.url, MAX_ANSWER_BYTES)
            .await
            .map_err(TokenInfoError::Unreachable)?;
        parse_answer(status.as_u16(), &body)
    }
}

impl TokenInfoSource for TokenInfoClient {
    fn check<'a>(
        &'a self,
        access_token: &'a str,
    ) -> BoxFuture<'a, Result<TokenInfoAnswer, TokenInfoError>> {
        Box::pin(self.call(access_token))
    }

    fn describe(&self) -> String {
        format!("token-info {}", self.url)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn googles_answer_shape_is_read_with_numbers_and_booleans_as_strings() {
        let body = br#"{"azp":"112233445566778899001","aud":"112233445566778899001",
            "sub":"112233445566778899001","scope":"https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email",
            "exp":"1800000000","expires_in":"3599","email":"redox@p.iam.gserviceaccount.com",
            "email_verified":"true","access_type":"online"}"#;
        let TokenInfoAnswer::Valid(info) = parse_answer(200, body).unwrap() else {
            panic!("valid");
        };
        assert_eq!(info.azp.as_deref(), Some("112233445566778899001"));
        assert_eq!(info.exp, 1_800_000_000);
        assert!(info.email_verified);
        assert_eq!(info.scopes().count(), 2);
        let numbers = br#"{"azp":"1","exp":1800000000,"email_verified":false}"#;
        let TokenInfoAnswer::Valid(info) = parse_answer(200, numbers).unwrap() else {
            panic!("valid");
        };
        assert!(!info.email_verified && info.exp == 1_800_000_000);
    }

    #[test]
    fn a_refused_token_and_googles_outages_are_told_apart() {
        let refused = br#"{"error":"invalid_token","error_description":"Invalid Value"}"#;
        assert_eq!(parse_answer(400, refused), Ok(TokenInfoAnswer::Refused));
        assert_eq!(parse_answer(500, b""), Err(TokenInfoError::Status(500)));
        assert_eq!(parse_answer(429, b""), Err(TokenInfoError::Status(429)));
        assert_eq!(parse_answer(401, b""), Err(TokenInfoError::Status(401)));
    }

    #[test]
    fn malformed_answers_are_errors_not_acceptances() {
        for body in [
            &br#"[]"#[..],
            br#"{"azp":"1"}"#,
            br#"{"azp":"1","exp":"soon"}"#,
            br#"{"azp":"1","exp":"-5"}"#,
            br#"{"azp":1,"exp":"5"}"#,
            br#"{"azp":"1","exp":"5","email_verified":"yes"}"#,
            br#"{"azp":"1","exp":1.5}"#,
            b"not json",
        ] {
            assert!(
                matches!(parse_answer(200, body), Err(TokenInfoError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let long = format!(r#"{{"azp":"{}","exp":"5"}}"#, "x".repeat(MAX_FIELD_LEN + 1));
        assert!(parse_answer(200, long.as_bytes()).is_err());
    }
}
