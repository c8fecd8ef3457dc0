//! The command line: resolves flags, environment and strategy into settings, runs the engine,
//! and is the only place that prints or asks. Errors are sorted into exit codes here.

mod args;
mod catalog;
mod progress;

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tokio_util::sync::CancellationToken;

use crate::apply::{self, Outcome, Status};
use crate::engine::{EngineError, PlanOptions, Planned, Session};
use crate::plan::{self, Plan, Scope};
use crate::state::backend::Held;
use crate::strategy::{self, Strategy};
use args::{ApplyArgs, Cli, Command, DestroyArgs, Format, PlanArgs, PlanScope, StateCommand};
use progress::Progress;

/// A failure to report: one sentence, its causes, and a hint.
struct Failure {
    message: String,
    hint: Option<String>,
}

impl<E: std::error::Error> From<E> for Failure {
    fn from(e: E) -> Self {
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(cause) = source {
            message.push_str(&format!("\n  caused by: {cause}"));
            source = cause.source();
        }
        Failure {
            message,
            hint: None,
        }
    }
}

fn fail(message: impl Into<String>, hint: impl Into<String>) -> Failure {
    Failure {
        message: message.into(),
        hint: Some(hint.into()),
    }
}

/// Runs the `oss` command line; returns the process exit code.
pub fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of our output goes away (`| head`).
    // SAFETY: called once at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // clap exits 2 on a usage error, which `--detailed-exitcode` reserves for "changes": a
    // CI job must never read a typo as a plan with changes. Errors exit 1, help and version 0.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let mut secrets: Vec<String> = Vec::new();
    let result = runtime.block_on(run(cli, &mut secrets));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            let redact = |text: &str| {
                secrets
                    .iter()
                    .filter(|s| !s.is_empty())
                    .fold(text.to_string(), |t, s| {
                        t.replace(s.as_str(), "(sensitive)")
                    })
            };
            let red = console::Style::new()
                .red()
                .bold()
                .force_styling(stderr_color());
            eprintln!("{} {}", red.apply_to("error:"), redact(&failure.message));
            if let Some(hint) = failure.hint {
                eprintln!("  hint: {}", redact(&hint));
            }
            ExitCode::from(1)
        }
    }
}

fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

fn stdout_color() -> bool {
    std::io::stdout().is_terminal() && !no_color()
}

fn stderr_color() -> bool {
    std::io::stderr().is_terminal() && !no_color()
}

fn progress() -> Arc<Progress> {
    Arc::new(Progress::new(
        std::io::stderr().is_terminal(),
        stderr_color(),
    ))
}

fn strategy_path(given: &Option<PathBuf>) -> PathBuf {
    match given {
        Some(p) => p.clone(),
        None if Path::new("strategy.json").exists() => PathBuf::from("strategy.json"),
        None => PathBuf::from("strategy.sample.json"),
    }
}

fn load_strategy(cli: &Cli, secrets: &mut Vec<String>) -> Result<Strategy, Failure> {
    let path = strategy_path(&cli.strategy);
    let strategy = strategy::load(&path, &|name| std::env::var(name).ok()).map_err(|e| {
        let hint = match &e {
            strategy::StrategyError::Read { .. } => {
                Some("pass -s FILE, or run oss where strategy.json is".to_string())
            }
            _ => None,
        };
        Failure {
            hint,
            ..Failure::from(e)
        }
    })?;
    secrets.extend(strategy.secrets.iter().cloned());
    Ok(strategy)
}

async fn open(cli: &Cli, secrets: &mut Vec<String>) -> Result<Session, Failure> {
    let strategy = load_strategy(cli, secrets)?;
    let backend = crate::state::open_backend(
        &backend_spec(cli, &strategy),
        &cli.state_dir,
        &strategy.name,
    )
    .await
    .map_err(Failure::from)?;
    Session::open(strategy, &cli.state_dir, backend).map_err(engine_failure)
}

