//! [`Authenticator`]: one request against what is trusted right now.
//!
//! The methods in [`crate::auth::policy`] are pure; this is where they meet
//! the material cache and the remote key set. A check that fails in a way
//! fresher material could fix (a rotated token or key) is re-run once after
//! a rate-limited re-fetch, and likewise after a bearer JWT names a `kid`
//! the cached key set does not know, so the first use of a new credential
//! is not refused. A remote key set is served from its cache, stale or not,
//! without waiting for the key host; only an empty cache or an unknown
//! `kid` waits. The decision table asks once and gets a verdict.

use std::sync::Arc;
use std::time::SystemTime;

use crate::auth::google::lookups::LookupError;
use crate::auth::google::tokeninfo::TokenInfoAnswer;
use crate::auth::google::{self, GoogleBearer, GoogleError, GoogleMethod, GoogleTrust};
use crate::auth::jwt::jwk::KeySet;
use crate::auth::jwt::jwks::Refresh;
use crate::auth::jwt::replay::JtiRefusal;
use crate::auth::jwt::trust::{IssuerKind, JwtSettings, JwtTrust};
use crate::auth::jwt::{JwtError, JwtParts, LEEWAY, MAX_JTI_BYTES, numeric_date};
use crate::auth::material::{InlineIssuer, Material, MaterialCache, MaterialError};
use crate::auth::{self, AuthError, AuthMethod, AuthPolicy, HeadVerdict, Trust, TrustedIssuer};
use crate::inbound::InboundRequest;
use crate::telemetry::metrics::Dependency;
use crate::throttle::SourceKey;

