//! One Lambda SQS batch: decode every record, hand each to a
//! [`MessageHandler`], and answer with partial batch failures.
//!
//! The answer lists exactly the records that failed (decoding, or the
//! handler), so Lambda deletes the others and only those come back, until
//! the queue's `maxReceiveCount` moves them to the dead-letter queue. This
//! needs `FunctionResponseTypes: [ReportBatchItemFailures]` on the event
//! source mapping (`template.yaml` sets it).
//!
//! On a FIFO queue, order matters: after the first failure, every later
//! record of the batch is reported failed without being processed, as
//! AWS's guidance for FIFO partial batch responses asks, so a message is
//! never handled before one queued ahead of it.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};

use super::{DecodedMessage, PayloadStore, QueueMessage, decode};
use crate::BoxFuture;

/// What a handler's failure carries; its text is logged, so it must not
/// quote the body.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// Where a team plugs in its own processing: one decoded Redox message at a
/// time.
///
/// Return `Ok` only once the message is safely processed (written to your
/// database, forwarded, …): Lambda then deletes it from the queue. Return
/// `Err` and the message comes back after the queue's visibility timeout,
/// up to `maxReceiveCount` times, then goes to the dead-letter queue.
///
/// **Be idempotent.** Delivery is at-least-once: Redox retries a push whose
/// answer it did not get, and SQS may deliver a message twice. Key your
/// writes on [`DecodedMessage::idempotency_key`] (Redox's `RedoxLogId`,
/// the same on every retry of one message), for example:
///
/// - a conditional write that records the key and fails if it exists
///   (DynamoDB `PutItem` with `attribute_not_exists(pk)`, SQL `INSERT …
///   ON CONFLICT DO NOTHING`) in the same transaction as the processing
///   itself, or before it with a status you update afterwards;
/// - skip (return `Ok`) when the key is already recorded as done.
///
/// FIFO de-duplication only covers five minutes; Redox may retry later,
/// so keep your own record of keys for at least as long as Redox retries.
pub trait MessageHandler: Send + Sync {
    fn handle<'a>(&'a self, message: &'a DecodedMessage)
    -> BoxFuture<'a, Result<(), HandlerError>>;
}

/// The example handler: one log line per message (data model, event type,
/// log id, size, the body's SHA-256, whether it was offloaded). Never the
/// body. Replace it with your own [`MessageHandler`].
pub struct LogMessage;

impl MessageHandler for LogMessage {
    fn handle<'a>(
        &'a self,
        message: &'a DecodedMessage,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let meta = &message.attributes.meta;
            tracing::info!(
                message_id = %message.message_id,
                data_model = meta.data_model.as_deref().unwrap_or("-"),
                event_type = meta.event_type.as_deref().unwrap_or("-"),
                log_id = meta.log_id.as_deref().unwrap_or("-"),
                test = meta.test,
                size = message.body.len(),
                sha256 = %message.body_sha256(),
                offloaded = message.offloaded_from.is_some(),
                "redox message"
            );
            Ok(())
        })
    }
}

/// Why a whole batch is failed rather than answered record by record.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Lambda cannot retry one record without its id; failing the whole
    /// invocation makes it retry the whole batch, which is safe because
    /// handlers are idempotent.
    #[error("record {index} of the batch failed and has no messageId to report")]
    FailedRecordWithoutId { index: usize },
}

/// Decodes and handles every record of `event`; the answer lists the
/// records that failed.
pub async fn handle_batch(
    event: &SqsEvent,
    payloads: &PayloadStore,
    handler: &dyn MessageHandler,
) -> Result<SqsBatchResponse, BatchError> {
    let records: Vec<BatchRecord> = event
        .records
        .iter()
        .map(|record| BatchRecord {
            message_id: record.message_id.clone().unwrap_or_default(),
            fifo: record
                .event_source_arn
                .as_deref()
                .is_some_and(|arn| arn.ends_with(".fifo")),
            message: QueueMessage::from_lambda_record(record),
        })
        .collect();
    let mut response = SqsBatchResponse::default();
    for message_id in handle_records(&records, payloads, handler).await? {
        response.add_failure(message_id);
    }
    Ok(response)
}

/// One record of a batch, however it arrived: a Lambda SQS event record
/// or a message from ReceiveMessage ([`super::poll`]).
#[derive(Debug, Clone)]
pub struct BatchRecord {
    pub message_id: String,
    /// From a FIFO queue: after a failure, later records are not processed.
    pub fifo: bool,
    /// `None` when the record has no body.
    pub message: Option<QueueMessage>,
}

/// Decodes and handles every record, in order; returns the ids of those
/// that failed (decoding or the handler), in order.
///
/// Boxed: the S3 fetch nests the SDK's futures too deep for the callers'
/// own async bodies.
pub fn handle_records<'a>(
    records: &'a [BatchRecord],
    payloads: &'a PayloadStore,
    handler: &'a dyn MessageHandler,
) -> BoxFuture<'a, Result<Vec<String>, BatchError>> {
    Box::pin(handle_each(records, payloads, handler))
}

async fn handle_each(
    records: &[BatchRecord],
    payloads: &PayloadStore,
    handler: &dyn MessageHandler,
) -> Result<Vec<String>, BatchError> {
    let mut failed = Vec::new();
    let mut fifo_blocked = false;
    for (index, record) in records.iter().enumerate() {
        let outcome = if record.fifo && fifo_blocked {
            Err("an earlier record of this FIFO batch failed; kept in order".to_owned())
        } else {
            handle_record(record.message.as_ref(), payloads, handler).await
        };
        if let Err(reason) = outcome {
            tracing::warn!(message_id = %record.message_id, reason = %reason, "record not processed; left on the queue for a retry");
            if record.message_id.is_empty() {
                return Err(BatchError::FailedRecordWithoutId { index });
            }
            fifo_blocked |= record.fifo;
            failed.push(record.message_id.clone());
        }
    }
    Ok(failed)
}

async fn handle_record(
    message: Option<&QueueMessage>,
    payloads: &PayloadStore,
    handler: &dyn MessageHandler,
) -> Result<(), String> {
    let message = message.ok_or_else(|| super::DecodeError::MissingBody.to_string())?;
    let decoded = decode(message, payloads).await.map_err(|e| e.to_string())?;
    // A panicking handler fails its record, not the whole batch.
    match crate::front::guard::catch_panic(handler.handle(&decoded)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(format!("the handler failed: {error}")),
        Err(_) => Err("the handler panicked".to_owned()),
    }
}
