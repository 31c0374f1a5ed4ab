//! Auth material from AWS Secrets Manager (`REDOX_SECRET_ID`).
//!
//! Each fetch reads the `AWSCURRENT` and `AWSPREVIOUS` versions together, so
//! that during a rotation both the new and the old credential are accepted.
//! Caching is [`crate::auth::material::MaterialCache`]'s job; this source only
//! fetches, with a timeout, and never logs a secret value.

use std::time::Duration;

use aws_sdk_secretsmanager::error::{DisplayErrorContext, SdkError};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;

use crate::BoxFuture;
use crate::auth::material::{AuthMaterialSource, Material, MaterialError};

pub struct SecretsManagerMaterial {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    timeout: Duration,
}

impl SecretsManagerMaterial {
    pub fn new(
        client: aws_sdk_secretsmanager::Client,
        secret_id: String,
        timeout: Duration,
    ) -> Self {
        SecretsManagerMaterial {
            client,
            secret_id,
            timeout,
        }
    }

    /// The text of one version stage; `Ok(None)` when that stage does not exist.
    async fn stage_text(&self, stage: &str) -> Result<Option<String>, MaterialError> {
        let call = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_stage(stage)
            .send();
        let output = match tokio::time::timeout(self.timeout, call).await {
            Err(_) => {
                return Err(MaterialError::Unreachable(format!(
                    "Secrets Manager did not answer within {:?}",
                    self.timeout
                )));
            }
            Ok(Err(SdkError::ServiceError(e)))
                if stage != "AWSCURRENT"
                    && matches!(e.err(), GetSecretValueError::ResourceNotFoundException(_)) =>
            {
                return Ok(None);
            }
            Ok(Err(e)) => {
                return Err(MaterialError::Unreachable(format!(
                    "GetSecretValue {} ({stage}): {}",
                    self.secret_id,
                    DisplayErrorContext(&e)
                )));
            }
            Ok(Ok(output)) => output,
        };
        if let Some(text) = output.secret_string {
            return Ok(Some(text));
        }
        match output.secret_binary {
            Some(blob) => String::from_utf8(blob.into_inner()).map(Some).map_err(|_| {
                MaterialError::Invalid(format!(
                    "secret {} ({stage}) is binary, not text",
                    self.secret_id
                ))
            }),
            None => Err(MaterialError::Invalid(format!(
                "secret {} ({stage}) has no value",
                self.secret_id
            ))),
        }
    }
}

impl AuthMaterialSource for SecretsManagerMaterial {
    fn fetch(&self) -> BoxFuture<'_, Result<Material, MaterialError>> {
        Box::pin(async move {
            let (current, previous) = tokio::join!(
                self.stage_text("AWSCURRENT"),
                self.stage_text("AWSPREVIOUS")
            );
            let current = current?.ok_or_else(|| {
                MaterialError::Invalid(format!(
                    "secret {} has no AWSCURRENT version",
                    self.secret_id
                ))
            })?;
            let mut material = Material::from_secret_text(&current).map_err(|e| match e {
                MaterialError::Invalid(why) => {
                    MaterialError::Invalid(format!("secret {}: {why}", self.secret_id))
                }
                other => other,
            })?;
            // An unreadable previous version must not stop the current one.
            match previous {
                Ok(Some(text)) => match Material::from_secret_text(&text) {
                    Ok(previous) => material.merge(previous),
                    Err(error) => {
                        tracing::warn!(%error, "the AWSPREVIOUS version is ignored")
                    }
                },
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "the AWSPREVIOUS version could not be read"),
            }
            Ok(material)
        })
    }

    fn describe(&self) -> String {
        format!("Secrets Manager secret {}", self.secret_id)
    }
}
