//! The `aws` provider's batched EC2 calls against moto, through the real `oss` binary and the
//! counting proxy: a cold plan that reads no instance types (they ship with oss), a fleet
//! launched with one RunInstances per placement, refreshed with one
//! DescribeInstances per region (and no key pair or group listing while the instances use
//! them) and terminated with one TerminateInstances per region, each
//! instance found again by its batch's address tag and its launch index (read here
//! independently, with boto3); and a SIGKILL right after a batched RunInstances, before the
//! state write, which the next apply repairs by adoption without a second instance.
//!
//! Every test starts its own moto on a free loopback port and kills it when done.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::Duration;

use common::fault_proxy::FaultProxy;
use common::moto::Moto;
use common::{Project, wait_until};
use serde_json::{Value, json};

const REGION: &str = "ap-southeast-2";

fn strategy(name: &str, endpoint: &str, count: usize) -> Value {
    json!({
        "name": name,
        "provider": {"options": [{"aws": {
            "endpoint": endpoint,
            "regions": [REGION],
            "access_key_id": "env.OSS_TEST_AWS_KEY",
            "secret_access_key": "env.OSS_TEST_AWS_SECRET"
        }}]},
        "node": {
            "name": "web",
            "count": count,
            "image": {"options": [{"name": "amazon-linux-2023"}]},
            "hardware": {"options": [{"name": "t3.micro"}]},
            "location": {"options": [{"id": "ap-southeast-2a"}]},
            "ports": [22],
            "tags": {"team": "oss-tests"}
        }
    })
}

fn project(name: &str, endpoint: &str, count: usize) -> Project {
    let p = Project::with_strategy(&strategy(name, endpoint, count));
    p.set_env("OSS_TEST_AWS_KEY", "AKIDOSSTEST");
    p.set_env("OSS_TEST_AWS_SECRET", "oss-test-secret");
    p.set_env("HOME", &p.dir.path().display().to_string());
    p
}

/// Live instances by the address they were launched for (tags and launch index, as boto3
/// reports them).
fn by_address(moto: &Moto) -> BTreeMap<String, Vec<String>> {
    let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in moto.instances(REGION) {
        let address = i["address"].as_str().unwrap_or("?").to_string();
        by.entry(address)
            .or_default()
            .push(i["id"].as_str().unwrap().to_string());
    }
    by
}

/// Every node address 0..count is held by exactly one instance (of any lineage: each test has
/// its own moto), the one the state records.
fn assert_one_instance_per_node(moto: &Moto, p: &Project, name: &str, count: usize) {
    let by = by_address(moto);
    let expected: BTreeSet<String> = (0..count).map(|i| format!("node.web[{i}]")).collect();
    let found: BTreeSet<String> = by.keys().cloned().collect();
    assert_eq!(found, expected, "{by:#?}");
    let state = p.state(name);
    for r in state["resources"].as_array().unwrap() {
        let Some(address) = r["address"].as_str().filter(|a| a.starts_with("node.")) else {
            continue;
        };
        assert_eq!(
            by[address],
            [r["provider_id"].as_str().unwrap()],
            "{address}: one instance, the recorded one"
        );
    }
}

