//! Lifecycle controls on the local provider: `moved` blocks, `oss state rm`, `oss state mv`
//! and `oss import`, each checked against real node processes.

mod common;

use common::Project;
use serde_json::Value;

/// The process id a local node runs as (a replaced node is a new process).
fn pid(p: &Project, address: &str) -> u64 {
    let out = p.ok(&["state", "show", address]);
    let resource: Value = serde_json::from_str(&out).unwrap();
    resource["observed"]["pid"].as_u64().unwrap()
}

fn provider_id(p: &Project, address: &str) -> String {
    let out = p.ok(&["state", "show", address]);
    let resource: Value = serde_json::from_str(&out).unwrap();
    resource["provider_id"].as_str().unwrap().to_string()
}

fn addresses(p: &Project) -> Vec<String> {
    p.ok(&["state", "list"]).lines().map(String::from).collect()
}

fn serial(p: &Project) -> u64 {
    let out = p.ok(&["state", "pull"]);
    serde_json::from_str::<Value>(&out).unwrap()["serial"]
        .as_u64()
        .unwrap()
}

/// The sample strategy with its group renamed `frontend` and a `moved` block saying so.
fn renamed(p: &Project) -> Value {
    let mut strategy: Value =
        serde_json::from_str(&std::fs::read_to_string(p.path("strategy.json")).unwrap()).unwrap();
    let mut group = strategy["node"].take();
    group.as_object_mut().unwrap().remove("name");
    let obj = strategy.as_object_mut().unwrap();
    obj.remove("node");
    obj.insert("nodes".into(), serde_json::json!({ "frontend": group }));
    obj.insert(
        "moved".into(),
        serde_json::json!([{"from": "node.web", "to": "node.frontend"}]),
    );
    strategy
}

#[test]
fn moved_renames_without_replacing_and_nothing_is_adopted_again() {
    let p = Project::sample(2);
    p.ok(&["apply", "--auto-approve"]);
    let pids = (pid(&p, "node.web[0]"), pid(&p, "node.web[1]"));
    p.write_strategy(&renamed(&p));

    let (code, out, err) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 2, "a rename is a change to apply\n{out}\n{err}");
    assert!(out.contains("moved from node.web[0]"), "{out}");
    assert!(
        out.contains("Plan: 0 to add, 0 to change, 0 to destroy. 2 moved."),
        "{out}"
    );
    let concise = p.ok(&["plan", "--concise"]);
    assert!(concise.contains("node.frontend[1]"), "{concise}");
    assert!(concise.contains("moved from node.web[1]"), "{concise}");
    let json = p.ok(&["plan", "--json"]);
    let doc: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["summary"]["move"], 2, "{json}");
    assert_eq!(doc["changes"][0]["moved_from"], "node.web[0]", "{json}");
    assert_eq!(doc["changes"][0]["actions"][0], "move", "{json}");

    let before = serial(&p);
    p.ok(&["apply", "--auto-approve"]);
    assert!(serial(&p) > before, "a new state version");
    assert_eq!(addresses(&p), ["node.frontend[0]", "node.frontend[1]"]);
    assert_eq!(
        (pid(&p, "node.frontend[0]"), pid(&p, "node.frontend[1]")),
        pids,
        "nothing was replaced"
    );
    assert_eq!(p.node_processes().len(), 2, "{:?}", p.node_processes());
    // The next plan neither re-adopts the old addresses nor wants anything.
    let (code, out, _) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("node.web"), "{out}");
    assert_eq!(addresses(&p), ["node.frontend[0]", "node.frontend[1]"]);

    p.ok(&["destroy", "--auto-approve"]);
    assert!(p.node_processes().is_empty());
}

