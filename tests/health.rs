//! `oss monitor`, `auto_repair` and `oss logs` against real local nodes: a node's process is
//! killed by pid, the monitor sees it go down, replaces it through the engine (or waits while
//! another apply holds the lock), and sees the new node come up; logs are read, filtered by
//! time and followed.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use common::Project;
use serde_json::{Value, json};

/// The sample fleet of `count` nodes, probed over HTTP every 200 ms (up after 1 success,
/// down after 2 failures), repaired when `repair`.
fn watched(count: usize, repair: bool) -> Value {
    let mut strategy: Value =
        serde_json::from_str(include_str!("../strategy.sample.json")).unwrap();
    strategy["node"]["count"] = count.into();
    strategy["node"]["health"] = json!({
        "type": "http", "path": "/", "interval": "200ms", "timeout": "150ms",
        "healthy_threshold": 1, "unhealthy_threshold": 2
    });
    strategy["node"]["auto_repair"] = repair.into();
    strategy
}

/// `oss monitor ARGS` with its stdout read line by line (JSON) in a thread; killed by pid
/// when dropped.
struct Monitor {
    child: Child,
    lines: Receiver<Value>,
    seen: Vec<Value>,
    /// Lines read but not yet taken by a `wait_for` (lines of two nodes come in any order).
    unclaimed: Vec<Value>,
}

