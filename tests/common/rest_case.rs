//! The cases every REST cloud driver passes, written once and run per provider against its
//! fake (`rest_fake`): a five-node fleet the fake's world agrees with, a plan without
//! changes, a node deleted behind oss's back replaced, destroy leaving nothing, adoption
//! after kill -9 mid-apply, fail-over on a capacity refusal with the reason shown, a wrong
//! token failing fast and never printed, convergence through 429s, 5xx and a timed-out call,
//! and the two benches (refresh calls, apply time) `bench/rest-*.sh` record.
//!
//! A provider states only its own facts by implementing [`RestCase`] for its world (its
//! names, its operations, its messages, what its fleet must look like), and
//! `rest_cases!(World)` makes the `#[test]`s. [`raw`] sends one hand-made request to a fake,
//! for the tests of a fake's own refusals.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::rest_fake::{Fake, Fault, World};
use super::{Project, plan_changes, wait_until};

/// The public key every project registers.
pub const PUBLIC_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHWnHZMLkm8VIHYXdljxkVSNn7dqN3Qv3CX3ShDNa0Ef oss-test";

/// The user data of the strategy's `command`.
const USER_DATA: &str = "#!/bin/sh\necho hello\n";

/// One node as a provider's world holds it, in the terms the cases check.
#[derive(Debug)]
pub struct Node {
    pub id: String,
    /// The address its marks name (`node.web[0]`), `?` without.
    pub address: String,
    /// The lineage its marks name.
    pub lineage: Option<String>,
    pub location: String,
    pub hardware: String,
    pub user_data: Option<String>,
}

/// What one provider's cases differ in: implemented by its fake's world.
pub trait RestCase: World + Sized {
    /// The provider's kind in the strategy.
    const PROVIDER: &'static str;
    /// The bundled OpenAPI document the fake is refereed by.
    const SPEC: &'static str;
    const TOKEN: &'static str;
    const WRONG_TOKEN: &'static str;
    /// The variable the strategy's `token` names (`env.NAME`).
    const TOKEN_ENV: &'static str;
    /// The variable oss's hint names on a refused token.
    const TOKEN_HINT: &'static str;
    /// What the provider's 401 says besides the status.
    const UNAUTHORIZED: &'static [&'static str];
    const IMAGE: &'static str;
    const HARDWARE: &'static str;
    /// Where the fleet goes, and where a capacity refusal there moves it.
    const HOME: &'static str;
    const FALLBACK: &'static str;
    /// The provider's word for a node, in messages (`droplet`).
    const NODE: &'static str;
    /// The operations that list, read and create nodes.
    const LIST_NODES: &'static str;
    const GET_NODE: &'static str;
    const CREATE_NODE: &'static str;
    /// The calls the apply bench counts as a node's polls (the node reads, Hetzner's action
    /// polls).
    const NODE_POLLS: &'static [&'static str];
    /// Nodes per page of the node list.
    const PAGE: usize;
    /// How many nodes the refresh bench makes in the suite.
    const REFRESH_NODES: usize = 450;
    /// Words of a secret of the provider's (a root password) that state must not hold.
    const NOT_IN_STATE: &'static [&'static str];
    /// The header a throttled answer asks for its wait in (`Retry-After`), if it does.
    const THROTTLE_WAIT: Option<&'static str>;

    fn world() -> Self;
    fn nodes(&self) -> Vec<Node>;
    /// Deletes a node behind oss's back; false when there was none of that id.
    fn delete_node(&mut self, id: &str) -> bool;
    fn keys(&self) -> usize;
    fn firewalls(&self) -> usize;
    /// How long a new node takes to be running.
    fn set_boot(&mut self, boot: Duration);
    /// Refuses creates of `hardware` at `location` for capacity.
    fn refuse_capacity(&mut self, location: &str, hardware: &str);
    /// What the output says of that refusal.
    fn capacity_says() -> Vec<&'static str>;
    /// The faults the convergence case injects: (operation, fault, how many).
    fn faults() -> Vec<(&'static str, Fault, usize)>;
    /// The provider's checks of the five-node fleet's world (its key, its firewall, what
    /// each node refers to) beyond what every provider's fleet is checked for.
    fn check_fleet(&self, lineage: &str);
    /// The checks of the hourly price state records (from the API).
    fn check_price(hourly: &Value);
    /// The checks of the calls a destroy of the fleet made.
    fn check_destroy(_calls: &[(String, u16)]) {}
}

