//! `oss secrets init|set|list|rm|rekey|rotate`: the vault file and the share files. A value
//! is read from stdin only (never from the arguments), and no command prints one.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::super::args::{Cli, DealArgs, SecretsCommand};
use super::super::failure::{ExitStatus, Failure};
use super::super::output::{errln, outln};
use super::super::shares::{self, vault_failure};
use crate::secrets::{Share, Vault, agent};

/// The longest value `set` reads.
const MAX_VALUE: u64 = 1 << 20;

pub fn run(cli: &Cli, command: &SecretsCommand) -> Result<ExitStatus, Failure> {
    match command {
        SecretsCommand::Init(deal) => init(cli, deal),
        SecretsCommand::Set { name } => set(cli, name),
        SecretsCommand::List => {
            let vault = Vault::load(&cli.vault).map_err(vault_failure)?;
            let names: Vec<&str> = vault.names().collect();
            if names.is_empty() {
                errln!("The vault {} holds no secrets.", cli.vault.display());
            }
            for name in names {
                outln!("{name}");
            }
            Ok(ExitStatus::Success)
        }
        SecretsCommand::Rm { name } => {
            let mut vault = Vault::load(&cli.vault).map_err(vault_failure)?;
            vault.remove(name).map_err(vault_failure)?;
            vault.save().map_err(vault_failure)?;
            outln!("Removed secret {name} from {}.", cli.vault.display());
            Ok(ExitStatus::Success)
        }
        SecretsCommand::Rekey(deal) => rekey(cli, deal),
        SecretsCommand::Rotate => rotate(cli),
    }
}

fn init(cli: &Cli, deal: &DealArgs) -> Result<ExitStatus, Failure> {
    let (vault, shares) =
        Vault::create(&cli.vault, deal.threshold, deal.count).map_err(vault_failure)?;
    let written = write_shares(&vault, &shares, deal)?;
    vault.save().map_err(vault_failure)?;
    outln!(
        "Created the vault {} (id {}): {} shares, any {} of which unlock it.",
        cli.vault.display(),
        vault.id(),
        vault.count(),
        vault.threshold()
    );
    said_shares(&written);
    Ok(ExitStatus::Success)
}

fn rekey(cli: &Cli, deal: &DealArgs) -> Result<ExitStatus, Failure> {
    let (mut vault, keys) = shares::unlock(&shares::unlock_settings(cli, false))?;
    let new = vault
        .rekey(&keys, deal.threshold, deal.count)
        .map_err(vault_failure)?;
    let written = write_shares(&vault, &new, deal)?;
    vault.save().map_err(vault_failure)?;
    outln!(
        "Rekeyed {}: {} new shares, any {} of which unlock it; the old shares open nothing now.",
        cli.vault.display(),
        vault.count(),
        vault.threshold()
    );
    said_shares(&written);
    Ok(ExitStatus::Success)
}

fn rotate(cli: &Cli) -> Result<ExitStatus, Failure> {
    let (mut vault, keys) = shares::unlock(&shares::unlock_settings(cli, false))?;
    vault.rotate(&keys).map_err(vault_failure)?;
    vault.save().map_err(vault_failure)?;
    // An agent started before holds the old key: it can serve nothing any more.
    let stopped = matches!(agent::stop(&agent::default_dir(), vault.id()), Ok(Some(_)));
    outln!(
        "Rotated the data key of {}: {} secrets encrypted again under a new key.{}",
        cli.vault.display(),
        vault.names().count(),
        if stopped {
            " The unlock agent holding the old key was stopped."
        } else {
            ""
        }
    );
    Ok(ExitStatus::Success)
}

fn set(cli: &Cli, name: &str) -> Result<ExitStatus, Failure> {
    if !crate::secrets::valid_name(name) {
        return Err(Failure::user(
            format!(
                "The secret name {} is not letters, digits and _ only.",
                crate::echo::echo(name)
            ),
            "name it as it is referred to: \"secret.NAME\"",
        ));
    }
    // The vault must exist before a value is asked for.
    Vault::load(&cli.vault).map_err(vault_failure)?;
    let value = read_value(name)?;
    let (mut vault, keys) = shares::unlock(&shares::unlock_settings(cli, true))?;
    vault.set(&keys.data, name, &value).map_err(vault_failure)?;
    vault.save().map_err(vault_failure)?;
    outln!("Set secret {name} in {}.", cli.vault.display());
    Ok(ExitStatus::Success)
}

