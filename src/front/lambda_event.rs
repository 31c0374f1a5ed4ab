//! Lambda HTTP events in, Lambda HTTP responses out.
//!
//! Maps the raw JSON of Function URL (payload 2.0), API Gateway HTTP API
//! (2.0) and API Gateway REST API (1.0) events onto one [`InboundRequest`],
//! and an [`HttpResponse`] back onto the JSON those front doors expect. The
//! events are read directly rather than through lambda_http's
//! `http::Request`, which rewrites paths and headers that SigV4 signed.
//! No I/O happens here.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

use crate::inbound::{FrontDoor, InboundRequest, Origin, percent_encode_unreserved};
use crate::response::HttpResponse;

/// Why a Lambda event could not become an [`InboundRequest`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("the event is not an HTTP event this function understands: {0}")]
    UnknownShape(String),
    #[error("the event's body is marked base64 but is not valid base64")]
    InvalidBase64Body,
    #[error("the event has no HTTP method")]
    MissingMethod,
}

/// Header maps keep document order and any repeated key, lower-casing names.
#[derive(Debug, Default)]
struct OrderedPairs<V>(Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedPairs<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for PairsVisitor<V> {
            type Value = OrderedPairs<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(OrderedPairs(Vec::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((key, value)) = map.next_entry::<String, V>()? {
                    pairs.push((key, value));
                }
                Ok(OrderedPairs(pairs))
            }
        }
        deserializer.deserialize_any(PairsVisitor(std::marker::PhantomData))
    }
}

