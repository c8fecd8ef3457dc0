//! `oss validate`: the strategy checked against the schema, its `env.` references resolved and
//! its offerings matched (a compile); or `--print-schema`.

use super::super::args::Cli;
use super::super::failure::{self, ExitStatus, Failure};
use super::super::output::outln;
use super::super::session::{self, Secrets};
use crate::strategy;

pub async fn run(
    cli: &Cli,
    print_schema: bool,
    secrets: &mut Secrets,
) -> Result<ExitStatus, Failure> {
    if print_schema {
        let schema = serde_json::to_string_pretty(strategy::schema())
            .map_err(|e| Failure::internal(format!("Cannot encode the schema: {e}")))?;
        outln!("{schema}");
        return Ok(ExitStatus::Success);
    }
    let session = session::open(cli, secrets).await?;
    let graph = session
        .compile(None, 0, false)
        .await
        .map_err(failure::engine)?;
    outln!(
        "Strategy {} is valid: {} resource(s) in {} group(s) across {} provider option(s).",
        crate::echo::EchoPath(&session.strategy.path),
        graph.len(),
        session.strategy.groups.len(),
        session.strategy.provider.options.len()
    );
    Ok(ExitStatus::Success)
}
