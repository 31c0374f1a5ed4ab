//! The `jwt` method: `authorization: Bearer <JWT>`, as Redox sends it for its
//! OAuth 2.0 2-legged, SMART Backend and JWT Bearer credentials.
//!
//! [`verify_jwt`] checks one token against the trusted issuers: size and
//! shape first, then the header (an allow-list of asymmetric algorithms; no
//! `none`, no HMAC, no key or key URL carried in the token), then the key the
//! issuer published under the token's `kid` (whose type must fit the
//! algorithm), the signature, and only then the claims (`exp` required,
//! `nbf`/`iat` honoured, 60 s leeway, the issuer's maximum lifetime if it
//! has one, audience, scopes, and the issuer's caller pin if it has one).
//! Pure: the key sets and the clock come in as arguments.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::auth::jwt::caller::CallerRefusal;
use crate::auth::jwt::jwk::{KeySet, VerificationKey, parse_algorithm, placeholder_key};
use crate::auth::jwt::trust::{IssuerKind, JwtSettings};

/// Bearer values longer than this are refused unread.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Clock tolerance for `exp`, `nbf` and `iat`.
pub const LEEWAY: Duration = Duration::from_secs(60);
/// The longest `jti` a single-use token (or a client assertion) may carry.
pub const MAX_JTI_BYTES: usize = 256;
/// Header members that carry a key or say where to get one: a token must
/// never choose the key it is checked with.
const KEY_CARRYING_HEADERS: [&str; 4] = ["jku", "x5u", "jwk", "x5c"];
/// `typ` header values an access token may carry (absent is fine too):
/// plain JWTs (Cognito, Okta, Entra ID, Google, older Auth0) and RFC 9068
/// access tokens (Auth0's profile, the built-in issuer). An ID token of
/// another profile, a logout token, a DPoP proof, ... are refused.
const ACCESS_TOKEN_TYPES: [&str; 3] = ["JWT", "at+jwt", "application/at+jwt"];
/// Claims only OpenID Connect ID tokens carry (OIDC Core 3.1.3.6, 3.3.2.11):
/// hashes binding the ID token to an access token or code issued with it.
const ID_TOKEN_CLAIMS: [&str; 2] = ["at_hash", "c_hash"];

/// Every reason a bearer JWT is refused. Values copied from the token are
/// reduced to a short, printable form before they reach a log line.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum JwtError {
    #[error("the token is {0} bytes, over the {MAX_TOKEN_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("the bearer value is not a JWT (three base64url parts)")]
    NotAJwt,
    #[error("the token is malformed: {0}")]
    Malformed(&'static str),
    #[error("alg none (an unsigned token) is refused")]
    AlgNone,
    #[error("the HMAC algorithm {0} is refused (only asymmetric signatures are accepted)")]
    HmacAlgorithm(String),
    #[error("the algorithm {0} is not on the allow-list")]
    AlgorithmNotAllowed(String),
    #[error("the header carries {0}, which is refused")]
    KeyInHeader(&'static str),
    #[error("the header lists critical extensions (crit), which are not supported")]
    CriticalHeader,
    #[error("the issuer (iss) is not a trusted one")]
    UntrustedIssuer,
    #[error("the issuer's keys are not available")]
    KeysUnavailable,
    #[error("the issuer has no key with kid {kid}")]
    UnknownKeyId { issuer: IssuerKind, kid: String },
    #[error("the token has no kid and the issuer has several keys")]
    MissingKeyId,
    #[error("the algorithm {alg} does not fit the key's type ({key})")]
    AlgorithmKeyMismatch { alg: String, key: &'static str },
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the token has no exp claim")]
    MissingExpiry,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token was issued in the future (iat)")]
    IssuedInFuture,
    #[error("the audience (aud) is not this destination")]
    WrongAudience,
    #[error("the token lacks a required scope")]
    MissingScope,
    #[error("the token is not an access token ({0})")]
    NotAnAccessToken(&'static str),
    #[error("the token lives {lifetime_secs} s (exp - iat), over the issuer's {max_secs} s")]
    LivesTooLong { lifetime_secs: u64, max_secs: u64 },
    #[error("exp is more than the issuer's {max_secs} s token lifetime ahead")]
    ExpiresTooFarAhead { max_secs: u64 },
    #[error("the token carries no claim naming its caller ({0})")]
    NoCallerClaim(String),
    #[error("the caller claim {0} is not a string")]
    CallerNotAString(String),
    #[error("the caller {claim}={caller} is not one of the issuer's allowed callers")]
    CallerNotAllowed { claim: String, caller: String },
    #[error("email names the caller but email_verified is not true")]
    CallerEmailNotVerified,
    #[error(
        "the token has no jti, or one that is not a 1-256 byte string, and the issuer checks replays"
    )]
    MissingJti,
    #[error("the token's jti was used before (the issuer checks replays)")]
    Replayed,
    #[error("the issuer's table of used jtis is full of live entries")]
    ReplayTableFull,
}

/// One issuer a token may come from, with its keys as fetched for this
/// request (`None` when they could not be had).
#[derive(Debug, Clone, Copy)]
pub struct TrustedIssuer<'a> {
    pub kind: IssuerKind,
    pub settings: &'a JwtSettings,
    pub keys: Option<&'a KeySet>,
}

/// What a verified token established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedJwt {
    pub issuer: IssuerKind,
}

