//! Remote key sets: reading an identity provider's (or a SMART client's)
//! JSON Web Key Set and keeping it. This module owns both; whom the keys
//! are trusted for is [`crate::auth::jwt::trust`]'s business, which uses it.
//!
//! - `source.rs`: the [`JwksSource`] edge trait and [`JwksError`].
//! - `https.rs`: [`HttpsJwks`], the source over HTTPS (one TLS stack, no
//!   redirects, bounded time and size), and [`check_url`].
//! - `cache.rs`: [`JwksCache`], stale-while-revalidate (a cached `kid`
//!   never waits for the key host), and [`ClientKeySets`], one cache per
//!   SMART client `jwks_url`.

mod cache;
mod https;
mod source;

pub use cache::{
    CLIENT_JWKS_TTL, ClientKeySets, DEFAULT_REFETCH_INTERVAL, FAILURE_BACKOFF, JwksCache,
    JwksSourceFactory, MAX_CLIENT_JWKS_URLS, Refresh,
};
pub use https::{BoundedGet, HttpsJwks, MAX_JWKS_BYTES, check_url, https_connector};
pub use source::{JwksError, JwksSource};
