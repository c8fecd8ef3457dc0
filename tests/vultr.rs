//! The `vultr` provider end to end through the real `oss` binary, against the REST fake
//! (tests/common/rest_fake) that checks every request and answer against Vultr's published
//! OpenAPI description: a five-node fleet whose instances, key and firewall group the fake's
//! world agrees with, a plan without changes, an instance deleted behind oss's back replaced,
//! destroy leaving nothing, adoption after kill -9 mid-apply, fail-over on Vultr's refusal of
//! a plan it does not sell in a region with the reason shown, a wrong API key failing fast and
//! never printed, and convergence through 429s (Vultr documents no Retry-After), 5xx and a
//! timed-out call.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::Project;
use common::rest_fake::vultr::{NOT_SOLD, SPEC, Vultr};
use common::rest_fake::{Fake, Fault};
use serde_json::{Value, json};

const TOKEN: &str = "OSSVULTRTESTKEY0123456789ABCDEFGHIJKLMN";
const PUBLIC_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHWnHZMLkm8VIHYXdljxkVSNn7dqN3Qv3CX3ShDNa0Ef oss-test";

type VuFake = Fake<Vultr>;

fn fake() -> VuFake {
    Fake::start(Vultr::new(), SPEC, TOKEN)
}

fn strategy(name: &str, endpoint: &str, count: usize, locations: Value) -> Value {
    json!({
        "name": name,
        "provider": {"options": [{"vultr": {
            "endpoint": endpoint,
            "token": "env.OSS_TEST_VULTR_API_KEY",
            "request_timeout": 2
        }}]},
        "node": {
            "name": "web",
            "count": count,
            "image": {"options": [{"name": "Ubuntu 24.04 LTS x64"}]},
            "hardware": {"options": [{"name": "vc2-1c-1gb"}]},
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
    p.set_env("OSS_TEST_VULTR_API_KEY", token);
    p
}

fn ewr() -> Value {
    json!({"options": [{"id": "ewr"}]})
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
fn instances_by_address(fake: &VuFake) -> BTreeMap<String, Vec<String>> {
    let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
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
        by.entry(address).or_default().push(i.id.clone());
    }
    by
}

/// The world holds exactly the state's nodes, by id, each address once.
fn assert_world_matches_state(fake: &VuFake, state: &Value, count: usize) {
    let by = instances_by_address(fake);
    assert_eq!(by.len(), count, "{by:?}");
    for node in resources(state, "node.") {
        let address = node["address"].as_str().unwrap();
        let id = node["provider_id"].as_str().unwrap().to_string();
        assert_eq!(by.get(address), Some(&vec![id]), "{address}: {by:?}");
    }
}

#[test]
fn five_instances_round_trip_with_key_and_firewall_no_op_replace_and_destroy() {
    let fake = fake();
    let p = project(&strategy("fleet", &fake.url(), 5, ewr()), TOKEN);
    p.ok(&["apply", "--auto-approve"]);
    let state = p.state("fleet");
    let lineage = state["lineage"].as_str().unwrap().to_string();
    assert_world_matches_state(&fake, &state, 5);
    {
        let world = fake.world();
        assert_eq!(world.keys.len(), 1, "one key registered");
        let key_id = world.keys.keys().next().unwrap().clone();
        assert_eq!(world.firewalls.len(), 1);
        let (group_id, group) = world.firewalls.iter().next().unwrap();
        let rules: Vec<(String, String, u64)> = group
            .rules
            .values()
            .map(|r| {
                (
                    r["ip_type"].as_str().unwrap().to_string(),
                    r["port"].as_str().unwrap().to_string(),
                    r["subnet_size"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(rules.len(), 4, "22 and 443, IPv4 and IPv6: {rules:?}");
        assert!(group.rules.values().all(|r| r["protocol"] == "tcp"));
        for i in world.instances.values() {
            assert!(
                i.tags.contains(&format!("oss:lineage:{lineage}")),
                "{:?}",
                i.tags
            );
            assert_eq!(&i.firewall_group_id, group_id, "firewall on {}", i.id);
            assert_eq!(i.sshkey_ids, std::slice::from_ref(&key_id));
            assert_eq!((i.region.as_str(), i.plan.as_str()), ("ewr", "vc2-1c-1gb"));
            assert_eq!(i.os_id, 2284);
            assert_eq!(i.user_data.as_deref(), Some("#!/bin/sh\necho hello\n"));
        }
    }
    // Prices come from the API (monthly, over 730 hours).
    let node = resources(&state, "node.web[0]")[0];
    let hourly = node["placement"]["hourly_price"].as_f64().unwrap();
    assert!((hourly - 5.0 / 730.0).abs() < 1e-9, "{hourly}");
    assert!(
        node["observed"]["public_ip"]
            .as_str()
            .unwrap()
            .starts_with("203.0.113.")
    );
    let text = serde_json::to_string(&state).unwrap();
    assert!(
        !text.contains("default_password") && !text.contains("v5{Fkvb"),
        "no root password in state"
    );

    // No changes, and refresh lists instances once (one page), never one call per instance.
    fake.reset_calls();
    let (code, out, err) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "no changes\n{out}\n{err}");
    assert_eq!(fake.count("list-instances"), 1, "{:?}", fake.calls());
    assert_eq!(fake.count("get-instance"), 0, "{:?}", fake.calls());

    // An instance deleted behind oss's back is created again.
    let gone = resources(&state, "node.web[2]")[0]["provider_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(fake.world().remove_instance(&gone));
    let changes = common::plan_changes(&p, &[]);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].0, "node.web[2]");
    p.ok(&["apply", "--auto-approve"]);
    let state = p.state("fleet");
    assert_world_matches_state(&fake, &state, 5);
    assert_ne!(resources(&state, "node.web[2]")[0]["provider_id"], gone);

    p.ok(&["destroy", "--auto-approve"]);
    let world = fake.world();
    assert!(world.instances.is_empty(), "instances left");
    assert!(world.keys.is_empty(), "keys left");
    assert!(world.firewalls.is_empty(), "firewall groups left");
    drop(world);
    fake.assert_conforming();
}

#[test]
fn a_changed_port_list_updates_the_firewall_groups_rules_in_place() {
    let fake = fake();
    let mut s = strategy("ports", &fake.url(), 1, ewr());
    let p = project(&s, TOKEN);
    p.ok(&["apply", "--auto-approve"]);
    let group = fake.world().firewalls.keys().next().unwrap().clone();
    s["node"]["ports"] = json!([{"port": 22, "from": ["198.51.100.0/24"]}, 8080]);
    p.write_strategy(&s);
    p.ok(&["apply", "--auto-approve"]);
    {
        let world = fake.world();
        assert_eq!(world.firewalls.len(), 1);
        let rules: Vec<(String, String, String, u64)> = world.firewalls[&group]
            .rules
            .values()
            .map(|r| {
                (
                    r["ip_type"].as_str().unwrap().into(),
                    r["port"].as_str().unwrap().into(),
                    r["subnet"].as_str().unwrap().into(),
                    r["subnet_size"].as_u64().unwrap(),
                )
            })
            .collect();
        let mut rules = rules;
        rules.sort();
        let rule = |t: &str, p: &str, s: &str, n: u64| (t.into(), p.into(), s.into(), n);
        assert_eq!(
            rules,
            [
                rule("v4", "22", "198.51.100.0", 24),
                rule("v4", "8080", "0.0.0.0", 0),
                rule("v6", "8080", "::", 0),
            ]
        );
    }
    let (code, out, _) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");
    p.ok(&["destroy", "--auto-approve"]);
    assert!(fake.world().firewalls.is_empty());
    fake.assert_conforming();
}

#[test]
fn kill_9_during_apply_then_apply_again_adopts_without_duplicates() {
    let fake = fake();
    // Instances stay `pending` for a while, so the apply is caught waiting.
    fake.world().boot = Duration::from_secs(30);
    let p = project(&strategy("crash", &fake.url(), 5, ewr()), TOKEN);
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
    fake.world().refuse("ewr", Some("vc2-1c-1gb"));
    let locations = json!({"options": [{"id": "ewr"}, {"id": "fra"}], "pick": "first"});
    let p = project(&strategy("capacity", &fake.url(), 2, locations), TOKEN);
    let (code, out, err) = p.run(&["apply", "--auto-approve", "--parallelism", "1"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let all = format!("{out}\n{err}");
    assert!(
        all.contains(NOT_SOLD.trim_end_matches('.')),
        "the output says why\n{all}"
    );
    assert!(out.contains("fail-over node.web[0]"), "{out}");
    let state = p.state("capacity");
    for node in resources(&state, "node.") {
        assert_eq!(node["placement"]["location"], "fra", "{node:#}");
    }
    assert!(fake.world().instances.values().all(|i| i.region == "fra"));
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
    let wrong = "OSSVULTRWRONGKEYZYXWVUTSRQPONMLKJIHGFED";
    let p = project(&strategy("auth", &fake.url(), 2, ewr()), wrong);
    let started = Instant::now();
    let (code, out, err) = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it retried a 401"
    );
    assert!(
        err.contains("401") && err.contains("Invalid API token"),
        "{err}"
    );
    assert!(
        err.contains("VULTR_API_KEY"),
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

    p.set_env("OSS_TEST_VULTR_API_KEY", TOKEN);
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
    // Vultr documents 429 but no Retry-After: the client backs off on its own.
    fake.inject("list-regions", Fault::Status(429), 1);
    fake.inject("list-plans", Fault::Status(503), 2);
    fake.inject("get-instance", Fault::Status(500), 3);
    fake.inject("get-instance", Fault::Hang(Duration::from_secs(3)), 1);
    fake.inject("create-firewall-group", Fault::Status(429), 1);
    fake.inject("create-instance", Fault::Status(503), 1);
    // Carried out, answer lost: the retry adopts the instance instead of creating a second.
    fake.inject("create-instance", Fault::Lose, 1);
    let p = project(&strategy("faults", &fake.url(), 3, ewr()), TOKEN);
    p.ok(&["apply", "--auto-approve"]);
    let state = p.state("faults");
    assert_world_matches_state(&fake, &state, 3);
    let calls = fake.calls();
    let met = |op: &str, status: u16| {
        calls
            .iter()
            .filter(|(o, s)| o == op && *s == status)
            .count()
    };
    assert_eq!(met("list-regions", 429), 1);
    assert_eq!(met("list-plans", 503), 2);
    assert_eq!(met("get-instance", 500), 3);
    assert_eq!(met("get-instance", 0), 1, "the hung call");
    assert_eq!(met("create-firewall-group", 429), 1);
    assert_eq!(met("create-instance", 503), 1);
    assert_eq!(met("create-instance", 0), 1, "the lost answer");
    assert_eq!(fake.world().firewalls.len(), 1, "one firewall group");
    p.ok(&["destroy", "--auto-approve"]);
    assert!(fake.world().instances.is_empty());
    fake.assert_conforming();
}

/// Sends one raw GET to the fake; returns the status line, headers and body.
fn raw(fake: &VuFake, target: &str, token: &str) -> String {
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
fn the_fake_refuses_what_vultrs_document_does_not_allow_and_filters_by_tag() {
    let fake = fake();
    let answer = raw(&fake, "/v2/os?per_page=2", TOKEN);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""next":"bmV4dF9f2""#), "{answer}");
    fake.assert_conforming();
    let cases = [
        ("/v2/instances?per_page=many", "parameter `per_page`"),
        ("/v2/instances?page=2", "query parameter `page`"),
        ("/v3/regions", "no path of the document matches"),
    ];
    for (i, (target, says)) in cases.into_iter().enumerate() {
        let answer = raw(&fake, target, TOKEN);
        assert!(answer.starts_with("HTTP/1.1 400"), "{target}: {answer}");
        let violations = fake.violations();
        assert_eq!(violations.len(), i + 1, "{violations:?}");
        assert!(violations[i].contains(says), "{violations:?}");
    }
    // A wrong key gets Vultr's 401 in its error shape.
    let answer = raw(&fake, "/v2/regions", "nope");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        answer.contains(r#"{"error":"Invalid API token.","status":401}"#),
        "{answer}"
    );
    // `tag` picks the lineage's instances only.
    {
        let mut world = fake.world();
        world.add_instance("ewr", "mine", &["oss:lineage:L"]);
        world.add_instance("ewr", "theirs", &["other"]);
    }
    let answer = raw(&fake, "/v2/instances?tag=oss%3Alineage%3AL", TOKEN);
    assert!(answer.contains(r#""total":1"#), "{answer}");
    assert!(answer.contains("mine") && !answer.contains("theirs"));
    assert_eq!(fake.violations().len(), 3, "{:?}", fake.violations());
}

struct Errors;
impl oss::net::rest::Classify for Errors {
    fn error_fields(&self, body: &Value) -> (Option<String>, Option<String>) {
        (None, body["error"].as_str().map(String::from))
    }
}

#[tokio::test]
async fn refreshing_1000_instances_takes_one_call_per_page_of_500() {
    use oss::net::rest::{Client, Paging, Token};
    let fake = fake();
    {
        let mut world = fake.world();
        for i in 0..1000 {
            world.add_instance("ewr", &format!("i-{i}"), &["oss:lineage:L"]);
        }
        world.add_instance("ewr", "other", &["someone-else"]);
    }
    fake.inject("list-instances", Fault::Status(429), 1);
    let client = Client::new(
        &fake.url(),
        Token::new(TOKEN.into()),
        Box::new(Errors),
        Paging::Cursor("/meta/links/next"),
    )
    .unwrap();
    let all = client
        .list(
            "/v2/instances",
            &[("tag", "oss:lineage:L".to_string())],
            500,
            "instances",
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 1000);
    // Two pages, one call each, plus the throttled one.
    assert_eq!(fake.count("list-instances"), 3, "{:?}", fake.calls());
    let ids: std::collections::BTreeSet<&str> =
        all.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1000, "no instance twice");
    fake.assert_conforming();
}

/// In the suite, small (450 nodes, one plan): the refresh lists one page per page and no more.
/// With the bench's sizes, the figure `bash bench/rest-refresh.sh` records in BENCHMARKS.md
/// (refresh calls for 1,000 Vultr instances). Applies `BENCH_NODES` nodes (1,000 in the bench)
/// through the fake, then runs `oss plan` `BENCH_RUNS` times (5 in the bench), printing one
/// line per run: `refresh NODES CALLS_OF_THE_INSTANCE_LIST OTHER_CALLS MILLISECONDS`.
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
    let p = project(&strategy("bench", &fake.url(), nodes, ewr()), TOKEN);
    p.ok(&["apply", "--auto-approve", "--parallelism", "32"]);
    assert_eq!(fake.world().instances.len(), nodes);
    for _ in 0..runs {
        fake.reset_calls();
        let started = Instant::now();
        let (code, out, err) = p.run(&["plan", "--detailed-exitcode"]);
        let ms = started.elapsed().as_millis();
        assert_eq!(code, 0, "{out}\n{err}");
        let list = fake.count("list-instances");
        let other = fake.calls().len() - list;
        println!("refresh {nodes} {list} {other} {ms}");
        assert_eq!(list, nodes.div_ceil(500), "one list call per page of 500");
    }
    fake.assert_conforming();
}

/// In the suite, small (20 nodes at 20 ms): one create per node, none twice. With the
/// bench's sizes, the figure `bash bench/rest-apply.sh` records in BENCHMARKS.md (apply time of
/// 100 instances at 100 ms per call, `--parallelism 20`). Each of `BENCH_RUNS` runs (3 in
/// the bench) applies `BENCH_NODES` nodes (100 in the bench) to a fresh fake answering every
/// call after `BENCH_LATENCY_MS` (100 in the bench), printing
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
        let p = project(&strategy(&name, &fake.url(), nodes, ewr()), TOKEN);
        let started = Instant::now();
        p.ok(&["apply", "--auto-approve", "--parallelism", &parallelism]);
        let ms = started.elapsed().as_millis();
        assert_eq!(fake.world().instances.len(), nodes);
        let creates = fake.count("create-instance");
        let gets = fake.count("get-instance");
        assert_eq!(creates, nodes, "one create per node");
        let calls = fake.calls();
        let others: Vec<&str> = calls
            .iter()
            .map(|(op, _)| op.as_str())
            .filter(|op| !["create-instance", "get-instance"].contains(op))
            .collect();
        println!(
            "apply {nodes} {parallelism} {latency} {} {creates} {gets} {ms} {}",
            calls.len(),
            others.join(",")
        );
        fake.assert_conforming();
    }
}
