//! The README story end to end on real local nodes: plan → apply → every node answers →
//! no changes → a node dies → plan replaces it → apply repairs → destroy leaves nothing.

mod common;

use common::{Project, http_get};

#[test]
fn plan_apply_repair_destroy() {
    let p = Project::sample(3);

    let plan = p.ok(&["plan"]);
    assert!(
        plan.contains("Plan: 3 to add, 0 to change, 0 to destroy."),
        "{plan}"
    );

    p.ok(&["apply", "--auto-approve"]);
    let state = p.state("hello");
    let resources = state["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 3);
    let mut addrs = std::collections::HashSet::new();
    for (i, r) in resources.iter().enumerate() {
        assert_eq!(r["address"], format!("node.web[{i}]"));
        let url = r["observed"]["url"].as_str().unwrap();
        assert_eq!(http_get(url), format!("web-{i}\n"), "node {i} at {url}");
        assert!(addrs.insert(r["observed"]["addr"].as_str().unwrap().to_string()));
    }
    assert_eq!(p.node_processes().len(), 3);

    let (code, out, err) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("No changes."), "{out}");

    // Kill one node behind oss's back.
    let victim = resources[1]["observed"]["pid"].as_i64().unwrap() as i32;
    unsafe { libc::kill(victim, libc::SIGKILL) };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (code, out, _) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("node.web[1] must be replaced: gone"), "{out}");
    assert!(
        out.contains("Plan: 1 to add, 0 to change, 0 to destroy."),
        "{out}"
    );

    p.ok(&["apply", "--auto-approve"]);
    let state = p.state("hello");
    let url = state["resources"][1]["observed"]["url"].as_str().unwrap();
    assert_eq!(http_get(url), "web-1\n");
    assert_eq!(p.node_processes().len(), 3);
    let (code, _, _) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0);

    let out = p.ok(&["destroy", "--auto-approve"]);
    assert!(
        out.contains("Plan: 0 to add, 0 to change, 3 to destroy."),
        "{out}"
    );
    assert!(
        p.node_processes().is_empty(),
        "processes left: {:?}",
        p.node_processes()
    );
    assert!(
        p.node_dirs().is_empty(),
        "node dirs left: {:?}",
        p.node_dirs()
    );
    assert_eq!(p.state("hello")["resources"].as_array().unwrap().len(), 0);
}

#[test]
fn apply_and_destroy_refuse_without_a_terminal_or_approval() {
    let p = Project::sample(1);
    let (code, _, err) = p.run(&["apply"]);
    assert_eq!(code, 1);
    assert!(err.contains("standard input is not a terminal"), "{err}");
    assert!(p.node_processes().is_empty());
    assert!(!p.path("state/hello.state.json").exists());
}
