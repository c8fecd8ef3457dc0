//! The state lock: a file created exclusively next to the state, holding who took it.
//!
//! Anyone who finds it held is told the holder (id, operation, user@host, pid, since). A lock
//! whose process died on this host is reported as stale with the command that removes it; it is
//! never taken over silently, because the dead apply may have left work to look at.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backoff::Policy;

/// Who holds a lock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LockInfo {
    pub id: String,
    pub operation: String,
    /// `user@host`
    pub who: String,
    pub host: String,
    pub pid: u32,
    /// RFC 3339 UTC.
    pub created: String,
}

impl LockInfo {
    /// Info for a lock this process takes now for `operation`.
    pub fn new(operation: &str) -> Self {
        LockInfo {
            id: format!("{:016x}", rand::random::<u64>()),
            operation: operation.to_string(),
            who: who(),
            host: this_host(),
            pid: std::process::id(),
            created: crate::clock::now_rfc3339(),
        }
    }

    /// A holder that cannot be told (its record is being written, or unreadable).
    pub fn unknown() -> Self {
        LockInfo {
            id: "unknown".into(),
            operation: "unknown".into(),
            who: "unknown".into(),
            host: "unknown".into(),
            pid: 0,
            created: "unknown".into(),
        }
    }

    /// This holder if its lock id is `id` (what `force-unlock ID` may remove), else the error
    /// naming the real holder.
    pub fn matching(self, id: &str) -> Result<LockInfo, LockError> {
        if self.id != id {
            return Err(LockError::WrongId {
                given: id.to_string(),
                info: Box::new(self),
            });
        }
        Ok(self)
    }

    /// Whether the holder is a process on this host that no longer runs.
    pub fn is_stale(&self) -> bool {
        self.host == this_host() && !process_alive(self.pid)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "State is locked by {} (pid {}{}) for `{}` since {}, lock id {}",
        info.who, info.pid, if info.is_stale() { ", no longer running" } else { "" },
        info.operation, info.created, info.id
    )]
    Held { info: Box<LockInfo>, path: PathBuf },
    #[error("State is not locked; there is nothing to unlock")]
    NotLocked,
    #[error("Lock id {given} does not match the lock held by {} (lock id {})", info.who, info.id)]
    WrongId { given: String, info: Box<LockInfo> },
    #[error("Cannot use lock file {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl LockError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            LockError::Held { info, .. } if info.is_stale() => Some(format!(
                "the lock is stale: its process {} on {} has ended; if no other oss works on \
                 this state, run `oss force-unlock {}`",
                info.pid, info.host, info.id
            )),
            LockError::Held { .. } => {
                Some("wait for it to finish, or pass --lock-timeout 5m to wait for the lock".into())
            }
            LockError::WrongId { info, .. } => Some(format!(
                "to remove this lock run `oss force-unlock {}`",
                info.id
            )),
            _ => None,
        }
    }
}

/// How lock waiting pauses between tries, in every backend: 50 ms doubling to 2 s, jittered,
/// until `timeout` has passed since the first try.
pub const fn waiting(timeout: Duration) -> Policy {
    Policy::until(Duration::from_millis(50), Duration::from_secs(2), timeout)
}

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    pub info: LockInfo,
}

impl Lock {
    /// Takes the lock at `path` for `operation`, waiting up to `timeout` with backoff.
    pub fn acquire(path: &Path, operation: &str, timeout: Duration) -> Result<Lock, LockError> {
        let io_err = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            crate::fsutil::create_private_dir_all(dir).map_err(io_err)?;
        }
        let info = LockInfo::new(operation);
        // The record is written whole to a temporary file first and then hard-linked into
        // place: the link fails if the lock exists, so the lock appears atomically with its
        // record and nobody ever reads a half-written one.
        let tmp = path.with_extension(format!("lock.tmp-{}-{}", std::process::id(), info.id));
        {
            let mut file = crate::fsutil::create_private_new(&tmp).map_err(io_err)?;
            let body = serde_json::to_vec_pretty(&info).expect("lock info serializes");
            file.write_all(&body)
                .and_then(|()| file.sync_all())
                .map_err(io_err)?;
        }
        let taken = Self::take(path, &tmp, timeout);
        let _ = fs::remove_file(&tmp);
        taken?;
        Ok(Lock {
            path: path.to_path_buf(),
            info,
        })
    }

    /// Links `tmp` (the record) to `path`, waiting with backoff while another holds it.
    fn take(path: &Path, tmp: &Path, timeout: Duration) -> Result<(), LockError> {
        let io_err = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut backoff = waiting(timeout).start();
        loop {
            match fs::hard_link(tmp, path) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let Some(holder) = read(path).map_err(io_err)? else {
                        continue; // released between our attempt and the read
                    };
                    if !backoff.wait_blocking(None) {
                        return Err(LockError::Held {
                            info: Box::new(holder),
                            path: path.to_path_buf(),
                        });
                    }
                }
                Err(e) => return Err(io_err(e)),
            }
        }
    }
}

