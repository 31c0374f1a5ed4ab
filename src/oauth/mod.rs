//! The built-in OAuth 2.0 issuer (`REDOX_OAUTH_ISSUER`).
//!
//! - [`issuer`]: where its endpoints are, and the grant.
//! - [`error`]: its refusals ([`OAuthError`], [`AssertionError`]), below
//!   every other file here.
//! - [`request`]: the token request (form or JSON), parsed once in linear
//!   work.
//! - [`client_auth`]: presented client secrets against the configured
//!   clients, in constant time; [`assertion`]: signed client assertions
//!   (SMART Backend Services), and [`replay`]: the `jti`s already used.
//! - [`scope`]: which scopes a client is granted.
//! - [`mint`]: the access tokens it signs and its JWKS document.
//!
//! Failed attempts are counted per source address by
//! [`crate::throttle`], so guessing client secrets cannot go on and nobody
//! can lock Redox out.

pub mod assertion;
pub mod client_auth;
pub mod error;
pub mod issuer;
pub mod mint;
pub mod replay;
pub mod request;
pub mod scope;

pub use client_auth::matching_client;
pub use error::{AssertionError, OAuthError};
pub use issuer::*;
pub use mint::{IssuedToken, jwks_document, sign_token};
pub use request::{MAX_FORM_BYTES, TokenRequest};
