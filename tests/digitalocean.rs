//! The `digitalocean` provider end to end through the real `oss` binary, against the REST
//! fake (tests/common/rest_fake) that checks every request and answer against DigitalOcean's
//! published OpenAPI description: the cases of every REST cloud (tests/common/rest_case: a
//! five-node fleet, no-change plan, replace, destroy, kill -9 adoption, capacity fail-over,
//! wrong token, faults, benches) with DigitalOcean's facts (account keys by id, a firewall
//! applied by tag), and the fake's own refusals, answer checks and paging.

mod common;

use std::time::{Duration, Instant};

use common::rest_case::{Node, RestCase, marks_of_tags, raw};
use common::rest_fake::Fault;
use common::rest_fake::digitalocean::{DigitalOcean, SPEC};
use serde_json::{Value, json};

const TOKEN: &str = "dop_v1_oss_test_token_0123456789abcdef";

impl RestCase for DigitalOcean {
    const PROVIDER: &'static str = "digitalocean";
    const SPEC: &'static str = SPEC;
    const TOKEN: &'static str = TOKEN;
    const WRONG_TOKEN: &'static str = "dop_v1_wrong_token_fedcba9876543210";
    const TOKEN_ENV: &'static str = "OSS_TEST_DO_TOKEN";
    const TOKEN_HINT: &'static str = "DIGITALOCEAN_TOKEN";
    const UNAUTHORIZED: &'static [&'static str] = &[];
    const IMAGE: &'static str = "ubuntu-24-04-x64";
    const HARDWARE: &'static str = "s-1vcpu-1gb";
    const HOME: &'static str = "nyc1";
    const FALLBACK: &'static str = "ams3";
    const NODE: &'static str = "droplet";
    const LIST_NODES: &'static str = "droplets_list";
    const GET_NODE: &'static str = "droplets_get";
    const CREATE_NODE: &'static str = "droplets_create";
    const NODE_POLLS: &'static [&'static str] = &["droplets_get"];
    const PAGE: usize = 200;
    const NOT_IN_STATE: &'static [&'static str] = &[];
    const THROTTLE_WAIT: Option<&'static str> = Some("Retry-After");

    fn world() -> Self {
        DigitalOcean::new()
    }

    fn nodes(&self) -> Vec<Node> {
        self.droplets
            .values()
            .map(|d| {
                let (address, lineage) = marks_of_tags(&d.tags);
                Node {
                    id: d.id.to_string(),
                    address,
                    lineage,
                    location: d.region.clone(),
                    hardware: d.size.clone(),
                    user_data: d.user_data.clone(),
                }
            })
            .collect()
    }

    fn delete_node(&mut self, id: &str) -> bool {
        id.parse().is_ok_and(|id| self.remove_droplet(id))
    }

    fn keys(&self) -> usize {
        self.keys.len()
    }

    fn firewalls(&self) -> usize {
        self.firewalls.len()
    }

    fn set_boot(&mut self, boot: Duration) {
        // Droplets stay `new` meanwhile.
        self.boot = boot;
    }

    fn refuse_capacity(&mut self, location: &str, hardware: &str) {
        self.refuse(location, Some(hardware));
    }

    fn capacity_says() -> Vec<&'static str> {
        vec!["Size is not available in this region."]
    }

    fn faults() -> Vec<(&'static str, Fault, usize)> {
        vec![
            ("regions_list", Fault::Throttle { retry_after: 1 }, 1),
            ("sizes_list", Fault::Status(503), 2),
            ("droplets_get", Fault::Status(500), 3),
            ("droplets_get", Fault::Hang(Duration::from_secs(3)), 1),
            ("firewalls_create", Fault::Throttle { retry_after: 1 }, 1),
            ("droplets_create", Fault::Status(503), 1),
            // Carried out, answer lost: the retry adopts the droplet instead of creating a
            // second.
            ("droplets_create", Fault::Lose, 1),
        ]
    }

    fn check_fleet(&self, _lineage: &str) {
        let key_id = self.keys.keys().next().unwrap().to_string();
        let firewall = self.firewalls.values().next().unwrap();
        let ports: Vec<&str> = firewall["inbound_rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["ports"].as_str().unwrap())
            .collect();
        assert_eq!(ports, ["22", "443"]);
        let target = firewall["tags"][0].as_str().unwrap();
        for d in self.droplets.values() {
            assert!(
                d.tags.iter().any(|t| t == target),
                "firewall tag on {}",
                d.id
            );
            assert_eq!(d.ssh_keys, std::slice::from_ref(&key_id));
        }
    }

    fn check_price(hourly: &Value) {
        assert_eq!(*hourly, 0.00893);
    }
}

