//! The driver's parsing on DigitalOcean's published example responses
//! (tests/fixtures/examples/digitalocean, from digitalocean/openapi; the README there names
//! each file's source): regions, sizes and distribution images into the catalog, the droplet
//! list, keys and firewalls through refresh, error bodies through the error sorting.

use serde_json::Value;

use super::DigitalOceanCloud;
use super::offerings::assemble;
use crate::driver::ErrorClass;
use crate::driver::rest_cloud::driver::testing::{error_of, items, known, observed};
use crate::driver::rest_cloud::marks::tags;
use crate::driver::rest_cloud::node::{by_address, tagged};
use crate::resource::Kind;

const REGIONS: &str = include_str!("../../../tests/fixtures/examples/digitalocean/regions.json");
const SIZES: &str = include_str!("../../../tests/fixtures/examples/digitalocean/sizes.json");
const IMAGES: &str =
    include_str!("../../../tests/fixtures/examples/digitalocean/images_distribution.json");
const DROPLETS: &str =
    include_str!("../../../tests/fixtures/examples/digitalocean/droplets_tagged.json");
const KEYS: &str = include_str!("../../../tests/fixtures/examples/digitalocean/ssh_keys.json");
const FIREWALLS: &str =
    include_str!("../../../tests/fixtures/examples/digitalocean/firewalls.json");
const UNAUTHORIZED: &str =
    include_str!("../../../tests/fixtures/examples/digitalocean/error_unauthorized.json");
const TOO_MANY: &str =
    include_str!("../../../tests/fixtures/examples/digitalocean/error_too_many_requests.json");

#[test]
fn the_example_regions_sizes_and_images_become_a_priced_catalog() {
    let c = assemble(
        &items(REGIONS, "regions"),
        &items(SIZES, "sizes"),
        &items(IMAGES, "images"),
        None,
        "examples".into(),
    );
    assert_eq!(c.locations.len(), 1);
    let nyc3 = &c.locations[0];
    assert_eq!(
        (nyc3.id.as_str(), nyc3.name.as_str(), nyc3.country.as_str()),
        ("nyc3", "New York 3", "US")
    );
    assert_eq!(nyc3.continent, "north-america");
    assert_eq!(c.sizes.len(), 1);
    let size = &c.sizes[0];
    assert_eq!(size.id, "s-1vcpu-1gb");
    assert_eq!((size.vcpus, size.memory_gib, size.disk_gib), (1, 1.0, 25));
    // The size is sold in 13 regions; the catalog prices it in the one region listed.
    assert_eq!(c.prices.len(), 1, "{:?}", c.prices);
    assert_eq!(c.prices[0].location, "nyc3");
    assert_eq!(c.prices[0].hourly_price, 0.00743999984115362);
    assert_eq!(c.prices[0].currency, "USD");
    assert_eq!(c.images.len(), 1);
    let image = &c.images[0];
    assert_eq!(
        (image.id.as_str(), image.os.as_str(), image.version.as_str()),
        ("ubuntu-20-04-x64", "ubuntu", "20.04")
    );
    assert_eq!(image.arch, "x86_64");
}

#[test]
fn the_example_droplets_keys_and_firewalls_are_observed_by_refresh() {
    let droplets = items(DROPLETS, "droplets");
    let state = [
        known("node.web[0]", Kind::Node, "3164444"),
        known("node.web[1]", Kind::Node, "3164459"),
        known("node.web[2]", Kind::Node, "1"),
        known("key.do.nyc3", Kind::Key, "289794"),
        known(
            "firewall.do.nyc3",
            Kind::Firewall,
            "fb6045f1-cf1d-4ca3-bfac-18832663025b",
        ),
    ];
    let seen = observed::<DigitalOceanCloud>(
        &state,
        &droplets,
        &items(KEYS, "ssh_keys"),
        &items(FIREWALLS, "firewalls"),
    );
    let web0 = seen["node.web[0]"].clone().unwrap();
    assert_eq!(web0["public_ip"], "192.241.165.154");
    assert_eq!(web0["private_ip"], "10.128.192.124");
    assert_eq!(
        (&web0["status"], &web0["region"]),
        (&"active".into(), &"nyc3".into())
    );
    assert_eq!(
        seen["node.web[1]"].clone().unwrap()["public_ip"],
        "162.243.0.4"
    );
    assert_eq!(seen["node.web[2]"], None, "not listed: gone");
    let key = seen["key.do.nyc3"].clone().unwrap();
    assert_eq!(
        key["fingerprint"],
        "3b:16:e4:bf:8b:00:8b:b8:59:8c:a9:d3:f0:19:fa:45"
    );
    assert_eq!(key["key_name"], "Other Public Key");
    let firewall = seen["firewall.do.nyc3"].clone().unwrap();
    assert_eq!(firewall["firewall_name"], "firewall");
    assert_eq!(firewall["status"], "succeeded");
    assert_eq!(
        firewall["target_tag"],
        Value::Null,
        "the example applies to no tag"
    );
    // The example's tags are the user's, not oss's: no droplet is taken for a node address.
    assert_eq!(tags(&droplets[0]), ["web", "env:prod"]);
    assert_eq!(tagged(&droplets[0]), None);
    assert!(by_address(&droplets).is_empty());
}

#[test]
fn the_example_error_bodies_are_sorted_with_their_code_and_words() {
    let e = error_of::<DigitalOceanCloud>(401, UNAUTHORIZED, "GET /v2/droplets");
    assert_eq!(e.class, ErrorClass::Fatal);
    assert_eq!(e.code.as_deref(), Some("unauthorized"));
    assert!(e.message.contains("Unable to authenticate you"), "{e}");
    assert!(e.message.contains("DIGITALOCEAN_TOKEN"), "the hint: {e}");
    let e = error_of::<DigitalOceanCloud>(429, TOO_MANY, "GET /v2/droplets");
    assert_eq!(e.class, ErrorClass::Retry);
    assert_eq!(e.code.as_deref(), Some("too_many_requests"));
    assert!(e.message.contains("API rate limit exceeded"), "{e}");
}
