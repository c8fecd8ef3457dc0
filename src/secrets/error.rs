//! The vault's one error type. Every message names the file or the share at fault and none
//! holds a secret, a share or a key (they are never formatted into one).

use std::path::PathBuf;

/// What went wrong with a vault, a share or the agent.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("Cannot read the vault {}.", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Cannot write {}.", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("The vault {} is not a vault file: {message} (line {line}, column {column}).", path.display())]
    Malformed {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("A vault exists already at {}.", path.display())]
    Exists { path: PathBuf },
    #[error("{message}")]
    Usage { message: String, hint: String },
    #[error("Cannot read share {share}.")]
    ShareUnreadable {
        share: String,
        #[source]
        source: std::io::Error,
    },
    #[error("Share {share} is corrupted: {reason}.")]
    Corrupted { share: String, reason: String },
    #[error("Share {share} belongs to another vault (id {found}; {} has id {expected}).", vault.display())]
    OtherVault {
        share: String,
        found: String,
        expected: String,
        vault: PathBuf,
    },
    #[error("Share {share} was replaced by `oss secrets rekey` and no longer opens {}.", vault.display())]
    Replaced { share: String, vault: PathBuf },
    #[error("Share {share} is share {index} of {count} again: {first} is the same share.")]
    Duplicate {
        share: String,
        first: String,
        index: u8,
        count: u8,
    },
    #[error("Share {share} is age-encrypted and no age identity was given.")]
    NoIdentity { share: String },
    #[error("Share {share} is encrypted to another age key: no identity given opens it.")]
    WrongIdentity { share: String },
    #[error("Share {share} is not a readable age file: {reason}.")]
    AgeUnreadable { share: String, reason: String },
    #[error("Cannot read the age identity file {}: {reason}.", path.display())]
    Identity { path: PathBuf, reason: String },
    #[error("{have} of the {need} shares needed to unlock {} were given{}.", vault.display(), given_list(given))]
    TooFew {
        vault: PathBuf,
        have: usize,
        need: usize,
        given: Vec<String>,
    },
    #[error("The shares do not open {}: its key does not decrypt.", vault.display())]
    KeyMismatch { vault: PathBuf },
    #[error("The secret {name} in {} does not decrypt: the file was altered.", vault.display())]
    Tampered { vault: PathBuf, name: String },
    #[error("There is no secret {name} in {}.", vault.display())]
    NoSecret {
        vault: PathBuf,
        name: String,
        near: Vec<String>,
    },
    #[error("The unlock agent at {} failed: {reason}.", socket.display())]
    Agent { socket: PathBuf, reason: String },
}

fn given_list(given: &[String]) -> String {
    if given.is_empty() {
        String::new()
    } else {
        format!(" ({})", given.join(", "))
    }
}

impl VaultError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            VaultError::Read { .. } => {
                "create one with `oss secrets init --shares N --threshold K`, or pass --vault FILE"
                    .into()
            }
            VaultError::Malformed { .. } | VaultError::Tampered { .. } => {
                "restore the vault file from version control".into()
            }
            VaultError::Exists { .. } => {
                "to make new shares for it run `oss secrets rekey`; to start over, remove it first"
                    .into()
            }
            VaultError::Usage { hint, .. } => hint.clone(),
            VaultError::Corrupted { .. } | VaultError::ShareUnreadable { .. } => {
                "ask its holder for an intact copy, or use another share".into()
            }
            VaultError::OtherVault { .. } => "give the shares made for this vault".into(),
            VaultError::Replaced { .. } => "use the shares the last rekey wrote".into(),
            VaultError::Duplicate { .. } => "give each share once, from different holders".into(),
            VaultError::NoIdentity { .. } => {
                "pass --identity FILE (an age identity file, as age-keygen writes)".into()
            }
            VaultError::WrongIdentity { .. } => {
                "pass the identity of the holder this share was made for (--identity FILE)".into()
            }
            VaultError::AgeUnreadable { .. } => "ask its holder for an intact copy".into(),
            VaultError::Identity { .. } => "pass a file that age-keygen wrote".into(),
            VaultError::TooFew { need, have, .. } => format!(
                "give {} more with --share FILE or OSS_SHARES, or run `oss unlock` at a terminal",
                need - have
            ),
            VaultError::KeyMismatch { .. } => {
                "one of the shares was altered; try another combination of shares".into()
            }
            VaultError::NoSecret { near, .. } if !near.is_empty() => {
                format!("did you mean {}?", near.join(" or "))
            }
            VaultError::NoSecret { name, .. } => {
                format!("add it with `oss secrets set {name}` (the value is read from stdin)")
            }
            VaultError::Write { .. } => return None,
            VaultError::Agent { .. } => "run `oss lock` and `oss unlock` again".into(),
        })
    }

    pub(crate) fn usage(message: impl Into<String>, hint: impl Into<String>) -> VaultError {
        VaultError::Usage {
            message: message.into(),
            hint: hint.into(),
        }
    }
}
