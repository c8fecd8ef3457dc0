//! The vault file (`secrets.oss.json`, safe to commit): named secrets sealed under a random
//! data key, the data key sealed under the unseal key, and what tells a genuine share of the
//! unseal key (the vault's id, the share set, each share's SHA-256). The unseal key itself is
//! stored nowhere: only its shares, each in its holder's file. Reading and writing the file
//! is here; the shares are gathered in `unlock`.
//!
//! Two keys, as in Vault's unseal design: `rekey` deals a new unseal key (old shares open
//! nothing any more: they give the old unseal key, which no longer seals the data key), and
//! `rotate` makes a new data key and seals every secret again (the shares stay valid).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::error::VaultError;
use super::key::{Key, Sealed};
use super::share::{self, Share};

const FORMAT: &str = "oss-vault/1";

/// A secret's value, zeroized when dropped; `Debug` shows no character of it.
pub struct SecretValue(Zeroizing<String>);

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue(sensitive)")
    }
}

impl SecretValue {
    pub fn new(value: Zeroizing<String>) -> SecretValue {
        SecretValue(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The vault's keys, once unlocked: the data key always; the unseal key when shares were
/// given (the agent holds only the data key, so `rekey` and `rotate` need the shares).
pub struct Unlocked {
    pub data: Key,
    pub unseal: Option<Key>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    format: String,
    /// Random, fixed at `init`: a share of another vault is told by it.
    id: String,
    threshold: u8,
    shares: u8,
    /// Random, new on every rekey: a share of an earlier set is told by it.
    share_set: String,
    /// SHA-256 of each share's bytes, by share number - 1: an altered share is named before
    /// any arithmetic (one share's digest says nothing about the key: it is a hash of a
    /// uniformly random value that the other shares do not determine).
    share_digests: Vec<String>,
    /// Random, new on every rotate: names the data key in force (the agent's key is checked
    /// against it).
    key_id: String,
    /// The data key sealed under the unseal key.
    data_key: Sealed,
    /// An empty message sealed under the data key: proves a data key without any secret.
    key_check: Sealed,
    secrets: BTreeMap<String, Sealed>,
}

/// A vault file, read or about to be written.
pub struct Vault {
    path: PathBuf,
    doc: Document,
}

fn random_id(bytes: usize) -> String {
    let key = Key::random();
    crate::digest::sha256_hex(key.bytes())[..bytes * 2].to_string()
}

/// Whether `name` can be written as `secret.NAME` (letters, digits, `_`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Vault {
    /// Reads the vault at `path`.
    pub fn load(path: &Path) -> Result<Vault, VaultError> {
        let text = std::fs::read_to_string(path).map_err(|source| VaultError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let malformed = |line, column, message: String| VaultError::Malformed {
            path: path.to_path_buf(),
            line,
            column,
            message,
        };
        let doc: Document = serde_json::from_str(&text).map_err(|e| {
            let message = e.to_string();
            let message = message
                .rfind(" at line ")
                .map_or(message.clone(), |i| message[..i].to_string());
            malformed(e.line(), e.column(), message)
        })?;
        if doc.format != FORMAT {
            return Err(malformed(1, 1, format!("its format is not {FORMAT}")));
        }
        let count = doc.shares;
        if doc.threshold == 0 || doc.threshold > count || doc.share_digests.len() != count as usize
        {
            return Err(malformed(
                1,
                1,
                "its threshold, share count and share digests disagree".into(),
            ));
        }
        Ok(Vault {
            path: path.to_path_buf(),
            doc,
        })
    }

    /// A new vault for `path` (written by [`Vault::save`]) and the shares of its unseal key.
    pub fn create(
        path: &Path,
        threshold: u8,
        count: u8,
    ) -> Result<(Vault, Vec<Share>), VaultError> {
        check_split(threshold, count)?;
        if path.exists() {
            return Err(VaultError::Exists {
                path: path.to_path_buf(),
            });
        }
        let id = random_id(8);
        let data = Key::random();
        let key_id = random_id(4);
        let key_check = data.seal(b"", check_aad(&id, &key_id).as_bytes());
        let mut vault = Vault {
            path: path.to_path_buf(),
            doc: Document {
                format: FORMAT.into(),
                id,
                threshold,
                shares: count,
                share_set: String::new(),
                share_digests: Vec::new(),
                key_id,
                data_key: Sealed {
                    nonce: String::new(),
                    ciphertext: String::new(),
                },
                key_check,
                secrets: BTreeMap::new(),
            },
        };
        let shares = vault.deal(&data, threshold, count);
        Ok((vault, shares))
    }

    /// A new unseal key sealing `data`, dealt into `count` shares (a new share set).
    fn deal(&mut self, data: &Key, threshold: u8, count: u8) -> Vec<Share> {
        let unseal = Key::random();
        self.doc.share_set = random_id(4);
        self.doc.threshold = threshold;
        self.doc.shares = count;
        let shares = share::deal(&unseal, threshold, count, &self.doc.id, &self.doc.share_set);
        self.doc.share_digests = shares.iter().map(Share::digest).collect();
        self.doc.data_key = unseal.seal(data.bytes(), self.key_aad().as_bytes());
        shares
    }

    /// Writes the vault atomically (0644: it holds nothing readable without the shares).
    pub fn save(&self) -> Result<(), VaultError> {
        let mut text = serde_json::to_string_pretty(&self.doc).expect("a vault serializes");
        text.push('\n');
        crate::fsutil::write_atomic(&self.path, text.as_bytes(), 0o644).map_err(|source| {
            VaultError::Write {
                path: self.path.clone(),
                source,
            }
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn id(&self) -> &str {
        &self.doc.id
    }

    pub fn key_id(&self) -> &str {
        &self.doc.key_id
    }

    pub fn share_set(&self) -> &str {
        &self.doc.share_set
    }

    pub fn threshold(&self) -> u8 {
        self.doc.threshold
    }

    pub fn count(&self) -> u8 {
        self.doc.shares
    }

    /// The SHA-256 the vault recorded for share `index` (1-based).
    pub fn share_digest(&self, index: u8) -> Option<&str> {
        let i = usize::from(index).checked_sub(1)?;
        self.doc.share_digests.get(i).map(String::as_str)
    }

    /// The secrets' names, sorted (names are not secret: the file is meant to be committed).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.doc.secrets.keys().map(String::as_str)
    }

    fn key_aad(&self) -> String {
        format!(
            "{FORMAT}|data-key|{}|{}|{}",
            self.doc.id, self.doc.share_set, self.doc.key_id
        )
    }

    fn secret_aad(&self, name: &str) -> String {
        format!("{FORMAT}|secret|{}|{}|{name}", self.doc.id, self.doc.key_id)
    }

    /// The data key that `unseal` opens (the shares' key), with `unseal` kept for rekeying.
    pub fn unseal(&self, unseal: Key) -> Result<Unlocked, VaultError> {
        let bytes = unseal
            .open(&self.doc.data_key, self.key_aad().as_bytes())
            .ok_or_else(|| VaultError::KeyMismatch {
                vault: self.path.clone(),
            })?;
        let data = Key::from_slice(&bytes).ok_or_else(|| VaultError::KeyMismatch {
            vault: self.path.clone(),
        })?;
        self.check(&data)?;
        Ok(Unlocked {
            data,
            unseal: Some(unseal),
        })
    }

    /// Whether `data` is this vault's data key now.
    pub fn check(&self, data: &Key) -> Result<(), VaultError> {
        data.open(
            &self.doc.key_check,
            check_aad(&self.doc.id, &self.doc.key_id).as_bytes(),
        )
        .map(|_| ())
        .ok_or_else(|| VaultError::KeyMismatch {
            vault: self.path.clone(),
        })
    }

    /// The value of secret `name`.
    pub fn get(&self, data: &Key, name: &str) -> Result<SecretValue, VaultError> {
        let sealed = self
            .doc
            .secrets
            .get(name)
            .ok_or_else(|| self.no_secret(name))?;
        let tampered = || VaultError::Tampered {
            vault: self.path.clone(),
            name: name.to_string(),
        };
        let bytes = data
            .open(sealed, self.secret_aad(name).as_bytes())
            .ok_or_else(tampered)?;
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| tampered())?;
        Ok(SecretValue(Zeroizing::new(text)))
    }

    fn no_secret(&self, name: &str) -> VaultError {
        VaultError::NoSecret {
            vault: self.path.clone(),
            name: name.to_string(),
            near: crate::suggest::nearest(name, self.names(), 2)
                .into_iter()
                .map(String::from)
                .collect(),
        }
    }

    /// Sets secret `name` to `value` (replacing any value it had).
    pub fn set(&mut self, data: &Key, name: &str, value: &str) -> Result<(), VaultError> {
        if !valid_name(name) {
            return Err(VaultError::usage(
                format!(
                    "The secret name {} is not letters, digits and _ only.",
                    crate::echo::echo(name)
                ),
                "name it as it is referred to: \"secret.NAME\"",
            ));
        }
        self.check(data)?;
        let sealed = data.seal(value.as_bytes(), self.secret_aad(name).as_bytes());
        self.doc.secrets.insert(name.to_string(), sealed);
        Ok(())
    }

    /// Removes secret `name`.
    pub fn remove(&mut self, name: &str) -> Result<(), VaultError> {
        self.doc
            .secrets
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| self.no_secret(name))
    }

    /// New shares for the same data key (and so the same secrets); the old shares open
    /// nothing any more.
    pub fn rekey(
        &mut self,
        keys: &Unlocked,
        threshold: u8,
        count: u8,
    ) -> Result<Vec<Share>, VaultError> {
        check_split(threshold, count)?;
        self.check(&keys.data)?;
        Ok(self.deal(&keys.data, threshold, count))
    }

    /// A new data key: every secret sealed again under it, sealed under the same unseal key
    /// (the shares stay valid). Needs the unseal key (the shares), not only the data key.
    pub fn rotate(&mut self, keys: &Unlocked) -> Result<Key, VaultError> {
        let unseal = keys.unseal.as_ref().ok_or_else(|| {
            VaultError::usage(
                "Rotating the data key needs the shares; the unlock agent holds only the data key.",
                "pass the shares with --share FILE or OSS_SHARES",
            )
        })?;
        self.check(&keys.data)?;
        let values: Vec<(String, SecretValue)> = self
            .doc
            .secrets
            .keys()
            .map(|name| Ok((name.clone(), self.get(&keys.data, name)?)))
            .collect::<Result<_, VaultError>>()?;
        let data = Key::random();
        self.doc.key_id = random_id(4);
        self.doc.key_check = data.seal(b"", check_aad(&self.doc.id, &self.doc.key_id).as_bytes());
        self.doc.data_key = unseal.seal(data.bytes(), self.key_aad().as_bytes());
        for (name, value) in values {
            let sealed = data.seal(value.expose().as_bytes(), self.secret_aad(&name).as_bytes());
            self.doc.secrets.insert(name, sealed);
        }
        Ok(data)
    }
}

fn check_aad(id: &str, key_id: &str) -> String {
    format!("{FORMAT}|check|{id}|{key_id}")
}

fn check_split(threshold: u8, count: u8) -> Result<(), VaultError> {
    if count == 0 || threshold == 0 || threshold > count {
        return Err(VaultError::usage(
            format!(
                "A threshold of {threshold} with {count} shares cannot work: it must be 1 to the share count."
            ),
            "for example --shares 5 --threshold 3 (1 to 255 shares)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unlocked(vault: &Vault, shares: &[Share]) -> Unlocked {
        let picked: Vec<&Share> = shares.iter().take(vault.threshold().into()).collect();
        vault.unseal(share::combine(&picked).unwrap()).unwrap()
    }

    #[test]
    fn a_secret_moved_to_another_name_does_not_decrypt() {
        let dir = tempfile::tempdir().unwrap();
        let (mut vault, shares) = Vault::create(&dir.path().join("v.json"), 2, 3).unwrap();
        let keys = unlocked(&vault, &shares);
        vault.set(&keys.data, "A", "alpha").unwrap();
        vault.set(&keys.data, "B", "beta").unwrap();
        assert_eq!(vault.get(&keys.data, "A").unwrap().expose(), "alpha");
        let a = vault.doc.secrets["A"].clone();
        vault.doc.secrets.insert("B".into(), a);
        assert!(matches!(
            vault.get(&keys.data, "B"),
            Err(VaultError::Tampered { name, .. }) if name == "B"
        ));
        assert!(format!("{:?}", vault.get(&keys.data, "A").unwrap()).contains("sensitive"));
    }

    #[test]
    fn rekey_keeps_the_data_key_and_rotate_keeps_the_unseal_key() {
        let dir = tempfile::tempdir().unwrap();
        let (mut vault, old) = Vault::create(&dir.path().join("v.json"), 2, 3).unwrap();
        let keys = unlocked(&vault, &old);
        vault.set(&keys.data, "A", "alpha").unwrap();
        let new = vault.rekey(&keys, 3, 4).unwrap();
        let picked: Vec<&Share> = old.iter().take(2).collect();
        assert!(vault.unseal(share::combine(&picked).unwrap()).is_err());
        let keys = unlocked(&vault, &new);
        assert_eq!(vault.get(&keys.data, "A").unwrap().expose(), "alpha");
        let data = vault.rotate(&keys).unwrap();
        assert_ne!(data.bytes(), keys.data.bytes());
        assert!(vault.get(&keys.data, "A").is_err(), "the old data key");
        let again = unlocked(&vault, &new);
        assert_eq!(again.data.bytes(), data.bytes());
        assert_eq!(vault.get(&data, "A").unwrap().expose(), "alpha");
        // The agent's keys (no unseal key) cannot rotate.
        let agent = Unlocked { data, unseal: None };
        assert!(matches!(
            vault.rotate(&agent),
            Err(VaultError::Usage { .. })
        ));
    }
}