/// The state backend: `--backend`/`OSS_BACKEND` first, then the strategy's `state` block,
/// else the local files.
fn backend_spec(cli: &Cli, strategy: &Strategy) -> crate::state::BackendSpec {
    match &cli.backend {
        Some(kind) => crate::state::BackendSpec {
            kind: kind.clone(),
            url: cli.backend_url.clone(),
        },
        None => strategy.state.clone().unwrap_or_default(),
    }
}

fn engine_failure(e: EngineError) -> Failure {
    match e {
        EngineError::Lock(lock) => {
            let hint = lock.hint();
            Failure {
                hint,
                ..Failure::from(lock)
            }
        }
        EngineError::StalePlan(_) => Failure {
            hint: Some("make a new plan with `oss plan --out FILE` and review it".into()),
            ..Failure::from(e)
        },
        other => Failure::from(other),
    }
}

async fn run(cli: Cli, secrets: &mut Vec<String>) -> Result<u8, Failure> {
    match &cli.command {
        Command::Validate { print_schema: true } => {
            println!(
                "{}",
                serde_json::to_string_pretty(strategy::schema()).unwrap_or_default()
            );
            Ok(0)
        }
        Command::Validate {
            print_schema: false,
        } => {
            let session = open(&cli, secrets).await?;
            let graph = session
                .compile(None, 0, false)
                .await
                .map_err(engine_failure)?;
            println!(
                "Strategy {} is valid: {} resource(s) across {} provider option(s).",
                session.strategy.path.display(),
                graph.len(),
                session.strategy.provider.options.len()
            );
            Ok(0)
        }
        Command::Plan(args) => plan_command(&cli, args, secrets).await,
        Command::Apply(args) => apply_command(&cli, args, secrets).await,
        Command::Destroy(args) => destroy_command(&cli, args, secrets).await,
        Command::Show {
            plan: Some(path),
            format,
        } => {
            let plan = read_plan(path)?;
            print_plan(&plan, format.format());
            Ok(0)
        }
        Command::Show { plan: None, format } => {
            let json = match format.format() {
                Format::Text => false,
                Format::Json => true,
                Format::Markdown | Format::Concise => {
                    return Err(fail(
                        "--markdown and --concise render a saved plan, not the state",
                        "save a plan with `oss plan --out plan.bin`, then `oss show plan.bin --markdown`",
                    ));
                }
            };
            let session = open(&cli, secrets).await?;
            let state = session.backend.load().await.map_err(Failure::from)?.state;
            match (state, json) {
                (Some(state), true) => println!(
                    "{}",
                    serde_json::to_string_pretty(&state).unwrap_or_default()
                ),
                (Some(state), false) => {
                    println!(
                        "State {} (lineage {}, serial {}):",
                        session.backend.describe(),
                        state.lineage,
                        state.serial
                    );
                    for r in state.resources.values() {
                        let url = r.observed.get("url").and_then(|u| u.as_str()).unwrap_or("");
                        println!("  {}  {}  {}  {url}", r.address, r.placement, r.provider_id);
                    }
                    if state.resources.is_empty() {
                        println!("  (no resources)");
                    }
                }
                (None, _) => println!(
                    "No state yet for {}: nothing has been applied.",
                    session.strategy.name
                ),
            }
            Ok(0)
        }
        Command::Graph => {
            let session = open(&cli, secrets).await?;
            let state = session.backend.load().await.map_err(Failure::from)?.state;
            let seed = state.as_ref().and_then(|s| s.seed).unwrap_or(0);
            let graph = session
                .compile(state.as_ref(), seed, false)
                .await
                .map_err(engine_failure)?;
            print!("{}", graph.to_dot());
            Ok(0)
        }
        Command::Catalog(args) => {
            let session = open(&cli, secrets).await?;
            let catalogs = session.catalogs().await.map_err(engine_failure)?;
            catalog::print(&catalogs, args)
        }
        Command::State(sub) => {
            let session = open(&cli, secrets).await?;
            state_command(&cli, &session, sub).await
        }
        Command::ForceUnlock { lock_id } => {
            let session = open(&cli, secrets).await?;
            let info = session
                .backend
                .force_unlock(lock_id)
                .await
                .map_err(|e| engine_failure(EngineError::Lock(e)))?;
            println!(
                "Removed lock {} held by {} (pid {}) for `{}` since {}.",
                info.id, info.who, info.pid, info.operation, info.created
            );
            Ok(0)
        }
    }
}

