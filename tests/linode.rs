//! The `linode` provider end to end through the real `oss` binary, against the REST fake
//! (tests/common/rest_fake) that checks every request and answer against Linode's published
//! OpenAPI description: the cases of every REST cloud (tests/common/rest_case: a five-node
//! fleet, no-change plan, replace, destroy, kill -9 adoption, capacity fail-over, wrong token,
//! faults, benches) with Linode's facts (profile keys in `authorized_keys`, a Cloud Firewall
//! dropping other inbound traffic, a root password never stored), and the fake's own
//! refusals, `X-Filter` and paging.

mod common;

use std::time::{Duration, Instant};

use common::rest_case::{Node, PUBLIC_KEY, RestCase, marks_of_tags, raw};
use common::rest_fake::linode::{Linode, SOLD_OUT, SPEC};
use common::rest_fake::{Fake, Fault};
use serde_json::Value;

const TOKEN: &str = "oss_linode_test_token_0123456789abcdef0123456789abcdef";

impl RestCase for Linode {
    const PROVIDER: &'static str = "linode";
    const SPEC: &'static str = SPEC;
    const TOKEN: &'static str = TOKEN;
    const WRONG_TOKEN: &'static str = "oss_linode_wrong_token_fedcba9876543210fedcba9876543210";
    const TOKEN_ENV: &'static str = "OSS_TEST_LINODE_TOKEN";
    const TOKEN_HINT: &'static str = "LINODE_TOKEN";
    const UNAUTHORIZED: &'static [&'static str] = &["Invalid Token"];
    const IMAGE: &'static str = "linode/ubuntu24.04";
    const HARDWARE: &'static str = "g6-nanode-1";
    const HOME: &'static str = "us-east";
    const FALLBACK: &'static str = "eu-central";
    const NODE: &'static str = "instance";
    const LIST_NODES: &'static str = "get-linode-instances";
    const GET_NODE: &'static str = "get-linode-instance";
    const CREATE_NODE: &'static str = "post-linode-instance";
    const NODE_POLLS: &'static [&'static str] = &["get-linode-instance"];
    const PAGE: usize = 500;
    const NOT_IN_STATE: &'static [&'static str] = &["root_pass"];
    const THROTTLE_WAIT: Option<&'static str> = Some("Retry-After");

    fn world() -> Self {
        Linode::new()
    }

    fn nodes(&self) -> Vec<Node> {
        self.instances
            .values()
            .map(|i| {
                let (address, lineage) = marks_of_tags(&i.tags);
                Node {
                    id: i.id.to_string(),
                    address,
                    lineage,
                    location: i.region.clone(),
                    hardware: i.kind.clone(),
                    user_data: i.user_data.clone(),
                }
            })
            .collect()
    }

    fn delete_node(&mut self, id: &str) -> bool {
        id.parse().is_ok_and(|id| self.remove_instance(id))
    }

    fn keys(&self) -> usize {
        self.keys.len()
    }

    fn firewalls(&self) -> usize {
        self.firewalls.len()
    }

    fn set_boot(&mut self, boot: Duration) {
        // Instances stay `provisioning` meanwhile.
        self.boot = boot;
    }

    fn refuse_capacity(&mut self, location: &str, hardware: &str) {
        self.refuse(location, Some(hardware));
    }

    fn capacity_says() -> Vec<&'static str> {
        vec!["not currently available in the selected region"]
    }

    fn faults() -> Vec<(&'static str, Fault, usize)> {
        vec![
            ("get-regions", Fault::Throttle { retry_after: 1 }, 1),
            ("get-linode-types", Fault::Status(503), 2),
            ("get-linode-instance", Fault::Status(500), 3),
            (
                "get-linode-instance",
                Fault::Hang(Duration::from_secs(3)),
                1,
            ),
            ("post-firewalls", Fault::Throttle { retry_after: 1 }, 1),
            ("post-linode-instance", Fault::Status(503), 1),
            // Carried out, answer lost: the retry adopts the instance instead of creating a
            // second.
            ("post-linode-instance", Fault::Lose, 1),
        ]
    }

    fn check_fleet(&self, _lineage: &str) {
        let (firewall_id, firewall) = self.firewalls.iter().next().unwrap();
        assert_eq!(firewall["rules"]["inbound_policy"], "DROP");
        let ports: Vec<&str> = firewall["rules"]["inbound"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["ports"].as_str().unwrap())
            .collect();
        assert_eq!(ports, ["22", "443"]);
        for i in self.instances.values() {
            assert_eq!(i.firewall_id, Some(*firewall_id), "firewall on {}", i.id);
            assert_eq!(i.authorized_keys, [PUBLIC_KEY]);
            assert!(i.root_pass_given);
        }
    }

    fn check_price(hourly: &Value) {
        assert_eq!(*hourly, 0.0075);
    }
}

