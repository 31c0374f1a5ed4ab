//! The `google` method: Google-issued credentials of pinned service
//! accounts, as Redox sends them with its "Google Workload Identity
//! Federation" and "OAuth 2.0 2-legged with JWT Bearer for GCP" strategies.
//!
//! Redox ends up holding credentials for a Google service account and sends
//! `authorization: Bearer <token>`, either
//! - a Google-signed OpenID Connect **ID token** (a JWT: `iss`
//!   `https://accounts.google.com`, `aud` the audience it was minted for,
//!   `sub` the service account's unique id, `email`/`email_verified` when
//!   minted with the email), checked here against Google's keys; or
//! - an opaque **access token** (`ya29.…`), which only Google can check: its
//!   token-info answer ([`tokeninfo`], looked up within limits by
//!   [`lookups`]) comes in as an argument.
//!
//! Anyone with a Google Cloud project can mint an ID token for any audience
//! and an access token that token-info accepts, so issuer and audience prove
//! nothing about who is calling: a token passes only when it is of a
//! service account in `google_service_accounts` (auth material), pinned by
//! its unique id and/or its verified email. Pure: keys, answers, accounts
//! and the clock are arguments.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

pub mod lookups;
pub mod tokeninfo;

use std::time::SystemTime;

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::auth::jwt::jwk::KeySet;
use crate::auth::jwt::{JwtError, JwtParts, check_algorithm, check_times, key_id, loggable};
use tokeninfo::{AccessTokenInfo, TokenInfoAnswer};

/// Google's key set for ID tokens.
pub const DEFAULT_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";
/// The `iss` of Google ID tokens (Google documents both spellings).
pub const ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];
/// The longest access token taken: Google documents access tokens of up to
/// 2048 bytes (and may change it); twice that leaves room.
pub const MAX_ACCESS_TOKEN_BYTES: usize = 4096;
const ACCESS_TOKEN_PREFIX: &str = "ya29.";

/// A service account trusted to push (`google_service_accounts`): pinned by
/// its unique id (never reused), its email, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    pub unique_id: Option<String>,
    pub email: Option<String>,
}

/// Who a Google token says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity<'a> {
    unique_id: &'a str,
    /// Present only when Google verified it.
    email: Option<&'a str>,
}

impl ServiceAccount {
    /// Every field the entry gives must fit: the unique id always, the
    /// email when the token carries one (a token without it is matched by
    /// the unique id alone, and an entry with only an email needs it).
    fn matches(&self, identity: &Identity<'_>) -> bool {
        let id_fits = self
            .unique_id
            .as_deref()
            .is_none_or(|id| id == identity.unique_id);
        let email_fits = match (self.email.as_deref(), identity.email) {
            (None, _) => true,
            (Some(pinned), Some(email)) => pinned.eq_ignore_ascii_case(email),
            (Some(_), None) => self.unique_id.is_some(),
        };
        id_fits && email_fits && (self.unique_id.is_some() || self.email.is_some())
    }
}

/// What the `google` method checks a token with.
#[derive(Debug, Clone, Copy, Default)]
pub struct GoogleTrust<'a> {
    pub accounts: &'a [ServiceAccount],
    /// The `aud` an ID token must carry (one of them).
    pub audiences: &'a [String],
    /// Scopes an access token must carry (all of them).
    pub required_scopes: &'a [String],
    /// Google's key set, as fetched for this request (`None`: unavailable).
    pub keys: Option<&'a KeySet>,
    /// Google's answer for this request's access token, when it carries one.
    pub access: Option<&'a TokenInfoAnswer>,
}

impl GoogleTrust<'static> {
    /// Nothing trusted: every Google credential is refused.
    pub const NOTHING: GoogleTrust<'static> = GoogleTrust {
        accounts: &[],
        audiences: &[],
        required_scopes: &[],
        keys: None,
        access: None,
    };
}

/// What the `google` method needs at run time besides the accounts it
/// trusts (those are in the auth material): the audiences and scopes it
/// asks for, and its two edges, Google's key set for ID tokens and the
/// token-info lookups for access tokens. Built once at start-up.
pub struct GoogleMethod {
    pub audiences: Vec<String>,
    pub required_scopes: Vec<String>,
    pub keys: crate::auth::jwt::jwks::JwksCache,
    pub lookups: lookups::AccessTokenLookups,
}

