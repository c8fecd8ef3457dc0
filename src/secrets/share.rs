//! One share of a vault's unseal key: Shamir's scheme over GF(256) (the `blahaj` crate, whose
//! polynomial coefficients are drawn uniformly from the whole field, zero included, so k-1
//! shares say nothing about the key), the one-line text a share is written as, and the age
//! encryption a share may be wrapped in for its holder. Pure: no I/O.

use std::io::Read;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use zeroize::Zeroizing;

use super::key::{KEY_LEN, Key};

/// What every share's text starts with.
const PREFIX: &str = "oss-share1";
/// How an age-encrypted share (ASCII armour) starts.
const AGE_ARMOR: &str = "-----BEGIN AGE ENCRYPTED FILE-----";
/// How a binary age file starts.
const AGE_BINARY: &[u8] = b"age-encryption.org/";

/// One share, read and checked for typos, not yet matched against a vault.
pub struct Share {
    /// The id of the vault it belongs to.
    pub vault: String,
    /// The share set it was dealt in (a new one on every `oss secrets rekey`).
    pub set: String,
    /// Its number, 1..=count (Shamir's x).
    pub index: u8,
    pub threshold: u8,
    pub count: u8,
    /// blahaj's encoding: x, then the key's bytes of y.
    bytes: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Share({} of {} for vault {}, sensitive)",
            self.index, self.count, self.vault
        )
    }
}

impl Share {
    /// The SHA-256 of the share's bytes, as the vault records it to tell an altered share.
    pub fn digest(&self) -> String {
        crate::digest::sha256_hex(&self.bytes)
    }

    /// The share as one line of text: `oss-share1.VAULT.SET.INDEX.KofN.DATA.CHECK`, CHECK
    /// being the start of the SHA-256 of what precedes it (a typo or a cut line is caught
    /// before any arithmetic).
    pub fn to_text(&self) -> Zeroizing<String> {
        let body = Zeroizing::new(format!(
            "{PREFIX}.{}.{}.{}.{}of{}.{}",
            self.vault,
            self.set,
            self.index,
            self.threshold,
            self.count,
            B64URL.encode(self.bytes.as_slice())
        ));
        let check = &crate::digest::sha256_hex(body.as_bytes())[..8];
        Zeroizing::new(format!("{}.{check}", body.as_str()))
    }

    /// Reads a share's text (lines starting with `#` and blank lines ignored); the error says
    /// what is wrong with it, without echoing it.
    pub fn parse(text: &str) -> Result<Share, String> {
        let mut lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        let line = lines.next().ok_or("it holds no share")?;
        if lines.next().is_some() {
            return Err("it holds more than one line of text".into());
        }
        if !line.starts_with(PREFIX) {
            return Err(format!("it does not start with {PREFIX}"));
        }
        let (body, check) = line.rsplit_once('.').ok_or("it is cut short")?;
        if crate::digest::sha256_hex(body.as_bytes())[..8] != *check {
            return Err("its checksum does not match (a changed or missing character)".into());
        }
        let parts: Vec<&str> = body.split('.').collect();
        let [_, vault, set, index, k_of_n, data] = parts[..] else {
            return Err("it does not have the six parts of a share".into());
        };
        let index: u8 = index.parse().map_err(|_| "its number is not 1 to 255")?;
        let (k, n) = k_of_n
            .split_once("of")
            .ok_or("its threshold is unreadable")?;
        let threshold: u8 = k.parse().map_err(|_| "its threshold is unreadable")?;
        let count: u8 = n.parse().map_err(|_| "its share count is unreadable")?;
        let bytes = Zeroizing::new(B64URL.decode(data).map_err(|_| "its data is not base64")?);
        if bytes.len() != KEY_LEN + 1 || bytes[0] != index || index == 0 || index > count {
            return Err("its data does not fit its number".into());
        }
        if threshold == 0 || threshold > count {
            return Err("its threshold is not between 1 and its share count".into());
        }
        Ok(Share {
            vault: vault.to_string(),
            set: set.to_string(),
            index,
            threshold,
            count,
            bytes,
        })
    }
}

/// Splits `key` into `count` shares, any `threshold` of which give it back.
pub fn deal(key: &Key, threshold: u8, count: u8, vault: &str, set: &str) -> Vec<Share> {
    blahaj::Sharks(threshold)
        .dealer(key.bytes())
        .take(count as usize)
        .map(|share| {
            let bytes = Zeroizing::new(Vec::<u8>::from(&share));
            Share {
                vault: vault.to_string(),
                set: set.to_string(),
                index: bytes[0],
                threshold,
                count,
                bytes,
            }
        })
        .collect()
}

