//! The `hetzner` provider end to end through the real `oss` binary, against the REST fake
//! (tests/common/rest_fake) that checks every request and answer against Hetzner Cloud's
//! published OpenAPI description: the cases of every REST cloud (tests/common/rest_case: a
//! five-node fleet, no-change plan, replace, destroy, kill -9 adoption, capacity fail-over,
//! wrong token, faults with `RateLimit-Reset`, benches) with Hetzner's facts (labels, not
//! tags; a firewall still detaching from deleted servers at destroy), fail-over on a failed
//! placement action, and the fake's own refusals, label selection and paging.

mod common;

use std::time::{Duration, Instant};

use common::rest_case::{
    self, Node, PUBLIC_KEY, RestCase, assert_world_matches_state, project, raw, resources, strategy,
};
use common::rest_fake::hetzner::{Hetzner, SPEC, UNAVAILABLE};
use common::rest_fake::{Fake, Fault};
use serde_json::{Value, json};

const TOKEN: &str = "oss_hcloud_test_token_0123456789abcdef0123456789abcdef";

impl RestCase for Hetzner {
    const PROVIDER: &'static str = "hetzner";
    const SPEC: &'static str = SPEC;
    const TOKEN: &'static str = TOKEN;
    const WRONG_TOKEN: &'static str = "oss_hcloud_wrong_token_fedcba9876543210fedcba9876543210";
    const TOKEN_ENV: &'static str = "OSS_TEST_HCLOUD_TOKEN";
    const TOKEN_HINT: &'static str = "HCLOUD_TOKEN";
    const UNAUTHORIZED: &'static [&'static str] = &["unable to authenticate"];
    const IMAGE: &'static str = "ubuntu-24.04";
    const HARDWARE: &'static str = "cx22";
    const HOME: &'static str = "fsn1";
    const FALLBACK: &'static str = "nbg1";
    const NODE: &'static str = "server";
    const LIST_NODES: &'static str = "list_servers";
    const GET_NODE: &'static str = "get_server";
    const CREATE_NODE: &'static str = "create_server";
    const NODE_POLLS: &'static [&'static str] = &["get_server", "get_action"];
    const PAGE: usize = 50;
    const REFRESH_NODES: usize = 120;
    const NOT_IN_STATE: &'static [&'static str] = &["root_password"];
    const THROTTLE_WAIT: Option<&'static str> = Some("RateLimit-Reset");

    fn world() -> Self {
        Hetzner::new()
    }

    fn nodes(&self) -> Vec<Node> {
        self.servers
            .values()
            .map(|s| Node {
                id: s.id.to_string(),
                address: s
                    .labels
                    .get("oss/node")
                    .map(|value| {
                        let (group, index) = value.rsplit_once('.').unwrap();
                        format!("node.{group}[{index}]")
                    })
                    .unwrap_or_else(|| "?".into()),
                lineage: s.labels.get("oss/lineage").cloned(),
                location: s.location.clone(),
                hardware: s.server_type.clone(),
                user_data: s.user_data.clone(),
            })
            .collect()
    }

    fn delete_node(&mut self, id: &str) -> bool {
        id.parse().is_ok_and(|id| self.remove_server(id))
    }

    fn keys(&self) -> usize {
        self.keys.len()
    }

    fn firewalls(&self) -> usize {
        self.firewalls.len()
    }

    fn set_boot(&mut self, boot: Duration) {
        // Create actions run meanwhile.
        self.boot = boot;
    }

    fn refuse_capacity(&mut self, location: &str, hardware: &str) {
        self.refuse(location, Some(hardware));
    }

    fn capacity_says() -> Vec<&'static str> {
        vec![UNAVAILABLE, "resource_unavailable"]
    }

    fn faults() -> Vec<(&'static str, Fault, usize)> {
        vec![
            ("list_locations", Fault::Throttle { retry_after: 2 }, 1),
            ("list_server_types", Fault::Status(503), 2),
            ("get_server", Fault::Status(500), 3),
            ("get_action", Fault::Hang(Duration::from_secs(3)), 1),
            ("create_firewall", Fault::Throttle { retry_after: 1 }, 1),
            ("create_server", Fault::Status(503), 1),
            // Carried out, answer lost: the retry adopts the server instead of creating a
            // second.
            ("create_server", Fault::Lose, 1),
        ]
    }

    fn check_fleet(&self, lineage: &str) {
        let (key_id, key) = self.keys.iter().next().unwrap();
        assert_eq!(key.1, PUBLIC_KEY);
        assert_eq!(key.2["oss/lineage"], lineage);
        let (firewall_id, firewall) = self.firewalls.iter().next().unwrap();
        assert_eq!(firewall["labels"]["oss/lineage"], lineage);
        let ports: Vec<(&str, &str, &str)> = firewall["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["direction"].as_str().unwrap(),
                    r["protocol"].as_str().unwrap(),
                    r["port"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(ports, [("in", "tcp", "22"), ("in", "tcp", "443")]);
        for s in self.servers.values() {
            assert_eq!(s.firewalls, [*firewall_id], "firewall on {}", s.id);
            assert_eq!(s.ssh_keys, [*key_id]);
            assert_eq!(s.image, Self::IMAGE);
        }
    }

    /// The net hourly price, in euros.
    fn check_price(hourly: &Value) {
        assert_eq!(*hourly, 0.006, "{hourly}");
    }

    /// The firewall was still detaching from the deleted servers: refused, then deleted.
    fn check_destroy(calls: &[(String, u16)]) {
        let deletes: Vec<u16> = calls
            .iter()
            .filter(|(op, _)| op == "delete_firewall")
            .map(|(_, status)| *status)
            .collect();
        assert!(
            deletes.len() >= 2 && deletes[0] == 422 && deletes.last() == Some(&204),
            "{calls:?}"
        );
    }
}

rest_cases!(Hetzner);

#[test]
fn a_failed_placement_action_fails_over_and_leaves_no_server() {
    let fake = rest_case::fake::<Hetzner>();
    fake.world().fail_placement("fsn1", None);
    let locations = json!({"options": [{"id": "fsn1"}, {"id": "hel1"}], "pick": "first"});
    let p = project::<Hetzner>(
        &strategy::<Hetzner>("placement", &fake.url(), 1, locations),
        TOKEN,
    );
    let (code, out, err) = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let all = format!("{out}\n{err}");
    assert!(
        all.contains("placement_error"),
        "the output says why\n{all}"
    );
    assert!(out.contains("fail-over node.web[0]"), "{out}");
    let state = p.state("placement");
    assert_eq!(
        resources(&state, "node.web[0]")[0]["placement"]["location"],
        "hel1"
    );
    assert_world_matches_state(&fake, &state, 1);
    assert!(fake.count("get_action") >= 2, "{:?}", fake.calls());
    p.ok(&["destroy", "--auto-approve"]);
    assert!(fake.world().servers.is_empty());
    fake.assert_conforming();
}

/// One GET of `target` from the fake.
fn get(fake: &Fake<Hetzner>, target: &str, token: &str) -> String {
    raw(fake, "GET", target, token, &[], None)
}

#[test]
fn the_fake_refuses_what_hetzners_document_does_not_allow_and_selects_by_label() {
    let fake = rest_case::fake::<Hetzner>();
    let answer = get(
        &fake,
        "/images?type=system&status=available&per_page=50",
        TOKEN,
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("ratelimit-remaining: "), "{answer}");
    fake.assert_conforming();
    let cases = [
        ("/servers?per_page=x", "parameter `per_page`"),
        ("/servers?tag=x", "query parameter `tag`"),
        ("/images?type=everything", "parameter `type`"),
        ("/servers/abc", "parameter `id`"),
        ("/v1/servers", "no path of the document"),
    ];
    for (i, (target, says)) in cases.into_iter().enumerate() {
        let answer = get(&fake, target, TOKEN);
        assert!(answer.starts_with("HTTP/1.1 400"), "{target}: {answer}");
        let violations = fake.violations();
        assert_eq!(violations.len(), i + 1, "{violations:?}");
        assert!(violations[i].contains(says), "{violations:?}");
    }
    // A wrong token gets Hetzner's 401 in its error shape.
    let answer = get(&fake, "/locations", "nope");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        answer.contains(r#""code":"unauthorized""#) && answer.contains(r#""error":{"#),
        "{answer}"
    );
    // label_selector picks the lineage's servers only.
    {
        let mut world = fake.world();
        world.add_server("fsn1", "mine", &[("oss/lineage", "L")]);
        world.add_server("fsn1", "theirs", &[("other", "x")]);
    }
    let answer = get(&fake, "/servers?label_selector=oss%2Flineage%3DL", TOKEN);
    assert!(answer.contains(r#""total_entries":1"#), "{answer}");
    assert!(answer.contains("mine") && !answer.contains("theirs"));
}

struct Errors;
impl oss::net::rest::Classify for Errors {
    fn error_fields(&self, body: &Value) -> (Option<String>, Option<String>) {
        (
            body["error"]["code"].as_str().map(String::from),
            body["error"]["message"].as_str().map(String::from),
        )
    }
}

#[tokio::test]
async fn refreshing_1000_servers_takes_one_call_per_page_of_50() {
    use oss::net::rest::{Client, Paging, Token};
    let fake = rest_case::fake::<Hetzner>();
    {
        let mut world = fake.world();
        for i in 0..1000 {
            world.add_server("fsn1", &format!("s-{i}"), &[("oss/lineage", "L")]);
        }
        world.add_server("fsn1", "other", &[("oss/lineage", "M")]);
    }
    fake.inject("list_servers", Fault::Throttle { retry_after: 2 }, 1);
    let client = Client::new(
        &fake.url(),
        Token::new(TOKEN.into()),
        Box::new(Errors),
        Paging::NextPage("/meta/pagination/next_page"),
    )
    .unwrap();
    let started = Instant::now();
    let all = client
        .list(
            "/servers",
            &[("label_selector", "oss/lineage=L".to_string())],
            50,
            "servers",
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 1000);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "RateLimit-Reset honoured"
    );
    // Twenty pages, one call each, plus the throttled one.
    assert_eq!(fake.count("list_servers"), 21, "{:?}", fake.calls());
    let ids: std::collections::BTreeSet<u64> =
        all.iter().map(|s| s["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), 1000, "no server twice");
    fake.assert_conforming();
}