impl Lock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        release(&self.path, &self.info.id);
    }
}

/// Removes the lock at `path` only if it is still ours (`id`): a force-unlock may have handed
/// it to someone else meanwhile. For paths that end the process without running destructors.
pub fn release(path: &Path, id: &str) {
    if let Ok(Some(current)) = read(path)
        && current.id == id
    {
        let _ = fs::remove_file(path);
    }
}

/// The lock info at `path`, if it is held. A lock file being written right now (empty or
/// partial) reads as held by an unknown holder.
pub fn read(path: &Path) -> io::Result<Option<LockInfo>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(
            serde_json::from_slice(&bytes).unwrap_or_else(|_| LockInfo::unknown()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes the lock at `path` if its id is `id`.
pub fn force_unlock(path: &Path, id: &str) -> Result<LockInfo, LockError> {
    let found = read(path).map_err(|source| LockError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let info = found.ok_or(LockError::NotLocked)?.matching(id)?;
    fs::remove_file(path).map_err(|source| LockError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(info)
}

/// `user@host` of this process: `$USER`, else the password database, else the uid.
pub fn who() -> String {
    let uid = unsafe { libc::getuid() };
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| {
            // SAFETY: getpwuid returns a pointer into static storage or null; read at once.
            let entry = unsafe { libc::getpwuid(uid) };
            (!entry.is_null())
                .then(|| unsafe { std::ffi::CStr::from_ptr((*entry).pw_name) })
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| format!("uid{uid}"));
    format!("{user}@{}", this_host())
}

fn this_host() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

fn process_alive(pid: u32) -> bool {
    // Signal 0 checks existence; EPERM means it exists but is not ours.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_taker_sees_the_holder_and_force_unlock_needs_the_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = Lock::acquire(&path, "apply", Duration::ZERO).unwrap();
        let err = Lock::acquire(&path, "destroy", Duration::from_millis(120)).unwrap_err();
        match &err {
            LockError::Held { info, .. } => {
                assert_eq!(info.id, held.info.id);
                assert_eq!(info.operation, "apply");
                assert!(!info.is_stale());
            }
            other => panic!("unexpected {other}"),
        }
        assert!(matches!(
            force_unlock(&path, "nope"),
            Err(LockError::WrongId { .. })
        ));
        force_unlock(&path, &held.info.id).unwrap();
        assert!(read(&path).unwrap().is_none());
    }

    #[test]
    fn a_lock_of_a_dead_process_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let mut info = Lock::acquire(&path, "apply", Duration::ZERO)
            .unwrap()
            .info
            .clone();
        info.pid = pid;
        fs::write(&path, serde_json::to_vec(&info).unwrap()).unwrap();
        let err = Lock::acquire(&path, "apply", Duration::ZERO).unwrap_err();
        assert!(err.to_string().contains("no longer running"), "{err}");
        assert!(
            err.hint()
                .unwrap()
                .contains(&format!("oss force-unlock {}", info.id))
        );
    }

    #[test]
    fn waiting_gets_the_lock_once_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = Lock::acquire(&path, "apply", Duration::ZERO).unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(held);
        });
        Lock::acquire(&path, "apply", Duration::from_secs(5)).unwrap();
        releaser.join().unwrap();
    }
}
