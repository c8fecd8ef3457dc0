//! Placement end to end on simulated providers: cheapest across three providers, fail-over
//! when the cheapest location has no capacity (state records where nodes really are), random
//! placements reproducible by seed, and the cost in the plan.

mod common;

use std::path::PathBuf;

use common::Project;
use serde_json::{Value, json};

fn example(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The three simulated clouds of examples/sim, by absolute path so the project can live anywhere.
fn with_catalog_paths(mut strategy: Value) -> Value {
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    for option in strategy["provider"]["options"].as_array_mut().unwrap() {
        if let Some(catalog) = option["sim"]["catalog"].as_str()
            && catalog != "aws"
        {
            option["sim"]["catalog"] = base.join(catalog).to_string_lossy().into_owned().into();
        }
    }
    strategy
}

fn placements(p: &Project, name: &str) -> Vec<String> {
    p.state(name)["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let pl = &r["placement"];
            format!(
                "{}/{}/{}",
                pl["provider"].as_str().unwrap(),
                pl["location"].as_str().unwrap(),
                pl["size"].as_str().unwrap()
            )
        })
        .collect()
}

/// Instances the simulated provider really holds, as (location, size) per address.
fn sim_instances(p: &Project, provider: &str) -> Vec<(String, String, String)> {
    let file = p.path(&format!("state/sim/{provider}.json"));
    if !file.exists() {
        return Vec::new();
    }
    let mut all: Vec<(String, String, String)> = oss::driver::sim::instances(&file)
        .unwrap()
        .into_iter()
        .map(|i| {
            (
                i.address.to_string(),
                i.placement.location.clone(),
                i.placement.size.clone(),
            )
        })
        .collect();
    all.sort();
    all
}

#[test]
fn cheapest_across_three_providers_then_apply_lands_there() {
    let p = Project::with_strategy(&with_catalog_paths(example(
        "cheapest-across-providers.json",
    )));
    let plan = p.ok(&["plan"]);
    // b-mel b2.medium at 0.018/h is the cheapest 2 vCPU / 4 GiB x86 offering of all three.
    assert_eq!(plan.matches("+ location = \"b-mel\"").count(), 4, "{plan}");
    assert!(plan.contains("$0.0180/h ($13.14/month)"), "{plan}");
    assert!(
        plan.contains("Cost: $0.00/month -> $52.56/month (+$52.56/month)"),
        "{plan}"
    );

    p.ok(&["apply", "--auto-approve", "--parallelism", "4"]);
    assert_eq!(
        placements(&p, "cheapest"),
        vec!["cloud-b/b-mel/b2.medium"; 4]
    );
    assert_eq!(sim_instances(&p, "cloud-b").len(), 4);
    assert!(sim_instances(&p, "cloud-a").is_empty() && sim_instances(&p, "cloud-c").is_empty());
    let (code, out, _) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");

    p.ok(&["destroy", "--auto-approve"]);
    assert!(sim_instances(&p, "cloud-b").is_empty());
}

