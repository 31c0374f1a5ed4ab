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

pub mod secrets_manager;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::auth::jwt::jwk::{KeySet, SigningKey};
use crate::auth::jwt::trust::JwtTrust;

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

impl MaterialError {
    /// The same error, prefixed with where in the document it arose.
    fn located(self, at: &str) -> Self {
        match self {
            MaterialError::Invalid(why) => MaterialError::Invalid(format!("{at}: {why}")),
            other => other,
        }
    }
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
#[derive(Clone, PartialEq, Eq)]
pub struct SigV4Key {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
    pub service: String,
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
        self.add_client_at("oauth_clients", client_id, client_secret)
    }

    /// [`IssuerMaterial::add_client`], with `at` naming where the client sits
    /// in the document. Messages never quote the id or the secret.
    fn add_client_at(
        &mut self,
        at: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Result<(), MaterialError> {
        if client_id.is_empty()
            || client_id.len() > 256
            || client_id.trim() != client_id
            || client_id.chars().any(|c| c.is_control())
        {
            return Err(MaterialError::Invalid(format!(
                "{at}: client_id must be 1-256 characters, without surrounding whitespace or control characters"
            )));
        }
        if client_secret.len() < MIN_CLIENT_SECRET_LEN
            || client_secret.len() > 4096
            || client_secret.chars().any(|c| c.is_control())
        {
            return Err(MaterialError::Invalid(format!(
                "{at}: client_secret must be {MIN_CLIENT_SECRET_LEN}-4096 characters without control characters"
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
        self.add_signing_key_at("oauth_signing_keys", kid, private_key_pem)
    }

    /// [`IssuerMaterial::add_signing_key`], with `at` naming where the key
    /// sits in the document. Messages never quote the kid or the key.
    fn add_signing_key_at(
        &mut self,
        at: &str,
        kid: &str,
        private_key_pem: &str,
    ) -> Result<(), MaterialError> {
        if kid.is_empty() || kid.len() > 128 || !kid.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(MaterialError::Invalid(format!(
                "{at}: kid must be 1-128 printable ASCII characters"
            )));
        }
        if self.signing_keys.iter().any(|k| k.kid == kid) {
            return Err(MaterialError::Invalid(format!(
                "{at}: kid is the same as an earlier key's"
            )));
        }
        let key = SigningKey::from_pkcs8_pem(kid, private_key_pem)
            .map_err(|e| MaterialError::Invalid(format!("{at}: private_key_pem: {e}")))?;
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
    /// text is not a JSON object, one verification token. No error quotes a
    /// value from the text: it names the field, the type expected and found,
    /// or the line and column of a syntax error.
    pub fn from_secret_text(text: &str) -> Result<Self, MaterialError> {
        let trimmed = text.trim();
        if trimmed.starts_with('{') {
            return Material::from_document(trimmed);
        }
        let mut material = Material::default();
        // A plain-text file usually ends with a newline; the token does not.
        material.auth.add_token(trimmed)?;
        Ok(material)
    }

    /// The JSON document, walked field by field rather than deserialised
    /// into structs: serde's type errors quote the offending value (a token
    /// where a list was expected, a secret where an object was), and that
    /// message reaches the start-up error and the logs.
    fn from_document(text: &str) -> Result<Self, MaterialError> {
        let StrictValue(document) = serde_json::from_str(text).map_err(|e| {
            MaterialError::Invalid(format!(
                "auth material JSON: {} at line {} column {}",
                json_error_kind(e.classify()),
                e.line(),
                e.column()
            ))
        })?;
        let fields = object(&document, "auth material JSON")?;
        only_fields(
            fields,
            "auth material JSON",
            &[
                "verification_tokens",
                "sigv4_keys",
                "oauth_clients",
                "oauth_signing_keys",
            ],
        )?;
        let mut material = Material::default();
        for (at, token) in array(fields, "verification_tokens")? {
            material
                .auth
                .add_token(string(token, &at)?)
                .map_err(|e| e.located(&at))?;
        }
        for (at, entry) in array(fields, "sigv4_keys")? {
            let key = sigv4_key(entry, &at)?;
            validate_key(&key, &at)?;
            material.auth.sigv4_keys.push(key);
        }
        for (at, entry) in array(fields, "oauth_clients")? {
            let client = object(entry, &at)?;
            only_fields(client, &at, &["client_id", "client_secret"])?;
            material.issuer.add_client_at(
                &at,
                required_string(client, &at, "client_id")?,
                required_string(client, &at, "client_secret")?,
            )?;
        }
        for (at, entry) in array(fields, "oauth_signing_keys")? {
            let key = object(entry, &at)?;
            only_fields(key, &at, &["kid", "private_key_pem"])?;
            material.issuer.add_signing_key_at(
                &at,
                required_string(key, &at, "kid")?,
                required_string(key, &at, "private_key_pem")?,
            )?;
        }
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

fn validate_key(key: &SigV4Key, at: &str) -> Result<(), MaterialError> {
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
                "{at}.{name} must be non-empty, without surrounding whitespace or '/'"
            )));
        }
    }
    Ok(())
}

/// What kind of JSON error, without serde's message (which may quote input).
fn json_error_kind(category: serde_json::error::Category) -> &'static str {
    use serde_json::error::Category;
    match category {
        Category::Syntax => "a syntax error",
        Category::Eof => "an unexpected end",
        // The only data error `StrictValue` raises.
        Category::Data => "a repeated field",
        Category::Io => "a read error",
    }
}

/// A JSON value whose objects repeat no field. `serde_json::Value` keeps
/// the last of a repeated field silently, which would drop credentials.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictValueVisitor)
    }
}

