//! What an encrypted version and an encrypted journal record look like at rest, and the
//! associated data that binds each ciphertext to its place. Pure: no I/O, no key making.
//!
//! A version is a JSON object that keeps in clear only what a backend needs without the key
//! (the serial and lineage its compare-and-swap and version list read) and what a reader
//! needs to find the key (the key provider's public parameters):
//! `{"encrypted_state": 1, "lineage": L, "serial": N, "method": "aes_gcm", "key": {...},
//! "nonce": B64, "ciphertext": B64}`. The associated data is `oss-state/1`, the lineage, the
//! serial and the key parameters, so a version copied under another serial or lineage, or
//! given other parameters, does not open. A journal record is one line
//! `{"sealed": {"n": I, "nonce": B64, "ciphertext": B64}}` whose associated data names the
//! lineage, the serial it continues and its index, so records cannot be moved between
//! journals, dropped from the middle or reordered unnoticed.

use serde::{Deserialize, Serialize};

use crate::secrets::Key;
pub use crate::secrets::Sealed;

/// The envelope's version number (the value of `encrypted_state`).
pub const ENVELOPE: u32 = 1;

/// A key provider's public parameters, as each version records them: enough for the right
/// reader to make the key again, nothing that helps anyone else.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum KeyMeta {
    /// PBKDF2-HMAC-SHA512 with this many iterations over this salt (base64, 16 bytes).
    Passphrase {
        kdf: String,
        iterations: u32,
        salt: String,
    },
    /// The data key as KMS sealed it (its CiphertextBlob, base64) under `key_id`.
    AwsKms { key_id: String, blob: String },
    /// The data key of the vault `vault`, as it was under its `key_id` (rotation changes it).
    Shares { vault: String, key_id: String },
}

impl KeyMeta {
    /// The key provider's name as a strategy writes it.
    pub fn provider(&self) -> &'static str {
        match self {
            KeyMeta::Passphrase { .. } => "passphrase",
            KeyMeta::AwsKms { .. } => "aws_kms",
            KeyMeta::Shares { .. } => "shares",
        }
    }
}

/// An encrypted version of the state document.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub encrypted_state: u32,
    pub lineage: String,
    pub serial: u64,
    pub method: String,
    pub key: KeyMeta,
    #[serde(flatten)]
    pub sealed: Sealed,
}

/// What every stored version (plaintext or envelope) tells without a key.
#[derive(Deserialize)]
pub struct Header {
    pub serial: u64,
    pub lineage: String,
    #[serde(default)]
    pub encrypted_state: Option<u32>,
}

/// The serial, lineage and whether it is encrypted, of a stored version; `None` when the
/// bytes are not a state document of either kind.
pub fn header(bytes: &[u8]) -> Option<Header> {
    serde_json::from_slice(bytes).ok()
}

fn document_aad(lineage: &str, serial: u64, key: &KeyMeta) -> Vec<u8> {
    let key = serde_json::to_string(key).expect("key parameters serialize");
    format!("oss-state/1\n{lineage}\n{serial}\n{key}").into_bytes()
}

/// `plain` (a rendered state with this lineage and serial) sealed under `key`.
pub fn seal_document(
    key: &Key,
    meta: &KeyMeta,
    lineage: &str,
    serial: u64,
    plain: &[u8],
) -> Vec<u8> {
    let sealed = key.seal(plain, &document_aad(lineage, serial, meta));
    let envelope = Envelope {
        encrypted_state: ENVELOPE,
        lineage: lineage.to_string(),
        serial,
        method: "aes_gcm".into(),
        key: meta.clone(),
        sealed,
    };
    let mut bytes = serde_json::to_vec_pretty(&envelope).expect("an envelope serializes");
    bytes.push(b'\n');
    bytes
}

/// The rendered state inside `envelope`, or `None` when `key` is not its key or a byte of it
/// (or of its lineage, serial or parameters) changed.
pub fn open_document(key: &Key, envelope: &Envelope) -> Option<Vec<u8>> {
    let aad = document_aad(&envelope.lineage, envelope.serial, &envelope.key);
    key.open(&envelope.sealed, &aad).map(|plain| plain.to_vec())
}

