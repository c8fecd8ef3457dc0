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

/// Runs `oss ARGS` on a pseudo-terminal (so the prompt is shown), types Ctrl-C once the
/// prompt is up, and returns (exit code, everything the terminal showed). A run still going
/// 30 s after the Ctrl-C is killed and reported as `None`.
fn ctrl_c_at_the_prompt(p: &Project, args: &[&str]) -> (Option<i32>, String) {
    const SCRIPT: &str = r#"
import os, pty, select, signal, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
seen = b""
def drain(wait):
    global seen
    if select.select([fd], [], [], wait)[0]:
        try:
            seen += os.read(fd, 65536)
        except OSError:
            pass
deadline = time.time() + 60
while b"Only 'yes' will be accepted" not in seen:
    if time.time() > deadline:
        os.kill(pid, signal.SIGKILL)
        sys.stdout.write("NO PROMPT\n" + seen.decode(errors="replace"))
        sys.exit(0)
    drain(0.5)
os.write(fd, b"\x03")
deadline = time.time() + 30
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    if time.time() > deadline:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        sys.stdout.write("HUNG\n" + seen.decode(errors="replace"))
        sys.exit(0)
    drain(0.1)
drain(0.1)
sys.stdout.write("EXIT %d\n" % os.waitstatus_to_exitcode(status) + seen.decode(errors="replace"))
"#;
    let bin = assert_cmd::cargo::cargo_bin("oss");
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(&bin)
        .args(args)
        .current_dir(p.dir.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("python3 is needed to give oss a terminal (pty)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the pty helper failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.starts_with("NO PROMPT"), "oss never asked: {text}");
    let code = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("EXIT "))
        .and_then(|c| c.parse().ok());
    (code, text)
}

#[test]
fn ctrl_c_at_the_apply_prompt_aborts_at_once_with_nothing_changed() {
    let p = Project::sample(2);
    let (code, shown) = ctrl_c_at_the_prompt(&p, &["apply"]);
    assert_eq!(code, Some(130), "Ctrl-C did not end the prompt: {shown}");
    assert!(
        shown.contains("Interrupted at the confirmation prompt: nothing was changed"),
        "{shown}"
    );
    assert!(
        !p.path("state/hello.state.json").exists(),
        "state was written"
    );
    assert!(p.node_processes().is_empty(), "nodes were started");
    assert!(
        !p.path("state/hello.lock").exists(),
        "the lock was left behind"
    );
}

#[test]
fn ctrl_c_at_the_destroy_prompt_aborts_at_once_with_nothing_changed() {
    let p = Project::sample(1);
    p.ok(&["apply", "--auto-approve"]);
    let before = std::fs::read(p.path("state/hello.state.json")).unwrap();
    let (code, shown) = ctrl_c_at_the_prompt(&p, &["destroy"]);
    assert_eq!(code, Some(130), "Ctrl-C did not end the prompt: {shown}");
    assert_eq!(
        std::fs::read(p.path("state/hello.state.json")).unwrap(),
        before,
        "state changed"
    );
    assert_eq!(p.node_processes().len(), 1, "the node was touched");
    assert!(
        !p.path("state/hello.lock").exists(),
        "the lock was left behind"
    );
    p.ok(&["destroy", "--auto-approve"]);
}
