//! Reading the queue from anywhere but Lambda: `redox-consumer` run on your
//! machine (or any host) receives from the queue itself, the way Lambda's
//! event source mapping would for the Lambda function.
//!
//! Each ReceiveMessage (up to 10 messages, all message attributes, a short
//! long-poll) is one batch: every message is turned into a
//! [`QueueMessage`], the batch goes through the same
//! [`handle_records`] and the same [`MessageHandler`] as a Lambda batch,
//! and exactly the messages that succeeded are deleted (DeleteMessageBatch).
//! A failed one is left alone: it becomes visible again after the queue's
//! visibility timeout and, after `maxReceiveCount` receives, moves to the
//! dead-letter queue, as with the Lambda.
//!
//! By default [`poll`] drains: it stops once a receive brings nothing new.
//! Each message is tried once per drain; a message that failed and comes
//! back during the same drain is left for the next one. On a FIFO queue its
//! group is then blocked for the rest of the drain ([`FifoOrder`]): the
//! group's later messages are neither handled nor deleted (they count as
//! failed), so the next run handles them after it, in order. With
//! [`PollSettings::follow`] it keeps polling (long polls of 20 s), retrying
//! failed messages as they come back, until it is stopped; there SQS holds
//! a FIFO group back while its failed message is in flight, as for Lambda.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};

use super::batch::{BatchRecord, FifoOrder, MessageHandler, handle_records};
use super::{PayloadStore, QueueMessage};

/// The most messages one ReceiveMessage returns (an SQS limit), which is
/// also the Lambda event source mapping's default batch size.
pub const BATCH_SIZE: i32 = 10;
/// Long-poll wait while draining: long enough that an empty answer means
/// an empty queue (a long poll asks every SQS server), short enough to end
/// promptly.
pub const DRAIN_WAIT: Duration = Duration::from_secs(1);
/// Long-poll wait while following: the SQS maximum.
pub const FOLLOW_WAIT: Duration = Duration::from_secs(20);
/// Pause before receiving again after a failed receive, while following.
pub const RETRY_PAUSE: Duration = Duration::from_secs(5);

/// Where and how to poll, from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollSettings {
    /// `REDOX_QUEUE_URL`: the queue the destination writes to.
    pub queue_url: String,
    /// `REDOX_CONSUMER_FOLLOW` (or `--follow`): keep polling instead of
    /// stopping once the queue is drained.
    pub follow: bool,
    /// `REDOX_AWS_TIMEOUT_MS`: bound on one SQS call, added to the
    /// long-poll wait for a receive.
    pub timeout: Duration,
}

impl PollSettings {
    /// Reads the settings; `follow` is the command line's `--follow`. The
    /// error names the variable that is wrong.
    pub fn from_vars(
        vars: &HashMap<String, String>,
        follow: bool,
        timeout: Duration,
    ) -> Result<Self, String> {
        let queue_url = vars
            .get("REDOX_QUEUE_URL")
            .map(|url| url.trim().to_owned())
            .filter(|url| !url.is_empty())
            .ok_or(
                "REDOX_QUEUE_URL must name the queue to read (outside Lambda, redox-consumer \
                 receives from it itself; in Lambda, AWS_LAMBDA_RUNTIME_API is set)",
            )?;
        let follow_var = match vars.get("REDOX_CONSUMER_FOLLOW").map(|v| v.trim()) {
            None | Some("" | "0" | "false") => false,
            Some("1" | "true") => true,
            Some(other) => {
                return Err(format!(
                    "REDOX_CONSUMER_FOLLOW must be 1, true, 0 or false, not {other:?}"
                ));
            }
        };
        Ok(PollSettings {
            queue_url,
            follow: follow || follow_var,
            timeout,
        })
    }

    fn wait(&self) -> Duration {
        if self.follow { FOLLOW_WAIT } else { DRAIN_WAIT }
    }

    fn fifo(&self) -> bool {
        self.queue_url.ends_with(".fifo")
    }
}

/// What one run did, counted in messages.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PollSummary {
    /// Messages received and handed to the batch (each once per drain).
    pub received: u64,
    /// Decoded and handled: deleted from the queue, unless counted in
    /// `not_deleted`.
    pub decoded: u64,
    /// Not decoded, or the handler failed: left on the queue.
    pub failed: u64,
    /// Handled, but the delete failed: SQS will deliver them again (the
    /// handler is idempotent on `RedoxLogId`).
    pub not_deleted: u64,
}

