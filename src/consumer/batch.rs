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
//! never handled before one queued ahead of it. Across the batches of one
//! run ([`FifoOrder`]: a drain of [`super::poll`]), a group with a failure
//! is blocked for the rest of the run: its later messages are reported
//! failed without being handled, so they are never deleted before it.
//!
//! A batch may have a deadline (in Lambda, the invocation's deadline less
//! `REDOX_DEADLINE_MARGIN_MS`): the record being handled when it comes, and
//! every record not yet started, are reported failed, and the answer goes
//! out before Lambda would end the invocation (which would return the whole
//! batch, handled records included).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use tokio::time::Instant;

use super::{DecodeError, DecodedMessage, PayloadStore, QueueMessage, decode};
use crate::BoxFuture;

/// How long before the invocation deadline a Lambda batch is answered, by
/// default: as for the destination.
pub const DEFAULT_DEADLINE_MARGIN: Duration = Duration::from_millis(500);
/// Lambda's longest function timeout: the bound on a batch whose
/// invocation deadline says nothing (already past, as some emulators send).
pub const LAMBDA_MAX_TIMEOUT: Duration = Duration::from_secs(900);

/// `REDOX_DEADLINE_MARGIN_MS` (0-10000, default 500, as for the
/// destination): how long before the invocation deadline the batch is
/// answered. The error names the variable.
pub fn deadline_margin(vars: &HashMap<String, String>) -> Result<Duration, String> {
    match vars.get("REDOX_DEADLINE_MARGIN_MS").map(|v| v.trim()) {
        None | Some("") => Ok(DEFAULT_DEADLINE_MARGIN),
        Some(text) => match text.parse::<u64>() {
            Ok(ms) if ms <= 10_000 => Ok(Duration::from_millis(ms)),
            _ => Err(format!(
                "REDOX_DEADLINE_MARGIN_MS must be a number of milliseconds from 0 to 10000, not {text:?}"
            )),
        },
    }
}

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
/// The future is dropped, unfinished, if the batch's deadline comes first
/// (the message then counts as failed and comes back), so a handler must
/// leave nothing half-done that a second attempt cannot finish.
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
/// log id or, for an older envelope, Redox's message id, destination id,
/// size, the body's SHA-256, whether it was offloaded). Never the body.
/// Replace it with your own [`MessageHandler`].
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
                redox_message_id = meta.message_id.as_deref().unwrap_or("-"),
                destination_id = meta.destination_id.as_deref().unwrap_or("-"),
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

/// Why one record was not handled; it stays on the queue.
#[derive(Debug, thiserror::Error)]
pub enum RecordFailure {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("the handler failed: {0}")]
    Handler(HandlerError),
    #[error("the handler panicked")]
    HandlerPanicked,
    #[error("not handled: an earlier record of this FIFO batch failed; kept in order")]
    AfterFailureInBatch,
    #[error("not handled: a message of its FIFO group failed earlier in this run; kept in order")]
    GroupBlocked,
    #[error("the batch deadline came while it was being handled")]
    DeadlineReached,
    #[error("not handled: the batch deadline had passed")]
    DeadlinePassed,
}

/// Decodes and handles every record of `event` by `deadline`; the answer
/// lists the records that failed.
pub async fn handle_batch(
    event: &SqsEvent,
    payloads: &PayloadStore,
    handler: &dyn MessageHandler,
    deadline: Option<Instant>,
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
            group: record.attributes.get("MessageGroupId").cloned(),
            message: QueueMessage::from_lambda_record(record),
        })
        .collect();
    // One invocation is one run: Lambda itself holds a FIFO group back
    // while a message of it is in flight.
    let mut order = FifoOrder::default();
    let mut response = SqsBatchResponse::default();
    for message_id in handle_records(&records, payloads, handler, &mut order, deadline).await? {
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
    /// Its `MessageGroupId` (FIFO queues).
    pub group: Option<String>,
    /// `None` when the record has no body.
    pub message: Option<QueueMessage>,
}

/// The FIFO groups that had a failure in this run: their later messages
/// wait (are not handled, not deleted) until a later run, so a message is
/// never processed before one queued ahead of it in its group.
#[derive(Debug, Default)]
pub struct FifoOrder {
    blocked: HashSet<String>,
    /// A failed FIFO record without a group id: every group waits.
    all_blocked: bool,
}

impl FifoOrder {
    fn blocks(&self, record: &BatchRecord) -> bool {
        record.fifo
            && (self.all_blocked
                || record
                    .group
                    .as_ref()
                    .is_some_and(|group| self.blocked.contains(group)))
    }

    /// `record` stays on the queue: the rest of its group waits behind it.
    pub fn block(&mut self, record: &BatchRecord) {
        if !record.fifo {
            return;
        }
        match &record.group {
            Some(group) => {
                self.blocked.insert(group.clone());
            }
            None => self.all_blocked = true,
        }
    }
}