/// A value from a token, shortened to something safe to log.
pub fn loggable(value: &str) -> String {
    let mut shown: String = value
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.:/".contains(c) {
                c
            } else {
                '?'
            }
        })
        .collect();
    if value.chars().count() > 64 {
        shown.push('…');
    }
    shown
}

fn is_base64url(part: &str) -> bool {
    part.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn json_object(part: &str, what: &'static str) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed(what))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JwtError::Malformed(what)),
    }
}

/// A compact JWS split into its parts, each checked to be base64url; nothing
/// decoded or verified yet.
#[derive(Debug, Clone, Copy)]
pub struct JwtParts<'t> {
    pub header: &'t str,
    pub claims: &'t str,
    pub signature: &'t str,
    /// `header.claims`: what the signature covers.
    pub signed: &'t str,
}

impl<'t> JwtParts<'t> {
    /// Splits a token of at most [`MAX_TOKEN_BYTES`] into three base64url
    /// parts. The signature may be empty here, so that `alg: none` gets its
    /// own refusal.
    pub fn split(token: &'t str) -> Result<JwtParts<'t>, JwtError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwtError::TooLarge(token.len()));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::NotAJwt);
        };
        if header.is_empty()
            || claims.is_empty()
            || ![header, claims, signature]
                .iter()
                .all(|part| is_base64url(part))
        {
            return Err(JwtError::NotAJwt);
        }
        let signed = token
            .rsplit_once('.')
            .map_or(token, |(signed, _signature)| signed);
        Ok(JwtParts {
            header,
            claims,
            signature,
            signed,
        })
    }

    /// The header, as a JSON object.
    pub fn header_object(&self) -> Result<Map<String, Value>, JwtError> {
        json_object(self.header, "the header is not a base64url JSON object")
    }

    /// The claims, as a JSON object.
    pub fn claims_object(&self) -> Result<Map<String, Value>, JwtError> {
        json_object(self.claims, "the claims are not a base64url JSON object")
    }

    /// Checks the signature with `key` for `alg`: the key's type must fit
    /// the algorithm (and its own `alg`, when it names one). A key that
    /// does not fit still costs one check, with the placeholder key of
    /// `alg`'s type, so the refusal takes as long as a bad signature.
    pub fn verify_signature(&self, key: &VerificationKey, alg: Algorithm) -> Result<(), JwtError> {
        let fits = key.kind.accepts(alg) && key.alg.is_none_or(|key_alg| key_alg == alg);
        let checked = if fits {
            self.signature_verifies(key, alg)
        } else {
            placeholder_key(alg)
                .is_some_and(|placeholder| self.signature_verifies(placeholder, alg))
        };
        if !fits {
            return Err(JwtError::AlgorithmKeyMismatch {
                alg: format!("{alg:?}"),
                key: key.kind.as_str(),
            });
        }
        if checked {
            Ok(())
        } else {
            Err(JwtError::BadSignature)
        }
    }

    /// [`JwtParts::verify_signature`] with `key` when there is one, else with
    /// the placeholder key of `alg`'s type (and so [`JwtError::BadSignature`]):
    /// no key found costs what a wrong one does.
    pub fn verify_signature_with(
        &self,
        key: Option<&VerificationKey>,
        alg: Algorithm,
    ) -> Result<(), JwtError> {
        match key.or_else(|| placeholder_key(alg)) {
            Some(key) => self.verify_signature(key, alg),
            None => Err(JwtError::BadSignature),
        }
    }

    /// The one place a signature is checked (and counted).
    fn signature_verifies(&self, key: &VerificationKey, alg: Algorithm) -> bool {
        SIGNATURE_CHECKS.with(|count| count.set(count.get().wrapping_add(1)));
        matches!(
            jsonwebtoken::crypto::verify(
                self.signature,
                self.signed.as_bytes(),
                &key.decoding,
                alg
            ),
            Ok(true)
        )
    }
}

