//! The `digitalocean` provider end to end through the real `oss` binary, against the REST
//! fake (tests/common/rest_fake) that checks every request and answer against DigitalOcean's
//! published OpenAPI description: a five-node fleet whose droplets, key and firewall the
//! fake's world agrees with, a plan without changes, a droplet deleted behind oss's back
//! replaced, destroy leaving nothing, adoption after kill -9 mid-apply, fail-over on a
//! capacity refusal with the reason shown, a wrong token failing fast and never printed, and
//! convergence through 429s with Retry-After, 5xx and a timed-out call.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::Project;
use common::rest_fake::digitalocean::{DigitalOcean, SPEC};
use common::rest_fake::{Fake, Fault};
use serde_json::{Value, json};

const TOKEN: &str = "dop_v1_oss_test_token_0123456789abcdef";
const PUBLIC_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHWnHZMLkm8VIHYXdljxkVSNn7dqN3Qv3CX3ShDNa0Ef oss-test";

type DoFake = Fake<DigitalOcean>;

fn fake() -> DoFake {
    Fake::start(DigitalOcean::new(), SPEC, TOKEN)
}

fn strategy(name: &str, endpoint: &str, count: usize, locations: Value) -> Value {
    json!({
        "name": name,
        "provider": {"options": [{"digitalocean": {
            "endpoint": endpoint,
            "token": "env.OSS_TEST_DO_TOKEN",
            "request_timeout": 2
        }}]},
        "node": {
            "name": "web",
            "count": count,
            "image": {"options": [{"name": "ubuntu-24-04-x64"}]},
            "hardware": {"options": [{"name": "s-1vcpu-1gb"}]},
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
    p.set_env("OSS_TEST_DO_TOKEN", token);
    p
}

fn nyc1() -> Value {
    json!({"options": [{"id": "nyc1"}]})
}

fn ok(p: &Project, args: &[&str]) -> String {
    p.ok(args)
}

fn resources<'a>(state: &'a Value, prefix: &str) -> Vec<&'a Value> {
    state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["address"].as_str().unwrap().starts_with(prefix))
        .collect()
}

/// The fake's droplets by the address their tags name; each address must appear once.
fn droplets_by_address(fake: &DoFake) -> BTreeMap<String, Vec<u64>> {
    let mut by: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for d in fake.world().droplets.values() {
        let address = d
            .tags
            .iter()
            .find_map(|t| t.strip_prefix("oss:node:"))
            .map(|rest| {
                let (group, index) = rest.rsplit_once(':').unwrap();
                format!("node.{group}[{index}]")
            })
            .unwrap_or_else(|| "?".into());
        by.entry(address).or_default().push(d.id);
    }
    by
}

/// The world holds exactly the state's nodes, by id.
fn assert_world_matches_state(fake: &DoFake, state: &Value, count: usize) {
    let by = droplets_by_address(fake);
    assert_eq!(by.len(), count, "{by:?}");
    for node in resources(state, "node.") {
        let address = node["address"].as_str().unwrap();
        let id: u64 = node["provider_id"].as_str().unwrap().parse().unwrap();
        assert_eq!(by.get(address), Some(&vec![id]), "{address}: {by:?}");
    }
}