struct StrictValueVisitor;

impl<'de> Visitor<'de> for StrictValueVisitor {
    type Value = StrictValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Null))
    }
    fn visit_bool<E>(self, v: bool) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::from(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::String(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrictValue, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(StrictValue(Value::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrictValue, A::Error> {
        let mut fields = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            let StrictValue(value) = map.next_value()?;
            // The name is not quoted: see `only_fields`.
            if fields.insert(name, value).is_some() {
                return Err(serde::de::Error::custom("a field is repeated"));
            }
        }
        Ok(StrictValue(Value::Object(fields)))
    }
}

/// The JSON type of a value, for messages that must not show the value.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(at: &str, expected: &str, found: &Value) -> MaterialError {
    MaterialError::Invalid(format!(
        "{at}: expected {expected}, found {}",
        type_name(found)
    ))
}

fn object<'v>(value: &'v Value, at: &str) -> Result<&'v Map<String, Value>, MaterialError> {
    value
        .as_object()
        .ok_or_else(|| wrong_type(at, "an object", value))
}

fn string<'v>(value: &'v Value, at: &str) -> Result<&'v str, MaterialError> {
    value
        .as_str()
        .ok_or_else(|| wrong_type(at, "a string", value))
}

fn required_string<'v>(
    fields: &'v Map<String, Value>,
    at: &str,
    name: &str,
) -> Result<&'v str, MaterialError> {
    match fields.get(name) {
        Some(value) => string(value, &format!("{at}.{name}")),
        None => Err(MaterialError::Invalid(format!("{at}: {name} is missing"))),
    }
}

/// The elements of the list `name` (absent means empty), each with its
/// location (`name[i]`) for messages.
fn array<'v>(
    fields: &'v Map<String, Value>,
    name: &str,
) -> Result<Vec<(String, &'v Value)>, MaterialError> {
    match fields.get(name) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items
            .iter()
            .enumerate()
            .map(|(i, item)| (format!("{name}[{i}]"), item))
            .collect()),
        Some(other) => Err(wrong_type(name, "a list", other)),
    }
}

/// Refuses unknown fields (a typo would silently drop a credential). The
/// unknown name is not quoted: a value pasted in the wrong place can be a
/// key as easily as a value.
fn only_fields(
    fields: &Map<String, Value>,
    at: &str,
    allowed: &[&str],
) -> Result<(), MaterialError> {
    if fields.keys().all(|name| allowed.contains(&name.as_str())) {
        Ok(())
    } else {
        Err(MaterialError::Invalid(format!(
            "{at}: has a field that is not one of {}",
            allowed.join(", ")
        )))
    }
}

