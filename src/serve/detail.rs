//! One resource in full, for its page and `/api/nodes/ADDRESS`: what state records (redacted),
//! its row, its ranked fall-back candidates as the strategy compiles them now (cached per
//! state serial), its health (the latest verdict and the last transitions), and the last
//! lines of its logs where its provider keeps them.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use super::fleet::Row;
use super::health::NodeHealth;
use super::source::Source;
use crate::driver::LogStream;
use crate::monitor::store::Record;
use crate::resource::{Address, Existing, Placement};

/// How many lines of each log stream a page shows.
pub const LOG_LINES: usize = 50;
/// How many of its last health transitions a node's page shows.
pub const HEALTH_HISTORY: usize = 20;

#[derive(Clone, Debug, Serialize)]
pub struct Detail {
    pub row: Row,
    pub resource: Existing,
    /// Where the node would go, in order, if its placement refused it: the compiled
    /// candidates after the chosen one. `None` with `fallbacks_problem` when the strategy
    /// does not compile now (or the address left it).
    pub fallbacks: Option<Vec<Placement>>,
    pub fallbacks_problem: Option<String>,
    /// Per stream, oldest line first; `None` when the provider keeps no logs.
    pub logs: Option<Vec<LogStream>>,
    pub logs_problem: Option<String>,
    /// Its latest health verdict (`None`: its group has no health check).
    pub health: Option<NodeHealth>,
    /// Its last transitions, oldest first, from the health store.
    pub health_history: Vec<Record>,
}

/// The resource at `address` in the latest state, or the addresses nearest it.
pub async fn gather(source: &Source, address: &str) -> Result<Detail, Vec<String>> {
    let snapshot = source.live.latest();
    let state = snapshot.state.as_ref();
    let key = Address(address.to_string());
    let found = state.and_then(|s| {
        s.resources
            .get(&key)
            .map(|r| (r.clone(), false))
            .or_else(|| {
                s.deposed
                    .iter()
                    .find(|r| r.address == key)
                    .map(|r| (r.clone(), true))
            })
    });
    let Some((resource, deposed)) = found else {
        let known = state
            .map(|s| {
                s.resources
                    .keys()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        return Err(crate::suggest::nearest(address, known, 3));
    };
    let (fallbacks, fallbacks_problem) = match fallbacks(source, state).await {
        Ok(all) => match all.get(&key) {
            Some(list) => (Some(list.to_vec()), None),
            None => (
                None,
                Some("the strategy no longer has this address".to_string()),
            ),
        },
        Err(problem) => (None, Some(problem)),
    };
    let (logs, logs_problem) = match source.session.logs(&resource, LOG_LINES).await {
        Ok(logs) => (
            logs.map(|streams| {
                streams
                    .into_iter()
                    .map(|s| LogStream {
                        name: s.name,
                        lines: s.lines.iter().map(|l| source.redact_text(l)).collect(),
                    })
                    .collect()
            }),
            None,
        ),
        Err(e) => (None, Some(source.redact_text(&e.to_string()))),
    };
    let health = source.health.of(address);
    let health_history = source.health_store.history(address, HEALTH_HISTORY);
    let mut row = Row::of(&resource, deposed);
    row.health = health.as_ref().map(|h| h.status);
    Ok(Detail {
        health,
        health_history,
        row,
        resource,
        fallbacks,
        fallbacks_problem,
        logs,
        logs_problem,
    })
}

/// The fall-backs of every node, compiled against the latest state (once per serial).
async fn fallbacks(
    source: &Source,
    state: Option<&crate::state::State>,
) -> Result<Arc<HashMap<Address, Arc<[Placement]>>>, String> {
    let serial = state.map_or(0, |s| s.serial);
    if let Some((cached, all)) = source
        .fallbacks
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        && *cached == serial
    {
        return Ok(all.clone());
    }
    let seed = state.and_then(|s| s.seed).unwrap_or(0);
    let graph = source
        .session
        .compile(state, seed, false)
        .await
        .map_err(|e| source.redact_text(&e.to_string()))?;
    let all: HashMap<Address, Arc<[Placement]>> = graph
        .resources()
        .map(|d| (d.address.clone(), d.fallbacks.clone()))
        .collect();
    let all = Arc::new(all);
    *source.fallbacks.lock().unwrap_or_else(|p| p.into_inner()) = Some((serial, all.clone()));
    Ok(all)
}
