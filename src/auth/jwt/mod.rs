//! The `jwt` method and everything it trusts.
//!
//! - [`verify`]: checks one bearer JWT against the trusted issuers (pure).
//! - [`jwk`]: parses JSON Web Keys and key sets (pure).
//! - [`jwks`]: remote key sets: fetched over HTTPS and cached
//!   (stale-while-revalidate).
//! - [`trust`]: the issuers trusted, each with its key set;
//!   [`caller`]: who may present an issuer's tokens (the caller pin);
//!   [`replay`]: `jti`s already used, for single-use tokens.

pub mod caller;
pub mod jwk;
pub mod jwks;
pub mod replay;
pub mod trust;
pub mod verify;

pub use verify::*;
