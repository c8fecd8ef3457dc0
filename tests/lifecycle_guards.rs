//! Per-group lifecycle controls on real local nodes. `"prevent_destroy": true` refuses every
//! plan that would delete or replace a protected node (destroy, a forcing change, a smaller
//! count, `--replace`, the group's removal), naming each and changing nothing; `false` lets
//! them through. `"create_before_destroy": true` brings the replacement up and ready before
//! the old node goes, and a crash in between leaves the old node recorded for the next apply.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Project, http_get, wait_until};
use serde_json::Value;

fn sample(count: usize, set: &[(&str, Value)]) -> Value {
    let mut strategy: Value =
        serde_json::from_str(include_str!("../strategy.sample.json")).unwrap();
    strategy["node"]["count"] = count.into();
    for (key, value) in set {
        strategy["node"][*key] = value.clone();
    }
    strategy
}

fn serial(p: &Project) -> u64 {
    p.state("hello")["serial"].as_u64().unwrap()
}

fn observed(p: &Project, address: &str, field: &str) -> Value {
    let out = p.ok(&["state", "show", address]);
    let resource: Value = serde_json::from_str(&out).unwrap();
    resource["observed"][field].clone()
}

/// Whether the node process `pid` of `p` runs (zombies do not count).
fn alive(p: &Project, pid: i64) -> bool {
    p.node_processes().iter().any(|(n, _)| i64::from(*n) == pid)
}

/// Runs `args`, expects the refusal naming exactly `named` (each with `why`), and checks
/// that nothing changed: same serial, every node still running.
fn refused(p: &Project, args: &[&str], named: &[(&str, &str)], before: u64) -> String {
    let (code, out, err) = p.run(args);
    assert_eq!(code, 1, "oss {args:?} was not refused\n{out}\n{err}");
    assert!(
        err.contains("protected by \"prevent_destroy\", so it is refused and nothing was changed"),
        "{err}"
    );
    for (address, why) in named {
        assert!(
            err.contains(&format!("{address} would be {why}")),
            "{address} is not named as {why}:\n{err}"
        );
    }
    assert_eq!(
        err.matches(" would be ").count(),
        named.len(),
        "only the protected nodes that would go are named:\n{err}"
    );
    assert_eq!(serial(p), before, "the state was written");
    assert_eq!(p.node_processes().len(), 2, "{:?}", p.node_processes());
    err
}

#[test]
fn prevent_destroy_refuses_every_plan_that_would_destroy_a_protected_node() {
    let p = Project::with_strategy(&sample(2, &[("prevent_destroy", true.into())]));
    p.ok(&["apply", "--auto-approve"]);
    let before = serial(&p);
    let pids: Vec<i64> = (0..2)
        .map(|i| {
            observed(&p, &format!("node.web[{i}]"), "pid")
                .as_i64()
                .unwrap()
        })
        .collect();
    // The protection is recorded on each node, for when its group is gone.
    for r in p.state("hello")["resources"].as_array().unwrap() {
        assert_eq!(r["attributes"]["prevent_destroy"], true, "{r}");
    }

    let err = refused(
        &p,
        &["destroy", "--auto-approve"],
        &[
            ("node.web[0]", "deleted: destroy"),
            ("node.web[1]", "deleted: destroy"),
        ],
        before,
    );
    let text = std::fs::read_to_string(p.path("strategy.json")).unwrap();
    let line = 1 + text
        .lines()
        .position(|l| l.contains("\"prevent_destroy\""))
        .unwrap();
    assert!(
        err.contains(&format!(
            "hint: set \"prevent_destroy\": false at /node/prevent_destroy (strategy.json:{line}:"
        )),
        "the hint says where to lift it:\n{err}"
    );

    // A forcing change replaces: refused, for plan and apply alike.
    let mut changed = sample(2, &[("prevent_destroy", true.into())]);
    changed["node"]["ports"] = serde_json::json!([8081]);
    p.write_strategy(&changed);
    let why = "replaced: ports changed (forces replacement)";
    refused(
        &p,
        &["plan"],
        &[("node.web[0]", why), ("node.web[1]", why)],
        before,
    );
    refused(
        &p,
        &["apply", "--auto-approve"],
        &[("node.web[0]", why), ("node.web[1]", why)],
        before,
    );

    // A smaller count deletes the last node.
    p.write_strategy(&sample(1, &[("prevent_destroy", true.into())]));
    refused(
        &p,
        &["plan"],
        &[("node.web[1]", "deleted: no longer in the strategy")],
        before,
    );

    // --replace.
    p.write_strategy(&sample(2, &[("prevent_destroy", true.into())]));
    refused(
        &p,
        &["apply", "--auto-approve", "--replace", "node.web[0]"],
        &[(
            "node.web[0]",
            "replaced: replacement requested with --replace",
        )],
        before,
    );

    // The group leaves the strategy: the recorded protection still holds.
    let mut renamed = sample(2, &[]);
    let mut group = renamed["node"].take();
    group.as_object_mut().unwrap().remove("name");
    renamed.as_object_mut().unwrap().remove("node");
    renamed["nodes"] = serde_json::json!({"api": group});
    p.write_strategy(&renamed);
    let err = refused(
        &p,
        &["apply", "--auto-approve"],
        &[
            ("node.web[0]", "deleted: no longer in the strategy"),
            ("node.web[1]", "deleted: no longer in the strategy"),
        ],
        before,
    );
    assert!(
        err.contains("group web is no longer in the strategy but its nodes keep the protection recorded in state"),
        "{err}"
    );
    for pid in &pids {
        assert!(alive(&p, *pid), "node {pid} was stopped");
    }

    // `false` lifts it: applied first (in place, nothing replaced), then destroy goes through.
    p.write_strategy(&sample(2, &[("prevent_destroy", false.into())]));
    let out = p.ok(&["plan"]);
    assert!(
        out.contains("Plan: 0 to add, 2 to change, 0 to destroy."),
        "{out}"
    );
    p.ok(&["apply", "--auto-approve"]);
    for (i, pid) in pids.iter().enumerate() {
        assert_eq!(
            observed(&p, &format!("node.web[{i}]"), "pid").as_i64(),
            Some(*pid),
            "lifting the protection replaced node {i}"
        );
    }
    p.write_strategy(&renamed);
    p.ok(&["plan"]);
    p.write_strategy(&sample(1, &[]));
    p.ok(&["apply", "--auto-approve"]);
    assert!(!alive(&p, pids[1]), "the count decrease went through");
    p.ok(&["destroy", "--auto-approve"]);
    assert!(p.node_processes().is_empty());
}

