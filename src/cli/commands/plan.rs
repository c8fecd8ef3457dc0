//! `oss plan`: what apply would change, printed as text, JSON, markdown or concise lines,
//! optionally saved for `oss apply FILE`. Also the plan-file helpers `show` and `apply` use.

use std::io::Write;
use std::path::Path;

use super::super::args::{Cli, Format, PlanArgs, PlanScope};
use super::super::failure::{self, ExitStatus, Failure};
use super::super::output::{self, errln, outln};
use super::super::session::{self, Secrets, stdout_color};
use crate::echo::EchoPath;
use crate::engine::PlanOptions;
use crate::plan::{self, Plan, Scope};

pub async fn run(cli: &Cli, args: &PlanArgs, secrets: &mut Secrets) -> Result<ExitStatus, Failure> {
    let session = session::open(cli, secrets).await?;
    let reporter = session::progress();
    let planned = session
        .plan(&options(&args.scope, false), reporter.as_ref())
        .await
        .map_err(failure::engine)?;
    let format = args.format.format();
    print(&planned.plan, format)?;
    if let Some(out) = &args.out {
        save(&planned.plan, out)?;
        let note = format!(
            "Saved the plan to {}. Apply it with: oss apply {}",
            EchoPath(out),
            EchoPath(out)
        );
        // Other formats keep stdout to the plan alone, for files, comments and tools.
        match format {
            Format::Text => outln!("\n{note}"),
            Format::Json | Format::Markdown | Format::Concise => errln!("{note}"),
        }
    }
    Ok(if args.detailed_exitcode && planned.plan.has_changes() {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    })
}

/// The engine's plan options for a `--target`/`--exclude`/`--seed`... scope.
pub fn options(scope: &PlanScope, destroy: bool) -> PlanOptions {
    PlanOptions {
        refresh: scope.refresh,
        scope: Scope {
            targets: scope.target.clone(),
            excludes: scope.exclude.clone(),
            replaces: scope.replace.clone(),
        },
        destroy,
        seed: scope.seed,
        rebalance: scope.rebalance,
    }
}

/// Renders `plan` to stdout in `format`, its sensitive values hidden.
pub fn print(plan: &Plan, format: Format) -> Result<(), Failure> {
    let plan = plan.for_display();
    let plan = plan.as_ref();
    // Buffered, and streamed for JSON and text: a plan of 100,000 nodes never exists twice in memory.
    let mut out = std::io::BufWriter::new(output::Stdout);
    let written = match format {
        Format::Json => plan::json::write(plan, &mut out),
        Format::Text => plan::text::write(plan, stdout_color(), &mut out),
        Format::Markdown => out.write_all(plan::markdown::render(plan).as_bytes()),
        Format::Concise => out.write_all(plan::concise::render(plan).as_bytes()),
    };
    written
        .and_then(|()| out.flush())
        .map_err(|e| Failure::internal(format!("Cannot encode the plan: {e}")))
}

/// Saves `plan` for `oss apply FILE`: atomically, and readable by its owner alone (0600, also
/// when it replaces an existing file), since a plan shows the whole fleet's layout.
pub fn save(plan: &Plan, path: &Path) -> Result<(), Failure> {
    let bytes = serde_json::to_vec_pretty(plan)
        .map_err(|e| Failure::internal(format!("Cannot encode the plan: {e}")))?;
    crate::fsutil::write_atomic(path, &bytes, 0o600).map_err(|e| {
        Failure::user(
            format!("Cannot write the plan to {}: {e}", EchoPath(path)),
            "give --out a path in a directory you can write to",
        )
    })
}

/// Reads a plan saved by `oss plan --out`.
pub fn read(path: &Path) -> Result<Plan, Failure> {
    let bytes = std::fs::read(path).map_err(|e| {
        Failure::user(
            format!("Cannot read plan file {}: {e}", EchoPath(path)),
            "make one with `oss plan --out FILE`",
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Failure::user(
            format!("{} is not a plan saved by this oss: {e}", EchoPath(path)),
            "make one with `oss plan --out FILE`",
        )
    })
}
