//! `oss discover GROUP [--json]`: a group's endpoints from state (name, address and port,
//! DNS name), each probed now for whether it answers; and the writing of the strategy's
//! Prometheus `file_sd` targets file after an apply (atomic).

use std::time::Duration;

use super::super::args::Cli;
use super::super::failure::{ExitStatus, Failure};
use super::super::output;
use super::super::session::{self, Secrets};
use crate::discovery;
use crate::strategy::Strategy;

/// How long one endpoint may take to accept a connection before it counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

pub async fn run(
    cli: &Cli,
    group: &str,
    json: bool,
    secrets: &mut Secrets,
) -> Result<ExitStatus, Failure> {
    let session = session::open(cli, secrets).await?;
    super::known_group(&session.strategy, group)?;
    let state = session.backend.load().await.map_err(Failure::from)?.state;
    let mut found = discovery::discover(&session.strategy, state.as_ref(), group);
    discovery::probe(&mut found.endpoints, PROBE_TIMEOUT).await;
    if json {
        output::out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&found).unwrap_or_default()
        ));
        return Ok(ExitStatus::Success);
    }
    let mut text = String::new();
    if let Some(name) = &found.dns_name {
        text.push_str(&format!("# {} round-robin: {name}\n", found.group));
    }
    for srv in &found.srv {
        text.push_str(&format!("# SRV: {srv}\n"));
    }
    for e in &found.endpoints {
        let host = e.host.as_deref().unwrap_or("(no address)");
        let at = match e.ports.first() {
            Some(port) if host.contains(':') => format!("[{host}]:{port}"),
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        let live = match e.live {
            Some(true) => "up",
            _ => "down",
        };
        let mut columns = vec![e.name.as_str(), &at, live];
        columns.extend(e.dns_name.as_deref());
        text.push_str(&columns.join("\t"));
        text.push('\n');
    }
    if found.endpoints.is_empty() {
        text.push_str(&format!("# {group} has no nodes in state\n"));
    }
    output::out(&text);
    Ok(ExitStatus::Success)
}

/// Writes the strategy's `file_sd` targets file from `state` (atomically); `Some`: why it
/// could not be written.
pub fn write_file_sd(strategy: &Strategy, state: Option<&crate::state::State>) -> Option<String> {
    let file = strategy.file_sd.as_ref()?;
    let path = strategy.dir().join(file);
    let mut body = serde_json::to_string_pretty(&discovery::file_sd(strategy, state))
        .unwrap_or_else(|_| "[]".into());
    body.push('\n');
    // Prometheus runs as another user: the file is readable by all (it holds no secret).
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| crate::fsutil::write_atomic(&path, body.as_bytes(), 0o644));
    written.err().map(|e| {
        format!(
            "Cannot write the file_sd targets {}: {e}",
            crate::echo::EchoPath(&path)
        )
    })
}
