//! Watching the fleet's health: every node of every group with a `health` block is probed at
//! its check's interval (all due probes at once, at most `concurrency` in flight), its results
//! judged by [`crate::health::Tracker`], and each up/down transition recorded in the health
//! [`store`] and handed to a [`Sink`]. `oss monitor` prints what the sink gets and repairs
//! ([`repair`]) nodes of groups with `auto_repair`; `oss serve` runs the same loop without
//! repairs to colour its pages.
//!
//! The targets come from the state, loaded again at most every `reload` (and at once after a
//! repair), so nodes added, removed or replaced by any apply are followed; a node whose
//! provider id or endpoint changed starts afresh (unknown). Never prints, never writes state.

pub mod repair;
pub mod store;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::engine::Session;
use crate::health::{Check, Outcome, Status, Tracker};
use crate::state::State;
use crate::strategy::Strategy;
use repair::Repaired;
use store::{Record, Store};

/// One node to probe.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub address: String,
    pub group: String,
    pub provider_id: String,
    pub host: String,
    pub port: u16,
    pub check: Check,
    /// Its group has `auto_repair`.
    pub repair: bool,
}

/// The nodes of every group with a health check, with a known address, in address order.
pub fn targets(strategy: &Strategy, state: Option<&State>) -> Vec<Target> {
    let mut out = Vec::new();
    for group in &strategy.groups {
        let Some(check) = &group.health else { continue };
        for endpoint in crate::discovery::discover(strategy, state, &group.name).endpoints {
            let (Some(host), Some(port)) = (endpoint.host, check.port_on(&endpoint.ports)) else {
                continue;
            };
            let provider_id = state
                .and_then(|s| {
                    s.resources
                        .get(&crate::resource::Address(endpoint.address.clone()))
                })
                .map(|r| r.provider_id.clone())
                .unwrap_or_default();
            out.push(Target {
                address: endpoint.address,
                group: group.name.clone(),
                provider_id,
                host,
                port,
                check: check.clone(),
                repair: group.auto_repair,
            });
        }
    }
    out
}

/// When the loop ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// When stopped.
    Stopped,
    /// Once every node has a verdict (up or down), or has been probed as often as both its
    /// thresholds together (a flapping node stays unknown), and no repair is under way.
    Verdicts,
    /// After this long (or when stopped).
    Elapsed(Duration),
}

/// How to watch.
#[derive(Clone, Debug)]
pub struct Options {
    /// At most this many probes in flight.
    pub concurrency: usize,
    pub until: Until,
    /// Repair nodes of groups with `auto_repair`.
    pub repair: bool,
    /// Who records (`monitor`, `serve`), written in each record.
    pub observer: &'static str,
    /// How often the state is loaded again for new, gone or replaced nodes.
    pub reload: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            concurrency: 256,
            until: Until::Stopped,
            repair: false,
            observer: "monitor",
            reload: Duration::from_secs(2),
        }
    }
}

/// A repair, as reported: started, then how it went.
#[derive(Clone, Debug, Serialize)]
pub struct RepairReport {
    pub at: String,
    pub address: String,
    pub group: String,
    /// `None`: just started.
    #[serde(flatten)]
    pub repaired: Option<Repaired>,
}

/// Where the loop's findings go (the CLI's printer, the dashboard's view).
pub trait Sink: Send + Sync {
    /// Every probe's result (for latency histograms and live status).
    fn probed(&self, target: &Target, outcome: &Outcome, status: Status) {
        let _ = (target, outcome, status);
    }
    /// A change of verdict (already stored).
    fn transition(&self, record: &Record);
    /// A repair started (`repaired: None`) or ended.
    fn repair(&self, report: &RepairReport) {
        let _ = report;
    }
    /// The store could not be written (the loop goes on).
    fn store_failed(&self, error: &store::StoreError) {
        let _ = error;
    }
    /// The targets as last loaded (for views that list every watched node).
    fn targets(&self, targets: &[Target]) {
        let _ = targets;
    }
}

