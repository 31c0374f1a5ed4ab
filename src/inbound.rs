//! The one inbound-request value every front door produces.
//!
//! Lambda Function URL, API Gateway HTTP and REST events and the local server
//! all become an [`InboundRequest`]: the method, the path and query exactly as
//! they crossed the wire, the headers in arrival order with repeats, and the
//! body bytes. Signature checks read this value and nothing else, so nothing
//! here normalises, decodes or re-orders what it was given. This module does
//! no I/O.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use bytes::Bytes;

/// Which front door a request came through. It matters for SigV4, because
/// each door preserves a different amount of the original request line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontDoor {
    /// Lambda Function URL (payload 2.0): raw path and raw query kept.
    FunctionUrl,
    /// API Gateway HTTP API (payload 2.0): `rawPath` arrives percent-decoded.
    HttpApi,
    /// API Gateway REST API (payload 1.0): query rebuilt from decoded maps.
    RestApi,
    /// Server mode (locally, or in a container behind a load balancer):
    /// the request line as received on the socket.
    LocalServer,
}

impl FrontDoor {
    pub fn as_str(self) -> &'static str {
        match self {
            FrontDoor::FunctionUrl => "function_url",
            FrontDoor::HttpApi => "http_api",
            FrontDoor::RestApi => "rest_api",
            FrontDoor::LocalServer => "local_server",
        }
    }
}

/// Where a request came from, as the platform (never the client) states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub front_door: FrontDoor,
    /// The IAM principal ARN that AWS verified (Function URL `AWS_IAM` or
    /// API Gateway IAM auth); read from the event's request context only.
    pub verified_iam_principal: Option<String>,
    /// The client's address: the platform's (Lambda's request context),
    /// the TCP peer, or behind a load balancer the entry it appended to
    /// `X-Forwarded-For` (never one the client wrote).
    pub source_ip: Option<String>,
    /// Where `source_ip` came from, when the front door had a choice (for
    /// the log): `peer`, `x-forwarded-for`, or why it fell back to the peer.
    pub source_ip_from: Option<&'static str>,
    /// The function's public base URL as the platform states it, without a
    /// trailing `/`: the request context's domain name (and stage, for API
    /// Gateway) in Lambda, the listening address locally. Never taken from a
    /// client header. The built-in OAuth issuer uses it when set to `auto`.
    pub public_base_url: Option<String>,
}

impl Origin {
    pub fn new(front_door: FrontDoor) -> Self {
        Origin {
            front_door,
            verified_iam_principal: None,
            source_ip: None,
            source_ip_from: None,
            public_base_url: None,
        }
    }
}

/// One HTTP request exactly as it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRequest {
    /// Upper-case method, as sent.
    pub method: String,
    /// The path as sent on the wire (percent-escapes kept), starting with `/`.
    pub raw_path: String,
    /// The query string as sent, without the leading `?`; empty when absent.
    pub raw_query: String,
    /// Header names lower-cased; values untouched; arrival order and repeats kept.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub origin: Origin,
}

impl InboundRequest {
    /// Every value of a header, in arrival order. `name` must be lower-case.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The single value of a header: `Ok(None)` when absent, `Err(())` when
    /// it was sent more than once (an ambiguity no credential may carry).
    pub fn single_header<'a>(&'a self, name: &'a str) -> Result<Option<&'a str>, RepeatedHeader> {
        let mut values = self.header_values(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(RepeatedHeader);
        }
        Ok(first)
    }

    /// Query parameters split on `&` and `=`, percent-decoded leniently
    /// (`+` is a space, broken escapes are kept as they are).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        query_pairs(&self.raw_query)
    }

    /// The first value of a query parameter (decoded).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// A header that may appear once was sent several times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepeatedHeader;

/// Splits a raw query string into decoded pairs, in linear work.
pub fn query_pairs(raw_query: &str) -> Vec<(String, String)> {
    crate::work::count(raw_query.len());
    raw_query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

/// Decodes `application/x-www-form-urlencoded` text, never failing: invalid
/// escapes and invalid UTF-8 are kept (the latter replaced) rather than refused.
pub fn form_decode(input: &str) -> String {
    String::from_utf8_lossy(&form_decode_bytes(input)).into_owned()
}

/// Percent-decodes to bytes (`+` is a space); a `%` not followed by two hex
/// digits is kept as it is. Bytes, not text, so `%FF` and `%FE` stay apart.
pub fn form_decode_bytes(input: &str) -> Vec<u8> {
    // Each turn of the loop consumes at least one byte.
    crate::work::count(input.len());
    let mut out = Vec::with_capacity(input.len());
    let mut rest = input.as_bytes();
    while let Some((&b, after)) = rest.split_first() {
        let escape = match (b, after) {
            (b'%', [hi, lo, ..]) => hex_value(*hi).zip(hex_value(*lo)),
            _ => None,
        };
        match (escape, b) {
            (Some((hi, lo)), _) => {
                out.push(hi << 4 | lo);
                rest = after.get(2..).unwrap_or_default();
            }
            (None, b'+') => {
                out.push(b' ');
                rest = after;
            }
            (None, b) => {
                out.push(b);
                rest = after;
            }
        }
    }
    out
}

/// The upper-case hex digit of the low four bits of `nibble`.
fn upper_hex_digit(nibble: u8) -> char {
    match nibble & 0xf {
        n @ 0..=9 => char::from(b'0' + n),
        n => char::from(b'A' + n - 10),
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters, as AWS
/// SigV4 and the REST API query rebuild both require.
pub fn percent_encode_unreserved(input: &str, out: &mut String) {
    percent_encode_unreserved_bytes(input.as_bytes(), out);
}

/// [`percent_encode_unreserved`] for bytes that need not be UTF-8.
pub fn percent_encode_unreserved_bytes(input: &[u8], out: &mut String) {
    for &b in input {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(upper_hex_digit(b >> 4));
            out.push(upper_hex_digit(b & 0xf));
        }
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

    fn request(query: &str, headers: &[(&str, &str)]) -> InboundRequest {
        InboundRequest {
            method: "GET".into(),
            raw_path: "/".into(),
            raw_query: query.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: Bytes::new(),
            origin: Origin::new(FrontDoor::LocalServer),
        }
    }

    #[test]
    fn query_params_are_decoded_and_first_wins() {
        let req = request("challenge=a%2Db+c&x=1&challenge=second", &[]);
        assert_eq!(req.query_param("challenge").as_deref(), Some("a-b c"));
        assert_eq!(req.query_param("x").as_deref(), Some("1"));
        assert_eq!(req.query_param("missing"), None);
    }

    #[test]
    fn broken_percent_escapes_are_kept_not_refused() {
        assert_eq!(form_decode("%"), "%");
        assert_eq!(form_decode("%4"), "%4");
        assert_eq!(form_decode("%zz%41"), "%zzA");
        assert_eq!(form_decode("%ff"), "\u{fffd}");
    }

    #[test]
    fn a_repeated_header_is_reported_as_such() {
        let req = request("", &[("a", "1"), ("b", "2"), ("a", "3")]);
        assert_eq!(req.single_header("a"), Err(RepeatedHeader));
        assert_eq!(req.single_header("b"), Ok(Some("2")));
        assert_eq!(req.single_header("c"), Ok(None));
        assert_eq!(req.header_values("a").collect::<Vec<_>>(), ["1", "3"]);
    }

    #[test]
    fn unreserved_encoding_matches_rfc3986() {
        let mut out = String::new();
        percent_encode_unreserved("a b/~é", &mut out);
        assert_eq!(out, "a%20b%2F~%C3%A9");
    }
}