/// Decodes and handles every record, in order, by `deadline`; returns the
/// ids of those that failed (decoding, the handler, FIFO order or the
/// deadline), in order. `order` carries the FIFO groups blocked by earlier
/// batches of the run, and gains those this batch blocks.
///
/// Boxed: the S3 fetch nests the SDK's futures too deep for the callers'
/// own async bodies.
pub fn handle_records<'a>(
    records: &'a [BatchRecord],
    payloads: &'a PayloadStore,
    handler: &'a dyn MessageHandler,
    order: &'a mut FifoOrder,
    deadline: Option<Instant>,
) -> BoxFuture<'a, Result<Vec<String>, BatchError>> {
    Box::pin(handle_each(records, payloads, handler, order, deadline))
}

async fn handle_each(
    records: &[BatchRecord],
    payloads: &PayloadStore,
    handler: &dyn MessageHandler,
    order: &mut FifoOrder,
    deadline: Option<Instant>,
) -> Result<Vec<String>, BatchError> {
    let mut failed = Vec::new();
    let mut fifo_failed_in_batch = false;
    for (index, record) in records.iter().enumerate() {
        let outcome = if order.blocks(record) {
            Err(RecordFailure::GroupBlocked)
        } else if record.fifo && fifo_failed_in_batch {
            Err(RecordFailure::AfterFailureInBatch)
        } else if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            Err(RecordFailure::DeadlinePassed)
        } else {
            let attempt = handle_record(record.message.as_ref(), payloads, handler);
            let outcome = match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, attempt)
                    .await
                    .unwrap_or(Err(RecordFailure::DeadlineReached)),
                None => attempt.await,
            };
            fifo_failed_in_batch |= record.fifo && outcome.is_err();
            outcome
        };
        if let Err(failure) = outcome {
            tracing::warn!(message_id = %record.message_id, reason = %failure, "record not processed; left on the queue for a retry");
            if record.message_id.is_empty() {
                return Err(BatchError::FailedRecordWithoutId { index });
            }
            order.block(record);
            failed.push(record.message_id.clone());
        }
    }
    Ok(failed)
}

