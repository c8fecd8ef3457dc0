//! `/metrics`: the fleet in the Prometheus text exposition format (version 0.0.4), from the
//! state as last loaded: nodes by status, provider and location, the fleet's cost per hour,
//! the state's serial and the steps of an apply in progress; and from the dashboard's health
//! view: nodes by verdict, the probe-latency histogram, failed probes and transitions; and from
//! the applies store (`engine::applies`): apply durations by command, step outcomes, and per
//! provider API calls, errors by class and throttles. Pure: rendered from a snapshot, the
//! health counts and the applies' totals.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::fleet::{self, Totals};
use super::health::{BUCKETS, Latencies};
use super::watch::Snapshot;
use crate::engine::applies::{self, Command};
use crate::health::Status;
use crate::resource::Kind;

/// The content type Prometheus expects.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn render(
    snapshot: &Snapshot,
    health: &[(Status, usize)],
    latencies: &Latencies,
    applies: &applies::Totals,
) -> String {
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
    // One series per currency (never one sum of several); US dollars at zero when nothing
    // is priced.
    let unpriced = [(crate::catalog::DOLLARS, 0.0)];
    let costs: Vec<(&str, f64)> = match totals.costs.as_slice() {
        [] => unpriced.to_vec(),
        costs => costs
            .iter()
            .map(|c| (c.currency.as_str(), c.hourly))
            .collect(),
    };
    for (currency, hourly) in costs {
        let _ = writeln!(
            out,
            "oss_fleet_cost_per_hour{{currency=\"{}\"}} {hourly}",
            label(currency)
        );
    }
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
    render_applies(&mut out, applies);
    out
}

