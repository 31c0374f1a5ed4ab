//! The built-in OAuth 2.0 issuer, so a team needs no identity provider:
//! a client-credentials token endpoint (RFC 6749 section 4.4) at
//! `<base URL>/oauth2/token`, and its public keys at
//! `<base URL>/.well-known/jwks.json`.
//!
//! This file: where the endpoints are, and the grant itself (its refusals
//! are [`super::error`]'s): a request parsed once ([`super::request`]), its client
//! authenticated by secret ([`super::client_auth`]) or assertion
//! ([`super::assertion`], its `jti` recorded in [`super::replay`]), the
//! scope decided ([`super::scope`]), a token signed ([`super::mint`]).
//! Pure but for the replay record: the material, a `jwks_url` client's
//! fetched keys and the clock come in; failed attempts are counted by the
//! caller ([`crate::throttle`]).

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use std::time::{Duration, SystemTime};

use super::assertion::verify_assertion;
use super::client_auth::authenticate_secret;
use super::error::{AssertionError, OAuthError};
use super::mint::{IssuedToken, sign_token};
use super::replay::{ReplayCache, ReplayRefusal};
use super::request::{PresentedClient, TokenRequest};
use super::scope::granted_scope;
use crate::auth::jwt::jwk::KeySet;
use crate::auth::jwt::jwks::ClientKeySets;
use crate::auth::jwt::trust::BuiltinBase;
use crate::auth::material::{IssuerMaterial, OAuthClient};
use crate::inbound::{InboundRequest, Origin};
use crate::throttle::{FailureLimits, FailureThrottle};

pub const TOKEN_PATH: &str = "/oauth2/token";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// The realm of the `WWW-Authenticate: Basic` challenge.
pub const REALM: &str = "redox-destination";
/// Bound on fetching a client's `jwks_url` unless configured.
pub const DEFAULT_CLIENT_JWKS_TIMEOUT: Duration = Duration::from_secs(5);

/// This function's own OAuth 2.0 token endpoint: where it is, how long its
/// tokens live, and how failed client authentications are throttled.
#[derive(Debug, Clone)]
pub struct BuiltinIssuer {
    /// The public base URL: `iss` and `aud` of its tokens, and where its
    /// endpoints are found (behind an API Gateway stage too).
    pub base: BuiltinBase,
    pub token_lifetime: Duration,
    /// Failed client authentications at the token endpoint.
    pub failure_throttle: FailureThrottle,
    /// The `jti`s of client assertions already accepted.
    pub replay: ReplayCache,
    /// The key sets of clients that registered a `jwks_url`.
    pub client_keys: ClientKeySets,
}

impl BuiltinIssuer {
    /// The issuer for a public base URL such as
    /// `https://abc.lambda-url.us-east-1.on.aws` (no trailing slash kept).
    pub fn new(base_url: &str, token_lifetime: Duration) -> BuiltinIssuer {
        BuiltinIssuer::at(BuiltinBase::fixed(base_url), token_lifetime)
    }

    /// The issuer at whatever base URL the platform states for each request
    /// (`REDOX_OAUTH_ISSUER=auto`).
    pub fn auto(token_lifetime: Duration) -> BuiltinIssuer {
        BuiltinIssuer::at(BuiltinBase::Auto, token_lifetime)
    }

    fn at(base: BuiltinBase, token_lifetime: Duration) -> BuiltinIssuer {
        BuiltinIssuer {
            base,
            token_lifetime,
            failure_throttle: FailureThrottle::default(),
            replay: ReplayCache::default(),
            client_keys: ClientKeySets::https(DEFAULT_CLIENT_JWKS_TIMEOUT),
        }
    }

    /// The same issuer, fetching clients' `jwks_url`s with `client_keys`.
    pub fn with_client_keys(mut self, client_keys: ClientKeySets) -> BuiltinIssuer {
        self.client_keys = client_keys;
        self
    }

