//! State encryption at rest: one layer every backend's bytes go through ([`Codec`]), so the
//! local files, PostgreSQL rows and S3 objects hold the same envelopes ([`envelope`]) and
//! the journal's records are sealed the same way. Settings as the strategy writes them are
//! [`settings`]; the keys come from [`provider`].
//!
//! Writes use the primary settings (sealed, or in clear with `"method": "unencrypted"`).
//! Reads accept what the primary or the `fallback` would have written, and nothing else: a
//! plaintext version is read only when one of them is `unencrypted` (or no encryption is
//! set at all), and an encrypted one only with its own key. So migrating plaintext →
//! encrypted is `aes_gcm` with an `unencrypted` fallback, back is the reverse, and rotation is
//! the new key provider with the old one as fallback; each is complete after one write. A
//! journal is sealed with the key its state was sealed with. Nothing here prints; errors say
//! which version, which key provider and what is missing, never a key or a passphrase.

pub mod envelope;
mod kms;
pub mod provider;
pub mod settings;

use std::sync::{Arc, Mutex};

use self::envelope::{Envelope, KeyMeta, Line};
use self::provider::{Context, DocKey, Provider};
use self::settings::{Encryption, Method};
use super::document::{self, State};
use super::error::StateError;
use super::journal::{Entry, Loaded};

/// What a reader tries, in order, and whether it is the primary or the fallback.
struct Reader {
    role: &'static str,
    provider: Provider,
}

/// How one strategy's state is sealed and opened.
pub struct Codec {
    /// Whether new versions are sealed (with the first reader's provider, the primary).
    sealing: bool,
    /// Providers whose versions are accepted (the primary first).
    readers: Vec<Reader>,
    /// Whether a plaintext version is accepted.
    plaintext_ok: bool,
    /// Whether the strategy has an encryption block at all (for the error's hint).
    configured: bool,
    /// The key new versions are sealed with, made once.
    writer: tokio::sync::OnceCell<Arc<DocKey>>,
    /// Keys made to read, by reader and parameters (a KDF run once per version key; the same
    /// parameters give another key with another passphrase).
    opened: Mutex<Vec<(&'static str, Arc<DocKey>)>>,
    /// The version this codec last read or sealed (lineage, serial) and its key: a journal
    /// continuing it is sealed as it is stored (in clear for a plaintext one).
    last: Mutex<Option<Last>>,
}

/// A version by lineage and serial, and the key it is stored under (none: in clear).
type Last = (String, u64, Option<Arc<DocKey>>);

/// A version read: the state, and the key it was sealed with (its journal's key too).
pub struct Opened {
    pub state: State,
    pub key: Option<Arc<DocKey>>,
}

fn encryption_error(whence: &str, message: String) -> StateError {
    StateError::Encryption {
        whence: whence.to_string(),
        message,
    }
}

impl Codec {
    /// No encryption block: versions are written and read in clear, and an encrypted one is
    /// refused with what to add.
    pub fn plain() -> Codec {
        Codec {
            sealing: false,
            readers: Vec::new(),
            plaintext_ok: true,
            configured: false,
            writer: tokio::sync::OnceCell::new(),
            opened: Mutex::new(Vec::new()),
            last: Mutex::new(None),
        }
    }

    fn remember(&self, state: &State, key: Option<&Arc<DocKey>>) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((state.lineage.clone(), state.serial, key.cloned()));
    }

