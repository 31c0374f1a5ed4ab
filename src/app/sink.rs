//! Where accepted messages go: SQS (with S3 for large bodies), or the
//! local spool when no queue is configured outside Lambda.

use std::sync::Arc;

use super::aws::{s3_client, sqs_client};
use super::{StartupError, setting};
use crate::config::Config;
use crate::sink::Sink;
use crate::sink::spool::SpoolSink;
use crate::sink::sqs::{S3Offload, SqsSink};

pub(super) fn start(
    config: &Config,
    sdk_config: Option<&aws_config::SdkConfig>,
) -> Result<Arc<dyn Sink>, StartupError> {
    Ok(match (&config.queue_url, sdk_config) {
        (Some(queue_url), Some(sdk)) => Arc::new(SqsSink::new(
            sqs_client(sdk, config),
            queue_url.clone(),
            config.fifo_group.clone(),
            config.aws_timeout,
            config.payload_bucket.as_ref().map(|bucket| S3Offload {
                client: s3_client(sdk, config),
                bucket: bucket.clone(),
                prefix: config.payload_prefix.clone(),
                threshold: config.offload_threshold,
                always: config.offload_all,
            }),
        )),
        // A spool on a Lambda's or a container's disk is lost with it.
        _ if (config.lambda || config.server.behind_alb) && !config.spool_dir_set => {
            return Err(setting(
                "REDOX_QUEUE_URL",
                "required in Lambda and behind a load balancer (REDOX_BEHIND_ALB): the SQS queue \
                 that accepted messages go to",
            ));
        }
        _ => Arc::new(SpoolSink::open(config.spool_dir.clone()).map_err(|e| {
            setting(
                "REDOX_SPOOL_DIR",
                format!("{}: {e}", config.spool_dir.display()),
            )
        })?),
    })
}
