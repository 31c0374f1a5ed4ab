//! Lambda mode: the same pipeline behind the Lambda Runtime API.
//!
//! Each invocation's payload is kept as raw JSON and mapped by
//! [`crate::lambda_event`], so a malformed event becomes a 400 answer rather
//! than a runtime error. Start-up failures are reported to the Runtime API's
//! `/init/error` so they show in the function's logs and console.

use std::sync::Arc;
use std::time::SystemTime;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::value::RawValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::destination::{Destination, Refusal};
use crate::lambda_event::{LambdaHttpResponse, parse_event};

/// Answers one invocation. The raw event is dropped as soon as it is
/// parsed, so a large body is not held twice while it is being queued.
pub async fn handle_event(destination: &Destination, payload: Box<RawValue>) -> LambdaHttpResponse {
    let parsed = parse_event(payload.get());
    drop(payload);
    match parsed {
        Ok(request) => {
            let front_door = request.origin.front_door;
            let response = destination.handle(request, SystemTime::now()).await;
            LambdaHttpResponse::for_front_door(response, front_door)
        }
        Err(error) => {
            let refusal = Refusal::BadRequest(error.to_string());
            tracing::warn!(outcome = refusal.code(), reason = %refusal, "event refused");
            refusal.response().into()
        }
    }
}

/// Runs the Lambda runtime loop until the process is stopped.
pub async fn run(destination: Arc<Destination>) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let destination = destination.clone();
        async move {
            let response = handle_event(&destination, event.payload).await;
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
