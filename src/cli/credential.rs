//! The credential `send` presents, exactly as Redox presents it (SPEC 2):
//! the verification token as `verification-token` and `authorization:
//! Bearer`; an AwsSigv4 signature made with the aws-sigv4 crate over
//! `content-type;host;x-amz-date` (plus `x-amz-security-token` with a
//! session token), no `x-amz-content-sha256`; an OAuth 2.0
//! client-credentials token fetched first (with a client secret, or a
//! signed client assertion as SMART Backend does) and sent as `Bearer`; a
//! JWT signed here and sent as `Bearer` itself (JWT Bearer); or a Bearer
//! token made elsewhere, as it is (a Google credential from `gcloud`).
//!
//! Secrets live in [`Secret`], whose `Debug` prints nothing, and are never
//! printed or logged.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Uri};

use super::http::{Answer, HttpClient, Outgoing, TransportError, percent_encode};
use super::report;
use super::signing_key::SigningKey;
use crate::oauth::assertion::ASSERTION_TYPE;

/// A secret from the environment or a file (never an option's value).
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Redox's AwsSigv4 credential: accessKey, secretKey, serviceName,
/// awsRegion, sessionToken.
#[derive(Debug, Clone)]
pub struct Sigv4Key {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
    pub region: String,
    pub service: String,
}

/// Redox's OAuth 2.0 2-legged or SMART Backend credential (client
/// credentials grant).
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub token_url: Uri,
    pub client_id: String,
    pub authentication: ClientAuth,
    pub scope: Option<String>,
}

/// How the client authenticates at the token URL.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// HTTP Basic with the client secret (OAuth 2.0 2-legged).
    Secret(Secret),
    /// A client assertion signed with this key (SMART Backend Services,
    /// RFC 7523 `private_key_jwt`).
    Assertion(Arc<SigningKey>),
}

/// Redox's JWT Bearer credential: a JWT signed with its key, sent as the
/// Bearer itself.
#[derive(Debug, Clone)]
pub struct JwtBearer {
    pub key: Arc<SigningKey>,
    pub issuer: String,
    pub subject: String,
    pub audience: String,
}

#[derive(Debug, Clone)]
pub enum Credential {
    /// No credential at all (the negative checks of `verify`).
    Nothing,
    Token(Secret),
    Sigv4(Sigv4Key),
    OAuth(OAuthClient),
    JwtBearer(JwtBearer),
    /// A Bearer token made elsewhere, sent as it is (a Google ID or access
    /// token from gcloud, a token an identity provider issued).
    Bearer(Secret),
}

impl Credential {
    /// One line for the user; names the method and non-secret ids only.
    pub fn describe(&self) -> String {
        match self {
            Credential::Nothing => "no credential".into(),
            Credential::Token(_) => "verification token".into(),
            Credential::Sigv4(key) => format!(
                "AWS SigV4, key {}, region {}, service {}{}",
                key.access_key_id,
                key.region,
                key.service,
                if key.session_token.is_some() {
                    ", with a session token"
                } else {
                    ""
                }
            ),
            Credential::OAuth(client) => match &client.authentication {
                ClientAuth::Secret(_) => format!(
                    "OAuth 2.0 client credentials, client {} at {}",
                    client.client_id, client.token_url
                ),
                ClientAuth::Assertion(key) => format!(
                    "SMART Backend client assertion ({}, kid {}), client {} at {}",
                    key.alg, key.kid, client.client_id, client.token_url
                ),
            },
            Credential::JwtBearer(jwt) => format!(
                "JWT Bearer ({}, kid {}), iss {}, aud {}",
                jwt.key.alg, jwt.key.kid, jwt.issuer, jwt.audience
            ),
            Credential::Bearer(_) => "a Bearer token, sent as given".into(),
        }
    }
}

/// Why no credential could be presented.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("the token endpoint: {0}")]
    TokenTransport(#[from] TransportError),
    #[error("the token endpoint answered HTTP {}:\n{}", .0.status, token_refusal(.0))]
    TokenRefused(Box<Answer>),
    #[error("the token endpoint's answer has no usable access_token: {0}")]
    TokenAnswer(String),
    #[error("SigV4 signing failed: {0}")]
    Signing(String),
    #[error("a header value is not valid: {0}")]
    Header(String),
    #[error("signing the JWT failed: {0}")]
    Jwt(String),
}

fn token_refusal(answer: &Answer) -> String {
    let hint = match answer.status {
        401 => {
            "the token endpoint refused the client: check the client id and its secret or key \
             (kid, and the public key in the destination's oauth_clients)"
        }
        400 => {
            "the token endpoint refused the request (invalid_scope: ask only for scopes in the \
             client's `scopes` in the auth material, or leave --scope out)"
        }
        status => report::hint(status),
    };
    format!(
        "    answer: {}\n    hint:   {hint}",
        report::body_for_display(answer)
    )
}

/// The RFC 6749 5.1 answer.
#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
    token_type: Option<String>,
    expires_in: Option<u64>,
}

