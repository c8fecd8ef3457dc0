//! Gathering the shares that unlock a vault, one at a time: each is read (age-decrypted with
//! the identities given), checked against the vault (its id, its share set, its recorded
//! digest) and against the shares given before it, so the error names the share at fault
//! and nothing is combined, let alone decrypted, until every share given is sound.

use std::path::{Path, PathBuf};

use super::error::VaultError;
use super::share::{self, AgeFailure, Share};
use super::vault::{Unlocked, Vault};

/// An age identity read from a file (X25519 keys, as `age-keygen` writes them).
pub type Identity = Box<dyn age::Identity + Send + Sync>;

/// Reads the identities in each of `paths`.
pub fn identities(paths: &[PathBuf]) -> Result<Vec<Identity>, VaultError> {
    let mut all = Vec::new();
    for path in paths {
        let failed = |reason: String| VaultError::Identity {
            path: path.clone(),
            reason,
        };
        let file = age::IdentityFile::from_file(path.display().to_string())
            .map_err(|e| failed(e.to_string()))?;
        all.extend(file.into_identities().map_err(|e| failed(e.to_string()))?);
    }
    Ok(all)
}

/// The shares given so far for one vault.
pub struct Collector<'v> {
    vault: &'v Vault,
    identities: Vec<Identity>,
    /// Each share with the name it was given by (a file, "terminal entry 2").
    shares: Vec<(String, Share)>,
}

impl<'v> Collector<'v> {
    pub fn new(vault: &'v Vault, identities: Vec<Identity>) -> Collector<'v> {
        Collector {
            vault,
            identities,
            shares: Vec::new(),
        }
    }

    /// Shares given that fit.
    pub fn have(&self) -> usize {
        self.shares.len()
    }

    /// Shares needed.
    pub fn need(&self) -> usize {
        usize::from(self.vault.threshold())
    }

    /// Reads the share in the file `path` (named by its path).
    pub fn add_file(&mut self, path: &Path) -> Result<(), VaultError> {
        let name = path.display().to_string();
        let bytes = read_small(path).map_err(|source| VaultError::ShareUnreadable {
            share: name.clone(),
            source,
        })?;
        self.add(name, &bytes)
    }

    /// Adds the share `bytes` (its text, or an age file of it), named `name` in errors.
    pub fn add(&mut self, name: String, bytes: &[u8]) -> Result<(), VaultError> {
        let text = if share::is_age(bytes) {
            share::open_age(bytes, &self.identities).map_err(|e| match e {
                AgeFailure::NoIdentity => VaultError::NoIdentity {
                    share: name.clone(),
                },
                AgeFailure::NoMatch => VaultError::WrongIdentity {
                    share: name.clone(),
                },
                AgeFailure::Unreadable(reason) => VaultError::AgeUnreadable {
                    share: name.clone(),
                    reason,
                },
            })?
        } else {
            let text = std::str::from_utf8(bytes).map_err(|_| VaultError::Corrupted {
                share: name.clone(),
                reason: "it is not text".into(),
            })?;
            zeroize::Zeroizing::new(text.to_string())
        };
        let share = Share::parse(&text).map_err(|reason| VaultError::Corrupted {
            share: name.clone(),
            reason,
        })?;
        let vault = self.vault;
        if share.vault != vault.id() {
            return Err(VaultError::OtherVault {
                share: name,
                found: share.vault,
                expected: vault.id().to_string(),
                vault: vault.path().to_path_buf(),
            });
        }
        if share.set != vault.share_set() {
            return Err(VaultError::Replaced {
                share: name,
                vault: vault.path().to_path_buf(),
            });
        }
        if vault.share_digest(share.index) != Some(share.digest().as_str())
            || share.threshold != vault.threshold()
            || share.count != vault.count()
        {
            return Err(VaultError::Corrupted {
                share: name,
                reason: format!(
                    "it is not the share {} of {} this vault recorded",
                    share.index,
                    vault.count()
                ),
            });
        }
        if let Some((first, _)) = self.shares.iter().find(|(_, s)| s.index == share.index) {
            return Err(VaultError::Duplicate {
                share: name,
                first: first.clone(),
                index: share.index,
                count: share.count,
            });
        }
        self.shares.push((name, share));
        Ok(())
    }

    /// The vault's keys from the shares given, if there are enough.
    pub fn finish(self) -> Result<Unlocked, VaultError> {
        if self.have() < self.need() {
            return Err(VaultError::TooFew {
                vault: self.vault.path().to_path_buf(),
                have: self.have(),
                need: self.need(),
                given: self.shares.into_iter().map(|(name, _)| name).collect(),
            });
        }
        let shares: Vec<&Share> = self.shares.iter().map(|(_, s)| s).collect();
        let unseal = share::combine(&shares).ok_or_else(|| VaultError::KeyMismatch {
            vault: self.vault.path().to_path_buf(),
        })?;
        self.vault.unseal(unseal)
    }
}

/// A share file's bytes: at most 64 KiB (a share is a few hundred bytes; anything larger is
/// not one, and is not read whole).
fn read_small(path: &Path) -> std::io::Result<zeroize::Zeroizing<Vec<u8>>> {
    use std::io::Read;
    let mut bytes = zeroize::Zeroizing::new(Vec::new());
    std::fs::File::open(path)?
        .take(64 * 1024)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}
