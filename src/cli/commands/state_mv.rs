//! `oss state mv FROM TO`: rename a node or a group in state (and the objects' markers),
//! with the lock, as a new state version; `--dry-run` only says what would be renamed.

use super::super::args::Cli;
use super::super::failure::{self, ExitStatus, Failure};
use super::super::output::outln;
use crate::engine::Session;

pub async fn run(
    cli: &Cli,
    session: &Session,
    from: &str,
    to: &str,
    dry_run: bool,
) -> Result<ExitStatus, Failure> {
    let _lock = super::change::lock(session, "state mv", cli.lock_timeout).await?;
    let renames = session
        .state_mv(from, to, dry_run)
        .await
        .map_err(failure::engine)?;
    let verb = if dry_run { "Would move" } else { "Moved" };
    for r in &renames {
        outln!("{verb} {} to {}", r.from, r.to);
    }
    Ok(ExitStatus::Success)
}