    /// The codec `settings` describe. No key is made yet: the first write or read makes it.
    pub fn new(settings: Option<&Encryption>, context: &Context) -> Result<Codec, StateError> {
        let Some(settings) = settings else {
            return Ok(Codec::plain());
        };
        let bad = |message: String| encryption_error("settings", message);
        settings.check().map_err(bad)?;
        let mut codec = Codec {
            configured: true,
            plaintext_ok: false,
            ..Codec::plain()
        };
        let mut add =
            |role: &'static str, method: Method, provider: Option<&settings::KeyProvider>| {
                match provider {
                    Some(p) => {
                        let provider = Provider::new(p, context).map_err(&bad)?;
                        codec.readers.push(Reader { role, provider });
                    }
                    None => codec.plaintext_ok = true,
                }
                debug_assert!(matches!(method, Method::AesGcm) || provider.is_none());
                Ok::<_, StateError>(())
            };
        add("primary", settings.method, settings.key_provider.as_ref())?;
        if let Some(f) = &settings.fallback {
            add("fallback", f.method, f.key_provider.as_ref())?;
        }
        codec.sealing = settings.key_provider.is_some();
        Ok(codec)
    }

    /// Whether new versions are sealed.
    pub fn encrypts(&self) -> bool {
        self.sealing
    }

    /// The provider new versions are sealed with.
    fn primary(&self) -> Option<&Provider> {
        self.readers
            .first()
            .filter(|_| self.sealing)
            .map(|r| &r.provider)
    }

    async fn writer(&self) -> Result<Option<Arc<DocKey>>, StateError> {
        let Some(primary) = self.primary() else {
            return Ok(None);
        };
        self.writer
            .get_or_try_init(|| async {
                primary.new_key().await.map(Arc::new).map_err(|e| {
                    encryption_error(
                        "the next version",
                        format!("cannot be sealed: key provider {} {e}", primary.name()),
                    )
                })
            })
            .await
            .cloned()
            .map(Some)
    }

    /// `plain` (the rendering of `state`) as it is stored: sealed under the primary key, or
    /// as is when the primary method is `unencrypted`.
    pub async fn seal(&self, state: &State, plain: Vec<u8>) -> Result<Vec<u8>, StateError> {
        let writer = self.writer().await?;
        self.remember(state, writer.as_ref());
        match writer {
            None => Ok(plain),
            Some(k) => Ok(envelope::seal_document(
                &k.key,
                &k.meta,
                &state.lineage,
                state.serial,
                &plain,
            )),
        }
    }

    /// Whether `bytes` are stored as this codec writes (so a push may keep them as they are).
    pub async fn written_as_now(&self, bytes: &[u8]) -> bool {
        let encrypted = envelope::header(bytes).is_some_and(|h| h.encrypted_state.is_some());
        match (self.writer.get(), encrypted) {
            (_, false) => !self.sealing,
            (Some(k), true) => {
                serde_json::from_slice::<Envelope>(bytes).is_ok_and(|e| e.key == k.meta)
            }
            (None, true) => false,
        }
    }

    /// The state in `bytes` (a stored version from `whence`), if the settings accept how it
    /// is stored; else an error naming what is missing. Never a plaintext read of a version
    /// the settings want encrypted, never garbage from a wrong key.
    pub async fn open(&self, bytes: &[u8], whence: &str) -> Result<Opened, StateError> {
        let header = envelope::header(bytes);
        if header.as_ref().is_none_or(|h| h.encrypted_state.is_none()) {
            let state = document::parse(bytes, whence)?;
            if !self.plaintext_ok {
                return Err(encryption_error(
                    whence,
                    "is not encrypted, and the strategy's state encryption accepts only \
                     encrypted versions; nothing was read. To encrypt plaintext state, add \
                     \"fallback\": {\"method\": \"unencrypted\"} to state.encryption for one \
                     apply (or `oss state push` of the same state)"
                        .into(),
                ));
            }
            self.remember(&state, None);
            return Ok(Opened { state, key: None });
        }
        let envelope: Envelope = serde_json::from_slice(bytes).map_err(|e| {
            encryption_error(whence, format!("is not a readable encrypted version: {e}"))
        })?;
        let wanted = envelope.key.provider();
        if !self.configured {
            return Err(encryption_error(
                whence,
                format!(
                    "is encrypted (key provider {wanted}), and the strategy's state block has no \
                     encryption; nothing was read. Add \"encryption\" with key provider \
                     {wanted} (to keep it encrypted), or \"method\": \"unencrypted\" with \
                     {wanted} as the fallback (to decrypt it)"
                ),
            ));
        }
        let candidates: Vec<&Reader> = self
            .readers
            .iter()
            .filter(|r| r.provider.name() == wanted)
            .collect();
        if candidates.is_empty() {
            let named: Vec<&str> = self.readers.iter().map(|r| r.provider.name()).collect();
            return Err(encryption_error(
                whence,
                format!(
                    "is sealed by key provider {wanted}, which the strategy's state encryption \
                     does not name ({}); nothing was read. Name {wanted} as the key provider \
                     or the fallback",
                    if named.is_empty() {
                        "it accepts plaintext only".to_string()
                    } else {
                        format!("it names {}", named.join(", "))
                    }
                ),
            ));
        }
        let mut why = Vec::new();
        for reader in candidates {
            match self.key_for(reader, &envelope.key).await {
                Ok(key) => match envelope::open_document(&key.key, &envelope) {
                    Some(plain) => {
                        let state = document::parse(&plain, whence)?;
                        if state.serial != envelope.serial || state.lineage != envelope.lineage {
                            return Err(encryption_error(
                                whence,
                                "holds a state whose serial or lineage is not the envelope's; \
                                 it was not written by oss. Nothing was read"
                                    .into(),
                            ));
                        }
                        if reader.role == "primary"
                            && self.primary().is_some_and(|p| p.current(&key.meta))
                        {
                            let _ = self.writer.set(Arc::clone(&key));
                        }
                        self.remember(&state, Some(&key));
                        return Ok(Opened {
                            state,
                            key: Some(key),
                        });
                    }
                    None => why.push(format!(
                        "the {} key provider {wanted} does not open it (a wrong {}, or the \
                         version was changed or copied from elsewhere: AES-GCM cannot tell which)",
                        reader.role,
                        if wanted == "passphrase" {
                            "passphrase"
                        } else {
                            "key"
                        }
                    )),
                },
                Err(e) => why.push(format!("the {} key provider {wanted}: {e}", reader.role)),
            }
        }
        Err(encryption_error(
            whence,
            format!("cannot be decrypted: {}; nothing was read", why.join("; ")),
        ))
    }

    async fn key_for(&self, reader: &Reader, meta: &KeyMeta) -> Result<Arc<DocKey>, String> {
        if reader.role == "primary"
            && let Some(k) = self.writer.get().filter(|k| k.meta == *meta)
        {
            return Ok(Arc::clone(k));
        }
        let cached = self
            .opened
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(role, k)| *role == reader.role && k.meta == *meta)
            .map(|(_, k)| Arc::clone(k));
        if let Some(k) = cached {
            return Ok(k);
        }
        let key = Arc::new(DocKey {
            key: reader.provider.key_for(meta).await?,
            meta: meta.clone(),
        });
        self.opened
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((reader.role, Arc::clone(&key)));
        Ok(key)
    }

    /// How the journal continuing `state` seals its records: with the key that version is
    /// stored under (as this codec last read or wrote it), else the primary's.
    pub async fn record_sealer(&self, state: &State) -> Result<RecordSealer, StateError> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let key = match last {
            Some((lineage, serial, key)) if lineage == state.lineage && serial == state.serial => {
                key
            }
            _ => self.writer().await?,
        };
        Ok(RecordSealer {
            key,
            lineage: state.lineage.clone(),
            base_serial: state.serial,
            next: Mutex::new(0),
        })
    }
}