/// What a run did, when it ends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub targets: usize,
    pub probes: u64,
    pub transitions: u64,
    pub up: usize,
    pub down: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("The state cannot be read")]
    State(#[from] crate::state::StateError),
}

struct Watched {
    target: Target,
    tracker: Tracker,
    due: Instant,
    /// A repair is under way.
    repairing: bool,
    /// When a skipped or failed repair is tried again.
    retry_at: Option<Instant>,
    /// Probes of this node so far.
    probes: u32,
}

impl Watched {
    /// `target` as first seen: unknown, due at `now`, no repair under way or waiting.
    fn fresh(target: Target, now: Instant) -> Watched {
        Watched {
            target,
            tracker: Tracker::default(),
            due: now,
            repairing: false,
            retry_at: None,
            probes: 0,
        }
    }
}

/// Watches until `options.until` or `stop`.
pub async fn run(
    session: Arc<Session>,
    options: Options,
    store: Option<Store>,
    sink: Arc<dyn Sink>,
    stop: CancellationToken,
) -> Result<Summary, MonitorError> {
    let started = Instant::now();
    let deadline = match options.until {
        Until::Elapsed(d) => Some(started + d),
        _ => None,
    };
    let mut watched: HashMap<String, Watched> = HashMap::new();
    let mut summary = Summary::default();
    let mut loaded_at: Option<Instant> = None;
    let (repaired_tx, mut repaired_rx) =
        tokio::sync::mpsc::unbounded_channel::<(String, Repaired)>();
    let concurrency = options.concurrency.max(1);
    loop {
        let now = Instant::now();
        if loaded_at.is_none_or(|at| now.duration_since(at) >= options.reload) {
            // The first load must work; a later one that fails keeps the targets it had
            // (the backend may be back at the next reload).
            match session.backend.load().await {
                Ok(loaded) => {
                    let found = targets(&session.strategy, loaded.state.as_ref());
                    reconcile(&mut watched, found, now);
                    let mut listed: Vec<Target> =
                        watched.values().map(|w| w.target.clone()).collect();
                    listed.sort_by(|a, b| a.address.cmp(&b.address));
                    sink.targets(&listed);
                }
                Err(e) if loaded_at.is_none() => return Err(e.into()),
                Err(_) => {}
            }
            loaded_at = Some(now);
        }
        summary.targets = watched.len();
        let due: Vec<(String, Target)> = watched
            .values()
            .filter(|w| w.due <= now)
            .map(|w| (w.target.address.clone(), w.target.clone()))
            .collect();
        let results: Vec<(String, Target, Outcome)> = futures_util::stream::iter(due)
            .map(|(address, target)| async move {
                let outcome = crate::health::probe(&target.host, target.port, &target.check).await;
                (address, target, outcome)
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let after = Instant::now();
        for (address, target, outcome) in results {
            summary.probes += 1;
            let Some(w) = watched.get_mut(&address).filter(|w| w.target == target) else {
                continue; // replaced while it was probed
            };
            w.probes = w.probes.saturating_add(1);
            let change = w.tracker.observe(outcome.up, &w.target.check);
            w.due = (w.due + w.target.check.interval).max(after);
            sink.probed(&w.target, &outcome, w.tracker.status);
            let Some(change) = change else { continue };
            summary.transitions += 1;
            let record = Record {
                at: crate::clock::now_rfc3339(),
                address: address.clone(),
                group: w.target.group.clone(),
                provider_id: w.target.provider_id.clone(),
                from: change.from,
                to: change.to,
                detail: outcome.detail.clone(),
                latency_ms: outcome.latency.as_secs_f64() * 1000.0,
                observer: options.observer.to_string(),
            };
            if let Some(store) = &store
                && let Err(e) = store.append(&record)
            {
                sink.store_failed(&e);
            }
            sink.transition(&record);
            if change.to == Status::Down {
                w.retry_at = None;
            }
        }
        // Repairs: a node down (for its threshold: that is what down means) in a group that
        // asks for them, one at a time per node, in the background so probing goes on.
        if options.repair {
            for w in watched.values_mut() {
                let wanted = w.target.repair
                    && w.tracker.status == Status::Down
                    && !w.repairing
                    && w.retry_at.is_none_or(|at| at <= after);
                if !wanted {
                    continue;
                }
                w.repairing = true;
                sink.repair(&RepairReport {
                    at: crate::clock::now_rfc3339(),
                    address: w.target.address.clone(),
                    group: w.target.group.clone(),
                    repaired: None,
                });
                let session = session.clone();
                let address = w.target.address.clone();
                let tx = repaired_tx.clone();
                tokio::spawn(async move {
                    let repaired = repair::replace(&session, &address).await;
                    let _ = tx.send((address, repaired));
                });
            }
        }
        let repairing = watched.values().any(|w| w.repairing);
        if options.until == Until::Verdicts && !repairing {
            let decided = watched
                .values()
                .all(|w| w.tracker.status != Status::Unknown);
            // A node that flaps never reaches a verdict: after as many probes as both
            // thresholds together, it is left unknown.
            let enough = watched.values().all(|w| {
                let c = &w.target.check;
                w.probes >= c.healthy_threshold + c.unhealthy_threshold
            });
            if decided || enough {
                break;
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) || stop.is_cancelled() {
            break;
        }
        // Sleep until the next probe is due, the next reload, a repair ends, or the end.
        let next_probe = watched.values().map(|w| w.due).min();
        let next_reload = loaded_at.map(|at| at + options.reload);
        let mut wake = [next_probe, next_reload, deadline]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| Instant::now() + options.reload);
        wake = wake.max(Instant::now());
        tokio::select! {
            () = tokio::time::sleep_until(wake.into()) => {}
            () = stop.cancelled() => break,
            Some((address, repaired)) = repaired_rx.recv() => {
                finish_repair(&mut watched, &address, &repaired, &sink);
                // The replaced node is in the state now: follow it at once.
                loaded_at = None;
            }
        }
        while let Ok((address, repaired)) = repaired_rx.try_recv() {
            finish_repair(&mut watched, &address, &repaired, &sink);
            loaded_at = None;
        }
    }
    summary.up = watched
        .values()
        .filter(|w| w.tracker.status == Status::Up)
        .count();
    summary.down = watched
        .values()
        .filter(|w| w.tracker.status == Status::Down)
        .count();
    Ok(summary)
}

fn finish_repair(
    watched: &mut HashMap<String, Watched>,
    address: &str,
    repaired: &Repaired,
    sink: &Arc<dyn Sink>,
) {
    let Some(w) = watched.get_mut(address) else {
        return;
    };
    w.repairing = false;
    match repaired {
        // The replacement starts afresh, whether or not its provider id and endpoint changed
        // (the local provider keeps both): it is repaired again only once it has been seen
        // down for its own threshold, never for the verdict on the node it replaced.
        Repaired::Replaced { .. } => *w = Watched::fresh(w.target.clone(), Instant::now()),
        // A skipped or failed repair is tried again at the node's next probe after this one.
        Repaired::Skipped { .. } | Repaired::Failed { .. } => {
            w.retry_at = Some(Instant::now() + w.target.check.interval);
        }
    }
    sink.repair(&RepairReport {
        at: crate::clock::now_rfc3339(),
        address: address.to_string(),
        group: w.target.group.clone(),
        repaired: Some(repaired.clone()),
    });
}

/// Follows the targets as loaded: new ones are due now, gone ones dropped, and one whose
/// provider id, endpoint or check changed starts again unknown.
fn reconcile(watched: &mut HashMap<String, Watched>, found: Vec<Target>, now: Instant) {
    let mut next = HashMap::with_capacity(found.len());
    for target in found {
        let w = match watched.remove(&target.address) {
            Some(w) if w.target == target => w,
            old => Watched {
                repairing: old.is_some_and(|w| w.repairing),
                ..Watched::fresh(target.clone(), now)
            },
        };
        next.insert(target.address.clone(), w);
    }
    // A node gone from the state while its repair runs is kept until the repair ends.
    for (address, w) in watched.drain() {
        if w.repairing {
            next.entry(address).or_insert(w);
        }
    }
    *watched = next;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(address: &str, provider_id: &str) -> Target {
        Target {
            address: address.into(),
            group: "web".into(),
            provider_id: provider_id.into(),
            host: "127.0.0.1".into(),
            port: 8080,
            check: serde_json::from_str::<crate::health::RawCheck>("{}")
                .unwrap()
                .check()
                .unwrap(),
            repair: true,
        }
    }

    /// A sink that keeps nothing.
    struct Nowhere;

    impl Sink for Nowhere {
        fn transition(&self, _: &Record) {}
    }

    #[test]
    fn a_replaced_node_starts_afresh_and_a_skipped_repair_waits_a_probe() {
        let now = Instant::now();
        let mut watched = HashMap::new();
        reconcile(&mut watched, vec![target("a", "1"), target("b", "1")], now);
        for w in watched.values_mut() {
            let check = w.target.check.clone();
            for _ in 0..check.unhealthy_threshold {
                w.tracker.observe(false, &check);
            }
            assert_eq!(w.tracker.status, Status::Down);
            w.repairing = true;
        }
        let sink: Arc<dyn Sink> = Arc::new(Nowhere);
        let replaced = Repaired::Replaced {
            steps: 1,
            seconds: 0.1,
        };
        finish_repair(&mut watched, "a", &replaced, &sink);
        // Same provider id and endpoint (as the local provider keeps them): the reload that
        // follows keeps the fresh verdict, so no second repair starts before new failures.
        reconcile(&mut watched, vec![target("a", "1"), target("b", "1")], now);
        let a = &watched["a"];
        assert_eq!(
            (a.tracker.status, a.probes, a.repairing),
            (Status::Unknown, 0, false)
        );
        assert_eq!(a.retry_at, None);
        let skipped = Repaired::Skipped {
            reason: "held".into(),
        };
        finish_repair(&mut watched, "b", &skipped, &sink);
        let b = &watched["b"];
        assert_eq!((b.tracker.status, b.repairing), (Status::Down, false));
        assert!(b.retry_at.is_some_and(|at| at > now));
    }

    #[test]
    fn reconcile_keeps_verdicts_restarts_replaced_nodes_and_holds_repairs() {
        let now = Instant::now();
        let mut watched = HashMap::new();
        reconcile(
            &mut watched,
            vec![target("a", "1"), target("b", "1"), target("c", "1")],
            now,
        );
        for w in watched.values_mut() {
            let check = w.target.check.clone();
            w.tracker.observe(true, &check);
            w.tracker.observe(true, &check);
            assert_eq!(w.tracker.status, Status::Up);
        }
        watched.get_mut("c").unwrap().repairing = true;
        // a as it was, b replaced (new provider id), c gone from the state while repaired.
        reconcile(&mut watched, vec![target("a", "1"), target("b", "2")], now);
        assert_eq!(watched["a"].tracker.status, Status::Up);
        assert_eq!(watched["b"].tracker.status, Status::Unknown);
        assert_eq!(watched["b"].target.provider_id, "2");
        assert!(watched["c"].repairing);
        watched.get_mut("c").unwrap().repairing = false;
        reconcile(&mut watched, vec![target("a", "1")], now);
        assert_eq!(watched.keys().collect::<Vec<_>>(), ["a"]);
    }
}
