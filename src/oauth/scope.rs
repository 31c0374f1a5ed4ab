//! The scope a token request is granted (RFC 6749 3.3): every scope asked
//! for must be among the client's configured `scopes`, compared as exact
//! strings (`system/*.*` is not a wildcard for `system/Patient.write`). A
//! client with no `scopes` may ask for none. Runs only after the client
//! authenticated.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use std::collections::HashSet;

use super::error::OAuthError;

/// The scope granted for `requested` (the request's `scope`), given the
/// client's `allowed` list: `None` when none was asked for, else every
/// scope asked for, once each, in the order asked.
pub fn granted_scope(
    requested: Option<&str>,
    allowed: Option<&[String]>,
) -> Result<Option<String>, OAuthError> {
    let Some(requested) = requested.filter(|s| !s.trim().is_empty()) else {
        return Ok(None);
    };
    let Some(allowed) = allowed else {
        return Err(OAuthError::InvalidScope(
            "This client may be granted no scope; leave the scope empty.",
        ));
    };
    let allowed: HashSet<&str> = allowed.iter().map(String::as_str).collect();
    let mut granted: Vec<&str> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for scope in requested.split(' ').filter(|s| !s.is_empty()) {
        if !allowed.contains(scope) {
            return Err(OAuthError::InvalidScope(
                "A requested scope is not one this client may be granted.",
            ));
        }
        if seen.insert(scope) {
            granted.push(scope);
        }
    }
    Ok(Some(granted.join(" ")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec!["system/*.write".into(), "system/Patient.read".into()]
    }

    #[test]
    fn only_configured_scopes_are_granted_exactly() {
        let list = allowed();
        let allowed = Some(list.as_slice());
        assert_eq!(granted_scope(None, allowed), Ok(None));
        assert_eq!(granted_scope(Some("  "), allowed), Ok(None));
        assert_eq!(
            granted_scope(Some("system/*.write"), allowed),
            Ok(Some("system/*.write".into()))
        );
        assert_eq!(
            granted_scope(
                Some("system/Patient.read  system/*.write system/*.write"),
                allowed
            ),
            Ok(Some("system/Patient.read system/*.write".into()))
        );
        for refused in [
            "system/Patient.write",
            "system/*.*",
            "SYSTEM/*.write",
            "openid",
        ] {
            assert!(
                matches!(
                    granted_scope(Some(refused), allowed),
                    Err(OAuthError::InvalidScope(_))
                ),
                "{refused}"
            );
        }
    }

    #[test]
    fn a_client_without_scopes_may_ask_for_none() {
        assert_eq!(granted_scope(None, None), Ok(None));
        assert_eq!(granted_scope(Some(""), None), Ok(None));
        assert!(matches!(
            granted_scope(Some("system/*.write"), None),
            Err(OAuthError::InvalidScope(_))
        ));
    }
}
