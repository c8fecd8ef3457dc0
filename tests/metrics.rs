//! `/metrics`' apply families: apply durations by command, step outcomes, and per provider
//! API calls, errors by class and throttles, summed from the applies store the real binary
//! writes. Scraped by a real Prometheus (Debian's) on loopback, and read directly for the
//! exact text.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::Project;
use common::prometheus::Prometheus;
use common::serve::Served;
use serde_json::Value;

/// The one sample's value of `promql`, waiting (at most 60 s) until it is `want`.
fn wait_value(prometheus: &Prometheus, promql: &str, want: &str) {
    let started = Instant::now();
    loop {
        let found = prometheus.wait_for(promql);
        if found[0]["value"][1] == want {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{promql} is {found:?}, expected {want}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn value(prometheus: &Prometheus, promql: &str) -> f64 {
    let found = prometheus.wait_for(promql);
    found[0]["value"][1].as_str().unwrap().parse().unwrap()
}

#[test]
fn prometheus_scrapes_apply_durations_step_outcomes_and_provider_calls() {
    let mut strategy = common::sim_example("cheapest-across-providers.json");
    strategy["node"]["count"] = 6.into();
    for option in strategy["provider"]["options"].as_array_mut().unwrap() {
        // Six creates at once against two calls per second: some are throttled.
        option["sim"]["rate_limit"] = 2.into();
    }
    let p = Project::with_strategy(&strategy);
    let started = Instant::now();
    let (code, out, err) = p.run(&["apply", "--auto-approve", "--parallelism", "6"]);
    let wall = started.elapsed().as_secs_f64();
    assert_eq!(code, 0, "{out}\n{err}");
    // Every throttled call is retried, and each retry is a line of the apply's output.
    let throttled = format!("{out}\n{err}")
        .lines()
        .filter(|l| l.contains("(its rate_limit)"))
        .count();
    assert!(
        throttled > 0,
        "the rate limit throttled nothing:\n{out}\n{err}"
    );
    let state = p.state("cheapest");
    let resources = state["resources"].as_array().unwrap();
    let mut per_provider: BTreeMap<String, usize> = BTreeMap::new();
    for resource in resources {
        let provider = resource["placement"]["provider"].as_str().unwrap();
        *per_provider.entry(provider.to_string()).or_default() += 1;
    }

    let served = Served::start(&p, &[]);
    let prometheus = Prometheus::start(&served.addr);
    let created = r#"oss_apply_steps_total{outcome="created"}"#;
    wait_value(&prometheus, created, &resources.len().to_string());
    for outcome in ["failed", "skipped", "deleted"] {
        let query = format!("oss_apply_steps_total{{outcome=\"{outcome}\"}}");
        wait_value(&prometheus, &query, "0");
    }
    wait_value(
        &prometheus,
        r#"oss_apply_duration_seconds_count{command="apply"}"#,
        "1",
    );
    wait_value(
        &prometheus,
        r#"oss_apply_duration_seconds_bucket{command="apply",le="+Inf"}"#,
        "1",
    );
    let seconds = value(
        &prometheus,
        r#"oss_apply_duration_seconds_sum{command="apply"}"#,
    );
    assert!(seconds > 0.0 && seconds < wall, "{seconds} s of {wall} s");
    let throttles = value(&prometheus, "sum(oss_provider_api_throttles_total)");
    assert_eq!(throttles as usize, throttled);
    // Throttles are the only failures here (no injected errors, nothing refused).
    let retries = value(
        &prometheus,
        r#"sum(oss_provider_api_errors_total{class="retry"})"#,
    );
    assert_eq!(retries as usize, throttled);
    let others = value(
        &prometheus,
        r#"sum(oss_provider_api_errors_total{class!="retry"})"#,
    );
    assert_eq!(others, 0.0);
    // Each create is at least one call, and each throttled call is one more.
    let calls = value(&prometheus, "sum(oss_provider_api_calls_total)");
    assert!(
        calls as usize >= resources.len() + throttled,
        "{calls} calls for {} creates and {throttled} throttles",
        resources.len()
    );
    for (provider, count) in &per_provider {
        let query = format!("oss_provider_api_calls_total{{provider=\"{provider}\"}}");
        let calls = value(&prometheus, &query);
        assert!(calls as usize >= *count, "{provider}: {calls} calls");
    }

    // A destroy is counted under its own command, and its deletes add up.
    p.ok(&["destroy", "--auto-approve"]);
    wait_value(
        &prometheus,
        r#"oss_apply_duration_seconds_count{command="destroy"}"#,
        "1",
    );
    wait_value(
        &prometheus,
        r#"oss_apply_steps_total{outcome="deleted"}"#,
        &resources.len().to_string(),
    );
    wait_value(&prometheus, created, &resources.len().to_string());
}

#[test]
fn a_failed_step_and_its_refusals_are_counted() {
    // One provider whose only location in Australia has no capacity: both creates are
    // refused there and have no other candidate.
    let mut strategy = common::sim_example("first-with-failover.json");
    strategy["provider"]["options"]
        .as_array_mut()
        .unwrap()
        .truncate(1);
    strategy["node"]["count"] = 2.into();
    let p = Project::with_strategy(&strategy);
    let (code, out, err) = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code, 1, "the apply must fail:\n{out}\n{err}");
    assert!(
        !p.path("state/failover.state.json").exists()
            || p.state("failover")["resources"]
                .as_array()
                .is_none_or(Vec::is_empty),
        "nothing was created"
    );
    let served = Served::start(&p, &[]);
    let (status, _, text) = served.get_with("/metrics", &[]);
    assert_eq!(status, 200);
    let sample = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
    };
    assert_eq!(sample(r#"oss_apply_steps_total{outcome="failed"}"#), 2.0);
    assert_eq!(sample(r#"oss_apply_steps_total{outcome="created"}"#), 0.0);
    assert_eq!(
        sample(r#"oss_apply_duration_seconds_count{command="apply"}"#),
        1.0
    );
    assert_eq!(
        sample(r#"oss_provider_api_throttles_total{provider="cloud-a"}"#),
        0.0
    );
    // Each create that reached the cloud was refused for capacity: a fail-over error apiece.
    // A create that starts after the first refusal finds the location blocked and makes no
    // call, so the count is what the apply's summary lists as fail-overs, one or two.
    let failed_over = out
        .lines()
        .filter(|l| l.starts_with("  fail-over "))
        .count();
    assert!((1..=2).contains(&failed_over), "{out}");
    let refused = sample(r#"oss_provider_api_errors_total{provider="cloud-a",class="fail_over"}"#);
    assert_eq!(refused, failed_over as f64, "{out}\n{text}");
    assert!(
        sample(r#"oss_provider_api_calls_total{provider="cloud-a"}"#) >= refused,
        "both refused creates are calls:\n{text}"
    );
    // The record is beside the state, never in it.
    let record: Value = serde_json::from_str(
        std::fs::read_to_string(p.path("state/applies.jsonl"))
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(record["command"], "apply");
    assert_eq!(record["steps"]["failed"], 2);
}
