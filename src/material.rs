//! Auth material: the verification tokens, SigV4 keys, OAuth clients and
//! signing keys that credentials are checked against and tokens are signed
//! with, where they come from, and how long they are trusted.
//!
//! [`Material`] is parsed from the one JSON format of the specification
//! (section 3.4), whether it lives in Secrets Manager or a local file: the
//! [`AuthMaterial`] pushes are checked against, and the [`IssuerMaterial`]
//! of the built-in OAuth issuer. Sources sit behind the
//! [`AuthMaterialSource`] trait; [`MaterialCache`] keeps the merged result
//! for a TTL, serves it stale while one background fetch refreshes it, and
//! re-fetches, rate-limited, when a credential misses. It also
//! carries the [`JwtTrust`] (issuers and their key sets), so the destination
//! has every trust anchor in one place. Secrets are held as digests or in
//! types whose `Debug` hides them.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::jwk::{KeySet, SigningKey};
use crate::jwt_trust::JwtTrust;

/// A boxed future, so that the edge traits stay object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why auth material could not be loaded or used.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum MaterialError {
    #[error("auth material is not valid: {0}")]
    Invalid(String),
    #[error("auth material could not be read: {0}")]
    Unreachable(String),
}

/// The SHA-256 of a verification token; only digests are kept in memory so
/// comparisons run over fixed-length values.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenDigest(pub [u8; 32]);

impl TokenDigest {
    pub fn of(token: &[u8]) -> Self {
        TokenDigest(Sha256::digest(token).into())
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenDigest(..)")
    }
}

/// One SigV4 key pair issued to Redox alone.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigV4Key {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
    pub service: String,
    #[serde(default)]
    pub session_token: Option<String>,
}

impl fmt::Debug for SigV4Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4Key")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("session_token", &self.session_token.as_ref().map(|_| ".."))
            .finish_non_exhaustive()
    }
}

/// One client of the built-in token endpoint, as the document lists it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuthClientEntry {
    client_id: String,
    client_secret: String,
}

/// One private key of the built-in issuer, as the document lists it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SigningKeyEntry {
    kid: String,
    private_key_pem: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MaterialDocument {
    #[serde(default)]
    verification_tokens: Vec<String>,
    #[serde(default)]
    sigv4_keys: Vec<SigV4Key>,
    #[serde(default)]
    oauth_clients: Vec<OAuthClientEntry>,
    #[serde(default)]
    oauth_signing_keys: Vec<SigningKeyEntry>,
}

/// Shortest client secret accepted: the endpoint must not be guessable.
pub const MIN_CLIENT_SECRET_LEN: usize = 16;

/// A client of the built-in token endpoint: its id, and digests of the id
/// and the secret so that checks compare fixed-length values.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub client_id: String,
    pub id_digest: TokenDigest,
    pub secret_digest: TokenDigest,
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// What the built-in OAuth issuer needs: its clients and its signing keys
/// (the first signs; all are published and verify).
#[derive(Debug, Clone, Default)]
pub struct IssuerMaterial {
    clients: Vec<OAuthClient>,
    signing_keys: Vec<SigningKey>,
    /// The public halves of `signing_keys`, kept in step with them.
    verification_keys: KeySet,
}

impl PartialEq for IssuerMaterial {
    fn eq(&self, other: &Self) -> bool {
        self.clients == other.clients && self.signing_keys == other.signing_keys
    }
}

impl Eq for IssuerMaterial {}

impl IssuerMaterial {
    pub fn clients(&self) -> &[OAuthClient] {
        &self.clients
    }

    pub fn signing_keys(&self) -> &[SigningKey] {
        &self.signing_keys
    }

    /// The public halves of the signing keys, as tokens are checked with.
    pub fn verification_keys(&self) -> &KeySet {
        &self.verification_keys
    }

    fn push_signing_key(&mut self, key: SigningKey) {
        self.verification_keys.push(key.verification.clone());
        self.signing_keys.push(key);
    }

