//! Key providers: each makes the 256-bit key a new version is sealed with, with the public
//! parameters the version records ([`KeyMeta`]), and makes it again from those parameters to
//! read. `aws_kms` asks KMS for a data key and stores it as KMS sealed it ([`super::kms`]);
//! `passphrase` stretches a passphrase with PBKDF2-HMAC-SHA512 (salt and iteration
//! count stored per version), once per session when an unlock agent runs for the vault: it
//! keeps the derived key, filed under a digest of passphrase, salt and count, and the salt new
//! states take while it runs; `shares` takes the vault's data key through
//! [`crate::secrets::data_key`]'s way in. Keys zeroize on drop; messages name the provider,
//! never a key or the passphrase.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand::Rng as _;
use sha2::Digest as _;

use super::envelope::KeyMeta;
use super::kms::Kms;
use super::settings::{self, KeyProvider};
use crate::secret::Secret;
use crate::secrets::{self, Key, agent};

/// The KDF name versions record.
const KDF: &str = "pbkdf2_sha512";
/// More iterations than this in a stored version are refused (a changed envelope must not
/// make a reader spin for hours).
const MAX_ITERATIONS: u32 = 50_000_000;
const SALT_LEN: usize = 16;

/// What a provider needs from outside the strategy: where the vault's shares come from.
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub unlock: Option<secrets::Unlock>,
}

/// A key with the parameters that make it again.
pub struct DocKey {
    pub key: Key,
    pub meta: KeyMeta,
}

/// One configured key provider, ready to make keys.
pub enum Provider {
    Passphrase {
        passphrase: Secret,
        iterations: u32,
        /// The vault's unlock settings: its agent, when one runs, keeps derived keys.
        agent: Option<secrets::Unlock>,
    },
    AwsKms(Kms),
    Shares {
        unlock: Option<secrets::Unlock>,
        /// The vault's id, key id and data key, once unlocked.
        opened: tokio::sync::OnceCell<Arc<(String, String, Key)>>,
    },
}

impl Provider {
    pub fn new(settings: &KeyProvider, context: &Context) -> Result<Provider, String> {
        match settings {
            KeyProvider::Passphrase(p) => Ok(Provider::Passphrase {
                passphrase: p.passphrase.clone(),
                iterations: p.iterations,
                agent: context.unlock.clone().filter(|u| u.use_agent),
            }),
            KeyProvider::AwsKms(k) => Kms::new(k)
                .map(Provider::AwsKms)
                .map_err(|e| format!("key provider aws_kms {e}")),
            KeyProvider::Shares(settings::Shares {}) => Ok(Provider::Shares {
                unlock: context.unlock.clone(),
                opened: tokio::sync::OnceCell::new(),
            }),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Provider::Passphrase { .. } => "passphrase",
            Provider::AwsKms(_) => "aws_kms",
            Provider::Shares { .. } => "shares",
        }
    }

    /// A key for new versions.
    pub async fn new_key(&self) -> Result<DocKey, String> {
        match self {
            Provider::Passphrase {
                passphrase,
                iterations,
                agent,
            } => {
                let salt = new_salt(passphrase, *iterations, agent).await;
                let meta = KeyMeta::Passphrase {
                    kdf: KDF.into(),
                    iterations: *iterations,
                    salt: B64.encode(&salt),
                };
                let key = stretch(passphrase, salt, *iterations, agent).await;
                Ok(DocKey { key, meta })
            }
            Provider::AwsKms(kms) => {
                let (key, blob) = kms.generate().await?;
                Ok(DocKey {
                    key,
                    meta: KeyMeta::AwsKms {
                        key_id: kms.key_id().to_string(),
                        blob,
                    },
                })
            }
            Provider::Shares { .. } => {
                let opened = self.vault().await?;
                let (vault, key_id, data) = &*opened;
                Ok(DocKey {
                    key: state_key(data),
                    meta: KeyMeta::Shares {
                        vault: vault.clone(),
                        key_id: key_id.clone(),
                    },
                })
            }
        }
    }

