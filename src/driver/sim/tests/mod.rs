//! Tests of the sim driver through its public calls and its state file: settings, catalogs
//! and the round trip here, faults and the world file in their own files.

mod faults;
mod store;

use super::*;
use crate::driver::ErrorClass;
use crate::driver::Scope;
use crate::resource::Placement;
use serde_json::{Map, json};
use std::collections::HashSet;
use std::fs;
use std::net::Ipv4Addr;
use tempfile::TempDir;

const LINEAGE: &str = "lineage-test";

fn location(id: &str) -> Value {
    json!({
        "id": id, "name": id.to_uppercase(), "region": "sim-1", "zone": id,
        "country": "AU", "continent": "oceania", "latitude": -33.9, "longitude": 151.2
    })
}

/// Two locations and two sizes; `large` is only offered in `sim-a`.
fn catalog() -> Value {
    json!({
        "locations": [location("sim-a"), location("sim-b")],
        "sizes": [
            {"id": "small", "name": "Small", "vcpus": 1, "memory_gib": 1.0, "disk_gib": 10, "arch": "x86_64"},
            {"id": "large", "name": "Large", "vcpus": 8, "memory_gib": 32.0, "disk_gib": 100, "arch": "x86_64"}
        ],
        "images": [
            {"id": "ubuntu-24.04", "name": "Ubuntu 24.04", "os": "ubuntu", "version": "24.04", "arch": "any"}
        ],
        "prices": [
            {"location": "sim-a", "size": "small", "hourly_price": 0.01, "currency": "USD"},
            {"location": "sim-a", "size": "large", "hourly_price": 0.4, "currency": "USD"},
            {"location": "sim-b", "size": "small", "hourly_price": 0.02, "currency": "USD"}
        ]
    })
}

struct Env {
    tmp: TempDir,
}

