//! The built-in OAuth 2.0 issuer (`REDOX_OAUTH_ISSUER`).
//!
//! - [`issuer`]: the token endpoint and its JWKS document (pure).
//! - [`throttle`]: counts failed client authentications, so guessing
//!   client secrets cannot go on.

pub mod issuer;
pub mod throttle;

pub use issuer::*;
