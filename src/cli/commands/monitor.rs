//! `oss monitor [--once | --for DURATION] [--no-repair]`: the fleet's health as JSON lines on
//! stdout, one per transition (`"event": "transition"`) and per repair (`repair-started`,
//! `repair`), recorded in the health store beside the state (docs/monitor.md). Runs until
//! Ctrl-C or SIGTERM, `--for` ends, or with `--once` every node has a verdict.

use std::sync::Arc;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::super::args::{Cli, MonitorArgs};
use super::super::failure::{ExitStatus, Failure};
use super::super::output::{errln, outln};
use super::super::session::{self, Secrets};
use crate::monitor::store::{Record, Store, StoreError};
use crate::monitor::{self, RepairReport, Sink, Until};

pub async fn run(
    cli: &Cli,
    args: &MonitorArgs,
    secrets: &mut Secrets,
) -> Result<ExitStatus, Failure> {
    let session = session::open(cli, secrets).await?;
    let watched: Vec<&str> = session
        .strategy
        .groups
        .iter()
        .filter(|g| g.health.is_some())
        .map(|g| g.name.as_str())
        .collect();
    if watched.is_empty() {
        return Err(Failure::user(
            "The strategy has no group with a health block: there is nothing to monitor.",
            "add \"health\": {\"type\": \"tcp\"} (or an http check) to a group",
        ));
    }
    let repairing: Vec<&str> = session
        .strategy
        .groups
        .iter()
        .filter(|g| g.auto_repair && !args.no_repair)
        .map(|g| g.name.as_str())
        .collect();
    let until = match (args.once, args.for_) {
        (true, _) => Until::Verdicts,
        (false, Some(d)) => Until::Elapsed(d),
        (false, None) => Until::Stopped,
    };
    let store = Store::in_dir(&cli.state_dir);
    errln!(
        "Monitoring group(s) {}{}; transitions go to {}.",
        watched.join(", "),
        match repairing.is_empty() {
            true => String::new(),
            false => format!(", repairing {}", repairing.join(", ")),
        },
        crate::echo::EchoPath(store.path())
    );
    let options = monitor::Options {
        concurrency: args.concurrency as usize,
        until,
        repair: !args.no_repair,
        observer: "monitor",
        ..monitor::Options::default()
    };
    let stop = CancellationToken::new();
    let stopper = stop.clone();
    let watcher = tokio::spawn(async move {
        super::serve::stopped().await;
        stopper.cancel();
    });
    let summary = monitor::run(
        Arc::new(session),
        options,
        Some(store),
        Arc::new(Printer),
        stop,
    )
    .await;
    watcher.abort();
    let summary = summary.map_err(Failure::from)?;
    errln!(
        "{} node(s) watched: {} up, {} down, {} unknown; {} probe(s), {} transition(s).",
        summary.targets,
        summary.up,
        summary.down,
        summary.targets - summary.up - summary.down,
        summary.probes,
        summary.transitions
    );
    Ok(match args.once && summary.down > 0 {
        true => ExitStatus::Failure,
        false => ExitStatus::Success,
    })
}

/// Prints what the loop finds, one JSON object a line.
struct Printer;

#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    event: &'a str,
    #[serde(flatten)]
    body: &'a T,
}

fn print<T: Serialize>(event: &str, body: &T) {
    if let Ok(text) = serde_json::to_string(&Line { event, body }) {
        outln!("{text}");
    }
}

impl Sink for Printer {
    fn transition(&self, record: &Record) {
        print("transition", record);
    }

    fn repair(&self, report: &RepairReport) {
        let event = match report.repaired {
            None => "repair-started",
            Some(_) => "repair",
        };
        print(event, report);
    }

    fn store_failed(&self, error: &StoreError) {
        errln!(
            "warning: {error}: {}",
            crate::echo::causes(error).join(": ")
        );
    }
}