/// An access token, renewed a little before it expires.
struct CachedToken {
    value: Secret,
    renew_at: Instant,
}

/// Produces the headers of each push for one credential.
pub struct Presenter {
    credential: Credential,
    token: Option<CachedToken>,
}

fn header(name: &'static str, value: &str) -> Result<(HeaderName, HeaderValue), CredentialError> {
    let value = HeaderValue::from_str(value)
        .map_err(|_| CredentialError::Header(format!("{name} has characters HTTP forbids")))?;
    Ok((HeaderName::from_static(name), value))
}

/// `host` as a client writes it: the URL's host, and its port when given.
pub fn host_of(url: &Uri) -> String {
    let host = url.host().unwrap_or_default();
    match url.port_u16() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

impl Presenter {
    pub fn new(credential: Credential) -> Presenter {
        Presenter {
            credential,
            token: None,
        }
    }

    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// The headers of a POST of `body` to `url`: `content-type` and the
    /// credential's.
    pub async fn push_headers(
        &mut self,
        client: &HttpClient,
        url: &Uri,
        content_type: &str,
        body: &[u8],
    ) -> Result<Vec<(HeaderName, HeaderValue)>, CredentialError> {
        let mut headers = vec![header("content-type", content_type)?];
        match &self.credential {
            Credential::Nothing => {}
            Credential::Token(token) => {
                headers.push(header("verification-token", token.expose())?);
                headers.push(header(
                    "authorization",
                    &format!("Bearer {}", token.expose()),
                )?);
            }
            Credential::Sigv4(key) => {
                headers.extend(sign_sigv4(key, url, content_type, body, SystemTime::now())?);
            }
            Credential::OAuth(oauth) => {
                let renew = self
                    .token
                    .as_ref()
                    .is_none_or(|t| Instant::now() >= t.renew_at);
                if renew {
                    self.token = Some(fetch_token(client, oauth).await?);
                }
                if let Some(token) = &self.token {
                    headers.push(header(
                        "authorization",
                        &format!("Bearer {}", token.value.expose()),
                    )?);
                }
            }
            Credential::JwtBearer(jwt) => {
                let claims =
                    SigningKey::claims(&jwt.issuer, &jwt.subject, &jwt.audience, SystemTime::now());
                let token = jwt.key.sign(&claims).map_err(CredentialError::Jwt)?;
                headers.push(header("authorization", &format!("Bearer {token}"))?);
            }
            Credential::Bearer(token) => {
                headers.push(header(
                    "authorization",
                    &format!("Bearer {}", token.expose()),
                )?);
            }
        }
        Ok(headers)
    }
}

/// Signs a POST as Redox's AwsSigv4 credential does: `host`, `content-type`
/// and `x-amz-date` signed, the body hashed into the signature but not sent
/// as `x-amz-content-sha256`, AWS's canonical rules for non-S3 services.
pub fn sign_sigv4(
    key: &Sigv4Key,
    url: &Uri,
    content_type: &str,
    body: &[u8],
    now: SystemTime,
) -> Result<Vec<(HeaderName, HeaderValue)>, CredentialError> {
    let identity = Credentials::new(
        key.access_key_id.clone(),
        key.secret_access_key.expose().to_owned(),
        key.session_token.as_ref().map(|t| t.expose().to_owned()),
        None,
        "redox-destination-cli",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&key.region)
        .name(&key.service)
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| CredentialError::Signing(e.to_string()))?
        .into();
    let host = host_of(url);
    let signed_headers = [("host", host.as_str()), ("content-type", content_type)];
    let signable = SignableRequest::new(
        "POST",
        url.to_string(),
        signed_headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| CredentialError::Signing(e.to_string()))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| CredentialError::Signing(e.to_string()))?
        .into_parts();
    let mut headers = vec![(
        http::header::HOST,
        HeaderValue::from_str(&host).map_err(|e| CredentialError::Header(e.to_string()))?,
    )];
    for (name, value) in instructions.headers() {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| CredentialError::Header(e.to_string()))?;
        let value =
            HeaderValue::from_str(value).map_err(|e| CredentialError::Header(e.to_string()))?;
        headers.push((name, value));
    }
    Ok(headers)
}