    /// The token endpoint's URL for a request: the audience its client
    /// assertions must name (SMART Backend Services).
    pub fn token_url(&self, origin: &Origin) -> Option<String> {
        self.base
            .url(origin)
            .map(|base| format!("{base}{TOKEN_PATH}"))
    }

    /// The same issuer with its token endpoint throttled at `limits`.
    pub fn with_failure_limits(mut self, limits: FailureLimits) -> BuiltinIssuer {
        self.failure_throttle = FailureThrottle::new(limits);
        self
    }
}

/// The path part of a base URL (`""` for a bare host).
fn base_path(base_url: &str) -> &str {
    base_url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').and_then(|at| rest.get(at..)))
        .unwrap_or("")
}

/// The two endpoints of the built-in issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Token,
    Jwks,
}

/// Which endpoint a request is for, if any: the path alone, or behind the
/// base URL's path (an API Gateway stage).
pub fn endpoint(request: &InboundRequest, issuer: &BuiltinIssuer) -> Option<Endpoint> {
    let base_path = base_path(issuer.base.url(&request.origin)?);
    let path = request.raw_path.as_str();
    let relative = if base_path.is_empty() {
        path
    } else {
        path.strip_prefix(base_path)
            .filter(|rest| rest.starts_with('/'))
            .unwrap_or(path)
    };
    match relative {
        TOKEN_PATH => Some(Endpoint::Token),
        JWKS_PATH => Some(Endpoint::Jwks),
        _ => None,
    }
}

/// Answers a token request: parses it, authenticates the client, and signs
/// a token valid for the issuer's token lifetime from `now`. (No client's
/// `jwks_url` is fetched here: [`crate::destination`] does that and calls
/// [`grant`].)
pub fn issue_token(
    request: &InboundRequest,
    issuer: &BuiltinIssuer,
    material: &IssuerMaterial,
    now: SystemTime,
) -> Result<IssuedToken, OAuthError> {
    let token_request = TokenRequest::parse(request)?;
    grant(&token_request, issuer, &request.origin, material, None, now)
}

/// Answers a parsed token request with `material`: authenticates the
/// client first (nothing about the grant is said to an unauthenticated
/// caller), then checks what it asks for and signs the token.
pub fn grant(
    token_request: &TokenRequest,
    issuer: &BuiltinIssuer,
    origin: &Origin,
    material: &IssuerMaterial,
    url_keys: Option<&KeySet>,
    now: SystemTime,
) -> Result<IssuedToken, OAuthError> {
    // Routed here only when the base URL is known (see [`endpoint`]).
    let base_url = issuer.base.url(origin).ok_or(OAuthError::SigningFailed)?;
    let client = authenticate(token_request, issuer, origin, material, url_keys, now)?;
    if token_request.grant_type != "client_credentials" {
        return Err(OAuthError::UnsupportedGrantType);
    }
    let scope = granted_scope(token_request.scope.as_deref(), client.scopes.as_deref())?;
    sign_token(
        issuer.token_lifetime,
        base_url,
        material,
        &client.client_id,
        scope.as_deref(),
        now,
    )
}

