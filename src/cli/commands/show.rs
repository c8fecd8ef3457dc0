//! `oss show [PLAN]`: a saved plan in any format, or the state as text or JSON.

use std::path::PathBuf;

use super::super::args::{Cli, Format, PlanFormat};
use super::super::failure::{ExitStatus, Failure};
use super::super::output::outln;
use super::super::session::{self, Secrets};

pub async fn run(
    cli: &Cli,
    plan: &Option<PathBuf>,
    format: PlanFormat,
    secrets: &mut Secrets,
) -> Result<ExitStatus, Failure> {
    if let Some(path) = plan {
        super::plan::print(&super::plan::read(path)?, format.format())?;
        return Ok(ExitStatus::Success);
    }
    let json = match format.format() {
        Format::Text => false,
        Format::Json => true,
        Format::Markdown | Format::Concise => {
            return Err(Failure::user(
                "--markdown and --concise render a saved plan, not the state",
                "save a plan with `oss plan --out plan.bin`, then `oss show plan.bin --markdown`",
            ));
        }
    };
    let session = session::open(cli, secrets).await?;
    let state = session.backend.load().await.map_err(Failure::from)?.state;
    match (state, json) {
        (Some(state), true) => outln!("{}", to_json(&state)?),
        (Some(state), false) => {
            outln!(
                "State {} (lineage {}, serial {}):",
                session.backend.describe(),
                state.lineage,
                state.serial
            );
            for r in state.resources.values() {
                let url = r.observed.get("url").and_then(|u| u.as_str()).unwrap_or("");
                outln!("  {}  {}  {}  {url}", r.address, r.placement, r.provider_id);
            }
            if state.resources.is_empty() {
                outln!("  (no resources)");
            }
        }
        (None, _) => outln!(
            "No state yet for {}: nothing has been applied.",
            session.strategy.name
        ),
    }
    Ok(ExitStatus::Success)
}

/// Pretty JSON of something oss itself made (failing to encode it is a bug).
pub fn to_json(value: &impl serde::Serialize) -> Result<String, Failure> {
    serde_json::to_string_pretty(value)
        .map_err(|e| Failure::internal(format!("Cannot encode JSON: {e}")))
}