/// The client credentials grant (RFC 6749 4.4): HTTP Basic with the id and
/// secret form-encoded first (2.3.1), as Redox sends it by default; or a
/// client assertion in the form (RFC 7523 2.2), as SMART Backend does.
async fn fetch_token(
    client: &HttpClient,
    oauth: &OAuthClient,
) -> Result<CachedToken, CredentialError> {
    let mut form = "grant_type=client_credentials".to_owned();
    let mut headers = vec![
        header("content-type", "application/x-www-form-urlencoded")?,
        header("accept", "application/json")?,
    ];
    match &oauth.authentication {
        ClientAuth::Secret(secret) => {
            let basic = STANDARD.encode(format!(
                "{}:{}",
                percent_encode(&oauth.client_id),
                percent_encode(secret.expose())
            ));
            headers.push(header("authorization", &format!("Basic {basic}"))?);
        }
        ClientAuth::Assertion(key) => {
            let claims = SigningKey::claims(
                &oauth.client_id,
                &oauth.client_id,
                &oauth.token_url.to_string(),
                SystemTime::now(),
            );
            let assertion = key.sign(&claims).map_err(CredentialError::Jwt)?;
            form.push_str(&format!(
                "&client_assertion_type={}&client_assertion={assertion}",
                percent_encode(ASSERTION_TYPE)
            ));
        }
    }
    if let Some(scope) = &oauth.scope {
        form.push_str("&scope=");
        form.push_str(&percent_encode(scope));
    }
    let answer = client
        .send(Outgoing {
            method: Method::POST,
            url: oauth.token_url.clone(),
            headers,
            body: Bytes::from(form),
        })
        .await?;
    if answer.status != 200 {
        return Err(CredentialError::TokenRefused(Box::new(answer)));
    }
    let parsed: TokenAnswer = serde_json::from_slice(&answer.body)
        .map_err(|e| CredentialError::TokenAnswer(format!("not the RFC 6749 JSON ({e})")))?;
    if parsed
        .token_type
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
    {
        return Err(CredentialError::TokenAnswer(
            "token_type is not Bearer".into(),
        ));
    }
    if parsed.access_token.is_empty() {
        return Err(CredentialError::TokenAnswer("access_token is empty".into()));
    }
    // Renewed 30 s early (or at once, for very short lifetimes), as a
    // client does so that no push carries a token about to expire.
    let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(300));
    Ok(CachedToken {
        value: Secret::new(parsed.access_token),
        renew_at: Instant::now() + lifetime.saturating_sub(Duration::from_secs(30)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let key = Sigv4Key {
            access_key_id: "AKIDCLI".into(),
            secret_access_key: Secret::new("very-secret-value".into()),
            session_token: Some(Secret::new("session-secret".into())),
            region: "us-east-1".into(),
            service: "lambda".into(),
        };
        let shown = format!(
            "{:?} {:?} {}",
            key,
            Credential::Token(Secret::new("tok-secret".into())),
            Credential::Sigv4(key.clone()).describe()
        );
        for secret in ["very-secret-value", "session-secret", "tok-secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("AKIDCLI"), "{shown}");
    }

    fn key(session: bool) -> Sigv4Key {
        Sigv4Key {
            access_key_id: "AKIDCLI".into(),
            secret_access_key: Secret::new("cli/secret+key".into()),
            session_token: session.then(|| Secret::new("session-token".into())),
            region: "eu-west-1".into(),
            service: "lambda".into(),
        }
    }

    fn names_and_authorization(session: bool) -> (Vec<String>, String) {
        let url: Uri = "http://127.0.0.1:8080/redox?b=2&a=1".parse().unwrap();
        let headers = sign_sigv4(
            &key(session),
            &url,
            "application/json",
            b"{}",
            SystemTime::now(),
        )
        .unwrap();
        let names = headers.iter().map(|(n, _)| n.as_str().to_owned()).collect();
        let authorization = headers
            .iter()
            .find(|(n, _)| n == "authorization")
            .map(|(_, v)| v.to_str().unwrap().to_owned())
            .unwrap();
        (names, authorization)
    }

    #[test]
    fn sigv4_signs_what_redox_signs_and_sends_no_body_hash_header() {
        let (names, authorization) = names_and_authorization(false);
        assert_eq!(names, ["host", "x-amz-date", "authorization"]);
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDCLI/"),
            "{authorization}"
        );
        assert!(
            authorization.contains("/eu-west-1/lambda/aws4_request"),
            "{authorization}"
        );
        assert!(
            authorization.contains("SignedHeaders=content-type;host;x-amz-date,"),
            "{authorization}"
        );

        let (names, authorization) = names_and_authorization(true);
        assert!(
            names.contains(&"x-amz-security-token".to_owned()),
            "{names:?}"
        );
        assert!(
            authorization
                .contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"),
            "{authorization}"
        );
    }

    #[test]
    fn the_host_header_keeps_an_explicit_port() {
        assert_eq!(
            host_of(&"http://127.0.0.1:8080/".parse().unwrap()),
            "127.0.0.1:8080"
        );
        assert_eq!(
            host_of(&"https://abc.lambda-url.us-east-1.on.aws/".parse().unwrap()),
            "abc.lambda-url.us-east-1.on.aws"
        );
    }

    #[tokio::test]
    async fn the_token_goes_as_verification_token_and_as_bearer() {
        let client = HttpClient::new(false, Duration::from_secs(1)).unwrap();
        let url: Uri = "http://127.0.0.1:8080/".parse().unwrap();
        let mut presenter = Presenter::new(Credential::Token(Secret::new("tok-1".into())));
        let headers = presenter
            .push_headers(&client, &url, "application/json", b"{}")
            .await
            .unwrap();
        let shown: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            shown,
            [
                ("content-type", "application/json"),
                ("verification-token", "tok-1"),
                ("authorization", "Bearer tok-1"),
            ]
        );
    }
}
