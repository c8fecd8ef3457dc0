//! Inventories through the binary: every format from a real local fleet, Ansible's --list and
//! --host, the files a strategy asks for written after apply, and nodes left out named.

mod common;

use common::Project;
use serde_json::{Value, json};

fn strategy() -> Value {
    let mut s: Value = serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/web-and-db.json"
        ))
        .unwrap(),
    )
    .unwrap();
    s["nodes"]["web"]["ssh_user"] = json!("deploy");
    s["nodes"]["web"]["ssh_port"] = json!(2222);
    s["nodes"]["web"]["ssh_private_key"] = json!("keys/id_ed25519");
    s["inventory"] =
        json!({"ansible": "inventory/hosts.json", "ssh-config": "inventory/ssh_config"});
    s
}

#[test]
fn every_format_lists_the_fleet_and_the_files_follow_each_apply() {
    let p = Project::with_strategy(&strategy());
    // Before any apply: empty inventories, not an error.
    let empty: Value =
        serde_json::from_str(&p.ok(&["inventory", "--format", "ansible", "--list"])).unwrap();
    assert_eq!(empty["_meta"]["hostvars"], json!({}));
    p.ok(&["apply", "--auto-approve"]);

    let (code, out, err) = p.run(&["inventory", "--format", "ansible", "--list"]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["web"]["hosts"], json!(["web-0", "web-1", "web-2"]));
    assert_eq!(doc["db"]["hosts"], json!(["db-0"]));
    assert_eq!(doc["provider_local"]["hosts"].as_array().unwrap().len(), 4);
    assert_eq!(doc["tag_role_web"]["hosts"].as_array().unwrap().len(), 3);
    let web0 = &doc["_meta"]["hostvars"]["web-0"];
    assert_eq!(web0["ansible_user"], "deploy");
    assert_eq!(web0["ansible_port"], 2222);
    assert_eq!(web0["ansible_ssh_private_key_file"], "keys/id_ed25519");
    assert_eq!(web0["oss"]["address"], "node.web[0]");
    let state = p.state("web-and-db");
    let ip = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "node.web[0]")
        .unwrap()["observed"]["addr"]
        .clone();
    assert_eq!(web0["ansible_host"], ip);
    let host: Value =
        serde_json::from_str(&p.ok(&["inventory", "--format", "ansible", "--host", "web-0"]))
            .unwrap();
    assert_eq!(&host, web0);
    assert_eq!(
        p.ok(&["inventory", "--format", "ansible", "--host", "nope"])
            .trim(),
        "{}"
    );

    // The db group has no ssh_user: salt-ssh needs one, so it is named, not dropped silently.
    let (code, roster, err) = p.run(&["inventory", "--format", "salt"]);
    assert_eq!(code, 0, "{err}");
    assert!(roster.contains("\"web-2\":\n  host: "), "{roster}");
    assert!(!roster.contains("\"db-0\":\n"), "{roster}");
    assert!(
        roster.contains("      oss: {\"address\":\"node.web[2]\""),
        "{roster}"
    );
    assert!(
        err.contains("db-0 (node.db[0]) is left out: it has no SSH user"),
        "{err}"
    );

    for format in ["bolt", "fabric", "chef", "ssh-config", "json"] {
        let out = p.ok(&["inventory", "--format", format, "--group", "web"]);
        assert!(out.contains("web-1"), "{format}: {out}");
        assert!(
            !out.contains("node.db[0]") && !out.contains("Host db-0"),
            "{format}: {out}"
        );
    }
    let (code, _, err) = p.run(&["inventory", "--group", "wbe"]);
    assert_eq!(code, 1, "{err}");

    // The files the strategy asks for, private, matching the commands' output.
    let written = std::fs::read_to_string(p.path("inventory/hosts.json")).unwrap();
    assert_eq!(written, p.ok(&["inventory", "--format", "ansible"]));
    let config = std::fs::read_to_string(p.path("inventory/ssh_config")).unwrap();
    assert!(
        config.contains("Host web-0\n") && config.contains("  Port 2222\n"),
        "{config}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(p.path("inventory/hosts.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // After a destroy they list nothing.
    p.ok(&["destroy", "--auto-approve"]);
    let after: Value =
        serde_json::from_str(&std::fs::read_to_string(p.path("inventory/hosts.json")).unwrap())
            .unwrap();
    assert_eq!(after["_meta"]["hostvars"], json!({}));
}

