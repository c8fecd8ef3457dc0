//! `/metrics`: the fleet in the Prometheus text exposition format (version 0.0.4), from the
//! state as last loaded: nodes by status, provider and location, the fleet's cost per hour,
//! the state's serial and the steps of an apply in progress; and from the dashboard's health
//! view: nodes by verdict, the probe-latency histogram, failed probes and transitions. Pure:
//! rendered from a snapshot and the health counts.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::fleet::{self, Totals};
use super::health::{BUCKETS, Latencies};
use super::watch::Snapshot;
use crate::health::Status;
use crate::resource::Kind;

/// The content type Prometheus expects.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn render(snapshot: &Snapshot, health: &[(Status, usize)], latencies: &Latencies) -> String {
    let rows = fleet::rows(snapshot.state.as_ref());
    let mut nodes: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.kind == Kind::Node) {
        *nodes
            .entry((row.status, row.provider.as_str(), row.location.as_str()))
            .or_default() += 1;
    }
    let totals = Totals::of(&rows);
    let mut out = String::new();
    family(
        &mut out,
        "oss_nodes",
        "gauge",
        "Nodes in the state, by status, provider and location.",
    );
    for ((status, provider, location), count) in &nodes {
        let _ = writeln!(
            out,
            "oss_nodes{{status=\"{}\",provider=\"{}\",location=\"{}\"}} {count}",
            label(status),
            label(provider),
            label(location)
        );
    }
    family(
        &mut out,
        "oss_fleet_cost_per_hour",
        "gauge",
        "What the fleet costs per hour, by currency (resources without a known price left out).",
    );
    let currency = totals.currency.as_deref().unwrap_or("USD");
    let _ = writeln!(
        out,
        "oss_fleet_cost_per_hour{{currency=\"{}\"}} {}",
        label(currency),
        totals.hourly
    );
    family(
        &mut out,
        "oss_resources",
        "gauge",
        "Resources in the state, of every kind.",
    );
    let _ = writeln!(out, "oss_resources {}", totals.resources);
    family(
        &mut out,
        "oss_state_serial",
        "gauge",
        "The serial of the state as last loaded (0: no state yet).",
    );
    let serial = snapshot.state.as_ref().map_or(0, |s| s.serial);
    let _ = writeln!(out, "oss_state_serial {serial}");
    family(
        &mut out,
        "oss_apply_journal_steps",
        "gauge",
        "Finished steps of an apply in progress (or interrupted), from the backend's journal.",
    );
    let _ = writeln!(out, "oss_apply_journal_steps {}", snapshot.journal_steps);
    family(
        &mut out,
        "oss_nodes_health",
        "gauge",
        "Nodes of groups with a health check, by their latest verdict.",
    );
    for (status, count) in health {
        let _ = writeln!(
            out,
            "oss_nodes_health{{health=\"{}\"}} {count}",
            status.as_str()
        );
    }
    family(
        &mut out,
        "oss_health_probe_duration_seconds",
        "histogram",
        "How long each health probe took, up or down (timeouts count as the timeout).",
    );
    for (bound, count) in BUCKETS.iter().zip(latencies.buckets) {
        let _ = writeln!(
            out,
            "oss_health_probe_duration_seconds_bucket{{le=\"{bound}\"}} {count}"
        );
    }
    let _ = writeln!(
        out,
        "oss_health_probe_duration_seconds_bucket{{le=\"+Inf\"}} {}",
        latencies.count
    );
    let _ = writeln!(
        out,
        "oss_health_probe_duration_seconds_sum {}",
        latencies.sum
    );
    let _ = writeln!(
        out,
        "oss_health_probe_duration_seconds_count {}",
        latencies.count
    );
    family(
        &mut out,
        "oss_health_probe_failures_total",
        "counter",
        "Health probes that failed.",
    );
    let _ = writeln!(
        out,
        "oss_health_probe_failures_total {}",
        latencies.failures
    );
    family(
        &mut out,
        "oss_health_transitions_total",
        "counter",
        "Changes of a node's health verdict seen by this server.",
    );
    let _ = writeln!(
        out,
        "oss_health_transitions_total {}",
        latencies.transitions
    );
    family(
        &mut out,
        "oss_state_readable",
        "gauge",
        "1 when the last load of the state succeeded, 0 when it failed.",
    );
    let _ = writeln!(
        out,
        "oss_state_readable {}",
        u8::from(snapshot.error.is_none())
    );
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value escaped as the format wants: backslash, double quote and newline.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::State;
    use crate::state::document::tests::node;

    #[test]
    fn nodes_are_counted_by_status_provider_and_location_and_labels_escaped() {
        let mut state = State::new("t");
        state.serial = 5;
        for i in 0..3 {
            let mut n = node(i);
            n.placement.hourly_price = Some(0.5);
            if i == 2 {
                n.placement.location = "odd\"place\\".into();
            }
            state.resources.insert(n.address.clone(), n);
        }
        state.deposed.push(node(9));
        let latencies = Latencies {
            buckets: [0, 0, 1, 2, 2, 2, 2, 2, 2, 2],
            count: 3,
            sum: 2.5,
            failures: 1,
            transitions: 4,
        };
        let health = [(Status::Up, 2), (Status::Down, 1), (Status::Unknown, 0)];
        let text = render(
            &Snapshot {
                state: Some(state),
                error: None,
                journal_steps: 2,
            },
            &health,
            &latencies,
        );
        for line in [
            "oss_nodes{status=\"running\",provider=\"local\",location=\"local-a\"} 2",
            "oss_nodes{status=\"running\",provider=\"local\",location=\"odd\\\"place\\\\\"} 1",
            "oss_nodes{status=\"deposed\",provider=\"local\",location=\"local-a\"} 1",
            "oss_fleet_cost_per_hour{currency=\"USD\"} 1.5",
            "oss_resources 4",
            "oss_state_serial 5",
            "oss_apply_journal_steps 2",
            "oss_state_readable 1",
            "# TYPE oss_nodes gauge",
            "oss_nodes_health{health=\"down\"} 1",
            "# TYPE oss_health_probe_duration_seconds histogram",
            "oss_health_probe_duration_seconds_bucket{le=\"0.005\"} 1",
            "oss_health_probe_duration_seconds_bucket{le=\"+Inf\"} 3",
            "oss_health_probe_duration_seconds_sum 2.5",
            "oss_health_probe_duration_seconds_count 3",
            "oss_health_probe_failures_total 1",
            "oss_health_transitions_total 4",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