    pub fn add_client(
        &mut self,
        client_id: &str,
        client_secret: &str,
    ) -> Result<(), MaterialError> {
        if client_id.is_empty()
            || client_id.len() > 256
            || client_id.trim() != client_id
            || client_id.chars().any(|c| c.is_control())
        {
            return Err(MaterialError::Invalid(
                "oauth_clients: client_id must be 1-256 characters, without surrounding whitespace or control characters".into(),
            ));
        }
        if client_secret.len() < MIN_CLIENT_SECRET_LEN
            || client_secret.len() > 4096
            || client_secret.chars().any(|c| c.is_control())
        {
            return Err(MaterialError::Invalid(format!(
                "oauth_clients: the client_secret of {client_id:?} must be {MIN_CLIENT_SECRET_LEN}-4096 characters without control characters"
            )));
        }
        self.clients.push(OAuthClient {
            client_id: client_id.to_owned(),
            id_digest: TokenDigest::of(client_id.as_bytes()),
            secret_digest: TokenDigest::of(client_secret.as_bytes()),
        });
        Ok(())
    }

    pub fn add_signing_key(
        &mut self,
        kid: &str,
        private_key_pem: &str,
    ) -> Result<(), MaterialError> {
        if kid.is_empty() || kid.len() > 128 || !kid.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(MaterialError::Invalid(
                "oauth_signing_keys: kid must be 1-128 printable ASCII characters".into(),
            ));
        }
        if self.signing_keys.iter().any(|k| k.kid == kid) {
            return Err(MaterialError::Invalid(format!(
                "oauth_signing_keys: kid {kid:?} appears twice"
            )));
        }
        let key = SigningKey::from_pkcs8_pem(kid, private_key_pem)
            .map_err(|e| MaterialError::Invalid(format!("oauth_signing_keys {kid:?}: {e}")))?;
        self.push_signing_key(key);
        Ok(())
    }

    /// Adds `other`'s clients and keys; a key whose kid is already present
    /// keeps the first (AWSCURRENT is merged before AWSPREVIOUS).
    pub fn merge(&mut self, other: IssuerMaterial) {
        for client in other.clients {
            if !self.clients.contains(&client) {
                self.clients.push(client);
            }
        }
        for key in other.signing_keys {
            if !self.signing_keys.iter().any(|k| k.kid == key.kid) {
                self.push_signing_key(key);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty() && self.signing_keys.is_empty()
    }
}

/// Everything one auth material document holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Material {
    /// What pushes are checked against.
    pub auth: AuthMaterial,
    /// What the built-in token endpoint uses.
    pub issuer: IssuerMaterial,
}

impl From<AuthMaterial> for Material {
    fn from(auth: AuthMaterial) -> Self {
        Material {
            auth,
            issuer: IssuerMaterial::default(),
        }
    }
}

impl Material {
    /// Parses a secret's text: the JSON document of SPEC 3.4, or, when the
    /// text is not a JSON object, one verification token.
    pub fn from_secret_text(text: &str) -> Result<Self, MaterialError> {
        let trimmed = text.trim();
        if trimmed.starts_with('{') {
            let doc: MaterialDocument = serde_json::from_str(trimmed)
                .map_err(|e| MaterialError::Invalid(format!("auth material JSON: {e}")))?;
            let mut material = Material::default();
            for token in &doc.verification_tokens {
                material.auth.add_token(token)?;
            }
            for key in doc.sigv4_keys {
                validate_key(&key)?;
                material.auth.sigv4_keys.push(key);
            }
            for client in &doc.oauth_clients {
                material
                    .issuer
                    .add_client(&client.client_id, &client.client_secret)?;
            }
            for key in &doc.oauth_signing_keys {
                material
                    .issuer
                    .add_signing_key(&key.kid, &key.private_key_pem)?;
            }
            return Ok(material);
        }
        let mut material = Material::default();
        // A plain-text file usually ends with a newline; the token does not.
        material.auth.add_token(trimmed)?;
        Ok(material)
    }

    /// Adds everything from `other` (see [`AuthMaterial::merge`] and
    /// [`IssuerMaterial::merge`]).
    pub fn merge(&mut self, other: Material) {
        self.auth.merge(other.auth);
        self.issuer.merge(other.issuer);
    }

    pub fn is_empty(&self) -> bool {
        self.auth.is_empty() && self.issuer.is_empty()
    }
}

/// Everything credentials are checked against, merged from every source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthMaterial {
    pub token_digests: Vec<TokenDigest>,
    pub sigv4_keys: Vec<SigV4Key>,
}

