//! Who may present an issuer's tokens: a [`CallerPin`] (issue 27).
//!
//! An identity provider that serves more than Redox (a shared Okta, Entra
//! ID or Cognito tenant, Google) signs tokens for every client that may ask
//! for the destination's audience; `iss` and `aud` alone let them all in.
//! The pin names the callers allowed and **one** claim that names the
//! caller, so a token never passes because some *other* claim happens to
//! hold a pinned value:
//!
//! | provider | claim naming the client | source |
//! |---|---|---|
//! | Microsoft Entra ID, v2.0 access tokens | `azp` (the client's application id) | Entra "Access token claims reference" |
//! | Microsoft Entra ID, v1.0 access tokens | `appid` | same page (`appid` only in v1.0, `azp` only in v2.0) |
//! | Amazon Cognito access tokens | `client_id` (the app client id; no `aud`) | Cognito "access token" docs |
//! | Okta access tokens (custom authorization server) | `cid` (`sub` is the user, or the client id for client credentials) | Okta "Tokens" reference |
//! | Google ID tokens | `sub` (the service account's unique id), or `email` with `email_verified` true | Google "OpenID Connect" / `generateIdToken` |
//!
//! With no claim configured ([`CallerClaim::Auto`]) the first of `azp`,
//! `appid`, `client_id`, `cid` that the token carries names the caller, and
//! only that one is compared; a token with none of them is refused. `email`
//! counts only when the token's `email_verified` is true. Pure.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The claims [`CallerClaim::Auto`] looks for, in this order: Entra ID v2,
/// Entra ID v1, Cognito (and RFC 9068), Okta.
pub const AUTO_CALLER_CLAIMS: [&str; 4] = ["azp", "appid", "client_id", "cid"];
/// The longest claim name and caller value accepted in the configuration.
pub const MAX_CALLER_BYTES: usize = 1024;

/// Which claim names the caller.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CallerClaim {
    /// The first of [`AUTO_CALLER_CLAIMS`] the token carries.
    #[default]
    Auto,
    /// This claim only.
    Named(String),
}

impl CallerClaim {
    /// A configured claim name: `auto`, or 1-64 characters of letters,
    /// digits, `_`, `-`, `.` and `:`.
    pub fn parse(name: &str) -> Result<CallerClaim, String> {
        if name == "auto" {
            return Ok(CallerClaim::Auto);
        }
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b));
        if valid {
            Ok(CallerClaim::Named(name.to_owned()))
        } else {
            Err("a claim name is 1-64 letters, digits, '_', '-', '.' or ':' (or auto)".into())
        }
    }

    pub fn describe(&self) -> String {
        match self {
            CallerClaim::Auto => format!("auto ({})", AUTO_CALLER_CLAIMS.join(", ")),
            CallerClaim::Named(name) => name.clone(),
        }
    }
}

/// The callers an issuer's tokens are accepted from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerPin {
    pub claim: CallerClaim,
    allowed: Vec<[u8; 32]>,
}

/// Why a token's caller is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerRefusal {
    /// The token carries no claim that names its caller (the claim looked
    /// for, or the auto list).
    NoCallerClaim(String),
    /// The caller claim is not a string.
    NotAString(String),
    /// The caller is not pinned: the claim and its value (unchecked, for
    /// the log after shortening).
    NotAllowed { claim: String, caller: String },
    /// `email` names the caller but `email_verified` is not true.
    EmailNotVerified,
}

