//! Authentication: decides whether a request comes from Redox.
//!
//! - [`policy`]: the enabled methods and how their verdicts combine (pure);
//!   [`error`]: every refusal ([`AuthError`]); [`credential`]: what the
//!   `authorization` header carries.
//! - [`token`], [`sigv4`], [`iam`], [`jwt`], [`google`]: one method each
//!   (pure, clock injected); [`jwt`] also holds the issuers it trusts and
//!   their key sets, [`google`] its token-info lookups.
//! - [`authenticator`]: checks one request with the current material and
//!   key sets, refreshing them once when a failure says they may be stale.
//! - [`material`]: what credentials are checked against (tokens, SigV4
//!   keys, OAuth clients, signing keys), where it comes from and its cache.

pub mod authenticator;
pub mod credential;
pub mod error;
pub mod google;
pub mod iam;
pub mod jwt;
pub mod material;
pub mod policy;
pub mod sigv4;
pub mod token;

pub use authenticator::{AuthFailure, Authenticator};
pub use policy::*;