impl PollSummary {
    /// Every message received was handled and deleted.
    pub fn all_done(&self) -> bool {
        self.failed == 0 && self.not_deleted == 0
    }
}

impl fmt::Display for PollSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "received {}, decoded {}, failed {}",
            self.received, self.decoded, self.failed
        )?;
        if self.not_deleted > 0 {
            write!(f, ", handled but not deleted {}", self.not_deleted)?;
        }
        Ok(())
    }
}

/// Why polling stopped before the queue was drained.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("SQS ReceiveMessage on {queue_url} failed: {detail}")]
    Receive { queue_url: String, detail: String },
    #[error("SQS ReceiveMessage on {queue_url} did not answer within {timeout:?}")]
    ReceiveTimeout {
        queue_url: String,
        timeout: Duration,
    },
}

/// Receives, handles and deletes until the queue is drained (or, with
/// `follow`, until the future is dropped: counts are kept in `summary` as
/// they happen, so it is right whenever polling stops).
pub async fn poll(
    sqs: &aws_sdk_sqs::Client,
    settings: &PollSettings,
    payloads: &PayloadStore,
    handler: &dyn MessageHandler,
    summary: &mut PollSummary,
) -> Result<(), PollError> {
    // Messages that failed during this drain: not tried again by it, and
    // on a FIFO queue their groups wait for the next run.
    let mut failed_here: HashSet<String> = HashSet::new();
    let mut drain_order = FifoOrder::default();
    loop {
        let messages = match receive(sqs, settings).await {
            Ok(messages) => messages,
            Err(error) if settings.follow => {
                tracing::warn!(%error, "receive failed; trying again");
                tokio::time::sleep(RETRY_PAUSE).await;
                continue;
            }
            Err(error) => return Err(error),
        };
        let batch: Vec<Message> = if settings.follow {
            messages
        } else {
            messages
                .into_iter()
                .filter(|m| !failed_here.contains(m.message_id().unwrap_or_default()))
                .collect()
        };
        if batch.is_empty() {
            if settings.follow {
                continue;
            }
            return Ok(());
        }
        if settings.follow {
            // Every batch on its own, as in Lambda: a failed message comes
            // back first of its group.
            let mut order = FifoOrder::default();
            handle_received(
                sqs, settings, payloads, handler, &batch, &mut order, summary,
            )
            .await;
        } else {
            let failed = handle_received(
                sqs,
                settings,
                payloads,
                handler,
                &batch,
                &mut drain_order,
                summary,
            )
            .await;
            failed_here.extend(failed);
        }
    }
}

async fn receive(
    sqs: &aws_sdk_sqs::Client,
    settings: &PollSettings,
) -> Result<Vec<Message>, PollError> {
    let wait = settings.wait();
    let request = sqs
        .receive_message()
        .queue_url(&settings.queue_url)
        .max_number_of_messages(BATCH_SIZE)
        .wait_time_seconds(i32::try_from(wait.as_secs()).unwrap_or(20))
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send();
    let timeout = wait + settings.timeout;
    match tokio::time::timeout(timeout, request).await {
        Err(_) => Err(PollError::ReceiveTimeout {
            queue_url: settings.queue_url.clone(),
            timeout,
        }),
        Ok(Err(error)) => Err(PollError::Receive {
            queue_url: settings.queue_url.clone(),
            detail: DisplayErrorContext(&error).to_string(),
        }),
        Ok(Ok(output)) => Ok(output.messages.unwrap_or_default()),
    }
}

/// One received batch through the handler, FIFO groups blocked by
/// `order`; deletes what succeeded and returns the ids of the messages
/// that failed.
async fn handle_received(
    sqs: &aws_sdk_sqs::Client,
    settings: &PollSettings,
    payloads: &PayloadStore,
    handler: &dyn MessageHandler,
    batch: &[Message],
    order: &mut FifoOrder,
    summary: &mut PollSummary,
) -> Vec<String> {
    let records: Vec<BatchRecord> = batch
        .iter()
        .map(|message| BatchRecord {
            message_id: message.message_id().unwrap_or_default().to_owned(),
            fifo: settings.fifo(),
            group: message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                .cloned(),
            message: message
                .body
                .is_some()
                .then(|| QueueMessage::from_sdk(message)),
        })
        .collect();
    summary.received += records.len() as u64;
    let handled = handle_records(&records, payloads, handler, order, None).await;
    let failed: HashSet<String> = match handled {
        Ok(failed) => failed.into_iter().collect(),
        Err(error) => {
            // As in Lambda, the whole batch is retried.
            tracing::warn!(%error, "batch not processed; every message stays on the queue");
            summary.failed += records.len() as u64;
            for record in &records {
                order.block(record);
            }
            return records.into_iter().map(|r| r.message_id).collect();
        }
    };
    summary.failed += failed.len() as u64;
    let done: Vec<&Message> = batch
        .iter()
        .filter(|m| !failed.contains(m.message_id().unwrap_or_default()))
        .collect();
    summary.decoded += done.len() as u64;
    summary.not_deleted += delete(sqs, settings, &done).await;
    failed.into_iter().collect()
}

