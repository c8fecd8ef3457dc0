//! Retries end to end on the simulated provider with injected 429/503/timeouts: refresh is
//! retried like every other call (a fixed fault seed no longer sticks a fleet for good), and
//! a large apply against a flaky API converges in one `oss apply` without duplicates.

mod common;

use common::Project;
use serde_json::{Value, json};

/// One simulated cloud with one offer, `errors` injected at `seed`, no latency.
fn flaky(count: usize, errors: Value, seed: u64) -> Value {
    json!({
        "name": "flaky",
        "provider": {"options": [{"sim": {
            "name": "flaky",
            "catalog": {
                "locations": [{"id": "f-1", "name": "Flaky 1", "region": "f", "zone": "f-1",
                               "country": "AU", "continent": "oceania",
                               "latitude": -33.87, "longitude": 151.21}],
                "sizes": [{"id": "small", "name": "small", "vcpus": 2, "memory_gib": 2.0,
                           "disk_gib": 20, "arch": "x86_64"}],
                "images": [{"id": "debian-12", "name": "Debian 12", "os": "debian",
                            "version": "12", "arch": "any"}],
                "prices": [{"location": "f-1", "size": "small", "hourly_price": 0.02,
                            "currency": "USD"}]
            },
            "latency_ms": 0,
            "errors": errors,
            "seed": seed
        }}]},
        "node": {
            "name": "web",
            "count": count,
            "image": {"options": [{"name": "Debian 12"}]},
            "hardware": {"options": [{"name": "small"}]},
            "location": {"options": [{"id": "f-1"}]},
            "command": "true"
        }
    })
}

/// The instances the simulated cloud really holds, by address.
fn world(p: &Project) -> Vec<String> {
    let file = p.path("state/sim/flaky.json");
    let mut addresses: Vec<String> = oss::driver::sim::instances(&file)
        .unwrap()
        .into_iter()
        .map(|i| i.address.to_string())
        .collect();
    addresses.sort();
    addresses
}

/// These tests are about retry budgets against faults drawn at random, not about pacing: oss's
/// own rate limit (`crate::net::pace`, tested in `tests/perfsim.rs`) would take random throttles
/// for a low limit and slow the fleets down to a crawl, so it is off here.
fn unpaced(p: &Project) {
    p.set_env("OSS_PACE", "off");
}

fn resources(p: &Project) -> usize {
    p.state("flaky")["resources"].as_array().unwrap().len()
}

/// Seed 3 makes the first call of every oss process (refresh) meet an injected error; before
/// refresh was retried, every plan, apply and destroy of this fleet failed on it.
#[test]
fn refresh_retries_injected_errors_so_plan_apply_and_destroy_go_through() {
    let errors = json!({"throttle": 0.25, "unavailable": 0.25, "timeout": 0.2});
    let p = Project::with_strategy(&flaky(3, errors, 3));
    unpaced(&p);
    p.ok(&["apply", "--auto-approve"]);
    assert_eq!(world(&p).len(), 3);

    let (code, out, err) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "plan failed\nstdout:\n{out}\nstderr:\n{err}");
    // The precondition: refresh really met an injected error (and retried it).
    assert!(
        err.contains("Refreshing flaky: attempt 1 failed"),
        "refresh met no injected error with this seed:\n{err}"
    );
    assert!(out.contains("No changes"), "{out}");

    // A node gone behind oss's back: apply must refresh (through the same error) to see it.
    let gone = oss::driver::sim::instances(&p.path("state/sim/flaky.json")).unwrap()[0]
        .id
        .clone();
    assert!(oss::driver::sim::terminate(&p.path("state/sim/flaky.json"), &gone).unwrap());
    let (code, out, err) = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code, 0, "apply failed\nstdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("Refreshing flaky: attempt 1 failed"), "{err}");
    assert_eq!(world(&p).len(), 3, "the gone node is back");

    let (code, out, err) = p.run(&["destroy", "--auto-approve"]);
    assert_eq!(code, 0, "destroy failed\nstdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("Refreshing flaky: attempt 1 failed"), "{err}");
    assert!(world(&p).is_empty(), "{:?}", world(&p));
}

/// Ten fresh fleets of 500 nodes against an API that refuses 20% of calls (429, 503 and
/// time-outs alike), each with its own seed: every one converges in a single apply, with
/// exactly one instance per node at the provider and nothing left to do.
#[test]
fn ten_flaky_fleets_of_500_converge_in_one_apply_without_duplicates() {
    let errors = json!({"throttle": 0.07, "unavailable": 0.07, "timeout": 0.06});
    let expected: Vec<String> = {
        let mut all: Vec<String> = (0..500).map(|i| format!("node.web[{i}]")).collect();
        all.sort();
        all
    };
    let fleets: Vec<Project> = (0..10)
        .map(|seed| {
            let p = Project::with_strategy(&flaky(500, errors.clone(), 100 + seed));
            unpaced(&p);
            p
        })
        .collect();
    // Two fleets at a time: the machine running the tests is not ours alone.
    for pair in fleets.chunks(2) {
        std::thread::scope(|scope| {
            for p in pair {
                scope.spawn(|| {
                    let (code, out, err) =
                        p.run(&["apply", "--auto-approve", "--parallelism", "25"]);
                    assert_eq!(code, 0, "apply failed\nstdout:\n{out}\nstderr:\n{err}");
                    // The precondition: the API really was flaky during this apply.
                    assert!(err.contains("failed ("), "no injected error met:\n{err}");
                });
            }
        });
    }
    for p in &fleets {
        assert_eq!(resources(p), 500);
        assert_eq!(world(p), expected, "one instance per node, no duplicates");
        let (code, out, err) = p.run(&["plan", "--detailed-exitcode"]);
        assert_eq!(code, 0, "changes left\nstdout:\n{out}\nstderr:\n{err}");
    }
}
