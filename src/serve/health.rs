//! Health on the dashboard: `oss serve` runs the monitor's loop itself ([`crate::monitor`],
//! never repairing: serving only reads), so pages need no `oss monitor` beside them. This
//! keeps each node's latest verdict for the rows and node pages, counts probe latencies for
//! `/metrics`, records transitions in the same health store as `oss monitor` (observer
//! `serve`), and pushes each transition to the pages as a `health` server-sent event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;

use super::fleet::{Row, Totals};
use super::watch::{Change, Live};
use crate::health::{Outcome, Status};
use crate::monitor::store::Record;
use crate::monitor::{Sink, Target};

/// The upper bounds (seconds) of the probe-latency histogram's buckets.
pub const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// One node's latest verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeHealth {
    pub status: Status,
    /// Why the last probe failed (empty when it succeeded).
    pub detail: String,
    pub latency_ms: f64,
    /// The check, as the group's `health` block says it.
    pub check: crate::health::Check,
}

/// Probe latencies, cumulative, as Prometheus histograms count them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Latencies {
    /// Per bucket of [`BUCKETS`]: probes at most that long.
    pub buckets: [u64; BUCKETS.len()],
    pub count: u64,
    pub sum: f64,
    /// Probes that failed.
    pub failures: u64,
    pub transitions: u64,
}

/// The dashboard's view of the fleet's health.
pub struct Health {
    nodes: RwLock<HashMap<String, NodeHealth>>,
    latencies: Mutex<Latencies>,
    live: Live,
}

impl Health {
    pub fn new(live: Live) -> Arc<Health> {
        Arc::new(Health {
            nodes: RwLock::new(HashMap::new()),
            latencies: Mutex::new(Latencies::default()),
            live,
        })
    }

    /// The latest verdict of `address` (`None`: its group has no health check).
    pub fn of(&self, address: &str) -> Option<NodeHealth> {
        self.nodes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(address)
            .cloned()
    }

    /// Fills in the health of each row.
    pub fn annotate(&self, rows: &mut [Row]) {
        let nodes = self.nodes.read().unwrap_or_else(|p| p.into_inner());
        for row in rows {
            row.health = nodes.get(&row.address).map(|h| h.status);
        }
    }

    /// How many watched nodes have each verdict.
    pub fn counts(&self) -> [(Status, usize); 3] {
        let nodes = self.nodes.read().unwrap_or_else(|p| p.into_inner());
        [Status::Up, Status::Down, Status::Unknown]
            .map(|s| (s, nodes.values().filter(|h| h.status == s).count()))
    }

    pub fn latencies(&self) -> Latencies {
        self.latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Sink for Health {
    fn probed(&self, target: &Target, outcome: &Outcome, status: Status) {
        let seconds = outcome.latency.as_secs_f64();
        {
            let mut l = self.latencies.lock().unwrap_or_else(|p| p.into_inner());
            for (i, bound) in BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    l.buckets[i] += 1;
                }
            }
            l.count += 1;
            l.sum += seconds;
            l.failures += u64::from(!outcome.up);
        }
        let mut nodes = self.nodes.write().unwrap_or_else(|p| p.into_inner());
        nodes.insert(
            target.address.clone(),
            NodeHealth {
                status,
                detail: outcome.detail.clone(),
                latency_ms: seconds * 1000.0,
                check: target.check.clone(),
            },
        );
    }

    fn targets(&self, targets: &[Target]) {
        let mut nodes = self.nodes.write().unwrap_or_else(|p| p.into_inner());
        nodes.retain(|address, _| targets.iter().any(|t| &t.address == address));
        for t in targets {
            nodes
                .entry(t.address.clone())
                .or_insert_with(|| NodeHealth {
                    status: Status::Unknown,
                    detail: String::new(),
                    latency_ms: 0.0,
                    check: t.check.clone(),
                });
        }
    }

    fn transition(&self, record: &Record) {
        self.latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .transitions += 1;
        let snapshot = self.live.latest();
        let Some(state) = snapshot.state.as_ref() else {
            return;
        };
        let key = crate::resource::Address(record.address.clone());
        let Some(resource) = state.resources.get(&key) else {
            return;
        };
        let mut row = Row::of(resource, false);
        row.health = Some(record.to);
        let rows = super::fleet::rows(Some(state));
        self.live.announce(Change {
            kind: "health",
            address: Some(record.address.clone()),
            row: Some(row),
            serial: Some(state.serial),
            journal_steps: snapshot.journal_steps,
            totals: Totals::of(&rows),
            error: None,
        });
    }
}