/// Every reason a Google credential is refused. Values from the token are
/// reduced to a short, printable form before they reach a log line.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum GoogleError {
    #[error("ID token: {0}")]
    IdToken(JwtError),
    #[error("the ID token's algorithm is not RS256")]
    NotRs256,
    #[error("the ID token's audience (aud) is not this destination")]
    WrongAudience,
    #[error("no audience is configured for Google ID tokens (REDOX_GOOGLE_AUDIENCE)")]
    NoAudience,
    #[error("the token carries no {0}")]
    MissingClaim(&'static str),
    #[error("the token's email is not verified")]
    EmailNotVerified,
    #[error("the token names two accounts ({account} in azp, {other} in sub or aud)")]
    IdentityMismatch { account: String, other: String },
    #[error("the token is of service account {account}, which is not in google_service_accounts")]
    NotPinned { account: String },
    #[error("Google does not know the access token (invalid, expired or revoked)")]
    AccessTokenRefused,
    #[error("the access token has expired")]
    AccessTokenExpired,
    #[error("the access token lacks a required scope")]
    MissingScope,
    #[error("the access token was not checked with Google")]
    AccessTokenUnchecked,
}

impl GoogleError {
    /// Whether a fresher key set from Google could turn this refusal into
    /// an acceptance (Google rotated its keys).
    pub fn may_be_stale_keys(&self) -> bool {
        matches!(self, GoogleError::IdToken(JwtError::UnknownKeyId { .. }))
    }
}

/// A Bearer value the `google` method owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoogleBearer<'a> {
    IdToken(&'a str),
    AccessToken(&'a str),
}

/// Whether a Bearer value is a Google credential, decided from its shape
/// alone (no outside call): an access token's `ya29.` form, or a JWT whose
/// unverified `iss` is Google's. Anything else is another method's.
pub fn google_bearer(value: &str) -> Option<GoogleBearer<'_>> {
    if is_access_token_shape(value) {
        return Some(GoogleBearer::AccessToken(value));
    }
    let parts = JwtParts::split(value).ok()?;
    let claims = parts.claims_object().ok()?;
    match claims.get("iss") {
        Some(Value::String(iss)) if ISSUERS.contains(&iss.as_str()) => {
            Some(GoogleBearer::IdToken(value))
        }
        _ => None,
    }
}

/// `ya29.` and then base64url characters and dots, within
/// [`MAX_ACCESS_TOKEN_BYTES`]. Google does not document the prefix, but
/// every access token it issues (a user's, a service account's, one made by
/// impersonation as Workload Identity Federation does) has carried it; a
/// value of any other shape is not sent to Google.
pub fn is_access_token_shape(value: &str) -> bool {
    value.len() <= MAX_ACCESS_TOKEN_BYTES
        && value.strip_prefix(ACCESS_TOKEN_PREFIX).is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
}

/// Checks a Google credential: the account it names must be pinned.
/// Returns the account's unique id.
pub fn verify_google(
    bearer: GoogleBearer<'_>,
    trust: &GoogleTrust<'_>,
    now: SystemTime,
) -> Result<String, GoogleError> {
    match bearer {
        GoogleBearer::IdToken(token) => verify_id_token(token, trust, now),
        GoogleBearer::AccessToken(_) => match trust.access {
            None => Err(GoogleError::AccessTokenUnchecked),
            Some(TokenInfoAnswer::Refused) => Err(GoogleError::AccessTokenRefused),
            Some(TokenInfoAnswer::Valid(info)) => check_access_token(info, trust, now),
        },
    }
}

