//! Where state lives: one trait over the local files, PostgreSQL and S3, so every command
//! works the same against each. A backend stores versions of the state document, the journal
//! of an apply in progress (see [`super::journal`]), and the lock.
//!
//! Writes are compare-and-swap on the serial: a writer that read serial N may only write N+1,
//! so two writers can never both succeed from the same starting point. The serial bump, the
//! rendering and the push checks are written once here ([`Backend::write`],
//! [`Backend::push`]); a backend supplies only its compare-and-swap put ([`Backend::put_if`]).
//! Every version a backend stores or reads passes through its [`Codec`] (encryption at rest):
//! `write` and `push` seal through it here, each backend's `load` opens through it.
//! Nothing here prints, and no message carries credentials (URLs are shown without their
//! password).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use super::document::{self, State};
use super::encryption::Codec;
use super::error::StateError;
use super::journal::{Journal, Loaded};
use super::lock::{LockError, LockInfo, waiting};

/// One stored version of the state.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Version {
    /// The document's serial: versions are told apart by it.
    pub serial: u64,
    /// The document's lineage (a forced push may store another).
    pub lineage: String,
    /// SHA-256 of the stored document.
    pub hash: String,
    /// RFC 3339 UTC, when known.
    pub written_at: Option<String>,
    /// `user@host`, when known.
    pub written_by: Option<String>,
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

    /// How versions and journal records are sealed and opened.
    fn codec(&self) -> &Codec;

    /// The latest version with the journal of an unfinished apply folded in.
    async fn load(&self) -> Result<Loaded, StateError>;

    /// Stores `bytes` (the rendering of `state`) as the latest version if the latest stored
    /// serial is still `expected` (0: nothing stored); otherwise fails with
    /// [`StateError::Conflict`] and changes nothing. Drops the journal it supersedes.
    async fn put_if(&self, expected: u64, state: &State, bytes: &[u8]) -> Result<(), StateError>;

    /// Writes `state` as the next serial if the stored one is still `state.serial`;
    /// otherwise fails with [`StateError::Conflict`]. The serial moves on only when the write
    /// succeeded: on any error `state` is as it was.
    async fn write(&self, state: &mut State) -> Result<(), StateError> {
        let expected = state.serial;
        state.serial += 1;
        let result = match self.codec().seal(state, document::render(state)).await {
            Ok(bytes) => self.put_if(expected, state, &bytes).await,
            Err(e) => Err(e),
        };
        if result.is_err() {
            state.serial = expected;
        }
        result
    }

    /// Starts the journal of an apply continuing `state` (already written).
    async fn begin_journal(&self, state: &State) -> Result<Arc<dyn Journal>, StateError>;

    /// Takes the lock for `operation`, waiting up to `timeout`.
    async fn lock(&self, operation: &str, timeout: Duration) -> Result<Arc<dyn Held>, LockError>;

    /// Removes a lock left behind, given its id.
    async fn force_unlock(&self, id: &str) -> Result<LockInfo, LockError>;

    /// The versions kept, oldest first.
    async fn versions(&self) -> Result<Vec<Version>, StateError>;

    /// The stored text of version `serial` (the latest with `None`), exactly as written
    /// (an envelope, when encrypted).
    async fn raw(&self, serial: Option<u64>) -> Result<Option<Vec<u8>>, StateError>;

    /// Stores `bytes` (a state document, in clear or an envelope this backend's codec opens)
    /// as a new version, after the same checks as `write` unless `force`: same lineage, newer
    /// serial. For `state push` and `state migrate`. Versions are history, so a forced older
    /// or equal serial becomes the next one. The bytes are kept as they are when they are
    /// already stored as the codec writes; otherwise sealed (or decrypted) anew.
    async fn push(&self, bytes: &[u8], force: bool) -> Result<State, StateError> {
        let current = self.load().await?.state;
        let mut incoming = self.codec().open(bytes, "the pushed state").await?.state;
        check_push(current.as_ref(), &incoming, force)?;
        let latest = current.as_ref().map_or(0, |c| c.serial);
        let renumbered = current.is_some() && incoming.serial <= latest;
        if renumbered {
            incoming.serial = latest + 1;
        }
        let stored = if !renumbered && self.codec().written_as_now(bytes).await {
            bytes.to_vec()
        } else {
            self.codec()
                .seal(&incoming, document::render(&incoming))
                .await?
        };
        self.put_if(latest, &incoming, &stored).await?;
        Ok(incoming)
    }
}

/// The checks of `push`: `incoming` may replace `current` only with the same lineage and a
/// newer serial, unless forced.
fn check_push(current: Option<&State>, incoming: &State, force: bool) -> Result<(), StateError> {
    let Some(current) = current else {
        return Ok(());
    };
    if force {
        return Ok(());
    }
    if current.lineage != incoming.lineage {
        return Err(StateError::Refused(format!(
            "the pushed state has lineage {}, the stored one {}",
            incoming.lineage, current.lineage
        )));
    }
    if incoming.serial <= current.serial {
        return Err(StateError::Refused(format!(
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
