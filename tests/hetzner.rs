//! The `hetzner` provider end to end through the real `oss` binary, against the REST fake
//! (tests/common/rest_fake) that checks every request and answer against Hetzner Cloud's
//! published OpenAPI description: a five-node fleet whose servers, key and firewall the
//! fake's world agrees with, a plan without changes, a server deleted behind oss's back
//! replaced, destroy leaving nothing, adoption after kill -9 mid-apply, fail-over on
//! Hetzner's capacity refusals (a refused create, a failed placement action) with the reason
//! shown, a wrong token failing fast and never printed, and convergence through 429s (with
//! `RateLimit-Reset`), 5xx and a timed-out call.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::Project;
use common::rest_fake::hetzner::{Hetzner, SPEC, UNAVAILABLE};
use common::rest_fake::{Fake, Fault};
use serde_json::{Value, json};

const TOKEN: &str = "oss_hcloud_test_token_0123456789abcdef0123456789abcdef";
const PUBLIC_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHWnHZMLkm8VIHYXdljxkVSNn7dqN3Qv3CX3ShDNa0Ef oss-test";

type HzFake = Fake<Hetzner>;

fn fake() -> HzFake {
    Fake::start(Hetzner::new(), SPEC, TOKEN)
}

fn strategy(name: &str, endpoint: &str, count: usize, locations: Value) -> Value {
    json!({
        "name": name,
        "provider": {"options": [{"hetzner": {
            "endpoint": endpoint,
            "token": "env.OSS_TEST_HCLOUD_TOKEN",
            "request_timeout": 2
        }}]},
        "node": {
            "name": "web",
            "count": count,
            "image": {"options": [{"name": "ubuntu-24.04"}]},
            "hardware": {"options": [{"name": "cx22"}]},
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
    p.set_env("OSS_TEST_HCLOUD_TOKEN", token);
    p
}

fn fsn1() -> Value {
    json!({"options": [{"id": "fsn1"}]})
}

fn resources<'a>(state: &'a Value, prefix: &str) -> Vec<&'a Value> {
    state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["address"].as_str().unwrap().starts_with(prefix))
        .collect()
}

/// The fake's servers by the address their labels name.
fn servers_by_address(fake: &HzFake) -> BTreeMap<String, Vec<u64>> {
    let mut by: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for s in fake.world().servers.values() {
        let address = s
            .labels
            .get("oss/node")
            .map(|value| {
                let (group, index) = value.rsplit_once('.').unwrap();
                format!("node.{group}[{index}]")
            })
            .unwrap_or_else(|| "?".into());
        by.entry(address).or_default().push(s.id);
    }
    by
}

/// The world holds exactly the state's nodes, by id, each address once.
fn assert_world_matches_state(fake: &HzFake, state: &Value, count: usize) {
    let by = servers_by_address(fake);
    assert_eq!(by.len(), count, "{by:?}");
    for node in resources(state, "node.") {
        let address = node["address"].as_str().unwrap();
        let id: u64 = node["provider_id"].as_str().unwrap().parse().unwrap();
        assert_eq!(by.get(address), Some(&vec![id]), "{address}: {by:?}");
    }
}

