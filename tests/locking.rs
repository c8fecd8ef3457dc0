//! Two writers on one state: one runs, the other is told who holds the lock (or waits for it
//! with --lock-timeout); the state stays valid.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Project;

#[test]
fn concurrent_apply_fails_naming_the_holder_and_waiting_sees_no_changes() {
    let p = Project::sample(4);
    // The holder is named as `$USER@host`: with the user set, the exact holder can be checked.
    p.set_env("USER", "oss-lock-tester");
    let host = hostname::get().unwrap().into_string().unwrap();
    let first = p
        .oss()
        .args(["apply", "--auto-approve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !p.path("state/hello.lock").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "first apply never locked"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let waiter = p
        .oss()
        .args(["--lock-timeout", "60s", "apply", "--auto-approve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (code, _, err) = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "State is locked by oss-lock-tester@{host} (pid {}) for `apply` since ",
            first.id()
        )),
        "{err}"
    );
    assert!(err.contains("--lock-timeout"), "{err}");

    let first = first.wait_with_output().unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let waiter = waiter.wait_with_output().unwrap();
    let waited = String::from_utf8_lossy(&waiter.stdout);
    assert!(
        waiter.status.success(),
        "{}",
        String::from_utf8_lossy(&waiter.stderr)
    );
    assert!(waited.contains("No changes."), "{waited}");

    let state = p.state("hello");
    assert_eq!(state["resources"].as_array().unwrap().len(), 4);
    assert!(!p.path("state/hello.lock").exists());
    p.ok(&["destroy", "--auto-approve"]);
}

#[test]
fn force_unlock_needs_the_right_id() {
    let p = Project::sample(1);
    std::fs::create_dir_all(p.path("state")).unwrap();
    let info = serde_json::json!({
        "id": "00000000deadbeef", "operation": "apply", "who": "someone@elsewhere",
        "host": "elsewhere", "pid": 4242, "created": "2026-11-25T00:00:00Z"
    });
    std::fs::write(p.path("state/hello.lock"), info.to_string()).unwrap();
    let (code, _, err) = p.run(&["plan"]);
    assert_eq!(code, 0, "plan reads without the lock: {err}");
    let (code, _, err) = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code, 1);
    assert!(err.contains("State is locked by someone@elsewhere (pid 4242) for `apply` since 2026-11-25T00:00:00Z, lock id 00000000deadbeef"), "{err}");
    let (code, _, err) = p.run(&["force-unlock", "wrong"]);
    assert_eq!(code, 1);
    assert!(err.contains("does not match"), "{err}");
    assert!(p.path("state/hello.lock").exists());
    let out = p.ok(&["force-unlock", "00000000deadbeef"]);
    assert!(
        out.contains("Removed lock 00000000deadbeef held by someone@elsewhere"),
        "{out}"
    );
    assert!(!p.path("state/hello.lock").exists());
}
