//! The driver's parsing on the example responses of Hetzner Cloud's description
//! (tests/fixtures/examples/hetzner, assembled from the `example` of each field of
//! MaximilianKoestler/hcloud-openapi's openapi/hcloud.json; the README there names the
//! commit): locations, server types and images into the catalog, the server list, keys and
//! firewalls through refresh, the error body through the error sorting.
//!
//! An assembled example gives every field its example, the optional ones too: its server
//! type is being retired in its one location and its image is a deprecated snapshot. The
//! tests read them as they are, then once more with those fields as the description also
//! allows them (`deprecation` and `deprecated` null, a system image that is available).

use serde_json::Value;

use super::offerings::{CURRENCY, assemble};
use super::{HetznerCloud, marks};
use crate::driver::ErrorClass;
use crate::driver::rest_cloud::driver::testing::{error_of, items, known, observed};
use crate::driver::rest_cloud::node::by_address_of;
use crate::resource::Kind;

const LOCATIONS: &str = include_str!("../../../tests/fixtures/examples/hetzner/locations.json");
const TYPES: &str = include_str!("../../../tests/fixtures/examples/hetzner/server_types.json");
const IMAGES: &str = include_str!("../../../tests/fixtures/examples/hetzner/images.json");
const SERVERS: &str = include_str!("../../../tests/fixtures/examples/hetzner/servers.json");
const KEYS: &str = include_str!("../../../tests/fixtures/examples/hetzner/ssh_keys.json");
const FIREWALLS: &str = include_str!("../../../tests/fixtures/examples/hetzner/firewalls.json");
const ERROR: &str = include_str!("../../../tests/fixtures/examples/hetzner/error.json");

#[test]
fn the_example_locations_types_and_images_become_a_catalog() {
    let locations = items(LOCATIONS, "locations");
    let mut types = items(TYPES, "server_types");
    let mut images = items(IMAGES, "images");
    let c = assemble(&locations, &types, &images, None, "examples".into());
    assert_eq!(c.locations.len(), 1);
    let fsn1 = &c.locations[0];
    assert_eq!(
        (fsn1.id.as_str(), fsn1.name.as_str(), fsn1.country.as_str()),
        ("fsn1", "Falkenstein", "DE")
    );
    assert_eq!(
        (fsn1.continent.as_str(), fsn1.latitude, fsn1.longitude),
        ("europe", 50.47612, 12.370071)
    );
    assert!(
        c.sizes.is_empty() && c.prices.is_empty(),
        "cpx22 is being retired in fsn1: {:?}",
        c.sizes
    );
    assert!(c.images.is_empty(), "a deprecated snapshot: {:?}", c.images);

    types[0]["locations"][0]["deprecation"] = Value::Null;
    images[0]["type"] = "system".into();
    images[0]["status"] = "available".into();
    images[0]["deprecated"] = Value::Null;
    let c = assemble(&locations, &types, &images, None, "examples".into());
    assert_eq!(c.sizes.len(), 1);
    let size = &c.sizes[0];
    assert_eq!(size.id, "cpx22");
    assert_eq!((size.vcpus, size.memory_gib, size.disk_gib), (2, 4.0, 80));
    assert_eq!(size.arch, "x86_64");
    assert_eq!(c.prices.len(), 1);
    let price = &c.prices[0];
    assert_eq!(
        (price.location.as_str(), price.size.as_str()),
        ("fsn1", "cpx22")
    );
    assert_eq!(
        (price.hourly_price, price.currency.as_str()),
        (1.0, CURRENCY)
    );
    assert_eq!(c.images.len(), 1);
    let image = &c.images[0];
    assert_eq!(
        (image.id.as_str(), image.os.as_str(), image.version.as_str()),
        ("ubuntu-24.04", "ubuntu", "24.04")
    );
    assert_eq!(image.arch, "x86_64");
}

#[test]
fn the_example_servers_keys_and_firewalls_are_observed_by_refresh() {
    let servers = items(SERVERS, "servers");
    let state = [
        known("node.web[0]", Kind::Node, "42"),
        known("node.web[1]", Kind::Node, "43"),
        known("key.hetzner.fsn1", Kind::Key, "42"),
        known("firewall.hetzner.fsn1", Kind::Firewall, "42"),
    ];
    let seen = observed::<HetznerCloud>(
        &state,
        &servers,
        &items(KEYS, "ssh_keys"),
        &items(FIREWALLS, "firewalls"),
    );
    let web0 = seen["node.web[0]"].clone().unwrap();
    assert_eq!(web0["public_ip"], "1.2.3.4");
    assert_eq!(web0["private_ip"], "10.0.0.2");
    assert_eq!(web0["location"], "fsn1");
    assert_eq!(
        web0["status"],
        Value::Null,
        "the description gives the status no example"
    );
    assert_eq!(seen["node.web[1]"], None, "not listed: gone");
    let key = seen["key.hetzner.fsn1"].clone().unwrap();
    assert_eq!(
        (&key["key_name"], &key["fingerprint"]),
        (
            &"my-resource".into(),
            &"b7:2f:30:a0:2f:6c:58:6c:21:04:58:61:ba:06:3b:2f".into()
        )
    );
    let firewall = seen["firewall.hetzner.fsn1"].clone().unwrap();
    assert_eq!(
        (&firewall["firewall_name"], &firewall["applied_to"]),
        (&"new-name".into(), &1.into())
    );
    // The example's labels are the user's, not oss's: no server is taken for a node address.
    assert_eq!(servers[0]["labels"]["environment"], "prod");
    assert!(by_address_of(&servers, marks::address_of).is_empty());
}

#[test]
fn the_example_error_body_is_sorted_by_its_code() {
    let e = error_of::<HetznerCloud>(401, ERROR, "GET /servers");
    assert_eq!(e.class, ErrorClass::Fatal);
    assert_eq!(e.code.as_deref(), Some("unauthorized"));
    assert!(e.message.contains("unable to authenticate"), "{e}");
    assert!(e.message.contains("HCLOUD_TOKEN"), "the hint: {e}");
}