    /// Whether a version sealed with `meta` is as this provider seals new ones now (then
    /// its key may seal the next version too, saving a KDF run).
    pub fn current(&self, meta: &KeyMeta) -> bool {
        match (self, meta) {
            (
                Provider::Passphrase { iterations, .. },
                KeyMeta::Passphrase {
                    iterations: i, kdf, ..
                },
            ) => i == iterations && kdf == KDF,
            (Provider::AwsKms(kms), KeyMeta::AwsKms { key_id, .. }) => key_id == kms.key_id(),
            (Provider::Shares { .. }, KeyMeta::Shares { .. }) => true,
            _ => false,
        }
    }

    /// The key of a version sealed with `meta` (which names this provider).
    pub async fn key_for(&self, meta: &KeyMeta) -> Result<Key, String> {
        match (self, meta) {
            (
                Provider::Passphrase {
                    passphrase, agent, ..
                },
                KeyMeta::Passphrase {
                    kdf,
                    iterations,
                    salt,
                },
            ) => {
                if kdf != KDF {
                    return Err(format!("it names the KDF `{kdf}`; this oss knows {KDF}"));
                }
                if !(settings::MIN_ITERATIONS..=MAX_ITERATIONS).contains(iterations) {
                    return Err(format!(
                        "it asks for {iterations} PBKDF2 iterations, outside \
                         {}..={MAX_ITERATIONS} (a changed envelope)",
                        settings::MIN_ITERATIONS
                    ));
                }
                let salt = B64
                    .decode(salt)
                    .map_err(|_| "its salt is not base64 (a changed envelope)".to_string())?;
                Ok(stretch(passphrase, salt, *iterations, agent).await)
            }
            (Provider::AwsKms(kms), KeyMeta::AwsKms { blob, .. }) => kms.decrypt(blob).await,
            (Provider::Shares { .. }, KeyMeta::Shares { vault, key_id }) => {
                let opened = self.vault().await?;
                let (id, current, data) = &*opened;
                if vault != id {
                    return Err(format!(
                        "it was sealed with the key of vault {vault}; the vault opened is {id}"
                    ));
                }
                if key_id != current {
                    return Err(format!(
                        "it was sealed with the vault's data key {key_id}, from before \
                         `oss secrets rotate` (the vault's key is now {current})"
                    ));
                }
                Ok(state_key(data))
            }
            _ => Err(format!("it was sealed by key provider {}", meta.provider())),
        }
    }

    async fn vault(&self) -> Result<Arc<(String, String, Key)>, String> {
        let Provider::Shares { unlock, opened } = self else {
            unreachable!("only the shares provider opens the vault")
        };
        opened
            .get_or_try_init(|| async {
                let how = unlock
                    .clone()
                    .ok_or_else(|| "the vault is not available to this command".to_string())?;
                let (vault, keys) =
                    tokio::task::spawn_blocking(move || secrets::unlock(&how, None))
                        .await
                        .map_err(|e| e.to_string())?
                        .map_err(|e| format!("the vault does not unlock: {e}"))?;
                Ok(Arc::new((
                    vault.id().to_string(),
                    vault.key_id().to_string(),
                    keys.data,
                )))
            })
            .await
            .cloned()
    }
}

/// Where the vault's unlock agent answers and the vault's id, when `agent` names a vault
/// that loads.
fn agent_at(agent: &Option<secrets::Unlock>) -> Option<(std::path::PathBuf, String)> {
    let how = agent.as_ref()?;
    let vault = secrets::Vault::load(&how.vault).ok()?;
    Some((how.agent_dir.clone(), vault.id().to_string()))
}