async fn state_command(cli: &Cli, session: &Session, sub: &StateCommand) -> Result<u8, Failure> {
    let backend = &session.backend;
    match sub {
        StateCommand::List | StateCommand::Show { .. } => {
            let state = backend.load().await.map_err(Failure::from)?.state;
            let resources = state.map(|s| s.resources).unwrap_or_default();
            if let StateCommand::Show { address } = sub {
                let key = crate::resource::Address(address.clone());
                let resource = resources.get(&key).ok_or_else(|| {
                    fail(
                        format!("No resource {address} in state"),
                        "list addresses with `oss state list`",
                    )
                })?;
                println!(
                    "{}",
                    serde_json::to_string_pretty(resource).unwrap_or_default()
                );
            } else {
                for address in resources.keys() {
                    println!("{address}");
                }
            }
            Ok(0)
        }
        StateCommand::Pull { serial } => {
            let bytes = backend
                .raw(*serial)
                .await
                .map_err(Failure::from)?
                .ok_or_else(|| {
                    fail(
                        format!(
                            "No state {} in {}",
                            serial.map_or("yet".into(), |s| format!("version {s}")),
                            backend.describe()
                        ),
                        "list versions with `oss state versions`",
                    )
                })?;
            std::io::stdout().write_all(&bytes).map_err(Failure::from)?;
            Ok(0)
        }
        StateCommand::Versions { json } => {
            let versions = backend.versions().await.map_err(Failure::from)?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&versions).unwrap_or_default()
                );
            } else {
                println!("Versions of {}:", backend.describe());
                for v in &versions {
                    println!(
                        "  serial {:>4}  {}  {}  {}  sha256 {}",
                        v.serial,
                        v.written_at.as_deref().unwrap_or("-"),
                        v.written_by.as_deref().unwrap_or("-"),
                        v.lineage,
                        &v.hash[..12]
                    );
                }
            }
            Ok(0)
        }
        StateCommand::Push { file, force } => {
            let bytes = std::fs::read(file).map_err(|e| {
                fail(
                    format!("Cannot read {}: {e}", file.display()),
                    "give a state file saved with `oss state pull`",
                )
            })?;
            let _lock = session
                .lock("state push", cli.lock_timeout)
                .await
                .map_err(engine_failure)?;
            let state = backend.push(&bytes, *force).await.map_err(|e| Failure {
                hint: Some("pull the current state, or pass --force to overwrite it".into()),
                ..Failure::from(e)
            })?;
            println!(
                "Pushed serial {} (lineage {}) to {}.",
                state.serial,
                state.lineage,
                backend.describe()
            );
            Ok(0)
        }
        StateCommand::Migrate {
            to,
            to_url,
            to_state_dir,
        } => {
            let spec = crate::state::BackendSpec {
                kind: to.clone(),
                url: to_url.clone(),
            };
            let dir = to_state_dir
                .clone()
                .unwrap_or_else(|| cli.state_dir.clone());
            let target = crate::state::open_backend(&spec, &dir, &session.strategy.name)
                .await
                .map_err(Failure::from)?;
            if target.describe() == backend.describe() {
                return Err(fail(
                    "The source and the target are the same backend",
                    "name another backend with --to",
                ));
            }
            let _source_lock = session
                .lock("state migrate", cli.lock_timeout)
                .await
                .map_err(engine_failure)?;
            let _target_lock = target
                .lock("state migrate", cli.lock_timeout)
                .await
                .map_err(|e| engine_failure(EngineError::Lock(e)))?;
            let bytes = backend
                .raw(None)
                .await
                .map_err(Failure::from)?
                .ok_or_else(|| {
                    fail(
                        format!("No state in {} to migrate", backend.describe()),
                        "apply something first",
                    )
                })?;
            target.push(&bytes, false).await.map_err(|e| Failure {
                hint: Some(
                    "the target already holds a state of another lineage or a newer serial".into(),
                ),
                ..Failure::from(e)
            })?;
            // Verify: the target now returns exactly the bytes of the source.
            let copied = target.raw(None).await.map_err(Failure::from)?;
            if copied.as_deref() != Some(bytes.as_slice()) {
                return Err(fail(
                    format!("The copy in {} differs from the source", target.describe()),
                    "the source is unchanged; check the target and try again",
                ));
            }
            println!(
                "Migrated state (sha256 {}) from {} to {}; verified. The source is unchanged.",
                &crate::digest::sha256_hex(&bytes)[..12],
                backend.describe(),
                target.describe()
            );
            Ok(0)
        }
    }
}

