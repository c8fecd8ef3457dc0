//! `oss state rm ADDR...`: forget resources without destroying them (they keep running), with
//! the lock, as a new state version; `--dry-run` only says what would be forgotten.

use super::super::args::Cli;
use super::super::failure::{self, ExitStatus, Failure};
use super::super::output::outln;
use crate::engine::Session;

pub async fn run(
    cli: &Cli,
    session: &Session,
    addresses: &[String],
    dry_run: bool,
) -> Result<ExitStatus, Failure> {
    let _lock = super::change::lock(session, "state rm", cli.lock_timeout).await?;
    let forgotten = session
        .state_rm(addresses, dry_run)
        .await
        .map_err(failure::engine)?;
    let verb = if dry_run { "Would forget" } else { "Forgot" };
    for r in &forgotten {
        outln!(
            "{verb} {} ({} {})",
            r.address,
            r.placement.provider,
            r.provider_id
        );
    }
    if !dry_run {
        outln!(
            "{} forgotten; still running at the provider, no longer managed.",
            forgotten.len()
        );
    }
    Ok(ExitStatus::Success)
}