/// Makes the `#[test]`s of [`RestCase`] for the world `$world`.
#[macro_export]
macro_rules! rest_cases {
    ($world:ty) => {
        #[test]
        fn five_nodes_round_trip_with_key_and_firewall_no_op_replace_and_destroy() {
            $crate::common::rest_case::round_trip::<$world>();
        }

        #[test]
        fn kill_9_during_apply_then_apply_again_adopts_without_duplicates() {
            $crate::common::rest_case::kill_9_then_adopt::<$world>();
        }

        #[test]
        fn a_capacity_refusal_fails_over_to_the_next_location_and_says_why() {
            $crate::common::rest_case::capacity_fail_over::<$world>();
        }

        #[test]
        fn a_wrong_token_fails_fast_and_no_token_is_ever_printed_or_stored() {
            $crate::common::rest_case::wrong_token::<$world>();
        }

        #[test]
        fn throttling_server_errors_and_a_timed_out_call_converge_without_duplicates() {
            $crate::common::rest_case::faults_converge::<$world>();
        }

        #[test]
        fn bench_refresh_calls_for_1000_nodes() {
            $crate::common::rest_case::bench_refresh::<$world>();
        }

        #[test]
        fn bench_apply_100_nodes_at_100ms_per_call() {
            $crate::common::rest_case::bench_apply::<$world>();
        }
    };
}

/// The provider's fake on loopback, accepting `C::TOKEN`.
pub fn fake<C: RestCase>() -> Fake<C> {
    Fake::start(C::world(), C::SPEC, C::TOKEN)
}

/// A strategy named `name` of `count` nodes of the provider at `endpoint`, at `locations`.
pub fn strategy<C: RestCase>(name: &str, endpoint: &str, count: usize, locations: Value) -> Value {
    json!({
        "name": name,
        "provider": {"options": [{(C::PROVIDER): {
            "endpoint": endpoint,
            "token": format!("env.{}", C::TOKEN_ENV),
            "request_timeout": 2
        }}]},
        "node": {
            "name": "web",
            "count": count,
            "image": {"options": [{"name": C::IMAGE}]},
            "hardware": {"options": [{"name": C::HARDWARE}]},
            "location": locations,
            "ports": [22, 443],
            "command": "echo hello",
            "ssh_public_key": "id.pub"
        }
    })
}

/// The location block of the provider's home location alone.
pub fn home<C: RestCase>() -> Value {
    json!({"options": [{"id": C::HOME}]})
}

/// A project of `strategy` with the public key and `token` in `C::TOKEN_ENV`.
pub fn project<C: RestCase>(strategy: &Value, token: &str) -> Project {
    let p = Project::with_strategy(strategy);
    std::fs::write(p.path("id.pub"), format!("{PUBLIC_KEY}\n")).unwrap();
    p.set_env(C::TOKEN_ENV, token);
    p
}

/// The state's resources whose address starts with `prefix`.
pub fn resources<'a>(state: &'a Value, prefix: &str) -> Vec<&'a Value> {
    state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["address"].as_str().unwrap().starts_with(prefix))
        .collect()
}

/// The address and lineage tags (`oss:node:GROUP:INDEX`, `oss:lineage:L`) name.
pub fn marks_of_tags(tags: &[String]) -> (String, Option<String>) {
    let address = tags
        .iter()
        .find_map(|t| t.strip_prefix("oss:node:"))
        .map(|rest| {
            let (group, index) = rest.rsplit_once(':').unwrap();
            format!("node.{group}[{index}]")
        })
        .unwrap_or_else(|| "?".into());
    let lineage = tags
        .iter()
        .find_map(|t| t.strip_prefix("oss:lineage:"))
        .map(String::from);
    (address, lineage)
}

