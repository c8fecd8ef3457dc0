//! Refresh is batched: 1,000 instances created through the `aws` driver (a real `oss apply`
//! against moto) are refreshed with at most two DescribeInstances calls (one page of up to
//! 1,000, and perhaps an empty last page), where a driver asking per node would make 1,000.
//! The counts come from the proxy in front of moto; BENCHMARKS.md records them.

mod common;

use std::time::Instant;

use common::Project;
use common::fault_proxy::FaultProxy;
use common::moto::Moto;
use serde_json::json;

const NODES: usize = 1000;

#[test]
fn refreshing_a_thousand_instances_costs_at_most_two_describe_calls() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(moto.port);
    let strategy = json!({
        "name": "scale",
        "provider": {"options": [{"aws": {
            "endpoint": proxy.url(),
            "regions": ["ap-southeast-2"],
            "access_key_id": "env.OSS_TEST_AWS_KEY",
            "secret_access_key": "env.OSS_TEST_AWS_SECRET"
        }}]},
        "node": {
            "name": "web",
            "count": NODES,
            "image": {"options": [{"name": "amazon-linux-2023"}]},
            "hardware": {"options": [{"name": "t3.nano"}]},
            "location": {"options": [{"id": "ap-southeast-2a"}]},
            "ports": [443]
        }
    });
    let p = Project::with_strategy(&strategy);
    let oss = |args: &[&str]| {
        let out = p
            .oss()
            .args(args)
            .env("OSS_TEST_AWS_KEY", "AKIDSCALE")
            .env("OSS_TEST_AWS_SECRET", "scale-secret")
            .env("HOME", p.dir.path())
            .output()
            .unwrap();
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "oss {args:?} failed:\n{text}");
        text
    };

    let started = Instant::now();
    oss(&["apply", "--auto-approve", "--parallelism", "16"]);
    let applied = started.elapsed();
    // Launches share RunInstances (at most 16 steps in flight, so batches of up to 16).
    let launched = proxy.calls("RunInstances");
    assert!(
        launched <= NODES / 4,
        "{launched} RunInstances: {}",
        proxy.summary()
    );
    let apply_calls = proxy.summary();

    proxy.reset_counts();
    let started = Instant::now();
    let out = oss(&["plan", "--detailed-exitcode"]);
    let refreshed = started.elapsed();
    assert!(
        out.contains(&format!("Refreshed aws: {} present, 0 gone", NODES + 1)),
        "{out}"
    );
    let describes = proxy.calls("DescribeInstances");
    eprintln!(
        "refresh of {NODES} instances: {describes} DescribeInstances call(s) (a per-node driver: \
         {NODES}); all calls of the plan: {}; plan {:.1}s; apply {:.1}s with calls {apply_calls}",
        proxy.summary(),
        refreshed.as_secs_f64(),
        applied.as_secs_f64()
    );
    assert!(
        (1..=2).contains(&describes),
        "refresh made {describes} DescribeInstances calls: {}",
        proxy.summary()
    );

    oss(&["destroy", "--auto-approve", "--parallelism", "16"]);
}
