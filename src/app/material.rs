//! The auth material at start-up: its sources (Secrets Manager, a file,
//! `REDOX_VERIFICATION_TOKEN`, or a token made up for a developer), its
//! cache, and the first fetch, during init.

use std::sync::Arc;

use base64::Engine as _;

use super::aws::secrets_client;
use super::{StartupError, setting};
use crate::auth::material::secrets_manager::SecretsManagerMaterial;
use crate::auth::material::{
    AuthMaterial, AuthMaterialSource, FileMaterial, Material, MaterialCache, MaterialError,
    StaticMaterial,
};
use crate::config::Config;

/// The material cache, what it held at start-up, and a made-up token.
pub(super) struct StartedMaterial {
    pub cache: Arc<MaterialCache>,
    /// `None` when the source did not answer yet (requests get 503 until
    /// it does, and Redox retries).
    pub initial: Option<Arc<Material>>,
    /// A token made up because no material was configured (local only).
    pub generated_token: Option<String>,
}

/// A random 32-byte token, base64url without padding.
pub fn generate_token() -> Result<String, StartupError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        setting(
            "REDOX_VERIFICATION_TOKEN",
            format!("no OS randomness to generate a token: {e}"),
        )
    })?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The material's sources, its cache, and its first fetch: bad material
/// stops start-up; an unreachable source does not.
pub(super) async fn start(
    config: &Config,
    sdk_config: Option<&aws_config::SdkConfig>,
) -> Result<StartedMaterial, StartupError> {
    let mut sources: Vec<Box<dyn AuthMaterialSource>> = Vec::new();
    let mut generated_token = None;
    if let (Some(secret_id), Some(sdk)) = (&config.secret_id, sdk_config) {
        sources.push(Box::new(SecretsManagerMaterial::new(
            secrets_client(sdk, config),
            secret_id.clone(),
            config.aws_timeout,
        )));
    }
    if let Some(path) = &config.secret_file {
        sources.push(Box::new(FileMaterial::new(path.clone())));
    }
    if let Some(list) = &config.verification_tokens {
        let material = AuthMaterial::from_token_list(list)
            .map_err(|e| setting("REDOX_VERIFICATION_TOKEN", e.to_string()))?;
        sources.push(Box::new(StaticMaterial::new(
            material,
            "REDOX_VERIFICATION_TOKEN",
        )));
    }
    if sources.is_empty() {
        // A made-up token is for a developer at a terminal: in Lambda or
        // behind a load balancer nobody would see it (and it would be
        // printed to the log).
        if config.lambda || config.server.behind_alb {
            return Err(setting(
                "REDOX_SECRET_ID",
                "no auth material: set REDOX_SECRET_ID (or REDOX_SECRET_FILE / REDOX_VERIFICATION_TOKEN)",
            ));
        }
        let token = generate_token()?;
        let mut material = AuthMaterial::default();
        material
            .add_token(&token)
            .map_err(|e| setting("REDOX_VERIFICATION_TOKEN", e.to_string()))?;
        sources.push(Box::new(StaticMaterial::new(
            material,
            "a token generated at start-up",
        )));
        generated_token = Some(token);
    }
    let cache = Arc::new(
        MaterialCache::new(sources, config.secret_ttl)
            .with_miss_refetch_interval(config.secret_refetch),
    );
    let initial = match cache.current().await {
        Ok(material) => Some(material),
        Err(MaterialError::Invalid(why)) => {
            let variable = if config.secret_id.is_some() {
                "REDOX_SECRET_ID"
            } else {
                "REDOX_SECRET_FILE"
            };
            return Err(setting(variable, why));
        }
        Err(error @ MaterialError::Unreachable(_)) => {
            if config.secret_file.is_some() && config.secret_id.is_none() {
                return Err(setting("REDOX_SECRET_FILE", error.to_string()));
            }
            tracing::warn!(%error, "auth material not available yet; pushes get 503 until it is");
            None
        }
    };
    Ok(StartedMaterial {
        cache,
        initial,
        generated_token,
    })
}
