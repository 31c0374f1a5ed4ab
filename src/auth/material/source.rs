//! Where auth material comes from: the [`AuthMaterialSource`] trait, material
//! fixed at start-up and a local file. Secrets Manager is
//! [`super::secrets_manager`].

use std::path::PathBuf;

use super::{Material, MaterialError};
use crate::BoxFuture;

/// Somewhere auth material can be read from.
pub trait AuthMaterialSource: Send + Sync {
    fn fetch(&self) -> BoxFuture<'_, Result<Material, MaterialError>>;
    /// Where the material comes from, for the start-up banner and logs.
    fn describe(&self) -> String;
}

/// Material fixed at start-up (`REDOX_VERIFICATION_TOKEN`, a generated token).
pub struct StaticMaterial {
    material: Material,
    description: String,
}

impl StaticMaterial {
    pub fn new(material: impl Into<Material>, description: impl Into<String>) -> Self {
        StaticMaterial {
            material: material.into(),
            description: description.into(),
        }
    }
}

impl AuthMaterialSource for StaticMaterial {
    fn fetch(&self) -> BoxFuture<'_, Result<Material, MaterialError>> {
        Box::pin(async move { Ok(self.material.clone()) })
    }
    fn describe(&self) -> String {
        self.description.clone()
    }
}

/// A local file holding the SPEC 3.4 JSON or a plain token (`REDOX_SECRET_FILE`),
/// re-read whenever the cache refreshes so edits take effect without a restart.
pub struct FileMaterial {
    path: PathBuf,
}

impl FileMaterial {
    pub fn new(path: PathBuf) -> Self {
        FileMaterial { path }
    }
}

impl AuthMaterialSource for FileMaterial {
    fn fetch(&self) -> BoxFuture<'_, Result<Material, MaterialError>> {
        Box::pin(async move {
            let text = tokio::fs::read_to_string(&self.path)
                .await
                .map_err(|e| MaterialError::Unreachable(format!("{}: {e}", self.path.display())))?;
            Material::from_secret_text(&text).map_err(|e| match e {
                MaterialError::Invalid(why) => {
                    MaterialError::Invalid(format!("{}: {why}", self.path.display()))
                }
                other => other,
            })
        })
    }
    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }
}
