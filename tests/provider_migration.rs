//! Moving a fleet from provider A to provider B (docs/migrating-providers.md), both ways: drop
//! A from the strategy, or put B first and apply with `--rebalance`; on two named sim
//! providers with different settings, and on local plus sim. After the move everything runs
//! on B and nothing is left on A; and `oss destroy` still removes what A holds while A is no
//! longer in the strategy (it is built from what state recorded of it).

mod common;

use std::path::{Path, PathBuf};

use common::{Project, plan_changes};
use serde_json::{Value, json};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// Sim provider `cloud-a`: its own world file (relative to the strategy), key pairs and
/// firewalls per region, an API key from the environment.
fn cloud_a() -> Value {
    json!({"sim": {
        "name": "cloud-a",
        "catalog": examples().join("sim/cloud-a.json"),
        "latency_ms": 0,
        "state_file": "worlds/alpha.json",
        "regional_resources": true,
        "api_key": "env.OSS_MIGRATION_KEY",
        "require_api_key": "env.OSS_MIGRATION_KEY",
    }})
}

/// Sim provider `cloud-b`, with other settings (the default world file, a seed).
fn cloud_b() -> Value {
    json!({"sim": {
        "name": "cloud-b",
        "catalog": examples().join("sim/cloud-b.json"),
        "latency_ms": 1,
        "seed": 7,
    }})
}

/// The local provider.
fn local() -> Value {
    json!({"local": {"ready_timeout": 30}})
}

/// Two nodes on the first provider of `providers` that can run them; each node block lists
/// options for the kinds of provider there are (an option matching nothing is refused).
fn strategy(providers: &[Value]) -> Value {
    let sample: Value = serde_json::from_str(include_str!("../strategy.sample.json")).unwrap();
    let has = |kind: &str| providers.iter().any(|p| p.get(kind).is_some());
    let options = |local: Value, sim: Value| {
        let mut list = Vec::new();
        if has("local") {
            list.push(local);
        }
        if has("sim") {
            list.push(sim);
        }
        json!({ "options": list })
    };
    json!({
        "name": "migration",
        "default_pick": "first",
        "provider": {"options": providers, "pick": "first"},
        "node": {
            "name": "app",
            "count": 2,
            "image": options(json!({"name": "host"}), json!({"os": "ubuntu"})),
            "hardware": options(json!({"name": "small"}), json!({"min_vcpus": 2})),
            "location": options(json!({"id": "local-a"}), json!({"continent": "oceania"})),
            "command": sample["node"]["command"],
            "ports": [8080],
        }
    })
}

fn project(providers: &[Value]) -> Project {
    let p = Project::with_strategy(&strategy(providers));
    p.set_env("OSS_MIGRATION_KEY", "migration-key-1");
    p
}