rest_cases!(DigitalOcean);

#[test]
fn the_fake_refuses_requests_the_document_does_not_allow_and_checks_its_answers() {
    let fake = common::rest_case::fake::<DigitalOcean>();
    // Conforming: a list with declared parameters.
    let answer = raw(
        &fake,
        "GET",
        "/v2/sizes?per_page=2&page=2",
        TOKEN,
        &[],
        None,
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"prev\""), "page 2 links back: {answer}");
    fake.assert_conforming();
    // An undeclared parameter, a body missing its required `size`, an unknown path.
    let cases = [
        (
            "GET",
            "/v2/droplets?color=blue",
            None,
            "query parameter `color`",
        ),
        (
            "POST",
            "/v2/droplets",
            Some(r#"{"name": "a", "image": "x"}"#),
            "body:",
        ),
        ("GET", "/v2/nothing", None, "no path"),
        (
            "GET",
            "/v2/droplets?per_page=many",
            None,
            "parameter `per_page`",
        ),
    ];
    for (i, (method, target, body, says)) in cases.into_iter().enumerate() {
        let answer = raw(&fake, method, target, TOKEN, &[], body);
        assert!(answer.starts_with("HTTP/1.1 400"), "{target}: {answer}");
        let violations = fake.violations();
        assert_eq!(violations.len(), i + 1, "{violations:?}");
        assert!(violations[i].contains(says), "{violations:?}");
    }
    assert!(fake.world().droplets.is_empty());
    // A wrong token gets DigitalOcean's 401, in its error shape.
    let answer = raw(&fake, "GET", "/v2/regions", "nope", &[], None);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains(r#""id":"unauthorized""#), "{answer}");
    // The answer checker catches a droplet missing what the document requires.
    let spec = common::rest_fake::openapi::Spec::load(SPEC);
    let bad = json!({"droplet": {"id": 1, "name": "x"}});
    let e = spec
        .check_response("GET", "/v2/droplets/1", 200, Some(&bad))
        .unwrap_err();
    assert!(e.contains("required"), "{e}");
}

struct Plain;
impl oss::net::rest::Classify for Plain {
    fn error_fields(&self, body: &Value) -> (Option<String>, Option<String>) {
        (
            body["id"].as_str().map(String::from),
            body["message"].as_str().map(String::from),
        )
    }
}

#[tokio::test]
async fn the_rest_client_reads_every_page_in_one_call_each_and_honours_a_throttle() {
    use oss::net::rest::{Client, Paging, Token};
    let fake = common::rest_case::fake::<DigitalOcean>();
    {
        let mut world = fake.world();
        for i in 0..450 {
            world.add_droplet("nyc1", &format!("d-{i}"), &["oss:lineage:L"]);
        }
        world.add_droplet("nyc1", "other", &["someone-else"]);
    }
    fake.inject("droplets_list", Fault::Throttle { retry_after: 1 }, 1);
    let client = Client::new(
        &fake.url(),
        Token::new(TOKEN.into()),
        Box::new(Plain),
        Paging::NextLink("/links/pages/next"),
    )
    .unwrap();
    let started = Instant::now();
    let all = client
        .list(
            "/v2/droplets",
            &[("tag_name", "oss:lineage:L".to_string())],
            200,
            "droplets",
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 450);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    // Three pages, one call each, plus the throttled one.
    assert_eq!(fake.count("droplets_list"), 4, "{:?}", fake.calls());
    let ids: std::collections::BTreeSet<u64> =
        all.iter().map(|d| d["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), 450, "no droplet twice");
    fake.assert_conforming();
}
