//! The command line: resolves flags, environment and strategy into settings, runs the engine,
//! and is the only place that prints or asks. This file only dispatches: each subcommand is a
//! file in [`commands`], exit statuses are decided in [`failure`], panics are handled in
//! [`panic`], and every write to stdout/stderr goes through [`output`].

mod args;
mod commands;
mod confirm;
pub(crate) mod failure;
pub(crate) mod output;
mod panic;
mod progress;
mod session;
mod shares;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use failure::{ExitStatus, Failure};
use session::Secrets;

/// Runs the `oss` command line; returns the process exit code.
pub fn main() -> ExitCode {
    // Before anything reads a secret: no core file, no ptrace or /proc/PID/mem by others.
    if let Err(e) = crate::harden::harden() {
        output::errln!("warning: core dumps may not be off for this process: {e}");
    }
    panic::install();
    output::ignore_sigpipe();
    // clap exits 2 on a usage error, which `--detailed-exitcode` reserves for "changes": a
    // CI job must never read a typo as a plan with changes. Errors exit 1, help and version 0.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let use_stderr = e.use_stderr();
            let styled = if use_stderr {
                session::stderr_color()
            } else {
                session::stdout_color()
            };
            let text = if styled {
                e.render().ansi().to_string()
            } else {
                e.render().to_string()
            };
            if use_stderr {
                output::err(&crate::echo::cap(&text, 4096));
            } else {
                output::out(&text);
            }
            let status = if use_stderr {
                ExitStatus::Failure
            } else {
                ExitStatus::Success
            };
            return status.into();
        }
    };
    panic::debug_hook("main");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let failure = Failure::internal(format!("Cannot start the async runtime: {e}"));
            output::err(&failure.render(&|t| t.to_string(), session::stderr_color()));
            return failure.status().into();
        }
    };
    let mut secrets = Secrets::default();
    let result = runtime.block_on(run(&cli, &mut secrets));
    match result {
        Ok(status) => status.into(),
        Err(failure) => {
            output::err(&failure.render(&|t| secrets.redact(t), session::stderr_color()));
            failure.status().into()
        }
    }
}

async fn run(cli: &Cli, secrets: &mut Secrets) -> Result<ExitStatus, Failure> {
    match &cli.command {
        Command::Validate { print_schema } => {
            commands::validate::run(cli, *print_schema, secrets).await
        }
        Command::Plan(args) => commands::plan::run(cli, args, secrets).await,
        Command::Apply(args) => commands::apply::run(cli, args, secrets).await,
        Command::Destroy(args) => commands::destroy::run(cli, args, secrets).await,
        Command::Show { plan, format } => commands::show::run(cli, plan, *format, secrets).await,
        Command::Graph => commands::graph::run(cli, secrets).await,
        Command::Inventory {
            format,
            group,
            host,
            ..
        } => {
            commands::inventory::run(cli, format, group.as_deref(), host.as_deref(), secrets).await
        }
        Command::Discover { group, json } => {
            commands::discover::run(cli, group, *json, secrets).await
        }
        Command::Output { name, json, raw } => {
            commands::output::run(cli, name.as_deref(), *json, *raw, secrets).await
        }
        Command::Catalog(args) => commands::catalog::run(cli, args, secrets).await,
        Command::State(sub) => commands::state::run(cli, sub, secrets).await,
        Command::Import {
            address,
            id,
            provider,
            dry_run,
        } => commands::import::run(cli, address, id, provider.as_deref(), *dry_run, secrets).await,
        Command::ForceUnlock { lock_id } => {
            commands::force_unlock::run(cli, lock_id, secrets).await
        }
        Command::Secrets(sub) => commands::secrets::run(cli, sub),
        Command::Unlock { ttl } => commands::unlock::unlock(cli, *ttl),
        Command::Lock => commands::unlock::lock(cli),
        Command::UnlockAgent {
            vault_id,
            key_id,
            ttl,
        } => commands::unlock::serve(vault_id, key_id, *ttl),
        Command::Serve(args) => commands::serve::run(cli, args, secrets).await,
        Command::Monitor(args) => commands::monitor::run(cli, args, secrets).await,
        Command::Logs(args) => commands::logs::run(cli, args, secrets).await,
    }
}
