//! The vault's keys and its one cipher: 256-bit keys that zeroize when dropped and never show
//! in `Debug`, and AES-256-GCM sealing (RustCrypto's `aes-gcm`) with a random 96-bit nonce
//! and associated data binding each ciphertext to its place. Pure: no I/O.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::Rng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Bytes in a key.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

/// A 256-bit key: the data key (it encrypts the secrets) or the unseal key (the shares'
/// secret; it encrypts the data key). Zeroized on drop; `Debug` prints no byte of it.
#[derive(Clone)]
pub struct Key(Zeroizing<[u8; KEY_LEN]>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(sensitive)")
    }
}

impl Key {
    /// A fresh key from the operating system's random source (through `rand`'s thread RNG,
    /// a CSPRNG seeded from it).
    pub fn random() -> Key {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rand::rng().fill_bytes(bytes.as_mut());
        Key(bytes)
    }

    /// The key made of exactly [`KEY_LEN`] bytes, else `None`.
    pub fn from_slice(bytes: &[u8]) -> Option<Key> {
        let array: [u8; KEY_LEN] = bytes.try_into().ok()?;
        Some(Key(Zeroizing::new(array)))
    }

    pub fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// `plain` encrypted under this key, bound to `aad`.
    pub fn seal(&self, plain: &[u8], aad: &[u8]) -> Sealed {
        let cipher = Aes256Gcm::new_from_slice(self.0.as_ref()).expect("a 32-byte key");
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad })
            .expect("AES-GCM encrypts any message below 64 GiB");
        Sealed {
            nonce: B64.encode(nonce),
            ciphertext: B64.encode(ciphertext),
        }
    }

    /// The plaintext of `sealed`, or `None` when this key, this `aad` or those bytes are not
    /// the ones it was sealed with (GCM's tag says which never: a wrong key and a flipped bit
    /// look the same).
    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let nonce = B64.decode(&sealed.nonce).ok()?;
        let ciphertext = B64.decode(&sealed.ciphertext).ok()?;
        if nonce.len() != NONCE_LEN {
            return None;
        }
        let cipher = Aes256Gcm::new_from_slice(self.0.as_ref()).expect("a 32-byte key");
        cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad,
                },
            )
            .ok()
            .map(Zeroizing::new)
    }
}

/// One AES-256-GCM ciphertext as the vault file stores it (base64; the tag ends the
/// ciphertext).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    pub nonce: String,
    pub ciphertext: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_text_opens_only_with_its_key_and_its_place() {
        let key = Key::random();
        let sealed = key.seal(b"hunter2", b"secret|A");
        assert_eq!(
            key.open(&sealed, b"secret|A").unwrap().as_slice(),
            b"hunter2"
        );
        assert!(
            key.open(&sealed, b"secret|B").is_none(),
            "moved to another name"
        );
        assert!(
            Key::random().open(&sealed, b"secret|A").is_none(),
            "another key"
        );
        let mut flipped = sealed.clone();
        let mut raw = B64.decode(&flipped.ciphertext).unwrap();
        raw[0] ^= 1;
        flipped.ciphertext = B64.encode(raw);
        assert!(key.open(&flipped, b"secret|A").is_none(), "a flipped bit");
    }

    #[test]
    fn debug_shows_no_key_byte() {
        let key = Key::from_slice(&[0xab; KEY_LEN]).unwrap();
        let shown = format!("{key:?}");
        assert_eq!(shown, "Key(sensitive)");
    }
}
