//! The load-balanced example on real components: three local web nodes, each answering with
//! its name, behind a real HAProxy that oss runs, with `web.oss.test` on a real BIND 9.
//! `dig` resolves the name and `curl` goes through it; HAProxy's own stats socket says which
//! members it sends to. A killed node is dropped within three health-check intervals and
//! rejoins after the next apply; scaling 3 → 5 and a rolling replacement of every node under
//! a bounded load of 2,000 requests lose none. The balancer is updated in place throughout:
//! its HAProxy master keeps its pid.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::Project;
use common::bind::{Bind, KEY_NAME, ZONE};
use serde_json::{Value, json};

const HAPROXY: &str = "/usr/sbin/haproxy";
const CURL: &str = "/usr/bin/curl";
/// The example's health-check interval.
const INTERVAL: Duration = Duration::from_millis(500);

fn require_tools() {
    for tool in [HAPROXY, CURL] {
        assert!(
            std::path::Path::new(tool).exists(),
            "the load-balancer tests need {tool}: apt-get install haproxy curl (scripts/test.sh installs them)"
        );
    }
}

/// `examples/load-balanced.json` with `count` nodes, the balancer on `port` and the zone on
/// `bind`.
fn strategy(bind: &Bind, port: u16, count: usize) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/load-balanced.json");
    let mut s: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    s["nodes"]["web"]["count"] = count.into();
    s["lb"]["web"]["listeners"][0]["port"] = port.into();
    s["dns"]["zone"] = json!(ZONE);
    s["dns"]["provider"]["rfc2136"] = json!({
        "server": bind.server(),
        "key_name": KEY_NAME,
        "key_secret": "env.OSS_TSIG_SECRET"
    });
    s
}

fn project(bind: &Bind, port: u16, count: usize) -> Project {
    let p = Project::with_strategy(&strategy(bind, port, count));
    p.set_env("OSS_TSIG_SECRET", &bind.secret);
    p
}

/// `curl http://web.ZONE:PORT/` with the name resolved by `dig` on the test's BIND.
fn curl_by_name(bind: &Bind, port: u16) -> String {
    let name = format!("web.{ZONE}");
    let found = bind.dig(&name, "A");
    assert_eq!(found.len(), 1, "dig {name} gives the balancer: {found:?}");
    let out = Command::new(CURL)
        .args([
            "-sS",
            "--max-time",
            "5",
            "--resolve",
            &format!("{name}:{port}:{}", found[0]),
            &format!("http://{name}:{port}/"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The one balancer's resource in state.
fn balancer(p: &Project) -> Value {
    let state = p.state("load-balanced");
    state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "lb.web")
        .cloned()
        .expect("lb.web is in state")
}

/// HAProxy's own view over its stats socket: server name → status (`UP`, `DOWN`...).
fn server_status(p: &Project) -> BTreeMap<String, String> {
    let id = balancer(p)["provider_id"].as_str().unwrap().to_string();
    let socket = p.path(&format!("state/haproxy/{id}/stats.sock"));
    let mut stream = UnixStream::connect(&socket).unwrap();
    stream.write_all(b"show stat\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    // CSV: pxname,svname,...; the status is column 17 (0-based).
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(',').collect();
            let (name, status) = (fields.get(1)?, fields.get(17)?);
            (*name != "FRONTEND" && *name != "BACKEND")
                .then(|| (name.to_string(), status.to_string()))
        })
        .collect()
}

/// The pid state records for node `web-INDEX`.
fn node_pid(p: &Project, index: usize) -> i32 {
    let state = p.state("load-balanced");
    let node = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == format!("node.web[{index}]"))
        .cloned()
        .unwrap();
    node["observed"]["pid"].as_i64().unwrap() as i32
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !matches!(s.rsplit_once(") ").map(|(_, r)| &r[..1]), Some("Z" | "X")))
}

