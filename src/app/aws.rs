//! The AWS clients, built once at start-up: each with its own timeouts and
//! retries.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

use crate::config::Config;

/// Loads the AWS SDK configuration: region, credentials and endpoint from
/// the standard environment (`AWS_REGION`, `AWS_ENDPOINT_URL`, …). Each
/// client then gets its own timeouts and retries (`sqs_client` and friends, below).
pub async fn aws_sdk_config(config: &Config) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(aws_timeouts(config))
        .load()
        .await
}

/// One bound per AWS call (`REDOX_AWS_TIMEOUT_MS`) and no per-attempt
/// timeout: an attempt abandoned while it is slow but succeeding would be
/// sent again, and a SendMessage sent twice is a duplicate message.
fn aws_timeouts(config: &Config) -> TimeoutConfig {
    TimeoutConfig::builder()
        .operation_timeout(config.aws_timeout)
        .connect_timeout(config.aws_timeout.min(Duration::from_secs(2)))
        .build()
}

/// Secrets Manager and S3 calls are idempotent (a read; a put of the same
/// bytes to the same key), so the SDK may retry them once.
fn idempotent_retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(2)
}

/// The SQS client retries nothing itself: [`crate::sink::sqs::SqsSink`] decides, because only
/// it knows whether a failed SendMessage may have been stored.
pub(super) fn sqs_client(sdk: &aws_config::SdkConfig, config: &Config) -> aws_sdk_sqs::Client {
    let sqs = aws_sdk_sqs::config::Builder::from(sdk)
        .timeout_config(aws_timeouts(config))
        .retry_config(RetryConfig::disabled())
        .interceptor(crate::sink::sqs_body::FastBodyInterceptor::new())
        .build();
    aws_sdk_sqs::Client::from_conf(sqs)
}

/// The S3 client; path-style addressing when an endpoint is overridden,
/// because emulators have no bucket subdomains.
pub(super) fn s3_client(sdk: &aws_config::SdkConfig, config: &Config) -> aws_sdk_s3::Client {
    let s3 = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .timeout_config(aws_timeouts(config))
        .retry_config(idempotent_retries())
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

pub(super) fn secrets_client(
    sdk: &aws_config::SdkConfig,
    config: &Config,
) -> aws_sdk_secretsmanager::Client {
    let secrets = aws_sdk_secretsmanager::config::Builder::from(sdk)
        .timeout_config(aws_timeouts(config))
        .retry_config(idempotent_retries())
        .build();
    aws_sdk_secretsmanager::Client::from_conf(secrets)
}