/// The fake's nodes' ids by the address their marks name.
pub fn nodes_by_address<C: RestCase>(fake: &Fake<C>) -> BTreeMap<String, Vec<String>> {
    let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for node in fake.world().nodes() {
        by.entry(node.address).or_default().push(node.id);
    }
    by
}

/// The world holds exactly the state's nodes, by id, each address once.
pub fn assert_world_matches_state<C: RestCase>(fake: &Fake<C>, state: &Value, count: usize) {
    let by = nodes_by_address(fake);
    assert_eq!(by.len(), count, "{by:?}");
    for node in resources(state, "node.") {
        let address = node["address"].as_str().unwrap();
        let id = node["provider_id"].as_str().unwrap().to_string();
        assert_eq!(by.get(address), Some(&vec![id]), "{address}: {by:?}");
    }
}

/// Every file below `dir`.
pub fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
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

/// Sends one raw request to `fake` with the bearer `token`, `headers` and a JSON `body`;
/// returns the status line, headers and body of the answer.
pub fn raw<W: World>(
    fake: &Fake<W>,
    method: &str,
    target: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", fake.port)).unwrap();
    let mut head: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    if let Some(body) = body {
        head.push_str(&format!(
            "content-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        ));
    }
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n{head}\
         connection: close\r\n\r\n{}",
        body.unwrap_or_default()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// Create five nodes, then the no-change plan, a node deleted behind oss's back replaced,
/// and destroy, one after the other on the one fleet.
pub fn round_trip<C: RestCase>() {
    let fake = fake::<C>();
    let p = project::<C>(
        &strategy::<C>("fleet", &fake.url(), 5, home::<C>()),
        C::TOKEN,
    );
    let state = create_five(&fake, &p);
    plan_without_changes(&fake, &p);
    deleted_behind_the_back_is_replaced(&fake, &p, &state);
    destroy_leaves_nothing(&fake, &p);
}

/// `apply` of five nodes: the world holds them with one key and one firewall, marked with
/// the lineage, at the home location with the hardware and user data asked for; state has
/// the API's price and an address and holds no root password.
fn create_five<C: RestCase>(fake: &Fake<C>, p: &Project) -> Value {
    p.ok(&["apply", "--auto-approve"]);
    let state = p.state("fleet");
    let lineage = state["lineage"].as_str().unwrap().to_string();
    assert_world_matches_state(fake, &state, 5);
    {
        let world = fake.world();
        assert_eq!(world.keys(), 1, "one key registered");
        assert_eq!(world.firewalls(), 1);
        for node in world.nodes() {
            assert_eq!(node.lineage.as_deref(), Some(lineage.as_str()), "{node:?}");
            assert_eq!(
                (node.location.as_str(), node.hardware.as_str()),
                (C::HOME, C::HARDWARE),
                "{node:?}"
            );
            assert_eq!(node.user_data.as_deref(), Some(USER_DATA), "{node:?}");
        }
        world.check_fleet(&lineage);
    }
    // Prices come from the API.
    let node = resources(&state, "node.web[0]")[0];
    C::check_price(&node["placement"]["hourly_price"]);
    assert!(
        node["observed"]["public_ip"]
            .as_str()
            .unwrap()
            .starts_with("203.0.113.")
    );
    let text = serde_json::to_string(&state).unwrap();
    for word in C::NOT_IN_STATE {
        assert!(!text.contains(word), "no root password in state: {word}");
    }
    state
}

/// No changes, and refresh lists the nodes once (one page), never one call per node.
fn plan_without_changes<C: RestCase>(fake: &Fake<C>, p: &Project) {
    fake.reset_calls();
    let (code, out, err) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "no changes\n{out}\n{err}");
    assert_eq!(fake.count(C::LIST_NODES), 1, "{:?}", fake.calls());
    assert_eq!(fake.count(C::GET_NODE), 0, "{:?}", fake.calls());
}

/// A node deleted behind oss's back is planned and created again, under a new id.
fn deleted_behind_the_back_is_replaced<C: RestCase>(fake: &Fake<C>, p: &Project, state: &Value) {
    let gone = resources(state, "node.web[2]")[0]["provider_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(fake.world().delete_node(&gone));
    let changes = plan_changes(p, &[]);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].0, "node.web[2]");
    p.ok(&["apply", "--auto-approve"]);
    let state = p.state("fleet");
    assert_world_matches_state(fake, &state, 5);
    assert_ne!(resources(&state, "node.web[2]")[0]["provider_id"], gone);
}

/// `destroy` leaves no node, key or firewall, and every call conformed.
fn destroy_leaves_nothing<C: RestCase>(fake: &Fake<C>, p: &Project) {
    fake.reset_calls();
    p.ok(&["destroy", "--auto-approve"]);
    C::check_destroy(&fake.calls());
    let world = fake.world();
    assert!(world.nodes().is_empty(), "{}s left", C::NODE);
    assert_eq!(world.keys(), 0, "keys left");
    assert_eq!(world.firewalls(), 0, "firewalls left");
    drop(world);
    fake.assert_conforming();
}

/// kill -9 of an apply waiting for its nodes, then `force-unlock` and apply again: every
/// node created before the kill is adopted, none made twice, one key and one firewall.
pub fn kill_9_then_adopt<C: RestCase>() {
    let fake = fake::<C>();
    // Nodes take a while to be running, so the apply is caught waiting.
    fake.world().set_boot(Duration::from_secs(30));
    let p = project::<C>(
        &strategy::<C>("crash", &fake.url(), 5, home::<C>()),
        C::TOKEN,
    );
    let mut child = p
        .oss()
        .args(["apply", "--auto-approve", "--parallelism", "5"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let created = wait_until(Duration::from_secs(60), || fake.world().nodes().len() >= 3);
    // The precondition: nodes exist and the apply has not finished.
    assert!(created, "the apply created no {}s", C::NODE);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the apply ended before the kill"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let before = nodes_by_address(&fake);
    let state = p.state("crash");
    let known = resources(&state, "node.").len();
    assert!(
        known < before.len(),
        "state knew every {} already: {known}",
        C::NODE
    );

    // The dead apply's lock is stale; it is removed the documented way.
    let lock: Value =
        serde_json::from_slice(&std::fs::read(p.path("state/crash.lock")).unwrap()).unwrap();
    p.ok(&["force-unlock", lock["id"].as_str().unwrap()]);
    fake.world().set_boot(Duration::from_millis(100));
    p.ok(&["apply", "--auto-approve"]);
    let state = p.state("crash");
    assert_world_matches_state(&fake, &state, 5);
    // Every node created before the kill is the one state now holds.
    let after = nodes_by_address(&fake);
    for (address, ids) in &before {
        assert_eq!(after.get(address), Some(ids), "{address} was not adopted");
    }
    assert_eq!(fake.world().keys(), 1);
    assert_eq!(fake.world().firewalls(), 1);
    p.ok(&["destroy", "--auto-approve"]);
    assert!(fake.world().nodes().is_empty());
    fake.assert_conforming();
}

/// A capacity refusal at the home location moves the nodes to the fallback, the output
/// saying why; the result plans no changes and destroys to nothing.
pub fn capacity_fail_over<C: RestCase>() {
    let fake = fake::<C>();
    fake.world().refuse_capacity(C::HOME, C::HARDWARE);
    let locations = json!({"options": [{"id": C::HOME}, {"id": C::FALLBACK}], "pick": "first"});
    let p = project::<C>(
        &strategy::<C>("capacity", &fake.url(), 2, locations),
        C::TOKEN,
    );
    let (code, out, err) = p.run(&["apply", "--auto-approve", "--parallelism", "1"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let all = format!("{out}\n{err}");
    for says in C::capacity_says() {
        assert!(all.contains(says), "the output says why ({says})\n{all}");
    }
    assert!(out.contains("fail-over node.web[0]"), "{out}");
    let state = p.state("capacity");
    for node in resources(&state, "node.") {
        assert_eq!(node["placement"]["location"], C::FALLBACK, "{node:#}");
    }
    let nodes = fake.world().nodes();
    assert!(nodes.iter().all(|n| n.location == C::FALLBACK), "{nodes:?}");
    let (code, out, _) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");
    p.ok(&["destroy", "--auto-approve"]);
    assert!(fake.world().nodes().is_empty());
    assert_eq!(fake.world().firewalls(), 0);
    fake.assert_conforming();
}

/// A wrong token: the apply fails at once (no retry of a 401), names the variable, prints
/// neither token; with the right one, no token in the output or any file state holds.
pub fn wrong_token<C: RestCase>() {
    let fake = fake::<C>();
    let wrong = C::WRONG_TOKEN;
    let p = project::<C>(&strategy::<C>("auth", &fake.url(), 2, home::<C>()), wrong);
    let started = Instant::now();
    let (code, out, err) = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it retried a 401"
    );
    assert!(err.contains("401"), "{err}");
    for says in C::UNAUTHORIZED {
        assert!(err.contains(says), "{says}\n{err}");
    }
    assert!(
        err.contains(C::TOKEN_HINT),
        "the hint names the variable\n{err}"
    );
    assert!(
        !out.contains(wrong) && !err.contains(wrong),
        "the token was printed"
    );
    assert!(fake.world().nodes().is_empty());
    // The catalog's three lists start together; a 401 is not asked again.
    let calls = fake.calls();
    assert!(
        calls.len() <= 3 && calls.iter().all(|(_, s)| *s == 401),
        "{calls:?}"
    );

    // With the right token: the token is in no file oss wrote, and not in its output.
    p.set_env(C::TOKEN_ENV, C::TOKEN);
    let out = p.ok(&["apply", "--auto-approve"]);
    assert!(!out.contains(C::TOKEN));
    let (_, out, err) = p.run(&["plan", "--json"]);
    assert!(!out.contains(C::TOKEN) && !err.contains(C::TOKEN));
    for entry in walk(&p.path("state")) {
        let text = String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned();
        assert!(
            !text.contains(C::TOKEN),
            "{} holds the token",
            entry.display()
        );
    }
    p.ok(&["destroy", "--auto-approve"]);
    fake.assert_conforming();
}

/// The status a call that met `fault` is recorded with (0: no answer).
fn status_of(fault: &Fault) -> u16 {
    match fault {
        Fault::Throttle { .. } => 429,
        Fault::Status(status) => *status,
        Fault::Hang(_) | Fault::Lose => 0,
    }
}

/// Through the provider's faults (throttles, 5xx, a hung call, a create carried out whose
/// answer is lost) the apply converges: every fault met, the throttle's wait honoured, no
/// node made twice, one firewall.
pub fn faults_converge<C: RestCase>() {
    let fake = fake::<C>();
    let faults = C::faults();
    for (op, fault, count) in &faults {
        fake.inject(op, fault.clone(), *count);
    }
    let p = project::<C>(
        &strategy::<C>("faults", &fake.url(), 3, home::<C>()),
        C::TOKEN,
    );
    let started = Instant::now();
    p.ok(&["apply", "--auto-approve"]);
    if let Some(header) = C::THROTTLE_WAIT {
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "{header} was not honoured"
        );
    }
    let state = p.state("faults");
    assert_world_matches_state(&fake, &state, 3);
    // Every injected fault was met.
    let mut expected: BTreeMap<(&str, u16), usize> = BTreeMap::new();
    for (op, fault, count) in &faults {
        *expected.entry((*op, status_of(fault))).or_default() += count;
    }
    let calls = fake.calls();
    for ((op, status), count) in expected {
        let met = calls
            .iter()
            .filter(|(o, s)| o == op && *s == status)
            .count();
        assert_eq!(met, count, "{op} answered {status} (0: none): {calls:?}");
    }
    assert_eq!(fake.world().firewalls(), 1, "one firewall");
    p.ok(&["destroy", "--auto-approve"]);
    assert!(fake.world().nodes().is_empty());
    fake.assert_conforming();
}

/// The variable `name` as a number, `default` without, at most `max`.
fn bench_env(name: &str, default: usize, max: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
        .min(max)
}

/// In the suite, small (`C::REFRESH_NODES` nodes, one plan): the refresh lists one page per
/// page and no more. With the bench's sizes, the figure `bash bench/rest-refresh.sh` records
/// in BENCHMARKS.md (refresh calls for 1,000 nodes). Applies `BENCH_NODES` nodes (1,000 in
/// the bench) through the fake, then runs `oss plan` `BENCH_RUNS` times (5 in the bench),
/// printing one line per run: `refresh NODES CALLS_OF_THE_NODE_LIST OTHER_CALLS MILLISECONDS`.
pub fn bench_refresh<C: RestCase>() {
    let (nodes, runs) = (
        bench_env("BENCH_NODES", C::REFRESH_NODES, 5000),
        bench_env("BENCH_RUNS", 1, 20),
    );
    let fake = fake::<C>();
    fake.world().set_boot(Duration::ZERO);
    let p = project::<C>(
        &strategy::<C>("bench", &fake.url(), nodes, home::<C>()),
        C::TOKEN,
    );
    p.ok(&["apply", "--auto-approve", "--parallelism", "32"]);
    assert_eq!(fake.world().nodes().len(), nodes);
    for _ in 0..runs {
        fake.reset_calls();
        let started = Instant::now();
        let (code, out, err) = p.run(&["plan", "--detailed-exitcode"]);
        let ms = started.elapsed().as_millis();
        assert_eq!(code, 0, "{out}\n{err}");
        let list = fake.count(C::LIST_NODES);
        let other = fake.calls().len() - list;
        println!("refresh {nodes} {list} {other} {ms}");
        assert_eq!(
            list,
            nodes.div_ceil(C::PAGE),
            "one list call per page of {}",
            C::PAGE
        );
    }
    fake.assert_conforming();
}

/// In the suite, small (20 nodes at 20 ms): one create per node, none twice. With the
/// bench's sizes, the figure `bash bench/rest-apply.sh` records in BENCHMARKS.md (apply time
/// of 100 nodes at 100 ms per call, `--parallelism 20`). Each of `BENCH_RUNS` runs (3 in
/// the bench) applies `BENCH_NODES` nodes (100 in the bench) to a fresh fake answering every
/// call after `BENCH_LATENCY_MS` (100 in the bench), printing
/// `apply NODES PARALLELISM LATENCY_MS CALLS NODE_CREATES NODE_GETS MILLISECONDS OTHER_OPS`
/// (the gets count the calls of `C::NODE_POLLS`).
pub fn bench_apply<C: RestCase>() {
    let nodes = bench_env("BENCH_NODES", 20, 500);
    let runs = bench_env("BENCH_RUNS", 1, 10);
    let latency = bench_env("BENCH_LATENCY_MS", 20, 1000);
    let parallelism = bench_env("BENCH_PARALLELISM", 20, 64).to_string();
    for run in 0..runs {
        let fake = fake::<C>();
        fake.world().set_boot(Duration::ZERO);
        fake.set_delay(Duration::from_millis(latency as u64));
        let name = format!("bench{run}");
        let p = project::<C>(
            &strategy::<C>(&name, &fake.url(), nodes, home::<C>()),
            C::TOKEN,
        );
        let started = Instant::now();
        p.ok(&["apply", "--auto-approve", "--parallelism", &parallelism]);
        let ms = started.elapsed().as_millis();
        assert_eq!(fake.world().nodes().len(), nodes);
        let creates = fake.count(C::CREATE_NODE);
        let gets: usize = C::NODE_POLLS.iter().map(|op| fake.count(op)).sum();
        assert_eq!(creates, nodes, "one create per node");
        let calls = fake.calls();
        let others: Vec<&str> = calls
            .iter()
            .map(|(op, _)| op.as_str())
            .filter(|op| *op != C::CREATE_NODE && !C::NODE_POLLS.contains(op))
            .collect();
        println!(
            "apply {nodes} {parallelism} {latency} {} {creates} {gets} {ms} {}",
            calls.len(),
            others.join(",")
        );
        fake.assert_conforming();
    }
}
