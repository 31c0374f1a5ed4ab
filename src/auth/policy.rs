//! Authentication: decides whether a push comes from Redox.
//!
//! Each method (`token`, `sigv4`, `iam`, `jwt`, `google`) looks at the
//! credential it owns and says *not presented*, *verified*, or *failed*
//! with a typed [`AuthError`]. A request passes when at least one enabled
//! method verifies it and no credential it presents for an enabled method
//! fails (SPEC 3.3). One `authorization: Bearer` header carries four kinds
//! of value, told apart from the value alone: a verification token (it is
//! a configured one, or repeats the `verification-token` header) belongs to
//! `token`; with `google` on, a Google access token (`ya29.…`) or a JWT whose
//! `iss` is Google's belongs to `google`; any other is a JWT for `jwt`. The
//! module is pure: material, key sets, Google's answers and the clock come
//! in as arguments.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use std::fmt;
use std::time::{Duration, SystemTime};

use subtle::ConstantTimeEq;

pub use crate::auth::credential::{Credential, authorization_credential};
pub use crate::auth::error::AuthError;
use crate::auth::google::{self, GoogleBearer, GoogleTrust};
use crate::auth::material::{AuthMaterial, TokenDigest};
use crate::auth::{iam, jwt, sigv4, token};
use crate::inbound::InboundRequest;

pub use crate::auth::jwt::TrustedIssuer;

/// The authentication methods of SPEC 3.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    Token,
    Sigv4,
    Iam,
    Jwt,
    /// Google-issued credentials of pinned service accounts.
    Google,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 5] = [
        AuthMethod::Token,
        AuthMethod::Sigv4,
        AuthMethod::Iam,
        AuthMethod::Jwt,
        AuthMethod::Google,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Token => "token",
            AuthMethod::Sigv4 => "sigv4",
            AuthMethod::Iam => "iam",
            AuthMethod::Jwt => "jwt",
            AuthMethod::Google => "google",
        }
    }

    pub fn parse(name: &str) -> Option<AuthMethod> {
        AuthMethod::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The policy every request is checked against.
#[derive(Debug, Clone)]
pub struct AuthPolicy {
    pub enabled: Vec<AuthMethod>,
    pub allowed_principals: Vec<String>,
    pub clock_skew: Duration,
}

impl AuthPolicy {
    pub fn is_enabled(&self, method: AuthMethod) -> bool {
        self.enabled.contains(&method)
    }
}

/// Authenticates a push with no JWT issuer at hand (a JWT, if `jwt` is
/// enabled, then fails with [`jwt::JwtError::UntrustedIssuer`]). Returns the
/// method that verified it.
pub fn authenticate(
    request: &InboundRequest,
    material: &AuthMaterial,
    policy: &AuthPolicy,
    now: SystemTime,
) -> Result<AuthMethod, AuthError> {
    authenticate_with_issuers(request, material, policy, &[], now)
}

/// `true` when two presented values are equal, compared as digests.
fn same_value(first: &str, second: &str) -> bool {
    bool::from(
        TokenDigest::of(first.as_bytes())
            .0
            .ct_eq(&TokenDigest::of(second.as_bytes()).0),
    )
}

/// A Bearer value that another method than `token` owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignedBearer<'a> {
    Jwt(&'a str),
    Google(GoogleBearer<'a>),
}

/// What a Bearer value is, decided from the value alone (no outside call):
/// with `jwt` or `google` on, a Bearer that is neither a configured
/// verification token nor a copy of the `verification-token` header (or
/// handshake token) Redox sent with it is a credential of its own; with
/// `google` on, a Google-shaped one (an access token's `ya29.` form, or a
/// JWT whose `iss` is Google's) is `google`'s, any other `jwt`'s.
fn signed_bearer<'a>(
    credential: &Credential<'a>,
    companion_token: Option<&str>,
    material: &AuthMaterial,
    policy: &AuthPolicy,
) -> Option<SignedBearer<'a>> {
    let Credential::Bearer(value) = *credential else {
        return None;
    };
    let jwt_on = policy.is_enabled(AuthMethod::Jwt);
    let google_on = policy.is_enabled(AuthMethod::Google);
    if !jwt_on && !google_on {
        return None;
    }
    let is_token = policy.is_enabled(AuthMethod::Token)
        && (companion_token.is_some_and(|token| same_value(token, value))
            || token::token_matches(material, value.as_bytes()));
    if is_token {
        return None;
    }
    if google_on && let Some(google) = google::google_bearer(value) {
        return Some(SignedBearer::Google(google));
    }
    jwt_on.then_some(SignedBearer::Jwt(value))
}

