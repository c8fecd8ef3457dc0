//! `--replace ADDR` on plan and apply: the named resources are replaced although nothing about
//! them changed, the rest stay; a name that is not in the state is refused.

mod common;

use common::Project;

/// The process id a local node runs as (a replaced node is a new process).
fn pid(p: &Project, address: &str) -> u64 {
    let out = p.ok(&["state", "show", address]);
    let resource: serde_json::Value = serde_json::from_str(&out).unwrap();
    resource["observed"]["pid"].as_u64().unwrap()
}

#[test]
fn replace_recreates_only_what_is_named() {
    let p = Project::sample(2);
    p.ok(&["apply", "--auto-approve"]);
    let (first, second) = (pid(&p, "node.web[0]"), pid(&p, "node.web[1]"));

    let (code, out, err) = p.run(&["plan", "--detailed-exitcode", "--replace", "node.web[1]"]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        out.contains("replacement requested with --replace"),
        "{out}"
    );
    assert!(
        out.contains("Plan: 1 to add, 0 to change, 1 to destroy."),
        "{out}"
    );

    let (code, _, err) = p.run(&["plan", "--replace", "node.web[9]"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("--replace node.web[9] matches no resource in the state"),
        "{err}"
    );

    p.ok(&["apply", "--auto-approve", "--replace", "node.web[1]"]);
    assert_eq!(pid(&p, "node.web[0]"), first, "node.web[0] was kept");
    assert_ne!(pid(&p, "node.web[1]"), second, "node.web[1] was replaced");
    assert_eq!(p.node_processes().len(), 2, "{:?}", p.node_processes());
    let (code, out, _) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");

    p.ok(&["destroy", "--auto-approve"]);
    assert!(p.node_processes().is_empty());
}