rest_cases!(Linode);

/// One GET of `target` from the fake, `filter` sent as `X-Filter`.
fn get(fake: &Fake<Linode>, target: &str, token: &str, filter: Option<&str>) -> String {
    let headers: Vec<(&str, &str)> = filter.map(|f| ("x-filter", f)).into_iter().collect();
    raw(fake, "GET", target, token, &headers, None)
}

#[test]
fn the_fake_refuses_what_linodes_document_does_not_allow_and_filters_by_tag() {
    let fake = common::rest_case::fake::<Linode>();
    let answer = get(&fake, "/v4/images?page_size=25&page=1", TOKEN, None);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    fake.assert_conforming();
    let cases = [
        (
            "/v4/linode/instances?page_size=10",
            None,
            "parameter `page_size`",
        ),
        ("/v4/linode/instances?tag=x", None, "query parameter `tag`"),
        ("/v5/regions", None, "parameter `apiVersion`"),
        (
            "/v4/linode/instances",
            Some("[1, 2]"),
            "parameter `X-Filter`",
        ),
    ];
    for (i, (target, filter, says)) in cases.into_iter().enumerate() {
        let answer = get(&fake, target, TOKEN, filter);
        assert!(answer.starts_with("HTTP/1.1 400"), "{target}: {answer}");
        let violations = fake.violations();
        assert_eq!(violations.len(), i + 1, "{violations:?}");
        assert!(violations[i].contains(says), "{violations:?}");
    }
    // The capacity refusal the fail-over case meets is Linode's.
    assert!(SOLD_OUT.starts_with("The Linode plan"));
    // A wrong token gets Linode's 401 in its error shape.
    let answer = get(&fake, "/v4/regions", "nope", None);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        answer.contains(r#"{"errors":[{"reason":"Invalid Token"}]}"#),
        "{answer}"
    );
    // X-Filter on tags picks the lineage's instances only.
    {
        let mut world = fake.world();
        world.add_instance("us-east", "mine", &["oss:lineage:L"]);
        world.add_instance("us-east", "theirs", &["other"]);
    }
    let answer = get(
        &fake,
        "/v4/linode/instances",
        TOKEN,
        Some(r#"{"tags": "oss:lineage:L"}"#),
    );
    assert!(answer.contains(r#""results":1"#), "{answer}");
    assert!(answer.contains("mine") && !answer.contains("theirs"));
}

struct Errors;
impl oss::net::rest::Classify for Errors {
    fn error_fields(&self, body: &Value) -> (Option<String>, Option<String>) {
        (None, body["errors"][0]["reason"].as_str().map(String::from))
    }
}

#[tokio::test]
async fn refreshing_1000_instances_takes_one_call_per_page_of_500() {
    use oss::net::rest::{Client, Paging, Token};
    let fake = common::rest_case::fake::<Linode>();
    {
        let mut world = fake.world();
        for i in 0..1000 {
            world.add_instance("us-east", &format!("i-{i}"), &["oss:lineage:L"]);
        }
        world.add_instance("us-east", "other", &["someone-else"]);
    }
    fake.inject(
        "get-linode-instances",
        Fault::Throttle { retry_after: 1 },
        1,
    );
    let client = Client::new(
        &fake.url(),
        Token::new(TOKEN.into()),
        Box::new(Errors),
        Paging::PageOf("/page", "/pages"),
    )
    .unwrap()
    .with_page_size("page_size");
    let started = Instant::now();
    let all = client
        .list_with(
            "/v4/linode/instances",
            &[],
            &[("X-Filter", r#"{"tags": "oss:lineage:L"}"#.to_string())],
            500,
            "data",
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 1000);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    // Two pages, one call each, plus the throttled one.
    assert_eq!(fake.count("get-linode-instances"), 3, "{:?}", fake.calls());
    let ids: std::collections::BTreeSet<u64> =
        all.iter().map(|i| i["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), 1000, "no instance twice");
    fake.assert_conforming();
}
