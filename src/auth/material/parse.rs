//! The auth material document of SPEC 3.4, parsed strictly.
//!
//! The JSON is walked field by field rather than deserialised into
//! structs, so that no error message quotes a value from the text: errors
//! name the field, the type expected and found, or the line and column of a
//! syntax error. Duplicate keys are refused.

use std::fmt;
use std::time::Duration;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::{
    ClientAuthentication, DEFAULT_INLINE_TOKEN_LIFETIME, InlineIssuer, Material, MaterialError,
    PublicKeys, SigV4Key, client_secret_digest, valid_scope_token,
};
use crate::auth::google::ServiceAccount;
use crate::auth::jwt::caller::{CallerClaim, CallerPin, valid_caller};
use crate::auth::jwt::trust::JwtSettings;

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
                "jwt_issuers",
                "google_service_accounts",
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
            only_fields(
                client,
                &at,
                &["client_id", "client_secret", "jwks", "jwks_url", "scopes"],
            )?;
            let client_id = required_string(client, &at, "client_id")?;
            let authentication = client_authentication(client, &at)?;
            let scopes = string_list(client, &at, "scopes")?;
            material
                .issuer
                .add_client_at(&at, client_id, authentication, scopes)?;
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
        for (at, entry) in array(fields, "jwt_issuers")? {
            let issuer = jwt_issuer(entry, &at)?;
            if material
                .auth
                .jwt_issuers
                .iter()
                .any(|i| i.settings.issuer == issuer.settings.issuer)
            {
                return Err(MaterialError::Invalid(format!(
                    "{at}.issuer: is the same as an earlier entry's"
                )));
            }
            material.auth.jwt_issuers.push(issuer);
        }
        for (at, entry) in array(fields, "google_service_accounts")? {
            let account = google_service_account(entry, &at)?;
            if material.auth.google_service_accounts.contains(&account) {
                return Err(MaterialError::Invalid(format!(
                    "{at}: is the same as an earlier entry"
                )));
            }
            material.auth.google_service_accounts.push(account);
        }
        Ok(material)
    }
}

/// A `google_service_accounts` entry: a Google service account trusted to
/// push, by its unique id (digits, never reused), its email (as Google
/// spells service accounts), or both.
fn google_service_account(entry: &Value, at: &str) -> Result<ServiceAccount, MaterialError> {
    let fields = object(entry, at)?;
    only_fields(fields, at, &["unique_id", "email"])?;
    let optional = |name: &str| {
        fields
            .get(name)
            .map(|value| string(value, &format!("{at}.{name}")))
            .transpose()
    };
    let unique_id = optional("unique_id")?;
    let email = optional("email")?;
    if unique_id.is_none() && email.is_none() {
        return Err(MaterialError::Invalid(format!(
            "{at}: give unique_id, email or both"
        )));
    }
    if let Some(id) = unique_id
        && (id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(MaterialError::Invalid(format!(
            "{at}.unique_id: is not a service account's unique id (up to 32 digits; \
             gcloud iam service-accounts describe EMAIL --format='value(uniqueId)')"
        )));
    }
    if let Some(email) = email {
        let well_formed = email.len() <= 254
            && email.bytes().all(|b| b.is_ascii_graphic())
            && email
                .split_once('@')
                .is_some_and(|(name, domain)| !name.is_empty() && domain.contains('.'));
        if !well_formed {
            return Err(MaterialError::Invalid(format!(
                "{at}.email: is not an email address"
            )));
        }
    }
    Ok(ServiceAccount {
        unique_id: unique_id.map(str::to_owned),
        email: email.map(str::to_owned),
    })
}

/// How an `oauth_clients` entry authenticates: exactly one of
/// `client_secret`, `jwks` and `jwks_url`.
fn client_authentication(
    fields: &Map<String, Value>,
    at: &str,
) -> Result<ClientAuthentication, MaterialError> {
    let given: Vec<&str> = ["client_secret", "jwks", "jwks_url"]
        .into_iter()
        .filter(|name| fields.contains_key(*name))
        .collect();
    match given.as_slice() {
        ["client_secret"] => Ok(ClientAuthentication::Secret(client_secret_digest(
            at,
            required_string(fields, at, "client_secret")?,
        )?)),
        ["jwks"] => {
            let jwks = fields.get("jwks").unwrap_or(&Value::Null);
            Ok(ClientAuthentication::Jwks(PublicKeys::from_value(
                jwks,
                &format!("{at}.jwks"),
            )?))
        }
        ["jwks_url"] => {
            let url = required_string(fields, at, "jwks_url")?;
            // The URL is not quoted: a value pasted in the wrong field may be a secret.
            crate::auth::jwt::jwks::check_url(url).map_err(|_| {
                MaterialError::Invalid(format!(
                    "{at}.jwks_url: must be an https:// URL (http:// only for 127.0.0.1, \
                     localhost and [::1])"
                ))
            })?;
            Ok(ClientAuthentication::JwksUrl(url.to_owned()))
        }
        _ => Err(MaterialError::Invalid(format!(
            "{at}: give exactly one of client_secret, jwks, jwks_url"
        ))),
    }
}