fn verify_id_token(
    token: &str,
    trust: &GoogleTrust<'_>,
    now: SystemTime,
) -> Result<String, GoogleError> {
    let parts = JwtParts::split(token).map_err(GoogleError::IdToken)?;
    let header = parts.header_object().map_err(GoogleError::IdToken)?;
    // Google signs ID tokens with RS256 only: nothing else is tried.
    let alg = check_algorithm(&header).map_err(GoogleError::IdToken)?;
    if alg != Algorithm::RS256 {
        return Err(GoogleError::NotRs256);
    }
    crate::auth::jwt::refuse_key_headers(&header, false).map_err(GoogleError::IdToken)?;
    match header.get("typ") {
        None => {}
        Some(Value::String(typ)) if typ.eq_ignore_ascii_case("JWT") => {}
        Some(_) => return Err(GoogleError::IdToken(JwtError::NotAnAccessToken("typ"))),
    }
    let kid = key_id(&header).map_err(GoogleError::IdToken)?;
    let keys = trust
        .keys
        .ok_or(GoogleError::IdToken(JwtError::KeysUnavailable))?;
    let key = keys.find(kid).ok_or_else(|| {
        GoogleError::IdToken(match kid {
            Some(kid) => JwtError::UnknownKeyId {
                issuer: crate::auth::jwt::trust::IssuerKind::Remote,
                kid: loggable(kid),
            },
            None => JwtError::MissingKeyId,
        })
    })?;
    parts
        .verify_signature(key, alg)
        .map_err(GoogleError::IdToken)?;
    let claims = parts.claims_object().map_err(GoogleError::IdToken)?;
    check_times(&claims, now).map_err(GoogleError::IdToken)?;
    match claims.get("iss") {
        Some(Value::String(iss)) if ISSUERS.contains(&iss.as_str()) => {}
        _ => return Err(GoogleError::IdToken(JwtError::UntrustedIssuer)),
    }
    check_audience(&claims, trust.audiences)?;
    let unique_id = string_claim(&claims, "sub")?.ok_or(GoogleError::MissingClaim("sub"))?;
    let email = verified_email(
        string_claim(&claims, "email")?,
        claims.get("email_verified"),
    )?;
    pinned(&Identity { unique_id, email }, trust.accounts)
}

fn check_access_token(
    info: &AccessTokenInfo,
    trust: &GoogleTrust<'_>,
    now: SystemTime,
) -> Result<String, GoogleError> {
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    if info.exp <= now {
        return Err(GoogleError::AccessTokenExpired);
    }
    let unique_id = access_token_account(info)?;
    let email = match (info.email.as_deref(), info.email_verified) {
        (Some(_), false) => return Err(GoogleError::EmailNotVerified),
        (email, _) => email,
    };
    if !trust
        .required_scopes
        .iter()
        .all(|wanted| info.scopes().any(|scope| scope == wanted))
    {
        return Err(GoogleError::MissingScope);
    }
    pinned(&Identity { unique_id, email }, trust.accounts)
}

/// The account an access token is of: its `azp` (or, when Google leaves
/// that out, its `aud`), which for a service account is the account's
/// unique id; a `sub` or `aud` naming another account refuses the token (a
/// user's token has the user in `sub` and the OAuth client in `azp`).
fn access_token_account(info: &AccessTokenInfo) -> Result<&str, GoogleError> {
    let unique_id = info
        .azp
        .as_deref()
        .or(info.aud.as_deref())
        .ok_or(GoogleError::MissingClaim("azp"))?;
    for other in [info.sub.as_deref(), info.aud.as_deref()]
        .into_iter()
        .flatten()
    {
        if other != unique_id {
            return Err(GoogleError::IdentityMismatch {
                account: loggable(unique_id),
                other: loggable(other),
            });
        }
    }
    Ok(unique_id)
}

fn pinned(identity: &Identity<'_>, accounts: &[ServiceAccount]) -> Result<String, GoogleError> {
    if accounts.iter().any(|account| account.matches(identity)) {
        Ok(identity.unique_id.to_owned())
    } else {
        Err(GoogleError::NotPinned {
            account: loggable(identity.email.unwrap_or(identity.unique_id)),
        })
    }
}

/// Whether an access token's answer names a pinned account (the lookups
/// keep only those until they expire).
pub fn names_pinned_account(info: &AccessTokenInfo, accounts: &[ServiceAccount]) -> bool {
    let Ok(unique_id) = access_token_account(info) else {
        return false;
    };
    let email = info.email.as_deref().filter(|_| info.email_verified);
    pinned(&Identity { unique_id, email }, accounts).is_ok()
}

fn check_audience(claims: &Map<String, Value>, audiences: &[String]) -> Result<(), GoogleError> {
    if audiences.is_empty() {
        return Err(GoogleError::NoAudience);
    }
    let fits = |aud: &str| audiences.iter().any(|a| a == aud);
    let accepted = match claims.get("aud") {
        Some(Value::String(aud)) => fits(aud),
        Some(Value::Array(list)) => list.iter().any(|v| v.as_str().is_some_and(fits)),
        _ => false,
    };
    if accepted {
        Ok(())
    } else {
        Err(GoogleError::WrongAudience)
    }
}