/// The Google credential a push carries for the `google` method, if any,
/// decided as the checks decide it: the authenticator looks an access
/// token up (or fetches Google's keys) only for it.
pub fn google_credential<'a>(
    request: &'a InboundRequest,
    material: &AuthMaterial,
    policy: &AuthPolicy,
) -> Option<GoogleBearer<'a>> {
    let credential = authorization_credential(request).ok()?;
    let header = verification_token_header(request).ok()?;
    match signed_bearer(&credential, header, material, policy)? {
        SignedBearer::Google(google) => Some(google),
        SignedBearer::Jwt(_) => None,
    }
}

/// What a request's credentials are checked against besides the auth
/// material, as fetched for this request: the JWT issuers with their key
/// sets, and what the `google` method trusts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Trust<'a> {
    pub issuers: &'a [TrustedIssuer<'a>],
    pub google: Option<GoogleTrust<'a>>,
}

/// What a check can see of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The whole request, body included (Lambda, and server mode once the
    /// body is read).
    Whole,
    /// Only the head (server mode, before a large body is read): a SigV4
    /// signature over an unread body is checked as far as the head allows.
    Head,
}

/// What the head of a request proves before its body is read (server
/// mode). The whole request is decided again once its body is in; the head
/// only refuses early, and says how much body is worth reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadVerdict {
    /// A credential in the head verified.
    Verified(AuthMethod),
    /// A SigV4 credential passed everything but its signature, which
    /// covers the body's hash.
    AwaitsBody,
    /// The head carries no credential of an enabled method: only a
    /// handshake, whose token is in its body, can still pass.
    Unproven,
}

/// The credentials a request presents besides its verification token,
/// checked: SigV4 and a bearer JWT.
struct Signed<'a> {
    verified: Option<AuthMethod>,
    /// A SigV4 signature waits for the body (head phase only).
    awaits_body: bool,
    credential: Credential<'a>,
    /// The `authorization` credential left for the token method: the Bearer
    /// value unless it was a JWT.
    for_token: Credential<'a>,
}

impl Signed<'_> {
    fn record(
        &mut self,
        method: AuthMethod,
        outcome: Option<Result<(), AuthError>>,
    ) -> Result<(), AuthError> {
        match outcome {
            None => Ok(()),
            Some(Ok(())) => {
                self.verified.get_or_insert(method);
                Ok(())
            }
            Some(Err(error)) => Err(error),
        }
    }

    /// IAM (when on), then the rule that a scheme nobody enabled
    /// understands is a failed credential unless the gateway itself
    /// already verified the caller.
    fn finish_with_iam(
        &mut self,
        request: &InboundRequest,
        policy: &AuthPolicy,
    ) -> Result<(), AuthError> {
        if policy.is_enabled(AuthMethod::Iam) {
            self.record(
                AuthMethod::Iam,
                iam::check_iam(request, &policy.allowed_principals)
                    .map(|outcome| outcome.map_err(AuthError::from)),
            )?;
        }
        if let Credential::Other = self.credential
            && self.verified != Some(AuthMethod::Iam)
        {
            return Err(AuthError::UnsupportedAuthorizationScheme);
        }
        Ok(())
    }
}

