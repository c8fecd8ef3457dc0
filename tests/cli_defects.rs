//! Defects of the command line, each driven through the real binary: closed pipes, flag
//! values that used to panic, a panic's exit and lock, scopes that match nothing, huge
//! echoed values, causes repeated in errors.

mod common;

use std::process::Stdio;

use common::Project;

/// Asserts the apply left state with every one of `count` nodes, and no lock or journal.
fn assert_finished_cleanly(p: &Project, count: usize) {
    let state = p.state("hello");
    let nodes = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["address"].as_str().unwrap().starts_with("node.web["))
        .count();
    assert_eq!(nodes, count, "state lacks nodes: {state:#}");
    assert!(
        !p.path("state/hello.lock").exists(),
        "the lock was left behind"
    );
    assert!(
        !p.path("state/hello.journal").exists(),
        "the journal was left behind"
    );
}

fn destroy(p: &Project) {
    p.ok(&["destroy", "--auto-approve"]);
    assert!(p.node_processes().is_empty(), "nodes are still running");
}

#[test]
fn a_closed_stdout_does_not_stop_an_apply() {
    let p = Project::sample(3);
    let mut child = p
        .oss()
        .args(["apply", "--auto-approve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The reader goes away at once, before oss printed anything (`| head -0`).
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "apply ended with {status:?}");
    assert_finished_cleanly(&p, 3);
    destroy(&p);
}

#[test]
fn a_closed_stderr_does_not_stop_an_apply() {
    let p = Project::sample(3);
    let mut child = p
        .oss()
        .args(["apply", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "apply ended with {status:?}");
    assert_finished_cleanly(&p, 3);
    destroy(&p);
}

#[test]
fn a_reader_that_reads_one_line_then_closes_does_not_stop_an_apply() {
    let p = Project::sample(3);
    let bin = assert_cmd::cargo::cargo_bin("oss");
    let script = format!(
        "'{}' apply --auto-approve 2>&1 | head -1; exit \"${{PIPESTATUS[0]}}\"",
        bin.display()
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .current_dir(p.dir.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "oss exited with {:?}; head printed {}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    assert_finished_cleanly(&p, 3);
    destroy(&p);
}

#[test]
fn a_panic_says_internal_error_exits_1_and_releases_the_lock() {
    let p = Project::sample(2);
    let out = p
        .oss()
        .args(["apply", "--auto-approve"])
        .env("OSS_DEBUG_PANIC", "apply")
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line, no backtrace noise: {stderr}");
    assert!(
        lines[0].starts_with("error: oss panicked (OSS_DEBUG_PANIC=apply asked for this panic"),
        "{stderr}"
    );
    assert!(lines[0].contains("internal error of oss"), "{stderr}");
    assert!(lines[0].contains("please report it"), "{stderr}");
    assert!(
        !p.path("state/hello.lock").exists(),
        "the lock was left behind"
    );
    // Nothing is locked: an apply that will not wait for a lock goes ahead.
    p.ok(&["--lock-timeout", "0s", "plan"]);
    p.ok(&["--lock-timeout", "0s", "apply", "--auto-approve"]);
    destroy(&p);
}

#[test]
fn a_panic_on_the_main_thread_exits_1_too() {
    let p = Project::sample(1);
    let (code, _, err) = {
        let out = p
            .oss()
            .arg("plan")
            .env("OSS_DEBUG_PANIC", "main")
            .env_remove("RUST_BACKTRACE")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::new(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("internal error of oss"), "{err}");
}

#[test]
fn no_flag_value_panics() {
    let p = Project::sample(1);
    let huge = "9".repeat(100);
    let long = "a".repeat(10_000);
    let cases: Vec<Vec<String>> = [
        vec!["--lock-timeout", "99999999999999999999h", "plan"],
        vec!["--lock-timeout", "1e400", "plan"],
        vec!["--lock-timeout", "-5s", "plan"],
        vec!["--lock-timeout", &huge, "plan"],
        vec!["plan", "--seed", &huge],
        vec!["plan", "--seed", "-1"],
        vec!["apply", "--parallelism", "0"],
        vec!["apply", "--parallelism", &huge],
        vec!["destroy", "--parallelism", "0"],
        vec!["state", "pull", "--serial", &huge],
        vec!["state", "pull", "--serial", "18446744073709551615"],
        vec!["state", "show", &long],
        vec!["catalog", "--min-vcpus", &huge],
        vec!["catalog", "--min-memory", "nan"],
        vec!["catalog", "--min-memory", "1e309"],
        vec!["catalog", "--location", &long],
        vec!["catalog", "--provider", &long],
        vec!["plan", "--target", &long],
        vec!["plan", "--target", "["],
        vec!["plan", "--exclude", "node.web[99999999999999999999]"],
        vec!["force-unlock", "../../etc/passwd"],
        vec!["force-unlock", &long],
        vec!["--backend", "s3", "--backend-url", "s3://", "plan"],
        vec![
            "--backend",
            "postgres",
            "--backend-url",
            "postgres://[::1",
            "plan",
        ],
        vec![
            "--backend",
            "postgres",
            "--backend-url",
            "postgres://u@127.0.0.1:99999/d",
            "plan",
        ],
        vec!["--state-dir", "/dev/null", "plan"],
        vec!["plan", "--refresh=maybe"],
    ]
    .iter()
    .map(|c| c.iter().map(|s| s.to_string()).collect())
    .collect();
    for args in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = p.run(&args);
        let shown: Vec<String> = args.iter().map(|a| a.chars().take(40).collect()).collect();
        assert!(
            matches!(code, 0..=2),
            "oss {shown:?} exited {code}:\n{}",
            &err[..err.len().min(2000)]
        );
        assert!(!err.contains("panicked"), "oss {shown:?} panicked:\n{err}");
        assert!(
            err.len() < 4000,
            "oss {shown:?} echoed a value whole ({} bytes)",
            err.len()
        );
    }
    assert!(
        p.run(&["--lock-timeout", "99999999999999999999h", "plan"])
            .2
            .contains("is longer than"),
        "the error says what is wrong"
    );
}

#[test]
fn a_target_that_matches_nothing_is_an_error_naming_the_closest() {
    let p = Project::sample(2);
    let (code, out, err) = p.run(&["plan", "--detailed-exitcode", "--target", "node.nope[0]"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("--target node.nope[0] matches no resource"),
        "{err}"
    );
    assert!(
        err.contains("node.web[0]"),
        "the closest address is named: {err}"
    );
    assert!(!out.contains("No changes"), "{out}");
    let (code, _, err) = p.run(&["plan", "--exclude", "node.web[7]"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--exclude node.web[7]"), "{err}");
    // Apply refuses before changing anything.
    let (code, _, err) = p.run(&["apply", "--auto-approve", "--target", "node.wbe"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("node.web"), "{err}");
    assert!(
        !p.path("state/hello.state.json").exists(),
        "apply changed something"
    );
    // A good target still works, and destroy checks its targets against the state.
    p.ok(&["apply", "--auto-approve", "--target", "node.web[0]"]);
    let (code, _, err) = p.run(&["destroy", "--auto-approve", "--target", "node.web[1]"]);
    assert_eq!(code, 1, "node.web[1] is not in state: {err}");
    assert!(err.contains("matches no resource in the state"), "{err}");
    assert!(err.contains("node.web[0]"), "{err}");
    destroy(&p);
}

#[test]
fn errors_echo_at_most_a_bounded_part_of_a_value() {
    let p = Project::sample(1);
    // As long as one argument may be (Linux: 128 KiB).
    let path = "p".repeat(120 * 1024);
    let (code, _, err) = p.run(&["-s", &path, "plan"]);
    assert_eq!(code, 1);
    assert!(err.len() < 2000, "{} bytes of stderr", err.len());
    assert!(err.contains(&format!("… ({} bytes)", path.len())), "{err}");
    // A huge value inside the strategy.
    let mut strategy: serde_json::Value =
        serde_json::from_str(include_str!("../strategy.sample.json")).unwrap();
    strategy["node"]["count"] = "c".repeat(1024 * 1024).into();
    p.write_strategy(&strategy);
    let (code, _, err) = p.run(&["plan"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("/node/count"),
        "{}",
        &err[..err.len().min(2000)]
    );
    assert!(err.len() < 4000, "{} bytes of stderr", err.len());
}

#[test]
fn an_error_never_repeats_its_message_as_its_cause() {
    let p = Project::sample(1);
    p.ok(&["apply", "--auto-approve"]);
    // A provider in state that the engine cannot build.
    let path = p.path("state/hello.state.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut state: serde_json::Value = serde_json::from_str(&text).unwrap();
    for r in state["resources"].as_array_mut().unwrap() {
        assert_eq!(r["placement"]["provider"], "local");
        r["placement"]["provider"] = "ghost".into();
    }
    std::fs::write(&path, state.to_string()).unwrap();
    let (code, _, err) = p.run(&["plan"]);
    assert_eq!(code, 1, "{err}");
    // (Not "Unknown provider `ghost`" any more: state would record a provider it holds.)
    let message = "Provider `ghost` holds resources in state but is not in the strategy";
    assert_eq!(err.matches(message).count(), 1, "{err}");
    assert!(!err.contains("caused by"), "{err}");
    std::fs::write(&path, &text).unwrap();
    destroy(&p);
}

#[test]
fn planning_flags_beside_a_saved_plan_are_refused_instead_of_ignored() {
    let p = Project::sample(2);
    p.ok(&["plan", "--out", "plan.bin"]);
    for flags in [
        &["--target", "node.web[0]"][..],
        &["--exclude", "node.web[1]"][..],
        &["--replace", "node.web[1]"][..],
        &["--refresh=false"][..],
        &["--seed", "7"][..],
        &["--rebalance"][..],
    ] {
        let mut args = vec!["apply", "plan.bin", "--auto-approve"];
        args.extend_from_slice(flags);
        let (code, _, err) = p.run(&args);
        assert_eq!(code, 1, "{flags:?}: {err}");
        assert!(
            err.contains(&format!("{} cannot be used with a saved plan", flags[0])),
            "{flags:?}: {err}"
        );
        assert!(
            !p.path("state/hello.state.json").exists(),
            "{flags:?}: apply changed something"
        );
    }
    // Without them the saved plan applies as reviewed.
    p.ok(&["apply", "plan.bin", "--auto-approve"]);
    assert_finished_cleanly(&p, 2);
    destroy(&p);
}