impl AuthMaterial {
    /// The push-checking part of a secret's text (see
    /// [`Material::from_secret_text`], which keeps the OAuth part too).
    pub fn from_secret_text(text: &str) -> Result<Self, MaterialError> {
        Material::from_secret_text(text).map(|material| material.auth)
    }

    /// Tokens from a comma-separated list (`REDOX_VERIFICATION_TOKEN`).
    pub fn from_token_list(list: &str) -> Result<Self, MaterialError> {
        let mut material = AuthMaterial::default();
        for token in list.split(',') {
            material.add_token(token.trim())?;
        }
        Ok(material)
    }

    pub fn add_token(&mut self, token: &str) -> Result<(), MaterialError> {
        if token.is_empty() {
            return Err(MaterialError::Invalid(
                "a verification token is empty".into(),
            ));
        }
        if token.trim() != token {
            return Err(MaterialError::Invalid(
                "a verification token has leading or trailing whitespace".into(),
            ));
        }
        if token.len() > 4096 || token.chars().any(|c| c.is_control()) {
            return Err(MaterialError::Invalid(
                "a verification token is longer than 4096 bytes or has control characters".into(),
            ));
        }
        self.token_digests.push(TokenDigest::of(token.as_bytes()));
        Ok(())
    }

    /// Adds everything from `other`; keys with the same access key id keep
    /// the first one (AWSCURRENT is merged before AWSPREVIOUS).
    pub fn merge(&mut self, other: AuthMaterial) {
        for digest in other.token_digests {
            if !self.token_digests.contains(&digest) {
                self.token_digests.push(digest);
            }
        }
        for key in other.sigv4_keys {
            if !self
                .sigv4_keys
                .iter()
                .any(|k| k.access_key_id == key.access_key_id)
            {
                self.sigv4_keys.push(key);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.token_digests.is_empty() && self.sigv4_keys.is_empty()
    }
}

fn validate_key(key: &SigV4Key) -> Result<(), MaterialError> {
    let fields = [
        ("access_key_id", &key.access_key_id),
        ("secret_access_key", &key.secret_access_key),
        ("region", &key.region),
        ("service", &key.service),
    ];
    for (name, value) in fields {
        if value.is_empty()
            || value.trim() != value
            || (value.contains('/') && name != "secret_access_key")
        {
            return Err(MaterialError::Invalid(format!(
                "sigv4_keys: {name} must be non-empty, without surrounding whitespace or '/'"
            )));
        }
    }
    Ok(())
}

/// Somewhere auth material can be read from.
pub trait AuthMaterialSource: Send + Sync {
    fn fetch(&self) -> BoxFuture<'_, Result<Material, MaterialError>>;
    /// Where the material comes from, for the start-up banner and logs.
    fn describe(&self) -> String;
}

/// Material fixed at start-up (`REDOX_VERIFICATION_TOKEN`, a generated token).
pub struct StaticMaterial {
    material: Material,
    description: String,
}

impl StaticMaterial {
    pub fn new(material: impl Into<Material>, description: impl Into<String>) -> Self {
        StaticMaterial {
            material: material.into(),
            description: description.into(),
        }
    }
}

impl AuthMaterialSource for StaticMaterial {
    fn fetch(&self) -> BoxFuture<'_, Result<Material, MaterialError>> {
        Box::pin(async move { Ok(self.material.clone()) })
    }
    fn describe(&self) -> String {
        self.description.clone()
    }
}

/// A local file holding the SPEC 3.4 JSON or a plain token (`REDOX_SECRET_FILE`),
/// re-read whenever the cache refreshes so edits take effect without a restart.
pub struct FileMaterial {
    path: PathBuf,
}

impl FileMaterial {
    pub fn new(path: PathBuf) -> Self {
        FileMaterial { path }
    }
}

impl AuthMaterialSource for FileMaterial {
    fn fetch(&self) -> BoxFuture<'_, Result<Material, MaterialError>> {
        Box::pin(async move {
            let text = tokio::fs::read_to_string(&self.path)
                .await
                .map_err(|e| MaterialError::Unreachable(format!("{}: {e}", self.path.display())))?;
            Material::from_secret_text(&text).map_err(|e| match e {
                MaterialError::Invalid(why) => {
                    MaterialError::Invalid(format!("{}: {why}", self.path.display()))
                }
                other => other,
            })
        })
    }
    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }
}

