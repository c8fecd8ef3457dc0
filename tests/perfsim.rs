//! oss paces itself against a provider's rate limit: an apply of 2,000 `sim` nodes against
//! `rate_limit: 200` (the bench's case, `bench/sim-apply.sh`) meets the limit, and then is
//! refused at most 5 % as many calls as it makes. A count of refusals, not a time.

mod common;

use common::Project;
use serde_json::json;

#[test]
fn an_apply_against_a_rate_limit_is_refused_at_most_five_percent_of_its_calls() {
    let catalog = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sim/cloud-b.json");
    let nodes = 2000;
    let p = Project::with_strategy(&json!({
        "name": "paced",
        "default_pick": "cheapest",
        "provider": {"options": [{"sim": {
            "name": "cloud-b", "catalog": catalog, "latency_ms": 100, "rate_limit": 200
        }}]},
        "node": {"name": "app", "count": nodes, "image": {"options": [{"os": "ubuntu"}]},
                 "hardware": {"options": [{"min_vcpus": 2}]},
                 "location": {"options": [{"country": "AU"}]}}
    }));
    let (code, out, err) = p.run(&["apply", "--auto-approve", "--parallelism", "100"]);
    assert_eq!(code, 0, "apply failed\nstdout:\n{out}\nstderr:\n{err}");
    assert_eq!(
        p.state("paced")["resources"].as_array().unwrap().len(),
        nodes
    );
    let refused = err
        .lines()
        .filter(|l| l.contains(": attempt ") && l.contains("(its rate_limit)"))
        .count();
    // The precondition: the apply really ran into the limit.
    assert!(refused > 0, "the rate limit was never met:\n{err}");
    assert!(
        refused * 20 <= nodes,
        "{refused} of {nodes} calls refused (more than 5 %)"
    );
}
