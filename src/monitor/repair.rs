//! Auto-repair: a node seen down for its check's threshold is replaced through the engine,
//! exactly as `oss apply --replace ADDR --target ADDR` would (plan with refresh, then apply),
//! under the state lock. The lock is only tried, never waited for: while another apply holds
//! it, the repair is skipped and tried again at the node's next probe, and the reason is
//! reported. Never prints.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::engine::{EngineError, PlanOptions, Session};
use crate::plan::Scope;
use crate::report::{Event, Reporter};

/// How one repair went.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Repaired {
    /// The node was replaced; the apply's steps all finished.
    Replaced { steps: usize, seconds: f64 },
    /// Another process holds the state lock; nothing was done.
    Skipped { reason: String },
    /// The plan or the apply failed; the node stays as it is.
    Failed { error: String },
}

/// Replaces `address` under the state lock (tried at once, not waited for).
pub async fn replace(session: &Session, address: &str) -> Repaired {
    let started = Instant::now();
    let held = match session.lock("auto-repair", Duration::ZERO).await {
        Ok(held) => held,
        Err(EngineError::Lock(e @ crate::state::lock::LockError::Held { .. })) => {
            return Repaired::Skipped {
                reason: format!("{e}; tried again at the next probe"),
            };
        }
        Err(e) => return failed(session, e),
    };
    let options = PlanOptions {
        refresh: true,
        scope: Scope {
            targets: vec![address.to_string()],
            excludes: Vec::new(),
            replaces: vec![address.to_string()],
        },
        ..PlanOptions::default()
    };
    let planned = match session.plan(&options, &Quiet).await {
        Ok(planned) => planned,
        Err(e) => return failed(session, e),
    };
    let outcome = session
        .apply(
            planned,
            crate::apply::Options::default(),
            Arc::new(Quiet),
            CancellationToken::new(),
            crate::engine::applies::Command::Repair,
        )
        .await;
    drop(held);
    match outcome {
        Ok(outcome) if outcome.succeeded() => Repaired::Replaced {
            steps: outcome.steps.len(),
            seconds: started.elapsed().as_secs_f64(),
        },
        Ok(outcome) => {
            let errors: Vec<String> = outcome
                .steps
                .iter()
                .filter_map(|s| match &s.status {
                    crate::apply::Status::Failed(e) => Some(format!("{}: {e}", s.address)),
                    _ => None,
                })
                .collect();
            Repaired::Failed {
                error: session.strategy.redact(&format!(
                    "the replace did not finish: {}",
                    errors.join("; ")
                )),
            }
        }
        Err(e) => failed(session, e),
    }
}

fn failed(session: &Session, e: EngineError) -> Repaired {
    Repaired::Failed {
        error: session.strategy.redact(&e.to_string()),
    }
}

/// A repair's plan and apply report nothing of their own: the monitor reports the repair.
struct Quiet;

impl Reporter for Quiet {
    fn report(&self, _: Event<'_>) {}
}
