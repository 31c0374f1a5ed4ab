//! Lambda mode: the same pipeline behind the Lambda Runtime API.
//!
//! Each invocation's payload is kept as raw JSON and mapped by
//! [`crate::front::lambda_event`], so a malformed event becomes a 400 answer rather
//! than a runtime error. Each invocation is answered before its deadline
//! (the Runtime API's `Lambda-Runtime-Deadline-Ms` less a margin), and a
//! panic becomes a 500 answer, never a failed invocation. Start-up failures
//! are reported to the Runtime API's `/init/error` so they show in the
//! function's logs and console.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::value::RawValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::destination::{Destination, Refusal, log_internal_error};
use crate::front::guard::catch_panic;
use crate::front::lambda_event::{LambdaHttpResponse, parse_event};

/// When this invocation must be answered: the invocation deadline (epoch
/// milliseconds) less `margin`, and never later than the destination's own
/// request bound.
pub fn request_deadline(
    invocation_deadline_ms: u64,
    margin: Duration,
    request_timeout: Duration,
) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    // Lambda's deadline is always ahead when an invocation arrives. One
    // already past (a local emulator that sends none, or seconds instead
    // of milliseconds) says nothing; the request's own bound applies.
    if invocation_deadline_ms <= now_ms {
        return Instant::now() + request_timeout;
    }
    let left = Duration::from_millis(invocation_deadline_ms - now_ms).saturating_sub(margin);
    Instant::now() + left.min(request_timeout)
}

/// Answers one invocation by `deadline`. The raw event is dropped as soon
/// as it is parsed, so a large body is not held twice while it is queued.
pub async fn handle_event(
    destination: &Destination,
    payload: Box<RawValue>,
    deadline: Instant,
) -> LambdaHttpResponse {
    let started = std::time::Instant::now();
    // Only for the log line of a panic: roughly the event's size.
    let body_bytes = payload.get().len();
    let answered = catch_panic(async {
        let parsed = parse_event(payload.get());
        drop(payload);
        match parsed {
            Ok(request) => {
                let front_door = request.origin.front_door;
                let response = destination
                    .handle_until(request, SystemTime::now(), deadline)
                    .await;
                LambdaHttpResponse::for_front_door(response, front_door)
            }
            Err(error) => {
                let refusal = Refusal::BadRequest(error.to_string());
                tracing::warn!(outcome = refusal.code(), reason = %refusal, "event refused");
                refusal.response().into()
            }
        }
    })
    .await;
    answered.unwrap_or_else(|_| {
        log_internal_error(body_bytes, started.elapsed());
        Refusal::Internal.response().into()
    })
}

/// Runs the Lambda runtime loop until the process is stopped.
pub async fn run(
    destination: Arc<Destination>,
    deadline_margin: Duration,
) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let destination = destination.clone();
        async move {
            let deadline = request_deadline(
                event.context.deadline,
                deadline_margin,
                destination.request_timeout,
            );
            let response = handle_event(&destination, event.payload, deadline).await;
            Ok::<LambdaHttpResponse, lambda_runtime::Error>(response)
        }
    }))
    .await
}

/// Reports a start-up failure to the Runtime API (`/init/error`), best effort.
pub async fn report_init_error(runtime_api: &str, error_type: &str, message: &str) {
    let body = serde_json::json!({ "errorMessage": message, "errorType": error_type }).to_string();
    let request = format!(
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {runtime_api}\r\n\
         Lambda-Runtime-Function-Error-Type: {error_type}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(runtime_api).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut sink = Vec::new();
        stream.read_to_end(&mut sink).await?;
        Ok::<(), std::io::Error>(())
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), attempt).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_deadline_keeps_the_margin_and_the_request_bound() {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let start = Instant::now();
        let near = request_deadline(
            now_ms + 3_000,
            Duration::from_millis(500),
            Duration::from_secs(10),
        );
        let left = near - start;
        assert!(left <= Duration::from_millis(2_510) && left > Duration::from_millis(2_300));
        let bounded = request_deadline(
            now_ms + 60_000,
            Duration::from_millis(500),
            Duration::from_secs(10),
        );
        assert!(bounded - start <= Duration::from_millis(10_050));
        // A deadline already past on arrival is not Lambda's: the request
        // bound applies (and nothing panics).
        let past = request_deadline(1, Duration::from_millis(500), Duration::from_secs(10));
        assert!(past - start > Duration::from_millis(9_900));
        // A deadline closer than the margin leaves no time: answer at once.
        let close = request_deadline(
            now_ms + 200,
            Duration::from_millis(500),
            Duration::from_secs(10),
        );
        assert!(close - start < Duration::from_millis(50));
    }
}
