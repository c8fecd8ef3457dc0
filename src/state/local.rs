//! The local backend: state files in a directory (kept by [`super::store`]) and a lock file.
//! Keeps two versions: the state and its backup. Its compare-and-swap is against the file on
//! disk, under the lock every writer takes.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::FutureExt as _;

use super::backend::{Backend, Held, Version};
use super::document::{self, State};
use super::error::StateError;
use super::journal::{Journal, Loaded};
use super::lock::{self, Lock, LockError, LockInfo};
use super::store::Store;

pub struct LocalBackend {
    store: Store,
}

impl LocalBackend {
    pub fn new(dir: &Path, name: &str) -> Self {
        LocalBackend {
            store: Store::new(dir, name),
        }
    }
}

impl Store {
    /// Writes `state` as the next serial: [`Backend::write`] of the local backend, for callers
    /// without a runtime (nothing in it waits).
    pub fn write(&self, state: &mut State) -> Result<(), StateError> {
        let backend = LocalBackend {
            store: self.clone(),
        };
        backend
            .write(state)
            .now_or_never()
            .expect("a local write never waits")
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

    async fn load(&self) -> Result<Loaded, StateError> {
        self.store.load()
    }

    async fn put_if(&self, expected: u64, _: &State, bytes: &[u8]) -> Result<(), StateError> {
        self.store.put_if(expected, bytes)
    }

    async fn begin_journal(&self, state: &State) -> Result<Arc<dyn Journal>, StateError> {
        Ok(Arc::new(self.store.begin_journal(state)?))
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
                let state = document::parse(&bytes, &path.display().to_string())?;
                let written_at = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| crate::clock::rfc3339(d.as_secs()));
                versions.push(Version {
                    serial: state.serial,
                    lineage: state.lineage,
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
                let state = document::parse(&bytes, &path.display().to_string())?;
                if serial.is_none_or(|s| s == state.serial) {
                    return Ok(Some(bytes));
                }
            }
        }
        Ok(None)
    }
}
