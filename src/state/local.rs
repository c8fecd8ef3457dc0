//! The local backend: state files in a directory (kept by [`super::store`]) and a lock file.
//! Keeps two versions: the state and its backup. Its compare-and-swap is against the file on
//! disk, under the lock every writer takes. Versions and journal records go through the
//! backend's [`Codec`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::FutureExt as _;

use super::backend::{Backend, Held, Version};
use super::document::State;
use super::encryption::{self, Codec, envelope};
use super::error::StateError;
use super::journal::{Journal, Loaded};
use super::lock::{self, Lock, LockError, LockInfo};
use super::store::Store;

pub struct LocalBackend {
    store: Store,
    codec: Arc<Codec>,
}

impl LocalBackend {
    pub fn new(dir: &Path, name: &str) -> Self {
        LocalBackend {
            store: Store::new(dir, name),
            codec: Arc::new(Codec::plain()),
        }
    }

    /// The same backend, its versions sealed and opened by `codec`.
    pub fn with_codec(self, codec: Arc<Codec>) -> Self {
        LocalBackend { codec, ..self }
    }
}

/// The serial and lineage of a stored version, read without a key.
fn header(bytes: &[u8], path: &Path) -> Result<(u64, String), StateError> {
    match envelope::header(bytes) {
        Some(h) => Ok((h.serial, h.lineage)),
        None => super::document::parse(bytes, &path.display().to_string())
            .map(|s| (s.serial, s.lineage)),
    }
}

impl Store {
    /// Writes `state` as the next serial: [`Backend::write`] of the local backend, for callers
    /// without a runtime (nothing in it waits).
    pub fn write(&self, state: &mut State) -> Result<(), StateError> {
        let backend = LocalBackend::new(Path::new(""), "").with_store(self.clone());
        backend
            .write(state)
            .now_or_never()
            .expect("a local write never waits")
    }
}

impl LocalBackend {
    fn with_store(self, store: Store) -> Self {
        LocalBackend { store, ..self }
    }
}

impl Held for Lock {
    fn info(&self) -> &LockInfo {
        &self.info
    }

    fn release_now(&self) {
        lock::release(self.path(), &self.info.id);
    }
}

#[async_trait]
impl Backend for LocalBackend {
    fn describe(&self) -> String {
        self.store.state_path().display().to_string()
    }

    fn codec(&self) -> &Codec {
        &self.codec
    }

    async fn load(&self) -> Result<Loaded, StateError> {
        let path = self.store.state_path();
        let Some(bytes) = self.store.read(&path)? else {
            return Ok(Loaded::nothing());
        };
        let whence = path.display().to_string();
        let opened = self.codec.open(&bytes, &whence).await?;
        let lines = self.store.journal_lines(&opened.state)?;
        encryption::fold(opened, lines.iter().map(String::as_str), &whence)
    }

    async fn put_if(&self, expected: u64, _: &State, bytes: &[u8]) -> Result<(), StateError> {
        self.store.put_if(expected, bytes)
    }

    async fn begin_journal(&self, state: &State) -> Result<Arc<dyn Journal>, StateError> {
        let sealer = self.codec.record_sealer(state).await?;
        Ok(Arc::new(self.store.begin_sealed_journal(state, sealer)?))
    }

    async fn lock(&self, operation: &str, timeout: Duration) -> Result<Arc<dyn Held>, LockError> {
        let path = self.store.lock_path();
        let operation = operation.to_string();
        // Waiting for the lock sleeps; keep that off the async workers.
        let lock = tokio::task::spawn_blocking(move || Lock::acquire(&path, &operation, timeout))
            .await
            .map_err(|e| LockError::Io {
                path: self.store.lock_path(),
                source: std::io::Error::other(e),
            })??;
        Ok(Arc::new(lock))
    }

    async fn force_unlock(&self, id: &str) -> Result<LockInfo, LockError> {
        lock::force_unlock(&self.store.lock_path(), id)
    }

    async fn versions(&self) -> Result<Vec<Version>, StateError> {
        let mut versions = Vec::new();
        for path in [self.store.backup_path(), self.store.state_path()] {
            if let Some(bytes) = self.store.read(&path)? {
                let (serial, lineage) = header(&bytes, &path)?;
                let written_at = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| crate::clock::rfc3339(d.as_secs()));
                versions.push(Version {
                    serial,
                    lineage,
                    hash: crate::digest::sha256_hex(&bytes),
                    written_at,
                    written_by: None,
                });
            }
        }
        Ok(versions)
    }

    async fn raw(&self, serial: Option<u64>) -> Result<Option<Vec<u8>>, StateError> {
        for path in [self.store.state_path(), self.store.backup_path()] {
            if let Some(bytes) = self.store.read(&path)? {
                let (stored, _) = header(&bytes, &path)?;
                if serial.is_none_or(|s| s == stored) {
                    return Ok(Some(bytes));
                }
            }
        }
        Ok(None)
    }
}
