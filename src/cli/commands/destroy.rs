//! `oss destroy`: remove everything the state knows (or the `--target`ed part of it).

use super::super::args::{Cli, DestroyArgs, PlanScope};
use super::super::failure::{ExitStatus, Failure};
use super::super::session::Secrets;
use super::change::{self, Request, Source};

pub async fn run(
    cli: &Cli,
    args: &DestroyArgs,
    secrets: &mut Secrets,
) -> Result<ExitStatus, Failure> {
    let scope = PlanScope {
        target: args.target.clone(),
        refresh: args.refresh,
        ..PlanScope::default()
    };
    let request = Request {
        operation: "destroy",
        title: "Destroy",
        source: Source::Fresh {
            options: super::plan::options(&scope, true),
            question: "Do you really want to destroy every resource listed above?",
        },
        auto_approve: args.auto_approve,
        parallelism: args.parallelism,
        hand_off: false,
    };
    change::run(cli, request, secrets).await
}