/// The salt of a new state: random, except that while an unlock agent runs every new state
/// of one passphrase and iteration count takes the salt the first one drew (the agent keeps
/// it, beside the key derived over it), so a new state costs no key derivation either. The
/// salt's job, that no work done against one vault's passphrase serves against another's, is
/// kept: the first salt is random, and it lives only as long as the agent.
async fn new_salt(
    passphrase: &Secret,
    iterations: u32,
    agent: &Option<secrets::Unlock>,
) -> Vec<u8> {
    let mut drawn = zeroize::Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(drawn.as_mut());
    let random = drawn[..SALT_LEN].to_vec();
    if agent.is_none() {
        return random;
    }
    let (passphrase, agent) = (passphrase.clone(), agent.clone());
    tokio::task::spawn_blocking(move || {
        let Some((dir, id)) = agent_at(&agent) else {
            return random;
        };
        let slot = agent::new_salt_slot(KDF, iterations, passphrase.expose().as_bytes());
        if let Ok(Some(kept)) = agent::derived(&dir, &id, &slot) {
            return kept.bytes()[..SALT_LEN].to_vec();
        }
        if let Some(kept) = Key::from_slice(drawn.as_ref()) {
            let _ = agent::keep(&dir, &id, &slot, &kept);
        }
        random
    })
    .await
    .expect("asking the agent does not panic")
}

/// PBKDF2-HMAC-SHA512 of `passphrase` over `salt`, off the async workers; taken from the
/// vault's unlock agent when it keeps it, and handed to it after deriving. The agent is an
/// optimisation: when it fails, the key is derived here as without one.
async fn stretch(
    passphrase: &Secret,
    salt: Vec<u8>,
    iterations: u32,
    agent: &Option<secrets::Unlock>,
) -> Key {
    let passphrase = passphrase.clone();
    let agent = agent.clone();
    tokio::task::spawn_blocking(move || {
        let slot = agent::passphrase_slot(KDF, iterations, &salt, passphrase.expose().as_bytes());
        let at = agent_at(&agent);
        if let Some((dir, id)) = &at
            && let Ok(Some(key)) = agent::derived(dir, id, &slot)
        {
            return key;
        }
        let mut out = zeroize::Zeroizing::new([0u8; 32]);
        pbkdf2::pbkdf2_hmac::<sha2_10::Sha512>(
            passphrase.expose().as_bytes(),
            &salt,
            iterations,
            out.as_mut(),
        );
        let key = Key::from_slice(out.as_ref()).expect("32 bytes");
        if let Some((dir, id)) = &at {
            let _ = agent::keep(dir, id, &slot, &key);
        }
        key
    })
    .await
    .expect("the KDF does not panic")
}

/// The state's key from the vault's data key: a key of its own (SHA-256 over a label and the
/// data key), so state ciphertexts and vault secrets never share a key.
fn state_key(data: &Key) -> Key {
    let mut hash = sha2::Sha256::new();
    hash.update(b"oss-state-key/1\n");
    hash.update(data.bytes());
    Key::from_slice(&hash.finalize()).expect("32 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_same_passphrase_and_salt_make_the_same_key_and_another_passphrase_does_not() {
        let p = Provider::Passphrase {
            passphrase: Secret::new("correct horse"),
            iterations: 10_000,
            agent: None,
        };
        let made = p.new_key().await.unwrap();
        assert_eq!(
            p.key_for(&made.meta).await.unwrap().bytes(),
            made.key.bytes()
        );
        let q = Provider::Passphrase {
            passphrase: Secret::new("wrong horse"),
            iterations: 10_000,
            agent: None,
        };
        assert_ne!(
            q.key_for(&made.meta).await.unwrap().bytes(),
            made.key.bytes()
        );
        assert!(p.current(&made.meta));
    }

    /// RFC 6070-style check of the KDF wiring: PBKDF2-HMAC-SHA512("password", "salt", 1).
    #[test]
    fn pbkdf2_sha512_matches_the_published_vector() {
        let mut out = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<sha2_10::Sha512>(b"password", b"salt", 1, &mut out);
        let hex: String = out[..8].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "867f70cf1ade02cf");
    }
}