thread_local! {
    static SIGNATURE_CHECKS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many signature checks this thread has run: what tests count to show
/// that every refusal does the same work (SPEC 3.2), without timing it.
pub fn signature_checks_on_this_thread() -> u64 {
    SIGNATURE_CHECKS.with(std::cell::Cell::get)
}

/// The header's `kid`, if it has one.
pub fn key_id(header: &Map<String, Value>) -> Result<Option<&str>, JwtError> {
    match header.get("kid") {
        None => Ok(None),
        Some(Value::String(kid)) => Ok(Some(kid.as_str())),
        Some(_) => Err(JwtError::Malformed("kid is not a string")),
    }
}

/// Checks one bearer JWT against the trusted issuers at `now`.
pub fn verify_jwt(
    token: &str,
    issuers: &[TrustedIssuer<'_>],
    now: SystemTime,
) -> Result<VerifiedJwt, JwtError> {
    let parts = JwtParts::split(token)?;
    let header = parts.header_object()?;
    let alg = check_header(&header)?;
    let kid = key_id(&header)?;

    let claims = parts.claims_object()?;
    // The issuer is read before the signature is checked only to choose
    // whose keys to check it with; every claim is checked again after.
    let issuer = match claims.get("iss") {
        Some(Value::String(iss)) => issuers
            .iter()
            .find(|i| i.settings.issuer == *iss)
            .ok_or(JwtError::UntrustedIssuer)?,
        _ => return Err(JwtError::UntrustedIssuer),
    };
    let keys = issuer.keys.ok_or(JwtError::KeysUnavailable)?;
    let key = keys.find(kid);
    // An unknown kid costs the signature check a known one does.
    let signature = parts.verify_signature_with(key, alg);
    if key.is_none() {
        return Err(match kid {
            Some(kid) => JwtError::UnknownKeyId {
                issuer: issuer.kind,
                kid: loggable(kid),
            },
            None => JwtError::MissingKeyId,
        });
    }
    signature?;

    check_times(&claims, now)?;
    if let Some(max) = issuer.settings.max_lifetime {
        check_lifetime(&claims, max, now)?;
    }
    check_access_token(&claims)?;
    check_audience(&claims, &issuer.settings.audiences)?;
    check_scopes(&claims, &issuer.settings.required_scopes)?;
    if let Some(pin) = &issuer.settings.callers {
        pin.admits(&claims).map_err(caller_error)?;
    }
    Ok(VerifiedJwt {
        issuer: issuer.kind,
    })
}

/// A token may live at most `max`: `exp - iat` (when it has `iat`), and
/// `exp` no further than `max` from now, each with the leeway. A token that
/// leaks (a log, a proxy) is then worth minutes, not years.
pub fn check_lifetime(
    claims: &Map<String, Value>,
    max: Duration,
    now: SystemTime,
) -> Result<(), JwtError> {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let (max_secs, leeway) = (max.as_secs_f64(), LEEWAY.as_secs_f64());
    let exp = numeric_date(claims, "exp")?.ok_or(JwtError::MissingExpiry)?;
    if let Some(iat) = numeric_date(claims, "iat")?
        && exp - iat > max_secs + leeway
    {
        return Err(JwtError::LivesTooLong {
            // Saturating: a float that does not fit is simply very long.
            lifetime_secs: (exp - iat) as u64,
            max_secs: max.as_secs(),
        });
    }
    if exp > now + max_secs + leeway {
        return Err(JwtError::ExpiresTooFarAhead {
            max_secs: max.as_secs(),
        });
    }
    Ok(())
}

/// A caller refusal, its values shortened for the log.
fn caller_error(refusal: CallerRefusal) -> JwtError {
    match refusal {
        CallerRefusal::NoCallerClaim(claim) => JwtError::NoCallerClaim(loggable(&claim)),
        CallerRefusal::NotAString(claim) => JwtError::CallerNotAString(loggable(&claim)),
        CallerRefusal::NotAllowed { claim, caller } => JwtError::CallerNotAllowed {
            claim: loggable(&claim),
            caller: loggable(&caller),
        },
        CallerRefusal::EmailNotVerified => JwtError::CallerEmailNotVerified,
    }
}

/// The header's algorithm, when it is on the allow-list: `none` and every
/// HMAC algorithm have their own refusals.
pub fn check_algorithm(header: &Map<String, Value>) -> Result<Algorithm, JwtError> {
    let Some(Value::String(alg)) = header.get("alg") else {
        return Err(JwtError::Malformed("the header has no alg"));
    };
    if alg.eq_ignore_ascii_case("none") {
        return Err(JwtError::AlgNone);
    }
    if alg.to_ascii_uppercase().starts_with("HS") {
        return Err(JwtError::HmacAlgorithm(loggable(alg)));
    }
    parse_algorithm(alg).ok_or_else(|| JwtError::AlgorithmNotAllowed(loggable(alg)))
}

/// Refuses header members that carry a key or point to one (`jku` only
/// when `jku_allowed` is false; its value is then the caller's to check)
/// and critical extensions.
pub fn refuse_key_headers(header: &Map<String, Value>, jku_allowed: bool) -> Result<(), JwtError> {
    if let Some(name) = KEY_CARRYING_HEADERS
        .into_iter()
        .filter(|name| !(jku_allowed && *name == "jku"))
        .find(|name| header.contains_key(*name))
    {
        return Err(JwtError::KeyInHeader(name));
    }
    if header.contains_key("crit") {
        return Err(JwtError::CriticalHeader);
    }
    Ok(())
}

/// The header's algorithm, if it is allowed and nothing else in the header
/// is refused.
fn check_header(header: &Map<String, Value>) -> Result<Algorithm, JwtError> {
    let algorithm = check_algorithm(header)?;
    refuse_key_headers(header, false)?;
    match header.get("typ") {
        None => {}
        // RFC 7519 5.1 and RFC 9068 2.1; media types compare case-insensitively.
        Some(Value::String(typ))
            if ACCESS_TOKEN_TYPES
                .iter()
                .any(|accepted| typ.eq_ignore_ascii_case(accepted)) => {}
        Some(_) => return Err(JwtError::NotAnAccessToken("typ")),
    }
    Ok(algorithm)
}

pub fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<f64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Some)
            .ok_or(JwtError::Malformed("a time claim is not a number")),
        Some(_) => Err(JwtError::Malformed("a time claim is not a number")),
    }
}