/// The configured client the request authenticates as: by secret, or by an
/// assertion whose `jti` is then recorded as used.
fn authenticate<'m>(
    token_request: &TokenRequest,
    issuer: &BuiltinIssuer,
    origin: &Origin,
    material: &'m IssuerMaterial,
    url_keys: Option<&KeySet>,
    now: SystemTime,
) -> Result<&'m OAuthClient, OAuthError> {
    let (assertion, client_id) = match &token_request.client {
        PresentedClient::Secret { readings } => return authenticate_secret(readings, material),
        PresentedClient::Assertion {
            assertion,
            client_id,
        } => (assertion, client_id),
    };
    let token_url = issuer.token_url(origin).ok_or(OAuthError::SigningFailed)?;
    let verified = verify_assertion(
        assertion,
        client_id.as_deref(),
        material,
        url_keys,
        &token_url,
        now,
    )
    .map_err(|error| match error {
        AssertionError::KeysUnavailable => OAuthError::ClientKeysUnavailable,
        other => OAuthError::InvalidAssertion(other),
    })?;
    let client = verified.client;
    issuer
        .replay
        .record(
            &client.client_id,
            &verified.jti,
            verified.acceptable_until,
            now,
        )
        .map_err(|refusal| match refusal {
            ReplayRefusal::Replayed => OAuthError::InvalidAssertion(AssertionError::Replayed),
            ReplayRefusal::TooManyGrants { retry_after } => OAuthError::TooManyGrants {
                retry_after_secs: retry_after.as_secs(),
            },
            ReplayRefusal::Full { retry_after } => OAuthError::ReplayCacheFull {
                retry_after_secs: retry_after.as_secs(),
            },
        })?;
    Ok(client)
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use bytes::Bytes;

    use super::*;
    use crate::auth::jwt::jwk::test_keys;
    use crate::auth::jwt::trust::IssuerKind;
    use crate::auth::jwt::{JwtError, TrustedIssuer, verify_jwt};
    use crate::inbound::{FrontDoor, Origin};
    use crate::oauth::{MAX_FORM_BYTES, jwks_document};

    const BASE: &str = "https://abc.lambda-url.us-east-1.on.aws";
    const SECRET: &str = "s3cret+with/odd=chars";

    fn issuer() -> BuiltinIssuer {
        BuiltinIssuer::new(BASE, Duration::from_secs(300))
    }

    fn material() -> IssuerMaterial {
        let mut material = IssuerMaterial::default();
        material
            .add_client("other", "another-long-secret-of-128-bits")
            .unwrap();
        material.add_client("redox", SECRET).unwrap();
        material
            .add_signing_key("k1", &test_keys::ed25519_pem())
            .unwrap();
        material
            .add_signing_key("k0", &test_keys::p256_pem())
            .unwrap();
        material
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn token_request(headers: &[(&str, &str)], body: &str) -> InboundRequest {
        let mut all = vec![(
            "content-type".to_owned(),
            "application/x-www-form-urlencoded".to_owned(),
        )];
        all.extend(headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        InboundRequest {
            method: "POST".into(),
            raw_path: TOKEN_PATH.into(),
            raw_query: String::new(),
            headers: all,
            body: Bytes::from(body.to_owned()),
            origin: Origin::new(FrontDoor::LocalServer),
        }
    }

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    fn issue(request: &InboundRequest) -> Result<IssuedToken, OAuthError> {
        issue_token(request, &issuer(), &material(), now())
    }

    #[test]
    fn basic_and_form_credentials_both_get_a_token_the_jwt_method_accepts() {
        let m = material();
        let encoded_secret = "s3cret%2Bwith%2Fodd%3Dchars";
        let requests = [
            token_request(
                &[("authorization", &basic("redox", SECRET))],
                "grant_type=client_credentials",
            ),
            // RFC 6749 2.3.1: Basic credentials form-encoded first.
            token_request(
                &[("authorization", &basic("redox", encoded_secret))],
                "grant_type=client_credentials",
            ),
            token_request(
                &[],
                &format!(
                    "grant_type=client_credentials&client_id=redox&client_secret={encoded_secret}"
                ),
            ),
            token_request(
                &[("authorization", &basic("redox", SECRET))],
                "grant_type=client_credentials&client_id=redox&scope=",
            ),
            // The same credentials both ways (some clients do).
            token_request(
                &[("authorization", &basic("redox", SECRET))],
                &format!(
                    "grant_type=client_credentials&client_id=redox&client_secret={encoded_secret}"
                ),
            ),
        ];
        for request in &requests {
            let issued = issue_token(request, &issuer(), &m, now()).unwrap();
            assert_eq!(issued.expires_in, 300);
            assert_eq!(issued.client_id, "redox");
            let body = issued.response_body();
            assert_eq!(body["token_type"], "Bearer");
            let keys = m.verification_keys();
            let issuer = issuer();
            let settings = issuer.base.settings(&request.origin).unwrap();
            let trusted = [TrustedIssuer {
                kind: IssuerKind::BuiltIn,
                settings: &settings,
                keys: Some(keys),
            }];
            assert!(verify_jwt(&issued.access_token, &trusted, now()).is_ok());
            // Short-lived: refused once its lifetime (plus leeway) is over.
            assert_eq!(
                verify_jwt(
                    &issued.access_token,
                    &trusted,
                    now() + Duration::from_secs(361)
                ),
                Err(JwtError::Expired)
            );
        }
    }

    #[test]
    fn the_token_names_the_configured_client_not_the_spelling_sent() {
        for spelling in ["%6Fther", "%6fther", "oth%65r", "other"] {
            let issued = issue(&token_request(
                &[(
                    "authorization",
                    &basic(spelling, "another-long-secret-of-128-bits"),
                )],
                "grant_type=client_credentials",
            ))
            .unwrap();
            assert_eq!(issued.client_id, "other", "{spelling}");
            let claims = issued.access_token.split('.').nth(1).unwrap();
            let claims: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
            assert_eq!(
                (&claims["sub"], &claims["client_id"]),
                (&"other".into(), &"other".into()),
                "{spelling}"
            );
        }
    }

    #[test]
    fn the_first_key_signs_and_every_key_is_published() {
        let issued = issue(&token_request(
            &[("authorization", &basic("redox", SECRET))],
            "grant_type=client_credentials",
        ))
        .unwrap();
        let header = jsonwebtoken::decode_header(&issued.access_token).unwrap();
        assert_eq!(header.kid.as_deref(), Some("k1"));
        assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
        let jwks = jwks_document(&material());
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, ["k1", "k0"]);
        assert!(!jwks.to_string().contains("\"d\""), "no private part");
    }

    #[test]
    fn client_authentication_failures_are_invalid_client() {
        for request in [
            token_request(
                &[("authorization", &basic("redox", "wrong-secret"))],
                "grant_type=client_credentials",
            ),
            token_request(
                &[("authorization", &basic("nobody", SECRET))],
                "grant_type=client_credentials",
            ),
            token_request(
                &[("authorization", &basic("other", SECRET))],
                "grant_type=client_credentials",
            ),
            token_request(&[], "grant_type=client_credentials"),
            token_request(&[], "grant_type=client_credentials&client_id=redox"),
            token_request(
                &[("authorization", "Bearer x")],
                "grant_type=client_credentials",
            ),
        ] {
            let error = issue(&request).unwrap_err();
            assert!(
                matches!(
                    error,
                    OAuthError::InvalidClient(_) | OAuthError::ClientMismatch
                ),
                "{error}"
            );
            assert_eq!(error.status(), 401);
            assert_eq!(error.description(), "Client authentication failed.");
        }
    }

    #[test]
    fn malformed_requests_are_invalid_request() {
        let auth = basic("redox", SECRET);
        let cases = [
            token_request(&[("authorization", &auth)], "client_id=redox"),
            token_request(
                &[("authorization", &auth)],
                "grant_type=client_credentials&grant_type=client_credentials",
            ),
            token_request(
                &[("authorization", &auth)],
                "grant_type=client_credentials&client_secret=another-long-secret-of-128-bits",
            ),
            token_request(
                &[("authorization", &auth)],
                "grant_type=client_credentials&client_id=someone",
            ),
            token_request(
                &[("authorization", "Basic !!!")],
                "grant_type=client_credentials",
            ),
            token_request(
                &[("authorization", &auth), ("authorization", &auth)],
                "grant_type=client_credentials",
            ),
            token_request(&[("authorization", &auth)], &"x".repeat(MAX_FORM_BYTES + 1)),
        ];
        for request in cases {
            let error = issue(&request).unwrap_err();
            assert!(matches!(error, OAuthError::InvalidRequest(_)), "{error}");
            assert_eq!(
                (error.status(), error.error_code()),
                (400, "invalid_request")
            );
        }
        let mut json = token_request(&[("authorization", &auth)], "grant_type=client_credentials");
        json.headers[0].1 = "application/json".into();
        assert!(matches!(issue(&json), Err(OAuthError::InvalidRequest(_))));
        let mut get = json.clone();
        get.method = "GET".into();
        assert_eq!(issue(&get).unwrap_err().status(), 405);
    }

    #[test]
    fn other_grant_types_and_scopes_are_refused() {
        let auth = basic("redox", SECRET);
        let error = issue(&token_request(
            &[("authorization", &auth)],
            "grant_type=password",
        ))
        .unwrap_err();
        assert_eq!(
            (error.status(), error.error_code()),
            (400, "unsupported_grant_type")
        );
        let error = issue(&token_request(
            &[("authorization", &auth)],
            "grant_type=client_credentials&scope=system%2F*.read",
        ))
        .unwrap_err();
        assert_eq!((error.status(), error.error_code()), (400, "invalid_scope"));
    }

    #[test]
    fn without_a_signing_key_no_token_is_issued() {
        let mut m = IssuerMaterial::default();
        m.add_client("redox", SECRET).unwrap();
        let request = token_request(
            &[("authorization", &basic("redox", SECRET))],
            "grant_type=client_credentials",
        );
        let error = issue_token(&request, &issuer(), &m, now()).unwrap_err();
        assert_eq!(
            (error, 503),
            (OAuthError::NoSigningKey, OAuthError::NoSigningKey.status())
        );
    }

    #[test]
    fn endpoints_are_found_at_the_root_and_behind_a_stage() {
        let mut request = token_request(&[], "");
        assert_eq!(endpoint(&request, &issuer()), Some(Endpoint::Token));
        request.raw_path = JWKS_PATH.into();
        assert_eq!(endpoint(&request, &issuer()), Some(Endpoint::Jwks));
        request.raw_path = "/".into();
        assert_eq!(endpoint(&request, &issuer()), None);
        request.raw_path = "/oauth2/token/".into();
        assert_eq!(endpoint(&request, &issuer()), None);
        let staged = BuiltinIssuer::new(
            "https://x.execute-api.us-east-1.amazonaws.com/prod",
            Duration::ZERO,
        );
        request.raw_path = "/prod/oauth2/token".into();
        assert_eq!(endpoint(&request, &staged), Some(Endpoint::Token));
        request.raw_path = "/oauth2/token".into();
        assert_eq!(endpoint(&request, &staged), Some(Endpoint::Token));
        request.raw_path = "/production/oauth2/token".into();
        assert_eq!(endpoint(&request, &staged), None);
    }

    #[test]
    fn issued_tokens_never_show_in_debug_output() {
        let issued = issue(&token_request(
            &[("authorization", &basic("redox", SECRET))],
            "grant_type=client_credentials",
        ))
        .unwrap();
        assert!(!format!("{issued:?}").contains(&issued.access_token));
    }

    #[test]
    fn the_builtin_issuer_is_its_own_audience_and_knows_its_base_path() {
        let origin = Origin::new(FrontDoor::LocalServer);
        let bare = BuiltinIssuer::new("https://abc.lambda-url.us-east-1.on.aws/", Duration::ZERO);
        let settings = bare.base.settings(&origin).unwrap();
        assert_eq!(settings.issuer, "https://abc.lambda-url.us-east-1.on.aws");
        assert_eq!(settings.audiences, vec![settings.issuer.clone()]);
        assert_eq!(base_path(bare.base.url(&origin).unwrap()), "");
        let staged = BuiltinIssuer::new(
            "https://x.execute-api.us-east-1.amazonaws.com/prod",
            Duration::ZERO,
        );
        assert_eq!(base_path(staged.base.url(&origin).unwrap()), "/prod");
    }

    #[test]
    fn the_auto_issuer_is_wherever_the_platform_says_the_request_arrived() {
        let auto = BuiltinIssuer::auto(Duration::from_secs(300));
        let m = material();
        let mut request = token_request(
            &[("authorization", &basic("redox", SECRET))],
            "grant_type=client_credentials",
        );
        // No base URL stated: the endpoints are not there, and no token.
        assert_eq!(endpoint(&request, &auto), None);
        assert!(auto.base.settings(&request.origin).is_none());
        request.origin.public_base_url =
            Some("https://x.execute-api.us-east-1.amazonaws.com/prod".into());
        request.raw_path = "/prod/oauth2/token".into();
        assert_eq!(endpoint(&request, &auto), Some(Endpoint::Token));
        let issued = issue_token(&request, &auto, &m, now()).unwrap();
        let claims = claims_of(&issued.access_token);
        assert_eq!(
            claims["iss"],
            "https://x.execute-api.us-east-1.amazonaws.com/prod"
        );
        assert_eq!(
            claims["aud"],
            "https://x.execute-api.us-east-1.amazonaws.com/prod"
        );
        request.origin.public_base_url = Some("https://abc.lambda-url.us-east-1.on.aws".into());
        request.raw_path = TOKEN_PATH.into();
        let issued = issue_token(&request, &auto, &m, now()).unwrap();
        assert_eq!(
            claims_of(&issued.access_token)["iss"],
            "https://abc.lambda-url.us-east-1.on.aws"
        );
    }

    /// Material with a SMART client (inline RSA key, scopes) beside `redox`.
    fn smart_material(pair: &aws_lc_rs::signature::RsaKeyPair) -> IssuerMaterial {
        use crate::auth::material::{ClientAuthentication, PublicKeys};
        let mut m = material();
        let jwks = serde_json::json!({"keys": [test_keys::rsa_jwk(pair, "smart-1")]});
        m.add_client_at(
            "t",
            "smart",
            ClientAuthentication::Jwks(PublicKeys::from_value(&jwks, "t").unwrap()),
            Some(vec!["system/*.write".into(), "system/Patient.read".into()]),
        )
        .unwrap();
        m
    }

    fn smart_assertion(pair: &aws_lc_rs::signature::RsaKeyPair, jti: &str) -> String {
        use crate::auth::jwt::verify::test_tokens::{Signer, token};
        let exp = now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 240;
        token(
            &serde_json::json!({"alg": "RS384", "kid": "smart-1", "typ": "JWT"}),
            &serde_json::json!({"iss": "smart", "sub": "smart", "exp": exp, "jti": jti,
                                "aud": format!("{BASE}{TOKEN_PATH}")}),
            Signer::Rsa(pair, &aws_lc_rs::signature::RSA_PKCS1_SHA384),
        )
    }

    fn assertion_body(assertion: &str, extra: &str) -> String {
        format!(
            "grant_type=client_credentials&client_assertion_type={}&client_assertion={assertion}{extra}",
            "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
        )
    }

    #[test]
    fn a_signed_assertion_gets_a_token_with_the_scope_asked_for_once() {
        let pair = test_keys::rsa_pair();
        let m = smart_material(&pair);
        let issuer = issuer();
        let body = assertion_body(&smart_assertion(&pair, "jti-1"), "&scope=system%2F*.write");
        let issued = issue_token(&token_request(&[], &body), &issuer, &m, now()).unwrap();
        assert_eq!(issued.client_id, "smart");
        assert_eq!(issued.scope.as_deref(), Some("system/*.write"));
        assert_eq!(issued.response_body()["scope"], "system/*.write");
        assert_eq!(claims_of(&issued.access_token)["scope"], "system/*.write");
        // The same assertion again: a replay.
        let again = issue_token(&token_request(&[], &body), &issuer, &m, now()).unwrap_err();
        assert_eq!(
            again,
            OAuthError::InvalidAssertion(AssertionError::Replayed)
        );
        assert_eq!(
            (again.status(), again.error_code()),
            (401, "invalid_client")
        );
        // A scope the client was not given, after it authenticated.
        let body = assertion_body(&smart_assertion(&pair, "jti-2"), "&scope=system%2F*.*");
        let error = issue_token(&token_request(&[], &body), &issuer, &m, now()).unwrap_err();
        assert_eq!((error.status(), error.error_code()), (400, "invalid_scope"));
    }

    #[test]
    fn secrets_and_assertions_authenticate_only_their_own_kind_of_client() {
        let pair = test_keys::rsa_pair();
        let m = smart_material(&pair);
        let issuer = issuer();
        // An assertion naming the client-secret client `redox`.
        let redox_assertion = {
            use crate::auth::jwt::verify::test_tokens::{Signer, token};
            token(
                &serde_json::json!({"alg": "RS384", "kid": "smart-1"}),
                &serde_json::json!({"iss": "redox", "sub": "redox", "exp": 1_800_000_100u64,
                                    "jti": "x", "aud": format!("{BASE}{TOKEN_PATH}")}),
                Signer::Rsa(&pair, &aws_lc_rs::signature::RSA_PKCS1_SHA384),
            )
        };
        let error = issue_token(
            &token_request(&[], &assertion_body(&redox_assertion, "")),
            &issuer,
            &m,
            now(),
        )
        .unwrap_err();
        assert_eq!(
            error,
            OAuthError::InvalidAssertion(AssertionError::SecretClient)
        );
        assert_eq!(error.status(), 401);
        // A secret presented for the SMART client's id, an empty one too
        // (a client with keys has no secret to match, not an empty one).
        for request in [
            token_request(
                &[("authorization", &basic("smart", SECRET))],
                "grant_type=client_credentials",
            ),
            token_request(
                &[("authorization", &basic("smart", ""))],
                "grant_type=client_credentials",
            ),
            token_request(
                &[],
                "grant_type=client_credentials&client_id=smart&client_secret=",
            ),
        ] {
            let error = issue_token(&request, &issuer, &m, now()).unwrap_err();
            assert_eq!(error, OAuthError::ClientMismatch);
        }
        // Both at once: malformed.
        for (headers, extra) in [
            (vec![("authorization", basic("smart", SECRET))], ""),
            (vec![], "&client_secret=x"),
        ] {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let body = assertion_body(&smart_assertion(&pair, "both"), extra);
            let error =
                issue_token(&token_request(&headers, &body), &issuer, &m, now()).unwrap_err();
            assert!(matches!(error, OAuthError::InvalidRequest(_)), "{error}");
        }
        // The assertion type must be jwt-bearer; the two go together.
        let body =
            assertion_body(&smart_assertion(&pair, "t"), "").replace("jwt-bearer", "saml2-bearer");
        let error = issue_token(&token_request(&[], &body), &issuer, &m, now()).unwrap_err();
        assert!(matches!(error, OAuthError::InvalidClient(_)), "{error}");
        let body = format!(
            "grant_type=client_credentials&client_assertion={}",
            smart_assertion(&pair, "u")
        );
        let error = issue_token(&token_request(&[], &body), &issuer, &m, now()).unwrap_err();
        assert!(matches!(error, OAuthError::InvalidRequest(_)), "{error}");
    }

    #[test]
    fn a_json_body_is_read_like_a_form_and_unknown_parameters_are_ignored() {
        let mut request = token_request(
            &[],
            &serde_json::json!({"grant_type": "client_credentials", "client_id": "redox",
                                "client_secret": SECRET, "audience": "https://x", "resource": "r",
                                "my_custom_field": "v"})
            .to_string(),
        );
        request.headers[0].1 = "application/json; charset=utf-8".into();
        assert_eq!(issue(&request).unwrap().client_id, "redox");
        for bad in [
            r#"{"grant_type": "client_credentials", "client_id": "redox", "client_secret": ["x"]}"#,
            r#"{"grant_type": "client_credentials", "scope": 5}"#,
            r#"{"grant_type": "client_credentials", "grant_type": "client_credentials"}"#,
            r#"["grant_type"]"#,
            r#"{"grant_type": "client_credentials"} x"#,
            "grant_type=client_credentials",
        ] {
            request.body = Bytes::from(bad.to_owned());
            let error = issue(&request).unwrap_err();
            assert!(
                matches!(error, OAuthError::InvalidRequest(_)),
                "{bad}: {error}"
            );
        }
    }

    /// The claims of a JWT, unverified (the signature is tested elsewhere).
    fn claims_of(token: &str) -> serde_json::Value {
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }
}
