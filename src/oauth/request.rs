//! The token request (RFC 6749 4.4.2), parsed once, strictly, in work
//! linear in its size: the method, the body (a form, or a JSON object of
//! strings as Redox's OAuth client can send), and the client credentials it
//! presents (HTTP Basic or body fields, RFC 6749 2.3.1; or a client
//! assertion, RFC 7523 2.2). Unknown parameters are ignored (RFC 6749 3.2).
//!
//! It runs before the client is authenticated, so every step is counted
//! ([`crate::work`]) and nothing is quadratic: repeated parameters are found
//! with one hash-set insert per parameter (SipHash with a random key, so a
//! caller cannot choose colliding names). Nothing here knows which clients
//! exist; [`super::client_auth`] compares what was presented.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::assertion::ASSERTION_TYPE;
use super::error::OAuthError;
use crate::inbound::{InboundRequest, form_decode};
use crate::work;

/// Token requests are a few form fields; anything larger is refused unread.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// Padding is optional in the Basic credentials some clients send.
const BASIC_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The parameters of a token request, decoded, each name once.
pub struct Parameters(HashMap<String, String>);

impl Parameters {
    /// Splits an `application/x-www-form-urlencoded` body into decoded
    /// parameters; a name sent twice is refused (RFC 6749 3.2).
    pub fn parse(body: &str) -> Result<Parameters, OAuthError> {
        work::count(body.len());
        let mut parameters = HashMap::new();
        for part in body.split('&').filter(|part| !part.is_empty()) {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            let name = form_decode(name);
            // Hashing the name, and the one probe.
            work::count(name.len() + 1);
            match parameters.entry(name) {
                Entry::Occupied(_) => {
                    return Err(OAuthError::InvalidRequest("A parameter is repeated."));
                }
                Entry::Vacant(slot) => {
                    slot.insert(form_decode(value));
                }
            }
        }
        Ok(Parameters(parameters))
    }

    /// Reads an `application/json` body: one object whose values are all
    /// strings, each name once.
    pub fn parse_json(body: &[u8]) -> Result<Parameters, OAuthError> {
        // serde_json reads each byte a bounded number of times.
        work::count(body.len());
        serde_json::from_slice::<StringObject>(body)
            .map(|StringObject(parameters)| Parameters(parameters))
            .map_err(|_| {
                OAuthError::InvalidRequest(
                    "A JSON body must be one object of string values, each name once.",
                )
            })
    }

    /// The value of `name`, decoded.
    pub fn get(&self, name: &str) -> Option<&str> {
        work::count(name.len() + 1);
        self.0.get(name).map(String::as_str)
    }
}

/// A JSON object of string values with no name twice.
struct StringObject(HashMap<String, String>);

impl<'de> serde::Deserialize<'de> for StringObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StringObjectVisitor)
    }
}

struct StringObjectVisitor;

impl<'de> serde::de::Visitor<'de> for StringObjectVisitor {
    type Value = StringObject;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of strings")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<StringObject, A::Error> {
        let mut parameters = HashMap::new();
        while let Some(name) = map.next_key::<String>()? {
            let value: String = map.next_value()?;
            work::count(name.len() + 1);
            match parameters.entry(name) {
                Entry::Occupied(_) => {
                    return Err(serde::de::Error::custom("a parameter is repeated"));
                }
                Entry::Vacant(slot) => {
                    slot.insert(value);
                }
            }
        }
        Ok(StringObject(parameters))
    }
}

/// Client credentials as presented, never yet compared with any client.
pub enum PresentedClient {
    /// A client id and secret: candidate (id, secret) readings, since Basic
    /// credentials are meant to be form-encoded (RFC 6749 2.3.1) but many
    /// clients send them raw.
    Secret { readings: Vec<(String, String)> },
    /// A signed client assertion (RFC 7523 2.2), with the `client_id`
    /// parameter if one was sent too.
    Assertion {
        assertion: String,
        client_id: Option<String>,
    },
}