#[test]
fn five_servers_round_trip_with_key_and_firewall_no_op_replace_and_destroy() {
    let fake = fake();
    let p = project(&strategy("fleet", &fake.url(), 5, fsn1()), TOKEN);
    p.ok(&["apply", "--auto-approve"]);
    let state = p.state("fleet");
    let lineage = state["lineage"].as_str().unwrap().to_string();
    assert_world_matches_state(&fake, &state, 5);
    {
        let world = fake.world();
        assert_eq!(world.keys.len(), 1, "one key registered");
        let (key_id, key) = world.keys.iter().next().unwrap();
        assert_eq!(key.1, PUBLIC_KEY);
        assert_eq!(key.2["oss/lineage"], lineage.as_str());
        assert_eq!(world.firewalls.len(), 1);
        let (firewall_id, firewall) = world.firewalls.iter().next().unwrap();
        assert_eq!(firewall["labels"]["oss/lineage"], lineage.as_str());
        let ports: Vec<(&str, &str, &str)> = firewall["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["direction"].as_str().unwrap(),
                    r["protocol"].as_str().unwrap(),
                    r["port"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(ports, [("in", "tcp", "22"), ("in", "tcp", "443")]);
        for s in world.servers.values() {
            assert_eq!(s.labels["oss/lineage"], lineage, "{:?}", s.labels);
            assert_eq!(s.firewalls, [*firewall_id], "firewall on {}", s.id);
            assert_eq!(s.ssh_keys, [*key_id]);
            assert_eq!(
                (
                    s.location.as_str(),
                    s.server_type.as_str(),
                    s.image.as_str()
                ),
                ("fsn1", "cx22", "ubuntu-24.04")
            );
            assert_eq!(s.user_data.as_deref(), Some("#!/bin/sh\necho hello\n"));
        }
    }
    // Prices come from the API: the net hourly price, in euros.
    let node = resources(&state, "node.web[0]")[0];
    assert_eq!(node["placement"]["hourly_price"], 0.006, "{node:#}");
    assert!(
        node["observed"]["public_ip"]
            .as_str()
            .unwrap()
            .starts_with("203.0.113.")
    );
    assert!(
        !serde_json::to_string(&state)
            .unwrap()
            .contains("root_password"),
        "no root password in state"
    );

    // No changes, and refresh lists servers once (one page), never one call per server.
    fake.reset_calls();
    let (code, out, err) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "no changes\n{out}\n{err}");
    assert_eq!(fake.count("list_servers"), 1, "{:?}", fake.calls());
    assert_eq!(fake.count("get_server"), 0, "{:?}", fake.calls());

    // A server deleted behind oss's back is created again.
    let gone: u64 = resources(&state, "node.web[2]")[0]["provider_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(fake.world().remove_server(gone));
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

    fake.reset_calls();
    p.ok(&["destroy", "--auto-approve"]);
    // The firewall was still detaching from the deleted servers: refused, then deleted.
    let calls = fake.calls();
    let deletes: Vec<u16> = calls
        .iter()
        .filter(|(op, _)| op == "delete_firewall")
        .map(|(_, status)| *status)
        .collect();
    assert!(
        deletes.len() >= 2 && deletes[0] == 422 && deletes.last() == Some(&204),
        "{calls:?}"
    );
    let world = fake.world();
    assert!(world.servers.is_empty(), "servers left");
    assert!(world.keys.is_empty(), "keys left");
    assert!(world.firewalls.is_empty(), "firewalls left");
    drop(world);
    fake.assert_conforming();
}

#[test]
fn kill_9_during_apply_then_apply_again_adopts_without_duplicates() {
    let fake = fake();
    // Create actions run for a while, so the apply is caught waiting.
    fake.world().boot = Duration::from_secs(30);
    let p = project(&strategy("crash", &fake.url(), 5, fsn1()), TOKEN);
    let mut child = p
        .oss()
        .args(["apply", "--auto-approve", "--parallelism", "5"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let created = common::wait_until(Duration::from_secs(60), || fake.world().servers.len() >= 3);
    assert!(created, "the apply created no servers");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the apply ended before the kill"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let before = servers_by_address(&fake);
    let state = p.state("crash");
    let known = resources(&state, "node.").len();
    assert!(
        known < before.len(),
        "state knew every server already: {known}"
    );

    let lock: Value =
        serde_json::from_slice(&std::fs::read(p.path("state/crash.lock")).unwrap()).unwrap();
    p.ok(&["force-unlock", lock["id"].as_str().unwrap()]);
    fake.world().boot = Duration::from_millis(100);
    p.ok(&["apply", "--auto-approve"]);
    let state = p.state("crash");
    assert_world_matches_state(&fake, &state, 5);
    let after = servers_by_address(&fake);
    for (address, ids) in &before {
        assert_eq!(after.get(address), Some(ids), "{address} was not adopted");
    }
    assert_eq!(fake.world().keys.len(), 1);
    assert_eq!(fake.world().firewalls.len(), 1);
    p.ok(&["destroy", "--auto-approve"]);
    assert!(fake.world().servers.is_empty());
    fake.assert_conforming();
}

#[test]
fn a_capacity_refusal_fails_over_to_the_next_location_and_says_why() {
    let fake = fake();
    fake.world().refuse("fsn1", Some("cx22"));
    let locations = json!({"options": [{"id": "fsn1"}, {"id": "nbg1"}], "pick": "first"});
    let p = project(&strategy("capacity", &fake.url(), 2, locations), TOKEN);
    let (code, out, err) = p.run(&["apply", "--auto-approve", "--parallelism", "1"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let all = format!("{out}\n{err}");
    assert!(
        all.contains(UNAVAILABLE) && all.contains("resource_unavailable"),
        "the output says why\n{all}"
    );
    assert!(out.contains("fail-over node.web[0]"), "{out}");
    let state = p.state("capacity");
    for node in resources(&state, "node.") {
        assert_eq!(node["placement"]["location"], "nbg1", "{node:#}");
    }
    assert!(fake.world().servers.values().all(|s| s.location == "nbg1"));
    let (code, out, _) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");
    p.ok(&["destroy", "--auto-approve"]);
    assert!(fake.world().servers.is_empty());
    assert!(fake.world().firewalls.is_empty());
    fake.assert_conforming();
}

#[test]
fn a_failed_placement_action_fails_over_and_leaves_no_server() {
    let fake = fake();
    fake.world().fail_placement("fsn1", None);
    let locations = json!({"options": [{"id": "fsn1"}, {"id": "hel1"}], "pick": "first"});
    let p = project(&strategy("placement", &fake.url(), 1, locations), TOKEN);
    let (code, out, err) = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let all = format!("{out}\n{err}");
    assert!(
        all.contains("placement_error"),
        "the output says why\n{all}"
    );
    assert!(out.contains("fail-over node.web[0]"), "{out}");
    let state = p.state("placement");
    assert_eq!(
        resources(&state, "node.web[0]")[0]["placement"]["location"],
        "hel1"
    );
    assert_world_matches_state(&fake, &state, 1);
    assert!(fake.count("get_action") >= 2, "{:?}", fake.calls());
    p.ok(&["destroy", "--auto-approve"]);
    assert!(fake.world().servers.is_empty());
    fake.assert_conforming();
}

#[test]
fn a_wrong_token_fails_fast_and_no_token_is_ever_printed_or_stored() {
    let fake = fake();
    let wrong = "oss_hcloud_wrong_token_fedcba9876543210fedcba9876543210";
    let p = project(&strategy("auth", &fake.url(), 2, fsn1()), wrong);
    let started = Instant::now();
    let (code, out, err) = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it retried a 401"
    );
    assert!(
        err.contains("401") && err.contains("unable to authenticate"),
        "{err}"
    );
    assert!(
        err.contains("HCLOUD_TOKEN"),
        "the hint names the variable\n{err}"
    );
    assert!(
        !out.contains(wrong) && !err.contains(wrong),
        "the token was printed"
    );
    assert!(fake.world().servers.is_empty());
    // The catalog's three lists start together; a 401 is not asked again.
    let calls = fake.calls();
    assert!(
        calls.len() <= 3 && calls.iter().all(|(_, s)| *s == 401),
        "{calls:?}"
    );

    p.set_env("OSS_TEST_HCLOUD_TOKEN", TOKEN);
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
    fake.inject("list_locations", Fault::Throttle { retry_after: 2 }, 1);
    fake.inject("list_server_types", Fault::Status(503), 2);
    fake.inject("get_server", Fault::Status(500), 3);
    fake.inject("get_action", Fault::Hang(Duration::from_secs(3)), 1);
    fake.inject("create_firewall", Fault::Throttle { retry_after: 1 }, 1);
    fake.inject("create_server", Fault::Status(503), 1);
    // Carried out, answer lost: the retry adopts the server instead of creating a second.
    fake.inject("create_server", Fault::Lose, 1);
    let p = project(&strategy("faults", &fake.url(), 3, fsn1()), TOKEN);
    let started = Instant::now();
    p.ok(&["apply", "--auto-approve"]);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "RateLimit-Reset was not honoured"
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
    assert_eq!(met("list_locations", 429), 1);
    assert_eq!(met("list_server_types", 503), 2);
    assert_eq!(met("get_server", 500), 3);
    assert_eq!(met("get_action", 0), 1, "the hung call");
    assert_eq!(met("create_server", 503), 1);
    assert_eq!(met("create_server", 0), 1, "the lost answer");
    p.ok(&["destroy", "--auto-approve"]);
    assert!(fake.world().servers.is_empty());
    fake.assert_conforming();
}

/// Sends one raw request to the fake; returns the status line, headers and body.
fn raw(fake: &HzFake, target: &str, token: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", fake.port)).unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n\
         connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_fake_refuses_what_hetzners_document_does_not_allow_and_selects_by_label() {
    let fake = fake();
    let answer = raw(
        &fake,
        "/images?type=system&status=available&per_page=50",
        TOKEN,
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("ratelimit-remaining: "), "{answer}");
    fake.assert_conforming();
    let cases = [
        ("/servers?per_page=x", "parameter `per_page`"),
        ("/servers?tag=x", "query parameter `tag`"),
        ("/images?type=everything", "parameter `type`"),
        ("/servers/abc", "parameter `id`"),
        ("/v1/servers", "no path of the document"),
    ];
    for (i, (target, says)) in cases.into_iter().enumerate() {
        let answer = raw(&fake, target, TOKEN);
        assert!(answer.starts_with("HTTP/1.1 400"), "{target}: {answer}");
        let violations = fake.violations();
        assert_eq!(violations.len(), i + 1, "{violations:?}");
        assert!(violations[i].contains(says), "{violations:?}");
    }
    // A wrong token gets Hetzner's 401 in its error shape.
    let answer = raw(&fake, "/locations", "nope");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        answer.contains(r#""code":"unauthorized""#) && answer.contains(r#""error":{"#),
        "{answer}"
    );
    // label_selector picks the lineage's servers only.
    {
        let mut world = fake.world();
        world.add_server("fsn1", "mine", &[("oss/lineage", "L")]);
        world.add_server("fsn1", "theirs", &[("other", "x")]);
    }
    let answer = raw(&fake, "/servers?label_selector=oss%2Flineage%3DL", TOKEN);
    assert!(answer.contains(r#""total_entries":1"#), "{answer}");
    assert!(answer.contains("mine") && !answer.contains("theirs"));
}

struct Errors;
impl oss::net::rest::Classify for Errors {
    fn error_fields(&self, body: &Value) -> (Option<String>, Option<String>) {
        (
            body["error"]["code"].as_str().map(String::from),
            body["error"]["message"].as_str().map(String::from),
        )
    }
}

#[tokio::test]
async fn refreshing_1000_servers_takes_one_call_per_page_of_50() {
    use oss::net::rest::{Client, Paging, Token};
    let fake = fake();
    {
        let mut world = fake.world();
        for i in 0..1000 {
            world.add_server("fsn1", &format!("s-{i}"), &[("oss/lineage", "L")]);
        }
        world.add_server("fsn1", "other", &[("oss/lineage", "M")]);
    }
    fake.inject("list_servers", Fault::Throttle { retry_after: 2 }, 1);
    let client = Client::new(
        &fake.url(),
        Token::new(TOKEN.into()),
        Box::new(Errors),
        Paging::NextPage("/meta/pagination/next_page"),
    )
    .unwrap();
    let started = Instant::now();
    let all = client
        .list(
            "/servers",
            &[("label_selector", "oss/lineage=L".to_string())],
            50,
            "servers",
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 1000);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "RateLimit-Reset honoured"
    );
    // Twenty pages, one call each, plus the throttled one.
    assert_eq!(fake.count("list_servers"), 21, "{:?}", fake.calls());
    let ids: std::collections::BTreeSet<u64> =
        all.iter().map(|s| s["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), 1000, "no server twice");
    fake.assert_conforming();
}

/// In the suite, small (120 nodes, one plan): the refresh lists one page per page and no
/// more. With the bench's sizes, the figure `bash bench/rest-refresh.sh` records in
/// BENCHMARKS.md (refresh calls for 1,000 Hetzner servers). Applies `BENCH_NODES` nodes
/// (1,000 in the bench) through the fake, then runs `oss plan` `BENCH_RUNS` times (5 in the
/// bench), printing one line per run:
/// `refresh NODES CALLS_OF_THE_SERVER_LIST OTHER_CALLS MILLISECONDS`.
#[test]
fn bench_refresh_calls_for_1000_servers() {
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (nodes, runs) = (
        env("BENCH_NODES", 120).min(5000),
        env("BENCH_RUNS", 1).min(20),
    );
    let fake = fake();
    fake.world().boot = Duration::ZERO;
    let p = project(&strategy("bench", &fake.url(), nodes, fsn1()), TOKEN);
    p.ok(&["apply", "--auto-approve", "--parallelism", "32"]);
    assert_eq!(fake.world().servers.len(), nodes);
    for _ in 0..runs {
        fake.reset_calls();
        let started = Instant::now();
        let (code, out, err) = p.run(&["plan", "--detailed-exitcode"]);
        let ms = started.elapsed().as_millis();
        assert_eq!(code, 0, "{out}\n{err}");
        let list = fake.count("list_servers");
        let other = fake.calls().len() - list;
        println!("refresh {nodes} {list} {other} {ms}");
        assert_eq!(list, nodes.div_ceil(50), "one list call per page of 50");
    }
    fake.assert_conforming();
}

/// In the suite, small (20 nodes at 20 ms): one create per node, none twice. With the
/// bench's sizes, the figure `bash bench/rest-apply.sh` records in BENCHMARKS.md (apply time
/// of 100 servers at 100 ms per call, `--parallelism 20`). Each of `BENCH_RUNS` runs (3 in
/// the bench) applies `BENCH_NODES` nodes (100 in the bench) to a fresh fake answering every
/// call after `BENCH_LATENCY_MS` (100 in the bench), printing
/// `apply NODES PARALLELISM LATENCY_MS CALLS NODE_CREATES NODE_GETS MILLISECONDS OTHER_OPS`
/// (the gets count the action polls and the server reads).
#[test]
fn bench_apply_100_servers_at_100ms_per_call() {
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
        let p = project(&strategy(&name, &fake.url(), nodes, fsn1()), TOKEN);
        let started = Instant::now();
        p.ok(&["apply", "--auto-approve", "--parallelism", &parallelism]);
        let ms = started.elapsed().as_millis();
        assert_eq!(fake.world().servers.len(), nodes);
        let creates = fake.count("create_server");
        let gets = fake.count("get_server") + fake.count("get_action");
        assert_eq!(creates, nodes, "one create per node");
        let calls = fake.calls();
        let others: Vec<&str> = calls
            .iter()
            .map(|(op, _)| op.as_str())
            .filter(|op| !["create_server", "get_server", "get_action"].contains(op))
            .collect();
        println!(
            "apply {nodes} {parallelism} {latency} {} {creates} {gets} {ms} {}",
            calls.len(),
            others.join(",")
        );
        fake.assert_conforming();
    }
}
