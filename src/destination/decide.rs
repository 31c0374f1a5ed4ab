//! The decision table of SPEC 3.2: method and size checks, the handshake
//! or authentication, classification, and the sink.
//!
//! One table, two phases where the front door allows: server mode first
//! asks [`Destination::decide_head`] what the request's head proves, before
//! a large body is read (a wrong token or JWT is refused unread, a head
//! with no credential may send only what a handshake could be), then
//! decides the whole request with [`Destination::decide`] exactly as the
//! Lambda does. The head phase only refuses what the whole request would
//! be refused for too.

use std::time::SystemTime;

use super::log::RequestRecord;
use super::{Destination, Refusal};
use crate::auth::{AuthError, HeadVerdict};
use crate::inbound::InboundRequest;
use crate::oauth::{Endpoint, OAuthError};
use crate::redox::{self, Classified, MAX_HANDSHAKE_BYTES};
use crate::response::HttpResponse;
use crate::sink::QueuedMessage;

/// How much body a request's head has earned (server mode's first phase).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyAllowance {
    /// The most body bytes worth reading.
    pub max_bytes: usize,
    /// A credential in the head verified or awaits the body (SigV4): the
    /// body may be large, and its buffer is sized from `Content-Length`.
    pub proven: bool,
    over: OverAllowance,
}

/// What a body larger than its allowance is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OverAllowance {
    /// 413: larger than the destination takes at all (or than a GET
    /// handshake can carry).
    TooLarge,
    /// 401: too large to be a handshake, so a push, and its head carries
    /// no credential.
    NoCredential,
    /// The token endpoint's own `invalid_request`.
    TokenRequestTooLarge,
}

impl BodyAllowance {
    fn new(max_bytes: usize, proven: bool, over: OverAllowance) -> BodyAllowance {
        BodyAllowance {
            max_bytes,
            proven,
            over,
        }
    }

    /// The answer to a body of `size` bytes, over the allowance.
    pub fn refusal(&self, size: usize) -> Refusal {
        match self.over {
            OverAllowance::TooLarge => Refusal::BodyTooLarge {
                size,
                limit: self.max_bytes,
            },
            OverAllowance::NoCredential => Refusal::Unauthorized(AuthError::NoCredential),
            OverAllowance::TokenRequestTooLarge => {
                Refusal::OAuth(OAuthError::InvalidRequest("The body is too large."))
            }
        }
    }
}

impl Destination {
    /// SPEC 3.2 from the head alone (server mode, before the body is
    /// read): the method, the declared size, and every credential the head
    /// carries. `Ok` says how much body to read (a `Content-Length` over it
    /// is refused with [`BodyAllowance::refusal`] unread); the whole
    /// request is then decided by [`Destination::decide`].
    pub async fn decide_head(
        &self,
        head: &InboundRequest,
        declared: Option<usize>,
        now: SystemTime,
        record: &mut RequestRecord,
    ) -> Result<BodyAllowance, Refusal> {
        if let Some(issuer) = &self.issuer
            && let Some(endpoint) = crate::oauth::endpoint(head, issuer)
        {
            record.oauth_endpoint = Some(endpoint);
            // The token request is authenticated by its body; neither
            // endpoint takes more than a form.
            let over = match endpoint {
                Endpoint::Token => OverAllowance::TokenRequestTooLarge,
                Endpoint::Jwks => OverAllowance::TooLarge,
            };
            return Ok(BodyAllowance::new(
                crate::oauth::MAX_FORM_BYTES,
                false,
                over,
            ));
        }
        let is_get = self.check_method(head)?;
        if let Some(size) = declared.filter(|size| *size > self.max_body_bytes) {
            return Err(Refusal::BodyTooLarge {
                size,
                limit: self.max_body_bytes,
            });
        }
        if is_get {
            return Ok(BodyAllowance::new(
                MAX_HANDSHAKE_BYTES,
                false,
                OverAllowance::TooLarge,
            ));
        }
        let verdict = self
            .auth
            .screen_head(head, now, &mut record.waiting_on)
            .await?;
        Ok(match verdict {
            HeadVerdict::Verified(method) => {
                record.auth_method = Some(method);
                BodyAllowance::new(self.max_body_bytes, true, OverAllowance::TooLarge)
            }
            HeadVerdict::AwaitsBody => {
                BodyAllowance::new(self.max_body_bytes, true, OverAllowance::TooLarge)
            }
            HeadVerdict::Unproven => {
                BodyAllowance::new(MAX_HANDSHAKE_BYTES, false, OverAllowance::NoCredential)
            }
        })
    }

    /// POST, or GET for a handshake (it names a challenge): `true` for GET.
    fn check_method(&self, request: &InboundRequest) -> Result<bool, Refusal> {
        let is_get = request.method == "GET";
        if request.method != "POST" && !is_get {
            return Err(Refusal::MethodNotAllowed(request.method.clone()));
        }
        if is_get && request.query_param("challenge").is_none() {
            return Err(Refusal::MethodNotAllowed(request.method.clone()));
        }
        Ok(is_get)
    }

    /// SPEC 3.2: method and size, then the handshake or the push.
    pub(super) async fn decide(
        &self,
        request: InboundRequest,
        now: SystemTime,
        record: &mut RequestRecord,
    ) -> Result<HttpResponse, Refusal> {
        let is_get = request.method == "GET";
        if request.method != "POST" && !is_get {
            return Err(Refusal::MethodNotAllowed(request.method));
        }
        // A GET handshake carries everything in its query.
        let limit = if is_get {
            MAX_HANDSHAKE_BYTES
        } else {
            self.max_body_bytes
        };
        if request.body.len() > limit {
            return Err(Refusal::BodyTooLarge {
                size: request.body.len(),
                limit,
            });
        }
        self.check_method(&request)?;

        match redox::classify(&request) {
            Classified::Handshake(handshake) => {
                record.handshake = true;
                let token = handshake.token.as_deref();
                self.auth
                    .handshake(&request, token, now, &mut record.waiting_on)
                    .await?;
                let challenge = handshake.checked_challenge()?;
                Ok(HttpResponse::plain_text(200, challenge.to_owned()))
            }
            Classified::Push(envelope) => {
                let method = self
                    .auth
                    .push(&request, now, &mut record.waiting_on)
                    .await?;
                record.auth_method = Some(method);
                if let Some(meta) = envelope.meta() {
                    record.redox_log_id = meta.log_id.clone();
                    record.redox_message_id = meta.message_id.clone();
                    record.event_type = meta.event_type.clone();
                }
                if envelope.is_synchronous_query() {
                    let event_type = record.event_type.clone().unwrap_or_default();
                    return Err(Refusal::SynchronousQuery(event_type));
                }
                let content_type = request
                    .header_values("content-type")
                    .next()
                    .map(str::to_owned);
                let message = QueuedMessage::new(
                    request.body,
                    &envelope,
                    method,
                    content_type.as_deref(),
                    now,
                );
                record.waiting_on = Some(self.sink.dependency());
                let message_id = self.sink.put(&message).await?;
                record.waiting_on = None;
                record.offloaded = self.sink.offloads(&message);
                record.message_id = Some(message_id.clone());
                Ok(HttpResponse::json(
                    200,
                    &serde_json::json!({"status": "queued", "message_id": message_id}),
                ))
            }
        }
    }
}