/// The value on stdin (hidden input at a terminal), one trailing newline dropped.
fn read_value(name: &str) -> Result<Zeroizing<String>, Failure> {
    let mut value = Zeroizing::new(String::new());
    if std::io::stdin().is_terminal() {
        let line = shares::read_hidden(&format!("Value of {name} (input hidden): "))
            .ok_or_else(|| Failure::user("Cannot read the value at the terminal.", "try again"))?;
        value.push_str(line.trim_end_matches('\r'));
    } else {
        std::io::stdin()
            .take(MAX_VALUE + 1)
            .read_to_string(&mut value)
            .map_err(|e| {
                Failure::user(
                    format!("Cannot read the value from stdin: {e}."),
                    "pipe the value as UTF-8 text",
                )
            })?;
        if value.len() as u64 > MAX_VALUE {
            return Err(Failure::user(
                "The value on stdin is longer than 1 MiB.",
                "a secret is a key or a password; keep large files elsewhere",
            ));
        }
        if value.ends_with('\n') {
            value.pop();
            if value.ends_with('\r') {
                value.pop();
            }
        }
    }
    if value.is_empty() {
        return Err(Failure::user(
            format!("The value for {name} is empty."),
            format!("pipe it in: printf %s \"$VALUE\" | oss secrets set {name}"),
        ));
    }
    Ok(value)
}

/// Writes each share to its own new file under `deal.out` (0600, the directory 0700),
/// age-encrypted to its recipient when recipients are given. Everything is encrypted before
/// anything is written, and no file is overwritten.
fn write_shares(vault: &Vault, shares: &[Share], deal: &DealArgs) -> Result<Vec<PathBuf>, Failure> {
    if !deal.recipients.is_empty() && deal.recipients.len() != shares.len() {
        return Err(Failure::user(
            format!(
                "{} age recipients were given for {} shares.",
                deal.recipients.len(),
                shares.len()
            ),
            "give one --recipient per share, in share order, or none",
        ));
    }
    let mut files = Vec::new();
    for (i, share) in shares.iter().enumerate() {
        let text = Zeroizing::new(format!(
            "# oss share {} of {} for the vault {} (id {}); any {} unlock it. Keep it private.\n{}\n",
            share.index,
            share.count,
            vault.path().display(),
            vault.id(),
            share.threshold,
            share.to_text().as_str()
        ));
        let name = format!("share-{}-{}", share.index, vault.share_set());
        let (name, content) = match deal.recipients.get(i) {
            Some(recipient) => {
                let sealed = crate::secrets::seal_age(&text, recipient).map_err(|reason| {
                    Failure::user(
                        format!(
                            "The age recipient for share {} ({}) is not usable: {reason}.",
                            share.index,
                            crate::echo::echo(recipient)
                        ),
                        "give the holder's public key, as age-keygen prints it (age1...)",
                    )
                })?;
                (format!("{name}.age"), Zeroizing::new(sealed))
            }
            None => (format!("{name}.txt"), text),
        };
        files.push((deal.out.join(name), content));
    }
    crate::fsutil::create_private_dir_all(&deal.out).map_err(|e| write_failed(&deal.out, e))?;
    let mut written = Vec::new();
    for (path, content) in files {
        use std::io::Write;
        let mut file =
            crate::fsutil::create_private_new(&path).map_err(|e| write_failed(&path, e))?;
        file.write_all(content.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| write_failed(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

fn write_failed(path: &Path, e: std::io::Error) -> Failure {
    Failure::user(
        format!("Cannot write the share file {}: {e}.", path.display()),
        "pass --out DIR with a directory you can write",
    )
}

fn said_shares(written: &[PathBuf]) {
    for path in written {
        outln!("  {}", path.display());
    }
    errln!(
        "Give each share to its holder and delete it here: commit the vault file, never a share."
    );
}
