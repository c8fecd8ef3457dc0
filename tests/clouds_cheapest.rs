//! `cheapest` across real clouds' APIs: DigitalOcean and Linode, each behind its REST fake
//! (tests/common/rest_fake) refereed by its published OpenAPI description, in one strategy.
//! The cheapest offer anywhere wins (Linode's Nanode, by the prices the two APIs give); a
//! capacity refusal at Linode moves its nodes to the next-cheapest valid candidate
//! (DigitalOcean's smallest droplet, not Linode's dearer types); `"spread": "provider"` with
//! `2:1` puts the two replicas of a slot at different providers.

mod common;

use common::Project;
use common::rest_fake::Fake;
use common::rest_fake::digitalocean::{self, DigitalOcean};
use common::rest_fake::linode::{self, Linode};
use serde_json::{Value, json};

const DO_TOKEN: &str = "dop_v1_oss_cross_cloud_token_0123456789";
const LINODE_TOKEN: &str = "oss_linode_cross_cloud_token_0123456789abcdef";
const PUBLIC_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHWnHZMLkm8VIHYXdljxkVSNn7dqN3Qv3CX3ShDNa0Ef oss-test";

struct Clouds {
    digitalocean: Fake<DigitalOcean>,
    linode: Fake<Linode>,
}

fn clouds() -> Clouds {
    Clouds {
        digitalocean: Fake::start(DigitalOcean::new(), digitalocean::SPEC, DO_TOKEN),
        linode: Fake::start(Linode::new(), linode::SPEC, LINODE_TOKEN),
    }
}

fn project(clouds: &Clouds, name: &str, node: Value) -> Project {
    let mut node = node;
    let base = json!({
        "name": "web",
        "image": {"options": [{"os": "ubuntu", "version": "24.04"}]},
        "hardware": {"options": [{"min_vcpus": 1, "min_memory_gib": 1, "arch": "x86_64"}]},
        "location": {"options": [{"continent": "north-america"}]},
        "ports": [22],
        "ssh_public_key": "id.pub"
    });
    for (k, v) in base.as_object().unwrap() {
        node.as_object_mut()
            .unwrap()
            .entry(k.clone())
            .or_insert(v.clone());
    }
    let strategy = json!({
        "name": name,
        "default_pick": "cheapest",
        "provider": {"options": [
            {"digitalocean": {"endpoint": clouds.digitalocean.url(),
                              "token": "env.OSS_TEST_DO_TOKEN", "request_timeout": 2}},
            {"linode": {"endpoint": clouds.linode.url(),
                        "token": "env.OSS_TEST_LINODE_TOKEN", "request_timeout": 2}}
        ]},
        "node": node
    });
    let p = Project::with_strategy(&strategy);
    std::fs::write(p.path("id.pub"), format!("{PUBLIC_KEY}\n")).unwrap();
    p.set_env("OSS_TEST_DO_TOKEN", DO_TOKEN);
    p.set_env("OSS_TEST_LINODE_TOKEN", LINODE_TOKEN);
    p
}

fn nodes(state: &Value) -> Vec<&Value> {
    state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "node")
        .collect()
}

fn finish(p: &Project, clouds: &Clouds) {
    p.ok(&["destroy", "--auto-approve"]);
    assert!(clouds.digitalocean.world().droplets.is_empty());
    assert!(clouds.linode.world().instances.is_empty());
    clouds.digitalocean.assert_conforming();
    clouds.linode.assert_conforming();
}

#[test]
fn cheapest_picks_across_both_clouds_by_their_own_prices() {
    let clouds = clouds();
    let p = project(&clouds, "cheap", json!({"count": 3}));
    p.ok(&["apply", "--auto-approve"]);
    let state = p.state("cheap");
    let placed = nodes(&state);
    assert_eq!(placed.len(), 3);
    for node in &placed {
        let placement = &node["placement"];
        assert_eq!(placement["provider"], "linode", "{placement:#}");
        assert_eq!(placement["size"], "g6-nanode-1");
        assert_eq!(placement["hourly_price"], 0.0075);
    }
    // Both catalogs were read: DigitalOcean's offers were candidates too, and lost on price.
    assert!(clouds.digitalocean.count("sizes_list") >= 1);
    assert!(clouds.linode.count("get-linode-types") >= 1);
    assert_eq!(clouds.linode.world().instances.len(), 3);
    assert!(clouds.digitalocean.world().droplets.is_empty());
    let (code, out, err) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "no changes\n{out}\n{err}");
    finish(&p, &clouds);
}

#[test]
fn a_refusal_at_linode_moves_its_nodes_to_the_next_cheapest_valid_candidate() {
    let clouds = clouds();
    {
        let mut world = clouds.linode.world();
        world.refuse("us-east", Some("g6-nanode-1"));
        world.refuse("us-ord", Some("g6-nanode-1"));
    }
    let p = project(&clouds, "refused", json!({"count": 2}));
    let (code, out, err) = p.run(&["apply", "--auto-approve", "--parallelism", "1"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let all = format!("{out}\n{err}");
    assert!(
        all.contains("not currently available in the selected region"),
        "the output says why\n{all}"
    );
    let state = p.state("refused");
    for node in nodes(&state) {
        let placement = &node["placement"];
        // The next cheapest after Linode's Nanode (0.0075): DigitalOcean's 0.00893, not
        // Linode's 2 GB type at 0.018.
        assert_eq!(placement["provider"], "digitalocean", "{placement:#}");
        assert_eq!(placement["size"], "s-1vcpu-1gb");
        assert_eq!(placement["hourly_price"], 0.00893);
    }
    assert!(clouds.linode.world().instances.is_empty());
    assert_eq!(clouds.digitalocean.world().droplets.len(), 2);
    finish(&p, &clouds);
}

#[test]
fn spread_provider_puts_the_replicas_of_a_slot_at_different_providers() {
    let clouds = clouds();
    let p = project(
        &clouds,
        "spread",
        json!({"count": 2, "redundancy": "2:1", "spread": "provider"}),
    );
    p.ok(&["apply", "--auto-approve"]);
    let state = p.state("spread");
    let placed = nodes(&state);
    assert_eq!(placed.len(), 4);
    let at = |provider: &str| {
        placed
            .iter()
            .filter(|n| n["placement"]["provider"] == provider)
            .count()
    };
    // No provider may hold more than the 2 slots: two nodes each, the cheapest at each.
    assert_eq!((at("linode"), at("digitalocean")), (2, 2), "{placed:#?}");
    assert_eq!(clouds.linode.world().instances.len(), 2);
    assert_eq!(clouds.digitalocean.world().droplets.len(), 2);
    for node in &placed {
        let price = node["placement"]["hourly_price"].as_f64().unwrap();
        assert!(price == 0.0075 || price == 0.00893, "{node:#}");
    }
    finish(&p, &clouds);
}