#[test]
fn a_moved_target_that_exists_is_a_located_error() {
    let p = Project::sample(2);
    p.ok(&["apply", "--auto-approve"]);
    let original = std::fs::read_to_string(p.path("strategy.json")).unwrap();
    let mut clash: Value = serde_json::from_str(&original).unwrap();
    clash["moved"] = serde_json::json!([{"from": "node.web[0]", "to": "node.web[1]"}]);
    p.write_strategy(&clash);
    let (code, _, err) = p.run(&["plan"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("/moved/0/to"), "{err}");
    assert!(err.contains("node.web[1] is already in state"), "{err}");
    p.write_strategy(&serde_json::from_str::<Value>(&original).unwrap());
    p.ok(&["destroy", "--auto-approve"]);
    assert!(p.node_processes().is_empty());
}

#[test]
fn state_rm_forgets_the_running_node_and_import_takes_it_back() {
    let p = Project::sample(2);
    p.ok(&["apply", "--auto-approve"]);
    let kept = pid(&p, "node.web[1]");
    let id = provider_id(&p, "node.web[1]");

    // Bad input changes nothing.
    let before = p.ok(&["state", "pull"]);
    let (code, _, err) = p.run(&["state", "rm", "node.web[7]"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("No resource node.web[7] in state"), "{err}");
    assert!(err.contains("closest: node.web"), "{err}");
    let dry = p.ok(&["state", "rm", "--dry-run", "node.web[1]"]);
    assert!(dry.contains("Would forget node.web[1]"), "{dry}");
    assert_eq!(p.ok(&["state", "pull"]), before, "nothing changed");

    p.ok(&["state", "rm", "node.web[1]"]);
    assert_eq!(addresses(&p), ["node.web[0]"]);
    assert!(
        p.node_processes()
            .iter()
            .any(|(pid, _)| *pid as u64 == kept),
        "the forgotten node still runs"
    );
    // The next plan wants a new node.web[1]; the forgotten one is not adopted back.
    let out = p.ok(&["plan"]);
    assert!(out.contains("node.web[1] will be created"), "{out}");
    assert!(!out.contains("adopted"), "{out}");
    assert_eq!(addresses(&p), ["node.web[0]"]);

    // Import refuses what the strategy does not define, and what state holds.
    let (code, _, err) = p.run(&["import", "node.wob[1]", &id]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("The strategy defines no node node.wob[1]"),
        "{err}"
    );
    let (code, _, err) = p.run(&["import", "node.web[0]", &id]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("node.web[0] is already in state"), "{err}");

    let out = p.ok(&["import", "node.web[1]", &id]);
    assert!(out.contains("Imported"), "{out}");
    assert_eq!(pid(&p, "node.web[1]"), kept, "the same process, adopted");
    let (code, out, _) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");
    let state: Value = serde_json::from_str(&p.ok(&["state", "pull"])).unwrap();
    assert!(
        state.get("forgotten").is_none(),
        "taken off the list: {state}"
    );

    p.ok(&["destroy", "--auto-approve"]);
    assert!(p.node_processes().is_empty());
}

#[test]
fn import_refuses_a_node_outside_the_groups_options() {
    let p = Project::sample(1);
    p.ok(&["apply", "--auto-approve"]);
    let id = provider_id(&p, "node.web[0]");
    p.ok(&["state", "rm", "node.web[0]"]);
    // The group now allows only local-b and size medium; the node runs at local-a, small.
    let mut strategy: Value =
        serde_json::from_str(&std::fs::read_to_string(p.path("strategy.json")).unwrap()).unwrap();
    strategy["node"]["location"]["options"] = serde_json::json!([{"id": "local-b"}]);
    strategy["node"]["hardware"]["options"] = serde_json::json!([{"name": "medium"}]);
    p.write_strategy(&strategy);
    let before = p.ok(&["state", "pull"]);
    let (code, _, err) = p.run(&["import", "node.web[0]", &id]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("its location is `local-a`, the group allows `local-b`"),
        "{err}"
    );
    assert!(
        err.contains("its size is `small`, the group allows `medium`"),
        "{err}"
    );
    assert_eq!(p.ok(&["state", "pull"]), before, "nothing changed");
    // Clean up the forgotten node: import it back under the old options, then destroy.
    p.write_strategy(
        &serde_json::from_str::<Value>(include_str!("../strategy.sample.json"))
            .map(|mut s| {
                s["node"]["count"] = 1.into();
                s
            })
            .unwrap(),
    );
    p.ok(&["import", "node.web[0]", &id]);
    p.ok(&["destroy", "--auto-approve"]);
    assert!(p.node_processes().is_empty());
}

#[test]
fn state_mv_renames_a_node_and_refuses_a_taken_target() {
    let p = Project::sample(2);
    p.ok(&["apply", "--auto-approve"]);
    let kept = pid(&p, "node.web[1]");
    let before = p.ok(&["state", "pull"]);
    let (code, _, err) = p.run(&["state", "mv", "node.web[1]", "node.web[0]"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("node.web[0] is already in state"), "{err}");
    let (code, _, err) = p.run(&["state", "mv", "node.wbe[1]", "node.web[5]"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("closest: node.web[1]"), "{err}");
    let dry = p.ok(&["state", "mv", "--dry-run", "node.web[1]", "node.web[5]"]);
    assert!(
        dry.contains("Would move node.web[1] to node.web[5]"),
        "{dry}"
    );
    assert_eq!(p.ok(&["state", "pull"]), before, "nothing changed");

    p.ok(&["state", "mv", "node.web[1]", "node.web[5]"]);
    assert_eq!(addresses(&p), ["node.web[0]", "node.web[5]"]);
    assert_eq!(pid(&p, "node.web[5]"), kept);
    // node.web[5] is not in the strategy: the plan recreates node.web[1] and drops [5]; the
    // old marker does not bring node.web[1] back by adoption.
    let out = p.ok(&["plan", "--concise"]);
    assert!(out.contains("node.web[1]"), "{out}");
    assert!(out.contains("node.web[5]"), "{out}");
    assert!(!out.contains("adopted"), "{out}");
    p.ok(&["destroy", "--auto-approve"]);
    assert!(p.node_processes().is_empty());
}

#[test]
fn import_on_sim_adopts_a_forgotten_instance_and_refuses_an_unknown_id() {
    let strategy = common::sim_example("cheapest-across-providers.json");
    let group = strategy["node"]["name"]
        .as_str()
        .unwrap_or("node")
        .to_string();
    let p = Project::with_strategy(&strategy);
    p.ok(&["apply", "--auto-approve"]);
    let address = format!("node.{group}[0]");
    let id = provider_id(&p, &address);
    p.ok(&["state", "rm", &address]);
    assert!(!addresses(&p).contains(&address));
    let serial_before = serial(&p);
    // An id the provider does not know changes nothing.
    let (code, _, err) = p.run(&["import", &address, "no-such-instance"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(serial(&p), serial_before);
    p.ok(&["import", &address, &id]);
    assert_eq!(provider_id(&p, &address), id);
    let (code, out, err) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "the imported instance matches\n{out}\n{err}");
    p.ok(&["destroy", "--auto-approve"]);
}