#[test]
fn five_droplets_round_trip_with_key_and_firewall_no_op_replace_and_destroy() {
    let fake = fake();
    let p = project(&strategy("fleet", &fake.url(), 5, nyc1()), TOKEN);
    ok(&p, &["apply", "--auto-approve"]);
    let state = p.state("fleet");
    let lineage = state["lineage"].as_str().unwrap().to_string();
    assert_world_matches_state(&fake, &state, 5);
    {
        let world = fake.world();
        assert_eq!(world.keys.len(), 1, "one key registered");
        assert_eq!(world.firewalls.len(), 1);
        let key_id = world.keys.keys().next().unwrap().to_string();
        let firewall = world.firewalls.values().next().unwrap();
        let ports: Vec<&str> = firewall["inbound_rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["ports"].as_str().unwrap())
            .collect();
        assert_eq!(ports, ["22", "443"]);
        let target = firewall["tags"][0].as_str().unwrap();
        for d in world.droplets.values() {
            assert!(
                d.tags.contains(&format!("oss:lineage:{lineage}")),
                "{:?}",
                d.tags
            );
            assert!(
                d.tags.iter().any(|t| t == target),
                "firewall tag on {}",
                d.id
            );
            assert_eq!(d.ssh_keys, std::slice::from_ref(&key_id));
            assert_eq!(
                (d.region.as_str(), d.size.as_str()),
                ("nyc1", "s-1vcpu-1gb")
            );
            assert_eq!(d.user_data.as_deref(), Some("#!/bin/sh\necho hello\n"));
        }
    }
    // Prices come from the API: 5 × 0.00893.
    let node = resources(&state, "node.web[0]")[0];
    assert_eq!(node["placement"]["hourly_price"], 0.00893);
    assert!(
        node["observed"]["public_ip"]
            .as_str()
            .unwrap()
            .starts_with("203.0.113.")
    );

    // No changes, and refresh lists droplets once (one page), never one call per droplet.
    fake.reset_calls();
    let (code, out, err) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "no changes\n{out}\n{err}");
    assert_eq!(fake.count("droplets_list"), 1, "{:?}", fake.calls());
    assert_eq!(fake.count("droplets_get"), 0, "{:?}", fake.calls());

    // A droplet deleted behind oss's back is created again.
    let gone: u64 = resources(&state, "node.web[2]")[0]["provider_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(fake.world().remove_droplet(gone));
    let changes = common::plan_changes(&p, &[]);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].0, "node.web[2]");
    ok(&p, &["apply", "--auto-approve"]);
    let state = p.state("fleet");
    assert_world_matches_state(&fake, &state, 5);
    assert_ne!(
        resources(&state, "node.web[2]")[0]["provider_id"],
        gone.to_string()
    );

    ok(&p, &["destroy", "--auto-approve"]);
    let world = fake.world();
    assert!(world.droplets.is_empty(), "droplets left");
    assert!(world.keys.is_empty(), "keys left");
    assert!(world.firewalls.is_empty(), "firewalls left");
    drop(world);
    fake.assert_conforming();
}

