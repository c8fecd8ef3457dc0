//! Snapshots of the text and JSON plan for a plan with every action kind, made against a
//! hand-written state (no refresh, fixed seed) so the output is the same on every machine.

mod common;

use common::Project;
use serde_json::{Value, json};

fn existing(index: usize, size: &str, tags: Value) -> Value {
    json!({
        "address": format!("node.web[{index}]"),
        "kind": "node",
        "placement": {"provider": "local", "location": "local-a", "size": size, "image": "host",
                      "hourly_price": 0.0, "currency": "USD"},
        "provider_id": format!("web-{index}-0000000{index}"),
        "attributes": {
            "command": "exec serve --name \"$OSS_NODE_NAME\"\n# second line",
            "index": index,
            "name": format!("web-{index}"),
            "ports": [8080],
            "tags": tags
        },
        "observed": {"addr": format!("127.1.0.{}", index + 2)}
    })
}

fn project() -> Project {
    let mut strategy: Value =
        serde_json::from_str(include_str!("../strategy.sample.json")).unwrap();
    strategy["node"]["count"] = 5.into();
    strategy["node"]["command"] = "exec serve --name \"$OSS_NODE_NAME\"\n# second line".into();
    let p = Project::with_strategy(&strategy);
    let app = json!({"app": "hello"});
    let mut changed_command = existing(3, "small", app.clone());
    changed_command["attributes"]["command"] =
        "exec serve --name \"$OSS_NODE_NAME\"\n# first version".into();
    let state = json!({
        "format_version": 1,
        "serial": 7,
        "lineage": "3f1c9a52-0d6e-4b7a-9c1e-5a2b8d4e6f70",
        "strategy": "hello",
        "seed": 1,
        "resources": [
            existing(0, "small", app.clone()),                // unchanged
            existing(1, "small", json!({"app": "old"})),      // tags changed: update
            existing(2, "medium", app.clone()),               // size not allowed any more: replace
            changed_command,                                  // multi-line command changed: replace
            existing(6, "small", app),                        // beyond count: delete
            // node.web[4] is not in state: create
        ]
    });
    std::fs::create_dir_all(p.path("state")).unwrap();
    std::fs::write(
        p.path("state/hello.state.json"),
        serde_json::to_string_pretty(&state).unwrap(),
    )
    .unwrap();
    p
}

#[test]
fn text_plan_with_every_action() {
    let p = project();
    let (code, out, err) = p.run(&["plan", "--refresh=false", "--detailed-exitcode"]);
    assert_eq!(code, 2, "{err}");
    insta::assert_snapshot!("text_plan", out);
}

#[test]
fn json_plan_with_every_action() {
    let p = project();
    let out = p.ok(&["plan", "--refresh=false", "--json"]);
    let doc: Value = serde_json::from_str(&out).unwrap();
    insta::assert_json_snapshot!("json_plan", doc);
}

#[test]
fn targets_and_excludes_narrow_the_plan() {
    let p = project();
    let out = p.ok(&[
        "plan",
        "--refresh=false",
        "--target",
        "node.web[1]",
        "--target",
        "node.web[6]",
    ]);
    assert!(
        out.contains("Plan: 0 to add, 1 to change, 1 to destroy."),
        "{out}"
    );
    let out = p.ok(&["plan", "--refresh=false", "--exclude", "node.web"]);
    assert!(out.contains("No changes."), "{out}");
}

#[test]
fn graph_is_dot() {
    let p = project();
    let out = p.ok(&["graph"]);
    assert!(out.starts_with("digraph oss {"), "{out}");
    assert!(
        out.contains("\"node.web[3]\" [label = \"node.web[3]\\nlocal/local-a/small/host\"];"),
        "{out}"
    );
}

#[test]
fn state_list_and_show() {
    let p = project();
    let out = p.ok(&["state", "list"]);
    assert_eq!(
        out,
        "node.web[0]\nnode.web[1]\nnode.web[2]\nnode.web[3]\nnode.web[6]\n"
    );
    let out = p.ok(&["state", "show", "node.web[2]"]);
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["placement"]["size"], "medium");
    let (code, _, err) = p.run(&["state", "show", "node.web[9]"]);
    assert_eq!(code, 1);
    assert!(err.contains("No resource node.web[9] in state"), "{err}");
}