#[test]
fn a_hundred_nodes_take_one_launch_one_refresh_read_and_one_termination() {
    const N: usize = 100;
    let moto = Moto::start();
    let proxy = FaultProxy::start(moto.port);
    let p = project("batches", &proxy.url(), N);

    p.ok(&["apply", "--auto-approve", "--parallelism", "100"]);
    let created = proxy.total_calls();
    eprintln!("create: {created} calls: {}", proxy.summary());
    // One RunInstances per placement and tag-sized batch: the first launch may go alone,
    // the other 99 together.
    assert!(proxy.calls("RunInstances") <= 2, "{}", proxy.summary());
    assert!(proxy.calls("DescribeInstances") <= 6, "{}", proxy.summary());
    // The instance types' facts ship with oss: a cold plan asks only where they are offered.
    assert_eq!(
        proxy.calls("DescribeInstanceTypes"),
        0,
        "{}",
        proxy.summary()
    );
    assert_eq!(
        proxy.calls("DescribeInstanceTypeOfferings"),
        1,
        "{}",
        proxy.summary()
    );
    assert!(
        created as f64 / N as f64 <= 1.2,
        "{created} calls for {N} nodes: {}",
        proxy.summary()
    );
    assert_one_instance_per_node(&moto, &p, "batches", N);

    // Refresh reads the region's instances in one call and maps each to its address.
    proxy.reset_counts();
    let (code, out, err) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "nothing to change\n{out}\n{err}");
    assert_eq!(
        proxy.answered("DescribeInstances"),
        1,
        "{}",
        proxy.summary()
    );
    // The instances vouch for the security group they use: it is not listed again.
    for action in ["DescribeSecurityGroups", "DescribeKeyPairs"] {
        assert_eq!(proxy.calls(action), 0, "{action}: {}", proxy.summary());
    }

    // A lost state: refresh finds every instance by its batch tag and adopts it.
    let path = p.path("state/batches.state.json");
    let mut state: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    state["resources"]
        .as_array_mut()
        .unwrap()
        .retain(|r| !r["address"].as_str().unwrap().starts_with("node."));
    std::fs::write(&path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    proxy.reset_counts();
    let out = p.ok(&["apply", "--auto-approve"]);
    assert_eq!(proxy.calls("RunInstances"), 0, "{out}\n{}", proxy.summary());
    assert_one_instance_per_node(&moto, &p, "batches", N);

    proxy.reset_counts();
    p.ok(&["destroy", "--auto-approve", "--parallelism", "100"]);
    let destroyed = proxy.total_calls();
    eprintln!("destroy: {destroyed} calls: {}", proxy.summary());
    assert!(
        proxy.calls("TerminateInstances") <= 2,
        "{}",
        proxy.summary()
    );
    assert!(
        destroyed as f64 / N as f64 <= 0.1,
        "{destroyed} calls to destroy {N} nodes: {}",
        proxy.summary()
    );
    assert!(moto.instances(REGION).is_empty());
}

/// Node entries in the apply journal of `name` (one line per finished step).
fn recorded(p: &Project, name: &str) -> usize {
    std::fs::read_to_string(p.path(&format!("state/{name}.journal")))
        .map(|text| text.lines().filter(|l| l.contains("node.web[")).count())
        .unwrap_or(0)
}

#[test]
fn a_sigkill_after_a_batched_launch_ends_in_adoption_without_duplicates() {
    const N: usize = 12;
    // Aim again (with a fresh moto and project) when the kill came too early or too late.
    let mut landed = None;
    for attempt in 0..4 {
        let moto = Moto::start();
        let proxy = FaultProxy::start(moto.port);
        let name = "killed";
        let p = project(name, &proxy.url(), N);
        let mut child = p
            .oss()
            .args(["apply", "--auto-approve", "--parallelism", "12"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let launched = wait_until(Duration::from_secs(60), || proxy.calls("RunInstances") >= 1);
        // RunInstances answered (moto is quick), and the launch waits before its first poll.
        std::thread::sleep(Duration::from_millis(60));
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        child.wait().unwrap();
        assert!(launched, "the apply never launched");
        let seen = recorded(&p, name);
        let batched = moto
            .instances(REGION)
            .iter()
            .filter(|i| i["tags"]["oss:addresses"].is_string())
            .count();
        eprintln!("attempt {attempt}: {seen} recorded, {batched} batched instances running");
        if seen < N && batched > seen {
            landed = Some((moto, proxy, p, name, seen));
            break;
        }
    }
    let (moto, proxy, p, name, seen) =
        landed.expect("no kill landed between a batched launch and its record");

    let lock: Value =
        serde_json::from_slice(&std::fs::read(p.path(&format!("state/{name}.lock"))).unwrap())
            .unwrap();
    p.ok(&["force-unlock", lock["id"].as_str().unwrap()]);
    proxy.reset_counts();
    let out = p.ok(&["apply", "--auto-approve"]);
    eprintln!("after {seen} recorded: {}", proxy.summary());
    let state = p.state(name);
    let nodes = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["address"].as_str().unwrap().starts_with("node."))
        .count();
    assert_eq!(nodes, N, "{out}");
    // The instances of this project: exactly one per address, the recorded one.
    assert_one_instance_per_node(&moto, &p, name, N);
    p.ok(&["destroy", "--auto-approve"]);
    assert!(moto.instances(REGION).is_empty());
}
