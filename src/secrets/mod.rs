//! The vault room: named secrets encrypted at rest (AES-256-GCM) under a data key that opens
//! only when k of n shares (Shamir, optionally age-encrypted to their holders) are given, or
//! when an unlock agent started with them is running. It never prints (the command line asks
//! for shares through a callback) and never writes a secret, share or key anywhere but the
//! share files `init` and `rekey` are told to write.
//!
//! [`data_key`] is the one way in for anyone who needs the vault's key (the strategy's
//! `secret.NAME` references, a state-encryption key provider `shares`).

pub mod agent;
mod error;
mod key;
mod share;
mod unlock;
mod vault;

use std::path::PathBuf;

pub use error::VaultError;
pub use key::{Key, Sealed};
pub use share::{Share, seal_age};
pub use unlock::{Collector, Identity, identities};
pub use vault::{SecretValue, Unlocked, Vault, valid_name};

use zeroize::Zeroizing;

/// Where the shares for an unlock come from, resolved from flags and environment.
#[derive(Clone, Debug, Default)]
pub struct Unlock {
    /// The vault file.
    pub vault: PathBuf,
    /// Share files (`--share`, then `OSS_SHARES`).
    pub shares: Vec<PathBuf>,
    /// age identity files for encrypted shares (`--identity`).
    pub identities: Vec<PathBuf>,
    /// Where the unlock agents' sockets are.
    pub agent_dir: PathBuf,
    /// Whether a running agent may be asked (false: shares only, as `rekey` and `rotate` need).
    pub use_agent: bool,
}

/// Asks for one more share: gets how many fit so far and how many are needed; gives the
/// share's text, or `None` to stop asking.
pub type Ask<'a> = &'a mut dyn FnMut(usize, usize) -> Option<Zeroizing<String>>;

/// Opens the vault: with the share files given (and, if they are too few, with shares from
/// `ask`), else from a running agent, else with shares from `ask` alone. Nothing is decrypted
/// unless every share given is sound and there are enough.
pub fn unlock(how: &Unlock, ask: Option<Ask<'_>>) -> Result<(Vault, Unlocked), VaultError> {
    let vault = Vault::load(&how.vault)?;
    if how.shares.is_empty()
        && how.use_agent
        && let Some((key_id, data)) = agent::fetch(&how.agent_dir, vault.id())?
    {
        if key_id != vault.key_id() || vault.check(&data).is_err() {
            return Err(VaultError::Agent {
                socket: agent::socket_path(&how.agent_dir, vault.id()),
                reason: "it holds the data key from before `oss secrets rotate`".into(),
            });
        }
        return Ok((vault, Unlocked { data, unseal: None }));
    }
    let keys = {
        let mut collector = Collector::new(&vault, identities(&how.identities)?);
        for path in &how.shares {
            collector.add_file(path)?;
        }
        if let Some(ask) = ask {
            let mut entry = 0;
            while collector.have() < collector.need() {
                let Some(text) = ask(collector.have(), collector.need()) else {
                    break;
                };
                entry += 1;
                collector.add(
                    format!("entered at the terminal (#{entry})"),
                    text.as_bytes(),
                )?;
            }
        }
        collector.finish()?
    };
    Ok((vault, keys))
}

/// The vault's data key, for a key provider that encrypts with it (see [`unlock`]).
pub fn data_key(how: &Unlock, ask: Option<Ask<'_>>) -> Result<Key, VaultError> {
    unlock(how, ask).map(|(_, keys)| keys.data)
}
