//! The `jwt` method and everything it trusts.
//!
//! - [`verify`]: checks one bearer JWT against the trusted issuers (pure).
//! - [`jwk`]: parses JSON Web Keys and key sets (pure).
//! - [`jwks`]: fetches an identity provider's key set over HTTPS.
//! - [`trust`]: the issuers trusted and the cache of their key sets.

pub mod jwk;
pub mod jwks;
pub mod trust;
pub mod verify;

pub use verify::*;
