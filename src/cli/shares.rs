//! Where a command's shares come from (`--share`, then `OSS_SHARES`, then a running unlock
//! agent, then the terminal one share at a time with progress, as when unsealing Vault), and
//! a vault error as a failure with its hint.

use std::io::IsTerminal;
use std::path::PathBuf;

use zeroize::Zeroizing;

use super::args::Cli;
use super::failure::Failure;
use super::output::errln;
use crate::secrets::{self, Unlock, VaultError};

/// The unlock the flags and environment describe.
pub fn unlock_settings(cli: &Cli, use_agent: bool) -> Unlock {
    let mut shares = cli.shares.clone();
    if let Some(paths) = std::env::var_os("OSS_SHARES") {
        shares.extend(
            std::env::split_paths(&paths)
                .filter(|p| !p.as_os_str().is_empty())
                .map(PathBuf::from),
        );
    }
    Unlock {
        vault: cli.vault.clone(),
        shares,
        identities: cli.identities.clone(),
        agent_dir: secrets::agent::default_dir(),
        use_agent,
    }
}

/// Opens the vault, asking at the terminal for what the flags did not give.
pub fn unlock(how: &Unlock) -> Result<(secrets::Vault, secrets::Unlocked), Failure> {
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let mut ask = |have: usize, need: usize| ask_share(have, need);
    let result = if terminal {
        secrets::unlock(how, Some(&mut ask))
    } else {
        secrets::unlock(how, None)
    };
    let unlocked = result.map_err(vault_failure)?;
    secrets::agent::harden();
    Ok(unlocked)
}

/// One share from the terminal, without echo: its text, or the path of its file.
fn ask_share(have: usize, need: usize) -> Option<Zeroizing<String>> {
    if have > 0 {
        errln!("{have} of {need} shares given.");
    }
    let term = console::Term::stderr();
    let _ = term.write_str(&format!(
        "Share {} of {need} (its text or its file; input hidden, empty to stop): ",
        have + 1
    ));
    let line = Zeroizing::new(term.read_secure_line().ok()?);
    let entered = line.trim();
    if entered.is_empty() {
        return None;
    }
    let path = std::path::Path::new(entered);
    if !entered.starts_with("oss-share") && path.is_file() {
        return std::fs::read_to_string(path).ok().map(Zeroizing::new);
    }
    Some(Zeroizing::new(entered.to_string()))
}

/// A vault error as a user failure with its hint.
pub fn vault_failure(e: VaultError) -> Failure {
    let hint = e.hint();
    let failure = Failure::from(e);
    match hint {
        Some(hint) => failure.with_hint(hint),
        None => failure,
    }
}