fn string_claim<'c>(
    claims: &'c Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'c str>, GoogleError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(value)) if !value.is_empty() => Ok(Some(value)),
        Some(_) => Err(GoogleError::MissingClaim(name)),
    }
}

/// The email, when the token says Google verified it (`email_verified`
/// `true`, or `"true"` as some Google answers spell it); an email that is
/// not verified refuses the token.
fn verified_email<'c>(
    email: Option<&'c str>,
    verified: Option<&Value>,
) -> Result<Option<&'c str>, GoogleError> {
    let Some(email) = email else {
        return Ok(None);
    };
    match verified {
        Some(Value::Bool(true)) => Ok(Some(email)),
        Some(Value::String(text)) if text == "true" => Ok(Some(email)),
        _ => Err(GoogleError::EmailNotVerified),
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

    fn account(unique_id: Option<&str>, email: Option<&str>) -> ServiceAccount {
        ServiceAccount {
            unique_id: unique_id.map(Into::into),
            email: email.map(Into::into),
        }
    }

    #[test]
    fn an_account_is_matched_by_every_field_it_pins() {
        const SA: &str = "redox@proj.iam.gserviceaccount.com";
        let token = |email: Option<&'static str>| Identity {
            unique_id: "1001",
            email,
        };
        assert!(account(Some("1001"), None).matches(&token(None)));
        assert!(!account(Some("1002"), None).matches(&token(None)));
        assert!(account(None, Some(SA)).matches(&token(Some(SA))));
        assert!(
            account(None, Some(SA)).matches(&token(Some("REDOX@proj.iam.gserviceaccount.com")))
        );
        assert!(
            !account(None, Some(SA)).matches(&token(None)),
            "an email pin needs the email"
        );
        assert!(!account(None, Some(SA)).matches(&token(Some("x@y.iam.gserviceaccount.com"))));
        assert!(account(Some("1001"), Some(SA)).matches(&token(None)));
        assert!(account(Some("1001"), Some(SA)).matches(&token(Some(SA))));
        assert!(!account(Some("1001"), Some(SA)).matches(&token(Some("x@y.com"))));
        assert!(!account(Some("1002"), Some(SA)).matches(&token(Some(SA))));
        assert!(!account(None, None).matches(&token(Some(SA))));
    }

    #[test]
    fn bearer_shapes_are_told_apart_without_a_call() {
        assert_eq!(
            google_bearer("ya29.a0AfB_byC-x.y_z"),
            Some(GoogleBearer::AccessToken("ya29.a0AfB_byC-x.y_z"))
        );
        for not_google in [
            "ya29.",
            "ya29.with space",
            "ya29.with/slash",
            "YA29.abc",
            "rdx-verification-token",
            "a.b.c",
        ] {
            assert_eq!(google_bearer(not_google), None, "{not_google}");
        }
        assert_eq!(
            google_bearer(&format!("ya29.{}", "a".repeat(MAX_ACCESS_TOKEN_BYTES))),
            None
        );
        use base64::Engine as _;
        let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let id_token = format!(
            "{}.{}.{}",
            b64(r#"{"alg":"RS256"}"#),
            b64(r#"{"iss":"https://accounts.google.com"}"#),
            b64("sig")
        );
        assert_eq!(
            google_bearer(&id_token),
            Some(GoogleBearer::IdToken(&id_token))
        );
        let other = format!(
            "{}.{}.{}",
            b64(r#"{"alg":"RS256"}"#),
            b64(r#"{"iss":"https://idp.example.com"}"#),
            b64("sig")
        );
        assert_eq!(google_bearer(&other), None);
    }

    fn info(azp: &str) -> AccessTokenInfo {
        AccessTokenInfo {
            azp: Some(azp.into()),
            aud: Some(azp.into()),
            sub: Some(azp.into()),
            scope: "https://www.googleapis.com/auth/cloud-platform".into(),
            exp: 1_800_000_100,
            email: None,
            email_verified: false,
        }
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs)
    }

    mod id_tokens {
        use super::*;
        use crate::auth::jwt::jwk::test_keys::{rsa_jwk, rsa_pair};
        use crate::auth::jwt::test_tokens::{Signer, token, with};
        use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
        use serde_json::json;

        const NOW: u64 = 1_800_000_000;
        const AUD: &str = "https://redox.example.com/";
        const SA: &str = "redox-push@proj.iam.gserviceaccount.com";

        struct Google {
            pair: RsaKeyPair,
            keys: KeySet,
        }

        fn google() -> Google {
            let pair = rsa_pair();
            let jwks = json!({"keys": [rsa_jwk(&pair, "g1")]});
            Google {
                keys: KeySet::from_jwks_json(jwks.to_string().as_bytes()).unwrap(),
                pair,
            }
        }

        fn claims() -> Value {
            json!({"iss": "https://accounts.google.com", "aud": AUD, "azp": "1001",
                   "sub": "1001", "email": SA, "email_verified": true,
                   "iat": NOW - 10, "exp": NOW + 3590})
        }

        fn sign(google: &Google, header: Value, claims: Value) -> String {
            token(
                &header,
                &claims,
                Signer::Rsa(&google.pair, &RSA_PKCS1_SHA256),
            )
        }

        fn header() -> Value {
            json!({"alg": "RS256", "kid": "g1", "typ": "JWT"})
        }

        fn check(
            google: &Google,
            token: &str,
            accounts: &[ServiceAccount],
        ) -> Result<String, GoogleError> {
            let audiences = [AUD.to_owned()];
            verify_google(
                GoogleBearer::IdToken(token),
                &GoogleTrust {
                    accounts,
                    audiences: &audiences,
                    required_scopes: &[],
                    keys: Some(&google.keys),
                    access: None,
                },
                at(NOW),
            )
        }

        #[test]
        fn a_pinned_accounts_id_token_for_this_audience_passes_and_nothing_else() {
            let g = google();
            let by_id = [account(Some("1001"), None)];
            let by_email = [account(None, Some(SA))];
            let good = sign(&g, header(), claims());
            assert_eq!(check(&g, &good, &by_id), Ok("1001".into()));
            assert_eq!(check(&g, &good, &by_email), Ok("1001".into()));
            let legacy_iss = sign(
                &g,
                header(),
                with(claims(), json!({"iss": "accounts.google.com"})),
            );
            assert_eq!(check(&g, &legacy_iss, &by_id), Ok("1001".into()));
            let no_email = sign(
                &g,
                header(),
                with(claims(), json!({"email": null, "email_verified": null})),
            );
            assert_eq!(check(&g, &no_email, &by_id), Ok("1001".into()));
            assert!(matches!(
                check(&g, &no_email, &by_email),
                Err(GoogleError::NotPinned { .. })
            ));
            let stranger = sign(
                &g,
                header(),
                with(
                    claims(),
                    json!({"sub": "2002", "azp": "2002",
                "email": "x@other.iam.gserviceaccount.com"}),
                ),
            );
            assert!(matches!(
                check(&g, &stranger, &by_id),
                Err(GoogleError::NotPinned { .. })
            ));
            assert!(matches!(
                check(&g, &stranger, &by_email),
                Err(GoogleError::NotPinned { .. })
            ));
            let other_aud = sign(
                &g,
                header(),
                with(claims(), json!({"aud": "https://elsewhere/"})),
            );
            assert_eq!(
                check(&g, &other_aud, &by_id),
                Err(GoogleError::WrongAudience)
            );
            let unverified = sign(
                &g,
                header(),
                with(claims(), json!({"email_verified": false})),
            );
            assert_eq!(
                check(&g, &unverified, &by_id),
                Err(GoogleError::EmailNotVerified)
            );
            let verified_as_text = sign(
                &g,
                header(),
                with(claims(), json!({"email_verified": "true"})),
            );
            assert_eq!(check(&g, &verified_as_text, &by_email), Ok("1001".into()));
            let expired = sign(&g, header(), with(claims(), json!({"exp": NOW - 3600})));
            assert_eq!(
                check(&g, &expired, &by_id),
                Err(GoogleError::IdToken(JwtError::Expired))
            );
            let other_issuer = sign(&g, header(), with(claims(), json!({"iss": "https://evil"})));
            assert_eq!(
                check(&g, &other_issuer, &by_id),
                Err(GoogleError::IdToken(JwtError::UntrustedIssuer))
            );
        }

        #[test]
        fn forged_and_mis_signed_id_tokens_are_refused() {
            let g = google();
            let by_id = [account(Some("1001"), None)];
            let other_key = google();
            let foreign = sign(&other_key, header(), claims());
            assert_eq!(
                check(&g, &foreign, &by_id),
                Err(GoogleError::IdToken(JwtError::BadSignature))
            );
            let unknown_kid = sign(&g, with(header(), json!({"kid": "g2"})), claims());
            let error = check(&g, &unknown_kid, &by_id).unwrap_err();
            assert!(error.may_be_stale_keys(), "{error}");
            let hs256 = token(
                &with(header(), json!({"alg": "HS256"})),
                &claims(),
                Signer::Hmac(b"k"),
            );
            assert!(matches!(
                check(&g, &hs256, &by_id),
                Err(GoogleError::IdToken(JwtError::HmacAlgorithm(_)))
            ));
            let none = token(
                &with(header(), json!({"alg": "none"})),
                &claims(),
                Signer::Unsigned,
            );
            assert_eq!(
                check(&g, &none, &by_id),
                Err(GoogleError::IdToken(JwtError::AlgNone))
            );
            let rs384 = sign(&g, with(header(), json!({"alg": "RS384"})), claims());
            assert_eq!(check(&g, &rs384, &by_id), Err(GoogleError::NotRs256));
            let jku = sign(
                &g,
                with(header(), json!({"jku": "https://evil/keys"})),
                claims(),
            );
            assert_eq!(
                check(&g, &jku, &by_id),
                Err(GoogleError::IdToken(JwtError::KeyInHeader("jku")))
            );
            let no_audience = verify_google(
                GoogleBearer::IdToken(&sign(&g, header(), claims())),
                &GoogleTrust {
                    accounts: &by_id,
                    audiences: &[],
                    required_scopes: &[],
                    keys: Some(&g.keys),
                    access: None,
                },
                at(NOW),
            );
            assert_eq!(no_audience, Err(GoogleError::NoAudience));
        }
    }

    #[test]
    fn access_tokens_are_checked_against_googles_answer_and_the_pins() {
        let accounts = [account(Some("1001"), None)];
        let check = |answer: &TokenInfoAnswer, scopes: &[String], now| {
            verify_google(
                GoogleBearer::AccessToken("ya29.x"),
                &GoogleTrust {
                    accounts: &accounts,
                    audiences: &[],
                    required_scopes: scopes,
                    keys: None,
                    access: Some(answer),
                },
                at(now),
            )
        };
        let good = TokenInfoAnswer::Valid(info("1001"));
        assert_eq!(check(&good, &[], 1_800_000_000), Ok("1001".into()));
        assert_eq!(
            check(&good, &[], 1_800_000_100),
            Err(GoogleError::AccessTokenExpired)
        );
        assert!(matches!(
            check(&TokenInfoAnswer::Valid(info("2002")), &[], 1_800_000_000),
            Err(GoogleError::NotPinned { .. })
        ));
        assert_eq!(
            check(&TokenInfoAnswer::Refused, &[], 1_800_000_000),
            Err(GoogleError::AccessTokenRefused)
        );
        let cloud = ["https://www.googleapis.com/auth/cloud-platform".to_owned()];
        assert_eq!(check(&good, &cloud, 1_800_000_000), Ok("1001".into()));
        let other = ["https://www.googleapis.com/auth/healthcare".to_owned()];
        assert_eq!(
            check(&good, &other, 1_800_000_000),
            Err(GoogleError::MissingScope)
        );
        let mut mismatched = info("1001");
        mismatched.sub = Some("2002".into());
        assert!(matches!(
            check(&TokenInfoAnswer::Valid(mismatched), &[], 1_800_000_000),
            Err(GoogleError::IdentityMismatch { .. })
        ));
        let mut unverified = info("1001");
        unverified.email = Some("redox@p.iam.gserviceaccount.com".into());
        assert_eq!(
            check(&TokenInfoAnswer::Valid(unverified), &[], 1_800_000_000),
            Err(GoogleError::EmailNotVerified)
        );
        assert_eq!(
            verify_google(
                GoogleBearer::AccessToken("ya29.x"),
                &GoogleTrust {
                    accounts: &accounts,
                    audiences: &[],
                    required_scopes: &[],
                    keys: None,
                    access: None,
                },
                at(1_800_000_000),
            ),
            Err(GoogleError::AccessTokenUnchecked)
        );
    }
}
