//! The built-in OAuth 2.0 issuer (`REDOX_OAUTH_ISSUER`).
//!
//! - [`issuer`]: where its endpoints are, its refusals, and the grant.
//! - [`request`]: the token request, parsed once in linear work.
//! - [`client_auth`]: presented client credentials against the configured
//!   clients, in constant time.
//! - [`mint`]: the access tokens it signs and its JWKS document.
//! - [`throttle`]: failed attempts per source address, so guessing client
//!   secrets cannot go on and nobody can lock Redox out.

pub mod client_auth;
pub mod issuer;
pub mod mint;
pub mod request;
pub mod throttle;

pub use client_auth::matching_client;
pub use issuer::*;
pub use mint::{IssuedToken, jwks_document, sign_token};
pub use request::{MAX_FORM_BYTES, TokenRequest};