impl Env {
    fn new() -> Self {
        Env {
            tmp: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A driver named `sim` on this environment's state directory; `extra` is merged into
    /// settings that hold the test catalog.
    /// A driver without oss's own pacing: these tests look at the simulated provider itself
    /// (its limit, its seeded faults); the pacing test turns pacing on.
    fn driver(&self, extra: Value) -> SimDriver {
        let mut driver = self.try_driver(extra).expect("driver");
        driver.pace = crate::net::pace::Pace::off();
        driver
    }

    fn try_driver(&self, extra: Value) -> Result<SimDriver, DriverError> {
        let mut settings = Map::new();
        settings.insert("catalog".into(), catalog());
        if let Value::Object(extra) = extra {
            settings.extend(extra);
        }
        SimDriver::new(DriverConfig {
            base_dir: PathBuf::from("."),
            name: "sim".into(),
            settings: settings.into(),
            state_dir: self.tmp.path().join("state"),
        })
    }

    fn state_file(&self) -> PathBuf {
        self.tmp.path().join("state/sim/sim.json")
    }

    fn instances(&self) -> Vec<SimInstance> {
        instances(&self.state_file()).expect("instances")
    }
}

fn placement(location: &str, size: &str) -> Placement {
    Placement {
        provider: "sim".into(),
        location: location.into(),
        size: size.into(),
        image: "ubuntu-24.04".into(),
        hourly_price: Some(0.01),
        currency: Some("USD".into()),
    }
}

fn node(index: usize) -> Desired {
    let attributes = json!({
        "name": format!("web-{index}"),
        "index": index,
        "command": "true",
        "tags": {"team": "a"},
    });
    Desired {
        address: Address::node("web", index),
        kind: Kind::Node,
        placement: placement("sim-a", "small"),
        fallbacks: Default::default(),
        attributes: serde_json::from_value(attributes).expect("attributes"),
        depends_on: Vec::new(),
        templates: Default::default(),
        unknown: Default::default(),
    }
}

async fn create_at(
    driver: &SimDriver,
    index: usize,
    location: &str,
    size: &str,
) -> Result<Existing, DriverError> {
    let desired = node(index);
    let placement = placement(location, size);
    let request = CreateRequest {
        desired: &desired,
        placement: &placement,
        lineage: LINEAGE,
        dependencies: &[],
        replacing: &[],
    };
    driver.create(request).await
}

async fn create(driver: &SimDriver, index: usize) -> Result<Existing, DriverError> {
    create_at(driver, index, "sim-a", "small").await
}

#[tokio::test]
async fn catalog_comes_from_an_inline_object_or_a_file() {
    let env = Env::new();
    let inline = env.driver(json!({})).catalog().await.expect("catalog");
    assert_eq!(inline.locations.len(), 2);
    assert_eq!(inline.sizes[1].id, "large");
    assert_eq!(inline.prices.len(), 3);
    assert!(inline.prices.iter().all(|p| p.capacity.is_none()));
    assert_eq!(
        inline.source.as_deref(),
        Some("simulated provider sim (rehearsal, not a cloud)")
    );

    let path = env.tmp.path().join("catalog.json");
    fs::write(&path, catalog().to_string()).expect("write catalog");
    let from_file = env
        .driver(json!({"catalog": path.to_str().expect("utf-8")}))
        .catalog()
        .await
        .expect("catalog");
    assert_eq!(from_file, inline);
}

#[test]
fn bad_catalogs_are_refused() {
    let env = Env::new();
    let refused = |settings: Value| {
        let error = env.try_driver(settings).err().expect("refused");
        assert_eq!(error.class, ErrorClass::Fatal);
        error.message
    };

    let mut config = DriverConfig {
        base_dir: PathBuf::from("."),
        name: "sim".into(),
        settings: Map::new().into(),
        state_dir: env.tmp.path().to_path_buf(),
    };
    let missing = SimDriver::new(config.clone()).err().expect("refused");
    assert!(
        missing
            .message
            .contains("Missing required setting \"catalog\""),
        "{}",
        missing.message
    );
    config.settings.insert("catalog".into(), json!(3));
    assert!(SimDriver::new(config).is_err());

    let mut bad_location = catalog();
    bad_location["prices"][0]["location"] = json!("sim-z");
    let message = refused(json!({"catalog": bad_location}));
    assert!(message.contains("unknown location `sim-z`"), "{message}");
    assert!(message.contains("sim-a, sim-b"), "{message}");

    let mut bad_size = catalog();
    bad_size["prices"][2]["size"] = json!("huge");
    let message = refused(json!({"catalog": bad_size}));
    assert!(message.contains("unknown size `huge`"), "{message}");

    let mut incomplete = catalog();
    incomplete["locations"][0]
        .as_object_mut()
        .expect("object")
        .remove("zone");
    let message = refused(json!({"catalog": incomplete}));
    assert!(message.contains("not a catalog"), "{message}");
    assert!(message.contains("zone"), "{message}");

    let mut with_capacity = catalog();
    with_capacity["prices"][0]["capacity"] = json!(3);
    let message = refused(json!({"catalog": with_capacity}));
    assert!(message.contains("sim setting `capacity`"), "{message}");

    let absent = env.tmp.path().join("absent.json");
    let message = refused(json!({"catalog": absent.to_str().expect("utf-8")}));
    assert!(message.contains("could not be read"), "{message}");

    let broken = env.tmp.path().join("broken.json");
    fs::write(&broken, "{\"locations\": [").expect("write");
    let message = refused(json!({"catalog": broken.to_str().expect("utf-8")}));
    assert!(message.contains("broken.json"), "{message}");
    assert!(message.contains("not a catalog"), "{message}");
}

#[test]
fn unknown_and_malformed_settings_are_refused() {
    let env = Env::new();
    let message = |settings: Value| env.try_driver(settings).err().expect("refused").message;

    let unknown = message(json!({"latency": 5}));
    assert!(unknown.contains("`latency`"), "{unknown}");
    assert!(
        unknown.contains("catalog, latency_ms, errors, seed, capacity, advertise_capacity, rate_limit, state_file"),
        "{unknown}"
    );
    let unknown = message(json!({"errors": {"throttling": 0.1}}));
    assert!(unknown.contains("\"throttling\""), "{unknown}");
    assert!(
        unknown.contains("throttle, unavailable, timeout"),
        "{unknown}"
    );

    assert!(message(json!({"errors": {"throttle": 0.7, "timeout": 0.7}})).contains("more than 1"));
    assert!(message(json!({"errors": {"timeout": 2}})).contains("probability"));
    assert!(message(json!({"latency_ms": -1})).contains("latency_ms"));
    assert!(message(json!({"seed": "x"})).contains("seed"));
    assert!(message(json!({"rate_limit": 0})).contains("rate_limit"));
    assert!(message(json!({"capacity": {"sim-z": 1}})).contains("`sim-z`"));
    assert!(message(json!({"capacity": {"sim-a/huge": 1}})).contains("`sim-a/huge`"));
    assert!(message(json!({"capacity": {"sim-a": -1}})).contains("non-negative"));
}

#[tokio::test]
async fn create_refresh_delete_round_trip() {
    let env = Env::new();
    let driver = env.driver(json!({}));
    assert_eq!(driver.name(), "sim");
    assert_eq!(driver.state_file(), env.state_file());

    let existing = create(&driver, 0).await.expect("create");
    let id = &existing.provider_id;
    assert!(id.starts_with("i-") && id.len() == 19, "{id}");
    assert!(id[2..].chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    assert_eq!(existing.placement, placement("sim-a", "small"));
    assert_eq!(existing.attributes, node(0).attributes);
    assert_eq!(existing.observed["id"], json!(id));
    assert_eq!(existing.observed["private_ip"], json!("10.1.0.4"));
    assert!(
        existing.observed["launched_at"]
            .as_str()
            .expect("time")
            .ends_with('Z')
    );

    let recorded = env.instances();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].lineage, LINEAGE);
    assert_eq!(recorded[0].address, Address::node("web", 0));
    assert_eq!(recorded[0].tags["team"], "a");

    let second = create_at(&driver, 1, "sim-b", "small")
        .await
        .expect("create");
    assert_eq!(second.observed["private_ip"], json!("10.2.0.4"));

    let known = [existing.clone(), second.clone()];
    let refreshed = driver.refresh(LINEAGE, &known).await.expect("refresh");
    assert_eq!(refreshed.known.len(), 2);
    assert_eq!(
        refreshed.known[&existing.address].as_ref(),
        Some(&existing.observed)
    );
    assert!(refreshed.orphans.is_empty() && refreshed.debris.is_empty());

    driver.delete(&existing).await.expect("delete");
    let refreshed = driver.refresh(LINEAGE, &known).await.expect("refresh");
    assert_eq!(refreshed.known[&existing.address], None);
    assert!(refreshed.known[&second.address].is_some());
    assert_eq!(env.instances().len(), 1);
    driver
        .delete(&existing)
        .await
        .expect("deleting an unknown id succeeds");
}

#[tokio::test]
async fn create_twice_adopts_the_first_instance() {
    let env = Env::new();
    let driver = env.driver(json!({}));
    let first = create(&driver, 0).await.expect("create");
    let again = create(&driver, 0).await.expect("create again");
    assert_eq!(again, first);
    assert_eq!(env.instances().len(), 1);
}

#[tokio::test]
async fn invalid_placements_are_fatal_and_name_the_value() {
    let env = Env::new();
    let driver = env.driver(json!({}));
    let cases = [
        ("sim-z", "small", "location `sim-z`"),
        ("sim-a", "huge", "size `huge`"),
        (
            "sim-b",
            "large",
            "does not offer size `large` in location `sim-b`",
        ),
    ];
    for (location, size, expected) in cases {
        let error = create_at(&driver, 0, location, size).await.unwrap_err();
        assert_eq!(error.class, ErrorClass::Fatal);
        assert_eq!(error.code.as_deref(), Some("InvalidParameterValue"));
        assert!(error.message.contains(expected), "{}", error.message);
    }
    let desired = node(0);
    let mut image = placement("sim-a", "small");
    image.image = "windows".into();
    let request = CreateRequest {
        desired: &desired,
        placement: &image,
        lineage: LINEAGE,
        dependencies: &[],
        replacing: &[],
    };
    let error = driver.create(request).await.unwrap_err();
    assert!(
        error.message.contains("image `windows`"),
        "{}",
        error.message
    );
    assert!(env.instances().is_empty());
}

#[tokio::test]
async fn update_changes_only_tags() {
    let env = Env::new();
    let driver = env.driver(json!({}));
    let existing = create(&driver, 0).await.expect("create");
    let mut desired = node(0);
    desired
        .attributes
        .insert("tags".into(), json!({"team": "b", "tier": "web"}));
    desired.attributes.insert("command".into(), json!("false"));

    let updated = driver.update(&existing, &desired).await.expect("update");
    assert_eq!(updated.provider_id, existing.provider_id);
    assert_eq!(
        updated.attributes["tags"],
        json!({"team": "b", "tier": "web"})
    );
    assert_eq!(updated.attributes["command"], json!("true"));
    let recorded = &env.instances()[0];
    assert_eq!(recorded.tags.len(), 2);
    assert_eq!(recorded.tags["tier"], "web");
    assert_eq!(
        recorded.attributes["tags"],
        json!({"team": "b", "tier": "web"})
    );
    assert_eq!(json!(recorded.private_ip), existing.observed["private_ip"]);

    desired.attributes.insert("tags".into(), json!({"team": 3}));
    let error = driver.update(&existing, &desired).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Fatal);
    assert_eq!(env.instances()[0].tags["team"], "b");

