//! The driver's parsing on the example responses of Vultr's published description
//! (tests/fixtures/examples/vultr, from vultr/vultr-ruby's blob/v0.0.1.json; the README there
//! names the commit): regions, plans and operating systems into the catalog, the instance
//! list, keys and firewall groups through refresh. The description gives no error body
//! example (its errors are prose only).
//!
//! Its plan example is sold in `sea` only, a region its region example does not list; the
//! catalog test reads it as it is, then once more sold in the listed `ams`.

use serde_json::Value;

use super::VultrCloud;
use super::offerings::assemble;
use crate::catalog::HOURS_PER_MONTH;
use crate::driver::rest_cloud::driver::testing::{items, known, observed};
use crate::driver::rest_cloud::marks::tags;
use crate::driver::rest_cloud::node::by_address;
use crate::resource::Kind;

const REGIONS: &str = include_str!("../../../tests/fixtures/examples/vultr/regions.json");
const PLANS: &str = include_str!("../../../tests/fixtures/examples/vultr/plans.json");
const OS: &str = include_str!("../../../tests/fixtures/examples/vultr/os.json");
const INSTANCES: &str = include_str!("../../../tests/fixtures/examples/vultr/instances.json");
const KEYS: &str = include_str!("../../../tests/fixtures/examples/vultr/ssh_keys.json");
const FIREWALLS: &str = include_str!("../../../tests/fixtures/examples/vultr/firewalls.json");

#[test]
fn the_example_regions_plans_and_systems_become_a_catalog() {
    let regions = items(REGIONS, "regions");
    let mut plans = items(PLANS, "plans");
    let systems = items(OS, "os");
    let c = assemble(&regions, &plans, &systems, None, "examples".into());
    assert_eq!(c.locations.len(), 1);
    let ams = &c.locations[0];
    assert_eq!(
        (ams.id.as_str(), ams.name.as_str(), ams.country.as_str()),
        ("ams", "Amsterdam", "NL")
    );
    assert_eq!(
        (ams.continent.as_str(), ams.latitude, ams.longitude),
        ("europe", 52.37, 4.90)
    );
    assert!(
        c.sizes.is_empty() && c.prices.is_empty(),
        "vhf-8c-32gb is sold in sea only: {:?}",
        c.sizes
    );
    assert_eq!(c.images.len(), 1);
    let image = &c.images[0];
    assert_eq!(
        (image.id.as_str(), image.name.as_str()),
        ("127", "CentOS 6 x64")
    );
    assert_eq!(
        (
            image.os.as_str(),
            image.version.as_str(),
            image.arch.as_str()
        ),
        ("centos", "6", "x86_64")
    );

    plans[0]["locations"] = serde_json::json!(["ams"]);
    let c = assemble(&regions, &plans, &systems, None, "examples".into());
    assert_eq!(c.sizes.len(), 1);
    let size = &c.sizes[0];
    assert_eq!(size.id, "vhf-8c-32gb");
    assert_eq!((size.vcpus, size.memory_gib, size.disk_gib), (8, 32.0, 512));
    assert_eq!(c.prices.len(), 1);
    assert_eq!(c.prices[0].location, "ams");
    assert_eq!(c.prices[0].hourly_price, 192.0 / HOURS_PER_MONTH);
    assert_eq!(c.prices[0].currency, "USD");
}

#[test]
fn the_example_instances_keys_and_firewall_groups_are_observed_by_refresh() {
    let instances = items(INSTANCES, "instances");
    let id = "cb676a46-66fd-4dfb-b839-443f2e6c0b60";
    let state = [
        known("node.web[0]", Kind::Node, id),
        known("node.web[1]", Kind::Node, "gone"),
        known("key.vultr.ams", Kind::Key, id),
        known("firewall.vultr.ams", Kind::Firewall, id),
    ];
    let seen = observed::<VultrCloud>(
        &state,
        &instances,
        &items(KEYS, "ssh_keys"),
        &items(FIREWALLS, "firewall_groups"),
    );
    let web0 = seen["node.web[0]"].clone().unwrap();
    assert_eq!(web0["public_ip"], "192.0.2.123");
    assert_eq!(
        web0["private_ip"],
        Value::Null,
        "the example's internal_ip is empty"
    );
    assert_eq!(
        (&web0["status"], &web0["region"]),
        (&"active".into(), &"atl".into())
    );
    assert_eq!(seen["node.web[1]"], None, "not listed: gone");
    assert_eq!(
        seen["key.vultr.ams"].clone().unwrap()["key_name"],
        "Example SSH Key"
    );
    let firewall = seen["firewall.vultr.ams"].clone().unwrap();
    assert_eq!(
        (&firewall["firewall_description"], &firewall["rule_count"]),
        (&"Example Firewall Group".into(), &0.into())
    );
    assert_eq!(tags(&instances[0]), ["a tag", "another"]);
    assert!(
        by_address(&instances).is_empty(),
        "the example's tags are not oss's"
    );
}