#[test]
fn curl_by_name_reaches_every_node_in_turn_and_a_killed_node_is_dropped_then_replaced() {
    require_tools();
    let bind = Bind::start();
    let port = common::moto::free_port();
    let p = project(&bind, port, 3);
    let plan = p.ok(&["plan"]);
    assert!(plan.contains("+ lb.web"), "{plan}");
    p.ok(&["apply", "--auto-approve"]);
    assert_eq!(bind.dig(&format!("web.{ZONE}"), "A"), ["127.0.0.1"]);
    // Round robin: three requests in a row reach the three nodes.
    let answers: Vec<String> = (0..6).map(|_| curl_by_name(&bind, port)).collect();
    let names = ["web-0", "web-1", "web-2"];
    for window in answers.chunks(3) {
        let got: BTreeSet<&str> = window.iter().map(String::as_str).collect();
        assert_eq!(got, names.into_iter().collect(), "{answers:?}");
    }
    let master = balancer(&p)["observed"]["pid"].clone();
    assert!(master.is_i64(), "{master}");

    // Kill web-1 by its pid: HAProxy sees it down within three intervals.
    let victim = node_pid(&p, 1);
    assert!(alive(victim), "web-1 runs before it is killed");
    assert_eq!(server_status(&p)["web-1"], "UP");
    unsafe {
        libc::kill(-victim, libc::SIGKILL);
        libc::kill(victim, libc::SIGKILL);
    }
    let killed = Instant::now();
    assert!(common::wait_until(Duration::from_secs(2), || !alive(
        victim
    )));
    let down = common::wait_until(3 * INTERVAL, || {
        server_status(&p).get("web-1").map(String::as_str) == Some("DOWN")
    });
    let took = killed.elapsed();
    assert!(
        down,
        "HAProxy still sends to the killed node after {took:?}: {:?}",
        server_status(&p)
    );
    // It gets nothing; the others still answer.
    for _ in 0..4 {
        assert_ne!(curl_by_name(&bind, port), "web-1");
    }

    // The next apply replaces it and it rejoins; the balancer is updated, not replaced.
    let plan = p.ok(&["plan"]);
    assert!(plan.contains("~ lb.web"), "{plan}");
    p.ok(&["apply", "--auto-approve"]);
    assert!(common::wait_until(Duration::from_secs(5), || {
        server_status(&p).get("web-1").map(String::as_str) == Some("UP")
    }));
    let answers: BTreeSet<String> = (0..6).map(|_| curl_by_name(&bind, port)).collect();
    assert_eq!(answers, names.iter().map(|n| n.to_string()).collect());
    assert_eq!(balancer(&p)["observed"]["pid"], master);

    p.ok(&["destroy", "--auto-approve"]);
    assert!(p.node_processes().is_empty(), "{:?}", p.node_processes());
    assert!(!p.path("state/haproxy").read_dir().unwrap().any(|_| true));
}

/// One HTTP/1.0 GET through the balancer: the body, or what went wrong.
fn get(port: u16) -> Result<String, String> {
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(stream, "GET / HTTP/1.0\r\nHost: web\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    match response.split_once("\r\n\r\n") {
        Some((head, body))
            if head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200") =>
        {
            Ok(body.trim().to_string())
        }
        _ => Err(response.lines().next().unwrap_or("no response").to_string()),
    }
}

#[test]
fn scaling_and_a_rolling_replace_under_load_lose_no_request() {
    require_tools();
    let bind = Bind::start();
    let port = common::moto::free_port();
    let p = project(&bind, port, 3);
    p.ok(&["apply", "--auto-approve"]);
    let master = balancer(&p)["observed"]["pid"].clone();

    // At most 2,000 requests and at most 120 s, paced to outlast the changes below.
    const REQUESTS: usize = 2_000;
    let changing = Arc::new(AtomicBool::new(true));
    let load = {
        let changing = changing.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut failures = Vec::new();
            let mut seen = BTreeSet::new();
            let mut during = 0;
            for _ in 0..REQUESTS {
                if Instant::now() >= deadline {
                    break;
                }
                match get(port) {
                    Ok(name) => {
                        seen.insert(name);
                    }
                    Err(e) => failures.push(e),
                }
                if changing.load(Ordering::SeqCst) {
                    during += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            (failures, seen, during)
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    p.write_strategy(&strategy(&bind, port, 5));
    p.ok(&["apply", "--auto-approve"]);
    let mut replaced = Vec::new();
    for index in 0..5 {
        let before = node_pid(&p, index);
        p.ok(&[
            "apply",
            "--auto-approve",
            "--replace",
            &format!("node.web[{index}]"),
        ]);
        let after = node_pid(&p, index);
        assert_ne!(before, after, "node.web[{index}] was replaced");
        replaced.push(after);
    }
    // Every node at once: the new ones are up and in the balancer before the old ones go.
    let out = p.ok(&["apply", "--auto-approve", "--replace", "node.web"]);
    for (index, before) in replaced.iter().enumerate() {
        assert_ne!(node_pid(&p, index), *before, "{out}");
    }
    changing.store(false, Ordering::SeqCst);
    let (failures, seen, during) = load.join().unwrap();
    assert!(
        during < REQUESTS,
        "the load ran out ({during} requests) before the changes ended"
    );
    assert!(
        failures.is_empty(),
        "{} failed: {failures:?}",
        failures.len()
    );
    let all: BTreeSet<String> = (0..5).map(|i| format!("web-{i}")).collect();
    assert_eq!(seen, all, "every member, the new ones too, answered");
    // One balancer throughout: the same HAProxy master took every change by reload.
    assert_eq!(balancer(&p)["observed"]["pid"], master);
    assert_eq!(server_status(&p).len(), 5);
    assert!(replaced.iter().all(|pid| !alive(*pid)));
    p.ok(&["destroy", "--auto-approve"]);
}

#[test]
fn a_group_behind_a_balancer_creates_first_unless_it_says_no() {
    require_tools();
    let bind = Bind::start();
    let mut s = strategy(&bind, common::moto::free_port(), 1);
    let p = Project::with_strategy(&s);
    p.set_env("OSS_TSIG_SECRET", &bind.secret);
    let plan = p.ok(&["plan"]);
    assert!(plan.contains("+ create_before_destroy = true"), "{plan}");
    s["nodes"]["web"]["create_before_destroy"] = false.into();
    p.write_strategy(&s);
    let plan = p.ok(&["plan"]);
    assert!(!plan.contains("create_before_destroy"), "{plan}");
}

#[test]
fn a_balancer_naming_no_group_or_a_port_the_group_lacks_is_refused_where_it_is_written() {
    let mut s: Value = serde_json::from_slice(
        &std::fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/load-balanced.json"),
        )
        .unwrap(),
    )
    .unwrap();
    s.as_object_mut().unwrap().remove("dns");
    s["lb"]["web"]["members"] = json!("wbe");
    let p = Project::with_strategy(&s);
    let (code, _, err) = p.run(&["validate"]);
    assert_ne!(code, 0);
    let text = std::fs::read_to_string(p.path("strategy.json")).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("\"members\": \"wbe\""))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!("strategy.json:{line}:"))
            && err.contains("at /lb/web/members: There is no node group \"wbe\".")
            && err.contains("did you mean \"web\"?"),
        "{err}"
    );
    s["lb"]["web"]["members"] = json!("web");
    s["lb"]["web"]["listeners"][0]["target_port"] = json!(9999);
    p.write_strategy(&s);
    let (code, _, err) = p.run(&["validate"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("at /lb/web/listeners/0/target_port: Port 9999 is not one of group \"web\"'s ports ([8080])."),
        "{err}"
    );
    assert!(!p.path("state").exists(), "nothing was made");
}