    driver.delete(&existing).await.expect("delete");
    let error = driver.update(&existing, &node(0)).await.unwrap_err();
    assert_eq!(error.code.as_deref(), Some("InvalidInstanceID.NotFound"));
}

#[tokio::test]
async fn refresh_finds_orphans_of_its_lineage_only() {
    let env = Env::new();
    let driver = env.driver(json!({}));
    let known = create(&driver, 0).await.expect("create");
    let orphan = create(&driver, 1).await.expect("create");
    let desired = node(2);
    let placement = placement("sim-a", "small");
    let foreign = CreateRequest {
        desired: &desired,
        placement: &placement,
        lineage: "another-lineage",
        dependencies: &[],
        replacing: &[],
    };
    driver.create(foreign).await.expect("create foreign");

    let refreshed = driver
        .refresh(LINEAGE, std::slice::from_ref(&known))
        .await
        .expect("refresh");
    assert_eq!(refreshed.orphans, [orphan]);
    assert!(refreshed.debris.is_empty());

    // Another sim provider on the same state file has its own instances.
    let mut settings = Map::new();
    settings.insert("catalog".into(), catalog());
    settings.insert(
        "state_file".into(),
        json!(env.state_file().to_str().expect("utf-8")),
    );
    let other = SimDriver::new(DriverConfig {
        base_dir: PathBuf::from("."),
        name: "sim-2".into(),
        settings: settings.into(),
        state_dir: env.tmp.path().join("state"),
    })
    .expect("driver");
    let refreshed = other.refresh(LINEAGE, &[]).await.expect("refresh");
    assert!(refreshed.orphans.is_empty());
}