/// One `jwt_issuers` entry: `issuer`, `audiences`, optional
/// `required_scopes`, the issuer's public keys as `jwks`, and optionally
/// `max_token_lifetime_secs`, `replay_check`, `allowed_callers` and
/// `caller_claim`.
fn jwt_issuer(entry: &Value, at: &str) -> Result<InlineIssuer, MaterialError> {
    let fields = object(entry, at)?;
    only_fields(
        fields,
        at,
        &[
            "issuer",
            "audiences",
            "required_scopes",
            "jwks",
            "max_token_lifetime_secs",
            "replay_check",
            "allowed_callers",
            "caller_claim",
        ],
    )?;
    let issuer = required_string(fields, at, "issuer")?;
    if issuer.is_empty() || issuer.len() > 1024 || issuer.chars().any(char::is_control) {
        return Err(MaterialError::Invalid(format!(
            "{at}.issuer: must be 1-1024 characters without control characters"
        )));
    }
    let audiences = string_list(fields, at, "audiences")?.unwrap_or_default();
    if audiences.is_empty()
        || audiences
            .iter()
            .any(|a| a.is_empty() || a.len() > 1024 || a.chars().any(char::is_control))
    {
        return Err(MaterialError::Invalid(format!(
            "{at}.audiences: list the aud values accepted (at least one, each 1-1024 \
             characters without control characters)"
        )));
    }
    let required_scopes = string_list(fields, at, "required_scopes")?.unwrap_or_default();
    if !required_scopes.iter().all(|s| valid_scope_token(s)) {
        return Err(MaterialError::Invalid(format!(
            "{at}.required_scopes: each scope is 1-128 printable ASCII characters without \
             spaces, quotes or backslashes"
        )));
    }
    let Some(jwks) = fields.get("jwks") else {
        return Err(MaterialError::Invalid(format!("{at}: jwks is missing")));
    };
    let max_lifetime = match fields.get("max_token_lifetime_secs") {
        None => DEFAULT_INLINE_TOKEN_LIFETIME,
        Some(Value::Number(secs)) => match secs.as_u64() {
            Some(secs @ 1..=86_400) => Duration::from_secs(secs),
            _ => {
                return Err(MaterialError::Invalid(format!(
                    "{at}.max_token_lifetime_secs: a whole number of seconds, 1-86400"
                )));
            }
        },
        Some(other) => {
            return Err(wrong_type(
                &format!("{at}.max_token_lifetime_secs"),
                "a number",
                other,
            ));
        }
    };
    let replay_check = match fields.get("replay_check") {
        None => false,
        Some(Value::Bool(on)) => *on,
        Some(other) => {
            return Err(wrong_type(
                &format!("{at}.replay_check"),
                "true or false",
                other,
            ));
        }
    };
    Ok(InlineIssuer {
        settings: JwtSettings {
            issuer: issuer.to_owned(),
            audiences,
            required_scopes,
            callers: caller_pin(fields, at)?,
            max_lifetime: Some(max_lifetime),
        },
        keys: PublicKeys::from_value(jwks, &format!("{at}.jwks"))?,
        replay_check,
    })
}

/// An entry's `allowed_callers` and `caller_claim` (the latter only with
/// the former).
fn caller_pin(fields: &Map<String, Value>, at: &str) -> Result<Option<CallerPin>, MaterialError> {
    let callers = string_list(fields, at, "allowed_callers")?;
    let claim = match fields.get("caller_claim") {
        None => CallerClaim::Auto,
        Some(value) => CallerClaim::parse(string(value, &format!("{at}.caller_claim"))?)
            .map_err(|why| MaterialError::Invalid(format!("{at}.caller_claim: {why}")))?,
    };
    let Some(callers) = callers else {
        if fields.contains_key("caller_claim") {
            return Err(MaterialError::Invalid(format!(
                "{at}.caller_claim: applies to allowed_callers, which is missing"
            )));
        }
        return Ok(None);
    };
    // Values are not quoted: a caller id pasted in the wrong field may be a secret.
    if callers.is_empty() || callers.len() > 100 || !callers.iter().all(|c| valid_caller(c)) {
        return Err(MaterialError::Invalid(format!(
            "{at}.allowed_callers: list 1-100 caller ids, each 1-1024 characters without \
             control characters or surrounding whitespace"
        )));
    }
    Ok(Some(CallerPin::new(claim, &callers)))
}

/// The optional list of strings `name`.
fn string_list(
    fields: &Map<String, Value>,
    at: &str,
    name: &str,
) -> Result<Option<Vec<String>>, MaterialError> {
    let at = format!("{at}.{name}");
    match fields.get(name) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| string(item, &format!("{at}[{i}]")).map(str::to_owned))
            .collect::<Result<Vec<String>, MaterialError>>()
            .map(Some),
        Some(other) => Err(wrong_type(&at, "a list", other)),
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