struct Cached {
    material: Arc<Material>,
    fetched_at: Instant,
}

/// The outcome of one fetch, shared with every request waiting for it.
type FetchOutcome = Result<Arc<Material>, MaterialError>;

/// What the cache knows; held under a plain mutex for a few instructions
/// at a time, never across an await.
#[derive(Default)]
struct CacheState {
    cached: Option<Cached>,
    /// The fetch in flight, if any: every caller that needs it waits on
    /// this one fetch instead of starting its own.
    in_flight: Option<watch::Receiver<Option<FetchOutcome>>>,
    last_start: Option<Instant>,
    /// Why the last fetch failed, answered at once while nothing is cached
    /// and the back-off has not run out.
    last_error: Option<MaterialError>,
}

/// The sources and the state a background fetch needs after the request
/// that started it has been answered.
struct CacheShared {
    sources: Vec<Box<dyn AuthMaterialSource>>,
    state: std::sync::Mutex<CacheState>,
}

impl CacheShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        // A poisoned lock only means a panic elsewhere; the state is still
        // consistent (every update is a single assignment).
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn fetch_all(&self) -> Result<Material, MaterialError> {
        let mut merged = Material::default();
        for source in &self.sources {
            merged.merge(source.fetch().await?);
        }
        Ok(merged)
    }
}

/// Merged material from every source, trusted for `ttl`.
///
/// Stale-while-revalidate: a copy past its TTL is served at once while one
/// background fetch refreshes it, so a slow or failing Secrets Manager never
/// makes Redox wait when a copy exists. Concurrent callers share a single
/// in-flight fetch, and a fetch starts at most once per `fetch_interval`
/// (after a failure too), so a failing source sees about one fetch per
/// interval whatever the load. Only a request with nothing cached waits for
/// a fetch, and its caller bounds that wait with the request's deadline; the
/// fetch itself runs on in a task of its own, so a request that gives up
/// does not cancel it.
pub struct MaterialCache {
    shared: Arc<CacheShared>,
    ttl: Duration,
    fetch_interval: Duration,
    /// Whom the `jwt` method trusts; `None` when it is off.
    jwt_trust: Option<JwtTrust>,
}

impl MaterialCache {
    pub fn new(sources: Vec<Box<dyn AuthMaterialSource>>, ttl: Duration) -> Self {
        MaterialCache {
            shared: Arc::new(CacheShared {
                sources,
                state: std::sync::Mutex::new(CacheState::default()),
            }),
            ttl,
            fetch_interval: Duration::from_secs(5),
            jwt_trust: None,
        }
    }

    /// Least time between the starts of two fetches (`REDOX_SECRET_REFETCH_SECS`).
    pub fn with_miss_refetch_interval(mut self, interval: Duration) -> Self {
        self.fetch_interval = interval;
        self
    }

    pub fn with_jwt_trust(mut self, trust: JwtTrust) -> Self {
        self.jwt_trust = Some(trust);
        self
    }

    /// The issuers the `jwt` method trusts, when it is on.
    pub fn jwt_trust(&self) -> Option<&JwtTrust> {
        self.jwt_trust.as_ref()
    }

    pub fn describe(&self) -> String {
        let names: Vec<String> = self.shared.sources.iter().map(|s| s.describe()).collect();
        names.join(" + ")
    }

    /// Material for the current request. A fresh copy is returned at once;
    /// a stale one too, after starting a background refresh if none is
    /// running and the interval allows. With nothing cached, waits for the
    /// (shared) fetch, or answers the last failure at once during back-off.
    pub async fn current(&self) -> Result<Arc<Material>, MaterialError> {
        let waiting = {
            let mut state = self.shared.lock();
            match &state.cached {
                Some(cached) if cached.fetched_at.elapsed() < self.ttl => {
                    return Ok(cached.material.clone());
                }
                Some(cached) => {
                    let stale = cached.material.clone();
                    if state.in_flight.is_none() && self.may_start(&state) {
                        self.start_fetch(&mut state);
                    }
                    return Ok(stale);
                }
                None => match self.join_or_start(&mut state) {
                    Some(waiting) => waiting,
                    None => {
                        return Err(state.last_error.clone().unwrap_or_else(|| {
                            MaterialError::Unreachable("auth material not fetched yet".into())
                        }));
                    }
                },
            }
        };
        wait_for(waiting).await
    }