#[tokio::test]
async fn terminated_instances_are_reported_gone() {
    let env = Env::new();
    let driver = env.driver(json!({}));
    let existing = create(&driver, 0).await.expect("create");
    // Warm the driver's cache before the instance dies behind its back.
    driver.refresh(LINEAGE, &[]).await.expect("refresh");

    assert!(terminate(&env.state_file(), &existing.provider_id).expect("terminate"));
    assert!(!terminate(&env.state_file(), &existing.provider_id).expect("again"));
    let refreshed = driver
        .refresh(LINEAGE, std::slice::from_ref(&existing))
        .await
        .expect("refresh");
    assert_eq!(refreshed.known[&existing.address], None);
    assert!(refreshed.orphans.is_empty());

    // The next create makes a new instance rather than adopting the dead one.
    let again = create(&driver, 0).await.expect("create");
    assert_ne!(again.provider_id, existing.provider_id);
}

#[tokio::test]
async fn builtin_aws_catalog_and_paths_relative_to_the_strategy() {
    let env = Env::new();
    let aws = env.driver(json!({"catalog": "aws"}));
    let catalog = aws.catalog().await.expect("catalog");
    let table = crate::catalog::aws::price_table();
    assert!(
        catalog.prices == table.prices && catalog.locations == table.locations,
        "AWS offerings"
    );
    assert!(catalog.source.unwrap().contains("rehearsal, not a cloud"));

    let dir = tempfile::tempdir().expect("tempdir");
    fs::create_dir_all(dir.path().join("sub")).expect("mkdir");
    let file = dir.path().join("sub/cat.json");
    let inline = env.driver(json!({})).catalog().await.expect("catalog");
    fs::write(&file, serde_json::to_vec(&inline).expect("json")).expect("write");
    let mut config = DriverConfig {
        base_dir: dir.path().to_path_buf(),
        name: "rel".into(),
        settings: json!({"catalog": "sub/cat.json"})
            .as_object()
            .expect("object")
            .clone()
            .into(),
        state_dir: dir.path().join("state"),
    };
    let driver = SimDriver::new(config.clone()).expect("relative to base_dir");
    assert_eq!(
        driver.catalog().await.expect("catalog").prices,
        inline.prices
    );
    config.base_dir = PathBuf::from("/nonexistent");
    assert!(SimDriver::new(config).is_err());
}