fn digest(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

/// A caller value as configured: 1-1024 characters without control
/// characters, and no surrounding whitespace.
pub fn valid_caller(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_CALLER_BYTES
        && value.trim() == value
        && !value.chars().any(char::is_control)
}

impl CallerPin {
    /// A pin on `claim` allowing `callers` (each checked with
    /// [`valid_caller`] by the configuration).
    pub fn new(claim: CallerClaim, callers: &[String]) -> CallerPin {
        CallerPin {
            claim,
            allowed: callers.iter().map(|c| digest(c)).collect(),
        }
    }

    /// How many callers are pinned.
    pub fn len(&self) -> usize {
        self.allowed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.allowed.is_empty()
    }

    /// Whether the token's claims name a pinned caller. Only the one claim
    /// chosen is read; the value is compared as a digest against every
    /// pinned caller, without early exit.
    pub fn admits(&self, claims: &Map<String, Value>) -> Result<(), CallerRefusal> {
        let (claim, value) = match &self.claim {
            CallerClaim::Auto => AUTO_CALLER_CLAIMS
                .iter()
                .find_map(|name| claims.get(*name).map(|value| (*name, value)))
                .ok_or_else(|| CallerRefusal::NoCallerClaim(CallerClaim::Auto.describe()))?,
            CallerClaim::Named(name) => (
                name.as_str(),
                claims
                    .get(name)
                    .ok_or_else(|| CallerRefusal::NoCallerClaim(name.clone()))?,
            ),
        };
        let Value::String(caller) = value else {
            return Err(CallerRefusal::NotAString(claim.to_owned()));
        };
        if claim == "email" && !email_verified(claims) {
            return Err(CallerRefusal::EmailNotVerified);
        }
        let presented = digest(caller);
        let hit = self
            .allowed
            .iter()
            .fold(subtle::Choice::from(0), |hit, pinned| {
                hit | pinned.ct_eq(&presented)
            });
        if bool::from(hit) {
            Ok(())
        } else {
            Err(CallerRefusal::NotAllowed {
                claim: claim.to_owned(),
                caller: caller.clone(),
            })
        }
    }
}

/// `email_verified` is `true` (Google sends a boolean in ID tokens and the
/// string `"true"` from its token-info endpoint).
fn email_verified(claims: &Map<String, Value>) -> bool {
    match claims.get("email_verified") {
        Some(Value::Bool(verified)) => *verified,
        Some(Value::String(verified)) => verified == "true",
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    fn pin(claim: &str, callers: &[&str]) -> CallerPin {
        let callers: Vec<String> = callers.iter().map(|c| c.to_string()).collect();
        CallerPin::new(CallerClaim::parse(claim).unwrap(), &callers)
    }

    #[test]
    fn auto_reads_the_first_client_claim_of_each_provider_and_only_it() {
        let redox = pin("auto", &["redox-client"]);
        // Entra v2, Entra v1, Cognito, Okta: each names the client its way.
        for token in [
            json!({"azp": "redox-client", "sub": "x"}),
            json!({"appid": "redox-client", "sub": "x"}),
            json!({"client_id": "redox-client", "sub": "x"}),
            json!({"cid": "redox-client", "sub": "user@example.com"}),
        ] {
            assert_eq!(redox.admits(&claims(token.clone())), Ok(()), "{token}");
        }
        // Another client of the same tenant: refused, whichever claim.
        for token in [
            json!({"azp": "other-client"}),
            json!({"appid": "other-client"}),
            json!({"client_id": "other-client"}),
            json!({"cid": "other-client"}),
        ] {
            assert!(
                matches!(
                    redox.admits(&claims(token.clone())),
                    Err(CallerRefusal::NotAllowed { .. })
                ),
                "{token}"
            );
        }
        // Strict: a pinned value in a claim after the one that names the
        // caller does not count.
        assert_eq!(
            redox.admits(&claims(
                json!({"azp": "other-client", "client_id": "redox-client"})
            )),
            Err(CallerRefusal::NotAllowed {
                claim: "azp".into(),
                caller: "other-client".into()
            })
        );
        assert_eq!(
            redox.admits(&claims(json!({"sub": "redox-client"}))),
            Err(CallerRefusal::NoCallerClaim(CallerClaim::Auto.describe()))
        );
        assert_eq!(
            redox.admits(&claims(json!({"azp": ["redox-client"]}))),
            Err(CallerRefusal::NotAString("azp".into()))
        );
    }

    #[test]
    fn a_named_claim_is_the_only_one_read() {
        let google = pin("sub", &["104857600000000000001"]);
        assert_eq!(
            google.admits(&claims(json!({"sub": "104857600000000000001", "azp": "x"}))),
            Ok(())
        );
        // The pinned id in azp, another in sub: refused.
        assert!(matches!(
            google.admits(&claims(
                json!({"sub": "999", "azp": "104857600000000000001"})
            )),
            Err(CallerRefusal::NotAllowed { .. })
        ));
        assert_eq!(
            google.admits(&claims(json!({"azp": "104857600000000000001"}))),
            Err(CallerRefusal::NoCallerClaim("sub".into()))
        );
    }

    #[test]
    fn email_counts_only_when_verified() {
        let sa = pin("email", &["pusher@project.iam.gserviceaccount.com"]);
        let with = |verified: Value| {
            claims(
                json!({"email": "pusher@project.iam.gserviceaccount.com", "email_verified": verified}),
            )
        };
        assert_eq!(sa.admits(&with(json!(true))), Ok(()));
        assert_eq!(sa.admits(&with(json!("true"))), Ok(()));
        for not in [
            json!(false),
            json!("false"),
            json!("TRUE"),
            json!(1),
            json!(null),
        ] {
            assert_eq!(
                sa.admits(&with(not.clone())),
                Err(CallerRefusal::EmailNotVerified),
                "{not}"
            );
        }
        assert_eq!(
            sa.admits(&claims(
                json!({"email": "pusher@project.iam.gserviceaccount.com"})
            )),
            Err(CallerRefusal::EmailNotVerified)
        );
    }

    #[test]
    fn claim_names_and_caller_values_are_checked() {
        for good in ["auto", "sub", "client_id", "https:x.y-z"] {
            assert!(CallerClaim::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "caf\u{e9}", &"x".repeat(65), "sub\n"] {
            assert!(CallerClaim::parse(bad).is_err(), "{bad:?}");
        }
        assert!(valid_caller("0oa1redoxclient"));
        for bad in ["", " x", "x ", "a\tb", &"x".repeat(1025)] {
            assert!(!valid_caller(bad), "{bad:?}");
        }
    }
}
