//! Plans as reviewed in pull requests: markdown, JSON and concise renderings of a plan with
//! every action kind, a destroy-heavy plan and one too big for a comment, on the simulated
//! providers of examples/sim (real prices) against hand-written state, so the output is the
//! same on every machine. Also: the same plan renders the same every time, and
//! `--detailed-exitcode` exits 0, 1 or 2 as Terraform's does.

mod common;

use common::Project;
use serde_json::{Value, json};

const LINEAGE: &str = "3f1c9a52-0d6e-4b7a-9c1e-5a2b8d4e6f70";
const COMMAND: &str = "echo starting\nexec app --port 443";

/// examples/cheapest-across-providers.json with `count` nodes, absolute catalog paths and no
/// simulated latency: four nodes of 2 vCPUs / 4 GiB wherever cheapest (cloud-b, b-mel,
/// b2.medium at $0.018/h).
fn strategy(count: usize, command: &str) -> Value {
    let mut strategy = common::sim_example("cheapest-across-providers.json");
    strategy["node"]["count"] = count.into();
    strategy["node"]["command"] = command.into();
    strategy
}

/// Where a node is: (provider, location, size, hourly price).
type Place = (&'static str, &'static str, &'static str, f64);
const CHEAPEST: Place = ("cloud-b", "b-mel", "b2.medium", 0.018);

fn placement(place: Place) -> Value {
    let (provider, location, size, price) = place;
    json!({"provider": provider, "location": location, "size": size, "image": "ubuntu-24.04",
           "hourly_price": price, "currency": "USD"})
}

fn attributes(index: usize, command: &str, tag: &str) -> Value {
    json!({"command": command, "index": index, "name": format!("app-{index}"), "ports": [443],
           "tags": {"example": tag}})
}

fn instance_id(index: usize) -> String {
    format!("i-{:017x}", 0xa11ce000 + index)
}

/// A node as oss state records it.
fn resource(index: usize, place: Place, command: &str, tag: &str) -> Value {
    json!({
        "address": format!("node.app[{index}]"),
        "kind": "node",
        "placement": placement(place),
        "provider_id": instance_id(index),
        "attributes": attributes(index, command, tag),
        "observed": {}
    })
}

/// The same node as the simulated cloud records it (so refresh finds it).
fn instance(index: usize, place: Place, command: &str, tag: &str) -> Value {
    json!({
        "id": instance_id(index),
        "lineage": LINEAGE,
        "address": format!("node.app[{index}]"),
        "kind": "node",
        "placement": placement(place),
        "attributes": attributes(index, command, tag),
        "tags": {"example": tag},
        "private_ip": format!("10.2.0.{}", index + 4),
        "launched_at": "2026-01-02T03:04:05Z"
    })
}

fn write_json(p: &Project, rel: &str, doc: &Value) {
    let path = p.path(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_string_pretty(doc).unwrap()).unwrap();
}

fn write_state(p: &Project, resources: Vec<Value>) {
    let state = json!({
        "format_version": 1, "serial": 7, "lineage": LINEAGE, "strategy": "cheapest",
        "seed": 1, "resources": resources
    });
    write_json(p, "state/cheapest.state.json", &state);
}

/// Every kind of change, found by a real refresh of the simulated clouds:
/// `[0]` unchanged, `[1]` tags changed (update), `[2]` on a size the strategy no longer allows
/// and an older command (replace), `[3]` in state but gone from its cloud (recreate), `[4]`
/// not in state (create), `[5]` beyond the count (delete), `[6]` beyond the count and gone
/// (forget).
fn every_action() -> Project {
    let p = Project::with_strategy(&strategy(5, COMMAND));
    let small = ("cloud-a", "a-syd-1", "a.small", 0.012);
    let c_std = ("cloud-c", "c-us-east", "c.std", 0.019);
    let old_command = "echo starting\nexec app --port 80";
    write_state(
        &p,
        vec![
            resource(0, CHEAPEST, COMMAND, "cheapest"),
            resource(1, CHEAPEST, COMMAND, "old"),
            resource(2, small, old_command, "cheapest"),
            resource(3, CHEAPEST, COMMAND, "cheapest"),
            resource(5, c_std, COMMAND, "cheapest"),
            resource(6, CHEAPEST, COMMAND, "cheapest"),
        ],
    );
    let cloud = |instances: Vec<Value>| json!({"format": 1, "instances": instances});
    write_json(
        &p,
        "state/sim/cloud-a.json",
        &cloud(vec![instance(2, small, old_command, "cheapest")]),
    );
    write_json(
        &p,
        "state/sim/cloud-b.json",
        &cloud(vec![
            instance(0, CHEAPEST, COMMAND, "cheapest"),
            instance(1, CHEAPEST, COMMAND, "old"),
        ]),
    );
    write_json(
        &p,
        "state/sim/cloud-c.json",
        &cloud(vec![instance(5, c_std, COMMAND, "cheapest")]),
    );
    p
}

/// 30 nodes in state, 2 wanted, one of those on a size no longer allowed: 28 deletes and a
/// replace, the fleet's cost falling.
fn destroy_heavy() -> Project {
    let p = Project::with_strategy(&strategy(2, COMMAND));
    let mut resources: Vec<Value> = (0..30)
        .map(|i| resource(i, CHEAPEST, COMMAND, "cheapest"))
        .collect();
    resources[1] = resource(
        1,
        ("cloud-a", "a-fra-1", "a.small", 0.010),
        COMMAND,
        "cheapest",
    );
    write_state(&p, resources);
    p
}

/// A 40-line command: every created node's diff is about 1,300 characters.
fn long_command() -> String {
    (1..=40)
        .map(|i| format!("echo 'step {i:02} of the start-up script'"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// 1,000 unchanged nodes and 80 to create: the diffs do not fit in a comment.
fn oversized() -> Project {
    let command = long_command();
    let p = Project::with_strategy(&strategy(1080, &command));
    write_state(
        &p,
        (0..1000)
            .map(|i| resource(i, CHEAPEST, &command, "cheapest"))
            .collect(),
    );
    p
}

/// The diff blocks after the first replaced by their line count, so a snapshot of a
/// 65,000-character comment stays readable; everything else is kept as printed.
fn elide_diffs_after_the_first(markdown: &str) -> String {
    let mut out = String::new();
    let mut lines = markdown.lines();
    let mut blocks = 0;
    while let Some(line) = lines.next() {
        out.push_str(line);
        out.push('\n');
        if line == "```diff" {
            blocks += 1;
            let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            if blocks == 1 {
                body.iter().for_each(|l| {
                    out.push_str(l);
                    out.push('\n');
                });
            } else {
                out.push_str(&format!(
                    "[{} diff lines elided in this snapshot]\n",
                    body.len()
                ));
            }
            out.push_str("```\n");
        }
    }
    out
}

/// The table's rows (lines starting with a backticked address).
fn table_rows(markdown: &str) -> Vec<&str> {
    markdown
        .lines()
        .filter(|l| l.starts_with("| `node."))
        .collect()
}

#[test]
fn markdown_json_and_concise_of_every_action() {
    let p = every_action();
    let markdown = p.ok(&["plan", "--markdown"]);
    insta::assert_snapshot!("every_action_markdown", markdown);
    let concise = p.ok(&["plan", "--concise"]);
    insta::assert_snapshot!("every_action_concise", concise);
    let mut doc: Value = serde_json::from_str(&p.ok(&["plan", "--json"])).unwrap();
    // The strategy names the catalogs by absolute path, so its hash depends on the checkout.
    doc["strategy_hash"] = "[sha256 of strategy.json]".into();
    insta::assert_json_snapshot!("every_action_json", doc);

    // The unchanged node is counted, never a row; every change has its sensitive list, empty
    // here since no value holds a secret (tests/plan_sensitive.rs has one that does).
    assert_eq!(table_rows(&markdown).len(), 6, "{markdown}");
    assert!(!markdown.contains("node.app[0]"), "{markdown}");
    for change in doc["changes"].as_array().unwrap() {
        assert_eq!(change["sensitive"], json!([]), "{change}");
    }
    let actions: Vec<&Value> = doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["actions"])
        .collect();
    assert_eq!(
        actions,
        [
            &json!(["no-op"]),
            &json!(["update"]),
            &json!(["delete", "create"]),
            &json!(["create"]),
            &json!(["create"]),
            &json!(["delete"]),
            &json!(["forget"]),
        ]
    );
}

#[test]
fn the_same_plan_renders_the_same_every_time_and_from_a_saved_plan() {
    let p = every_action();
    for format in ["--markdown", "--concise", "--json"] {
        let first = p.ok(&["plan", format]);
        let (code, saved, err) = p.run(&["plan", format, "--out", "p.bin"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(first, saved, "{format}: saving changes nothing printed");
        assert!(
            err.contains("Saved the plan to p.bin. Apply it with: oss apply p.bin"),
            "{err}"
        );
        assert_eq!(first, p.ok(&["show", "p.bin", format]), "{format}");
        assert_eq!(first, p.ok(&["show", "p.bin", format]), "{format}");
    }
    // The text plan still says where it saved the plan, on stdout as before.
    let text = p.ok(&["plan", "--out", "p.bin"]);
    assert!(text.ends_with("Saved the plan to p.bin. Apply it with: oss apply p.bin\n"));
    let (code, _, err) = p.run(&["plan", "--json", "--markdown"]);
    assert_eq!(code, 1, "a usage error exits 1: {err}");
    assert!(err.contains("cannot be used with"), "{err}");
    let (code, _, err) = p.run(&["show", "--markdown"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("--markdown and --concise render a saved plan"),
        "{err}"
    );
}

#[test]
fn destroy_heavy_plan_warns_and_lists_what_goes() {
    let p = destroy_heavy();
    let markdown = p.ok(&["plan", "--refresh=false", "--markdown"]);
    insta::assert_snapshot!("destroy_heavy_markdown", markdown);
    let concise = p.ok(&["plan", "--refresh=false", "--concise"]);
    insta::assert_snapshot!("destroy_heavy_concise", concise);
    let doc: Value = serde_json::from_str(&p.ok(&["plan", "--refresh=false", "--json"])).unwrap();
    let changes: Vec<Value> = doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            json!({"address": c["address"], "actions": c["actions"], "reason": c["reason"],
                   "before_monthly": c["cost"]["before_monthly"],
                   "after_monthly": c["cost"]["after_monthly"]})
        })
        .collect();
    insta::assert_json_snapshot!(
        "destroy_heavy_json",
        json!({"summary": doc["summary"], "cost": doc["cost"], "changes": changes})
    );
}

#[test]
fn an_oversized_plan_is_cut_per_resource_and_keeps_its_summary() {
    let p = oversized();
    let markdown = p.ok(&["plan", "--refresh=false", "--markdown"]);
    let length = markdown.chars().count();
    assert!(length <= 65_000, "{length} characters");
    assert!(length > 60_000, "the diffs fill the room left: {length}");
    insta::assert_snapshot!("oversized_markdown", elide_diffs_after_the_first(&markdown));

    // The 1,000 unchanged nodes are one number; the table lists all 80 creates.
    assert!(markdown.contains(" 1000 unchanged."), "{markdown}");
    assert_eq!(table_rows(&markdown).len(), 80);
    // Whole resources only: every diff shown is closed, and the cut line names the rest.
    let shown = markdown.matches("```diff\n").count();
    assert!(shown > 0 && shown < 80, "{shown}");
    assert_eq!(markdown.matches("\n```\n").count(), shown);
    assert!(markdown.contains(&format!(
        "the attribute diffs of {} of 80 changed resources (`node.app[{}]` … `node.app[1079]`) are left out",
        80 - shown,
        1000 + shown
    )));

    let concise = p.ok(&["plan", "--refresh=false", "--concise"]);
    insta::assert_snapshot!("oversized_concise", concise);
    // JSON is for files and tools: never cut.
    let doc: Value = serde_json::from_str(&p.ok(&["plan", "--refresh=false", "--json"])).unwrap();
    let changes = doc["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1080);
    let created = changes.iter().filter(|c| c["action"] == "create").count();
    insta::assert_json_snapshot!(
        "oversized_json",
        json!({"summary": doc["summary"], "cost": doc["cost"], "changes": changes.len(), "created": created})
    );
}

#[test]
fn detailed_exitcode_is_0_without_changes_2_with_changes_1_on_error() {
    let p = Project::with_strategy(&strategy(2, COMMAND));
    write_state(
        &p,
        (0..2)
            .map(|i| resource(i, CHEAPEST, COMMAND, "cheapest"))
            .collect(),
    );
    let (code, out, err) = p.run(&["plan", "--refresh=false", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("No changes."), "{out}");
    let (code, markdown, _) = p.run(&[
        "plan",
        "--refresh=false",
        "--detailed-exitcode",
        "--markdown",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        markdown,
        "### oss plan for `cheapest`: no changes\n\nThe fleet matches the strategy: 2 resources unchanged.\n"
    );
    let (code, concise, _) = p.run(&[
        "plan",
        "--refresh=false",
        "--detailed-exitcode",
        "--concise",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        concise,
        "2 unchanged.\nNo changes. The fleet matches the strategy.\n"
    );

    p.write_strategy(&strategy(3, COMMAND));
    let (code, out, err) = p.run(&["plan", "--refresh=false", "--detailed-exitcode"]);
    assert_eq!(code, 2, "{out}{err}");
    let (code, _, _) = p.run(&[
        "plan",
        "--refresh=false",
        "--detailed-exitcode",
        "--markdown",
    ]);
    assert_eq!(code, 2);

    // Errors exit 1, never 2: a strategy that does not load, and a misspelt flag.
    let mut broken = strategy(3, COMMAND);
    broken["provider"]["options"][0]["sim"]["api_key"] = "env.OSS_TEST_UNSET_VARIABLE".into();
    p.write_strategy(&broken);
    let (code, _, err) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("OSS_TEST_UNSET_VARIABLE"), "{err}");
    let (code, _, err) = p.run(&["plan", "--detailed-exitcode", "--markdwon"]);
    assert_eq!(code, 1, "{err}");
}