/// Checks the SigV4 credential and a bearer JWT, each by itself: a failure
/// of either refuses the request. `companion_token` is the verification
/// token sent beside the `authorization` header (header or handshake body),
/// which a Bearer copy of it is not a JWT.
fn check_signed<'a>(
    request: &'a InboundRequest,
    seen: Seen,
    companion_token: Option<&str>,
    material: &AuthMaterial,
    policy: &AuthPolicy,
    trust: &Trust<'_>,
    now: SystemTime,
) -> Result<Signed<'a>, AuthError> {
    let credential = authorization_credential(request)?;
    let bearer = signed_bearer(&credential, companion_token, material, policy);
    let mut signed = Signed {
        verified: None,
        awaits_body: false,
        credential,
        // A JWT (or a Google credential) and a verification-token header
        // are two credentials: each is checked by itself, and both must
        // pass.
        for_token: if bearer.is_some() {
            Credential::None
        } else {
            credential
        },
    };
    if policy.is_enabled(AuthMethod::Sigv4) {
        let keys = &material.sigv4_keys;
        let outcome = match (credential, seen) {
            (Credential::Sigv4(_), Seen::Whole) => Some(
                sigv4::verify_sigv4(request, keys, now, policy.clock_skew)
                    .map(|_| ())
                    .map_err(AuthError::from),
            ),
            (Credential::Sigv4(_), Seen::Head) => {
                match sigv4::verify_sigv4_head(request, keys, now, policy.clock_skew) {
                    Ok(sigv4::HeadCheck::Verified) => Some(Ok(())),
                    Ok(sigv4::HeadCheck::AwaitsBody) => {
                        signed.awaits_body = true;
                        None
                    }
                    Err(error) => Some(Err(error.into())),
                }
            }
            _ => sigv4::presigned_query_refusal(request).map(|e| Err(AuthError::from(e))),
        };
        signed.record(AuthMethod::Sigv4, outcome)?;
    }
    match bearer {
        Some(SignedBearer::Jwt(token)) => {
            let outcome = jwt::verify_jwt(token, trust.issuers, now)
                .map(|_| ())
                .map_err(AuthError::from);
            signed.record(AuthMethod::Jwt, Some(outcome))?;
        }
        Some(SignedBearer::Google(credential)) => {
            let google = trust.google.unwrap_or(GoogleTrust::NOTHING);
            let outcome = google::verify_google(credential, &google, now)
                .map(|_| ())
                .map_err(AuthError::from);
            signed.record(AuthMethod::Google, Some(outcome))?;
        }
        None => {}
    }
    Ok(signed)
}

fn verification_token_header(request: &InboundRequest) -> Result<Option<&str>, AuthError> {
    request
        .single_header("verification-token")
        .map_err(|_| AuthError::RepeatedCredentialHeader("verification-token"))
}

/// Authenticates a push, checking a bearer JWT against `issuers` (the
/// trusted issuers with the key sets fetched for this request). Returns the
/// method that verified it.
pub fn authenticate_with_issuers(
    request: &InboundRequest,
    material: &AuthMaterial,
    policy: &AuthPolicy,
    issuers: &[TrustedIssuer<'_>],
    now: SystemTime,
) -> Result<AuthMethod, AuthError> {
    let trust = Trust {
        issuers,
        google: None,
    };
    authenticate_with_trust(request, material, policy, &trust, now)
}

/// Authenticates a push against everything `trust` holds. Returns the
/// method that verified it.
pub fn authenticate_with_trust(
    request: &InboundRequest,
    material: &AuthMaterial,
    policy: &AuthPolicy,
    trust: &Trust<'_>,
    now: SystemTime,
) -> Result<AuthMethod, AuthError> {
    let signed = check_push(request, Seen::Whole, material, policy, trust, now)?;
    signed.verified.ok_or(AuthError::NoCredential)
}

/// Every credential of a push, as far as `seen` shows them.
fn check_push<'a>(
    request: &'a InboundRequest,
    seen: Seen,
    material: &AuthMaterial,
    policy: &AuthPolicy,
    trust: &Trust<'_>,
    now: SystemTime,
) -> Result<Signed<'a>, AuthError> {
    let bearer_may_be_signed =
        policy.is_enabled(AuthMethod::Jwt) || policy.is_enabled(AuthMethod::Google);
    let header_token = match authorization_credential(request)? {
        Credential::Bearer(_) if bearer_may_be_signed => verification_token_header(request)?,
        _ => None,
    };
    let mut signed = check_signed(request, seen, header_token, material, policy, trust, now)?;
    if policy.is_enabled(AuthMethod::Token) {
        let outcome = token::check_token(request, &signed.for_token, material);
        signed.record(AuthMethod::Token, outcome)?;
    }
    signed.finish_with_iam(request, policy)?;
    Ok(signed)
}

