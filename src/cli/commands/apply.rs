//! `oss apply [PLAN]`: make the fleet match the strategy, or carry out a saved plan.

use super::super::args::{ApplyArgs, Cli, PlanScope};
use super::super::failure::{ExitStatus, Failure};
use super::super::session::Secrets;
use super::change::{self, Request, Source};

pub async fn run(
    cli: &Cli,
    args: &ApplyArgs,
    secrets: &mut Secrets,
) -> Result<ExitStatus, Failure> {
    let source = match &args.plan {
        Some(path) => {
            refuse_planning_flags(&args.scope)?;
            Source::Saved(path)
        }
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
        hand_off: !args.no_hand_off,
    };
    change::run(cli, request, secrets).await
}

/// A saved plan already says what changes: planning flags beside it would be ignored, so they
/// are refused (as Terraform refuses `-target` with a saved plan) before anything is read.
fn refuse_planning_flags(scope: &PlanScope) -> Result<(), Failure> {
    let given: Vec<&str> = [
        (!scope.target.is_empty(), "--target"),
        (!scope.exclude.is_empty(), "--exclude"),
        (!scope.replace.is_empty(), "--replace"),
        (!scope.refresh, "--refresh=false"),
        (scope.seed.is_some(), "--seed"),
        (scope.rebalance, "--rebalance"),
    ]
    .into_iter()
    .filter_map(|(set, flag)| set.then_some(flag))
    .collect();
    if given.is_empty() {
        return Ok(());
    }
    Err(Failure::user(
        format!(
            "{} cannot be used with a saved plan: the plan already decided what changes.",
            given.join(", ")
        ),
        format!(
            "make a new plan with them: `oss plan --out FILE {}`, review it, then `oss apply FILE`",
            given.join(" ")
        ),
    ))
}
