//! Start-up: turns a [`Config`] into a ready [`Destination`].
//!
//! One file per concern, in the order start-up takes them: the AWS clients
//! (`aws.rs`, built once, only when a queue or secret is configured), the
//! auth material and its first fetch during init (`material.rs`), the auth
//! methods and what each needs beyond the material (`methods.rs`, with
//! `jwt.rs` and `google.rs`), and where messages go (`sink.rs`). This file
//! puts them together and describes the result for the start-up banner.
//! Every failure is a [`StartupError`] naming the variable to fix.

mod aws;
mod google;
mod jwt;
mod material;
mod methods;
mod sink;

use crate::auth::{AuthMethod, AuthPolicy, Authenticator};
use crate::config::{Config, ConfigError};
use crate::destination::Destination;

pub use aws::aws_sdk_config;
pub use material::generate_token;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{variable}: {problem}")]
    Setting {
        variable: &'static str,
        problem: String,
    },
}

fn setting(variable: &'static str, problem: impl Into<String>) -> StartupError {
    StartupError::Setting {
        variable,
        problem: problem.into(),
    }
}

/// What the start-up banner tells the user.
#[derive(Debug, Clone)]
pub struct StartupReport {
    pub material: String,
    pub sink: String,
    pub methods: Vec<AuthMethod>,
    /// A token made up because no material was configured (local only).
    pub generated_token: Option<String>,
}

/// Builds the destination the configuration describes, loading the AWS
/// SDK configuration from the environment when a queue or secret needs it.
pub async fn build(config: &Config) -> Result<(Destination, StartupReport), StartupError> {
    let needs_aws = config.secret_id.is_some() || config.queue_url.is_some();
    let sdk_config = if needs_aws {
        Some(aws_sdk_config(config).await)
    } else {
        None
    };
    build_with_sdk(config, sdk_config).await
}

/// Builds the destination with a given AWS SDK configuration (tests pass
/// one pointing at an emulator).
pub async fn build_with_sdk(
    config: &Config,
    sdk_config: Option<aws_config::SdkConfig>,
) -> Result<(Destination, StartupReport), StartupError> {
    let material = material::start(config, sdk_config.as_ref()).await?;
    let methods = methods::start(config, material.initial.as_deref()).await?;
    let sink = sink::start(config, sdk_config.as_ref())?;
    let report = StartupReport {
        material: format!("{}{}", material.cache.describe(), methods.description),
        sink: sink.describe(),
        methods: methods.enabled.clone(),
        generated_token: material.generated_token,
    };
    let destination = Destination {
        auth: Authenticator {
            material: material.cache,
            trust: methods.trust,
            google: methods.google,
            policy: AuthPolicy {
                enabled: methods.enabled,
                allowed_principals: config.allowed_principals.clone(),
                clock_skew: config.clock_skew,
            },
        },
        issuer: methods.issuer,
        sink,
        max_body_bytes: config.max_body_bytes,
        request_timeout: config.request_timeout,
    };
    Ok((destination, report))
}