/// The key `shares` give (distinct, at least their threshold: the caller checked).
pub fn combine(shares: &[&Share]) -> Option<Key> {
    let threshold = shares.first()?.threshold;
    let parsed: Vec<blahaj::Share> = shares
        .iter()
        .map(|s| blahaj::Share::try_from(s.bytes.as_slice()))
        .collect::<Result<_, _>>()
        .ok()?;
    let key = Zeroizing::new(blahaj::Sharks(threshold).recover(&parsed).ok()?);
    Key::from_slice(&key)
}

/// Why an age-encrypted share could not be opened.
#[derive(Debug)]
pub enum AgeFailure {
    /// No identity was given.
    NoIdentity,
    /// None of the identities given is a recipient of it.
    NoMatch,
    /// Not a readable age file.
    Unreadable(String),
}

/// Whether `bytes` are an age file (armoured or binary).
pub fn is_age(bytes: &[u8]) -> bool {
    let start = bytes.trim_ascii_start();
    start.starts_with(AGE_ARMOR.as_bytes()) || start.starts_with(AGE_BINARY)
}

/// The plaintext of the age file `bytes`, decrypted with one of `identities`.
pub fn open_age(
    bytes: &[u8],
    identities: &[Box<dyn age::Identity + Send + Sync>],
) -> Result<Zeroizing<String>, AgeFailure> {
    if identities.is_empty() {
        return Err(AgeFailure::NoIdentity);
    }
    let reader = age::armor::ArmoredReader::new(bytes.trim_ascii_start());
    let decryptor =
        age::Decryptor::new_buffered(reader).map_err(|e| AgeFailure::Unreadable(e.to_string()))?;
    let mut stream = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => AgeFailure::NoMatch,
            other => AgeFailure::Unreadable(other.to_string()),
        })?;
    let mut plain = Zeroizing::new(Vec::new());
    stream
        .read_to_end(&mut plain)
        .map_err(|e| AgeFailure::Unreadable(e.to_string()))?;
    String::from_utf8(plain.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| AgeFailure::Unreadable("its plaintext is not text".into()))
}

/// `text` encrypted to the age public key `recipient` (`age1...`), ASCII-armoured.
pub fn seal_age(text: &str, recipient: &str) -> Result<String, String> {
    let recipient = age::x25519::Recipient::from_str(recipient.trim())
        .map_err(|e| format!("it is not an age X25519 public key ({e})"))?;
    age::encrypt_and_armor(&recipient, text.as_bytes()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_threshold_of_shares_gives_the_key_back_and_fewer_do_not() {
        let key = Key::random();
        let shares = deal(&key, 3, 5, "v1", "s1");
        assert_eq!(shares.len(), 5);
        let picked = [&shares[4], &shares[0], &shares[2]];
        assert_eq!(combine(&picked).unwrap().bytes(), key.bytes());
        assert!(combine(&picked[..2]).is_none());
    }

    #[test]
    fn a_share_survives_its_text_and_a_changed_character_is_caught() {
        let key = Key::random();
        let share = &deal(&key, 2, 3, "abc", "def")[1];
        let text = share.to_text();
        let back = Share::parse(&format!("# a comment\n{}\n", text.as_str())).unwrap();
        assert_eq!((back.index, back.threshold, back.count), (2, 2, 3));
        assert_eq!(back.digest(), share.digest());
        let mut changed = text.to_string();
        let at = changed.len() - 12;
        let c = if &changed[at..=at] == "A" { "B" } else { "A" };
        changed.replace_range(at..=at, c);
        let err = Share::parse(&changed).unwrap_err();
        assert!(err.contains("checksum"), "{err}");
        assert!(!format!("{back:?}").contains(&text[20..40]));
    }

    #[test]
    fn an_age_share_opens_with_its_identity_only() {
        let holder = age::x25519::Identity::generate();
        let other = age::x25519::Identity::generate();
        let sealed = seal_age("hello", &holder.to_public().to_string()).unwrap();
        assert!(is_age(sealed.as_bytes()));
        let mine: Vec<Box<dyn age::Identity + Send + Sync>> = vec![Box::new(holder)];
        assert_eq!(
            open_age(sealed.as_bytes(), &mine).unwrap().as_str(),
            "hello"
        );
        let theirs: Vec<Box<dyn age::Identity + Send + Sync>> = vec![Box::new(other)];
        assert!(matches!(
            open_age(sealed.as_bytes(), &theirs),
            Err(AgeFailure::NoMatch)
        ));
        assert!(matches!(
            open_age(sealed.as_bytes(), &[]),
            Err(AgeFailure::NoIdentity)
        ));
    }
}
