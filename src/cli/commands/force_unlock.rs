//! `oss force-unlock ID`: removes a state lock left behind, given its id.

use super::super::args::Cli;
use super::super::failure::{self, ExitStatus, Failure};
use super::super::output::outln;
use super::super::session::{self, Secrets};
use crate::engine::EngineError;

pub async fn run(cli: &Cli, lock_id: &str, secrets: &mut Secrets) -> Result<ExitStatus, Failure> {
    let session = session::open(cli, secrets).await?;
    let info = session
        .backend
        .force_unlock(lock_id)
        .await
        .map_err(|e| failure::engine(EngineError::Lock(e)))?;
    outln!(
        "Removed lock {} held by {} (pid {}) for `{}` since {}.",
        info.id,
        info.who,
        info.pid,
        info.operation,
        info.created
    );
    Ok(ExitStatus::Success)
}