/// The master pid the marker of the one balancer directory records, once HAProxy started.
fn marked_master(p: &Project) -> Option<i64> {
    let dir = std::fs::read_dir(p.path("state/haproxy"))
        .ok()?
        .flatten()
        .next()?;
    let marker: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("balancer.json")).ok()?).ok()?;
    marker["pid"].as_i64()
}

#[test]
fn an_apply_killed_after_haproxy_started_leaves_no_orphan_the_next_apply_adopts_it() {
    require_tools();
    let bind = Bind::start();
    let p = project(&bind, common::moto::free_port(), 2);
    let mut child = p
        .oss()
        .args(["apply", "--auto-approve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = common::wait_until(Duration::from_secs(60), || marked_master(&p).is_some());
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let status = child.wait().unwrap();
    assert!(started, "HAProxy never started");
    // The precondition: killed mid-apply, HAProxy running and not yet in state.
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "the kill landed mid-apply"
    );
    let journal =
        std::fs::read_to_string(p.path("state/load-balanced.journal")).unwrap_or_default();
    assert!(
        !journal.contains("lb.web"),
        "killed before lb.web was recorded"
    );
    let master = marked_master(&p).unwrap() as i32;
    assert!(alive(master), "the killed apply's HAProxy runs");

    let lock: Value =
        serde_json::from_slice(&std::fs::read(p.path("state/load-balanced.lock")).unwrap())
            .unwrap();
    p.ok(&["force-unlock", lock["id"].as_str().unwrap()]);
    p.ok(&["apply", "--auto-approve"]);
    // Adopted, not started twice: one balancer directory, the same master, in state.
    let dirs = std::fs::read_dir(p.path("state/haproxy")).unwrap().count();
    assert_eq!(dirs, 1);
    assert_eq!(balancer(&p)["observed"]["pid"], master);
    // Masters: the balancer's processes whose parent is not one of them (workers are children).
    let processes: Vec<i32> = p
        .node_processes()
        .into_iter()
        .filter(|(_, dir)| dir.contains("/state/haproxy/"))
        .map(|(pid, _)| pid)
        .collect();
    let parent = |pid: i32| -> i32 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit_once(") ")
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    };
    let masters: Vec<i32> = processes
        .iter()
        .copied()
        .filter(|pid| !processes.contains(&parent(*pid)))
        .collect();
    assert_eq!(masters, [master], "one HAProxy master: {processes:?}");
    assert_eq!(server_status(&p).len(), 2);
    p.ok(&["destroy", "--auto-approve"]);
    assert!(!alive(master));
}

#[test]
fn a_listener_port_someone_else_holds_fails_the_apply_clearly_and_leaves_no_haproxy() {
    require_tools();
    let bind = Bind::start();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let p = project(&bind, port, 1);
    let (code, _, err) = p.run(&["apply", "--auto-approve"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("lb.web") && err.contains("HAProxy") && err.contains(&port.to_string()),
        "{err}"
    );
    let left: Vec<_> = p
        .node_processes()
        .into_iter()
        .filter(|(_, dir)| dir.contains("/state/haproxy/"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(!p.path("state/haproxy").read_dir().unwrap().any(|_| true));
    // Freed, the next apply makes it.
    drop(taken);
    p.ok(&["apply", "--auto-approve"]);
    assert_eq!(server_status(&p).len(), 1);
}