/// Why a request was not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthFailure {
    /// The caller's fault: no valid credential (401).
    #[error("{0}")]
    Refused(#[from] AuthError),
    /// Our outage: the material could not be had (503).
    #[error("auth material unavailable: {0}")]
    MaterialUnavailable(#[from] MaterialError),
    /// Our outage: the JWT issuer's keys could not be had (503).
    #[error("the JWT issuer's keys (JWKS) are unavailable")]
    JwksUnavailable,
    /// Google could not say whether an access token is valid (503): it is
    /// down, slow or answering errors, or this function's calls to it are
    /// spent for the minute.
    #[error("google token-info: {0}")]
    GoogleUnavailable(String),
    /// This source address spent its token-info calls (429).
    #[error("google token-info: this address's calls are spent; retry in {retry_after_secs} s")]
    GoogleLimited { retry_after_secs: u64 },
}

impl From<LookupError> for AuthFailure {
    fn from(error: LookupError) -> Self {
        match error {
            LookupError::AddressLimited { retry_after_secs } => {
                AuthFailure::GoogleLimited { retry_after_secs }
            }
            other => AuthFailure::GoogleUnavailable(other.to_string()),
        }
    }
}

/// The material, the JWT issuers, the `google` method's edges and the
/// policy a request is checked with.
pub struct Authenticator {
    pub material: Arc<MaterialCache>,
    pub trust: JwtTrust,
    /// Set when the `google` method is on.
    pub google: Option<GoogleMethod>,
    pub policy: AuthPolicy,
}

impl Authenticator {
    /// Authenticates a push; the method that verified it.
    ///
    /// `waiting_on` names Secrets Manager while the request waits for
    /// material, so a deadline that runs out meanwhile is blamed on it.
    pub async fn push(
        &self,
        request: &InboundRequest,
        now: SystemTime,
        waiting_on: &mut Option<Dependency>,
    ) -> Result<AuthMethod, AuthFailure> {
        let method = self
            .check(request, now, waiting_on, |material, trust| {
                auth::authenticate_with_trust(request, &material.auth, &self.policy, trust, now)
            })
            .await?;
        if method == AuthMethod::Jwt {
            self.spend_single_use_jti(request, now).await?;
        }
        Ok(method)
    }

    /// After the push's bearer JWT verified: when its issuer is a
    /// `jwt_issuers` entry with `replay_check`, records its `jti` as used,
    /// refusing a token without one or one used before. Only here, once
    /// per push, never while a request is only screened ([`Self::check`]
    /// alone records nothing), so a token checked twice for one push is
    /// spent once.
    pub async fn spend_single_use_jti(
        &self,
        request: &InboundRequest,
        now: SystemTime,
    ) -> Result<(), AuthFailure> {
        let Ok(auth::Credential::Bearer(token)) = auth::authorization_credential(request) else {
            return Ok(());
        };
        let material = self.material.current().await?;
        let Some(spent) = single_use_jti(token, &material.auth.jwt_issuers) else {
            return Ok(());
        };
        let (issuer, jti, until) = spent.map_err(|e| AuthFailure::Refused(e.into()))?;
        self.trust
            .used_jtis
            .record(issuer, &jti, until, now)
            .map_err(|refusal| {
                AuthFailure::Refused(AuthError::Jwt(match refusal {
                    JtiRefusal::Replayed => JwtError::Replayed,
                    JtiRefusal::Full => JwtError::ReplayTableFull,
                }))
            })
    }

    /// Authenticates a verification handshake carrying `token`.
    pub async fn handshake(
        &self,
        request: &InboundRequest,
        token: Option<&str>,
        now: SystemTime,
        waiting_on: &mut Option<Dependency>,
    ) -> Result<(), AuthFailure> {
        self.check(request, now, waiting_on, |material, trust| {
            auth::authenticate_handshake_with_trust(
                request,
                token,
                &material.auth,
                &self.policy,
                trust,
                now,
            )
        })
        .await
    }

    /// Server mode's first phase: what the head of a request proves before
    /// its body is read (see [`auth::screen_head_with_issuers`]), with the
    /// same material, key sets and refreshes as a whole request.
    pub async fn screen_head(
        &self,
        head: &InboundRequest,
        now: SystemTime,
        waiting_on: &mut Option<Dependency>,
    ) -> Result<HeadVerdict, AuthFailure> {
        self.check(head, now, waiting_on, |material, trust| {
            auth::screen_head_with_trust(head, &material.auth, &self.policy, trust, now)
        })
        .await
    }

    /// Runs `check` with the current material and key sets (and, for a
    /// Google access token, Google's answer), refreshing each once when the
    /// failure says it may be stale.
    async fn check<T>(
        &self,
        request: &InboundRequest,
        now: SystemTime,
        waiting_on: &mut Option<Dependency>,
        check: impl Fn(&Material, &Trust<'_>) -> Result<T, AuthError>,
    ) -> Result<T, AuthFailure> {
        *waiting_on = Some(Dependency::SecretsManager);
        let mut material = self.material.current().await?;
        *waiting_on = None;
        // Issuers matter only for a bearer JWT: other requests skip the key
        // set, the built-in issuer's settings and the list alike.
        let bearer = self.may_carry_jwt(request);
        // Cached keys come back at once, fresh or stale; only an empty
        // cache waits (for the shared fetch, within the request's deadline).
        let mut remote_keys = match (&self.trust.remote, bearer) {
            (Some(remote), true) => {
                *waiting_on = Some(Dependency::Jwks);
                let keys = remote.jwks.current().await;
                *waiting_on = None;
                keys
            }
            _ => None,
        };
        let builtin = (self.trust.builtin.as_ref())
            .filter(|_| bearer)
            .and_then(|b| b.settings(&request.origin));
        let google = self
            .google_side(request, &material, now, waiting_on)
            .await?;
        let mut google_keys = google.keys.clone();
        let run =
            |material: &Material, remote_keys: Option<&KeySet>, google_keys: Option<&KeySet>| {
                let issuers = if bearer {
                    self.trusted_issuers(remote_keys, builtin.as_deref(), material)
                } else {
                    Vec::new()
                };
                let trust = Trust {
                    issuers: &issuers,
                    google: self.google.as_ref().map(|method| GoogleTrust {
                        accounts: &material.auth.google_service_accounts,
                        audiences: &method.audiences,
                        required_scopes: &method.required_scopes,
                        keys: google_keys,
                        access: google.access.as_ref(),
                    }),
                };
                check(material, &trust)
            };
        let mut result = run(&material, remote_keys.as_deref(), google_keys.as_deref());
        if let Err(error) = &result
            && error.may_be_stale_material()
            && let Some(fresh) = self.material.refresh_after_miss().await
        {
            material = fresh;
            result = run(&material, remote_keys.as_deref(), google_keys.as_deref());
        }
        if let Err(error) = &result
            && error.may_be_stale_jwks()
            && let Some(remote) = &self.trust.remote
        {
            // A kid the cache has never seen: the one case that waits for
            // the key host (rate-limited, within the request's deadline).
            *waiting_on = Some(Dependency::Jwks);
            let refresh = remote.jwks.refresh_after_unknown_kid().await;
            *waiting_on = None;
            match refresh {
                Refresh::Fetched(fresh) => {
                    remote_keys = Some(fresh);
                    result = run(&material, remote_keys.as_deref(), google_keys.as_deref());
                }
                Refresh::Unchanged => {}
                // The key may exist but cannot be checked: Redox retries a 503.
                Refresh::Unavailable => return Err(AuthFailure::JwksUnavailable),
            }
        }
        if let Err(error) = &result
            && error.may_be_stale_google_keys()
            && let Some(method) = &self.google
        {
            *waiting_on = Some(Dependency::Jwks);
            let refresh = method.keys.refresh_after_unknown_kid().await;
            *waiting_on = None;
            match refresh {
                Refresh::Fetched(fresh) => {
                    google_keys = Some(fresh);
                    result = run(&material, remote_keys.as_deref(), google_keys.as_deref());
                }
                Refresh::Unchanged => {}
                Refresh::Unavailable => return Err(AuthFailure::JwksUnavailable),
            }
        }
        result.map_err(|error| match error {
            // Our own outage, not the caller's fault: Redox retries a 503.
            AuthError::Jwt(JwtError::KeysUnavailable)
            | AuthError::Google(GoogleError::IdToken(JwtError::KeysUnavailable)) => {
                AuthFailure::JwksUnavailable
            }
            other => AuthFailure::Refused(other),
        })
    }

    /// What the `google` method needs for this request, fetched before the
    /// (pure) checks run: Google's keys for an ID token (from their cache),
    /// or Google's answer for an access token (cached, shared and capped by
    /// the lookups). Nothing for a request without a Google credential.
    async fn google_side(
        &self,
        request: &InboundRequest,
        material: &Material,
        now: SystemTime,
        waiting_on: &mut Option<Dependency>,
    ) -> Result<GoogleSide, AuthFailure> {
        let mut side = GoogleSide::default();
        let Some(method) = &self.google else {
            return Ok(side);
        };
        match auth::google_credential(request, &material.auth, &self.policy) {
            Some(GoogleBearer::IdToken(_)) => {
                *waiting_on = Some(Dependency::Jwks);
                side.keys = method.keys.current().await;
                *waiting_on = None;
            }
            Some(GoogleBearer::AccessToken(token)) => {
                let accounts = &material.auth.google_service_accounts;
                let source = SourceKey::of(request.origin.source_ip.as_deref());
                *waiting_on = Some(Dependency::GoogleTokenInfo);
                let answer = method
                    .lookups
                    .lookup(token, source, now, |info| {
                        google::names_pinned_account(info, accounts)
                    })
                    .await?;
                *waiting_on = None;
                side.access = Some(answer);
            }
            None => {}
        }
        Ok(side)
    }

    /// Whether the request carries a Bearer value while `jwt` is on: only
    /// then is the remote key set fetched (or served from cache).
    fn may_carry_jwt(&self, request: &InboundRequest) -> bool {
        self.policy.is_enabled(AuthMethod::Jwt)
            && matches!(
                auth::authorization_credential(request),
                Ok(auth::Credential::Bearer(_))
            )
    }

    /// The issuers a bearer JWT may come from, with their keys: the remote
    /// issuer and the built-in one first, then the auth material's
    /// `jwt_issuers` (a token is checked against the first issuer whose
    /// `iss` it names, so those two win over an inline issuer of the same
    /// name).
    fn trusted_issuers<'a>(
        &'a self,
        remote_keys: Option<&'a KeySet>,
        builtin: Option<&'a JwtSettings>,
        material: &'a Material,
    ) -> Vec<TrustedIssuer<'a>> {
        let mut issuers = Vec::new();
        if let Some(remote) = &self.trust.remote {
            issuers.push(TrustedIssuer {
                kind: IssuerKind::Remote,
                settings: &remote.settings,
                keys: remote_keys,
            });
        }
        if let Some(settings) = builtin {
            issuers.push(TrustedIssuer {
                kind: IssuerKind::BuiltIn,
                settings,
                keys: Some(material.issuer.verification_keys()),
            });
        }
        issuers.extend(
            material
                .auth
                .jwt_issuers
                .iter()
                .map(|inline| TrustedIssuer {
                    kind: IssuerKind::Inline,
                    settings: &inline.settings,
                    keys: Some(inline.keys.set()),
                }),
        );
        issuers
    }
}

