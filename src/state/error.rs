//! The one error type of the state layer: every backend (local files, PostgreSQL, S3), the
//! document codec and the journal report through [`StateError`]. Lock errors are their own
//! type ([`super::lock::LockError`]) because the CLI gives them their own hints.
//!
//! Messages name the file or backend (URLs without passwords) and never carry state content
//! beyond addresses.

use std::io;
use std::path::{Path, PathBuf};

use crate::strategy::locate::Position;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("Cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("State file {} is not valid state JSON", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "State file {} has format_version {found}; this oss reads version {}",
        path.display(), super::FORMAT_VERSION
    )]
    Version { path: PathBuf, found: u32 },
    /// A resource address listed twice: which copy is meant cannot be told, so nothing is used.
    #[error(
        "State file {}{} lists {address} a second time (at {pointer}); each resource may \
         appear once: remove the wrong entry, or restore an earlier version",
        path.display(), at.map(|p| format!(":{}:{}", p.line, p.column)).unwrap_or_default()
    )]
    Duplicate {
        path: PathBuf,
        address: String,
        /// JSON pointer of the second occurrence.
        pointer: String,
        /// Line and column of the second occurrence, when the text could be walked.
        at: Option<Position>,
    },
    /// A journal record between others cannot be read: folding the ones after it would make
    /// a state that never existed.
    #[error(
        "State backend {backend}: the apply journal object {object} cannot be read ({problem}); \
         nothing was changed. The journal is never folded around a missing record: make the \
         object readable again and retry"
    )]
    JournalHole {
        backend: String,
        object: String,
        problem: String,
    },
    #[error("The state changed underneath: expected serial {expected}, found {found}")]
    Conflict { expected: u64, found: u64 },
    #[error("Refused: {0}")]
    Refused(String),
    /// A version that the state's encryption settings do not let be read (or written): what
    /// is missing, never a key.
    #[error("State {whence} {message}")]
    Encryption { whence: String, message: String },
    #[error("State backend {backend}: {message}")]
    Backend { backend: String, message: String },
}

/// Maps an I/O error on `path` to [`StateError::Io`] saying what was being done.
pub(crate) fn io_err<'p>(
    action: &'static str,
    path: &'p Path,
) -> impl FnOnce(io::Error) -> StateError + 'p {
    move |source| StateError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}
