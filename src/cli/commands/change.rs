//! The flow `apply` and `destroy` share: take the lock (released on every exit, a panic
//! included), watch for interrupts, make or check the plan, show it, ask, carry it out, sum
//! up. The two commands differ only in where the plan comes from and what they ask.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::super::args::{Cli, Format};
use super::super::confirm::confirm;
use super::super::failure::{self, ExitStatus, Failure};
use super::super::output::{errln, outln};
use super::super::panic::{self, Tracked};
use super::super::progress::Progress;
use super::super::session::{self, Secrets, stdout_color};
use crate::apply::{self, Outcome, Status};
use crate::engine::applies::Command;
use crate::engine::{PlanOptions, Planned, Session};

/// Where the plan to carry out comes from.
pub enum Source<'a> {
    /// A plan saved with `oss plan --out`, checked against the current state and strategy.
    Saved(&'a Path),
    /// A plan made now; `question` is asked before carrying it out.
    Fresh {
        options: PlanOptions,
        question: &'static str,
    },
}

/// One apply or destroy.
pub struct Request<'a> {
    /// What the lock says it is for: `apply`, `destroy`.
    pub operation: &'static str,
    /// How the summary starts: `Apply`, `Destroy`.
    pub title: &'static str,
    pub source: Source<'a>,
    pub auto_approve: bool,
    pub parallelism: u32,
    /// Run the strategy's `hand_off` after a successful apply.
    pub hand_off: bool,
}

/// Takes the state lock for `operation`, registered so that a panic releases it.
pub async fn lock(
    session: &Session,
    operation: &str,
    timeout: Duration,
) -> Result<Tracked, Failure> {
    let held = session
        .lock(operation, timeout)
        .await
        .map_err(failure::engine)?;
    Ok(panic::track(held))
}

pub async fn run(
    cli: &Cli,
    request: Request<'_>,
    secrets: &mut Secrets,
) -> Result<ExitStatus, Failure> {
    let session = session::open(cli, secrets).await?;
    if let Source::Fresh { options, .. } = &request.source
        && !options.destroy
    {
        // A strategy that cannot compile is reported before anything, even the lock, is touched.
        session
            .compile(None, 0, false)
            .await
            .map_err(failure::engine)?;
    }
    let held = lock(&session, request.operation, cli.lock_timeout).await?;
    // The debug hook panics in a task of its own, like a bug in any step would.
    let operation = request.operation;
    let _ = tokio::spawn(async move { panic::debug_hook(operation) }).await;
    let interrupts = Interrupts::watch();
    let reporter = session::progress();
    let planned = match &request.source {
        Source::Saved(path) => {
            let plan = super::plan::read(path)?;
            let planned = session.check_saved(&plan).await.map_err(failure::engine)?;
            if !request.auto_approve {
                super::plan::print(&planned.plan, Format::Text)?;
                confirm(
                    "Do you want to carry out this saved plan?",
                    &interrupts.cancel,
                )
                .await?;
            }
            planned
        }
        Source::Fresh { options, question } => {
            let planned = session
                .plan(options, reporter.as_ref())
                .await
                .map_err(failure::engine)?;
            super::plan::print(&planned.plan, Format::Text)?;
            if planned.plan.has_changes() && !request.auto_approve {
                confirm(question, &interrupts.cancel).await?;
            }
            planned
        }
    };
    let changed = planned.plan.has_changes();
    let status = execute(&session, planned, &request, reporter, &interrupts.cancel).await?;
    // The hand-off may take long: it runs with the state lock released.
    drop(held);
    match &session.strategy.hand_off {
        Some(hand_off) if request.hand_off && status == ExitStatus::Success => {
            super::hand_off::run(&session.strategy, hand_off, changed, &interrupts.cancel).await
        }
        _ => Ok(status),
    }
}