/// What the `google` method fetched for one request.
#[derive(Default)]
struct GoogleSide {
    keys: Option<Arc<KeySet>>,
    access: Option<TokenInfoAnswer>,
}

/// The `jti` a verified bearer token spends, when the `jwt_issuers` entry
/// its `iss` names checks replays: that issuer, the `jti`, and when the
/// token stops being acceptable (`exp` plus the leeway). `Some(Err)` for
/// such a token without a usable `jti`.
fn single_use_jti<'m>(
    token: &str,
    issuers: &'m [InlineIssuer],
) -> Option<Result<(&'m str, String, u64), JwtError>> {
    let claims = JwtParts::split(token).ok()?.claims_object().ok()?;
    let iss = claims.get("iss").and_then(serde_json::Value::as_str)?;
    let issuer = issuers
        .iter()
        .find(|i| i.replay_check && i.settings.issuer == iss)?;
    let jti = match claims.get("jti") {
        Some(serde_json::Value::String(jti)) if !jti.is_empty() && jti.len() <= MAX_JTI_BYTES => {
            jti.clone()
        }
        _ => return Some(Err(JwtError::MissingJti)),
    };
    let exp = match numeric_date(&claims, "exp") {
        Ok(Some(exp)) => exp,
        _ => return Some(Err(JwtError::MissingExpiry)),
    };
    // `exp` was checked finite and bounded by the issuer's lifetime.
    let until = (exp + LEEWAY.as_secs_f64()).ceil().max(0.0) as u64;
    Some(Ok((issuer.settings.issuer.as_str(), jti, until)))
}
