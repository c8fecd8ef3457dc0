//! State: what exists. One document per strategy ([`document`]), the journal of an apply in
//! progress ([`journal`]), one error type ([`error`]), and the backends that keep them behind
//! one trait ([`backend`]): local files ([`local`] over [`store`]), PostgreSQL ([`postgres`])
//! and S3 ([`s3`]), each guarded by a lock ([`lock`]). Every backend's versions and journal
//! records pass through one [`encryption::Codec`] (encryption at rest, when the strategy asks).
//!
//! Secrets never enter state: resources hold only attributes compiled from the strategy and
//! what providers observed. The state layer never imports a driver.

pub mod backend;
pub mod document;
pub mod encryption;
pub mod error;
pub mod journal;
pub mod local;
pub mod lock;
pub mod postgres;
pub mod s3;
pub mod store;

use serde::Deserialize;

pub use document::{FORMAT_VERSION, State, new_lineage};
pub use error::StateError;

/// Which backend keeps the state, and where (from the strategy's `state` block or flags).
/// Its `Debug` shows the URL without its password.
#[derive(Clone, Default, PartialEq, Deserialize)]
pub struct BackendSpec {
    #[serde(rename = "backend", default = "local_kind")]
    pub kind: String,
    /// The backend's address; may hold credentials, so it is never printed as is.
    #[serde(default)]
    pub url: Option<String>,
    /// Encryption at rest (`state.encryption`); none: versions in clear.
    #[serde(default)]
    pub encryption: Option<encryption::settings::Encryption>,
}

impl Drop for BackendSpec {
    /// The URL may hold a resolved password: wiped, not just freed.
    fn drop(&mut self) {
        if let Some(url) = &mut self.url {
            zeroize::Zeroize::zeroize(url);
        }
    }
}

impl std::fmt::Debug for BackendSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendSpec")
            .field("kind", &self.kind)
            .field("url", &self.url.as_deref().map(postgres::redact))
            .field("encryption", &self.encryption)
            .finish()
    }
}

fn local_kind() -> String {
    "local".into()
}

impl BackendSpec {
    /// The URL a remote backend needs; `form` shows its shape in the error.
    fn required_url(&self, form: &str) -> Result<&str, StateError> {
        self.url.as_deref().ok_or_else(|| StateError::Backend {
            backend: self.kind.clone(),
            message: format!(
                "needs a URL{form}: set \"url\" in the strategy's state block, or --backend-url"
            ),
        })
    }
}

/// Opens the backend `spec` names for the strategy `name`; local files live in `state_dir`.
/// A backend that cannot be reached is an error here, before anything changes.
pub async fn open_backend(
    spec: &BackendSpec,
    state_dir: &std::path::Path,
    name: &str,
) -> Result<std::sync::Arc<dyn backend::Backend>, StateError> {
    open_backend_with(
        spec,
        state_dir,
        name,
        &encryption::provider::Context::default(),
    )
    .await
}

/// [`open_backend`], with what the key providers need from outside the strategy (the vault's
/// shares for `shares`).
pub async fn open_backend_with(
    spec: &BackendSpec,
    state_dir: &std::path::Path,
    name: &str,
    keys: &encryption::provider::Context,
) -> Result<std::sync::Arc<dyn backend::Backend>, StateError> {
    let codec = std::sync::Arc::new(encryption::Codec::new(spec.encryption.as_ref(), keys)?);
    match spec.kind.as_str() {
        "" | "local" => Ok(std::sync::Arc::new(
            local::LocalBackend::new(state_dir, name).with_codec(codec),
        )),
        "postgres" => {
            let url = spec.required_url("")?;
            Ok(std::sync::Arc::new(
                postgres::PgBackend::connect(url, name)
                    .await?
                    .with_codec(codec),
            ))
        }
        "s3" => {
            let url = spec.required_url(" (s3://BUCKET/PREFIX?region=R)")?;
            Ok(std::sync::Arc::new(
                s3::S3Backend::connect(url, name).await?.with_codec(codec),
            ))
        }
        other => Err(StateError::Backend {
            backend: other.into(),
            message: "unknown backend; known: local, postgres, s3".into(),
        }),
    }
}
