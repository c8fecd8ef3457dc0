//! The local backend: state files in a directory (see [`super::store`]) and a lock file.
//! Keeps two versions: the state and its backup.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::State;
use super::backend::{self, Backend, Held, Journal, Version};
use super::lock::{self, Lock, LockError, LockInfo};
use super::store::{self, Loaded, Store, StoreError};

pub struct LocalBackend {
    store: Store,
}

impl LocalBackend {
    pub fn new(dir: &Path, name: &str) -> Self {
        LocalBackend {
            store: Store::new(dir, name),
        }
    }

    fn read(&self, path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            }),
        }
    }
}

#[async_trait]
impl Journal for store::Journal {
    async fn append(&self, entries: &[String]) -> Result<(), StoreError> {
        store::Journal::append(self, entries)
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

    async fn load(&self) -> Result<Loaded, StoreError> {
        self.store.load()
    }

    async fn write(&self, state: &mut State) -> Result<(), StoreError> {
        // Compare-and-swap: the file on disk must still be at the serial we read.
        let found = match self.read(&self.store.state_path())? {
            Some(bytes) => backend::parse(&bytes, &self.describe())?.serial,
            None => 0,
        };
        if found != state.serial {
            return Err(StoreError::Conflict {
                expected: state.serial,
                found,
            });
        }
        self.store.write(state)
    }

    async fn begin_journal(&self, state: &State) -> Result<Arc<dyn Journal>, StoreError> {
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

    async fn versions(&self) -> Result<Vec<Version>, StoreError> {
        let mut versions = Vec::new();
        for path in [self.store.backup_path(), self.store.state_path()] {
            if let Some(bytes) = self.read(&path)? {
                let state = backend::parse(&bytes, &path.display().to_string())?;
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

    async fn raw(&self, serial: Option<u64>) -> Result<Option<Vec<u8>>, StoreError> {
        for path in [self.store.state_path(), self.store.backup_path()] {
            if let Some(bytes) = self.read(&path)? {
                let state = backend::parse(&bytes, &path.display().to_string())?;
                if serial.is_none_or(|s| s == state.serial) {
                    return Ok(Some(bytes));
                }
            }
        }
        Ok(None)
    }

    async fn push(&self, bytes: &[u8], force: bool) -> Result<State, StoreError> {
        let incoming = backend::parse(bytes, "the pushed state")?;
        let current = self.store.load()?.state;
        backend::check_push(current.as_ref(), &incoming, force)?;
        self.store.write_raw(bytes)?;
        Ok(incoming)
    }
}
