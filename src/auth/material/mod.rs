//! Auth material: the verification tokens, SigV4 keys, JWT issuers with
//! inline keys, OAuth clients and signing keys that credentials are checked
//! against and tokens are signed with, where they come from, and how long
//! they are trusted.
//!
//! - This file: the types. [`Material`] is one document: the
//!   [`AuthMaterial`] pushes are checked against and the [`IssuerMaterial`]
//!   of the built-in OAuth issuer. Secrets are held as digests or in types
//!   whose `Debug` hides them.
//! - `parse.rs`: the JSON document of SPEC 3.4, parsed strictly;
//!   [`public_keys`]: the JWK Sets pasted into it (SMART clients' `jwks`,
//!   `jwt_issuers`).
//! - [`source`]: the [`AuthMaterialSource`] trait, static and file sources;
//!   [`secrets_manager`]: the AWS source.
//! - [`cache`]: [`MaterialCache`], stale-while-revalidate with a
//!   rate-limited re-fetch after a miss.
//! - [`strength`]: the entropy estimate an OAuth client secret must pass.

pub mod cache;
mod parse;
pub mod public_keys;
pub mod secrets_manager;
pub mod source;
pub mod strength;

use std::fmt;

use sha2::{Digest, Sha256};

use crate::auth::google::ServiceAccount;
use crate::auth::jwt::jwk::{KeySet, SigningKey};
use crate::auth::jwt::trust::JwtSettings;
use strength::Weakness;

pub use cache::MaterialCache;
pub use public_keys::PublicKeys;
pub use source::{AuthMaterialSource, FileMaterial, StaticMaterial};

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

/// A client of the built-in token endpoint: its id (and a digest of it, so
/// that lookups compare fixed-length values), how it authenticates, and the
/// scopes it may be granted.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub client_id: String,
    pub id_digest: TokenDigest,
    pub authentication: ClientAuthentication,
    /// The scopes it may ask for (`scopes`); `None`: it may ask for none.
    pub scopes: Option<Vec<String>>,
}

/// How a client of the built-in token endpoint proves who it is.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientAuthentication {
    /// `client_secret`, kept as a digest (RFC 6749 2.3.1).
    Secret(TokenDigest),
    /// `jwks`: signed client assertions (RFC 7523, SMART Backend Services),
    /// checked with these public keys.
    Jwks(PublicKeys),
    /// `jwks_url`: signed client assertions, checked with the key set
    /// fetched from this URL.
    JwksUrl(String),
}

impl ClientAuthentication {
    /// The digest of the secret, for a client-secret client.
    pub fn secret_digest(&self) -> Option<&TokenDigest> {
        match self {
            ClientAuthentication::Secret(digest) => Some(digest),
            _ => None,
        }
    }