/// Seals a journal's records: record `n` under the key of the state the journal continues.
pub struct RecordSealer {
    key: Option<Arc<DocKey>>,
    lineage: String,
    base_serial: u64,
    next: Mutex<u64>,
}

impl RecordSealer {
    /// For a journal kept in clear.
    pub fn plain(state: &State) -> RecordSealer {
        RecordSealer {
            key: None,
            lineage: state.lineage.clone(),
            base_serial: state.serial,
            next: Mutex::new(0),
        }
    }

    /// `entries` as journal lines (no newlines), numbered on from the last call.
    pub fn lines(&self, entries: &[Entry]) -> Vec<String> {
        let Some(key) = &self.key else {
            return entries.iter().map(Entry::encode).collect();
        };
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .iter()
            .map(|entry| {
                let line = envelope::seal_record(
                    &key.key,
                    &self.lineage,
                    self.base_serial,
                    *next,
                    &entry.encode(),
                );
                *next += 1;
                line
            })
            .collect()
    }

    /// `entries` as newline-ended lines, for one write or object.
    pub fn text(&self, entries: &[Entry]) -> Vec<u8> {
        let mut text = String::new();
        for line in self.lines(entries) {
            text.push_str(&line);
            text.push('\n');
        }
        text.into_bytes()
    }
}

/// The opened state with its journal's `lines` folded in, in order, up to a torn last line.
/// With a key every record must open as the next one (a record dropped, moved, changed or in
/// clear is an error, not skipped); without one, a sealed record is an error too.
pub fn fold<'a>(
    opened: Opened,
    lines: impl IntoIterator<Item = &'a str>,
    whence: &str,
) -> Result<Loaded, StateError> {
    let Opened { mut state, key } = opened;
    let (lineage, base) = (state.lineage.clone(), state.serial);
    let mut recovered_steps = 0;
    for line in lines.into_iter().filter(|l| !l.is_empty()) {
        let n = recovered_steps as u64;
        let entry = match &key {
            None => match Entry::decode(line) {
                Some(entry) => entry,
                None if line.starts_with("{\"sealed\"") => {
                    return Err(encryption_error(
                        whence,
                        "is a plaintext version whose journal holds encrypted records (not \
                         written by oss); nothing was read"
                            .into(),
                    ));
                }
                None => break,
            },
            Some(k) => match envelope::open_record(&k.key, &lineage, base, n, line) {
                Line::Opened(text) => match Entry::decode(&text) {
                    Some(entry) => entry,
                    None => break,
                },
                Line::NotSealed if Entry::decode(line).is_some() => {
                    return Err(encryption_error(
                        whence,
                        format!(
                            "is encrypted, but record {n} of its journal is in clear (not \
                             written by oss); nothing was read"
                        ),
                    ));
                }
                Line::NotSealed => break,
                Line::Refused { n: found } => {
                    return Err(encryption_error(
                        whence,
                        format!(
                            "has a journal whose record {n} does not open (found record \
                             {found}: changed, reordered, from another journal, or a record \
                             before it is missing); nothing was read"
                        ),
                    ));
                }
            },
        };
        entry.apply_to(&mut state);
        recovered_steps += 1;
    }
    Ok(Loaded {
        state: Some(state),
        recovered_steps,
    })
}
