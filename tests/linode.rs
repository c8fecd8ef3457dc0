//! The `linode` provider end to end through the real `oss` binary, against the REST fake
//! (tests/common/rest_fake) that checks every request and answer against Linode's published
//! OpenAPI description: a five-node fleet whose instances, key and firewall the fake's world
//! agrees with, a plan without changes, an instance deleted behind oss's back replaced,
//! destroy leaving nothing, adoption after kill -9 mid-apply, fail-over on Linode's capacity
//! refusal with the reason shown, a wrong token failing fast and never printed, and
//! convergence through 429s with Retry-After, 5xx and a timed-out call.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::Project;
use common::rest_fake::linode::{Linode, SOLD_OUT, SPEC};
use common::rest_fake::{Fake, Fault};
use serde_json::{Value, json};

const TOKEN: &str = "oss_linode_test_token_0123456789abcdef0123456789abcdef";
const PUBLIC_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHWnHZMLkm8VIHYXdljxkVSNn7dqN3Qv3CX3ShDNa0Ef oss-test";

type LiFake = Fake<Linode>;

fn fake() -> LiFake {
    Fake::start(Linode::new(), SPEC, TOKEN)
}

fn strategy(name: &str, endpoint: &str, count: usize, locations: Value) -> Value {
    json!({
        "name": name,
        "provider": {"options": [{"linode": {
            "endpoint": endpoint,
            "token": "env.OSS_TEST_LINODE_TOKEN",
            "request_timeout": 2
        }}]},
        "node": {
            "name": "web",
            "count": count,
            "image": {"options": [{"name": "linode/ubuntu24.04"}]},
            "hardware": {"options": [{"name": "g6-nanode-1"}]},
            "location": locations,
            "ports": [22, 443],
            "command": "echo hello",
            "ssh_public_key": "id.pub"
        }
    })
}

fn project(strategy: &Value, token: &str) -> Project {
    let p = Project::with_strategy(strategy);
    std::fs::write(p.path("id.pub"), format!("{PUBLIC_KEY}\n")).unwrap();
    p.set_env("OSS_TEST_LINODE_TOKEN", token);
    p
}

fn us_east() -> Value {
    json!({"options": [{"id": "us-east"}]})
}

fn resources<'a>(state: &'a Value, prefix: &str) -> Vec<&'a Value> {
    state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["address"].as_str().unwrap().starts_with(prefix))
        .collect()
}

/// The fake's instances by the address their tags name.
fn instances_by_address(fake: &LiFake) -> BTreeMap<String, Vec<u64>> {
    let mut by: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for i in fake.world().instances.values() {
        let address = i
            .tags
            .iter()
            .find_map(|t| t.strip_prefix("oss:node:"))
            .map(|rest| {
                let (group, index) = rest.rsplit_once(':').unwrap();
                format!("node.{group}[{index}]")
            })
            .unwrap_or_else(|| "?".into());
        by.entry(address).or_default().push(i.id);
    }
    by
}

/// The world holds exactly the state's nodes, by id, each address once.
fn assert_world_matches_state(fake: &LiFake, state: &Value, count: usize) {
    let by = instances_by_address(fake);
    assert_eq!(by.len(), count, "{by:?}");
    for node in resources(state, "node.") {
        let address = node["address"].as_str().unwrap();
        let id: u64 = node["provider_id"].as_str().unwrap().parse().unwrap();
        assert_eq!(by.get(address), Some(&vec![id]), "{address}: {by:?}");
    }
}