impl std::fmt::Debug for PresentedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PresentedClient::Secret { .. } => f.debug_struct("Secret").finish_non_exhaustive(),
            PresentedClient::Assertion { .. } => {
                f.debug_struct("Assertion").finish_non_exhaustive()
            }
        }
    }
}

/// A token request, parsed: what is asked for and who asks.
pub struct TokenRequest {
    pub grant_type: String,
    pub scope: Option<String>,
    pub client: PresentedClient,
    pub parameters: Parameters,
}

impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest")
            .field("grant_type", &self.grant_type)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl TokenRequest {
    /// Parses a request to the token endpoint. Refusals come in a fixed
    /// order (method, body, grant type present, client credentials), and
    /// none depends on which clients exist.
    pub fn parse(request: &InboundRequest) -> Result<TokenRequest, OAuthError> {
        if request.method != "POST" {
            return Err(OAuthError::MethodNotAllowed("POST"));
        }
        let parameters = body_parameters(request)?;
        let grant_type = parameters
            .get("grant_type")
            .ok_or(OAuthError::InvalidRequest("grant_type is missing."))?
            .to_owned();
        let client = presented_client(request, &parameters)?;
        let scope = parameters.get("scope").map(str::to_owned);
        Ok(TokenRequest {
            grant_type,
            scope,
            client,
            parameters,
        })
    }
}

fn body_parameters(request: &InboundRequest) -> Result<Parameters, OAuthError> {
    let media_type = request
        .header_values("content-type")
        .next()
        .and_then(|value| value.split(';').next())
        .map(str::trim);
    let json = match media_type {
        Some(t) if t.eq_ignore_ascii_case("application/x-www-form-urlencoded") => false,
        Some(t) if t.eq_ignore_ascii_case("application/json") => true,
        _ => {
            return Err(OAuthError::InvalidRequest(
                "The body must be application/x-www-form-urlencoded or application/json.",
            ));
        }
    };
    if request.body.len() > MAX_FORM_BYTES {
        return Err(OAuthError::InvalidRequest("The body is too large."));
    }
    if json {
        return Parameters::parse_json(&request.body);
    }
    let body = std::str::from_utf8(&request.body)
        .map_err(|_| OAuthError::InvalidRequest("The body is not UTF-8."))?;
    Parameters::parse(body)
}

fn basic_credentials(value: &str) -> Result<PresentedClient, OAuthError> {
    work::count(value.len());
    let decoded = BASIC_BASE64
        .decode(value.trim())
        .map_err(|_| OAuthError::InvalidRequest("the Basic credentials are not base64"))?;
    let text = String::from_utf8(decoded)
        .map_err(|_| OAuthError::InvalidRequest("the Basic credentials are not UTF-8"))?;
    let (id, secret) = text.split_once(':').ok_or(OAuthError::InvalidRequest(
        "the Basic credentials have no ':'",
    ))?;
    let raw = (id.to_owned(), secret.to_owned());
    let form = (form_decode(id), form_decode(secret));
    let readings = if form == raw {
        vec![raw]
    } else {
        vec![raw, form]
    };
    Ok(PresentedClient::Secret { readings })
}

