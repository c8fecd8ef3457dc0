//! Interrupts: the first SIGTERM lets running steps finish and saves them; a second one exits
//! at once, releases the lock, and the next run still knows every node that started.

mod common;

use std::collections::HashSet;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::Project;

fn spawn_apply(p: &Project) -> Child {
    p.oss()
        .args(["apply", "--auto-approve", "--parallelism", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until `count` nodes have finished (journal lines after the header).
fn wait_for_steps(p: &Project, count: usize) {
    let started = Instant::now();
    loop {
        let lines = std::fs::read_to_string(p.path("state/hello.journal"))
            .map(|j| j.lines().count().saturating_sub(1))
            .unwrap_or(0);
        if lines >= count {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "apply made no progress"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn addresses_in_state(p: &Project) -> HashSet<String> {
    p.state("hello")["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["address"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn first_interrupt_finishes_running_steps_and_saves() {
    let p = Project::sample(12);
    let child = spawn_apply(&p);
    wait_for_steps(&p, 2);
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("Interrupted: starting nothing new"),
        "{stderr}"
    );
    assert!(stdout.contains("not started (interrupted)"), "{stdout}");

    // Everything that runs is in state, and nothing else; the lock is released.
    let in_state = addresses_in_state(&p);
    assert!(in_state.len() >= 2 && in_state.len() < 12, "{in_state:?}");
    assert_eq!(p.node_processes().len(), in_state.len());
    assert!(!p.path("state/hello.lock").exists());
    assert!(
        !p.path("state/hello.journal").exists(),
        "journal folded into state"
    );

    p.ok(&["apply", "--auto-approve"]);
    assert_eq!(addresses_in_state(&p).len(), 12);
    assert_eq!(p.node_processes().len(), 12);
    p.ok(&["destroy", "--auto-approve"]);
}

#[test]
fn second_interrupt_exits_at_once_and_nothing_is_forgotten() {
    let p = Project::sample(12);
    let child = spawn_apply(&p);
    wait_for_steps(&p, 2);
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    std::thread::sleep(Duration::from_millis(20));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("Interrupted again: exiting now"),
        "{stderr}"
    );
    assert!(!p.path("state/hello.lock").exists(), "the lock is released");

    // The next plan folds the journal in and adopts what started after the last record.
    let plan = p.ok(&["plan"]);
    let running = p.node_processes().len();
    assert!(running >= 2, "{running}");
    p.ok(&["apply", "--auto-approve"]);
    assert_eq!(addresses_in_state(&p).len(), 12);
    let processes = p.node_processes();
    let dirs: HashSet<&String> = processes.iter().map(|(_, d)| d).collect();
    assert_eq!((processes.len(), dirs.len()), (12, 12), "{plan}");
    p.ok(&["destroy", "--auto-approve"]);
}