#[test]
fn five_instances_round_trip_with_key_and_firewall_no_op_replace_and_destroy() {
    let fake = fake();
    let p = project(&strategy("fleet", &fake.url(), 5, us_east()), TOKEN);
    p.ok(&["apply", "--auto-approve"]);
    let state = p.state("fleet");
    let lineage = state["lineage"].as_str().unwrap().to_string();
    assert_world_matches_state(&fake, &state, 5);
    {
        let world = fake.world();
        assert_eq!(world.keys.len(), 1, "one key registered");
        assert_eq!(world.firewalls.len(), 1);
        let (firewall_id, firewall) = world.firewalls.iter().next().unwrap();
        assert_eq!(firewall["rules"]["inbound_policy"], "DROP");
        let ports: Vec<&str> = firewall["rules"]["inbound"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["ports"].as_str().unwrap())
            .collect();
        assert_eq!(ports, ["22", "443"]);
        for i in world.instances.values() {
            assert!(
                i.tags.contains(&format!("oss:lineage:{lineage}")),
                "{:?}",
                i.tags
            );
            assert_eq!(i.firewall_id, Some(*firewall_id), "firewall on {}", i.id);
            assert_eq!(i.authorized_keys, [PUBLIC_KEY]);
            assert!(i.root_pass_given);
            assert_eq!(
                (i.region.as_str(), i.kind.as_str()),
                ("us-east", "g6-nanode-1")
            );
            assert_eq!(i.user_data.as_deref(), Some("#!/bin/sh\necho hello\n"));
        }
    }
    // Prices come from the API.
    let node = resources(&state, "node.web[0]")[0];
    assert_eq!(node["placement"]["hourly_price"], 0.0075);
    assert!(
        node["observed"]["public_ip"]
            .as_str()
            .unwrap()
            .starts_with("203.0.113.")
    );
    assert!(
        !serde_json::to_string(&state).unwrap().contains("root_pass"),
        "no root password in state"
    );

    // No changes, and refresh lists instances once (one page), never one call per instance.
    fake.reset_calls();
    let (code, out, err) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "no changes\n{out}\n{err}");
    assert_eq!(fake.count("get-linode-instances"), 1, "{:?}", fake.calls());
    assert_eq!(fake.count("get-linode-instance"), 0, "{:?}", fake.calls());

    // An instance deleted behind oss's back is created again.
    let gone: u64 = resources(&state, "node.web[2]")[0]["provider_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(fake.world().remove_instance(gone));
    let changes = common::plan_changes(&p, &[]);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].0, "node.web[2]");
    p.ok(&["apply", "--auto-approve"]);
    let state = p.state("fleet");
    assert_world_matches_state(&fake, &state, 5);
    assert_ne!(
        resources(&state, "node.web[2]")[0]["provider_id"],
        gone.to_string()
    );

    p.ok(&["destroy", "--auto-approve"]);
    let world = fake.world();
    assert!(world.instances.is_empty(), "instances left");
    assert!(world.keys.is_empty(), "keys left");
    assert!(world.firewalls.is_empty(), "firewalls left");
    drop(world);
    fake.assert_conforming();
}

