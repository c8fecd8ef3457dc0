//! State: what exists. One document per strategy with `format_version`, `serial` (bumped on
//! every write), `lineage` (fixed at creation) and the resources, kept by a [`store::Store`]
//! and guarded by a [`lock::Lock`].
//!
//! Secrets never enter state: resources hold only attributes compiled from the strategy and
//! what providers observed.

pub mod backend;
pub mod local;
pub mod lock;
pub mod postgres;
pub mod s3;
pub mod store;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::resource::{Address, Existing};

pub const FORMAT_VERSION: u32 = 1;

/// Which backend keeps the state, and where (from the strategy's `state` block or flags).
/// Its `Debug` shows the URL without its password.
#[derive(Clone, Default, PartialEq, Deserialize)]
pub struct BackendSpec {
    #[serde(rename = "backend", default = "local_kind")]
    pub kind: String,
    /// The backend's address; may hold credentials, so it is never printed as is.
    #[serde(default)]
    pub url: Option<String>,
}

impl std::fmt::Debug for BackendSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendSpec")
            .field("kind", &self.kind)
            .field("url", &self.url.as_deref().map(postgres::redact))
            .finish()
    }
}

fn local_kind() -> String {
    "local".into()
}

/// Opens the backend `spec` names for the strategy `name`; local files live in `state_dir`.
/// A backend that cannot be reached is an error here, before anything changes.
pub async fn open_backend(
    spec: &BackendSpec,
    state_dir: &std::path::Path,
    name: &str,
) -> Result<std::sync::Arc<dyn backend::Backend>, store::StoreError> {
    match spec.kind.as_str() {
        "" | "local" => Ok(std::sync::Arc::new(local::LocalBackend::new(
            state_dir, name,
        ))),
        "postgres" => {
            let url = spec
                .url
                .as_deref()
                .ok_or_else(|| store::StoreError::Backend {
                    backend: "postgres".into(),
                    message:
                        "needs a URL: set \"url\" in the strategy's state block, or --backend-url"
                            .into(),
                })?;
            Ok(std::sync::Arc::new(
                postgres::PgBackend::connect(url, name).await?,
            ))
        }
        "s3" => {
            let url = spec
                .url
                .as_deref()
                .ok_or_else(|| store::StoreError::Backend {
                    backend: "s3".into(),
                    message: "needs a URL (s3://BUCKET/PREFIX?region=R): set \"url\" in the \
                              strategy's state block, or --backend-url"
                        .into(),
                })?;
            Ok(std::sync::Arc::new(
                s3::S3Backend::connect(url, name).await?,
            ))
        }
        other => Err(store::StoreError::Backend {
            backend: other.into(),
            message: "unknown backend; known: local, postgres, s3".into(),
        }),
    }
}

/// The state document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub format_version: u32,
    pub serial: u64,
    pub lineage: String,
    /// The strategy's name.
    pub strategy: String,
    /// Seed for `random` picks, kept so that plans are reproducible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(with = "as_list")]
    pub resources: BTreeMap<Address, Existing>,
}

impl State {
    /// A new, empty state with a fresh lineage.
    pub fn new(strategy: &str) -> Self {
        State {
            format_version: FORMAT_VERSION,
            serial: 0,
            lineage: new_lineage(),
            strategy: strategy.to_string(),
            seed: None,
            resources: BTreeMap::new(),
        }
    }
}

/// A random, unique-enough lineage id (UUID-shaped, version 4).
pub fn new_lineage() -> String {
    let b: [u8; 16] = rand::random();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
        u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
        (u16::from_be_bytes([b[8], b[9]]) & 0x3fff) | 0x8000,
        u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]])
    )
}

/// Resources are stored as a list sorted by address (readable diffs of the state file),
/// and held as a map.
mod as_list {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<Address, Existing>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.values())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<Address, Existing>, D::Error> {
        let list = Vec::<Existing>::deserialize(d)?;
        Ok(list.into_iter().map(|r| (r.address.clone(), r)).collect())
    }
}
