//! `redox-consumer`: an SQS-triggered Lambda that reads what the destination
//! queued. Every record of a batch is decoded back into the Redox message
//! (base64 bodies, S3-offloaded bodies) and handed to a handler; the answer
//! lists the records that failed (`batchItemFailures`).
//!
//! Your own processing goes where [`LogMessage`] is plugged in below: write
//! a [`MessageHandler`] (its documentation says how to be idempotent on
//! `RedoxLogId`) and pass it instead.
//!
//! Environment: `REDOX_PAYLOAD_BUCKET` (pointers to other buckets are
//! refused), `REDOX_AWS_TIMEOUT_MS` (bound on one S3 fetch, default 5000),
//! `RUST_LOG`, and the standard AWS SDK variables.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use redox_destination::consumer::PayloadStore;
use redox_destination::consumer::batch::{LogMessage, MessageHandler, handle_batch};
use redox_destination::consumer::payload::PayloadSettings;
use redox_destination::front::{guard, lambda};
use redox_destination::telemetry;

fn main() -> ExitCode {
    let Ok(runtime_api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        eprintln!(
            "redox-consumer: runs as an AWS Lambda function (AWS_LAMBDA_RUNTIME_API is not set); \
             try it locally with `cargo lambda watch` and `cargo lambda invoke redox-consumer \
             --data-file events/sqs-consumer-inline.json`"
        );
        return ExitCode::from(2);
    };
    // One invocation at a time: a single thread is all Lambda gives it anyway.
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run(runtime_api)),
        Err(error) => {
            eprintln!("redox-consumer: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(runtime_api: String) -> ExitCode {
    let vars: HashMap<String, String> = std::env::vars().collect();
    let settings = match PayloadSettings::from_vars(&vars) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("redox-consumer: configuration error: {error}");
            lambda::report_init_error(&runtime_api, "Runtime.ConfigError", &error).await;
            return ExitCode::from(2);
        }
    };
    telemetry::init(true);
    guard::install_panic_hook();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    tracing::info!(
        payload_bucket = settings.bucket.as_deref().unwrap_or("-"),
        "redox-consumer starting"
    );
    let payloads = Arc::new(PayloadStore::new(PayloadStore::client_from(&sdk), settings));

    // Plug your own processing in here.
    let handler: Arc<dyn MessageHandler> = Arc::new(LogMessage);

    let served = lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let payloads = payloads.clone();
        let handler = handler.clone();
        async move {
            handle_batch(&event.payload, &payloads, handler.as_ref())
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}