fn plan_options(scope: &PlanScope, destroy: bool) -> PlanOptions {
    PlanOptions {
        refresh: scope.refresh,
        scope: Scope {
            targets: scope.target.clone(),
            excludes: scope.exclude.clone(),
        },
        destroy,
        seed: scope.seed,
        rebalance: scope.rebalance,
    }
}

async fn plan_command(
    cli: &Cli,
    args: &PlanArgs,
    secrets: &mut Vec<String>,
) -> Result<u8, Failure> {
    let session = open(cli, secrets).await?;
    let reporter = progress();
    let planned = session
        .plan(&plan_options(&args.scope, false), reporter.as_ref())
        .await
        .map_err(engine_failure)?;
    let format = args.format.format();
    print_plan(&planned.plan, format);
    if let Some(out) = &args.out {
        save_plan(&planned.plan, out)?;
        let note = format!(
            "Saved the plan to {}. Apply it with: oss apply {}",
            out.display(),
            out.display()
        );
        // Other formats keep stdout to the plan alone, for files, comments and tools.
        match format {
            Format::Text => println!("\n{note}"),
            Format::Json | Format::Markdown | Format::Concise => eprintln!("{note}"),
        }
    }
    Ok(if args.detailed_exitcode && planned.plan.has_changes() {
        2
    } else {
        0
    })
}

fn print_plan(plan: &Plan, format: Format) {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let _ = match format {
        Format::Json => plan::json::write(plan, &mut out),
        Format::Text => out.write_all(plan::text::render(plan, stdout_color()).as_bytes()),
        Format::Markdown => out.write_all(plan::markdown::render(plan).as_bytes()),
        Format::Concise => out.write_all(plan::concise::render(plan).as_bytes()),
    };
    let _ = out.flush();
}

fn save_plan(plan: &Plan, path: &Path) -> Result<(), Failure> {
    let bytes = serde_json::to_vec_pretty(plan).map_err(Failure::from)?;
    std::fs::write(path, bytes).map_err(|e| Failure {
        message: format!("Cannot write the plan to {}: {e}", path.display()),
        hint: None,
    })
}

fn read_plan(path: &Path) -> Result<Plan, Failure> {
    let bytes = std::fs::read(path).map_err(|e| {
        fail(
            format!("Cannot read plan file {}: {e}", path.display()),
            "make one with `oss plan --out FILE`",
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        fail(
            format!("{} is not a plan saved by this oss: {e}", path.display()),
            "make one with `oss plan --out FILE`",
        )
    })
}

/// Asks on a terminal; refuses when nobody can answer.
fn confirm(question: &str) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(fail(
            "Refusing to go ahead without confirmation: standard input is not a terminal",
            "review the plan, then pass --auto-approve (or apply a saved plan with --auto-approve)",
        ));
    }
    print!("\n{question}\n  Only 'yes' will be accepted: ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(fail(
            "Cancelled: nothing was changed",
            "answer `yes` to go ahead",
        ))
    }
}

