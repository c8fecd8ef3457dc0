//! `oss logs ADDR [-f] [--since 10m] [--tail N]`: a node's logs through its provider's driver
//! (a local node's stderr and stdout files, an EC2 instance's console), each stream under a
//! `==> NAME <==` header as `tail` prints several files; `-f` polls for new lines until
//! Ctrl-C or SIGTERM. Only reads.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::super::args::{Cli, LogsArgs};
use super::super::failure::{self, ExitStatus, Failure};
use super::super::output::{errln, out};
use super::super::session::{self, Secrets};
use crate::driver::LogStream;
use crate::engine::logs;
use crate::resource::{Address, Existing};

/// How often `-f` asks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(300);
/// How many lines `-f` compares between polls (new lines beyond it in one poll are cut).
const FOLLOW_WINDOW: usize = 2000;

pub async fn run(cli: &Cli, args: &LogsArgs, secrets: &mut Secrets) -> Result<ExitStatus, Failure> {
    let session = session::open(cli, secrets).await?;
    let state = session.backend.load().await.map_err(Failure::from)?.state;
    let resource = find(state.as_ref(), &args.address)?;
    let cutoff = args.since.map(|d| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        now.saturating_sub(d.as_secs())
    });
    let read = |lines: usize| {
        let session = &session;
        let resource = &resource;
        async move {
            match session
                .logs(resource, lines)
                .await
                .map_err(failure::engine)?
            {
                Some(streams) => Ok(streams),
                None => Err(Failure::user(
                    format!(
                        "Provider {} keeps no logs oss can show for {}.",
                        resource.placement.provider, resource.address
                    ),
                    "read them where the provider keeps them (its console or the node itself)",
                )),
            }
        }
    };
    let first = read(args.tail.max(FOLLOW_WINDOW)).await?;
    let mut last_stream: Option<String> = None;
    let mut print = |stream: &str, lines: &[String]| {
        if lines.is_empty() {
            return;
        }
        let mut text = String::new();
        if last_stream.as_deref() != Some(stream) {
            text.push_str(&format!("==> {stream} <==\n"));
            last_stream = Some(stream.to_string());
        }
        for line in lines {
            text.push_str(&session.strategy.redact(line));
            text.push('\n');
        }
        out(&text);
    };
    for stream in &first {
        let lines = &stream.lines[stream.lines.len().saturating_sub(args.tail)..];
        let lines = match cutoff {
            Some(cutoff) => {
                let (kept, dated) = logs::since(lines, cutoff);
                if !dated && !lines.is_empty() {
                    errln!(
                        "note: the lines of {} carry no timestamps; --since cannot filter them, so all are shown.",
                        stream.name
                    );
                }
                kept
            }
            None => lines.to_vec(),
        };
        print(&stream.name, &lines);
    }
    if !args.follow {
        return Ok(ExitStatus::Success);
    }
    let stopped = super::serve::stopped();
    tokio::pin!(stopped);
    let mut seen: Vec<LogStream> = first;
    loop {
        tokio::select! {
            () = &mut stopped => return Ok(ExitStatus::Success),
            () = tokio::time::sleep(FOLLOW_POLL) => {}
        }
        let now = read(FOLLOW_WINDOW).await?;
        for stream in &now {
            let before = seen
                .iter()
                .find(|s| s.name == stream.name)
                .map_or(&[][..], |s| &s.lines[..]);
            print(&stream.name, logs::new_lines(before, &stream.lines));
        }
        seen = now;
    }
}

/// The node at `address` in state, or a located error naming the nearest addresses.
fn find(state: Option<&crate::state::State>, address: &str) -> Result<Existing, Failure> {
    let key = Address(address.to_string());
    if let Some(found) = state.and_then(|s| s.resources.get(&key)) {
        return Ok(found.clone());
    }
    let known: Vec<String> = state
        .map(|s| s.resources.keys().map(|a| a.to_string()).collect())
        .unwrap_or_default();
    let nearest = crate::suggest::nearest(address, known, 3);
    let hint = match nearest.is_empty() {
        true => "`oss state list` lists the addresses in the state".to_string(),
        false => format!(
            "did you mean {}? `oss state list` lists them all",
            nearest.join(", ")
        ),
    };
    Err(Failure::user(
        format!("No resource {} in the state.", crate::echo::Echo(address)),
        hint,
    ))
}