/// One sealed journal line.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    sealed: RecordBody,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordBody {
    n: u64,
    #[serde(flatten)]
    sealed: Sealed,
}

fn record_aad(lineage: &str, base_serial: u64, n: u64) -> Vec<u8> {
    format!("oss-journal/1\n{lineage}\n{base_serial}\n{n}").into_bytes()
}

/// The journal line holding `plain` (one encoded entry) as record `n` of the journal that
/// continues `lineage` at `base_serial`.
pub fn seal_record(key: &Key, lineage: &str, base_serial: u64, n: u64, plain: &str) -> String {
    let sealed = key.seal(plain.as_bytes(), &record_aad(lineage, base_serial, n));
    serde_json::to_string(&Record {
        sealed: RecordBody { n, sealed },
    })
    .expect("a record serializes")
}

/// What reading one journal line found.
#[derive(Debug, PartialEq)]
pub enum Line {
    /// The entry's text.
    Opened(String),
    /// Not a sealed record at all (a torn write, or a plaintext line).
    NotSealed,
    /// A whole sealed record that does not open: another index than expected, another key,
    /// another journal, or changed bytes.
    Refused { n: u64 },
}

/// Opens `line` as record `n` of the journal continuing `lineage` at `base_serial`.
pub fn open_record(key: &Key, lineage: &str, base_serial: u64, n: u64, line: &str) -> Line {
    let Ok(record) = serde_json::from_str::<Record>(line) else {
        return Line::NotSealed;
    };
    if record.sealed.n != n {
        return Line::Refused { n: record.sealed.n };
    }
    match key.open(&record.sealed.sealed, &record_aad(lineage, base_serial, n)) {
        Some(plain) => match String::from_utf8(plain.to_vec()) {
            Ok(text) => Line::Opened(text),
            Err(_) => Line::Refused { n },
        },
        None => Line::Refused { n },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> KeyMeta {
        KeyMeta::Passphrase {
            kdf: "pbkdf2_sha512".into(),
            iterations: 10_000,
            salt: "c2FsdA==".into(),
        }
    }

    #[test]
    fn a_version_opens_only_under_its_own_serial_lineage_and_key() {
        let key = Key::random();
        let bytes = seal_document(&key, &meta(), "l-1", 4, b"{\"plain\":1}");
        let envelope: Envelope = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(open_document(&key, &envelope).unwrap(), b"{\"plain\":1}");
        let h = header(&bytes).unwrap();
        assert_eq!(
            (h.serial, h.lineage.as_str(), h.encrypted_state),
            (4, "l-1", Some(1))
        );
        let mut moved = envelope.clone();
        moved.serial = 5;
        assert!(
            open_document(&key, &moved).is_none(),
            "moved to another serial"
        );
        let mut other = envelope.clone();
        other.lineage = "l-2".into();
        assert!(
            open_document(&key, &other).is_none(),
            "moved to another lineage"
        );
        assert!(
            open_document(&Key::random(), &envelope).is_none(),
            "another key"
        );
    }

    #[test]
    fn records_open_in_place_only() {
        let key = Key::random();
        let line = seal_record(&key, "l-1", 4, 0, "{\"delete\":\"node.web[0]\"}");
        assert_eq!(
            open_record(&key, "l-1", 4, 0, &line),
            Line::Opened("{\"delete\":\"node.web[0]\"}".into())
        );
        assert_eq!(
            open_record(&key, "l-1", 4, 1, &line),
            Line::Refused { n: 0 }
        );
        assert_eq!(
            open_record(&key, "l-1", 5, 0, &line),
            Line::Refused { n: 0 }
        );
        assert_eq!(open_record(&key, "l-1", 4, 0, &line[..20]), Line::NotSealed);
        assert_eq!(
            open_record(&key, "l-1", 4, 0, "{\"delete\":\"node.web[0]\"}"),
            Line::NotSealed
        );
    }
}