/// The client a token request authenticates as: by a client assertion, by
/// Basic, or by body fields. One method per request (RFC 6749 2.3): an
/// assertion next to a secret is malformed.
fn presented_client(
    request: &InboundRequest,
    parameters: &Parameters,
) -> Result<PresentedClient, OAuthError> {
    let authorization = request
        .single_header("authorization")
        .map_err(|_| OAuthError::InvalidRequest("The authorization header is repeated."))?;
    let form_id = parameters.get("client_id");
    let form_secret = parameters.get("client_secret");
    match (
        parameters.get("client_assertion_type"),
        parameters.get("client_assertion"),
    ) {
        (None, None) => {}
        (Some(assertion_type), Some(assertion)) => {
            if authorization.is_some() || form_secret.is_some() {
                return Err(OAuthError::InvalidRequest(
                    "A client assertion and client credentials were both presented; use one.",
                ));
            }
            if assertion_type != ASSERTION_TYPE {
                return Err(OAuthError::InvalidClient(
                    "the client_assertion_type is not jwt-bearer (RFC 7523)",
                ));
            }
            return Ok(PresentedClient::Assertion {
                assertion: assertion.to_owned(),
                client_id: form_id.map(str::to_owned),
            });
        }
        _ => {
            return Err(OAuthError::InvalidRequest(
                "client_assertion and client_assertion_type go together.",
            ));
        }
    }
    match authorization {
        Some(value) => {
            let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(OAuthError::InvalidClient(
                    "the authorization scheme is not Basic",
                ));
            }
            let client = basic_credentials(credentials)?;
            let PresentedClient::Secret { readings } = &client else {
                return Ok(client);
            };
            // RFC 6749 2.3 asks clients for one method per request; some send
            // the same credentials both ways, which is accepted only when
            // the two agree.
            let agrees = readings.iter().any(|(id, secret)| {
                form_id.is_none_or(|form_id| form_id == id)
                    && form_secret.is_none_or(|form_secret| form_secret == secret)
            });
            if !agrees {
                return Err(OAuthError::InvalidRequest(
                    "The body's client credentials differ from the Basic credentials.",
                ));
            }
            Ok(client)
        }
        None => match (form_id, form_secret) {
            (Some(id), Some(secret)) => Ok(PresentedClient::Secret {
                readings: vec![(id.to_owned(), secret.to_owned())],
            }),
            _ => Err(OAuthError::InvalidClient(
                "no client credentials were presented",
            )),
        },
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
    use bytes::Bytes;

    use super::*;
    use crate::inbound::{FrontDoor, Origin};

    fn form_request(body: String) -> InboundRequest {
        InboundRequest {
            method: "POST".into(),
            raw_path: "/oauth2/token".into(),
            raw_query: String::new(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: Bytes::from(body),
            origin: Origin::new(FrontDoor::LocalServer),
        }
    }

    /// `count` distinct two-character names, `n0=&n1=&…`, as in the issue.
    fn many_names(count: usize) -> String {
        let alphabet: Vec<char> = ('a'..='z').chain('A'..='Z').chain('0'..='9').collect();
        (0..count)
            .map(|i| {
                let first = alphabet[i / alphabet.len() % alphabet.len()];
                let second = alphabet[i % alphabet.len()];
                format!("{first}{second}=")
            })
            .collect::<Vec<_>>()
            .join("&")
    }

    #[test]
    fn parsing_work_grows_linearly_with_the_number_of_parameters() {
        // The form: 16 KiB of distinct two-character names, against
        // one pair of the same size.
        let names = many_names(3844);
        assert!(names.len() <= MAX_FORM_BYTES);
        let one_pair = format!("grant_type={}", "x".repeat(names.len() - 11));
        let (_, many_steps) = work::measure(|| TokenRequest::parse(&form_request(names.clone())));
        let (_, one_steps) = work::measure(|| TokenRequest::parse(&form_request(one_pair)));
        assert!(
            many_steps <= 4 * one_steps,
            "{many_steps} steps for {} names, {one_steps} for one pair",
            3844
        );
    }

    #[test]
    fn a_repeated_parameter_is_found_wherever_it_is() {
        let mut body = many_names(2000);
        body.push_str("&aa=again");
        let error = TokenRequest::parse(&form_request(body)).unwrap_err();
        assert_eq!(
            error,
            OAuthError::InvalidRequest("A parameter is repeated.")
        );
        // Names are compared decoded.
        let error = TokenRequest::parse(&form_request(
            "grant_type=client_credentials&gr%61nt_type=x".into(),
        ))
        .unwrap_err();
        assert_eq!(
            error,
            OAuthError::InvalidRequest("A parameter is repeated.")
        );
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let parsed = TokenRequest::parse(&form_request(
            "grant_type=client_credentials&client_id=redox&client_secret=very-secret".into(),
        ))
        .unwrap();
        let shown = format!("{parsed:?} {:?}", parsed.client);
        assert!(!shown.contains("very-secret"), "{shown}");
    }
}