async fn execute(
    session: &Session,
    planned: Planned,
    request: &Request<'_>,
    reporter: Arc<Progress>,
    cancel: &CancellationToken,
) -> Result<ExitStatus, Failure> {
    if cancel.is_cancelled() {
        return Err(Failure::interrupted(
            "Interrupted before any change was made",
            "run the command again when you are ready",
        ));
    }
    let options = apply::Options {
        parallelism: request.parallelism as usize,
        ..apply::Options::default()
    };
    let destroying = planned.plan.destroy;
    let outcome = session
        .apply(
            planned,
            options,
            reporter.clone(),
            cancel.clone(),
            match destroying {
                true => Command::Destroy,
                false => Command::Apply,
            },
        )
        .await
        .map_err(failure::engine);
    reporter.finish();
    let outcome = outcome?;
    print_summary(&outcome, request.title);
    // Outputs and inventory files read the state just written, loaded once for both.
    let strategy = &session.strategy;
    let wants_outputs = !destroying && !strategy.outputs.is_empty();
    let files = !strategy.inventory.is_empty() || strategy.file_sd.is_some();
    let state = match wants_outputs || files {
        true => session.backend.load().await.ok().and_then(|l| l.state),
        false => None,
    };
    if wants_outputs {
        print_outputs(strategy, state.as_ref());
    }
    // The inventory files follow the state (also after a destroy, so they never list nodes
    // that are gone).
    let mut inventories_written = true;
    if !strategy.inventory.is_empty() {
        for failed in super::inventory::write_files(strategy, state.as_ref()) {
            super::super::output::errln!("error: {failed}");
            inventories_written = false;
        }
    }
    if let Some(failed) = super::discover::write_file_sd(strategy, state.as_ref()) {
        super::super::output::errln!("error: {failed}");
        inventories_written = false;
    }
    Ok(if outcome.succeeded() && inventories_written {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

/// Watches for Ctrl-C and SIGTERM while a command holds the lock. First interrupt: cancel
/// (at the prompt: abort; during apply: nothing new starts, in-flight steps finish, state is
/// saved). Second: release our locks and exit at once; every finished step is already in the
/// fsync'd journal, folded in by the next run. Stops watching when dropped.
struct Interrupts {
    cancel: CancellationToken,
    watcher: tokio::task::JoinHandle<()>,
}

impl Interrupts {
    fn watch() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        let cancel = CancellationToken::new();
        let signals = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        );
        let token = cancel.clone();
        let watcher = tokio::spawn(async move {
            let (Ok(mut term), Ok(mut int)) = signals else {
                return;
            };
            tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
            token.cancel();
            tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
            panic::release_all();
            errln!(
                "Interrupted again: exiting now. Finished steps are saved; run `oss plan` to see the rest."
            );
            std::process::exit(130);
        });
        Interrupts { cancel, watcher }
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

/// The strategy's outputs over the state just written, as `oss output` lists them.
fn print_outputs(strategy: &crate::strategy::Strategy, state: Option<&crate::state::State>) {
    let outputs = crate::outputs::evaluate(strategy, state);
    let text = super::output::listing(&outputs);
    super::super::output::out(&format!("\nOutputs:\n\n{text}"));
}

fn print_summary(outcome: &Outcome, what: &str) {
    if outcome.steps.is_empty() && !outcome.interrupted {
        return; // the plan already said "No changes."
    }
    let done = outcome.count(|s| *s == Status::Done);
    let failed = outcome.count(|s| matches!(s, Status::Failed(_)));
    let skipped = outcome.count(|s| matches!(s, Status::Skipped(_)));
    let not_started = outcome.count(|s| *s == Status::NotStarted);
    let color = stdout_color();
    if outcome.succeeded() {
        let green = console::Style::new().green().bold().force_styling(color);
        outln!(
            "\n{}",
            green.apply_to(format!(
                "{what} complete: {done} step(s) done in {:.2}s.",
                outcome.elapsed.as_secs_f64()
            ))
        );
    } else {
        let red = console::Style::new().red().bold().force_styling(color);
        let mut line = format!(
            "{what} incomplete after {:.2}s: {done} succeeded, {failed} failed, {skipped} skipped",
            outcome.elapsed.as_secs_f64()
        );
        if outcome.interrupted {
            line.push_str(&format!(", {not_started} not started (interrupted)"));
        }
        outln!("\n{}", red.apply_to(line + "."));
        for step in &outcome.steps {
            match &step.status {
                Status::Failed(e) => outln!("  failed   {}: {e}", step.address),
                Status::Skipped(because) => {
                    outln!("  skipped  {} (needs {because})", step.address)
                }
                Status::NotStarted => outln!("  waiting  {}", step.address),
                Status::Done => {}
            }
        }
    }
    for step in &outcome.steps {
        for (placement, why) in &step.failed_over {
            outln!("  fail-over {}: {placement} refused ({why})", step.address);
        }
    }
}
