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
    assert!(!roster.contains("db-0"), "{roster}");
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
