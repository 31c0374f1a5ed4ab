//! The decision table of SPEC 3.2: method and size checks, the handshake
//! or authentication, classification, and the sink.

use std::time::SystemTime;

use super::log::RequestRecord;
use super::{Destination, Refusal};
use crate::inbound::InboundRequest;
use crate::redox::{self, Classified};
use crate::response::HttpResponse;
use crate::sink::QueuedMessage;

impl Destination {
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
        if request.body.len() > self.max_body_bytes {
            return Err(Refusal::BodyTooLarge {
                size: request.body.len(),
                limit: self.max_body_bytes,
            });
        }
        if is_get && request.query_param("challenge").is_none() {
            return Err(Refusal::MethodNotAllowed(request.method));
        }

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
