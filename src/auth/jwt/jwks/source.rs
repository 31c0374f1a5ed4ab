//! What a key set is read from: the [`JwksSource`] edge trait and why a
//! read fails ([`JwksError`]). The HTTPS client ([`super::https`]) and the
//! cache ([`super::cache`]) both build on this file; it imports neither.

use crate::BoxFuture;
use crate::auth::jwt::jwk::{JwkError, KeySet};

/// Why a JWKS could not be had.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum JwksError {
    #[error("the JWKS could not be fetched: {0}")]
    Unreachable(String),
    #[error("the JWKS is not usable: {0}")]
    Invalid(#[from] JwkError),
}

/// Somewhere a JWKS can be read from.
pub trait JwksSource: Send + Sync {
    fn fetch(&self) -> BoxFuture<'_, Result<KeySet, JwksError>>;
    /// Where the keys come from, for the start-up banner and logs.
    fn describe(&self) -> String;
}
