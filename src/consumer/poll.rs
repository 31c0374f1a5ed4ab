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

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata};
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

/// Why polling stopped before the queue was drained: one line naming the
/// queue, what went wrong and what to check (the SDK's raw answer is
/// logged at debug level only).
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("cannot read the queue {queue_url}: {failure}")]
    Receive {
        queue_url: String,
        failure: SqsFailure,
    },
}

/// What an SQS call's failure means to the person running the consumer,
/// with the setting to check. Built by [`SqsFailure::of`] from the SDK's
/// error; never quotes more of AWS's answer than its error code and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqsFailure {
    #[error(
        "SQS has no such queue ({code}); check REDOX_QUEUE_URL (the account id, region and name \
         in it), and AWS_ENDPOINT_URL when you use an emulator"
    )]
    QueueMissing { code: String },
    #[error(
        "access denied ({code}); check that these AWS credentials may {action} on the queue \
         (and use its KMS key, if it has one)"
    )]
    AccessDenied { code: String, action: &'static str },
    #[error(
        "AWS refused the credentials ({code}); check AWS_PROFILE, or AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), and that they have not expired"
    )]
    CredentialsRefused { code: String },
    #[error(
        "no AWS credentials ({cause}); set AWS_PROFILE, or AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY"
    )]
    NoCredentials { cause: String },
    #[error(
        "SQS could not be reached ({cause}); check the queue URL's host, AWS_ENDPOINT_URL if \
         you use an emulator, and the network"
    )]
    Unreachable { cause: String },
    #[error("SQS did not answer within {0:?}; check AWS_ENDPOINT_URL and the network")]
    Timeout(Duration),
    #[error("the answer was not SQS's ({cause}); check AWS_ENDPOINT_URL")]
    Unreadable { cause: String },
    #[error("SQS refused it: {status} {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
}

/// Error codes SQS (and its query-protocol compatibility) gives for a
/// queue that does not exist.
const QUEUE_MISSING_CODES: &[&str] = &[
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
];
const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "KmsAccessDenied",
    "KMS.AccessDeniedException",
];
const CREDENTIALS_REFUSED_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "InvalidAccessKeyId",
    "InvalidSecurity",
    "MissingAuthenticationToken",
    "ExpiredToken",
    "ExpiredTokenException",
];

impl SqsFailure {
    /// What `error`, from the SQS call that does `action` (the IAM action,
    /// for the access-denied hint), means.
    pub fn of<E>(
        error: &aws_sdk_sqs::error::SdkError<E, aws_sdk_sqs::config::http::HttpResponse>,
        action: &'static str,
    ) -> SqsFailure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        use aws_sdk_sqs::error::SdkError;
        match error {
            SdkError::ServiceError(service) => {
                let code = service.err().code().unwrap_or("no error code").to_owned();
                if QUEUE_MISSING_CODES.contains(&code.as_str()) {
                    SqsFailure::QueueMissing { code }
                } else if ACCESS_DENIED_CODES.contains(&code.as_str()) {
                    SqsFailure::AccessDenied { code, action }
                } else if CREDENTIALS_REFUSED_CODES.contains(&code.as_str()) {
                    SqsFailure::CredentialsRefused { code }
                } else {
                    SqsFailure::Refused {
                        status: service.raw().status().as_u16(),
                        code,
                        message: first_line(service.err().message().unwrap_or("no message")),
                    }
                }
            }
            SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_) => {
                match credentials_error(error) {
                    Some(CredentialsError::CredentialsNotLoaded(_)) => SqsFailure::NoCredentials {
                        cause: "none found".to_owned(),
                    },
                    Some(other) => SqsFailure::NoCredentials {
                        cause: first_line(&other.to_string()),
                    },
                    None => SqsFailure::Unreachable {
                        cause: innermost_cause(error),
                    },
                }
            }
            SdkError::TimeoutError(_) => SqsFailure::Unreachable {
                cause: "the SDK's timeout".to_owned(),
            },
            SdkError::ResponseError(_) => SqsFailure::Unreadable {
                cause: innermost_cause(error),
            },
            _ => SqsFailure::Unreachable {
                cause: innermost_cause(error),
            },
        }
    }
}

/// The credentials provider's error, when that is why a call never left.
fn credentials_error<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a CredentialsError> {
    let mut next = error.source();
    while let Some(source) = next {
        if let Some(found) = source.downcast_ref::<CredentialsError>() {
            return Some(found);
        }
        next = source.source();
    }
    None
}

