//! Where state lives: one trait over the local files, PostgreSQL (and, later, S3), so every
//! command works the same against each. A backend stores versions of the state document, the
//! journal of an apply in progress, and the lock.
//!
//! Writes are compare-and-swap on the serial: a writer that read serial N may only write N+1,
//! so two writers can never both succeed from the same starting point. Nothing here prints,
//! and no message carries credentials (URLs are shown without their password).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use super::State;
use super::lock::{LockError, LockInfo, waiting};
use super::store::{Loaded, StoreError};
use crate::resource::{Address, Existing};

/// One stored version of the state.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Version {
    pub serial: u64,
    pub lineage: String,
    /// SHA-256 of the stored document.
    pub hash: String,
    /// RFC 3339 UTC, when known.
    pub written_at: Option<String>,
    /// `user@host`, when known.
    pub written_by: Option<String>,
}

/// The append-only record of an apply's finished steps; each call is durable when it returns.
#[async_trait]
pub trait Journal: Send + Sync {
    /// Appends records (each made by `store::entry_put` / `store::entry_delete`), in order,
    /// durable together when it returns: several finished steps cost one sync (group commit).
    async fn append(&self, entries: &[String]) -> Result<(), StoreError>;

    /// Records that `resource` exists as given.
    async fn put(&self, resource: &Existing) -> Result<(), StoreError> {
        self.append(&[super::store::entry_put(resource)]).await
    }

    /// Records that `address` no longer exists.
    async fn delete(&self, address: &Address) -> Result<(), StoreError> {
        self.append(&[super::store::entry_delete(address)]).await
    }
}

/// A held lock; dropping it releases it.
pub trait Held: Send + Sync {
    fn info(&self) -> &LockInfo;
    /// Releases the lock without waiting for the drop (for exits that skip destructors).
    fn release_now(&self);
}

#[async_trait]
pub trait Backend: Send + Sync {
    /// Where the state lives, for people (no credentials).
    fn describe(&self) -> String;

    /// The latest version with the journal of an unfinished apply folded in.
    async fn load(&self) -> Result<Loaded, StoreError>;

    /// Writes `state` as the next serial if the stored one is still `state.serial`;
    /// otherwise fails with [`StoreError::Conflict`]. Drops the journal it supersedes.
    async fn write(&self, state: &mut State) -> Result<(), StoreError>;

    /// Starts the journal of an apply continuing `state` (already written).
    async fn begin_journal(&self, state: &State) -> Result<Arc<dyn Journal>, StoreError>;

    /// Takes the lock for `operation`, waiting up to `timeout`.
    async fn lock(&self, operation: &str, timeout: Duration) -> Result<Arc<dyn Held>, LockError>;

    /// Removes a lock left behind, given its id.
    async fn force_unlock(&self, id: &str) -> Result<LockInfo, LockError>;

    /// The versions kept, oldest first.
    async fn versions(&self) -> Result<Vec<Version>, StoreError>;

    /// The stored text of version `serial` (the latest with `None`), exactly as written.
    async fn raw(&self, serial: Option<u64>) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores `bytes` (a state document) as a new version, after the same checks as `write`
    /// unless `force`: same lineage, newer serial. For `state push` and `state migrate`.
    async fn push(&self, bytes: &[u8], force: bool) -> Result<State, StoreError>;
}

/// Parses a stored state document.
pub fn parse(bytes: &[u8], whence: &str) -> Result<State, StoreError> {
    let state: State = serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt {
        path: whence.into(),
        source,
    })?;
    if state.format_version != super::FORMAT_VERSION {
        return Err(StoreError::Version {
            path: whence.into(),
            found: state.format_version,
        });
    }
    Ok(state)
}

/// The bytes a state is stored as (pretty JSON with a final newline), the same everywhere so
/// that a migrated state is byte-for-byte the one it came from.
pub fn render(state: &State) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(state).expect("state serializes");
    bytes.push(b'\n');
    bytes
}

/// `state` with journal records folded in, in order, up to the first that does not parse (a
/// torn write); the loaded state and how many records it took.
pub fn fold<'a>(mut state: State, entries: impl IntoIterator<Item = &'a str>) -> Loaded {
    let mut recovered_steps = 0;
    for entry in entries {
        if !super::store::apply_entry(&mut state, entry) {
            break;
        }
        recovered_steps += 1;
    }
    Loaded {
        state: Some(state),
        recovered_steps,
    }
}

/// What `push` stores, after the checks of [`check_push`]: the incoming state, its bytes and
/// the serial the store must still hold. Versions are history, so a forced older or equal
/// serial becomes the next one (and is rendered anew).
pub fn pushed(
    bytes: &[u8],
    current: Option<&State>,
    force: bool,
) -> Result<(State, Vec<u8>, u64), StoreError> {
    let mut incoming = parse(bytes, "the pushed state")?;
    check_push(current, &incoming, force)?;
    let latest = current.map_or(0, |c| c.serial);
    if current.is_some() && incoming.serial <= latest {
        incoming.serial = latest + 1;
        let rendered = render(&incoming);
        return Ok((incoming, rendered, latest));
    }
    Ok((incoming, bytes.to_vec(), latest))
}

/// The checks of `push`: `incoming` may replace `current` only with the same lineage and a
/// newer serial, unless forced.
pub fn check_push(
    current: Option<&State>,
    incoming: &State,
    force: bool,
) -> Result<(), StoreError> {
    let Some(current) = current else {
        return Ok(());
    };
    if force {
        return Ok(());
    }
    if current.lineage != incoming.lineage {
        return Err(StoreError::Refused(format!(
            "the pushed state has lineage {}, the stored one {}",
            incoming.lineage, current.lineage
        )));
    }
    if incoming.serial <= current.serial {
        return Err(StoreError::Refused(format!(
            "the pushed state has serial {}, not newer than the stored serial {}",
            incoming.serial, current.serial
        )));
    }
    Ok(())
}

/// The waiting every backend's `lock` does: `attempt` until it takes the lock, on
/// [`LOCK_WAIT`] for up to `timeout`; then the holder `holder` finds is the error (looked at
/// again a few times if the lock was released between the try and the look).
pub async fn wait_for_lock<T, Taken, Found>(
    timeout: Duration,
    shown: &str,
    attempt: impl Fn() -> Taken,
    holder: impl Fn() -> Found,
) -> Result<T, LockError>
where
    Taken: Future<Output = Result<Option<T>, LockError>>,
    Found: Future<Output = Result<Option<LockInfo>, LockError>>,
{
    let mut backoff = waiting(timeout).start();
    let mut released_retries = 3;
    loop {
        if let Some(taken) = attempt().await? {
            return Ok(taken);
        }
        if backoff.wait(None).await {
            continue;
        }
        let info = match holder().await? {
            Some(info) => info,
            None if released_retries > 0 => {
                released_retries -= 1;
                // Released meanwhile: one more try, right away.
                backoff = waiting(Duration::ZERO).start();
                continue;
            }
            None => LockInfo::unknown(),
        };
        return Err(LockError::Held {
            info: Box::new(info),
            path: shown.into(),
        });
    }
}