#[test]
fn kill_9_during_apply_then_apply_again_adopts_without_duplicates() {
    let fake = fake();
    // Droplets stay `new` for a while, so the apply is caught waiting.
    fake.world().boot = Duration::from_secs(30);
    let p = project(&strategy("crash", &fake.url(), 5, nyc1()), TOKEN);
    let mut child = p
        .oss()
        .args(["apply", "--auto-approve", "--parallelism", "5"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let created = common::wait_until(Duration::from_secs(60), || fake.world().droplets.len() >= 3);
    // The precondition: droplets exist and the apply has not finished.
    assert!(created, "the apply created no droplets");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the apply ended before the kill"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let before = droplets_by_address(&fake);
    let state = p.state("crash");
    let known = resources(&state, "node.").len();
    assert!(
        known < before.len(),
        "state knew every droplet already: {known}"
    );

    // The dead apply's lock is stale; it is removed the documented way.
    let lock: Value =
        serde_json::from_slice(&std::fs::read(p.path("state/crash.lock")).unwrap()).unwrap();
    ok(&p, &["force-unlock", lock["id"].as_str().unwrap()]);
    fake.world().boot = Duration::from_millis(100);
    ok(&p, &["apply", "--auto-approve"]);
    let state = p.state("crash");
    assert_world_matches_state(&fake, &state, 5);
    // Every droplet created before the kill is the one state now holds.
    let after = droplets_by_address(&fake);
    for (address, ids) in &before {
        assert_eq!(after.get(address), Some(ids), "{address} was not adopted");
    }
    assert_eq!(fake.world().keys.len(), 1);
    assert_eq!(fake.world().firewalls.len(), 1);
    ok(&p, &["destroy", "--auto-approve"]);
    assert!(fake.world().droplets.is_empty());
    fake.assert_conforming();
}

#[test]
fn a_capacity_refusal_fails_over_to_the_next_region_and_says_why() {
    let fake = fake();
    fake.world().refuse("nyc1", Some("s-1vcpu-1gb"));
    let locations = json!({"options": [{"id": "nyc1"}, {"id": "ams3"}], "pick": "first"});
    let p = project(&strategy("capacity", &fake.url(), 2, locations), TOKEN);
    let (code, out, err) = p.run(&["apply", "--auto-approve", "--parallelism", "1"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let all = format!("{out}\n{err}");
    assert!(
        all.contains("Size is not available in this region."),
        "the output says why\n{all}"
    );
    assert!(out.contains("fail-over node.web[0]"), "{out}");
    let state = p.state("capacity");
    for node in resources(&state, "node.") {
        assert_eq!(node["placement"]["location"], "ams3", "{node:#}");
    }
    assert!(fake.world().droplets.values().all(|d| d.region == "ams3"));
    let (code, out, _) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");
    ok(&p, &["destroy", "--auto-approve"]);
    assert!(fake.world().droplets.is_empty());
    assert!(fake.world().firewalls.is_empty());
    fake.assert_conforming();
}

#[test]
fn a_wrong_token_fails_fast_and_no_token_is_ever_printed_or_stored() {
    let fake = fake();
    let wrong = "dop_v1_wrong_token_fedcba9876543210";
    let p = project(&strategy("auth", &fake.url(), 2, nyc1()), wrong);
    let started = Instant::now();
    let (code, out, err) = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it retried a 401"
    );
    assert!(err.contains("401"), "{err}");
    assert!(
        err.contains("DIGITALOCEAN_TOKEN"),
        "the hint names the variable\n{err}"
    );
    assert!(
        !out.contains(wrong) && !err.contains(wrong),
        "the token was printed"
    );
    assert!(fake.world().droplets.is_empty());
    // The catalog's three lists start together; a 401 is not asked again.
    let calls = fake.calls();
    assert!(
        calls.len() <= 3 && calls.iter().all(|(_, s)| *s == 401),
        "{calls:?}"
    );

    // With the right token: the token is in no file oss wrote, and not in its output.
    p.set_env("OSS_TEST_DO_TOKEN", TOKEN);
    let out = ok(&p, &["apply", "--auto-approve"]);
    assert!(!out.contains(TOKEN));
    let (_, out, err) = p.run(&["plan", "--json"]);
    assert!(!out.contains(TOKEN) && !err.contains(TOKEN));
    for entry in walk(&p.path("state")) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(TOKEN),
            "{} holds the token",
            entry.display()
        );
    }
    ok(&p, &["destroy", "--auto-approve"]);
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
    fake.inject("regions_list", Fault::Throttle { retry_after: 1 }, 1);
    fake.inject("sizes_list", Fault::Status(503), 2);
    fake.inject("droplets_get", Fault::Status(500), 3);
    fake.inject("droplets_get", Fault::Hang(Duration::from_secs(3)), 1);
    fake.inject("firewalls_create", Fault::Throttle { retry_after: 1 }, 1);
    fake.inject("droplets_create", Fault::Status(503), 1);
    // Carried out, answer lost: the retry adopts the droplet instead of creating a second.
    fake.inject("droplets_create", Fault::Lose, 1);
    let p = project(&strategy("faults", &fake.url(), 3, nyc1()), TOKEN);
    let started = Instant::now();
    ok(&p, &["apply", "--auto-approve"]);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    let state = p.state("faults");
    assert_world_matches_state(&fake, &state, 3);
    // Every injected fault was met.
    let calls = fake.calls();
    let met = |op: &str, status: u16| {
        calls
            .iter()
            .filter(|(o, s)| o == op && *s == status)
            .count()
    };
    assert_eq!(met("regions_list", 429), 1);
    assert_eq!(met("sizes_list", 503), 2);
    assert_eq!(met("droplets_get", 500), 3);
    assert_eq!(met("droplets_get", 0), 1, "the hung call");
    assert_eq!(met("droplets_create", 503), 1);
    assert_eq!(met("droplets_create", 0), 1, "the lost answer");
    ok(&p, &["destroy", "--auto-approve"]);
    assert!(fake.world().droplets.is_empty());
    fake.assert_conforming();
}

/// Sends one raw request to the fake; returns the status line and body.
fn raw(fake: &DoFake, method: &str, target: &str, token: &str, body: Option<&str>) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", fake.port)).unwrap();
    let body = body.unwrap_or_default();
    let content_type = if body.is_empty() {
        ""
    } else {
        "content-type: application/json\r\n"
    };
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n{content_type}\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_fake_refuses_requests_the_document_does_not_allow_and_checks_its_answers() {
    let fake = fake();
    // Conforming: a list with declared parameters.
    let answer = raw(&fake, "GET", "/v2/sizes?per_page=2&page=2", TOKEN, None);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"prev\""), "page 2 links back: {answer}");
    fake.assert_conforming();
    // An undeclared parameter, a body missing its required `size`, an unknown path.
    let cases = [
        (
            "GET",
            "/v2/droplets?color=blue",
            None,
            "query parameter `color`",
        ),
        (
            "POST",
            "/v2/droplets",
            Some(r#"{"name": "a", "image": "x"}"#),
            "body:",
        ),
        ("GET", "/v2/nothing", None, "no path"),
        (
            "GET",
            "/v2/droplets?per_page=many",
            None,
            "parameter `per_page`",
        ),
    ];
    for (i, (method, target, body, says)) in cases.into_iter().enumerate() {
        let answer = raw(&fake, method, target, TOKEN, body);
        assert!(answer.starts_with("HTTP/1.1 400"), "{target}: {answer}");
        let violations = fake.violations();
        assert_eq!(violations.len(), i + 1, "{violations:?}");
        assert!(violations[i].contains(says), "{violations:?}");
    }
    assert!(fake.world().droplets.is_empty());
    // A wrong token gets DigitalOcean's 401, in its error shape.
    let answer = raw(&fake, "GET", "/v2/regions", "nope", None);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains(r#""id":"unauthorized""#), "{answer}");
    // The answer checker catches a droplet missing what the document requires.
    let spec = common::rest_fake::openapi::Spec::load(SPEC);
    let bad = json!({"droplet": {"id": 1, "name": "x"}});
    let e = spec
        .check_response("GET", "/v2/droplets/1", 200, Some(&bad))
        .unwrap_err();
    assert!(e.contains("required"), "{e}");
}

struct Plain;
impl oss::net::rest::Classify for Plain {
    fn error_fields(&self, body: &Value) -> (Option<String>, Option<String>) {
        (
            body["id"].as_str().map(String::from),
            body["message"].as_str().map(String::from),
        )
    }
}

#[tokio::test]
async fn the_rest_client_reads_every_page_in_one_call_each_and_honours_a_throttle() {
    use oss::net::rest::{Client, Paging, Token};
    let fake = fake();
    {
        let mut world = fake.world();
        for i in 0..450 {
            world.add_droplet("nyc1", &format!("d-{i}"), &["oss:lineage:L"]);
        }
        world.add_droplet("nyc1", "other", &["someone-else"]);
    }
    fake.inject("droplets_list", Fault::Throttle { retry_after: 1 }, 1);
    let client = Client::new(
        &fake.url(),
        Token::new(TOKEN.into()),
        Box::new(Plain),
        Paging::NextLink("/links/pages/next"),
    )
    .unwrap();
    let started = Instant::now();
    let all = client
        .list(
            "/v2/droplets",
            &[("tag_name", "oss:lineage:L".to_string())],
            200,
            "droplets",
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 450);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    // Three pages, one call each, plus the throttled one.
    assert_eq!(fake.count("droplets_list"), 4, "{:?}", fake.calls());
    let ids: std::collections::BTreeSet<u64> =
        all.iter().map(|d| d["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), 450, "no droplet twice");
    fake.assert_conforming();
}

fn bench_env(name: &str, default: usize, max: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
        .min(max)
}

/// In the suite, small (450 nodes, one plan): the refresh lists one page per page and no more.
/// With the bench's sizes, the figure `bash bench/rest-refresh.sh` records in BENCHMARKS.md (refresh
/// calls for 1,000 droplets). Applies `BENCH_NODES` nodes (1,000 in the bench) through the fake,
/// then runs `oss plan` `BENCH_RUNS` times (5 in the bench), printing one line per run:
/// `refresh NODES CALLS_OF_THE_DROPLET_LIST OTHER_CALLS MILLISECONDS`.
#[test]
fn bench_refresh_calls_for_1000_droplets() {
    let (nodes, runs) = (
        bench_env("BENCH_NODES", 450, 5000),
        bench_env("BENCH_RUNS", 1, 20),
    );
    let fake = fake();
    fake.world().boot = Duration::ZERO;
    let p = project(&strategy("bench", &fake.url(), nodes, nyc1()), TOKEN);
    p.ok(&["apply", "--auto-approve", "--parallelism", "32"]);
    assert_eq!(fake.world().droplets.len(), nodes);
    for _ in 0..runs {
        fake.reset_calls();
        let started = Instant::now();
        let (code, out, err) = p.run(&["plan", "--detailed-exitcode"]);
        let ms = started.elapsed().as_millis();
        assert_eq!(code, 0, "{out}\n{err}");
        let list = fake.count("droplets_list");
        let other = fake.calls().len() - list;
        println!("refresh {nodes} {list} {other} {ms}");
        assert_eq!(list, nodes.div_ceil(200), "one list call per page of 200");
    }
    fake.assert_conforming();
}

/// In the suite, small (20 nodes at 20 ms): one create per node, none twice. With the
/// bench's sizes, the figure `bash bench/rest-apply.sh` records in BENCHMARKS.md (apply time of
/// 100 droplets at 100 ms per call, `--parallelism 20`). Each of `BENCH_RUNS` runs (3 in
/// the bench) applies `BENCH_NODES` nodes (100 in the bench) to a fresh fake answering every call after
/// `BENCH_LATENCY_MS` (100 in the bench), printing
/// `apply NODES PARALLELISM LATENCY_MS CALLS NODE_CREATES NODE_GETS MILLISECONDS OTHER_OPS`.
#[test]
fn bench_apply_100_droplets_at_100ms_per_call() {
    let nodes = bench_env("BENCH_NODES", 20, 500);
    let runs = bench_env("BENCH_RUNS", 1, 10);
    let latency = bench_env("BENCH_LATENCY_MS", 20, 1000);
    let parallelism = bench_env("BENCH_PARALLELISM", 20, 64).to_string();
    for run in 0..runs {
        let fake = fake();
        fake.world().boot = Duration::ZERO;
        fake.set_delay(Duration::from_millis(latency as u64));
        let name = format!("bench{run}");
        let p = project(&strategy(&name, &fake.url(), nodes, nyc1()), TOKEN);
        let started = Instant::now();
        p.ok(&["apply", "--auto-approve", "--parallelism", &parallelism]);
        let ms = started.elapsed().as_millis();
        assert_eq!(fake.world().droplets.len(), nodes);
        let (creates, gets) = (fake.count("droplets_create"), fake.count("droplets_get"));
        assert_eq!(creates, nodes, "one create per node");
        let calls = fake.calls();
        let others: Vec<&str> = calls
            .iter()
            .map(|(op, _)| op.as_str())
            .filter(|op| !["droplets_create", "droplets_get"].contains(op))
            .collect();
        println!(
            "apply {nodes} {parallelism} {latency} {} {creates} {gets} {ms} {}",
            calls.len(),
            others.join(",")
        );
        fake.assert_conforming();
    }
}