#[test]
fn kill_9_during_apply_then_apply_again_adopts_without_duplicates() {
    let fake = fake();
    // Instances stay `provisioning` for a while, so the apply is caught waiting.
    fake.world().boot = Duration::from_secs(30);
    let p = project(&strategy("crash", &fake.url(), 5, us_east()), TOKEN);
    let mut child = p
        .oss()
        .args(["apply", "--auto-approve", "--parallelism", "5"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let created = common::wait_until(Duration::from_secs(60), || {
        fake.world().instances.len() >= 3
    });
    assert!(created, "the apply created no instances");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the apply ended before the kill"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let before = instances_by_address(&fake);
    let state = p.state("crash");
    let known = resources(&state, "node.").len();
    assert!(
        known < before.len(),
        "state knew every instance already: {known}"
    );

    let lock: Value =
        serde_json::from_slice(&std::fs::read(p.path("state/crash.lock")).unwrap()).unwrap();
    p.ok(&["force-unlock", lock["id"].as_str().unwrap()]);
    fake.world().boot = Duration::from_millis(100);
    p.ok(&["apply", "--auto-approve"]);
    let state = p.state("crash");
    assert_world_matches_state(&fake, &state, 5);
    let after = instances_by_address(&fake);
    for (address, ids) in &before {
        assert_eq!(after.get(address), Some(ids), "{address} was not adopted");
    }
    assert_eq!(fake.world().keys.len(), 1);
    assert_eq!(fake.world().firewalls.len(), 1);
    p.ok(&["destroy", "--auto-approve"]);
    assert!(fake.world().instances.is_empty());
    fake.assert_conforming();
}

#[test]
fn a_capacity_refusal_fails_over_to_the_next_region_and_says_why() {
    let fake = fake();
    fake.world().refuse("us-east", Some("g6-nanode-1"));
    let locations = json!({"options": [{"id": "us-east"}, {"id": "eu-central"}], "pick": "first"});
    let p = project(&strategy("capacity", &fake.url(), 2, locations), TOKEN);
    let (code, out, err) = p.run(&["apply", "--auto-approve", "--parallelism", "1"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let all = format!("{out}\n{err}");
    assert!(
        all.contains("not currently available in the selected region"),
        "the output says why\n{all}"
    );
    assert!(out.contains("fail-over node.web[0]"), "{out}");
    let state = p.state("capacity");
    for node in resources(&state, "node.") {
        assert_eq!(node["placement"]["location"], "eu-central", "{node:#}");
    }
    assert!(
        fake.world()
            .instances
            .values()
            .all(|i| i.region == "eu-central")
    );
    assert!(SOLD_OUT.starts_with("The Linode plan"));
    let (code, out, _) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");
    p.ok(&["destroy", "--auto-approve"]);
    assert!(fake.world().instances.is_empty());
    assert!(fake.world().firewalls.is_empty());
    fake.assert_conforming();
}

#[test]
fn a_wrong_token_fails_fast_and_no_token_is_ever_printed_or_stored() {
    let fake = fake();
    let wrong = "oss_linode_wrong_token_fedcba9876543210fedcba9876543210";
    let p = project(&strategy("auth", &fake.url(), 2, us_east()), wrong);
    let started = Instant::now();
    let (code, out, err) = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it retried a 401"
    );
    assert!(
        err.contains("401") && err.contains("Invalid Token"),
        "{err}"
    );
    assert!(
        err.contains("LINODE_TOKEN"),
        "the hint names the variable\n{err}"
    );
    assert!(
        !out.contains(wrong) && !err.contains(wrong),
        "the token was printed"
    );
    assert!(fake.world().instances.is_empty());
    // The catalog's three lists start together; a 401 is not asked again.
    let calls = fake.calls();
    assert!(
        calls.len() <= 3 && calls.iter().all(|(_, s)| *s == 401),
        "{calls:?}"
    );

    p.set_env("OSS_TEST_LINODE_TOKEN", TOKEN);
    let out = p.ok(&["apply", "--auto-approve"]);
    assert!(!out.contains(TOKEN));
    let (_, out, err) = p.run(&["plan", "--json"]);
    assert!(!out.contains(TOKEN) && !err.contains(TOKEN));
    for entry in walk(&p.path("state")) {
        let text = String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned();
        assert!(!text.contains(TOKEN), "{} holds the token", entry.display());
    }
    p.ok(&["destroy", "--auto-approve"]);
    fake.assert_conforming();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn throttling_server_errors_and_a_timed_out_call_converge_without_duplicates() {
    let fake = fake();
    fake.inject("get-regions", Fault::Throttle { retry_after: 1 }, 1);
    fake.inject("get-linode-types", Fault::Status(503), 2);
    fake.inject("get-linode-instance", Fault::Status(500), 3);
    fake.inject(
        "get-linode-instance",
        Fault::Hang(Duration::from_secs(3)),
        1,
    );
    fake.inject("post-firewalls", Fault::Throttle { retry_after: 1 }, 1);
    fake.inject("post-linode-instance", Fault::Status(503), 1);
    // Carried out, answer lost: the retry adopts the instance instead of creating a second.
    fake.inject("post-linode-instance", Fault::Lose, 1);
    let p = project(&strategy("faults", &fake.url(), 3, us_east()), TOKEN);
    let started = Instant::now();
    p.ok(&["apply", "--auto-approve"]);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    let state = p.state("faults");
    assert_world_matches_state(&fake, &state, 3);
    let calls = fake.calls();
    let met = |op: &str, status: u16| {
        calls
            .iter()
            .filter(|(o, s)| o == op && *s == status)
            .count()
    };
    assert_eq!(met("get-regions", 429), 1);
    assert_eq!(met("get-linode-types", 503), 2);
    assert_eq!(met("get-linode-instance", 500), 3);
    assert_eq!(met("get-linode-instance", 0), 1, "the hung call");
    assert_eq!(met("post-linode-instance", 503), 1);
    assert_eq!(met("post-linode-instance", 0), 1, "the lost answer");
    p.ok(&["destroy", "--auto-approve"]);
    assert!(fake.world().instances.is_empty());
    fake.assert_conforming();
}

/// Sends one raw request to the fake; returns the status line, headers and body.
fn raw(fake: &LiFake, target: &str, token: &str, filter: Option<&str>) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", fake.port)).unwrap();
    let filter = filter.map_or(String::new(), |f| format!("x-filter: {f}\r\n"));
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n{filter}\
         connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_fake_refuses_what_linodes_document_does_not_allow_and_filters_by_tag() {
    let fake = fake();
    let answer = raw(&fake, "/v4/images?page_size=25&page=1", TOKEN, None);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    fake.assert_conforming();
    let cases = [
        (
            "/v4/linode/instances?page_size=10",
            None,
            "parameter `page_size`",
        ),
        ("/v4/linode/instances?tag=x", None, "query parameter `tag`"),
        ("/v5/regions", None, "parameter `apiVersion`"),
        (
            "/v4/linode/instances",
            Some("[1, 2]"),
            "parameter `X-Filter`",
        ),
    ];
    for (i, (target, filter, says)) in cases.into_iter().enumerate() {
        let answer = raw(&fake, target, TOKEN, filter);
        assert!(answer.starts_with("HTTP/1.1 400"), "{target}: {answer}");
        let violations = fake.violations();
        assert_eq!(violations.len(), i + 1, "{violations:?}");
        assert!(violations[i].contains(says), "{violations:?}");
    }
    // A wrong token gets Linode's 401 in its error shape.
    let answer = raw(&fake, "/v4/regions", "nope", None);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        answer.contains(r#"{"errors":[{"reason":"Invalid Token"}]}"#),
        "{answer}"
    );
    // X-Filter on tags picks the lineage's instances only.
    {
        let mut world = fake.world();
        world.add_instance("us-east", "mine", &["oss:lineage:L"]);
        world.add_instance("us-east", "theirs", &["other"]);
    }
    let answer = raw(
        &fake,
        "/v4/linode/instances",
        TOKEN,
        Some(r#"{"tags": "oss:lineage:L"}"#),
    );
    assert!(answer.contains(r#""results":1"#), "{answer}");
    assert!(answer.contains("mine") && !answer.contains("theirs"));
}

struct Errors;
impl oss::net::rest::Classify for Errors {
    fn error_fields(&self, body: &Value) -> (Option<String>, Option<String>) {
        (None, body["errors"][0]["reason"].as_str().map(String::from))
    }
}

#[tokio::test]
async fn refreshing_1000_instances_takes_one_call_per_page_of_500() {
    use oss::net::rest::{Client, Paging, Token};
    let fake = fake();
    {
        let mut world = fake.world();
        for i in 0..1000 {
            world.add_instance("us-east", &format!("i-{i}"), &["oss:lineage:L"]);
        }
        world.add_instance("us-east", "other", &["someone-else"]);
    }
    fake.inject(
        "get-linode-instances",
        Fault::Throttle { retry_after: 1 },
        1,
    );
    let client = Client::new(
        &fake.url(),
        Token::new(TOKEN.into()),
        Box::new(Errors),
        Paging::PageOf("/page", "/pages"),
    )
    .unwrap()
    .with_page_size("page_size");
    let started = Instant::now();
    let all = client
        .list_with(
            "/v4/linode/instances",
            &[],
            &[("X-Filter", r#"{"tags": "oss:lineage:L"}"#.to_string())],
            500,
            "data",
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 1000);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    // Two pages, one call each, plus the throttled one.
    assert_eq!(fake.count("get-linode-instances"), 3, "{:?}", fake.calls());
    let ids: std::collections::BTreeSet<u64> =
        all.iter().map(|i| i["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), 1000, "no instance twice");
    fake.assert_conforming();
}

/// In the suite, small (450 nodes, one plan): the refresh lists one page per page and no more.
/// With the bench's sizes, the figure `bash bench/rest-refresh.sh` records in BENCHMARKS.md (refresh
/// calls for 1,000 Linode instances). Applies `BENCH_NODES` nodes (1,000 in the bench) through the
/// fake, then runs `oss plan` `BENCH_RUNS` times (5 in the bench), printing one line per run:
/// `refresh NODES CALLS_OF_THE_INSTANCE_LIST OTHER_CALLS MILLISECONDS`.
#[test]
fn bench_refresh_calls_for_1000_instances() {
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (nodes, runs) = (
        env("BENCH_NODES", 450).min(5000),
        env("BENCH_RUNS", 1).min(20),
    );
    let fake = fake();
    fake.world().boot = Duration::ZERO;
    let p = project(&strategy("bench", &fake.url(), nodes, us_east()), TOKEN);
    p.ok(&["apply", "--auto-approve", "--parallelism", "32"]);
    assert_eq!(fake.world().instances.len(), nodes);
    for _ in 0..runs {
        fake.reset_calls();
        let started = Instant::now();
        let (code, out, err) = p.run(&["plan", "--detailed-exitcode"]);
        let ms = started.elapsed().as_millis();
        assert_eq!(code, 0, "{out}\n{err}");
        let list = fake.count("get-linode-instances");
        let other = fake.calls().len() - list;
        println!("refresh {nodes} {list} {other} {ms}");
        assert_eq!(list, nodes.div_ceil(500), "one list call per page of 500");
    }
    fake.assert_conforming();
}

/// In the suite, small (20 nodes at 20 ms): one create per node, none twice. With the
/// bench's sizes, the figure `bash bench/rest-apply.sh` records in BENCHMARKS.md (apply time of
/// 100 instances at 100 ms per call, `--parallelism 20`). Each of `BENCH_RUNS` runs (3 in
/// the bench) applies `BENCH_NODES` nodes (100 in the bench) to a fresh fake answering every call after
/// `BENCH_LATENCY_MS` (100 in the bench), printing
/// `apply NODES PARALLELISM LATENCY_MS CALLS NODE_CREATES NODE_GETS MILLISECONDS OTHER_OPS`.
#[test]
fn bench_apply_100_instances_at_100ms_per_call() {
    let env = |name: &str, default: usize, max: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
            .min(max)
    };
    let nodes = env("BENCH_NODES", 20, 500);
    let runs = env("BENCH_RUNS", 1, 10);
    let latency = env("BENCH_LATENCY_MS", 20, 1000);
    let parallelism = env("BENCH_PARALLELISM", 20, 64).to_string();
    for run in 0..runs {
        let fake = fake();
        fake.world().boot = Duration::ZERO;
        fake.set_delay(Duration::from_millis(latency as u64));
        let name = format!("bench{run}");
        let p = project(&strategy(&name, &fake.url(), nodes, us_east()), TOKEN);
        let started = Instant::now();
        p.ok(&["apply", "--auto-approve", "--parallelism", &parallelism]);
        let ms = started.elapsed().as_millis();
        assert_eq!(fake.world().instances.len(), nodes);
        let creates = fake.count("post-linode-instance");
        let gets = fake.count("get-linode-instance");
        assert_eq!(creates, nodes, "one create per node");
        let calls = fake.calls();
        let others: Vec<&str> = calls
            .iter()
            .map(|(op, _)| op.as_str())
            .filter(|op| !["post-linode-instance", "get-linode-instance"].contains(op))
            .collect();
        println!(
            "apply {nodes} {parallelism} {latency} {} {creates} {gets} {ms} {}",
            calls.len(),
            others.join(",")
        );
        fake.assert_conforming();
    }
}