/// The first line of the deepest error in the chain: the one that says
/// what happened ("Connection refused (os error 111)", "dns error: …").
fn innermost_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut deepest: &(dyn std::error::Error + 'static) = error;
    while let Some(source) = deepest.source() {
        deepest = source;
    }
    first_line(&deepest.to_string())
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_owned()
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
    let failure = match tokio::time::timeout(timeout, request).await {
        Ok(Ok(output)) => return Ok(output.messages.unwrap_or_default()),
        Err(_) => SqsFailure::Timeout(timeout),
        Ok(Err(error)) => {
            tracing::debug!(
                queue_url = %settings.queue_url,
                error = %DisplayErrorContext(&error),
                "SQS ReceiveMessage failed"
            );
            SqsFailure::of(&error, "sqs:ReceiveMessage")
        }
    };
    Err(PollError::Receive {
        queue_url: settings.queue_url.clone(),
        failure,
    })
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
            tracing::debug!(
                queue_url = %settings.queue_url,
                error = %DisplayErrorContext(&error),
                "SQS DeleteMessageBatch failed"
            );
            let failure = SqsFailure::of(&error, "sqs:DeleteMessage");
            tracing::warn!(
                queue_url = %settings.queue_url,
                %failure,
                count = by_entry.len(),
                "DeleteMessageBatch failed; these messages will be delivered again"
            );
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

    fn service_error(
        status: u16,
        code: &str,
        message: &str,
    ) -> aws_sdk_sqs::error::SdkError<
        aws_sdk_sqs::operation::receive_message::ReceiveMessageError,
        aws_sdk_sqs::config::http::HttpResponse,
    > {
        let meta = aws_sdk_sqs::error::ErrorMetadata::builder()
            .code(code)
            .message(message)
            .build();
        let raw = aws_sdk_sqs::config::http::HttpResponse::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(status).unwrap(),
            aws_smithy_types::body::SdkBody::from("the raw answer, never quoted"),
        );
        aws_sdk_sqs::error::SdkError::service_error(
            aws_sdk_sqs::operation::receive_message::ReceiveMessageError::generic(meta),
            raw,
        )
    }

    #[test]
    fn service_errors_name_what_to_check_in_one_line() {
        let missing = SqsFailure::of(
            &service_error(
                400,
                "AWS.SimpleQueueService.NonExistentQueue",
                "The specified queue does not exist.",
            ),
            "sqs:ReceiveMessage",
        );
        assert!(
            matches!(missing, SqsFailure::QueueMissing { .. }),
            "{missing:?}"
        );
        let error = PollError::Receive {
            queue_url: "http://127.0.0.1:5000/123456789012/nope".into(),
            failure: missing,
        }
        .to_string();
        assert!(
            error.starts_with(
                "cannot read the queue http://127.0.0.1:5000/123456789012/nope: SQS has no such \
                 queue (AWS.SimpleQueueService.NonExistentQueue); check REDOX_QUEUE_URL"
            ),
            "{error}"
        );
        assert!(
            !error.contains('\n') && !error.contains("raw answer"),
            "{error}"
        );

        let denied = SqsFailure::of(
            &service_error(403, "AccessDenied", "not allowed"),
            "sqs:ReceiveMessage",
        )
        .to_string();
        assert!(
            denied.contains("access denied (AccessDenied)")
                && denied.contains("sqs:ReceiveMessage"),
            "{denied}"
        );
        let refused = SqsFailure::of(
            &service_error(403, "InvalidClientTokenId", "bad key"),
            "sqs:ReceiveMessage",
        )
        .to_string();
        assert!(
            refused.contains("check AWS_PROFILE, or AWS_ACCESS_KEY_ID"),
            "{refused}"
        );
        let other = SqsFailure::of(
            &service_error(400, "InvalidParameterValue", "first line\nsecond line"),
            "sqs:ReceiveMessage",
        );
        assert_eq!(
            other.to_string(),
            "SQS refused it: 400 InvalidParameterValue: first line"
        );
    }

    #[derive(Debug)]
    struct NoCredentialsAnywhere;

    impl aws_credential_types::provider::ProvideCredentials for NoCredentialsAnywhere {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            aws_credential_types::provider::future::ProvideCredentials::ready(Err(
                CredentialsError::not_loaded("no credentials found in chain"),
            ))
        }
    }

    /// A real client against a closed port and one without credentials:
    /// the failures the SDK reports before any answer.
    #[tokio::test]
    async fn failures_before_an_answer_say_which_setting_to_check() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let client = |credentials: bool| {
            let config = aws_sdk_sqs::Config::builder()
                .behavior_version_latest()
                .region(aws_sdk_sqs::config::Region::new("us-east-1"))
                .endpoint_url(format!("http://{closed}"));
            let config = if credentials {
                config.credentials_provider(aws_credential_types::Credentials::new(
                    "testing",
                    "testing",
                    None,
                    None,
                    "unit test",
                ))
            } else {
                // What aws-config's default chain answers on a machine without any.
                config.credentials_provider(NoCredentialsAnywhere)
            };
            aws_sdk_sqs::Client::from_conf(config.build())
        };
        let receive = |client: aws_sdk_sqs::Client| async move {
            client
                .receive_message()
                .queue_url(format!("http://{closed}/123456789012/q"))
                .send()
                .await
                .unwrap_err()
        };

        let unreachable = SqsFailure::of(&receive(client(true)).await, "sqs:ReceiveMessage");
        let SqsFailure::Unreachable { cause } = &unreachable else {
            panic!("{unreachable:?}");
        };
        assert!(cause.contains("Connection refused"), "{cause}");

        let anonymous = SqsFailure::of(&receive(client(false)).await, "sqs:ReceiveMessage");
        assert!(
            matches!(anonymous, SqsFailure::NoCredentials { .. }),
            "{anonymous:?}"
        );
        assert!(
            anonymous.to_string().contains("set AWS_PROFILE"),
            "{anonymous}"
        );
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
