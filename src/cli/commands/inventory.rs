//! `oss inventory --format F [--group G] [--list | --host NAME]`: the nodes in state as a
//! configuration tool reads them, on stdout; every node left out, and why, on stderr. Also
//! the writing of the strategy's `inventory` files after an apply (atomic, 0600).

use super::super::args::Cli;
use super::super::failure::{ExitStatus, Failure};
use super::super::output::{self, errln};
use super::super::session::{self, Secrets};
use crate::inventory::Inventory;
use crate::inventory::formats::{Format, ansible_hostvars};
use crate::strategy::Strategy;

pub async fn run(
    cli: &Cli,
    format: &str,
    group: Option<&str>,
    host: Option<&str>,
    secrets: &mut Secrets,
) -> Result<ExitStatus, Failure> {
    let session = session::open(cli, secrets).await?;
    let format = Format::parse(format).ok_or_else(|| {
        Failure::user(
            format!("Unknown inventory format {}.", crate::echo::Echo(format)),
            format!("formats: {}", Format::NAMES.join(", ")),
        )
    })?;
    if let Some(group) = group {
        super::known_group(&session.strategy, group)?;
    }
    let state = session.backend.load().await.map_err(Failure::from)?.state;
    let inventory = Inventory::of(&session.strategy, state.as_ref(), group);
    report(&inventory, format);
    if let Some(name) = host {
        // Ansible's `--host`: one host's variables, `{}` for a host it does not know.
        let vars = match inventory.usable(false).find(|h| h.name == name) {
            Some(h) if format == Format::Ansible => ansible_hostvars(h),
            Some(h) => serde_json::json!(h),
            None => serde_json::json!({}),
        };
        output::out(&format!("{vars}\n"));
        return Ok(ExitStatus::Success);
    }
    output::out(&format.render(&inventory));
    Ok(ExitStatus::Success)
}

/// One line on stderr for every node a format leaves out.
fn report(inventory: &Inventory, format: Format) {
    for p in inventory.problems(format.needs_user()) {
        errln!(
            "warning: {} ({}) is left out: it has no {}",
            p.host,
            p.address,
            p.missing.trim_start_matches("an ")
        );
    }
}

/// Writes the strategy's `inventory` files from `state` (atomically, readable by the owner
/// alone); returns what could not be written, one line each.
pub fn write_files(strategy: &Strategy, state: Option<&crate::state::State>) -> Vec<String> {
    let dir = strategy.dir();
    let inventory = Inventory::of(strategy, state, None);
    let mut failed = Vec::new();
    for (name, file) in &strategy.inventory {
        let Some(format) = Format::parse(name) else {
            continue;
        };
        let path = dir.join(file);
        let written = path
            .parent()
            .map_or(Ok(()), crate::fsutil::create_private_dir_all)
            .and_then(|()| {
                crate::fsutil::write_atomic(&path, format.render(&inventory).as_bytes(), 0o600)
            });
        if let Err(e) = written {
            failed.push(format!(
                "Cannot write the {name} inventory {}: {e}",
                crate::echo::EchoPath(&path)
            ));
        }
    }
    failed
}
