//! The driver's parsing on the example responses of Linode's published description
//! (tests/fixtures/examples/linode, assembled from the `example` of each field of
//! linode/linode-api-docs' openapi.yaml; the README there names the commit): regions, types
//! and images into the catalog, the instance list, keys and firewalls through refresh, the
//! error body through the error sorting.

use super::LinodeCloud;
use super::offerings::assemble;
use crate::driver::ErrorClass;
use crate::driver::rest_cloud::driver::testing::{error_of, items, known, observed};
use crate::driver::rest_cloud::marks::tags;
use crate::driver::rest_cloud::node::by_address;
use crate::resource::Kind;
use serde_json::Value;

const REGIONS: &str = include_str!("../../../tests/fixtures/examples/linode/regions.json");
const TYPES: &str = include_str!("../../../tests/fixtures/examples/linode/types.json");
const IMAGES: &str = include_str!("../../../tests/fixtures/examples/linode/images.json");
const INSTANCES: &str = include_str!("../../../tests/fixtures/examples/linode/instances.json");
const KEYS: &str = include_str!("../../../tests/fixtures/examples/linode/sshkeys.json");
const FIREWALLS: &str = include_str!("../../../tests/fixtures/examples/linode/firewalls.json");
const ERROR: &str = include_str!("../../../tests/fixtures/examples/linode/error.json");

#[test]
fn the_example_regions_types_and_images_become_a_priced_catalog() {
    let c = assemble(
        &items(REGIONS, "data"),
        &items(TYPES, "data"),
        &items(IMAGES, "data"),
        None,
        "examples".into(),
    );
    assert_eq!(c.locations.len(), 1);
    let east = &c.locations[0];
    assert_eq!(
        (east.id.as_str(), east.name.as_str(), east.country.as_str()),
        ("us-east", "Newark, NJ, USA", "US")
    );
    assert_eq!(
        (east.continent.as_str(), east.latitude),
        ("north-america", 40.74)
    );
    assert_eq!(c.sizes.len(), 1);
    let size = &c.sizes[0];
    assert_eq!(size.id, "g6-standard-2");
    assert_eq!((size.vcpus, size.memory_gib, size.disk_gib), (2, 4.0, 80));
    assert_eq!(c.prices.len(), 1, "{:?}", c.prices);
    // The type's price is 0.03 an hour; us-east has its own, 0.036.
    assert_eq!(c.prices[0].location, "us-east");
    assert_eq!(c.prices[0].hourly_price, 0.036);
    assert_eq!(c.images.len(), 1);
    let image = &c.images[0];
    assert_eq!(
        (image.id.as_str(), image.os.as_str(), image.version.as_str()),
        ("linode/debian11", "debian", "11")
    );
}

#[test]
fn the_example_instances_keys_and_firewalls_are_observed_by_refresh() {
    let instances = items(INSTANCES, "data");
    let state = [
        known("node.web[0]", Kind::Node, "123"),
        known("node.web[1]", Kind::Node, "124"),
        known("key.linode.us-east", Kind::Key, "42"),
        known("firewall.linode.us-east", Kind::Firewall, "123"),
    ];
    let seen = observed::<LinodeCloud>(
        &state,
        &instances,
        &items(KEYS, "data"),
        &items(FIREWALLS, "data"),
    );
    let web0 = seen["node.web[0]"].clone().unwrap();
    assert_eq!(web0["public_ip"], "203.0.113.1");
    // The example's second address, 192.0.2.1, is a documentation address, not a private
    // range one: no private address is read.
    assert_eq!(web0["private_ip"], Value::Null);
    assert_eq!(
        (&web0["status"], &web0["region"]),
        (&"running".into(), &"us-east".into())
    );
    assert_eq!(seen["node.web[1]"], None, "not listed: gone");
    assert_eq!(
        seen["key.linode.us-east"].clone().unwrap()["key_label"],
        "My SSH Key"
    );
    let firewall = seen["firewall.linode.us-east"].clone().unwrap();
    assert_eq!(
        (&firewall["firewall_label"], &firewall["status"]),
        (&"firewall123".into(), &"enabled".into())
    );
    assert_eq!(tags(&instances[0]), ["example tag", "another example"]);
    assert!(
        by_address(&instances).is_empty(),
        "the example's tags are not oss's"
    );
}

#[test]
fn the_example_error_body_keeps_its_field_and_reason() {
    let e = error_of::<LinodeCloud>(400, ERROR, "POST /v4/linode/instances");
    assert_eq!(e.class, ErrorClass::Fatal);
    assert_eq!(e.code.as_deref(), Some("field_fieldname"));
    assert!(
        e.message
            .contains("fieldname: fieldname must be a valid value"),
        "{e}"
    );
}