/// Null-tolerant string lists (`multiValueHeaders` values may be null).
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct RawHttpEvent {
    version: Option<String>,
    // payload 2.0
    raw_path: Option<String>,
    raw_query_string: Option<String>,
    #[serde(deserialize_with = "nullable")]
    cookies: Vec<String>,
    // payload 1.0
    http_method: Option<String>,
    path: Option<String>,
    #[serde(deserialize_with = "nullable")]
    multi_value_headers: OrderedPairs<Option<Vec<String>>>,
    #[serde(deserialize_with = "nullable")]
    multi_value_query_string_parameters: OrderedPairs<Option<Vec<String>>>,
    #[serde(deserialize_with = "nullable")]
    query_string_parameters: OrderedPairs<Option<String>>,
    // both
    #[serde(deserialize_with = "nullable")]
    headers: OrderedPairs<Option<String>>,
    request_context: Option<RawRequestContext>,
    body: Option<String>,
    is_base64_encoded: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct RawRequestContext {
    domain_name: Option<String>,
    stage: Option<String>,
    http: Option<RawHttpContext>,
    // REST: the path including the stage, as the client sent it.
    path: Option<String>,
    http_method: Option<String>,
    identity: Option<RawIdentity>,
    authorizer: Option<RawAuthorizer>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct RawHttpContext {
    method: Option<String>,
    source_ip: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct RawIdentity {
    user_arn: Option<String>,
    source_ip: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawAuthorizer {
    iam: Option<RawIam>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct RawIam {
    user_arn: Option<String>,
}

/// Parses a Lambda HTTP event from its JSON text.
pub fn parse_event(json: &str) -> Result<InboundRequest, EventError> {
    let raw: RawHttpEvent =
        serde_json::from_str(json).map_err(|e| EventError::UnknownShape(e.to_string()))?;
    into_inbound(raw)
}

fn into_inbound(raw: RawHttpEvent) -> Result<InboundRequest, EventError> {
    let context = raw.request_context.unwrap_or_default();
    let is_v2 = raw.version.as_deref() == Some("2.0") || raw.raw_path.is_some();
    let body = decode_body(raw.body, raw.is_base64_encoded.unwrap_or(false))?;

    if is_v2 {
        let front_door = match &context.domain_name {
            Some(domain) if domain.contains(".lambda-url.") => FrontDoor::FunctionUrl,
            _ => FrontDoor::HttpApi,
        };
        let method = context
            .http
            .as_ref()
            .and_then(|h| h.method.clone())
            .ok_or(EventError::MissingMethod)?;
        let mut headers: Vec<(String, String)> = raw
            .headers
            .0
            .into_iter()
            .filter_map(|(name, value)| Some((name.to_ascii_lowercase(), value?)))
            .collect();
        // Payload 2.0 moves cookies out of the headers; put them back as the
        // single header a client sends, so a signature over them still holds.
        if !raw.cookies.is_empty() && !headers.iter().any(|(n, _)| n == "cookie") {
            headers.push(("cookie".into(), raw.cookies.join("; ")));
        }
        let origin = Origin {
            front_door,
            public_base_url: public_base_url(&context),
            verified_iam_principal: context
                .authorizer
                .and_then(|a| a.iam)
                .and_then(|iam| iam.user_arn),
            source_ip: context.http.and_then(|h| h.source_ip),
            source_ip_from: None,
        };
        return Ok(InboundRequest {
            method: method.to_ascii_uppercase(),
            raw_path: raw.raw_path.unwrap_or_else(|| "/".into()),
            raw_query: raw.raw_query_string.unwrap_or_default(),
            headers,
            body,
            origin,
        });
    }

    let public_base_url = public_base_url(&context);
    let method = raw
        .http_method
        .or(context.http_method)
        .ok_or(EventError::MissingMethod)?;
    if raw.path.is_none() && context.path.is_none() {
        return Err(EventError::UnknownShape(
            "neither rawPath (payload 2.0) nor path (payload 1.0) is present".into(),
        ));
    }
    let headers = rest_headers(raw.multi_value_headers.0, raw.headers.0);
    let raw_query = rest_query(
        raw.multi_value_query_string_parameters.0,
        raw.query_string_parameters.0,
    );
    let identity = context.identity.unwrap_or_default();
    Ok(InboundRequest {
        method: method.to_ascii_uppercase(),
        // requestContext.path carries the stage prefix the client really sent.
        raw_path: context.path.or(raw.path).unwrap_or_else(|| "/".into()),
        raw_query,
        headers,
        body,
        origin: Origin {
            front_door: FrontDoor::RestApi,
            verified_iam_principal: identity.user_arn,
            source_ip: identity.source_ip,
            source_ip_from: None,
            public_base_url,
        },
    })
}

/// The function's public base URL from what AWS wrote in the request
/// context: `https://<domainName>`, plus `/<stage>` for an API Gateway stage
/// other than `$default`. `None` when the domain or stage is missing or is
/// not a plain host name or stage name (a malformed event states nothing).
fn public_base_url(context: &RawRequestContext) -> Option<String> {
    let domain = context.domain_name.as_deref()?;
    let host_like = !domain.is_empty()
        && domain.len() <= 253
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !host_like {
        return None;
    }
    match context.stage.as_deref() {
        None | Some("$default") => Some(format!("https://{domain}")),
        Some(stage)
            if !stage.is_empty()
                && stage.len() <= 128
                && stage
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Some(format!("https://{domain}/{stage}"))
        }
        Some(_) => None,
    }
}

fn decode_body(body: Option<String>, is_base64: bool) -> Result<Bytes, EventError> {
    match body {
        None => Ok(Bytes::new()),
        Some(text) if is_base64 => BASE64
            .decode(text.as_bytes())
            .map(Bytes::from)
            .map_err(|_| EventError::InvalidBase64Body),
        Some(text) => Ok(Bytes::from(text.into_bytes())),
    }
}

/// Added by CloudFront in front of edge-optimised REST APIs, after the
/// client signed; it is not the client's, so it is not kept.
const CLOUDFRONT_ADDED_HEADER: &str = "x-amz-cf-id";

/// REST events give repeats in `multiValueHeaders`; `headers` keeps only the last.
fn rest_headers(
    multi: Vec<(String, Option<Vec<String>>)>,
    single: Vec<(String, Option<String>)>,
) -> Vec<(String, String)> {
    let headers: Vec<(String, String)> = if multi.is_empty() {
        single
            .into_iter()
            .filter_map(|(n, v)| Some((n.to_ascii_lowercase(), v?)))
            .collect()
    } else {
        multi
            .into_iter()
            .flat_map(|(name, values)| {
                let name = name.to_ascii_lowercase();
                values
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |v| (name.clone(), v))
            })
            .collect()
    };
    headers
        .into_iter()
        .filter(|(name, _)| name != CLOUDFRONT_ADDED_HEADER)
        .collect()
}

/// REST events carry only decoded query maps; rebuild the query string with
/// RFC 3986 encoding (the original spelling and order are lost).
fn rest_query(
    multi: Vec<(String, Option<Vec<String>>)>,
    single: Vec<(String, Option<String>)>,
) -> String {
    let pairs: Vec<(String, String)> = if multi.is_empty() {
        single
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect()
    } else {
        multi
            .into_iter()
            .flat_map(|(k, vs)| {
                vs.unwrap_or_default()
                    .into_iter()
                    .map(move |v| (k.clone(), v))
            })
            .collect()
    };
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        percent_encode_unreserved(k, &mut out);
        out.push('=');
        percent_encode_unreserved(v, &mut out);
    }
    out
}

/// The response JSON understood by Function URLs and both API Gateway payloads.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LambdaHttpResponse {
    pub status_code: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub is_base64_encoded: bool,
    /// Payload 2.0 answers carry `cookies`; emulators such as `cargo lambda
    /// watch` reject a 2.0 answer without it, and REST (1.0) must not get it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookies: Option<Vec<String>>,
}

impl LambdaHttpResponse {
    /// The answer in the format of the front door the request came through.
    pub fn for_front_door(response: HttpResponse, front_door: FrontDoor) -> Self {
        let mut answer = LambdaHttpResponse::from(response);
        if matches!(front_door, FrontDoor::FunctionUrl | FrontDoor::HttpApi) {
            answer.cookies = Some(Vec::new());
        }
        answer
    }
}

impl From<HttpResponse> for LambdaHttpResponse {
    fn from(response: HttpResponse) -> Self {
        LambdaHttpResponse {
            status_code: response.status,
            headers: response
                .headers
                .into_iter()
                .map(|(n, v)| (n.to_string(), v))
                .collect(),
            body: response.body,
            is_base64_encoded: false,
            cookies: None,
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

    #[test]
    fn function_url_event_keeps_raw_path_query_and_header_order() {
        let event = r#"{
            "version": "2.0", "rawPath": "/a%2Fb/c", "rawQueryString": "z=1&a=%41",
            "headers": {"X-Second": "2", "content-type": "application/json", "x-first": "1"},
            "requestContext": {"domainName": "abc.lambda-url.us-east-1.on.aws",
                               "http": {"method": "post", "sourceIp": "1.2.3.4"}},
            "body": "eyJhIjoxfQ==", "isBase64Encoded": true
        }"#;
        let req = parse_event(event).unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.raw_path, "/a%2Fb/c");
        assert_eq!(req.raw_query, "z=1&a=%41");
        assert_eq!(req.origin.front_door, FrontDoor::FunctionUrl);
        assert_eq!(req.origin.source_ip.as_deref(), Some("1.2.3.4"));
        let names: Vec<_> = req.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["x-second", "content-type", "x-first"]);
        assert_eq!(&req.body[..], br#"{"a":1}"#);
    }

    #[test]
    fn rest_event_uses_multi_value_headers_and_stage_path() {
        let event = r#"{
            "resource": "/{proxy+}", "path": "/redox", "httpMethod": "POST",
            "headers": {"X-Rep": "b"},
            "multiValueHeaders": {"X-Rep": ["a", "b"], "Host": ["h.example"],
                                  "X-Amz-Cf-Id": ["added-by-cloudfront"]},
            "queryStringParameters": {"q": "x y"},
            "multiValueQueryStringParameters": {"q": ["x y", "z"]},
            "requestContext": {"path": "/prod/redox", "httpMethod": "POST",
                               "identity": {"userArn": "arn:aws:iam::1:user/redox", "sourceIp": "5.6.7.8"}},
            "body": "hello", "isBase64Encoded": false
        }"#;
        let req = parse_event(event).unwrap();
        assert_eq!(req.origin.front_door, FrontDoor::RestApi);
        assert_eq!(req.raw_path, "/prod/redox");
        assert_eq!(req.raw_query, "q=x%20y&q=z");
        assert_eq!(
            req.headers,
            vec![
                ("x-rep".to_string(), "a".to_string()),
                ("x-rep".to_string(), "b".to_string()),
                ("host".to_string(), "h.example".to_string())
            ]
        );
        assert_eq!(
            req.origin.verified_iam_principal.as_deref(),
            Some("arn:aws:iam::1:user/redox")
        );
        assert_eq!(&req.body[..], b"hello");
    }

    #[test]
    fn payload_2_answers_carry_cookies_and_rest_answers_do_not() {
        let answer = |door| {
            serde_json::to_value(LambdaHttpResponse::for_front_door(
                HttpResponse::plain_text(200, "x".into()),
                door,
            ))
            .unwrap()
        };
        assert_eq!(
            answer(FrontDoor::FunctionUrl)["cookies"],
            serde_json::json!([])
        );
        assert_eq!(answer(FrontDoor::HttpApi)["cookies"], serde_json::json!([]));
        assert!(answer(FrontDoor::RestApi).get("cookies").is_none());
    }

    #[test]
    fn invalid_base64_is_an_error_not_a_panic() {
        let event = r#"{"version":"2.0","rawPath":"/","requestContext":{"http":{"method":"POST"}},
                        "body":"not base64!!","isBase64Encoded":true}"#;
        assert_eq!(parse_event(event), Err(EventError::InvalidBase64Body));
    }

    #[test]
    fn non_http_events_are_refused_with_a_reason() {
        assert!(matches!(
            parse_event(r#"{"Records": []}"#),
            Err(EventError::MissingMethod | EventError::UnknownShape(_))
        ));
        assert!(matches!(
            parse_event("[1,2]"),
            Err(EventError::UnknownShape(_))
        ));
    }

    #[test]
    fn http_api_iam_principal_comes_from_the_request_context() {
        let event = r#"{"version":"2.0","rawPath":"/","rawQueryString":"",
            "headers":{"x-amz-user-arn":"arn:forged"},
            "requestContext":{"domainName":"id.execute-api.us-east-1.amazonaws.com",
              "http":{"method":"POST"},
              "authorizer":{"iam":{"userArn":"arn:aws:iam::1:role/redox"}}}}"#;
        let req = parse_event(event).unwrap();
        assert_eq!(req.origin.front_door, FrontDoor::HttpApi);
        assert_eq!(
            req.origin.verified_iam_principal.as_deref(),
            Some("arn:aws:iam::1:role/redox")
        );
    }

    #[test]
    fn the_public_base_url_comes_from_the_request_context_only() {
        let base = |context: serde_json::Value| {
            let event = serde_json::json!({
                "version": "2.0", "rawPath": "/", "rawQueryString": "",
                "headers": {"host": "evil.example", "x-forwarded-host": "evil.example"},
                "requestContext": context,
            });
            parse_event(&event.to_string())
                .unwrap()
                .origin
                .public_base_url
        };
        let url = |domain: &str, stage: &str| {
            base(serde_json::json!({"domainName": domain, "stage": stage,
                                    "http": {"method": "POST"}}))
        };
        assert_eq!(
            url("abc.lambda-url.us-east-1.on.aws", "$default").as_deref(),
            Some("https://abc.lambda-url.us-east-1.on.aws")
        );
        assert_eq!(
            url("id.execute-api.us-east-1.amazonaws.com", "prod").as_deref(),
            Some("https://id.execute-api.us-east-1.amazonaws.com/prod")
        );
        assert_eq!(url("evil.example/x", "$default"), None);
        assert_eq!(url("user@evil.example", "$default"), None);
        assert_eq!(url("id.execute-api.us-east-1.amazonaws.com", "a/b"), None);
        assert_eq!(base(serde_json::json!({"http": {"method": "POST"}})), None);
        let rest = serde_json::json!({
            "resource": "/", "path": "/", "httpMethod": "POST",
            "headers": {"Host": "evil.example"},
            "requestContext": {"domainName": "id.execute-api.us-east-1.amazonaws.com",
                               "stage": "v1", "path": "/v1/"},
        });
        assert_eq!(
            parse_event(&rest.to_string())
                .unwrap()
                .origin
                .public_base_url
                .as_deref(),
            Some("https://id.execute-api.us-east-1.amazonaws.com/v1")
        );
    }
}