pub fn check_times(claims: &Map<String, Value>, now: SystemTime) -> Result<(), JwtError> {
    let now = match now.duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    };
    let leeway = LEEWAY.as_secs_f64();
    let exp = numeric_date(claims, "exp")?.ok_or(JwtError::MissingExpiry)?;
    // RFC 7519 4.1.4: not accepted on or after the expiry.
    if now >= exp + leeway {
        return Err(JwtError::Expired);
    }
    if numeric_date(claims, "nbf")?.is_some_and(|nbf| now + leeway < nbf) {
        return Err(JwtError::NotYetValid);
    }
    if numeric_date(claims, "iat")?.is_some_and(|iat| iat > now + leeway) {
        return Err(JwtError::IssuedInFuture);
    }
    Ok(())
}

/// Refuses ID tokens: with no required scope, an ID token whose `aud` is an
/// accepted audience (Okta, Auth0 and Entra ID put the client id there)
/// would otherwise pass. Amazon Cognito marks its tokens with `token_use`
/// (`access` or `id`); OpenID Connect ID tokens may carry `at_hash`/`c_hash`.
fn check_access_token(claims: &Map<String, Value>) -> Result<(), JwtError> {
    match claims.get("token_use") {
        None => {}
        Some(Value::String(token_use)) if token_use == "access" => {}
        Some(_) => return Err(JwtError::NotAnAccessToken("token_use")),
    }
    if let Some(name) = ID_TOKEN_CLAIMS
        .into_iter()
        .find(|name| claims.contains_key(*name))
    {
        return Err(JwtError::NotAnAccessToken(name));
    }
    Ok(())
}

/// The token's `aud` must name an accepted audience. A token with no `aud`
/// at all is matched by its `client_id` instead: Amazon Cognito's access
/// tokens carry only that (as AWS's own aws-jwt-verify checks them).
fn check_audience(claims: &Map<String, Value>, audiences: &[String]) -> Result<(), JwtError> {
    let matches = |aud: &str| audiences.iter().any(|a| a == aud);
    let accepted = match (claims.get("aud"), claims.get("client_id")) {
        (Some(Value::String(aud)), _) => matches(aud),
        (Some(Value::Array(list)), _) => list.iter().any(|v| v.as_str().is_some_and(matches)),
        (None, Some(Value::String(client_id))) => matches(client_id),
        _ => false,
    };
    if accepted {
        Ok(())
    } else {
        Err(JwtError::WrongAudience)
    }
}

/// Scopes from `scope` (RFC 8693/9068: space-separated) and `scp` (Okta,
/// Entra ID: an array, or a space-separated string).
fn check_scopes(claims: &Map<String, Value>, required: &[String]) -> Result<(), JwtError> {
    if required.is_empty() {
        return Ok(());
    }
    let mut granted: Vec<&str> = Vec::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(list)) => granted.extend(list.split(' ').filter(|s| !s.is_empty())),
            Some(Value::Array(list)) => granted.extend(list.iter().filter_map(Value::as_str)),
            _ => {}
        }
    }
    if required
        .iter()
        .all(|scope| granted.contains(&scope.as_str()))
    {
        Ok(())
    } else {
        Err(JwtError::MissingScope)
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]
pub(crate) mod test_tokens {
    //! Tokens signed in tests with aws-lc-rs directly (not with the code
    //! under test).

    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::Value;

    pub enum Signer<'a> {
        Rsa(
            &'a RsaKeyPair,
            &'static dyn aws_lc_rs::signature::RsaEncoding,
        ),
        Ec(&'a EcdsaKeyPair),
        Ed(&'a Ed25519KeyPair),
        Hmac(&'a [u8]),
        Unsigned,
    }

    /// `value` with the members of `changes` set (`null` removes one).
    pub fn with(mut value: Value, changes: Value) -> Value {
        for (k, v) in changes.as_object().expect("changes are an object") {
            if v.is_null() {
                value.as_object_mut().expect("an object").remove(k);
            } else {
                value[k] = v.clone();
            }
        }
        value
    }

    pub fn token(header: &Value, claims: &Value, signer: Signer<'_>) -> String {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature: Vec<u8> = match signer {
            Signer::Rsa(pair, encoding) => {
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(encoding, &SystemRandom::new(), message.as_bytes(), &mut out)
                    .expect("rsa sign");
                out
            }
            Signer::Ec(pair) => pair
                .sign(&SystemRandom::new(), message.as_bytes())
                .expect("ec sign")
                .as_ref()
                .to_vec(),
            Signer::Ed(pair) => pair.sign(message.as_bytes()).as_ref().to_vec(),
            Signer::Hmac(secret) => {
                let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
                aws_lc_rs::hmac::sign(&key, message.as_bytes())
                    .as_ref()
                    .to_vec()
            }
            Signer::Unsigned => Vec::new(),
        };
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
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
    use std::sync::OnceLock;

    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
        RSA_PSS_SHA384, RsaKeyPair,
    };
    use serde_json::json;

    use super::test_tokens::{Signer, token, with};
    use super::*;
    use crate::auth::jwt::jwk::test_keys;

    const ISSUER: &str = "https://idp.example.com/";
    const AUDIENCE: &str = "https://redox.example.com";
    const NOW: u64 = 1_800_000_000;

    struct Keys {
        rsa: RsaKeyPair,
        ec: EcdsaKeyPair,
        ec384: EcdsaKeyPair,
        ed: Ed25519KeyPair,
        set: KeySet,
    }

    fn keys() -> &'static Keys {
        static KEYS: OnceLock<Keys> = OnceLock::new();
        KEYS.get_or_init(|| {
            let rsa = test_keys::rsa_pair();
            let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
            let ec384 = test_keys::p384_pair();
            let ed = Ed25519KeyPair::generate().unwrap();
            let ec_point = ec.public_key().as_ref();
            let jwks = json!({"keys": [
                test_keys::rsa_jwk(&rsa, "rsa-1"),
                {"kty": "EC", "crv": "P-256", "kid": "ec-1",
                 "x": URL_SAFE_NO_PAD.encode(&ec_point[1..33]),
                 "y": URL_SAFE_NO_PAD.encode(&ec_point[33..])},
                test_keys::p384_jwk(&ec384, "ec384-1"),
                {"kty": "OKP", "crv": "Ed25519", "kid": "ed-1",
                 "x": URL_SAFE_NO_PAD.encode(ed.public_key().as_ref())},
                {"kty": "OKP", "crv": "Ed25519", "kid": "ed-pinned", "alg": "EdDSA",
                 "x": URL_SAFE_NO_PAD.encode(ed.public_key().as_ref())},
            ]});
            let set = KeySet::from_jwks_json(jwks.to_string().as_bytes()).unwrap();
            Keys {
                rsa,
                ec,
                ec384,
                ed,
                set,
            }
        })
    }