impl Monitor {
    fn start(p: &Project, args: &[&str]) -> Monitor {
        let mut child = p
            .oss()
            .arg("monitor")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("oss monitor starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
                if tx.send(value).is_err() {
                    return;
                }
            }
        });
        Monitor {
            child,
            lines,
            seen: Vec::new(),
            unclaimed: Vec::new(),
        }
    }

    /// The first line not taken yet that `wanted` accepts (read before or within `timeout`).
    fn wait_for(
        &mut self,
        timeout: Duration,
        what: &str,
        wanted: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(i) = self.unclaimed.iter().position(&wanted) {
            return self.unclaimed.remove(i);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                    self.unclaimed.push(line);
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => panic!(
                    "no {what} within {timeout:?}; the monitor printed:\n{}",
                    self.seen
                        .iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            }
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is(line: &Value, event: &str, address: &str) -> bool {
    line["event"] == event && line["address"] == address
}

fn provider_id(p: &Project, address: &str) -> String {
    node(p, address)["provider_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn node(p: &Project, address: &str) -> Value {
    p.state("hello")["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == address)
        .cloned()
        .unwrap_or_else(|| panic!("{address} is not in the state"))
}

/// The pid of the node's process as the state records it.
fn pid(p: &Project, address: &str) -> u64 {
    node(p, address)["observed"]["pid"].as_u64().unwrap()
}

/// Kills every process of the node whose provider id is `id` (its process group), by pid.
fn kill_node(p: &Project, id: &str) {
    let dir = p.path(&format!("state/local/{id}"));
    let pids: Vec<i32> = p
        .node_processes()
        .into_iter()
        .filter(|(_, d)| std::path::Path::new(d) == dir)
        .map(|(pid, _)| pid)
        .collect();
    assert!(!pids.is_empty(), "node {id} has no process to kill");
    for pid in pids {
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

#[test]
fn a_killed_node_is_seen_down_replaced_through_the_engine_and_seen_up_again() {
    let p = Project::with_strategy(&watched(2, true));
    p.ok(&["apply", "--auto-approve"]);
    let old = provider_id(&p, "node.web[0]");
    let old_pid = pid(&p, "node.web[0]");
    let mut monitor = Monitor::start(&p, &["--for", "90s"]);
    for address in ["node.web[0]", "node.web[1]"] {
        let up = monitor.wait_for(Duration::from_secs(20), "first up", |l| {
            is(l, "transition", address)
        });
        assert_eq!(
            (up["from"].as_str(), up["to"].as_str()),
            (Some("unknown"), Some("up"))
        );
    }
    kill_node(&p, &old);
    let down = monitor.wait_for(Duration::from_secs(10), "down transition", |l| {
        is(l, "transition", "node.web[0]")
    });
    assert_eq!(down["to"], "down", "{down}");
    assert_eq!(down["provider_id"], old.as_str());
    assert_eq!(down["observer"], "monitor");
    assert!(!down["detail"].as_str().unwrap().is_empty(), "{down}");
    monitor.wait_for(Duration::from_secs(5), "repair start", |l| {
        is(l, "repair-started", "node.web[0]")
    });
    let repaired = monitor.wait_for(Duration::from_secs(60), "repair", |l| {
        is(l, "repair", "node.web[0]")
    });
    assert_eq!(repaired["outcome"], "replaced", "{repaired}");
    let up = monitor.wait_for(Duration::from_secs(20), "the new node up", |l| {
        is(l, "transition", "node.web[0]")
    });
    assert_eq!(up["to"], "up", "{up}");
    // A new process (the local provider names a node by lineage and address, so its id stays).
    assert_ne!(
        pid(&p, "node.web[0]"),
        old_pid,
        "the state still holds the killed node"
    );
    assert_eq!(up["provider_id"], provider_id(&p, "node.web[0]").as_str());
    // One repair: the replacement started afresh instead of being judged by the old verdict.
    let repairs = monitor
        .seen
        .iter()
        .filter(|l| is(l, "repair-started", "node.web[0]"))
        .count();
    assert_eq!(repairs, 1, "{:?}", monitor.seen);
    // The other node was never touched.
    assert!(
        !monitor
            .seen
            .iter()
            .any(|l| l["address"] == "node.web[1]" && l["to"] == "down")
    );
    drop(monitor);
    // The store holds the same transitions; the state file holds none of them.
    let store = std::fs::read_to_string(p.path("state/health.jsonl")).unwrap();
    let records: Vec<Value> = store
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let web0: Vec<&str> = records
        .iter()
        .filter(|r| r["address"] == "node.web[0]")
        .map(|r| r["to"].as_str().unwrap())
        .collect();
    assert_eq!(web0, ["up", "down", "up"], "{store}");
    let state = std::fs::read_to_string(p.path("state/hello.state.json")).unwrap();
    assert!(!state.contains("\"transition\"") && !state.contains("unknown"));
    // The replacement answers.
    let url = p.state("hello")["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "node.web[0]")
        .unwrap()["observed"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(common::http_get(&format!("{url}/")).trim(), "web-0");
}

#[test]
fn a_repair_waits_while_another_apply_holds_the_lock() {
    let p = Project::with_strategy(&watched(1, true));
    p.ok(&["apply", "--auto-approve"]);
    let old = provider_id(&p, "node.web[0]");
    let old_pid = pid(&p, "node.web[0]");
    let mut monitor = Monitor::start(&p, &["--for", "90s"]);
    monitor.wait_for(Duration::from_secs(20), "first up", |l| {
        is(l, "transition", "node.web[0]")
    });
    // Another apply that holds the lock for a while: a new group whose node is slow to start.
    let mut strategy = watched(1, true);
    let mut slow = strategy["node"].clone();
    slow["command"] = format!("sleep 6; {}", slow["command"].as_str().unwrap()).into();
    slow.as_object_mut().unwrap().remove("health");
    slow.as_object_mut().unwrap().remove("auto_repair");
    slow.as_object_mut().unwrap().remove("name");
    let mut web = strategy["node"].clone();
    web.as_object_mut().unwrap().remove("name");
    strategy.as_object_mut().unwrap().remove("node");
    strategy["nodes"] = json!({"web": web, "slow": slow});
    p.write_strategy(&strategy);
    let mut apply = p
        .oss()
        .args(["apply", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock = p.path("state/hello.lock");
    assert!(
        common::wait_until(Duration::from_secs(20), || lock.exists()),
        "the apply never took the lock"
    );
    // Kill only once the apply is past its refresh (its slow node has started): a kill
    // before would let that apply replace the node itself, and no repair would be tried.
    let slow_dir = p.path("state/local/slow-0-");
    let slow_dir = slow_dir.to_string_lossy();
    assert!(
        common::wait_until(Duration::from_secs(30), || p
            .node_processes()
            .iter()
            .any(|(_, d)| d.starts_with(slow_dir.as_ref()))),
        "the apply never started its slow node"
    );
    kill_node(&p, &old);
    monitor.wait_for(Duration::from_secs(10), "down transition", |l| {
        is(l, "transition", "node.web[0]") && l["to"] == "down"
    });
    let skipped = monitor.wait_for(Duration::from_secs(10), "skipped repair", |l| {
        is(l, "repair", "node.web[0]")
    });
    assert_eq!(skipped["outcome"], "skipped", "{skipped}");
    let reason = skipped["reason"].as_str().unwrap();
    assert!(reason.starts_with("State is locked by"), "{reason}");
    assert!(reason.contains("for `apply`"), "{reason}");
    assert!(
        apply.try_wait().unwrap().is_none(),
        "the apply ended before the repair was tried"
    );
    assert!(apply.wait().unwrap().success());
    let replaced = monitor.wait_for(Duration::from_secs(60), "repair after the apply", |l| {
        is(l, "repair", "node.web[0]") && l["outcome"] != "skipped"
    });
    assert_eq!(replaced["outcome"], "replaced", "{replaced}");
    monitor.wait_for(Duration::from_secs(20), "the new node up", |l| {
        is(l, "transition", "node.web[0]") && l["to"] == "up"
    });
    assert_ne!(pid(&p, "node.web[0]"), old_pid);
}

#[test]
fn once_ends_with_every_verdict_and_no_repair_leaves_a_dead_node_alone() {
    let p = Project::with_strategy(&watched(2, true));
    p.ok(&["apply", "--auto-approve"]);
    let (code, out, err) = p.run(&["monitor", "--once"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(err.contains("2 node(s) watched: 2 up, 0 down"), "{err}");
    let old = provider_id(&p, "node.web[1]");
    let old_pid = pid(&p, "node.web[1]");
    kill_node(&p, &old);
    let (code, out, err) = p.run(&["monitor", "--once", "--no-repair"]);
    assert_eq!(code, 1, "{out}\n{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let down: Vec<&Value> = lines.iter().filter(|l| l["to"] == "down").collect();
    assert_eq!(down.len(), 1, "{out}");
    assert_eq!(down[0]["address"], "node.web[1]");
    assert!(!out.contains("repair"), "{out}");
    assert_eq!(pid(&p, "node.web[1]"), old_pid, "--no-repair replaced it");
}

#[test]
fn strategy_problems_and_nothing_to_monitor_are_clear_errors() {
    let mut strategy = watched(1, true);
    strategy["node"].as_object_mut().unwrap().remove("health");
    let p = Project::with_strategy(&strategy);
    let (code, _, err) = p.run(&["validate"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("/node/auto_repair") && err.contains("auto_repair needs a health block"),
        "{err}"
    );
    strategy["node"]
        .as_object_mut()
        .unwrap()
        .remove("auto_repair");
    p.write_strategy(&strategy);
    let (code, _, err) = p.run(&["monitor", "--once"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("The strategy has no group with a health block: there is nothing to monitor."),
        "{err}"
    );
}

/// The sample fleet with a node that writes an old and a new stamped line, then one line a
/// second while it serves.
fn logging() -> Value {
    let mut strategy: Value =
        serde_json::from_str(include_str!("../strategy.sample.json")).unwrap();
    let command = strategy["node"]["command"].as_str().unwrap().to_string();
    strategy["node"]["count"] = 1.into();
    strategy["node"]["command"] = format!(
        "echo '2000-01-01T00:00:00Z an old line'; echo \"$(date -u +%Y-%m-%dT%H:%M:%SZ) a new line\"; \
         (i=0; while sleep 0.3; do i=$((i+1)); echo \"tick $i\"; done) & {command}"
    )
    .into();
    strategy
}

#[test]
fn logs_show_filter_by_time_follow_and_name_unknown_addresses() {
    let p = Project::with_strategy(&logging());
    p.ok(&["apply", "--auto-approve"]);
    let mut out = String::new();
    let ticked = common::wait_until(Duration::from_secs(10), || {
        out = p.ok(&["logs", "node.web[0]"]);
        out.contains("tick 1\n")
    });
    assert!(ticked, "{out}");
    assert!(
        out.contains("==> stdout <==\n2000-01-01T00:00:00Z an old line\n"),
        "{out}"
    );
    assert!(out.contains(" a new line\n"), "{out}");
    let out = p.ok(&["logs", "node.web[0]", "--since", "10m"]);
    assert!(!out.contains("an old line"), "{out}");
    assert!(out.contains(" a new line\n"), "{out}");
    // The ticks belong to the new line's stamp: kept.
    assert!(out.contains("tick 1\n"), "{out}");

    // -f prints lines written after it started, until SIGTERM.
    let mut follow = p
        .oss()
        .args(["logs", "node.web[0]", "-f", "--tail", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut ticks = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while ticks.len() < 4 && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200))
            && let Some(n) = line.strip_prefix("tick ")
        {
            ticks.push(n.parse::<u32>().unwrap());
        }
    }
    assert_eq!(ticks.len(), 4, "-f printed {ticks:?}");
    // In order, each once: new lines only, nothing shown twice.
    assert!(ticks.windows(2).all(|w| w[1] == w[0] + 1), "{ticks:?}");
    unsafe { libc::kill(follow.id() as i32, libc::SIGTERM) };
    let ended = common::wait_until(Duration::from_secs(10), || {
        follow.try_wait().unwrap().is_some()
    });
    assert!(ended, "oss logs -f still running 10 s after SIGTERM");
    assert!(follow.wait().unwrap().success());

    let (code, _, err) = p.run(&["logs", "node.web[7]"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("error: No resource node.web[7] in the state."),
        "{err}"
    );
    assert!(err.contains("hint: did you mean node.web[0]?"), "{err}");
}