/// Provider of every resource in state, by address.
fn providers_in_state(p: &Project) -> Vec<(String, String)> {
    p.state("migration")["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["address"].as_str().unwrap().to_string(),
                r["placement"]["provider"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Addresses of what a sim world file holds.
fn world(path: &Path) -> Vec<String> {
    oss::driver::sim::instances(path)
        .unwrap()
        .iter()
        .map(|i| i.address.to_string())
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Applies on cloud-a and checks the fleet is there, with cloud-a recorded in state.
fn apply_on_cloud_a(p: &Project) {
    p.ok(&["apply", "--auto-approve"]);
    let on = providers_in_state(p);
    assert!(
        on.iter().all(|(_, provider)| provider == "cloud-a"),
        "{on:?}"
    );
    let alpha = world(&p.path("worlds/alpha.json"));
    assert!(alpha.contains(&"node.app[0]".to_string()), "{alpha:?}");
    assert!(
        alpha.iter().any(|a| a.starts_with("firewall.")),
        "{alpha:?}"
    );
    let recorded = &p.state("migration")["providers"];
    assert_eq!(recorded["cloud-a"]["kind"], "sim", "{recorded}");
    assert_eq!(
        recorded["cloud-a"]["settings"]["api_key"], "env.OSS_MIGRATION_KEY",
        "{recorded}"
    );
    // cloud-b holds nothing yet, so it is not recorded.
    assert!(recorded.get("cloud-b").is_none(), "{recorded}");
}

#[test]
fn dropping_a_sim_provider_moves_its_nodes_and_deletes_the_rest() {
    let p = project(&[cloud_a(), cloud_b()]);
    apply_on_cloud_a(&p);
    let alpha_resources = world(&p.path("worlds/alpha.json"));

    p.write_strategy(&strategy(&[cloud_b()]));
    let changes = plan_changes(&p, &[]);
    let reason = "provider cloud-a is no longer in the strategy";
    for (address, action, why) in &changes {
        let expected = if address.starts_with("node.") {
            "replace"
        } else {
            "delete"
        };
        assert_eq!(
            (action.as_str(), why.as_str()),
            (expected, reason),
            "{address}"
        );
    }
    // Every resource cloud-a holds is in the plan (the nodes and its firewall).
    let planned: Vec<String> = changes.iter().map(|c| c.0.clone()).collect();
    assert_eq!(planned, alpha_resources);

    p.ok(&["apply", "--auto-approve"]);
    let on = providers_in_state(&p);
    assert_eq!(
        on,
        [
            ("node.app[0]".to_string(), "cloud-b".to_string()),
            ("node.app[1]".to_string(), "cloud-b".to_string())
        ]
    );
    assert_eq!(world(&p.path("worlds/alpha.json")), Vec::<String>::new());
    assert_eq!(
        world(&p.path("state/sim/cloud-b.json")),
        strings(&["node.app[0]", "node.app[1]"])
    );
    // cloud-a holds nothing any more: it is no longer recorded.
    let recorded = &p.state("migration")["providers"];
    assert!(recorded.get("cloud-a").is_none(), "{recorded}");
    assert_eq!(recorded["cloud-b"]["settings"]["seed"], 7, "{recorded}");
    assert_eq!(plan_changes(&p, &["--detailed-exitcode"]), vec![]);

    p.ok(&["destroy", "--auto-approve"]);
    assert_eq!(
        world(&p.path("state/sim/cloud-b.json")),
        Vec::<String>::new()
    );
}

#[test]
fn b_first_with_rebalance_moves_the_fleet_off_a() {
    let p = project(&[cloud_a(), cloud_b()]);
    apply_on_cloud_a(&p);

    p.write_strategy(&strategy(&[cloud_b(), cloud_a()]));
    // Placement is sticky: without --rebalance nothing moves.
    assert_eq!(plan_changes(&p, &[]), vec![]);
    let changes = plan_changes(&p, &["--rebalance"]);
    let nodes: Vec<_> = changes
        .iter()
        .filter(|c| c.0.starts_with("node."))
        .collect();
    assert_eq!(nodes.len(), 2, "{changes:?}");
    for (address, action, reason) in nodes {
        assert_eq!(action, "replace", "{address}");
        assert!(
            reason.starts_with("provider, location"),
            "{address}: {reason}"
        );
    }
    // cloud-a's firewall stays: cloud-a is still a fall-back of the nodes.
    assert_eq!(changes.len(), 2, "{changes:?}");

    p.ok(&["apply", "--auto-approve", "--rebalance"]);
    let nodes_on = |p: &Project| {
        providers_in_state(p)
            .into_iter()
            .filter(|(address, _)| address.starts_with("node."))
            .map(|(_, provider)| provider)
            .collect::<Vec<_>>()
    };
    assert_eq!(nodes_on(&p), ["cloud-b", "cloud-b"]);
    assert_eq!(
        world(&p.path("worlds/alpha.json")),
        strings(&["firewall.cloud-a.a-syd"])
    );
    assert_eq!(
        world(&p.path("state/sim/cloud-b.json")),
        strings(&["node.app[0]", "node.app[1]"])
    );

    // Then A leaves the strategy, and what the fall-backs kept there goes too.
    p.write_strategy(&strategy(&[cloud_b()]));
    assert_eq!(
        plan_changes(&p, &[]),
        [(
            "firewall.cloud-a.a-syd".to_string(),
            "delete".to_string(),
            "provider cloud-a is no longer in the strategy".to_string()
        )]
    );
    p.ok(&["apply", "--auto-approve"]);
    assert_eq!(world(&p.path("worlds/alpha.json")), Vec::<String>::new());
    assert_eq!(nodes_on(&p), ["cloud-b", "cloud-b"]);
    assert!(p.state("migration")["providers"].get("cloud-a").is_none());
}

#[test]
fn destroy_removes_what_a_departed_sim_provider_holds() {
    let p = project(&[cloud_a(), cloud_b()]);
    apply_on_cloud_a(&p);

    p.write_strategy(&strategy(&[cloud_b()]));
    // Its credential comes from the environment of the run that needs it.
    let out = p
        .oss()
        .args(["destroy", "--auto-approve"])
        .env_remove("OSS_MIGRATION_KEY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "error: Provider `cloud-a` is no longer in the strategy and its recorded settings \
             read env.OSS_MIGRATION_KEY, but environment variable OSS_MIGRATION_KEY is not set"
        ),
        "{err}"
    );
    assert!(err.contains("hint: export OSS_MIGRATION_KEY=..."), "{err}");
    assert_eq!(world(&p.path("worlds/alpha.json")).len(), 3);
    // Without refresh, apply finds it out before it writes anything.
    let serial = p.state("migration")["serial"].clone();
    let out = p
        .oss()
        .args(["apply", "--auto-approve", "--refresh=false"])
        .env_remove("OSS_MIGRATION_KEY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("OSS_MIGRATION_KEY is not set"), "{err}");
    assert_eq!(p.state("migration")["serial"], serial);

    let out = p.ok(&["destroy", "--auto-approve"]);
    assert!(out.contains("Destroy complete"), "{out}");
    assert_eq!(world(&p.path("worlds/alpha.json")), Vec::<String>::new());
    assert_eq!(providers_in_state(&p), vec![]);
    assert!(p.state("migration").get("providers").is_none());
}

/// Applies on the local provider: two real nodes, each answering on its address.
fn apply_on_local(p: &Project) {
    p.ok(&["apply", "--auto-approve"]);
    let on = providers_in_state(p);
    assert!(on.iter().all(|(_, provider)| provider == "local"), "{on:?}");
    assert_eq!(p.node_dirs().len(), 2);
    assert_eq!(p.node_processes().len(), 2, "{:?}", p.node_processes());
    let recorded = &p.state("migration")["providers"];
    assert_eq!(recorded["local"]["kind"], "local", "{recorded}");
    assert_eq!(
        recorded["local"]["settings"]["ready_timeout"], 30,
        "{recorded}"
    );
}

/// After the move off local: both nodes on cloud-b, no node directory or process left.
fn all_on_cloud_b(p: &Project) {
    let on = providers_in_state(p);
    assert_eq!(on.len(), 2, "{on:?}");
    assert!(
        on.iter().all(|(_, provider)| provider == "cloud-b"),
        "{on:?}"
    );
    assert_eq!(p.node_dirs(), Vec::<PathBuf>::new());
    assert_eq!(p.node_processes(), vec![]);
    assert_eq!(
        world(&p.path("state/sim/cloud-b.json")),
        strings(&["node.app[0]", "node.app[1]"])
    );
}

#[test]
fn dropping_local_moves_its_nodes_to_sim() {
    let p = project(&[local(), cloud_b()]);
    apply_on_local(&p);

    p.write_strategy(&strategy(&[cloud_b()]));
    let changes = plan_changes(&p, &[]);
    assert_eq!(
        changes,
        ["node.app[0]", "node.app[1]"].map(|a| (
            a.to_string(),
            "replace".to_string(),
            "provider local is no longer in the strategy".to_string()
        ))
    );
    p.ok(&["apply", "--auto-approve"]);
    all_on_cloud_b(&p);
    p.ok(&["destroy", "--auto-approve"]);
    assert_eq!(
        world(&p.path("state/sim/cloud-b.json")),
        Vec::<String>::new()
    );
}

#[test]
fn sim_first_with_rebalance_moves_the_fleet_off_local() {
    let p = project(&[local(), cloud_b()]);
    apply_on_local(&p);

    p.write_strategy(&strategy(&[cloud_b(), local()]));
    assert_eq!(plan_changes(&p, &[]), vec![]);
    let changes = plan_changes(&p, &["--rebalance"]);
    assert_eq!(changes.len(), 2, "{changes:?}");
    for (address, action, reason) in &changes {
        assert_eq!(action, "replace", "{address}");
        assert!(
            reason.starts_with("provider, location"),
            "{address}: {reason}"
        );
    }
    p.ok(&["apply", "--auto-approve", "--rebalance"]);
    all_on_cloud_b(&p);
}

#[test]
fn destroy_removes_what_a_departed_local_provider_holds() {
    let p = project(&[local(), cloud_b()]);
    apply_on_local(&p);

    p.write_strategy(&strategy(&[cloud_b()]));
    let out = p.ok(&["destroy", "--auto-approve"]);
    assert!(out.contains("Destroy complete"), "{out}");
    assert_eq!(p.node_dirs(), Vec::<PathBuf>::new());
    assert_eq!(p.node_processes(), vec![]);
    assert_eq!(providers_in_state(&p), vec![]);
}

/// The state file as written before providers were recorded.
fn forget_provider_records(p: &Project) {
    let mut state = p.state("migration");
    state.as_object_mut().unwrap().remove("providers");
    std::fs::write(
        p.path("state/migration.state.json"),
        serde_json::to_string_pretty(&state).unwrap(),
    )
    .unwrap();
}

#[test]
fn an_older_state_without_records_names_the_provider_it_cannot_build() {
    let p = project(&[cloud_a(), cloud_b()]);
    apply_on_cloud_a(&p);
    forget_provider_records(&p);
    p.write_strategy(&strategy(&[cloud_b()]));
    let (code, _, err) = p.run(&["destroy", "--auto-approve"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(
            "error: Provider `cloud-a` holds resources in state but is not in the strategy, and \
             the state does not record its settings\n  hint: add the provider back"
        ),
        "{err}"
    );
    assert_eq!(world(&p.path("worlds/alpha.json")).len(), 3);

    // Put back as it was, it is recorded by the next apply, and can leave again.
    p.write_strategy(&strategy(&[cloud_a(), cloud_b()]));
    p.ok(&["apply", "--auto-approve"]);
    p.write_strategy(&strategy(&[cloud_b()]));
    p.ok(&["destroy", "--auto-approve"]);
    assert_eq!(world(&p.path("worlds/alpha.json")), Vec::<String>::new());
}

#[test]
fn an_older_state_without_records_still_destroys_local_nodes() {
    let p = project(&[local(), cloud_b()]);
    apply_on_local(&p);
    forget_provider_records(&p);
    p.write_strategy(&strategy(&[cloud_b()]));
    p.ok(&["destroy", "--auto-approve"]);
    assert_eq!(p.node_dirs(), Vec::<PathBuf>::new());
    assert_eq!(p.node_processes(), vec![]);
}

/// `strategy` with `create_before_destroy` on its group.
fn creating_first(providers: &[Value]) -> Value {
    let mut s = strategy(providers);
    s["node"]["create_before_destroy"] = true.into();
    s
}

/// Applies, and checks from the progress lines that every node's replacement was ready before
/// its old object's delete began.
fn apply_creating_first(p: &Project, args: &[&str]) {
    let (code, out, err) = p.run(&[&["apply", "--auto-approve"], args].concat());
    assert_eq!(code, 0, "{out}\n{err}");
    for address in ["node.app[0]", "node.app[1]"] {
        let at = |needle: &str| {
            err.lines()
                .position(|l| l.contains(address) && l.contains(needle))
                .unwrap_or_else(|| panic!("no {address} line with {needle:?} in\n{err}"))
        };
        assert!(at("keeping the old object") < at("is ready; deleting the old object"));
        assert!(
            at("is ready; deleting the old object") < at("deleted"),
            "{err}"
        );
    }
}

#[test]
fn with_create_before_destroy_the_new_sim_nodes_are_ready_before_the_old_go() {
    let p = Project::with_strategy(&creating_first(&[cloud_a(), cloud_b()]));
    p.set_env("OSS_MIGRATION_KEY", "migration-key-1");
    p.ok(&["apply", "--auto-approve"]);
    p.write_strategy(&creating_first(&[cloud_b()]));
    apply_creating_first(&p, &[]);
    let on = providers_in_state(&p);
    assert!(
        on.iter().all(|(_, provider)| provider == "cloud-b"),
        "{on:?}"
    );
    assert_eq!(world(&p.path("worlds/alpha.json")), Vec::<String>::new());
    assert_eq!(plan_changes(&p, &[]), vec![]);
    p.ok(&["destroy", "--auto-approve"]);
}

#[test]
fn with_create_before_destroy_local_nodes_serve_until_their_sim_replacements_are_ready() {
    let p = Project::with_strategy(&creating_first(&[local(), cloud_b()]));
    p.ok(&["apply", "--auto-approve"]);
    p.write_strategy(&creating_first(&[cloud_b(), local()]));
    apply_creating_first(&p, &["--rebalance"]);
    all_on_cloud_b(&p);
    p.ok(&["destroy", "--auto-approve"]);
}