/// The sample with one create-before-destroy node whose process ignores SIGTERM when
/// `stubborn` (so its delete takes the whole stop grace: a window to crash in), on a local
/// provider with a short stop grace.
fn replaceable(stubborn: bool) -> Value {
    let mut strategy = sample(1, &[("create_before_destroy", true.into())]);
    strategy["provider"]["options"][0]["local"]["stop_grace"] = 3.into();
    if stubborn {
        let command = strategy["node"]["command"].as_str().unwrap().to_string();
        strategy["node"]["command"] = format!("trap '' TERM; {command}").into();
    }
    strategy
}

#[test]
fn create_before_destroy_brings_the_new_node_up_before_the_old_one_goes() {
    let p = Project::with_strategy(&replaceable(true));
    p.ok(&["apply", "--auto-approve"]);
    let old_pid = observed(&p, "node.web[0]", "pid").as_i64().unwrap();
    let old_id = p.state("hello")["resources"][0]["provider_id"].clone();

    p.write_strategy(&replaceable(false));
    let plan = p.ok(&["plan"]);
    assert!(
        plan.contains("node.web[0] must be replaced (the new one first, then the old one goes)"),
        "{plan}"
    );
    assert!(plan.contains("+/- node.web[0]"), "{plan}");
    let concise = p.ok(&["plan", "--concise"]);
    assert!(concise.starts_with("+/- node.web[0]  replace"), "{concise}");
    let json: Value = serde_json::from_str(&p.ok(&["plan", "--json"])).unwrap();
    assert_eq!(
        json["changes"][0]["actions"],
        serde_json::json!(["create", "delete"])
    );

    let (code, _, err) = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{err}");
    let at = |needle: &str| {
        err.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in\n{err}"))
    };
    let new_id = p.state("hello")["resources"][0]["provider_id"].clone();
    assert_ne!(new_id, old_id, "the new node has an id of its own");
    let old = old_id.as_str().unwrap();
    let kept = at(&format!("node.web[0]: keeping the old object {old}"));
    let ready = at(&format!(
        "node.web[0]: replacement {} is ready; deleting the old object {old}",
        new_id.as_str().unwrap()
    ));
    let deleted = at(&format!("node.web[0]: old object {old} deleted"));
    assert!(kept < ready && ready < deleted, "out of order:\n{err}");

    assert!(!alive(&p, old_pid), "the old node still runs");
    assert!(p.state("hello").get("deposed").is_none());
    only_the_new_node_serves(&p);
}