    /// After a credential missed: fetch again (or join the fetch already in
    /// flight) and wait for it, unless a fetch started less than the
    /// interval ago. `Some` only when new material was fetched.
    pub async fn refresh_after_miss(&self) -> Option<Arc<Material>> {
        let waiting = {
            let mut state = self.shared.lock();
            self.join_or_start(&mut state)?
        };
        match wait_for(waiting).await {
            Ok(material) => Some(material),
            Err(error) => {
                tracing::warn!(%error, "auth material re-fetch after a credential miss failed");
                None
            }
        }
    }

    fn may_start(&self, state: &CacheState) -> bool {
        state
            .last_start
            .is_none_or(|at| at.elapsed() >= self.fetch_interval)
    }

    /// The fetch in flight, or a new one if the interval allows.
    fn join_or_start(
        &self,
        state: &mut CacheState,
    ) -> Option<watch::Receiver<Option<FetchOutcome>>> {
        if let Some(in_flight) = &state.in_flight {
            return Some(in_flight.clone());
        }
        if !self.may_start(state) {
            return None;
        }
        Some(self.start_fetch(state))
    }

    /// Starts a fetch in a task of its own; its outcome is stored in the
    /// cache and sent to every waiter.
    fn start_fetch(&self, state: &mut CacheState) -> watch::Receiver<Option<FetchOutcome>> {
        let (done, waiting) = watch::channel(None);
        state.in_flight = Some(waiting.clone());
        state.last_start = Some(Instant::now());
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let outcome = shared.fetch_all().await.map(Arc::new);
            {
                let mut state = shared.lock();
                state.in_flight = None;
                match &outcome {
                    Ok(material) => {
                        state.cached = Some(Cached {
                            material: material.clone(),
                            fetched_at: Instant::now(),
                        });
                        state.last_error = None;
                    }
                    Err(error) => {
                        if state.cached.is_some() {
                            tracing::warn!(%error, "auth material refresh failed; serving the cached copy");
                        }
                        state.last_error = Some(error.clone());
                    }
                }
            }
            // Nobody waiting is fine: the outcome is in the cache.
            let _ = done.send(Some(outcome));
        });
        waiting
    }
}