/// The families summed from the applies store. Every command and outcome has its series
/// (zero until it happens); providers appear once they made a call.
fn render_applies(out: &mut String, totals: &applies::Totals) {
    family(
        out,
        "oss_apply_duration_seconds",
        "histogram",
        "How long carrying out a plan took, by command (apply, destroy, repair).",
    );
    for command in Command::ALL {
        let durations = totals.durations.get(&command).cloned().unwrap_or_default();
        let name = command.as_str();
        for (bound, count) in applies::BUCKETS.iter().zip(durations.buckets) {
            let _ = writeln!(
                out,
                "oss_apply_duration_seconds_bucket{{command=\"{name}\",le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "oss_apply_duration_seconds_bucket{{command=\"{name}\",le=\"+Inf\"}} {}",
            durations.count
        );
        let _ = writeln!(
            out,
            "oss_apply_duration_seconds_sum{{command=\"{name}\"}} {}",
            durations.sum
        );
        let _ = writeln!(
            out,
            "oss_apply_duration_seconds_count{{command=\"{name}\"}} {}",
            durations.count
        );
    }
    family(
        out,
        "oss_apply_steps_total",
        "counter",
        "Steps of applies, by how they ended.",
    );
    for (outcome, count) in totals.steps.outcomes() {
        let _ = writeln!(
            out,
            "oss_apply_steps_total{{outcome=\"{outcome}\"}} {count}"
        );
    }
    family(
        out,
        "oss_provider_api_calls_total",
        "counter",
        "API calls applies made to each provider (refresh included, retries each counted).",
    );
    for (provider, calls) in &totals.providers {
        let _ = writeln!(
            out,
            "oss_provider_api_calls_total{{provider=\"{}\"}} {}",
            label(provider),
            calls.calls
        );
    }
    family(
        out,
        "oss_provider_api_errors_total",
        "counter",
        "API calls that failed, by provider and class (retry, fail_over, fatal).",
    );
    for (provider, calls) in &totals.providers {
        for (class, count) in calls.errors() {
            let _ = writeln!(
                out,
                "oss_provider_api_errors_total{{provider=\"{}\",class=\"{class}\"}} {count}",
                label(provider)
            );
        }
    }
    family(
        out,
        "oss_provider_api_throttles_total",
        "counter",
        "API calls a provider refused for its rate limit (also counted as retry errors).",
    );
    for (provider, calls) in &totals.providers {
        let _ = writeln!(
            out,
            "oss_provider_api_throttles_total{{provider=\"{}\"}} {}",
            label(provider),
            calls.throttles
        );
    }
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
            if i == 1 {
                n.placement.currency = Some("EUR".into());
            }
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
            &applies::Totals::default(),
        );
        for line in [
            "oss_nodes{status=\"running\",provider=\"local\",location=\"local-a\"} 2",
            "oss_nodes{status=\"running\",provider=\"local\",location=\"odd\\\"place\\\\\"} 1",
            "oss_nodes{status=\"deposed\",provider=\"local\",location=\"local-a\"} 1",
            "oss_fleet_cost_per_hour{currency=\"USD\"} 1",
            "oss_fleet_cost_per_hour{currency=\"EUR\"} 0.5",
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

    #[test]
    fn applies_are_rendered_as_cumulative_histograms_and_counters() {
        let record = |command, seconds, created, failed| applies::Record {
            at: "2026-12-03T08:00:00Z".into(),
            command,
            seconds,
            steps: applies::Steps {
                created,
                failed,
                ..applies::Steps::default()
            },
            providers: [(
                "sim \"b\"".to_string(),
                crate::net::calls::CallCounts {
                    calls: 7,
                    throttles: 2,
                    retry_errors: 2,
                    fail_over_errors: 0,
                    fatal_errors: 1,
                },
            )]
            .into(),
        };
        let totals = applies::Totals::of(&[
            record(Command::Apply, 3.0, 2, 0),
            record(Command::Apply, 90.0, 0, 1),
        ]);
        let text = render(
            &Snapshot {
                state: None,
                error: None,
                journal_steps: 0,
            },
            &[],
            &Latencies::default(),
            &totals,
        );
        for line in [
            "# TYPE oss_apply_duration_seconds histogram",
            "oss_apply_duration_seconds_bucket{command=\"apply\",le=\"1\"} 0",
            "oss_apply_duration_seconds_bucket{command=\"apply\",le=\"5\"} 1",
            "oss_apply_duration_seconds_bucket{command=\"apply\",le=\"120\"} 2",
            "oss_apply_duration_seconds_bucket{command=\"apply\",le=\"+Inf\"} 2",
            "oss_apply_duration_seconds_sum{command=\"apply\"} 93",
            "oss_apply_duration_seconds_count{command=\"apply\"} 2",
            "oss_apply_duration_seconds_count{command=\"destroy\"} 0",
            "# TYPE oss_apply_steps_total counter",
            "oss_apply_steps_total{outcome=\"created\"} 2",
            "oss_apply_steps_total{outcome=\"failed\"} 1",
            "oss_apply_steps_total{outcome=\"skipped\"} 0",
            "oss_provider_api_calls_total{provider=\"sim \\\"b\\\"\"} 14",
            "oss_provider_api_errors_total{provider=\"sim \\\"b\\\"\",class=\"retry\"} 4",
            "oss_provider_api_errors_total{provider=\"sim \\\"b\\\"\",class=\"fatal\"} 2",
            "oss_provider_api_throttles_total{provider=\"sim \\\"b\\\"\"} 4",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        // Every family has its HELP and TYPE once, and every sample belongs to one.
        for name in [
            "oss_apply_duration_seconds",
            "oss_apply_steps_total",
            "oss_provider_api_calls_total",
            "oss_provider_api_errors_total",
            "oss_provider_api_throttles_total",
        ] {
            assert_eq!(
                text.matches(&format!("# TYPE {name} ")).count(),
                1,
                "{name}"
            );
            assert_eq!(
                text.matches(&format!("# HELP {name} ")).count(),
                1,
                "{name}"
            );
        }
    }
}
