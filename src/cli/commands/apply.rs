//! `oss apply [PLAN]`: make the fleet match the strategy, or carry out a saved plan.

use super::super::args::{ApplyArgs, Cli};
use super::super::failure::{ExitStatus, Failure};
use super::super::session::Secrets;
use super::change::{self, Request, Source};

pub async fn run(
    cli: &Cli,
    args: &ApplyArgs,
    secrets: &mut Secrets,
) -> Result<ExitStatus, Failure> {
    let source = match &args.plan {
        Some(path) => Source::Saved(path),
        None => Source::Fresh {
            options: super::plan::options(&args.scope, false),
            question: "Do you want to perform these actions?",
        },
    };
    let request = Request {
        operation: "apply",
        title: "Apply",
        source,
        auto_approve: args.auto_approve,
        parallelism: args.parallelism,
    };
    change::run(cli, request, secrets).await
}
