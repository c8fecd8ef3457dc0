//! `oss graph`: the desired resource graph as Graphviz DOT.

use super::super::args::Cli;
use super::super::failure::{self, ExitStatus, Failure};
use super::super::output;
use super::super::session::{self, Secrets};

pub async fn run(cli: &Cli, secrets: &mut Secrets) -> Result<ExitStatus, Failure> {
    let session = session::open(cli, secrets).await?;
    let state = session.backend.load().await.map_err(Failure::from)?.state;
    let seed = state.as_ref().and_then(|s| s.seed).unwrap_or(0);
    let graph = session
        .compile(state.as_ref(), seed, false)
        .await
        .map_err(failure::engine)?;
    output::out(&graph.to_dot());
    Ok(ExitStatus::Success)
}
