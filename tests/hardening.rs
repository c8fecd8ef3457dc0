//! The running `oss` is hardened from its first instruction on (src/harden.rs): a long-running
//! `oss` process (the unlock agent, waiting for its key) shows a core-file limit of 0, soft
//! and hard, in `/proc/PID/limits`, while this test process shows its own limit unchanged.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;

/// Kills the agent it holds (by its pid, through `Child`) when dropped.
struct Started(Child);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The "Max core file size" line of `/proc/PID/limits`, as (soft, hard).
fn core_limit(pid: &str) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap_or_else(|| panic!("no core limit in:\n{limits}"));
    let mut words = line["Max core file size".len()..].split_whitespace();
    (
        words.next().unwrap().to_string(),
        words.next().unwrap().to_string(),
    )
}

#[test]
fn a_running_oss_writes_no_core_file() {
    // The precondition: this process may write cores, so the 0 below is oss's own doing.
    let mine = core_limit("self");
    assert_ne!(
        mine,
        ("0".to_string(), "0".to_string()),
        "this test process's core limit is already 0, soft and hard, so the check below could \
         not tell oss's doing: run the tests where the hard limit is above 0 (ulimit -Hc)"
    );

    let dir = tempfile::tempdir().unwrap();
    let child = Command::cargo_bin("oss")
        .unwrap()
        .args(["unlock-agent", "--vault-id", "hardening", "--key-id", "k1"])
        .args(["--ttl", "60s"])
        .env("OSS_AGENT_DIR", dir.path().join("agents"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut agent = Started(child);
    let pid = agent.0.id().to_string();
    // It is up once its socket exists; it then waits for the key on stdin.
    let socket = dir.path().join("agents/agent-hardening.sock");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the agent never bound"
        );
        assert!(agent.0.try_wait().unwrap().is_none(), "the agent ended");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(core_limit(&pid), ("0".to_string(), "0".to_string()));

    // Without a key it says so and ends: the process checked above was the agent.
    drop(agent.0.stdin.take());
    let mut said = String::new();
    BufReader::new(agent.0.stdout.take().unwrap())
        .read_line(&mut said)
        .unwrap();
    assert_eq!(said.trim(), "error: no key was given on stdin");
}