/// Deletes `messages` in one DeleteMessageBatch; returns how many were
/// not deleted (each logged by message id).
async fn delete(sqs: &aws_sdk_sqs::Client, settings: &PollSettings, messages: &[&Message]) -> u64 {
    let id = |m: &Message| m.message_id().unwrap_or_default().to_owned();
    let mut entries = Vec::new();
    let mut by_entry = HashMap::new();
    let mut not_deleted = 0;
    for (index, message) in messages.iter().enumerate() {
        let entry = DeleteMessageBatchRequestEntry::builder()
            .id(index.to_string())
            .set_receipt_handle(message.receipt_handle.clone())
            .build();
        match entry {
            Ok(entry) => {
                by_entry.insert(index.to_string(), id(message));
                entries.push(entry);
            }
            Err(_) => {
                tracing::warn!(message_id = %id(message), "handled but not deleted: no receipt handle");
                not_deleted += 1;
            }
        }
    }
    if entries.is_empty() {
        return not_deleted;
    }
    let request = sqs
        .delete_message_batch()
        .queue_url(&settings.queue_url)
        .set_entries(Some(entries))
        .send();
    match tokio::time::timeout(settings.timeout, request).await {
        Ok(Ok(output)) => {
            for failure in output.failed() {
                let message_id = by_entry.get(failure.id()).map_or("-", String::as_str);
                tracing::warn!(
                    message_id,
                    code = failure.code(),
                    "handled but not deleted; SQS will deliver it again"
                );
                not_deleted += 1;
            }
        }
        Ok(Err(error)) => {
            tracing::warn!(error = %DisplayErrorContext(&error), count = by_entry.len(), "DeleteMessageBatch failed; these messages will be delivered again");
            not_deleted += by_entry.len() as u64;
        }
        Err(_) => {
            tracing::warn!(timeout = ?settings.timeout, count = by_entry.len(), "DeleteMessageBatch did not answer; these messages may be delivered again");
            not_deleted += by_entry.len() as u64;
        }
    }
    not_deleted
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)], follow: bool) -> Result<PollSettings, String> {
        let vars = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        PollSettings::from_vars(&vars, follow, Duration::from_secs(5))
    }

    #[test]
    fn the_queue_is_required_and_follow_comes_from_the_flag_or_the_variable() {
        let error = settings(&[], false).unwrap_err();
        assert!(error.starts_with("REDOX_QUEUE_URL"), "{error}");
        assert!(settings(&[("REDOX_QUEUE_URL", " ")], false).is_err());

        let queue = ("REDOX_QUEUE_URL", "http://127.0.0.1:5000/123456789012/q");
        let drain = settings(&[queue], false).unwrap();
        assert_eq!(drain.queue_url, queue.1);
        assert!(!drain.follow);
        assert_eq!(drain.wait(), DRAIN_WAIT);
        assert!(settings(&[queue], true).unwrap().follow);
        for (value, follow) in [("1", true), ("true", true), ("0", false), ("", false)] {
            let read = settings(&[queue, ("REDOX_CONSUMER_FOLLOW", value)], false).unwrap();
            assert_eq!(read.follow, follow, "{value:?}");
        }
        let error = settings(&[queue, ("REDOX_CONSUMER_FOLLOW", "yes please")], false).unwrap_err();
        assert!(error.starts_with("REDOX_CONSUMER_FOLLOW"), "{error}");
        assert_eq!(settings(&[queue], true).unwrap().wait(), FOLLOW_WAIT);
    }

    #[test]
    fn the_summary_reads_as_one_line() {
        let mut summary = PollSummary {
            received: 5,
            decoded: 4,
            failed: 1,
            not_deleted: 0,
        };
        assert_eq!(summary.to_string(), "received 5, decoded 4, failed 1");
        assert!(!summary.all_done());
        summary.not_deleted = 2;
        assert_eq!(
            summary.to_string(),
            "received 5, decoded 4, failed 1, handled but not deleted 2"
        );
        assert!(PollSummary::default().all_done());
    }
}