/// The replaced node answers, it is the one node process left, the next plan is empty, and
/// destroy leaves nothing running.
fn only_the_new_node_serves(p: &Project) {
    let url = observed(p, "node.web[0]", "url");
    assert_eq!(http_get(url.as_str().unwrap()), "web-0\n");
    assert_eq!(p.node_processes().len(), 1, "{:?}", p.node_processes());
    let (code, out, _) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");
    p.ok(&["destroy", "--auto-approve"]);
    assert!(p.node_processes().is_empty());
}

#[test]
fn a_crash_between_create_and_destroy_leaves_the_old_node_for_the_next_apply() {
    let p = Project::with_strategy(&replaceable(true));
    p.ok(&["apply", "--auto-approve"]);
    let old_pid = observed(&p, "node.web[0]", "pid").as_i64().unwrap();
    let old_id = p.state("hello")["resources"][0]["provider_id"]
        .as_str()
        .unwrap()
        .to_string();

    // The old node ignores SIGTERM: its delete waits out the stop grace. Kill oss once the
    // journal holds the new node, before it records the old one deleted.
    p.write_strategy(&replaceable(false));
    let journal = p.path("state/hello.journal");
    let created = || {
        std::fs::read_to_string(&journal).is_ok_and(|t| {
            t.lines().any(|l| l.starts_with("{\"depose\""))
                && t.lines().any(|l| l.starts_with("{\"put\""))
        })
    };
    let mut child = p
        .oss()
        .args(["apply", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reached = wait_until(Duration::from_secs(60), created);
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    assert!(reached, "the apply never recorded the new node");
    // The precondition: killed between the two, the old node still running and not dropped.
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(!text.contains("drop_deposed"), "killed too late:\n{text}");
    assert!(alive(&p, old_pid), "the old node was already gone");

    let plan = p.ok(&["plan"]);
    assert!(
        plan.contains(&format!("node.web[0] (deposed {old_id}) will be destroyed")),
        "{plan}"
    );
    assert!(
        plan.contains("Plan: 0 to add, 0 to change, 1 to destroy."),
        "the new node is the address's, the old one is not adopted back:\n{plan}"
    );

    let lock: Value =
        serde_json::from_slice(&std::fs::read(p.path("state/hello.lock")).unwrap()).unwrap();
    p.ok(&["force-unlock", lock["id"].as_str().unwrap()]);
    p.ok(&["apply", "--auto-approve"]);
    assert!(
        wait_until(Duration::from_secs(10), || !alive(&p, old_pid)),
        "the old node still runs"
    );
    assert!(p.state("hello").get("deposed").is_none());
    only_the_new_node_serves(&p);
}

#[test]
fn a_crash_before_the_new_node_is_recorded_never_adopts_the_old_one_back() {
    let p = Project::with_strategy(&replaceable(false));
    p.ok(&["apply", "--auto-approve"]);
    let old_pid = observed(&p, "node.web[0]", "pid").as_i64().unwrap();
    let old_id = p.state("hello")["resources"][0]["provider_id"]
        .as_str()
        .unwrap()
        .to_string();

    // The new node takes seconds to get ready: kill oss once the old one is deposed, before
    // the new one is recorded. The old one still runs and carries the address's marker.
    let mut slow = replaceable(false);
    let command = slow["node"]["command"].as_str().unwrap().to_string();
    slow["node"]["command"] = format!("sleep 3; {command}").into();
    p.write_strategy(&slow);
    let journal = p.path("state/hello.journal");
    let mut child = p
        .oss()
        .args(["apply", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deposed = || std::fs::read_to_string(&journal).is_ok_and(|t| t.contains("{\"depose\""));
    let reached = wait_until(Duration::from_secs(60), deposed);
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    assert!(reached, "the apply never deposed the old node");
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(!text.contains("{\"put\""), "killed too late:\n{text}");
    assert!(alive(&p, old_pid), "the old node was already gone");

    let plan = p.ok(&["plan"]);
    assert!(
        plan.contains(&format!("node.web[0] (deposed {old_id}) will be destroyed")),
        "{plan}"
    );
    // Refresh finds the old node by its marker, but it is not the address's any more.
    assert!(
        !plan.contains("command changed"),
        "the old node was adopted back:\n{plan}"
    );
    let lock: Value =
        serde_json::from_slice(&std::fs::read(p.path("state/hello.lock")).unwrap()).unwrap();
    p.ok(&["force-unlock", lock["id"].as_str().unwrap()]);
    p.ok(&["apply", "--auto-approve"]);
    assert!(
        wait_until(Duration::from_secs(10), || !alive(&p, old_pid)),
        "the old node still runs"
    );
    assert_ne!(
        p.state("hello")["resources"][0]["provider_id"],
        old_id.as_str(),
        "the old node was adopted back as the address's"
    );
    only_the_new_node_serves(&p);
}