/// Ansible itself (ansible-core, from the test virtualenv) reads oss's inventory through the
/// example's dynamic-inventory script, with every group and host variable expected.
#[test]
fn ansible_inventory_reads_the_example_script() {
    let p = Project::with_strategy(&strategy());
    p.ok(&["apply", "--auto-approve"]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/cm/ansible/inventory");
    let run = |args: &[&str]| {
        let out = common::tools::command(&p, common::tools::venv_tool("ansible-inventory"))
            .args(["-i", script])
            .args(args)
            .env("ANSIBLE_INVENTORY_UNPARSED_FAILED", "true")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{args:?}\n{stdout}\n{stderr}");
        serde_json::from_str::<Value>(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    };
    let list = run(&["--list"]);
    let hosts = |group: &str| -> Vec<String> {
        let mut names: Vec<String> = list[group]["hosts"]
            .as_array()
            .unwrap_or_else(|| panic!("no group {group} in {list:#}"))
            .iter()
            .map(|h| h.as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(hosts("web"), ["web-0", "web-1", "web-2"]);
    assert_eq!(hosts("db"), ["db-0"]);
    assert_eq!(hosts("provider_local").len(), 4);
    assert_eq!(hosts("location_local_a").len(), 4);
    assert_eq!(hosts("tag_role_db"), ["db-0"]);
    let vars = &list["_meta"]["hostvars"]["web-1"];
    assert_eq!(vars["ansible_user"], "deploy", "{vars:#}");
    assert_eq!(vars["ansible_port"], 2222);
    assert!(vars["ansible_host"].as_str().unwrap().starts_with("127."));
    assert_eq!(vars["oss"]["group"], "web");
    let one = run(&["--host", "web-1"]);
    assert_eq!(one["ansible_host"], vars["ansible_host"]);
    p.ok(&["destroy", "--auto-approve"]);
}

#[test]
fn the_hand_off_runs_after_an_apply_that_changed_something_and_fails_on_its_own() {
    let mut s = strategy();
    s["hand_off"] = json!({"run": "wc -l < {inventory} > handed-off.txt && echo ran >> runs.txt"});
    let p = Project::with_strategy(&s);
    let (code, _, err) = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Hand-off: wc -l <"), "{err}");
    assert!(err.contains("inventory/hosts.json"), "{err}");
    let lines: usize = std::fs::read_to_string(p.path("handed-off.txt"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        lines > 10,
        "the inventory was written before the hand-off ran"
    );
    // Nothing changed: skipped, unless asked always; --no-hand-off skips it.
    let (_, _, err) = p.run(&["apply", "--auto-approve"]);
    assert!(err.contains("Hand-off skipped"), "{err}");
    s["hand_off"]["when"] = json!("always");
    p.write_strategy(&s);
    p.ok(&["apply", "--auto-approve"]);
    p.ok(&["apply", "--auto-approve", "--no-hand-off"]);
    let runs = std::fs::read_to_string(p.path("runs.txt")).unwrap();
    assert_eq!(runs.lines().count(), 2, "{runs}");

    // A failing hand-off is its own error; the apply's state stands.
    s["hand_off"]["run"] = json!("echo configuring; exit 3");
    p.write_strategy(&s);
    let serial = p.state("web-and-db")["serial"].clone();
    let (code, out, err) = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("configuring"), "its output streams: {out}");
    assert!(
        err.contains("The hand-off exited with status 3; the apply itself succeeded"),
        "{err}"
    );
    assert_eq!(p.state("web-and-db")["serial"], serial);
    p.ok(&["destroy", "--auto-approve"]);

    // {inventory} with no inventory file to name is refused before anything happens.
    let mut bad = strategy();
    bad.as_object_mut().unwrap().remove("inventory");
    bad["hand_off"] = json!({"run": "ansible-playbook -i {inventory} site.yml"});
    let p = Project::with_strategy(&bad);
    let (code, _, err) = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("at /hand_off/run: The hand-off command uses {inventory}"),
        "{err}"
    );
    assert!(!p.path("state").exists() || p.node_processes().is_empty());
}

/// The Bolt inventory validates against Bolt's published schema (vendored in
/// tests/fixtures/bolt/), read as YAML by PyYAML from the test virtualenv.
#[test]
fn the_bolt_inventory_fits_bolts_schema() {
    let p = Project::with_strategy(&strategy());
    p.ok(&["apply", "--auto-approve"]);
    let yaml = p.ok(&["inventory", "--format", "bolt"]);
    std::fs::write(p.path("inventory.yaml"), &yaml).unwrap();
    let python = common::moto::venv().join("bin/python");
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(p.path("inventory.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["groups"].as_array().unwrap().len(), 2, "{doc:#}");
    let schema: Value =
        serde_json::from_str(include_str!("fixtures/bolt/bolt-inventory.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{yaml}");
    // The schema can fail: a group name Bolt does not accept is refused.
    let mut bad = doc.clone();
    bad["groups"][0]["name"] = json!("Web Servers");
    assert!(!validator.is_valid(&bad));
    // oss's facts ride along as the targets' facts.
    let target = &doc["groups"][1]["targets"][0];
    assert_eq!(target["facts"]["oss"]["group"], "web", "{target:#}");
    p.ok(&["destroy", "--auto-approve"]);
}

/// Chef cannot be installed here (examples/cm/chef/README.md), so only the format is checked:
/// each element is a node object as knife reads one (`knife node from file`): the keys of
/// `Chef::Node`'s JSON form, the four attribute levels as objects, a run list of strings.
#[test]
fn the_chef_nodes_have_the_shape_knife_reads() {
    let p = Project::with_strategy(&strategy());
    p.ok(&["apply", "--auto-approve"]);
    let nodes: Value = serde_json::from_str(&p.ok(&["inventory", "--format", "chef"])).unwrap();
    let nodes = nodes.as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    let allowed = [
        "name",
        "chef_type",
        "json_class",
        "chef_environment",
        "run_list",
        "automatic",
        "normal",
        "default",
        "override",
    ];
    for node in nodes {
        let fields = node.as_object().unwrap();
        assert!(
            fields.keys().all(|k| allowed.contains(&k.as_str())),
            "{node:#}"
        );
        assert_eq!(node["chef_type"], "node");
        assert_eq!(node["json_class"], "Chef::Node");
        assert_eq!(node["chef_environment"], "_default");
        let name = node["name"].as_str().unwrap();
        assert!(
            name.starts_with("web-") || name.starts_with("db-"),
            "{name}"
        );
        assert!(
            node["run_list"]
                .as_array()
                .unwrap()
                .iter()
                .all(Value::is_string)
        );
        for level in ["automatic", "normal", "default", "override"] {
            assert!(
                node[level].is_object() || node[level].is_null(),
                "{level}: {node:#}"
            );
        }
        assert!(
            node["automatic"]["ipaddress"]
                .as_str()
                .unwrap()
                .starts_with("127."),
            "{node:#}"
        );
        assert_eq!(node["normal"]["oss"]["provider"], "local");
    }
    p.ok(&["destroy", "--auto-approve"]);
}