async fn handle_record(
    message: Option<&QueueMessage>,
    payloads: &PayloadStore,
    handler: &dyn MessageHandler,
) -> Result<(), RecordFailure> {
    let message = message.ok_or(DecodeError::MissingBody)?;
    let decoded = decode(message, payloads).await?;
    // A panicking handler fails its record, not the whole batch.
    match crate::front::guard::catch_panic(handler.handle(&decoded)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(RecordFailure::Handler(error)),
        Err(_) => Err(RecordFailure::HandlerPanicked),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Records the log id of every message it is handed, in order; fails
    /// those in `fail` and never finishes those in `hang`.
    #[derive(Default)]
    struct Recorder {
        handled: Mutex<Vec<String>>,
        fail: Vec<&'static str>,
        hang: Vec<&'static str>,
    }

    impl MessageHandler for Recorder {
        fn handle<'a>(
            &'a self,
            message: &'a DecodedMessage,
        ) -> BoxFuture<'a, Result<(), HandlerError>> {
            Box::pin(async move {
                let id = message.body_text();
                self.handled.lock().unwrap().push(id.clone());
                if self.hang.contains(&id.as_str()) {
                    std::future::pending::<()>().await;
                }
                if self.fail.contains(&id.as_str()) {
                    return Err("refused by the test".into());
                }
                Ok(())
            })
        }
    }

    impl DecodedMessage {
        fn body_text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }
    }

    impl Recorder {
        fn handled(&self) -> Vec<String> {
            self.handled.lock().unwrap().clone()
        }
    }

    /// A record whose body (and id) is `id`, in `group` when it is FIFO.
    fn record(id: &str, group: Option<&str>) -> BatchRecord {
        BatchRecord {
            message_id: id.into(),
            fifo: group.is_some(),
            group: group.map(str::to_owned),
            message: Some(QueueMessage {
                message_id: id.into(),
                body: id.into(),
                attributes: Default::default(),
            }),
        }
    }

    async fn run(
        records: &[BatchRecord],
        handler: &Recorder,
        order: &mut FifoOrder,
        deadline: Option<Instant>,
    ) -> Vec<String> {
        handle_records(
            records,
            &crate::consumer::tests::inline_only(),
            handler,
            order,
            deadline,
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_fifo_group_with_a_failure_in_the_run_waits_in_later_batches() {
        let handler = Recorder {
            fail: vec!["g1"],
            ..Default::default()
        };
        let mut order = FifoOrder::default();
        let first = [record("h1", Some("h")), record("g1", Some("g"))];
        assert_eq!(run(&first, &handler, &mut order, None).await, ["g1"]);
        // g1 is back, with the next of its group: g2 must not overtake it;
        // group h goes on.
        let second = [record("g2", Some("g")), record("h2", Some("h"))];
        assert_eq!(run(&second, &handler, &mut order, None).await, ["g2"]);
        assert_eq!(handler.handled(), ["h1", "g1", "h2"]);
        // And so on for the rest of the run.
        let third = [record("g3", Some("g"))];
        assert_eq!(run(&third, &handler, &mut order, None).await, ["g3"]);
        assert_eq!(handler.handled(), ["h1", "g1", "h2"]);
    }

    #[tokio::test]
    async fn within_a_fifo_batch_everything_after_a_failure_waits_and_its_groups_too() {
        let handler = Recorder {
            fail: vec!["g1"],
            ..Default::default()
        };
        let mut order = FifoOrder::default();
        let batch = [
            record("g1", Some("g")),
            record("h1", Some("h")),
            record("g2", Some("g")),
        ];
        assert_eq!(
            run(&batch, &handler, &mut order, None).await,
            ["g1", "h1", "g2"]
        );
        assert_eq!(handler.handled(), ["g1"]);
        // h1 stayed on the queue: h2 waits behind it.
        let next = [record("h2", Some("h")), record("k1", Some("k"))];
        assert_eq!(run(&next, &handler, &mut order, None).await, ["h2"]);
        assert_eq!(handler.handled(), ["g1", "k1"]);
    }

    #[tokio::test]
    async fn a_standard_queue_goes_on_after_a_failure() {
        let handler = Recorder {
            fail: vec!["a"],
            ..Default::default()
        };
        let mut order = FifoOrder::default();
        let batch = [record("a", None), record("b", None)];
        assert_eq!(run(&batch, &handler, &mut order, None).await, ["a"]);
        assert_eq!(
            run(&[record("c", None)], &handler, &mut order, None).await,
            Vec::<String>::new()
        );
        assert_eq!(handler.handled(), ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn a_fifo_record_without_a_group_blocks_every_group() {
        let handler = Recorder {
            fail: vec!["x"],
            ..Default::default()
        };
        let mut order = FifoOrder::default();
        let mut lost = record("x", Some("-"));
        lost.group = None;
        assert_eq!(run(&[lost], &handler, &mut order, None).await, ["x"]);
        assert_eq!(
            run(&[record("g1", Some("g"))], &handler, &mut order, None).await,
            ["g1"]
        );
        assert_eq!(handler.handled(), ["x"]);
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_deadline_the_unfinished_records_are_reported_failed() {
        for fifo in [None, Some("g")] {
            let handler = Recorder {
                hang: vec!["slow"],
                ..Default::default()
            };
            let batch = [
                record("first", fifo),
                record("slow", fifo),
                record("after", fifo),
            ];
            let started = Instant::now();
            let deadline = started + Duration::from_secs(4);
            let failed = run(&batch, &handler, &mut FifoOrder::default(), Some(deadline)).await;
            assert_eq!(failed, ["slow", "after"], "{fifo:?}");
            assert_eq!(handler.handled(), ["first", "slow"], "{fifo:?}");
            // Answered at the deadline (virtual time), not later.
            assert_eq!(started.elapsed(), Duration::from_secs(4), "{fifo:?}");
        }
    }

    #[tokio::test]
    async fn a_deadline_already_past_starts_nothing() {
        let handler = Recorder::default();
        let batch = [record("a", None), record("b", Some("g"))];
        let failed = run(
            &batch,
            &handler,
            &mut FifoOrder::default(),
            Some(Instant::now()),
        )
        .await;
        assert_eq!(failed, ["a", "b"]);
        assert!(handler.handled().is_empty());
    }

    #[test]
    fn the_margin_defaults_to_the_destinations_and_names_its_variable() {
        let vars = |value: &str| {
            [("REDOX_DEADLINE_MARGIN_MS".to_owned(), value.to_owned())]
                .into_iter()
                .collect::<HashMap<_, _>>()
        };
        assert_eq!(
            deadline_margin(&HashMap::new()),
            Ok(DEFAULT_DEADLINE_MARGIN)
        );
        assert_eq!(deadline_margin(&vars("")), Ok(DEFAULT_DEADLINE_MARGIN));
        assert_eq!(deadline_margin(&vars("0")), Ok(Duration::ZERO));
        assert_eq!(
            deadline_margin(&vars("1500")),
            Ok(Duration::from_millis(1500))
        );
        for bad in ["-1", "soon", "10001", "1.5"] {
            let error = deadline_margin(&vars(bad)).unwrap_err();
            assert!(error.starts_with("REDOX_DEADLINE_MARGIN_MS"), "{error}");
        }
    }
}
