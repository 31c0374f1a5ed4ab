//! The `iam` method: AWS (Function URL `AWS_IAM` or API Gateway IAM auth)
//! already verified the caller's SigV4 signature against real IAM; this
//! method only checks that the principal it names is on the allow-list.
//!
//! The principal is read from the event's request context, which only AWS
//! writes, never from a header, which the caller writes.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use crate::inbound::InboundRequest;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum IamError {
    #[error("the gateway-verified principal is not in REDOX_ALLOWED_PRINCIPALS")]
    PrincipalNotAllowed,
}

/// `None` when no gateway verified an IAM caller for this request.
pub fn check_iam(
    request: &InboundRequest,
    allowed_principals: &[String],
) -> Option<Result<(), IamError>> {
    let principal = request.origin.verified_iam_principal.as_deref()?;
    if allowed_principals
        .iter()
        .any(|allowed| allowed == principal)
    {
        Some(Ok(()))
    } else {
        Some(Err(IamError::PrincipalNotAllowed))
    }
}
