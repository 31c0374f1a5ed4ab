//! `redox-consumer`: reads what the destination queued. Every message is
//! decoded back into the Redox message (base64 bodies, S3-offloaded bodies)
//! and handed to a handler.
//!
//! - **In Lambda** (`AWS_LAMBDA_RUNTIME_API` set) it is an SQS-triggered
//!   function: the answer to each batch lists the records that failed
//!   (`batchItemFailures`).
//! - **Anywhere else** it reads `REDOX_QUEUE_URL` itself, as the event
//!   source mapping would ([`poll`]): batches of up to 10, the messages
//!   that succeeded deleted, failed ones left to come back (and reach the
//!   dead-letter queue). It drains the queue and stops, printing
//!   `received N, decoded N, failed N` on stderr; `--follow` (or
//!   `REDOX_CONSUMER_FOLLOW=1`) keeps polling until Ctrl-C. Exit status: 0
//!   when every message received was handled and deleted, 1 when some were
//!   not (they stay on the queue) or the queue could not be read (one line
//!   naming the queue, why and what to check; the SDK's raw answer only at
//!   `RUST_LOG=debug`), 2 for a configuration error.
//!
//! Your own processing goes where [`LogMessage`] is plugged in below: write
//! a [`MessageHandler`] (its documentation says how to be idempotent on
//! `RedoxLogId`) and pass it instead.
//!
//! Environment: `REDOX_PAYLOAD_BUCKET` (required: S3 pointers are followed
//! into this bucket only) and `REDOX_PAYLOAD_PREFIX` (default `redox/`:
//! only keys the destination writes under it), `REDOX_AWS_TIMEOUT_MS`
//! (bound on one S3 fetch or SQS call, default 5000),
//! `REDOX_DEADLINE_MARGIN_MS` (in Lambda, a batch is answered this long
//! before the invocation deadline, default 500), `REDOX_QUEUE_URL` and
//! `REDOX_CONSUMER_FOLLOW` (outside Lambda), `RUST_LOG`, and the standard
//! AWS SDK variables (`AWS_ENDPOINT_URL` for an emulator).

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use redox_destination::consumer::PayloadStore;
use redox_destination::consumer::batch::{
    LAMBDA_MAX_TIMEOUT, LogMessage, MessageHandler, deadline_margin, handle_batch,
};
use redox_destination::consumer::payload::PayloadSettings;
use redox_destination::consumer::poll::{self, PollSettings, PollSummary};
use redox_destination::front::{guard, lambda};
use redox_destination::telemetry;

const USAGE: &str = "usage: redox-consumer [--follow]\n\
  In AWS Lambda: an SQS-triggered function. Elsewhere: reads REDOX_QUEUE_URL until it is\n\
  drained (--follow or REDOX_CONSUMER_FOLLOW=1: keeps polling until Ctrl-C).";

fn main() -> ExitCode {
    let mut follow = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--follow" => follow = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => {
                eprintln!("redox-consumer: unexpected argument {arg:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    // One batch at a time: a single thread is all Lambda gives it anyway.
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run(std::env::var("AWS_LAMBDA_RUNTIME_API").ok(), follow)),
        Err(error) => {
            eprintln!("redox-consumer: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(runtime_api: Option<String>, follow: bool) -> ExitCode {
    let vars: HashMap<String, String> = std::env::vars().collect();
    let settings = PayloadSettings::from_vars(&vars).and_then(|payload| {
        let margin = deadline_margin(&vars)?;
        let poll = match runtime_api {
            Some(_) => None,
            None => Some(PollSettings::from_vars(&vars, follow, payload.timeout)?),
        };
        Ok((payload, margin, poll))
    });
    let (settings, margin, poll_settings) = match settings {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("redox-consumer: configuration error: {error}");
            if let Some(runtime_api) = &runtime_api {
                lambda::report_init_error(runtime_api, "Runtime.ConfigError", &error).await;
            }
            return ExitCode::from(2);
        }
    };
    telemetry::init(true);
    guard::install_panic_hook();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    if poll_settings.is_some() && sdk.region().is_none() {
        // Lambda always sets one; elsewhere every SQS call would fail on it.
        eprintln!(
            "redox-consumer: configuration error: AWS_REGION: no AWS region is set (nor in the \
             AWS profile); set it to the queue's region"
        );
        return ExitCode::from(2);
    }
    tracing::info!(
        payload_bucket = settings.origin.bucket(),
        payload_prefix = settings.origin.prefix(),
        queue = poll_settings.as_ref().map(|p| p.queue_url.as_str()),
        "redox-consumer starting"
    );
    let payloads = Arc::new(PayloadStore::new(PayloadStore::client_from(&sdk), settings));

    // Plug your own processing in here.
    let handler: Arc<dyn MessageHandler> = Arc::new(LogMessage);

    match poll_settings {
        None => serve_lambda(payloads, handler, margin).await,
        Some(poll_settings) => {
            let sqs = aws_sdk_sqs::Client::new(&sdk);
            read_queue(&sqs, &poll_settings, &payloads, handler.as_ref()).await
        }
    }
}

async fn serve_lambda(
    payloads: Arc<PayloadStore>,
    handler: Arc<dyn MessageHandler>,
    margin: std::time::Duration,
) -> ExitCode {
    let served = lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let payloads = payloads.clone();
        let handler = handler.clone();
        // Answered before Lambda would end the invocation (and hand the
        // whole batch out again, handled records included).
        let deadline = lambda::request_deadline(event.context.deadline, margin, LAMBDA_MAX_TIMEOUT);
        async move {
            handle_batch(&event.payload, &payloads, handler.as_ref(), Some(deadline))
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

async fn read_queue(
    sqs: &aws_sdk_sqs::Client,
    settings: &PollSettings,
    payloads: &PayloadStore,
    handler: &dyn MessageHandler,
) -> ExitCode {
    let mut summary = PollSummary::default();
    let polled = tokio::select! {
        polled = poll::poll(sqs, settings, payloads, handler, &mut summary) => polled,
        _ = tokio::signal::ctrl_c() => Ok(()),
    };
    match polled {
        // One line when the queue could not be read at all: which queue, why,
        // what to check (the SDK's raw answer is at RUST_LOG=debug).
        Err(error) => {
            if summary.received > 0 {
                eprintln!("redox-consumer: {}: {summary}", settings.queue_url);
            }
            eprintln!("redox-consumer: {error}");
            ExitCode::FAILURE
        }
        Ok(()) => {
            eprintln!("redox-consumer: {}: {summary}", settings.queue_url);
            if summary.all_done() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
