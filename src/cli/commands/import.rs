//! `oss import ADDR ID`: adopt an existing object into state as node ADDR, with the lock, as
//! a new state version; `--dry-run` reads and checks it only.

use super::super::args::Cli;
use super::super::failure::{self, ExitStatus, Failure};
use super::super::output::outln;
use super::super::session::{self, Secrets};

pub async fn run(
    cli: &Cli,
    address: &str,
    id: &str,
    provider: Option<&str>,
    dry_run: bool,
    secrets: &mut Secrets,
) -> Result<ExitStatus, Failure> {
    let session = session::open(cli, secrets).await?;
    let _lock = super::change::lock(&session, "import", cli.lock_timeout).await?;
    let imported = session
        .import(address, id, provider, dry_run)
        .await
        .map_err(failure::engine)?;
    let verb = if dry_run { "Would import" } else { "Imported" };
    outln!(
        "{verb} {} as {} at {}.",
        imported.provider_id,
        imported.address,
        imported.placement
    );
    Ok(ExitStatus::Success)
}
