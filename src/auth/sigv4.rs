//! The `sigv4` method: AWS Signature Version 4 verified by this function.

use std::time::{Duration, SystemTime};

use crate::inbound::InboundRequest;
use crate::material::SigV4Key;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Sigv4Error {
    #[error("the access key id is not a configured SigV4 key")]
    UnknownAccessKey,
    #[error("the signature does not match")]
    SignatureMismatch,
    #[error("presigned query-string authentication is not accepted")]
    PresignedQuery,
}

pub fn verify_sigv4<'k>(
    _request: &InboundRequest,
    _keys: &'k [SigV4Key],
    _now: SystemTime,
    _clock_skew: Duration,
) -> Result<&'k SigV4Key, Sigv4Error> {
    Err(Sigv4Error::SignatureMismatch)
}

pub fn presigned_query_refusal(_request: &InboundRequest) -> Option<Sigv4Error> {
    None
}