/// Server mode's first phase: checks what the head of a request proves,
/// before its body is read. A refusal here is one the whole request would
/// get too, whatever its body (a handshake checks every header credential
/// a push does, and a body too large to be a handshake is a push); a head
/// that passes is decided again, whole, once its body is in.
pub fn screen_head_with_issuers(
    head: &InboundRequest,
    material: &AuthMaterial,
    policy: &AuthPolicy,
    issuers: &[TrustedIssuer<'_>],
    now: SystemTime,
) -> Result<HeadVerdict, AuthError> {
    let trust = Trust {
        issuers,
        google: None,
    };
    screen_head_with_trust(head, material, policy, &trust, now)
}

/// [`screen_head_with_issuers`] against everything `trust` holds.
pub fn screen_head_with_trust(
    head: &InboundRequest,
    material: &AuthMaterial,
    policy: &AuthPolicy,
    trust: &Trust<'_>,
    now: SystemTime,
) -> Result<HeadVerdict, AuthError> {
    let signed = check_push(head, Seen::Head, material, policy, trust, now)?;
    Ok(match signed.verified {
        Some(method) => HeadVerdict::Verified(method),
        None if signed.awaits_body => HeadVerdict::AwaitsBody,
        None => HeadVerdict::Unproven,
    })
}

/// Checks the token of a verification handshake. Redox puts it in the body
/// (POST) or the query (GET), and may repeat it in the `verification-token`
/// header and as `authorization: Bearer`; every copy that is present must
/// agree, and the agreed token must match a configured one.
pub fn authenticate_handshake(
    request: &InboundRequest,
    token_in_message: Option<&str>,
    material: &AuthMaterial,
) -> Result<(), AuthError> {
    let policy = AuthPolicy {
        enabled: vec![AuthMethod::Token],
        allowed_principals: Vec::new(),
        clock_skew: Duration::ZERO,
    };
    authenticate_handshake_with_issuers(
        request,
        token_in_message,
        material,
        &policy,
        &[],
        SystemTime::UNIX_EPOCH,
    )
}

/// [`authenticate_handshake`] for a destination with more methods on: every
/// other credential the handshake presents (a SigV4 signature, a Bearer
/// JWT, a gateway-verified principal, an unknown scheme) is checked as it
/// would be on a push and must pass, and the handshake token by itself.
pub fn authenticate_handshake_with_issuers(
    request: &InboundRequest,
    token_in_message: Option<&str>,
    material: &AuthMaterial,
    policy: &AuthPolicy,
    issuers: &[TrustedIssuer<'_>],
    now: SystemTime,
) -> Result<(), AuthError> {
    let trust = Trust {
        issuers,
        google: None,
    };
    authenticate_handshake_with_trust(request, token_in_message, material, policy, &trust, now)
}

/// [`authenticate_handshake_with_issuers`] against everything `trust` holds.
pub fn authenticate_handshake_with_trust(
    request: &InboundRequest,
    token_in_message: Option<&str>,
    material: &AuthMaterial,
    policy: &AuthPolicy,
    trust: &Trust<'_>,
    now: SystemTime,
) -> Result<(), AuthError> {
    let header = verification_token_header(request)?;
    let companion = header.or(token_in_message);
    let mut signed = check_signed(
        request,
        Seen::Whole,
        companion,
        material,
        policy,
        trust,
        now,
    )?;
    signed.finish_with_iam(request, policy)?;
    let bearer = match signed.for_token {
        Credential::Bearer(value) => Some(value),
        _ => None,
    };
    let in_headers = token::agreeing_token(header, bearer)?;
    let token = token::agreeing_token(in_headers, token_in_message)?
        .ok_or(AuthError::HandshakeWithoutToken)?;
    if token::token_matches(material, token.as_bytes()) {
        Ok(())
    } else {
        Err(AuthError::TokenMismatch)
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
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use bytes::Bytes;
    use serde_json::json;

    use super::*;
    use crate::auth::jwt::JwtError;
    use crate::auth::jwt::jwk::KeySet;
    use crate::auth::jwt::test_tokens::{Signer, token};
    use crate::auth::jwt::trust::IssuerKind;
    use crate::auth::jwt::trust::JwtSettings;
    use crate::inbound::{FrontDoor, Origin};

    const TOKEN: &str = "rdx-verification-token";
    const ISSUER: &str = "https://idp.example.com/";
    const NOW: u64 = 1_800_000_000;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(NOW)
    }

    fn policy(methods: &[AuthMethod]) -> AuthPolicy {
        AuthPolicy {
            enabled: methods.to_vec(),
            allowed_principals: Vec::new(),
            clock_skew: Duration::from_secs(300),
        }
    }

    fn material() -> AuthMaterial {
        AuthMaterial::from_token_list(TOKEN).unwrap()
    }

    fn push(headers: &[(&str, &str)]) -> InboundRequest {
        InboundRequest {
            method: "POST".into(),
            raw_path: "/".into(),
            raw_query: String::new(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: Bytes::from_static(b"{\"Meta\":{}}"),
            origin: Origin::new(FrontDoor::LocalServer),
        }
    }

    struct Issuer {
        pair: Ed25519KeyPair,
        keys: KeySet,
        settings: JwtSettings,
    }

    fn issuer() -> Issuer {
        let pair = Ed25519KeyPair::generate().unwrap();
        let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1",
            "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())}]});
        Issuer {
            keys: KeySet::from_jwks_json(jwks.to_string().as_bytes()).unwrap(),
            pair,
            settings: JwtSettings {
                issuer: ISSUER.into(),
                audiences: vec!["redox".into()],
                required_scopes: vec![],
                ..JwtSettings::default()
            },
        }
    }

    impl Issuer {
        fn jwt(&self, exp: u64) -> String {
            token(
                &json!({"alg": "EdDSA", "kid": "k1"}),
                &json!({"iss": ISSUER, "aud": "redox", "exp": exp}),
                Signer::Ed(&self.pair),
            )
        }
        fn trusted(&self) -> [TrustedIssuer<'_>; 1] {
            [TrustedIssuer {
                kind: IssuerKind::Remote,
                settings: &self.settings,
                keys: Some(&self.keys),
            }]
        }
    }

    fn check(
        request: &InboundRequest,
        methods: &[AuthMethod],
        issuer: &Issuer,
    ) -> Result<AuthMethod, AuthError> {
        authenticate_with_issuers(
            request,
            &material(),
            &policy(methods),
            &issuer.trusted(),
            now(),
        )
    }

    #[test]
    fn a_bearer_jwt_is_the_jwt_method() {
        let i = issuer();
        let bearer = format!("Bearer {}", i.jwt(NOW + 300));
        let both = [AuthMethod::Token, AuthMethod::Jwt];
        assert_eq!(
            check(&push(&[("authorization", &bearer)]), &both, &i),
            Ok(AuthMethod::Jwt)
        );
        assert_eq!(
            check(&push(&[("authorization", &bearer)]), &[AuthMethod::Jwt], &i),
            Ok(AuthMethod::Jwt)
        );
        let expired = format!("Bearer {}", i.jwt(NOW - 3600));
        assert_eq!(
            check(&push(&[("authorization", &expired)]), &both, &i),
            Err(AuthError::Jwt(JwtError::Expired))
        );
    }

    #[test]
    fn a_bearer_verification_token_stays_the_token_method() {
        let i = issuer();
        let bearer = format!("Bearer {TOKEN}");
        let both = [AuthMethod::Token, AuthMethod::Jwt];
        assert_eq!(
            check(&push(&[("authorization", &bearer)]), &both, &i),
            Ok(AuthMethod::Token)
        );
        assert_eq!(
            check(
                &push(&[("authorization", &bearer), ("verification-token", TOKEN)]),
                &both,
                &i
            ),
            Ok(AuthMethod::Token)
        );
        // A rotated token sent twice is still the token method, so fresher
        // material can be fetched for it.
        let stale = push(&[
            ("authorization", "Bearer rotated"),
            ("verification-token", "rotated"),
        ]);
        let error = check(&stale, &both, &i).unwrap_err();
        assert_eq!(error, AuthError::TokenMismatch);
        assert!(error.may_be_stale_material());
        // Sent only as Bearer, a rotated token is "not a JWT": also worth a re-fetch.
        let error = check(&push(&[("authorization", "Bearer rotated")]), &both, &i).unwrap_err();
        assert_eq!(error, AuthError::Jwt(JwtError::NotAJwt));
        assert!(error.may_be_stale_material());
    }

    #[test]
    fn a_jwt_and_a_token_header_are_each_checked_and_both_must_pass() {
        let i = issuer();
        let both = [AuthMethod::Token, AuthMethod::Jwt];
        let good = format!("Bearer {}", i.jwt(NOW + 300));
        let expired = format!("Bearer {}", i.jwt(NOW - 3600));
        assert_eq!(
            check(
                &push(&[("authorization", &good), ("verification-token", TOKEN)]),
                &both,
                &i
            ),
            Ok(AuthMethod::Jwt)
        );
        assert_eq!(
            check(
                &push(&[("authorization", &good), ("verification-token", "wrong")]),
                &both,
                &i
            ),
            Err(AuthError::TokenMismatch)
        );
        assert_eq!(
            check(
                &push(&[("authorization", &expired), ("verification-token", TOKEN)]),
                &both,
                &i
            ),
            Err(AuthError::Jwt(JwtError::Expired))
        );
    }

    #[test]
    fn without_jwt_a_bearer_that_differs_from_the_header_is_still_refused() {
        let i = issuer();
        let good = format!("Bearer {}", i.jwt(NOW + 300));
        assert_eq!(
            check(
                &push(&[("authorization", &good), ("verification-token", TOKEN)]),
                &[AuthMethod::Token],
                &i
            ),
            Err(AuthError::TokensDiffer)
        );
        assert_eq!(
            authenticate(
                &push(&[("authorization", &good)]),
                &material(),
                &policy(&[AuthMethod::Token]),
                now()
            ),
            Err(AuthError::TokenMismatch)
        );
    }

    #[test]
    fn every_sigv4_refusal_that_depends_on_the_keys_may_be_stale_like_an_unknown_key() {
        use crate::auth::sigv4::Sigv4Error as E;
        let unknown = AuthError::Sigv4(E::UnknownAccessKey);
        assert!(unknown.may_be_stale_material());
        // A known key id that fails for a reason tied to that key must cost
        // the same re-fetch as an unknown id, or timing reveals the id.
        for known_key_failure in [
            E::SignatureMismatch,
            E::RegionMismatch,
            E::ServiceMismatch,
            E::MissingSessionToken,
            E::SessionTokenMismatch,
            E::UnexpectedSessionToken,
        ] {
            let error = AuthError::Sigv4(known_key_failure);
            assert_eq!(
                error.may_be_stale_material(),
                unknown.may_be_stale_material(),
                "{error}"
            );
        }
        // Refusals decided by the request alone do not re-fetch.
        for shape in [
            E::MalformedSignature,
            E::ClockSkew {
                skew_secs: 900,
                allowed_secs: 300,
            },
            E::InvalidDate,
            E::HostNotSigned,
            E::PresignedQuery,
        ] {
            assert!(!AuthError::Sigv4(shape).may_be_stale_material());
        }
        assert_eq!(
            AuthError::TokensDiffer.may_be_stale_material(),
            AuthError::TokenMismatch.may_be_stale_material()
        );
    }

    #[test]
    fn unknown_kids_ask_for_the_right_refresh() {
        let remote = AuthError::Jwt(JwtError::UnknownKeyId {
            issuer: IssuerKind::Remote,
            kid: "k".into(),
        });
        assert!(remote.may_be_stale_jwks() && !remote.may_be_stale_material());
        let builtin = AuthError::Jwt(JwtError::UnknownKeyId {
            issuer: IssuerKind::BuiltIn,
            kid: "k".into(),
        });
        assert!(builtin.may_be_stale_material() && !builtin.may_be_stale_jwks());
    }

    #[test]
    fn a_handshake_may_carry_a_jwt_besides_its_token() {
        let i = issuer();
        let both = policy(&[AuthMethod::Token, AuthMethod::Jwt]);
        let good = format!("Bearer {}", i.jwt(NOW + 300));
        let expired = format!("Bearer {}", i.jwt(NOW - 3600));
        let handshake = |bearer: &str| push(&[("authorization", bearer)]);
        let check = |request: &InboundRequest, token: &str| {
            authenticate_handshake_with_issuers(
                request,
                Some(token),
                &material(),
                &both,
                &i.trusted(),
                now(),
            )
        };
        assert_eq!(check(&handshake(&good), TOKEN), Ok(()));
        assert_eq!(
            check(&handshake(&good), "wrong"),
            Err(AuthError::TokenMismatch)
        );
        assert_eq!(
            check(&handshake(&expired), TOKEN),
            Err(AuthError::Jwt(JwtError::Expired))
        );
        assert_eq!(check(&handshake(&format!("Bearer {TOKEN}")), TOKEN), Ok(()));
        // Without jwt the old rule holds: every copy of the token must agree.
        assert_eq!(
            authenticate_handshake(&handshake(&good), Some(TOKEN), &material()),
            Err(AuthError::TokensDiffer)
        );
    }
}