async fn apply_command(
    cli: &Cli,
    args: &ApplyArgs,
    secrets: &mut Vec<String>,
) -> Result<u8, Failure> {
    let session = open(cli, secrets).await?;
    if args.plan.is_none() {
        // A strategy that cannot compile is reported before anything, even the lock, is touched.
        session
            .compile(None, 0, false)
            .await
            .map_err(engine_failure)?;
    }
    let lock = session
        .lock("apply", cli.lock_timeout)
        .await
        .map_err(engine_failure)?;
    let (cancel, watcher) = watch_interrupts(&lock);
    let reporter = progress();
    let planned = match &args.plan {
        Some(path) => {
            let plan = read_plan(path)?;
            let planned = session.check_saved(&plan).await.map_err(engine_failure)?;
            if !args.auto_approve {
                print_plan(&planned.plan, Format::Text);
                confirm("Do you want to carry out this saved plan?")?;
            }
            planned
        }
        None => {
            let planned = session
                .plan(&plan_options(&args.scope, false), reporter.as_ref())
                .await
                .map_err(engine_failure)?;
            print!("{}", plan::text::render(&planned.plan, stdout_color()));
            if planned.plan.has_changes() && !args.auto_approve {
                confirm("Do you want to perform these actions?")?;
            }
            planned
        }
    };
    let result = execute(
        &session,
        planned,
        args.parallelism,
        reporter,
        &cancel,
        "Apply",
    )
    .await;
    watcher.abort();
    result
}

async fn destroy_command(
    cli: &Cli,
    args: &DestroyArgs,
    secrets: &mut Vec<String>,
) -> Result<u8, Failure> {
    let session = open(cli, secrets).await?;
    let lock = session
        .lock("destroy", cli.lock_timeout)
        .await
        .map_err(engine_failure)?;
    let (cancel, watcher) = watch_interrupts(&lock);
    let reporter = progress();
    let scope = PlanScope {
        target: args.target.clone(),
        refresh: args.refresh,
        ..PlanScope::default()
    };
    let planned = session
        .plan(&plan_options(&scope, true), reporter.as_ref())
        .await
        .map_err(engine_failure)?;
    print!("{}", plan::text::render(&planned.plan, stdout_color()));
    if planned.plan.has_changes() && !args.auto_approve {
        confirm("Do you really want to destroy every resource listed above?")?;
    }
    let result = execute(
        &session,
        planned,
        args.parallelism,
        reporter,
        &cancel,
        "Destroy",
    )
    .await;
    watcher.abort();
    result
}

async fn execute(
    session: &Session,
    planned: Planned,
    parallelism: u32,
    reporter: Arc<Progress>,
    cancel: &CancellationToken,
    what: &str,
) -> Result<u8, Failure> {
    if cancel.is_cancelled() {
        return Err(fail(
            "Interrupted before any change was made",
            "run the command again when you are ready",
        ));
    }
    let options = apply::Options {
        parallelism: parallelism as usize,
        ..apply::Options::default()
    };
    let outcome = session
        .apply(planned, options, reporter.clone(), cancel.clone())
        .await
        .map_err(engine_failure);
    reporter.finish();
    let outcome = outcome?;
    print_summary(&outcome, what);
    Ok(if outcome.succeeded() { 0 } else { 1 })
}

/// Watches for Ctrl-C and SIGTERM while `lock` is held. First interrupt: cancel (nothing new
/// starts, in-flight steps finish, state is saved). Second: release our lock and exit at once;
/// every finished step is already in the fsync'd journal, folded in by the next run.
fn watch_interrupts(lock: &Arc<dyn Held>) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    use tokio::signal::unix::{SignalKind, signal};
    let cancel = CancellationToken::new();
    let signals = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    let lock = Arc::clone(lock);
    let token = cancel.clone();
    let watcher = tokio::spawn(async move {
        let (Ok(mut term), Ok(mut int)) = signals else {
            return;
        };
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        token.cancel();
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        lock.release_now();
        eprintln!(
            "Interrupted again: exiting now. Finished steps are saved; run `oss plan` to see the rest."
        );
        std::process::exit(130);
    });
    (cancel, watcher)
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
        println!(
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
        println!("\n{}", red.apply_to(line + "."));
        for step in &outcome.steps {
            match &step.status {
                Status::Failed(e) => println!("  failed   {}: {e}", step.address),
                Status::Skipped(because) => {
                    println!("  skipped  {} (needs {because})", step.address)
                }
                Status::NotStarted => println!("  waiting  {}", step.address),
                Status::Done => {}
            }
        }
    }
    for step in &outcome.steps {
        for (placement, why) in &step.failed_over {
            println!("  fail-over {}: {placement} refused ({why})", step.address);
        }
    }
}