#[test]
fn no_capacity_at_the_cheapest_location_fails_over_and_state_says_where_nodes_are() {
    let mut strategy = with_catalog_paths(example("cheapest-across-providers.json"));
    strategy["provider"]["options"][1]["sim"]["capacity"] = json!({"b-mel": 0});
    let p = Project::with_strategy(&strategy);
    // Capacity is not advertised, as with real clouds: the plan still aims at b-mel.
    let plan = p.ok(&["plan"]);
    assert_eq!(plan.matches("+ location = \"b-mel\"").count(), 4, "{plan}");

    let (code, out, err) = p.run(&["apply", "--auto-approve", "--parallelism", "1"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("cloud-b/b-mel/b2.medium/ubuntu-24.04 refused (InsufficientInstanceCapacity"),
        "{err}"
    );
    assert!(
        out.contains("fail-over node.app[0]: cloud-b/b-mel/b2.medium/ubuntu-24.04 refused"),
        "{out}"
    );
    // Next cheapest: c-us-east c.std at 0.019.
    assert_eq!(
        placements(&p, "cheapest"),
        vec!["cloud-c/c-us-east/c.std"; 4]
    );
    let real = sim_instances(&p, "cloud-c");
    assert_eq!(real.len(), 4);
    assert!(
        real.iter()
            .all(|(_, l, s)| l == "c-us-east" && s == "c.std")
    );
    assert!(sim_instances(&p, "cloud-b").is_empty());
    // The state is the truth: no changes planned, the nodes stay where they landed.
    let (code, out, _) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");
    p.ok(&["destroy", "--auto-approve"]);
}

#[test]
fn random_with_the_same_seed_plans_the_same_twice() {
    let mut strategy = with_catalog_paths(example("cheapest-across-providers.json"));
    strategy["default_pick"] = "random".into();
    strategy["node"]["count"] = 8.into();
    let p = Project::with_strategy(&strategy);
    let first = p.ok(&["plan", "--seed", "1234", "--json"]);
    let second = p.ok(&["plan", "--seed", "1234", "--json"]);
    assert_eq!(first, second);
    let other = p.ok(&["plan", "--seed", "99", "--json"]);
    assert_ne!(first, other, "another seed places differently");
    // The seed is kept in state by apply, so later plans stay put without --seed.
    p.ok(&["apply", "--auto-approve", "--seed", "1234"]);
    let (code, out, _) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");
    p.ok(&["destroy", "--auto-approve"]);
}

#[test]
fn a_cheaper_offer_does_not_move_nodes_unless_rebalancing() {
    let mut strategy = with_catalog_paths(example("cheapest-across-providers.json"));
    strategy["provider"]["options"][1]["sim"]["capacity"] = json!({"b-mel": 0});
    let p = Project::with_strategy(&strategy);
    p.ok(&["apply", "--auto-approve"]);
    assert_eq!(
        placements(&p, "cheapest"),
        vec!["cloud-c/c-us-east/c.std"; 4]
    );
    // Capacity comes back at b-mel: sticky placement keeps the fleet where it is...
    strategy["provider"]["options"][1]["sim"]
        .as_object_mut()
        .unwrap()
        .remove("capacity");
    p.write_strategy(&strategy);
    let (code, out, _) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");
    // ...unless asked, and then the plan shows the saving.
    let out = p.ok(&["plan", "--rebalance"]);
    assert!(
        out.contains("Plan: 4 to add, 0 to change, 4 to destroy."),
        "{out}"
    );
    assert!(
        out.contains("Cost: $55.48/month -> $52.56/month (-$2.92/month, -5.3%)"),
        "{out}"
    );
    p.ok(&["destroy", "--auto-approve"]);
}

#[test]
fn auth_errors_fail_without_fail_over() {
    let mut strategy = with_catalog_paths(example("cheapest-across-providers.json"));
    strategy["provider"]["options"][1]["sim"]["api_key"] = "env.OSS_TEST_SIM_KEY".into();
    strategy["provider"]["options"][1]["sim"]["require_api_key"] = "the-right-key".into();
    let p = Project::with_strategy(&strategy);
    let out = p
        .oss()
        .args(["apply", "--auto-approve"])
        .env("OSS_TEST_SIM_KEY", "a-wrong-key")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("AuthFailure"), "{stdout}");
    assert!(
        !stdout.contains("fail-over"),
        "auth errors must not fail over: {stdout}"
    );
    assert!(sim_instances(&p, "cloud-c").is_empty() && sim_instances(&p, "cloud-a").is_empty());
    assert!(
        !format!("{stdout}{stderr}").contains("a-wrong-key"),
        "the key leaked"
    );
}

#[test]
fn key_pairs_and_firewalls_per_region_come_first_and_go_last() {
    let mut strategy = with_catalog_paths(example("cheapest-across-providers.json"));
    for option in strategy["provider"]["options"].as_array_mut().unwrap() {
        option["sim"]["regional_resources"] = true.into();
    }
    strategy["node"]["count"] = 2.into();
    strategy["node"]["ssh_public_key"] = "id_test.pub".into();
    let p = Project::with_strategy(&strategy);
    std::fs::write(
        p.path("id_test.pub"),
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOss oss@test\n",
    )
    .unwrap();

    let plan = p.ok(&["plan"]);
    assert!(
        plan.contains("firewall.cloud-b.b-mel will be created"),
        "{plan}"
    );
    assert!(plan.contains("key.cloud-b.b-mel will be created"), "{plan}");
    assert!(
        plan.contains("+ public_key = \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOss oss@test\""),
        "{plan}"
    );

    // The simulated cloud refuses a node whose region's firewall and key pair were not handed
    // to it, so a successful apply proves dependencies come first and reach the driver.
    p.ok(&["apply", "--auto-approve"]);
    let objects = oss::driver::sim::instances(&p.path("state/sim/cloud-b.json")).unwrap();
    let kinds: Vec<String> = objects.iter().map(|o| format!("{:?}", o.kind)).collect();
    assert!(
        kinds.contains(&"Firewall".to_string()) && kinds.contains(&"Key".to_string()),
        "{kinds:?}"
    );
    let (code, out, _) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");

    // Opening another port changes firewalls in place.
    strategy["node"]["ports"] = json!([443, 8443]);
    p.write_strategy(&strategy);
    let plan = p.ok(&["plan"]);
    assert!(
        plan.contains("firewall.cloud-b.b-mel will be updated in place: ports changed"),
        "{plan}"
    );

    // Destroy removes machines first: the simulated cloud refuses to delete a firewall in use.
    let out = p.ok(&["destroy", "--auto-approve"]);
    assert!(out.contains("Destroy complete"), "{out}");
    for cloud in ["cloud-a", "cloud-b", "cloud-c"] {
        let file = p.path(&format!("state/sim/{cloud}.json"));
        if file.exists() {
            assert!(
                oss::driver::sim::instances(&file).unwrap().is_empty(),
                "{cloud} keeps objects"
            );
        }
    }
}