fn sigv4_key(entry: &Value, at: &str) -> Result<SigV4Key, MaterialError> {
    let fields = object(entry, at)?;
    only_fields(
        fields,
        at,
        &[
            "access_key_id",
            "secret_access_key",
            "region",
            "service",
            "session_token",
        ],
    )?;
    let session_token = match fields.get("session_token") {
        None | Some(Value::Null) => None,
        Some(value) => Some(string(value, &format!("{at}.session_token"))?.to_owned()),
    };
    Ok(SigV4Key {
        access_key_id: required_string(fields, at, "access_key_id")?.to_owned(),
        secret_access_key: required_string(fields, at, "secret_access_key")?.to_owned(),
        region: required_string(fields, at, "region")?.to_owned(),
        service: required_string(fields, at, "service")?.to_owned(),
        session_token,
    })
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
        let pem = crate::auth::jwt::jwk::test_keys::ed25519_pem();
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
        let pem = crate::auth::jwt::jwk::test_keys::ed25519_pem();
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
        let pem = crate::auth::jwt::jwk::test_keys::ed25519_pem();
        let previous_pem = crate::auth::jwt::jwk::test_keys::p256_pem();
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

    /// A document with one of everything, every secret-bearing value valid.
    fn full_document() -> serde_json::Value {
        serde_json::json!({
            "verification_tokens": ["a-verification-token"],
            "sigv4_keys": [{"access_key_id": "AKIDEXAMPLE", "secret_access_key": "s/ecret",
                            "region": "us-east-1", "service": "lambda",
                            "session_token": "a-session-token"}],
            "oauth_clients": [{"client_id": "redox", "client_secret": "a-long-enough-secret"}],
            "oauth_signing_keys": [{"kid": "k1",
                                    "private_key_pem": crate::auth::jwt::jwk::test_keys::ed25519_pem()}],
        })
    }

    /// Every way a secret-bearing value can have the wrong shape, each
    /// carrying `canary` somewhere serde would have quoted it.
    fn wrong_shapes(canary: &str) -> Vec<serde_json::Value> {
        use serde_json::json;
        vec![
            json!([canary]),
            json!([[canary]]),
            json!({ "value": canary }),
            json!({ canary: canary }),
            json!(format!("{canary}:{canary}")),
            json!(7),
            json!(true),
        ]
    }

    fn assert_no_canary(text: &str, canary: &str, what: &str) {
        match Material::from_secret_text(text) {
            Ok(_) => panic!("{what}: accepted"),
            Err(error) => {
                let shown = format!("{error} {error:?}");
                assert!(!shown.contains(canary), "{what}: {shown}");
            }
        }
    }

    #[test]
    fn material_errors_never_quote_a_value_of_the_wrong_type() {
        let pointers = [
            "/verification_tokens",
            "/verification_tokens/0",
            "/sigv4_keys",
            "/sigv4_keys/0",
            "/sigv4_keys/0/access_key_id",
            "/sigv4_keys/0/secret_access_key",
            "/sigv4_keys/0/session_token",
            "/sigv4_keys/0/region",
            "/oauth_clients",
            "/oauth_clients/0",
            "/oauth_clients/0/client_id",
            "/oauth_clients/0/client_secret",
            "/oauth_signing_keys",
            "/oauth_signing_keys/0",
            "/oauth_signing_keys/0/kid",
            "/oauth_signing_keys/0/private_key_pem",
        ];
        assert!(Material::from_secret_text(&full_document().to_string()).is_ok());
        for (n, pointer) in pointers.iter().enumerate() {
            let canary = format!("CANARY{n}");
            for shape in wrong_shapes(&canary) {
                let mut document = full_document();
                *document.pointer_mut(pointer).unwrap() = shape;
                let what = format!("{pointer} = {}", document.pointer(pointer).unwrap());
                // A string where a string belongs is not a wrong type.
                let text = document.to_string();
                if Material::from_secret_text(&text).is_ok() {
                    continue;
                }
                assert_no_canary(&text, &canary, &what);
            }
        }
        // The reports from the issue, verbatim in shape.
        for text in [
            r#"{"verification_tokens": "CANARY-token"}"#,
            r#"{"oauth_clients": ["CANARY-secret"]}"#,
            r#"{"sigv4_keys": ["AKID:CANARY-secret"]}"#,
            r#"{"CANARY-secret": ["t"]}"#,
            r#"{"sigv4_keys": [{"access_key_id": "A", "secret_access_key": "s", "region": "r", "service": "s", "CANARY-secret": 1}]}"#,
        ] {
            assert_no_canary(text, "CANARY", text);
        }
    }

    #[test]
    fn material_errors_never_quote_a_value_that_fails_validation_or_syntax() {
        let pem = crate::auth::jwt::jwk::test_keys::ed25519_pem();
        let cases = [
            // Syntax errors around a secret.
            r#"{"verification_tokens": ["CANARY"#.to_owned(),
            r#"{"verification_tokens": ["CANARY" "x"]}"#.to_owned(),
            r#"{"verification_tokens": ["CANARY\q"]}"#.to_owned(),
            "{\"verification_tokens\": [\"CANARY\u{1}\"]}".to_owned(),
            r#"{"verification_tokens": [CANARY]}"#.to_owned(),
            r#"{"verification_tokens": ["t"]} CANARY"#.to_owned(),
            r#"{"verification_tokens": ["t"], "verification_tokens": ["CANARY"]}"#.to_owned(),
            // Values of the right type that fail validation.
            r#"{"verification_tokens": [" CANARY"]}"#.to_owned(),
            r#"{"sigv4_keys": [{"access_key_id": "CANARY/x", "secret_access_key": "s", "region": "r", "service": "s"}]}"#.to_owned(),
            r#"{"sigv4_keys": [{"access_key_id": "A", "secret_access_key": " CANARY", "region": "r", "service": "s"}]}"#.to_owned(),
            r#"{"oauth_clients": [{"client_id": "CANARY", "client_secret": "CANARY-short"}]}"#.to_owned(),
            r#"{"oauth_clients": [{"client_id": " CANARY", "client_secret": "a-long-enough-secret"}]}"#.to_owned(),
            r#"{"oauth_signing_keys": [{"kid": "k", "private_key_pem": "-----BEGIN PRIVATE KEY-----\nCANARY\n-----END PRIVATE KEY-----\n"}]}"#.to_owned(),
            r#"{"oauth_signing_keys": [{"kid": "k", "private_key_pem": "CANARY"}]}"#.to_owned(),
            r#"{"oauth_signing_keys": [{"kid": "CANARY key", "private_key_pem": "x"}]}"#.to_owned(),
            serde_json::json!({"oauth_signing_keys": [
                {"kid": "CANARY", "private_key_pem": pem},
                {"kid": "CANARY", "private_key_pem": pem}]})
            .to_string(),
        ];
        for text in &cases {
            assert_no_canary(text, "CANARY", text);
        }
    }

    #[test]
    fn material_errors_still_say_where_and_what() {
        let error = Material::from_secret_text(r#"{"verification_tokens": "t"}"#).unwrap_err();
        assert_eq!(
            error.to_string(),
            "auth material is not valid: verification_tokens: expected a list, found a string"
        );
        let error = Material::from_secret_text(
            r#"{"sigv4_keys": [{"access_key_id": "A", "secret_access_key": 5, "region": "r", "service": "s"}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "auth material is not valid: sigv4_keys[0].secret_access_key: expected a string, found a number"
        );
        let error =
            Material::from_secret_text("{\n\"verification_tokens\": [\"t\",]\n}").unwrap_err();
        assert_eq!(
            error.to_string(),
            "auth material is not valid: auth material JSON: a syntax error at line 2 column 29"
        );
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
