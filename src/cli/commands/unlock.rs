//! `oss unlock` (gather the shares once and start the agent that keeps the data key in
//! memory), `oss lock` (end it), and the agent process itself (`oss unlock-agent`, hidden:
//! it reads the key from stdin, never from its arguments or environment).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use zeroize::Zeroizing;

use super::super::args::Cli;
use super::super::failure::{ExitStatus, Failure};
use super::super::output::outln;
use super::super::shares::{self, vault_failure};
use crate::secrets::{Vault, agent};

pub fn unlock(cli: &Cli, ttl: Duration) -> Result<ExitStatus, Failure> {
    let (vault, keys) = shares::unlock(&shares::unlock_settings(cli, false))?;
    let dir = agent::default_dir();
    let exe = std::env::current_exe()
        .map_err(|e| Failure::internal(format!("Cannot find the oss executable: {e}")))?;
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new(exe)
            .arg("unlock-agent")
            .args(["--vault-id", vault.id(), "--key-id", vault.key_id()])
            .arg("--ttl")
            .arg(format!("{}ms", ttl.as_millis()))
            // Nothing of this process's environment (credentials, OSS_SHARES) goes with it.
            .env_clear()
            .env("OSS_AGENT_DIR", &dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C meant for a later command does not end it.
            .process_group(0)
            .spawn()
            .map_err(|e| Failure::internal(format!("Cannot start the unlock agent: {e}")))?
    };
    let mut hex = agent::to_hex(&keys.data);
    hex.push('\n');
    let sent = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(hex.as_bytes()));
    let mut said = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = BufReader::new(stdout).take(1024).read_line(&mut said);
    }
    if !matches!(sent, Some(Ok(()))) || said.trim() != "ready" {
        let _ = child.kill();
        let _ = child.wait();
        let reason = said
            .trim()
            .strip_prefix("error: ")
            .unwrap_or("it ended early");
        return Err(Failure::user(
            format!("The unlock agent did not start: {}", reason),
            "see `oss lock`, or unlock per command with --share FILE",
        ));
    }
    outln!(
        "Unlocked {}: the agent (pid {}) holds its key in memory for {}s at {}; `oss lock` ends it.",
        cli.vault.display(),
        child.id(),
        ttl.as_secs(),
        agent::socket_path(&dir, vault.id()).display()
    );
    Ok(ExitStatus::Success)
}

pub fn lock(cli: &Cli) -> Result<ExitStatus, Failure> {
    let vault = Vault::load(&cli.vault).map_err(vault_failure)?;
    let stopped = agent::stop(&agent::default_dir(), vault.id()).map_err(vault_failure)?;
    if let Some(served) = stopped {
        outln!(
            "Locked {}: its unlock agent ended (it served {served} passphrase-derived state \
             key{} from memory).",
            cli.vault.display(),
            if served == 1 { "" } else { "s" }
        );
    } else {
        outln!(
            "No unlock agent runs for {}; it is locked.",
            cli.vault.display()
        );
    }
    Ok(ExitStatus::Success)
}

/// The agent: binds its socket, reads the key, says `ready`, serves until the TTL or `lock`.
pub fn serve(vault_id: &str, key_id: &str, ttl: Duration) -> Result<ExitStatus, Failure> {
    let dir = agent::default_dir();
    let listener = match agent::bind(&dir, vault_id) {
        Ok(listener) => listener,
        Err(e) => {
            outln!("error: {e}");
            return Ok(ExitStatus::Failure);
        }
    };
    let mut line = Zeroizing::new(String::new());
    let _ = std::io::stdin().lock().take(128).read_line(&mut line);
    let Some(key) = agent::from_hex(line.trim()) else {
        let _ = std::fs::remove_file(agent::socket_path(&dir, vault_id));
        outln!("error: no key was given on stdin");
        return Ok(ExitStatus::Failure);
    };
    outln!("ready");
    agent::serve(listener, &dir, vault_id, key_id, key, ttl);
    Ok(ExitStatus::Success)
}