    /// Whether the client authenticates with signed assertions.
    pub fn uses_keys(&self) -> bool {
        !matches!(self, ClientAuthentication::Secret(_))
    }
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let authentication = match &self.authentication {
            ClientAuthentication::Secret(_) => "client_secret",
            ClientAuthentication::Jwks(_) => "jwks",
            ClientAuthentication::JwksUrl(_) => "jwks_url",
        };
        f.debug_struct("OAuthClient")
            .field("client_id", &self.client_id)
            .field("authentication", &authentication)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// The most scopes one client may be given.
pub const MAX_CLIENT_SCOPES: usize = 64;

/// Whether `scope` is one scope token of RFC 6749 3.3: 1-128 characters,
/// printable ASCII other than space, `"` and `\`.
pub fn valid_scope_token(scope: &str) -> bool {
    (1..=128).contains(&scope.len())
        && scope
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
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

    /// Adds a client that authenticates with `client_secret`.
    pub fn add_client(
        &mut self,
        client_id: &str,
        client_secret: &str,
    ) -> Result<(), MaterialError> {
        let secret = client_secret_digest("oauth_clients", client_secret)?;
        self.add_client_at(
            "oauth_clients",
            client_id,
            ClientAuthentication::Secret(secret),
            None,
        )
    }

    /// Adds a client, `at` naming where it sits in the document. A client
    /// that authenticates with keys must be the only entry with its id (its
    /// keys rotate inside its key set); secret clients may share an id, one
    /// entry per secret, for rotation. Messages never quote a value.
    pub fn add_client_at(
        &mut self,
        at: &str,
        client_id: &str,
        authentication: ClientAuthentication,
        scopes: Option<Vec<String>>,
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
        let shared_id = self.clients.iter().find(|c| c.client_id == client_id);
        if shared_id
            .is_some_and(|other| authentication.uses_keys() || other.authentication.uses_keys())
        {
            return Err(MaterialError::Invalid(format!(
                "{at}: client_id is an earlier entry's, and a client with jwks or jwks_url must \
                 be the only entry with its id (rotate its keys inside its jwks)"
            )));
        }
        if let Some(scopes) = &scopes
            && (scopes.len() > MAX_CLIENT_SCOPES || !scopes.iter().all(|s| valid_scope_token(s)))
        {
            return Err(MaterialError::Invalid(format!(
                "{at}.scopes: must be at most {MAX_CLIENT_SCOPES} scopes, each 1-128 \
                 printable ASCII characters without spaces, quotes or backslashes"
            )));
        }
        self.clients.push(OAuthClient {
            client_id: client_id.to_owned(),
            id_digest: TokenDigest::of(client_id.as_bytes()),
            authentication,
            scopes,
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
            self.merge_client(client);
        }
        for key in other.signing_keys {
            if !self.signing_keys.iter().any(|k| k.kid == key.kid) {
                self.push_signing_key(key);
            }
        }
    }

    /// Adds a client of the AWSPREVIOUS version. Secrets of either version
    /// work until the next rotation, and so do the inline keys of a client
    /// with `jwks` in both; a client whose id the current version gives
    /// another kind of authentication (or another `jwks_url`) follows the
    /// current version only.
    fn merge_client(&mut self, previous: OAuthClient) {
        let same_id: Vec<usize> = (0..self.clients.len())
            .filter(|&i| {
                self.clients
                    .get(i)
                    .is_some_and(|c| c.client_id == previous.client_id)
            })
            .collect();
        match &previous.authentication {
            _ if same_id.is_empty() => self.clients.push(previous),
            ClientAuthentication::Secret(_) => {
                let current_uses_keys = same_id.iter().any(|&i| {
                    self.clients
                        .get(i)
                        .is_some_and(|c| c.authentication.uses_keys())
                });
                if !current_uses_keys && !self.clients.contains(&previous) {
                    self.clients.push(previous);
                }
            }
            ClientAuthentication::Jwks(keys) => {
                for i in same_id {
                    if let Some(ClientAuthentication::Jwks(current)) =
                        self.clients.get_mut(i).map(|c| &mut c.authentication)
                    {
                        current.add_missing(keys);
                    }
                }
            }
            ClientAuthentication::JwksUrl(_) => {}
        }
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty() && self.signing_keys.is_empty()
    }
}

/// The digest of a client secret that is strong enough, or why it is not.
/// The estimate, never the secret, goes into the message.
pub(crate) fn client_secret_digest(
    at: &str,
    client_secret: &str,
) -> Result<TokenDigest, MaterialError> {
    if client_secret.len() > 4096 || client_secret.chars().any(|c| c.is_control()) {
        return Err(MaterialError::Invalid(format!(
            "{at}.client_secret: must be at most 4096 bytes without control characters"
        )));
    }
    match strength::check_client_secret(client_secret) {
        Ok(()) => Ok(TokenDigest::of(client_secret.as_bytes())),
        Err(Weakness::TooRepetitive) => Err(MaterialError::Invalid(format!(
            "{at}.client_secret: is too repetitive (one character makes up more than \
             half of it, or it is long runs of one character); generate one, e.g. \
             `openssl rand -hex 32`"
        ))),
        Err(Weakness::TooFewBits) => Err(MaterialError::Invalid(format!(
            "{at}.client_secret: has less than {} bits of entropy by the estimate \
             (length of its shortest repeated block x log2 of the character classes \
             it uses: at least 32 hex digits, 26 random letters and digits, or 24 \
             random printable characters); generate one, e.g. `openssl rand -hex 32`",
            strength::MIN_SECRET_BITS
        ))),
    }
}

/// An issuer of bearer JWTs whose public keys are in the auth material
/// (`jwt_issuers`): what its tokens must say, and its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineIssuer {
    pub settings: JwtSettings,
    pub keys: PublicKeys,
    /// Whether each `jti` is accepted once (`replay_check`).
    pub replay_check: bool,
}

/// The longest a `jwt_issuers` token may live unless its entry says
/// otherwise (`max_token_lifetime_secs`): Redox signs a fresh JWT Bearer
/// token for every push.
pub const DEFAULT_INLINE_TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(300);

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
    /// Issuers of bearer JWTs with their keys inline (JWT Bearer without
    /// hosting a JWKS).
    pub jwt_issuers: Vec<InlineIssuer>,
    /// Google service accounts whose credentials the `google` method
    /// accepts (Google Workload Identity Federation, OAuth 2.0 with JWT
    /// Bearer for GCP).
    pub google_service_accounts: Vec<ServiceAccount>,
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
        for issuer in other.jwt_issuers {
            match self
                .jwt_issuers
                .iter_mut()
                .find(|i| i.settings.issuer == issuer.settings.issuer)
            {
                // The current version's claims rule; the previous version's
                // keys keep working until the next rotation.
                Some(current) => current.keys.add_missing(&issuer.keys),
                None => self.jwt_issuers.push(issuer),
            }
        }
        // As with tokens, an account the previous version trusted keeps
        // working until the next rotation.
        for account in other.google_service_accounts {
            if !self.google_service_accounts.contains(&account) {
                self.google_service_accounts.push(account);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.token_digests.is_empty()
            && self.sigv4_keys.is_empty()
            && self.jwt_issuers.is_empty()
            && self.google_service_accounts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BoxFuture;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

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
        let material = Material::from_secret_text(&oauth_document(
            "k1",
            &pem,
            "a-long-enough-secret-of-128-bits",
        ))
        .unwrap();
        assert_eq!(material.auth.token_digests.len(), 1);
        assert_eq!(material.issuer.clients()[0].client_id, "redox");
        assert_eq!(
            material.issuer.clients()[0].authentication.secret_digest(),
            Some(&TokenDigest::of(b"a-long-enough-secret-of-128-bits"))
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
        assert!(!shown.contains("a-long-enough-secret-of-128-bits") && !shown.contains("PRIVATE"));
        // The push-only view drops the OAuth part.
        assert_eq!(
            AuthMaterial::from_secret_text(&oauth_document(
                "k1",
                &pem,
                "a-long-enough-secret-of-128-bits"
            ))
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
            oauth_document("k1", "not a pem", "a-long-enough-secret-of-128-bits"),
            oauth_document("", &pem, "a-long-enough-secret-of-128-bits"),
            oauth_document("k 1", &pem, "a-long-enough-secret-of-128-bits"),
            r#"{"oauth_clients": [{"client_id": "redox", "client_secret": "a-long-enough-secret-of-128-bits", "scope": "x"}]}"#.into(),
            r#"{"oauth_clients": [{"client_id": " redox", "client_secret": "a-long-enough-secret-of-128-bits"}]}"#.into(),
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
    fn a_client_secret_under_128_bits_is_refused_naming_the_field_not_the_secret() {
        let pem = crate::auth::jwt::jwk::test_keys::ed25519_pem();
        let weak = [
            // Long enough for the old 16-character rule, 118 bits here.
            ("CANARY-secret-12", "has less than 128 bits"),
            (
                "CANARYCANARYCANARYCANARYCANARYCANARY",
                "has less than 128 bits",
            ),
            ("CANARY", "has less than 128 bits"),
            (
                "CAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAANARY",
                "too repetitive",
            ),
        ];
        for (secret, why) in weak {
            let document = serde_json::json!({
                "oauth_clients": [
                    {"client_id": "first", "client_secret": "3f9c1a7e5b2d4c8f9a0b1c2d3e4f5a6b"},
                    {"client_id": "redox", "client_secret": secret}],
                "oauth_signing_keys": [{"kid": "k1", "private_key_pem": pem}],
            });
            let error = Material::from_secret_text(&document.to_string()).unwrap_err();
            let shown = format!("{error} {error:?}");
            assert!(
                shown.contains("oauth_clients[1].client_secret: ") && shown.contains(why),
                "{shown}"
            );
            assert!(
                !shown.contains("CANARY") && !shown.contains("AAAA"),
                "{shown}"
            );
        }
    }

    #[test]
    fn merging_keeps_the_current_signing_key_first_and_every_client() {
        let pem = crate::auth::jwt::jwk::test_keys::ed25519_pem();
        let previous_pem = crate::auth::jwt::jwk::test_keys::p256_pem();
        let mut current = Material::from_secret_text(&oauth_document(
            "new",
            &pem,
            "the-current-secret-of-128-bits",
        ))
        .unwrap();
        let previous = Material::from_secret_text(&oauth_document(
            "old",
            &previous_pem,
            "the-previous-secret-of-128-bits",
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
            "oauth_clients": [
                {"client_id": "redox", "client_secret": "a-long-enough-secret-of-128-bits"},
                {"client_id": "smart", "jwks": {"keys": [rsa_jwk("smart-1")]},
                 "scopes": ["system/*.write"]},
                {"client_id": "smart-url", "jwks_url": "https://redox.example.com/jwks.json"}],
            "oauth_signing_keys": [{"kid": "k1",
                                    "private_key_pem": crate::auth::jwt::jwk::test_keys::ed25519_pem()}],
            "jwt_issuers": [{"issuer": "https://redox.example.com", "audiences": ["https://d.example.com"],
                             "required_scopes": ["redox.push"], "jwks": {"keys": [rsa_jwk("jb-1")]}}],
        })
    }

    fn rsa_jwk(kid: &str) -> serde_json::Value {
        use crate::auth::jwt::jwk::test_keys;
        static PAIR: std::sync::OnceLock<aws_lc_rs::signature::RsaKeyPair> =
            std::sync::OnceLock::new();
        test_keys::rsa_jwk(PAIR.get_or_init(test_keys::rsa_pair), kid)
    }

    #[test]
    fn oauth_clients_authenticate_with_exactly_one_of_secret_jwks_and_jwks_url() {
        let material = Material::from_secret_text(&full_document().to_string()).unwrap();
        let kinds: Vec<(&str, bool, Option<usize>)> = material
            .issuer
            .clients()
            .iter()
            .map(|c| {
                (
                    c.client_id.as_str(),
                    c.authentication.uses_keys(),
                    c.scopes.as_ref().map(Vec::len),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("redox", false, None),
                ("smart", true, Some(1)),
                ("smart-url", true, None)
            ]
        );
        let issuer = &material.auth.jwt_issuers[0];
        assert_eq!(issuer.settings.required_scopes, ["redox.push"]);
        assert!(issuer.keys.set().find(Some("jb-1")).is_some());
        let jwks = serde_json::json!({"keys": [rsa_jwk("a")]});
        let bad = [
            (
                serde_json::json!({"client_id": "c"}),
                "oauth_clients[0]: give exactly one of client_secret, jwks, jwks_url",
            ),
            (
                serde_json::json!({"client_id": "c", "jwks": jwks, "jwks_url": "https://x/j"}),
                "give exactly one",
            ),
            (
                serde_json::json!({"client_id": "c", "jwks_url": "http://keys.example.com/j"}),
                "oauth_clients[0].jwks_url: must be an https:// URL",
            ),
            (
                serde_json::json!({"client_id": "c", "jwks": jwks, "scopes": ["a b"]}),
                "oauth_clients[0].scopes: ",
            ),
            (
                serde_json::json!({"client_id": "c", "jwks": jwks, "scopes": "system/*.write"}),
                "oauth_clients[0].scopes: expected a list",
            ),
        ];
        for (client, expected) in bad {
            let document = serde_json::json!({"oauth_clients": [client]}).to_string();
            let error = Material::from_secret_text(&document)
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{error}");
        }
        // A client with keys is the only entry with its id.
        let document = serde_json::json!({"oauth_clients": [
            {"client_id": "c", "client_secret": "a-long-enough-secret-of-128-bits"},
            {"client_id": "c", "jwks": jwks}]});
        let error = Material::from_secret_text(&document.to_string()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("oauth_clients[1]: client_id is an earlier"),
            "{error}"
        );
    }

    #[test]
    fn jwt_issuers_need_an_issuer_audiences_and_keys() {
        let jwks = serde_json::json!({"keys": [rsa_jwk("a")]});
        let bad = [
            (
                serde_json::json!({"issuer": "i", "jwks": jwks}),
                "jwt_issuers[0].audiences: ",
            ),
            (
                serde_json::json!({"issuer": "i", "audiences": [], "jwks": jwks}),
                "audiences",
            ),
            (
                serde_json::json!({"issuer": "i", "audiences": ["a"]}),
                "jwt_issuers[0]: jwks is missing",
            ),
            (
                serde_json::json!({"audiences": ["a"], "jwks": jwks}),
                "issuer is missing",
            ),
            (
                serde_json::json!({"issuer": "i", "audiences": ["a"], "jwks": {"keys": []}}),
                "jwt_issuers[0].jwks: must hold 1",
            ),
            (
                serde_json::json!({"issuer": "i", "audiences": ["a"], "jwks": jwks, "x": 1}),
                "not one of issuer, audiences",
            ),
        ];
        for (issuer, expected) in bad {
            let document = serde_json::json!({"jwt_issuers": [issuer]}).to_string();
            let error = Material::from_secret_text(&document)
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{error}");
        }
        let twice = serde_json::json!({"jwt_issuers": [
            {"issuer": "i", "audiences": ["a"], "jwks": jwks},
            {"issuer": "i", "audiences": ["b"], "jwks": jwks}]});
        let error = Material::from_secret_text(&twice.to_string()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("jwt_issuers[1].issuer: is the same"),
            "{error}"
        );
    }

    #[test]
    fn jwt_issuers_limit_token_lifetime_and_may_check_replays_and_pin_callers() {
        use crate::auth::jwt::caller::CallerClaim;
        let jwks = serde_json::json!({"keys": [rsa_jwk("a")]});
        let parse = |entry: serde_json::Value| {
            Material::from_secret_text(&serde_json::json!({"jwt_issuers": [entry]}).to_string())
        };
        let plain =
            parse(serde_json::json!({"issuer": "i", "audiences": ["a"], "jwks": jwks})).unwrap();
        let issuer = &plain.auth.jwt_issuers[0];
        assert_eq!(
            issuer.settings.max_lifetime,
            Some(DEFAULT_INLINE_TOKEN_LIFETIME)
        );
        assert!(!issuer.replay_check);
        assert!(issuer.settings.callers.is_none());
        let strict = parse(
            serde_json::json!({"issuer": "i", "audiences": ["a"], "jwks": jwks,
            "max_token_lifetime_secs": 120, "replay_check": true,
            "allowed_callers": ["redox"], "caller_claim": "sub"}),
        )
        .unwrap();
        let issuer = &strict.auth.jwt_issuers[0];
        assert_eq!(
            issuer.settings.max_lifetime,
            Some(std::time::Duration::from_secs(120))
        );
        assert!(issuer.replay_check);
        let pin = issuer.settings.callers.as_ref().unwrap();
        assert_eq!(pin.claim, CallerClaim::Named("sub".into()));
        assert_eq!(pin.len(), 1);
        for (extra, expected) in [
            (
                serde_json::json!({"max_token_lifetime_secs": 0}),
                "max_token_lifetime_secs: a whole number of seconds, 1-86400",
            ),
            (
                serde_json::json!({"max_token_lifetime_secs": "300"}),
                "max_token_lifetime_secs",
            ),
            (serde_json::json!({"replay_check": "yes"}), "replay_check"),
            (
                serde_json::json!({"allowed_callers": []}),
                "allowed_callers: list 1-100 caller ids",
            ),
            (
                serde_json::json!({"allowed_callers": [" secret-ish "]}),
                "allowed_callers: list 1-100 caller ids",
            ),
            (
                serde_json::json!({"caller_claim": "sub"}),
                "caller_claim: applies to allowed_callers",
            ),
            (
                serde_json::json!({"allowed_callers": ["x"], "caller_claim": "a b"}),
                "caller_claim: a claim name",
            ),
        ] {
            let mut entry = serde_json::json!({"issuer": "i", "audiences": ["a"], "jwks": jwks});
            for (name, value) in extra.as_object().unwrap() {
                entry[name] = value.clone();
            }
            let error = parse(entry).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
            assert!(!error.contains("secret-ish"), "{error}");
        }
    }

    #[test]
    fn the_previous_version_adds_keys_but_never_changes_a_clients_kind() {
        let current = serde_json::json!({
            "oauth_clients": [
                {"client_id": "smart", "jwks": {"keys": [rsa_jwk("new")]}},
                {"client_id": "moved", "jwks_url": "https://redox.example.com/jwks.json"}],
            "jwt_issuers": [{"issuer": "i", "audiences": ["a"], "jwks": {"keys": [rsa_jwk("new")]}}],
        });
        let previous = serde_json::json!({
            "oauth_clients": [
                {"client_id": "smart", "jwks": {"keys": [rsa_jwk("old")]}},
                {"client_id": "moved", "client_secret": "a-long-enough-secret-of-128-bits"},
                {"client_id": "gone", "client_secret": "a-long-enough-secret-of-128-bits"}],
            "jwt_issuers": [{"issuer": "i", "audiences": ["other"], "jwks": {"keys": [rsa_jwk("old")]}}],
        });
        let mut material = Material::from_secret_text(&current.to_string()).unwrap();
        material.merge(Material::from_secret_text(&previous.to_string()).unwrap());
        let clients = material.issuer.clients();
        let ids: Vec<&str> = clients.iter().map(|c| c.client_id.as_str()).collect();
        assert_eq!(ids, ["smart", "moved", "gone"]);
        let ClientAuthentication::Jwks(keys) = &clients[0].authentication else {
            panic!("smart keeps its jwks")
        };
        assert!(keys.set().find(Some("old")).is_some() && keys.set().find(Some("new")).is_some());
        assert!(matches!(
            clients[1].authentication,
            ClientAuthentication::JwksUrl(_)
        ));
        let issuer = &material.auth.jwt_issuers[0];
        assert_eq!(issuer.settings.audiences, ["a"]);
        assert_eq!(issuer.keys.set().keys().len(), 2);
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
            "/oauth_clients/1/jwks",
            "/oauth_clients/1/jwks/keys",
            "/oauth_clients/1/jwks/keys/0",
            "/oauth_clients/1/jwks/keys/0/kid",
            "/oauth_clients/1/jwks/keys/0/n",
            "/oauth_clients/1/scopes",
            "/oauth_clients/1/scopes/0",
            "/oauth_clients/2/jwks_url",
            "/jwt_issuers",
            "/jwt_issuers/0",
            "/jwt_issuers/0/issuer",
            "/jwt_issuers/0/audiences",
            "/jwt_issuers/0/audiences/0",
            "/jwt_issuers/0/required_scopes/0",
            "/jwt_issuers/0/jwks/keys/0/kid",
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
            r#"{"oauth_clients": [{"client_id": " CANARY", "client_secret": "a-long-enough-secret-of-128-bits"}]}"#.to_owned(),
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
