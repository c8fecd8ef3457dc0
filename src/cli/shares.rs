//! Where a command's shares come from (`--share`, then `OSS_SHARES`, then a running unlock
//! agent, then the terminal one share at a time with progress, as when unsealing Vault), and
//! a vault error as a failure with its hint.

use std::io::IsTerminal;

use zeroize::Zeroizing;

use super::args::Cli;
use super::failure::Failure;
use super::output::errln;
use crate::secrets::{self, Unlock, VaultError};

/// The unlock the flags and environment describe.
pub fn unlock_settings(cli: &Cli, use_agent: bool) -> Unlock {
    let mut shares = cli.shares.clone();
    if let Some(paths) = std::env::var_os("OSS_SHARES") {
        shares.extend(std::env::split_paths(&paths).filter(|p| !p.as_os_str().is_empty()));
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
    result.map_err(vault_failure)
}

/// One share from the terminal, without echo: its text, or the path of its file.
fn ask_share(have: usize, need: usize) -> Option<Zeroizing<String>> {
    if have > 0 {
        errln!("{have} of {need} shares given.");
    }
    let line = read_hidden(&format!(
        "Share {} of {need} (its text or its file; input hidden, empty to stop): ",
        have + 1
    ))?;
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

/// The most a line typed at the terminal may hold.
const LINE_LIMIT: usize = 16 * 1024;

/// One line from the terminal on stdin with echo off (and back on after). Read a byte at a
/// time, so nothing typed ahead is lost, and without flushing pending input.
pub fn read_hidden(prompt: &str) -> Option<Zeroizing<String>> {
    let fd = libc::STDIN_FILENO;
    let mut saved = std::mem::MaybeUninit::<libc::termios>::uninit();
    // SAFETY: tcgetattr writes a termios into the buffer given; it is read only on success.
    if unsafe { libc::tcgetattr(fd, saved.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: initialised by the successful tcgetattr above.
    let saved = unsafe { saved.assume_init() };
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    // SAFETY: sets the attributes of our own stdin from a valid termios.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    super::output::err(prompt);
    let mut line = Zeroizing::new(Vec::new());
    let mut byte = 0u8;
    loop {
        // SAFETY: reads at most one byte into a valid one-byte buffer.
        let n = unsafe { libc::read(fd, (&mut byte as *mut u8).cast(), 1) };
        if n <= 0 || byte == b'\n' || line.len() >= LINE_LIMIT {
            break;
        }
        line.push(byte);
    }
    // SAFETY: restores the attributes read above.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    super::output::err("\n");
    String::from_utf8(line.to_vec()).ok().map(Zeroizing::new)
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