    fn settings(scopes: &[&str]) -> JwtSettings {
        JwtSettings {
            issuer: ISSUER.into(),
            audiences: vec![AUDIENCE.into()],
            required_scopes: scopes.iter().map(|s| s.to_string()).collect(),
            ..JwtSettings::default()
        }
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    fn claims() -> Value {
        json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "redox", "iat": NOW - 10, "exp": NOW + 300})
    }

    fn ed_token(claims: &Value) -> String {
        token(
            &json!({"alg": "EdDSA", "kid": "ed-1", "typ": "JWT"}),
            claims,
            Signer::Ed(&keys().ed),
        )
    }

    fn check_with(token: &str, settings: &JwtSettings) -> Result<VerifiedJwt, JwtError> {
        let issuers = [TrustedIssuer {
            kind: IssuerKind::Remote,
            settings,
            keys: Some(&keys().set),
        }];
        verify_jwt(token, &issuers, now())
    }

    fn check(token: &str) -> Result<VerifiedJwt, JwtError> {
        check_with(token, &settings(&[]))
    }

    #[test]
    fn tokens_of_every_allowed_key_type_are_accepted() {
        let k = keys();
        let c = claims();
        let tokens = [
            token(
                &json!({"alg": "RS256", "kid": "rsa-1"}),
                &c,
                Signer::Rsa(&k.rsa, &RSA_PKCS1_SHA256),
            ),
            token(
                &json!({"alg": "PS384", "kid": "rsa-1"}),
                &c,
                Signer::Rsa(&k.rsa, &RSA_PSS_SHA384),
            ),
            token(
                &json!({"alg": "ES256", "kid": "ec-1"}),
                &c,
                Signer::Ec(&k.ec),
            ),
            token(
                &json!({"alg": "ES384", "kid": "ec384-1"}),
                &c,
                Signer::Ec(&k.ec384),
            ),
            token(
                &json!({"alg": "EdDSA", "kid": "ed-1"}),
                &c,
                Signer::Ed(&k.ed),
            ),
            token(
                &json!({"alg": "EdDSA", "kid": "ed-pinned"}),
                &c,
                Signer::Ed(&k.ed),
            ),
        ];
        for t in tokens {
            assert_eq!(
                check(&t),
                Ok(VerifiedJwt {
                    issuer: IssuerKind::Remote
                }),
                "{t}"
            );
        }
    }

    #[test]
    fn a_tampered_token_is_refused() {
        let t = ed_token(&claims());
        let forged_claims =
            URL_SAFE_NO_PAD.encode(with(claims(), json!({"sub": "mallory"})).to_string());
        let parts: Vec<&str> = t.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
        assert_eq!(check(&forged), Err(JwtError::BadSignature));
        let no_signature = format!("{}.{}.", parts[0], parts[1]);
        assert_eq!(check(&no_signature), Err(JwtError::BadSignature));
    }

    #[test]
    fn id_tokens_are_not_access_tokens() {
        // Cognito: an ID token names the app client in `aud` and says
        // `token_use: id`; with no required scope it once passed.
        let cognito_id = with(
            claims(),
            json!({"token_use": "id", "email": "a@example.com"}),
        );
        assert_eq!(
            check(&ed_token(&cognito_id)),
            Err(JwtError::NotAnAccessToken("token_use"))
        );
        for odd in [json!("ID"), json!(1), json!(["access"]), json!(null)] {
            let token_use = with(claims(), json!({"token_use": odd}));
            // `null` removes the claim: no token_use at all is fine.
            if odd.is_null() {
                assert!(check(&ed_token(&token_use)).is_ok());
            } else {
                assert_eq!(
                    check(&ed_token(&token_use)),
                    Err(JwtError::NotAnAccessToken("token_use")),
                    "{odd}"
                );
            }
        }
        assert!(check(&ed_token(&with(claims(), json!({"token_use": "access"})))).is_ok());
        // OpenID Connect ID tokens (Okta, Auth0, Entra ID) bind themselves
        // to an access token or code with a hash claim.
        for name in ["at_hash", "c_hash"] {
            let id_token = with(claims(), json!({ name: "bWFkZS11cA", "nonce": "n" }));
            assert_eq!(
                check(&ed_token(&id_token)),
                Err(JwtError::NotAnAccessToken(name))
            );
        }
    }

    #[test]
    fn only_access_token_types_are_accepted_in_typ() {
        let with_typ = |typ: Value| {
            token(
                &json!({"alg": "EdDSA", "kid": "ed-1", "typ": typ}),
                &claims(),
                Signer::Ed(&keys().ed),
            )
        };
        for accepted in ["JWT", "jwt", "at+jwt", "application/at+jwt", "AT+JWT"] {
            assert!(check(&with_typ(json!(accepted))).is_ok(), "{accepted}");
        }
        for refused in [
            json!("id_token+jwt"),
            json!("logout+jwt"),
            json!("dpop+jwt"),
            json!("secevent+jwt"),
            json!(""),
            json!(5),
        ] {
            assert_eq!(
                check(&with_typ(refused.clone())),
                Err(JwtError::NotAnAccessToken("typ")),
                "{refused}"
            );
        }
    }

    #[test]
    fn expiry_is_required_and_honoured_with_leeway() {
        assert_eq!(
            check(&ed_token(&with(claims(), json!({"exp": null})))),
            Err(JwtError::MissingExpiry)
        );
        assert_eq!(
            check(&ed_token(&with(claims(), json!({"exp": NOW - 61})))),
            Err(JwtError::Expired)
        );
        assert_eq!(
            check(&ed_token(&with(claims(), json!({"exp": NOW - 60})))),
            Err(JwtError::Expired)
        );
        assert!(check(&ed_token(&with(claims(), json!({"exp": NOW - 59})))).is_ok());
        assert_eq!(
            check(&ed_token(&with(claims(), json!({"exp": "tomorrow"})))),
            Err(JwtError::Malformed("a time claim is not a number"))
        );
    }

    #[test]
    fn not_before_and_issued_at_are_honoured_with_leeway() {
        assert_eq!(
            check(&ed_token(&with(claims(), json!({"nbf": NOW + 61})))),
            Err(JwtError::NotYetValid)
        );
        assert!(check(&ed_token(&with(claims(), json!({"nbf": NOW + 59})))).is_ok());
        assert_eq!(
            check(&ed_token(&with(claims(), json!({"iat": NOW + 61})))),
            Err(JwtError::IssuedInFuture)
        );
        assert!(check(&ed_token(&with(claims(), json!({"iat": NOW + 59})))).is_ok());
    }

    #[test]
    fn an_issuer_with_a_maximum_lifetime_refuses_long_lived_tokens() {
        let limited = JwtSettings {
            max_lifetime: Some(Duration::from_secs(300)),
            ..settings(&[])
        };
        let t = |changes: Value| ed_token(&with(claims(), changes));
        // Redox's shape: issued now, five minutes to live.
        assert!(check_with(&t(json!({"iat": NOW, "exp": NOW + 300})), &limited).is_ok());
        // The leeway covers clocks a minute apart.
        assert!(check_with(&t(json!({"iat": NOW - 60, "exp": NOW + 300})), &limited).is_ok());
        assert!(check_with(&t(json!({"iat": null, "exp": NOW + 360})), &limited).is_ok());
        // A year ahead: refused, with or without iat.
        let year = 365 * 24 * 3600;
        assert_eq!(
            check_with(&t(json!({"iat": NOW, "exp": NOW + year})), &limited),
            Err(JwtError::LivesTooLong {
                lifetime_secs: year,
                max_secs: 300
            })
        );
        assert_eq!(
            check_with(&t(json!({"iat": null, "exp": NOW + year})), &limited),
            Err(JwtError::ExpiresTooFarAhead { max_secs: 300 })
        );
        // An old iat cannot stretch it either, nor a recent one hide a long life.
        assert!(matches!(
            check_with(&t(json!({"iat": NOW - 3600, "exp": NOW + 60})), &limited),
            Err(JwtError::LivesTooLong { .. })
        ));
        assert_eq!(
            check_with(&t(json!({"iat": NOW + 30, "exp": NOW + 370})), &limited),
            Err(JwtError::ExpiresTooFarAhead { max_secs: 300 })
        );
        // Without a maximum, only exp counts.
        assert!(check(&t(json!({"exp": NOW + year}))).is_ok());
    }

    #[test]
    fn a_pinned_issuer_accepts_only_its_callers() {
        use crate::auth::jwt::caller::{CallerClaim, CallerPin};
        let pinned = JwtSettings {
            callers: Some(CallerPin::new(CallerClaim::Auto, &["redox-client".into()])),
            ..settings(&[])
        };
        let t = |changes: Value| ed_token(&with(claims(), changes));
        assert!(check_with(&t(json!({"azp": "redox-client"})), &pinned).is_ok());
        assert_eq!(
            check_with(&t(json!({"azp": "other-client"})), &pinned),
            Err(JwtError::CallerNotAllowed {
                claim: "azp".into(),
                caller: "other-client".into()
            })
        );
        assert!(matches!(
            check_with(&t(json!({"sub": "redox-client"})), &pinned),
            Err(JwtError::NoCallerClaim(_))
        ));
        // The caller's value reaches the log short and printable.
        let long = format!("evil\n{}", "x".repeat(200));
        let error = check_with(&t(json!({"azp": long})), &pinned)
            .unwrap_err()
            .to_string();
        assert!(!error.contains('\n') && error.len() < 200, "{error}");
    }

    #[test]
    fn issuer_and_audience_must_match() {
        assert_eq!(
            check(&ed_token(&with(
                claims(),
                json!({"iss": "https://evil.example.com/"})
            ))),
            Err(JwtError::UntrustedIssuer)
        );
        assert_eq!(
            check(&ed_token(&with(claims(), json!({"iss": null})))),
            Err(JwtError::UntrustedIssuer)
        );
        assert_eq!(
            check(&ed_token(&with(
                claims(),
                json!({"aud": "https://other.example.com"})
            ))),
            Err(JwtError::WrongAudience)
        );
        assert_eq!(
            check(&ed_token(&with(claims(), json!({"aud": null})))),
            Err(JwtError::WrongAudience)
        );
        assert!(check(&ed_token(&with(claims(), json!({"aud": ["x", AUDIENCE]})))).is_ok());
        // Cognito access tokens: no aud, and client_id names the app client.
        let cognito = json!({"aud": null, "client_id": AUDIENCE});
        assert!(check(&ed_token(&with(claims(), cognito))).is_ok());
        let other_client = json!({"aud": null, "client_id": "someone-else"});
        assert_eq!(
            check(&ed_token(&with(claims(), other_client))),
            Err(JwtError::WrongAudience)
        );
        // With an aud present, client_id does not count.
        let both = json!({"aud": "other", "client_id": AUDIENCE});
        assert_eq!(
            check(&ed_token(&with(claims(), both))),
            Err(JwtError::WrongAudience)
        );
    }

    #[test]
    fn required_scopes_are_read_from_scope_or_scp() {
        let need = settings(&["redox.push"]);
        let t = |extra: Value| ed_token(&with(claims(), extra));
        assert_eq!(
            check_with(&t(json!({})), &need),
            Err(JwtError::MissingScope)
        );
        assert_eq!(
            check_with(&t(json!({"scope": "redox.pushes other"})), &need),
            Err(JwtError::MissingScope)
        );
        assert!(check_with(&t(json!({"scope": "openid redox.push"})), &need).is_ok());
        assert!(check_with(&t(json!({"scp": ["redox.push"]})), &need).is_ok());
        assert!(check_with(&t(json!({"scp": "a redox.push"})), &need).is_ok());
        let both = settings(&["a", "b"]);
        assert_eq!(
            check_with(&t(json!({"scope": "a"})), &both),
            Err(JwtError::MissingScope)
        );
        assert!(check_with(&t(json!({"scope": "b a"})), &both).is_ok());
    }

    #[test]
    fn unsigned_and_hmac_tokens_are_refused() {
        let c = claims();
        for alg in ["none", "None", "NONE"] {
            let t = token(&json!({"alg": alg, "kid": "ed-1"}), &c, Signer::Unsigned);
            assert_eq!(check(&t), Err(JwtError::AlgNone), "{alg}");
        }
        // The classic confusion attack: HS256 keyed with the public key.
        let public = keys().ed.public_key().as_ref().to_vec();
        let t = token(
            &json!({"alg": "HS256", "kid": "ed-1"}),
            &c,
            Signer::Hmac(&public),
        );
        assert_eq!(check(&t), Err(JwtError::HmacAlgorithm("HS256".into())));
        let t = token(
            &json!({"alg": "ES512", "kid": "ec-1"}),
            &c,
            Signer::Ec(&keys().ec),
        );
        assert_eq!(
            check(&t),
            Err(JwtError::AlgorithmNotAllowed("ES512".into()))
        );
        let t = token(&json!({"kid": "ec-1"}), &c, Signer::Ec(&keys().ec));
        assert!(matches!(check(&t), Err(JwtError::Malformed(_))));
    }

    #[test]
    fn an_algorithm_that_does_not_fit_the_key_is_refused() {
        let k = keys();
        let c = claims();
        let cases = [
            // RS256 claimed, the kid names an EC key.
            token(
                &json!({"alg": "RS256", "kid": "ec-1"}),
                &c,
                Signer::Rsa(&k.rsa, &RSA_PKCS1_SHA256),
            ),
            token(
                &json!({"alg": "ES256", "kid": "rsa-1"}),
                &c,
                Signer::Ec(&k.ec),
            ),
            token(
                &json!({"alg": "ES384", "kid": "ec-1"}),
                &c,
                Signer::Ec(&k.ec384),
            ),
            token(
                &json!({"alg": "ES256", "kid": "ed-1"}),
                &c,
                Signer::Ec(&k.ec),
            ),
            token(
                &json!({"alg": "EdDSA", "kid": "rsa-1"}),
                &c,
                Signer::Ed(&k.ed),
            ),
        ];
        for t in cases {
            assert!(
                matches!(check(&t), Err(JwtError::AlgorithmKeyMismatch { .. })),
                "{t}"
            );
        }
    }

    #[test]
    fn headers_that_carry_or_point_to_a_key_are_refused() {
        let c = claims();
        for (name, value) in [
            ("jku", json!("https://evil.example.com/jwks.json")),
            ("x5u", json!("https://evil.example.com/cert.pem")),
            ("jwk", json!({"kty": "OKP", "crv": "Ed25519", "x": "AA"})),
            ("x5c", json!(["MIIB"])),
        ] {
            let mut header = json!({"alg": "EdDSA", "kid": "ed-1"});
            header[name] = value;
            let t = token(&header, &c, Signer::Ed(&keys().ed));
            assert_eq!(check(&t), Err(JwtError::KeyInHeader(name)), "{name}");
        }
        let t = token(
            &json!({"alg": "EdDSA", "kid": "ed-1", "crit": ["exp"]}),
            &c,
            Signer::Ed(&keys().ed),
        );
        assert_eq!(check(&t), Err(JwtError::CriticalHeader));
    }

    #[test]
    fn unknown_and_missing_key_ids_are_told_apart() {
        let c = claims();
        let t = token(
            &json!({"alg": "EdDSA", "kid": "rotated-2"}),
            &c,
            Signer::Ed(&keys().ed),
        );
        assert_eq!(
            check(&t),
            Err(JwtError::UnknownKeyId {
                issuer: IssuerKind::Remote,
                kid: "rotated-2".into()
            })
        );
        let t = token(&json!({"alg": "EdDSA"}), &c, Signer::Ed(&keys().ed));
        assert_eq!(check(&t), Err(JwtError::MissingKeyId));
        let issuers = [TrustedIssuer {
            kind: IssuerKind::Remote,
            settings: &settings(&[]),
            keys: None,
        }];
        assert_eq!(
            verify_jwt(&ed_token(&c), &issuers, now()),
            Err(JwtError::KeysUnavailable)
        );
    }

    #[test]
    fn oversized_and_malformed_tokens_are_refused_unread() {
        let big = ed_token(&with(claims(), json!({"pad": "x".repeat(MAX_TOKEN_BYTES)})));
        assert_eq!(check(&big), Err(JwtError::TooLarge(big.len())));
        for bad in [
            "", "abc", "a.b", "a.b.c.d", ".b.c", "a..c", "a+b.c.d", "a.b.c=", "x y.z.w",
        ] {
            assert_eq!(check(bad), Err(JwtError::NotAJwt), "{bad:?}");
        }
        let not_json = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode("nope"),
            URL_SAFE_NO_PAD.encode("{}")
        );
        assert!(matches!(check(&not_json), Err(JwtError::Malformed(_))));
        let array = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode("[]"),
            URL_SAFE_NO_PAD.encode("{}")
        );
        assert!(matches!(check(&array), Err(JwtError::Malformed(_))));
    }

    #[test]
    fn values_from_tokens_are_logged_short_and_printable() {
        let c = claims();
        let kid = format!("evil\nkid{}", "k".repeat(100));
        let t = token(
            &json!({"alg": "EdDSA", "kid": kid}),
            &c,
            Signer::Ed(&keys().ed),
        );
        let error = check(&t).unwrap_err().to_string();
        assert!(!error.contains('\n'));
        assert!(error.len() < 120, "{error}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Any bearer value, and any one-byte change to a good token, is
        /// answered with a refusal, never a panic or an acceptance.
        #[test]
        fn no_input_panics_and_no_mutation_is_accepted(
            junk in "[ -~]{0,200}",
            position in 0usize..10_000,
            byte in proptest::prelude::any::<u8>(),
        ) {
            let _ = check(&junk);
            let good = ed_token(&claims());
            let mut bytes = good.clone().into_bytes();
            let at = position % bytes.len();
            proptest::prop_assume!(bytes[at] != byte);
            bytes[at] = byte;
            if let Ok(mutated) = String::from_utf8(bytes) {
                // Base64url's last character can carry unused bits; a change
                // there may decode to the same signature.
                let same = URL_SAFE_NO_PAD.decode(mutated.rsplit('.').next().unwrap_or(""))
                    .ok()
                    == URL_SAFE_NO_PAD.decode(good.rsplit('.').next().unwrap_or("")).ok()
                    && mutated.rsplit_once('.').map(|(m, _)| m) == good.rsplit_once('.').map(|(m, _)| m);
                if !same {
                    proptest::prop_assert!(check(&mutated).is_err(), "{mutated}");
                }
            }
        }
    }

    #[test]
    fn the_issuer_picks_the_key_set() {
        let builtin_settings = JwtSettings {
            issuer: "https://redox.example.com".into(),
            audiences: vec!["https://redox.example.com".into()],
            required_scopes: vec![],
            ..JwtSettings::default()
        };
        let remote = settings(&[]);
        let empty = KeySet::default();
        let issuers = [
            TrustedIssuer {
                kind: IssuerKind::Remote,
                settings: &remote,
                keys: Some(&empty),
            },
            TrustedIssuer {
                kind: IssuerKind::BuiltIn,
                settings: &builtin_settings,
                keys: Some(&keys().set),
            },
        ];
        let t = ed_token(&with(
            claims(),
            json!({"iss": "https://redox.example.com", "aud": "https://redox.example.com"}),
        ));
        assert_eq!(
            verify_jwt(&t, &issuers, now()),
            Ok(VerifiedJwt {
                issuer: IssuerKind::BuiltIn
            })
        );
        assert!(matches!(
            verify_jwt(&ed_token(&claims()), &issuers, now()),
            Err(JwtError::UnknownKeyId {
                issuer: IssuerKind::Remote,
                ..
            })
        ));
    }
}