/// Waits for a fetch's outcome. A fetch task that died without one (a
/// panic in a source) counts as unreachable material.
async fn wait_for(mut waiting: watch::Receiver<Option<FetchOutcome>>) -> FetchOutcome {
    match waiting.wait_for(Option::is_some).await {
        Ok(outcome) => outcome.clone().unwrap_or_else(|| {
            Err(MaterialError::Unreachable(
                "the auth material fetch ended without an answer".into(),
            ))
        }),
        Err(_) => Err(MaterialError::Unreachable(
            "the auth material fetch ended without an answer".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn json_document_and_plain_token_both_parse() {
        let doc = r#"{"verification_tokens": ["a", "b"],
            "sigv4_keys": [{"access_key_id": "AKID", "secret_access_key": "s/ecret",
                            "region": "us-east-1", "service": "lambda"}]}"#;
        let material = AuthMaterial::from_secret_text(doc).unwrap();
        assert_eq!(material.token_digests.len(), 2);
        assert_eq!(material.sigv4_keys[0].access_key_id, "AKID");
        let plain = AuthMaterial::from_secret_text("just-a-token\n").unwrap();
        assert_eq!(plain.token_digests, vec![TokenDigest::of(b"just-a-token")]);
    }

    #[test]
    fn bad_material_is_refused_with_a_reason() {
        for bad in [
            r#"{"verification_tokens": [""]}"#,
            r#"{"verification_tokens": [" padded"]}"#,
            r#"{"verification_tokenz": ["typo"]}"#,
            r#"{"sigv4_keys": [{"access_key_id": "", "secret_access_key": "s", "region": "r", "service": "s"}]}"#,
            "",
        ] {
            assert!(
                matches!(
                    AuthMaterial::from_secret_text(bad),
                    Err(MaterialError::Invalid(_))
                ),
                "{bad:?} should be refused"
            );
        }
    }

    fn oauth_document(kid: &str, pem: &str, secret: &str) -> String {
        serde_json::json!({
            "verification_tokens": ["t"],
            "oauth_clients": [{"client_id": "redox", "client_secret": secret}],
            "oauth_signing_keys": [{"kid": kid, "private_key_pem": pem}],
        })
        .to_string()
    }

    #[test]
    fn oauth_clients_and_signing_keys_parse() {
        let pem = crate::jwk::test_keys::ed25519_pem();
        let material =
            Material::from_secret_text(&oauth_document("k1", &pem, "a-long-enough-secret"))
                .unwrap();
        assert_eq!(material.auth.token_digests.len(), 1);
        assert_eq!(material.issuer.clients()[0].client_id, "redox");
        assert_eq!(
            material.issuer.clients()[0].secret_digest,
            TokenDigest::of(b"a-long-enough-secret")
        );
        assert_eq!(material.issuer.signing_keys()[0].kid, "k1");
        assert!(
            material
                .issuer
                .verification_keys()
                .find(Some("k1"))
                .is_some()
        );
        let shown = format!("{material:?}");
        assert!(!shown.contains("a-long-enough-secret") && !shown.contains("PRIVATE"));
        // The push-only view drops the OAuth part.
        assert_eq!(
            AuthMaterial::from_secret_text(&oauth_document("k1", &pem, "a-long-enough-secret"))
                .unwrap(),
            material.auth
        );
    }

    #[test]
    fn bad_oauth_material_is_refused_with_a_reason() {
        let pem = crate::jwk::test_keys::ed25519_pem();
        let two_keys = serde_json::json!({"oauth_signing_keys": [
            {"kid": "k", "private_key_pem": pem}, {"kid": "k", "private_key_pem": pem}]})
        .to_string();
        for bad in [
            oauth_document("k1", &pem, "short"),
            oauth_document("k1", "not a pem", "a-long-enough-secret"),
            oauth_document("", &pem, "a-long-enough-secret"),
            oauth_document("k 1", &pem, "a-long-enough-secret"),
            r#"{"oauth_clients": [{"client_id": "redox", "client_secret": "a-long-enough-secret", "scope": "x"}]}"#.into(),
            r#"{"oauth_clients": [{"client_id": " redox", "client_secret": "a-long-enough-secret"}]}"#.into(),
            r#"{"oauth_signing_keys": [{"kid": "k"}]}"#.into(),
            two_keys,
        ] {
            assert!(
                matches!(Material::from_secret_text(&bad), Err(MaterialError::Invalid(_))),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn merging_keeps_the_current_signing_key_first_and_every_client() {
        let pem = crate::jwk::test_keys::ed25519_pem();
        let previous_pem = crate::jwk::test_keys::p256_pem();
        let mut current =
            Material::from_secret_text(&oauth_document("new", &pem, "the-current-secret")).unwrap();
        let previous = Material::from_secret_text(&oauth_document(
            "old",
            &previous_pem,
            "the-previous-secret",
        ))
        .unwrap();
        current.merge(previous.clone());
        current.merge(previous);
        let kids: Vec<&str> = current
            .issuer
            .signing_keys()
            .iter()
            .map(|k| k.kid.as_str())
            .collect();
        assert_eq!(kids, ["new", "old"]);
        assert_eq!(current.issuer.clients().len(), 2);
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let key = SigV4Key {
            access_key_id: "AKID".into(),
            secret_access_key: "very-secret".into(),
            region: "r".into(),
            service: "s".into(),
            session_token: Some("session-secret".into()),
        };
        let shown = format!("{key:?} {:?}", TokenDigest::of(b"x"));
        assert!(!shown.contains("very-secret") && !shown.contains("session-secret"));
    }

    struct CountingSource {
        calls: Arc<AtomicUsize>,
        token: Arc<std::sync::Mutex<Option<String>>>,
    }

    impl AuthMaterialSource for CountingSource {
        fn fetch(&self) -> BoxFuture<'_, Result<Material, MaterialError>> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                match self.token.lock().unwrap().clone() {
                    Some(t) => AuthMaterial::from_token_list(&t).map(Material::from),
                    None => Err(MaterialError::Unreachable("down".into())),
                }
            })
        }
        fn describe(&self) -> String {
            "counting".into()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn cache_serves_stale_material_when_the_source_is_down_and_rate_limits_misses() {
        let calls = Arc::new(AtomicUsize::new(0));
        let token = Arc::new(std::sync::Mutex::new(Some("one".to_string())));
        let cache = MaterialCache::new(
            vec![Box::new(CountingSource {
                calls: calls.clone(),
                token: token.clone(),
            })],
            Duration::from_secs(300),
        );
        let first = cache.current().await.unwrap();
        for _ in 0..100 {
            cache.current().await.unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        // A miss right after a fetch does not fetch again.
        assert!(cache.refresh_after_miss().await.is_none());
        tokio::time::advance(Duration::from_secs(6)).await;
        *token.lock().unwrap() = Some("two".into());
        let refreshed = cache.refresh_after_miss().await.unwrap();
        assert_ne!(refreshed, first);
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        // Source down after the TTL: the stale copy keeps serving.
        *token.lock().unwrap() = None;
        tokio::time::advance(Duration::from_secs(301)).await;
        assert_eq!(cache.current().await.unwrap(), refreshed);
    }

    /// A source whose fetches wait until the test opens the gate.
    struct GatedSource {
        calls: Arc<AtomicUsize>,
        gate: Arc<tokio::sync::Semaphore>,
        token: &'static str,
    }

    impl AuthMaterialSource for GatedSource {
        fn fetch(&self) -> BoxFuture<'_, Result<Material, MaterialError>> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                let _permit = self.gate.acquire().await;
                AuthMaterial::from_token_list(self.token).map(Material::from)
            })
        }
        fn describe(&self) -> String {
            "gated".into()
        }
    }

    fn gated(
        token: &'static str,
    ) -> (MaterialCache, Arc<AtomicUsize>, Arc<tokio::sync::Semaphore>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let cache = MaterialCache::new(
            vec![Box::new(GatedSource {
                calls: calls.clone(),
                gate: gate.clone(),
                token,
            })],
            Duration::from_secs(300),
        );
        (cache, calls, gate)
    }

    #[tokio::test(start_paused = true)]
    async fn a_stale_copy_is_served_at_once_while_one_refresh_runs() {
        let (cache, calls, gate) = gated("one");
        gate.add_permits(1);
        let first = cache.current().await.unwrap();
        tokio::time::advance(Duration::from_secs(301)).await;
        // The source now hangs; every request still gets the stale copy
        // without waiting, and only one refresh is started.
        for _ in 0..20 {
            let served = tokio::time::timeout(Duration::from_millis(1), cache.current())
                .await
                .expect("a stale copy is served without waiting")
                .unwrap();
            assert_eq!(served, first);
        }
        tokio::task::yield_now().await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        gate.add_permits(1);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        let refreshed = cache.current().await.unwrap();
        assert!(!Arc::ptr_eq(&refreshed, &first), "the refresh landed");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_requests_with_nothing_cached_share_one_fetch() {
        let (cache, calls, gate) = gated("one");
        let cache = Arc::new(cache);
        let waiters: Vec<_> = (0..30)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.current().await })
            })
            .collect();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        gate.add_permits(1);
        for waiter in waiters {
            assert!(waiter.await.unwrap().is_ok());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_fetch_is_remembered_for_the_interval() {
        let calls = Arc::new(AtomicUsize::new(0));
        let token = Arc::new(std::sync::Mutex::new(None));
        let cache = MaterialCache::new(
            vec![Box::new(CountingSource {
                calls: calls.clone(),
                token: token.clone(),
            })],
            Duration::from_secs(300),
        )
        .with_miss_refetch_interval(Duration::from_secs(5));
        for _ in 0..50 {
            assert!(cache.current().await.is_err());
            assert!(cache.refresh_after_miss().await.is_none());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one fetch per interval");
        tokio::time::advance(Duration::from_secs(5)).await;
        *token.lock().unwrap() = Some("back".into());
        assert!(cache.current().await.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn nothing_cached_and_source_down_is_an_error() {
        let cache = MaterialCache::new(
            vec![Box::new(CountingSource {
                calls: Arc::new(AtomicUsize::new(0)),
                token: Arc::new(std::sync::Mutex::new(None)),
            })],
            Duration::from_secs(300),
        );
        assert!(matches!(
            cache.current().await,
            Err(MaterialError::Unreachable(_))
        ));
    }
}
