//! SIGKILL of `oss apply` at several moments of a 10-node apply: the next apply neither
//! forgets a node that was created nor starts a second copy of it.

mod common;

use std::collections::HashSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Project;

fn wait_for_lock(p: &Project, timeout: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if p.path("state/hello.lock").exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn sigkill_at_any_point_then_apply_converges_without_duplicates() {
    // Delays after the lock is taken: before any node, during the first creates, mid-way,
    // and near the end.
    for delay_ms in [0u64, 150, 400, 800, 1500] {
        let p = Project::sample(10);
        let mut child = p
            .oss()
            .args(["apply", "--auto-approve", "--parallelism", "3"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        assert!(
            wait_for_lock(&p, Duration::from_secs(20)),
            "apply never took the lock"
        );
        std::thread::sleep(Duration::from_millis(delay_ms));
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        child.wait().unwrap();

        // The dead apply's lock is reported as stale with the command to remove it.
        let (code, _, err) = p.run(&["apply", "--auto-approve"]);
        let lock_id = if p.path("state/hello.lock").exists() {
            assert_eq!(code, 1, "{err}");
            assert!(err.contains("no longer running"), "{err}");
            let lock: serde_json::Value =
                serde_json::from_slice(&std::fs::read(p.path("state/hello.lock")).unwrap())
                    .unwrap();
            let id = lock["id"].as_str().unwrap().to_string();
            assert!(err.contains(&format!("oss force-unlock {id}")), "{err}");
            Some(id)
        } else {
            None // killed after the apply finished and released the lock
        };
        if let Some(id) = lock_id {
            p.ok(&["force-unlock", &id]);
            p.ok(&["apply", "--auto-approve"]);
        }

        let state = p.state("hello");
        let resources = state["resources"].as_array().unwrap();
        assert_eq!(
            resources.len(),
            10,
            "delay {delay_ms} ms: state lists {}",
            resources.len()
        );
        let processes = p.node_processes();
        let dirs: HashSet<&String> = processes.iter().map(|(_, d)| d).collect();
        assert_eq!(
            dirs.len(),
            10,
            "delay {delay_ms} ms: node dirs with processes: {dirs:?}"
        );
        assert_eq!(
            processes.len(),
            10,
            "delay {delay_ms} ms: a node runs twice: {processes:?}"
        );
        assert_eq!(
            p.node_dirs().len(),
            10,
            "delay {delay_ms} ms: {:?}",
            p.node_dirs()
        );
        let (code, out, _) = p.run(&["plan", "--detailed-exitcode"]);
        assert_eq!(code, 0, "delay {delay_ms} ms: {out}");

        p.ok(&["destroy", "--auto-approve"]);
        assert!(p.node_processes().is_empty());
    }
}