#[tokio::test]
async fn a_wrong_api_key_is_an_auth_failure_that_never_names_the_key() {
    let env = Env::new();
    let driver = env.driver(json!({"api_key": "wrong-secret-123", "require_api_key": "right-456"}));
    let error = create_at(&driver, 0, "sim-a", "small")
        .await
        .expect_err("refused");
    assert_eq!(error.class, ErrorClass::Fatal);
    assert_eq!(error.code.as_deref(), Some("AuthFailure"));
    assert!(!error.message.contains("wrong-secret-123") && !error.message.contains("right-456"));
    assert!(env.instances().is_empty());
    let ok = env.driver(json!({"api_key": "right-456", "require_api_key": "right-456"}));
    create_at(&ok, 0, "sim-a", "small")
        .await
        .expect("the right key works");
}

#[tokio::test]
async fn a_full_location_refuses_the_whole_location() {
    let env = Env::new();
    let driver = env.driver(json!({"capacity": {"sim-a": 0}}));
    let error = create_at(&driver, 0, "sim-a", "small")
        .await
        .expect_err("full");
    assert_eq!(error.scope, Scope::Location);
    let driver = env.driver(json!({"capacity": {"sim-a/small": 0}}));
    let error = create_at(&driver, 0, "sim-a", "small")
        .await
        .expect_err("full");
    assert_eq!(error.scope, Scope::Offer);
    // Not advertised by default: placement learns of it only when a create is refused.
    assert!(
        driver
            .catalog()
            .await
            .expect("catalog")
            .prices
            .iter()
            .all(|p| p.capacity.is_none())
    );
}

#[tokio::test]
async fn a_create_that_replaces_an_object_never_takes_it_for_the_new_one() {
    let env = Env::new();
    let driver = env.driver(json!({}));
    let old = create(&driver, 0).await.expect("old");
    // Without `replacing`, a second create of the address finds the first (a crash's orphan).
    assert_eq!(
        create(&driver, 0).await.expect("again").provider_id,
        old.provider_id
    );
    let desired = node(0);
    let at = placement("sim-a", "small");
    let replacing = [old.clone()];
    let request = CreateRequest {
        desired: &desired,
        placement: &at,
        lineage: LINEAGE,
        dependencies: &[],
        replacing: &replacing,
    };
    let new = driver.create(request).await.expect("new");
    assert_ne!(
        new.provider_id, old.provider_id,
        "two objects for one address"
    );
    // Refresh knows the new one as the address's and reports nothing to adopt.
    let refreshed = driver
        .refresh(LINEAGE, std::slice::from_ref(&new))
        .await
        .expect("refresh");
    assert!(refreshed.known[&new.address].is_some());
    assert!(refreshed.orphans.is_empty(), "{:?}", refreshed.orphans);
    driver.delete(&old).await.expect("delete the old one");
    let refreshed = driver
        .refresh(LINEAGE, std::slice::from_ref(&new))
        .await
        .expect("refresh");
    assert!(refreshed.known[&new.address].is_some(), "the new one stays");
}
