//! The `vultr` provider end to end through the real `oss` binary, against the REST fake
//! (tests/common/rest_fake) that checks every request and answer against Vultr's published
//! OpenAPI description: the cases of every REST cloud (tests/common/rest_case: a five-node
//! fleet, no-change plan, replace, destroy, kill -9 adoption, fail-over on a plan Vultr does
//! not sell in a region, a wrong API key, faults with 429s that name no wait, benches) with
//! Vultr's facts (string ids, a firewall group of per-family rules, a root password never
//! stored), a changed port list updating the group's rules in place, and the fake's own
//! refusals, tag filter and cursor paging.

mod common;

use std::time::Duration;

use common::rest_case::{self, Node, RestCase, home, marks_of_tags, project, raw, strategy};
use common::rest_fake::vultr::{NOT_SOLD, SPEC, Vultr};
use common::rest_fake::{Fake, Fault};
use serde_json::{Value, json};

const TOKEN: &str = "OSSVULTRTESTKEY0123456789ABCDEFGHIJKLMN";

impl RestCase for Vultr {
    const PROVIDER: &'static str = "vultr";
    const SPEC: &'static str = SPEC;
    const TOKEN: &'static str = TOKEN;
    const WRONG_TOKEN: &'static str = "OSSVULTRWRONGKEYZYXWVUTSRQPONMLKJIHGFED";
    const TOKEN_ENV: &'static str = "OSS_TEST_VULTR_API_KEY";
    const TOKEN_HINT: &'static str = "VULTR_API_KEY";
    const UNAUTHORIZED: &'static [&'static str] = &["Invalid API token"];
    const IMAGE: &'static str = "Ubuntu 24.04 LTS x64";
    const HARDWARE: &'static str = "vc2-1c-1gb";
    const HOME: &'static str = "ewr";
    const FALLBACK: &'static str = "fra";
    const NODE: &'static str = "instance";
    const LIST_NODES: &'static str = "list-instances";
    const GET_NODE: &'static str = "get-instance";
    const CREATE_NODE: &'static str = "create-instance";
    const NODE_POLLS: &'static [&'static str] = &["get-instance"];
    const PAGE: usize = 500;
    const NOT_IN_STATE: &'static [&'static str] = &["default_password", "v5{Fkvb"];
    /// Vultr documents 429 but no Retry-After: the client backs off on its own.
    const THROTTLE_WAIT: Option<&'static str> = None;

    fn world() -> Self {
        Vultr::new()
    }

    fn nodes(&self) -> Vec<Node> {
        self.instances
            .values()
            .map(|i| {
                let (address, lineage) = marks_of_tags(&i.tags);
                Node {
                    id: i.id.clone(),
                    address,
                    lineage,
                    location: i.region.clone(),
                    hardware: i.plan.clone(),
                    user_data: i.user_data.clone(),
                }
            })
            .collect()
    }

    fn delete_node(&mut self, id: &str) -> bool {
        self.remove_instance(id)
    }

    fn keys(&self) -> usize {
        self.keys.len()
    }

    fn firewalls(&self) -> usize {
        self.firewalls.len()
    }

    fn set_boot(&mut self, boot: Duration) {
        // Instances stay `pending` meanwhile.
        self.boot = boot;
    }

    fn refuse_capacity(&mut self, location: &str, hardware: &str) {
        self.refuse(location, Some(hardware));
    }

    fn capacity_says() -> Vec<&'static str> {
        vec![NOT_SOLD.trim_end_matches('.')]
    }

    fn faults() -> Vec<(&'static str, Fault, usize)> {
        vec![
            ("list-regions", Fault::Status(429), 1),
            ("list-plans", Fault::Status(503), 2),
            ("get-instance", Fault::Status(500), 3),
            ("get-instance", Fault::Hang(Duration::from_secs(3)), 1),
            ("create-firewall-group", Fault::Status(429), 1),
            ("create-instance", Fault::Status(503), 1),
            // Carried out, answer lost: the retry adopts the instance instead of creating a
            // second.
            ("create-instance", Fault::Lose, 1),
        ]
    }

    fn check_fleet(&self, _lineage: &str) {
        let key_id = self.keys.keys().next().unwrap().clone();
        let (group_id, group) = self.firewalls.iter().next().unwrap();
        let rules: Vec<(String, String, u64)> = group
            .rules
            .values()
            .map(|r| {
                (
                    r["ip_type"].as_str().unwrap().to_string(),
                    r["port"].as_str().unwrap().to_string(),
                    r["subnet_size"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(rules.len(), 4, "22 and 443, IPv4 and IPv6: {rules:?}");
        assert!(group.rules.values().all(|r| r["protocol"] == "tcp"));
        for i in self.instances.values() {
            assert_eq!(&i.firewall_group_id, group_id, "firewall on {}", i.id);
            assert_eq!(i.sshkey_ids, std::slice::from_ref(&key_id));
            assert_eq!(i.os_id, 2284);
        }
    }

    /// Monthly, over 730 hours.
    fn check_price(hourly: &Value) {
        let hourly = hourly.as_f64().unwrap();
        assert!((hourly - 5.0 / 730.0).abs() < 1e-9, "{hourly}");
    }
}

rest_cases!(Vultr);

#[test]
fn a_changed_port_list_updates_the_firewall_groups_rules_in_place() {
    let fake = rest_case::fake::<Vultr>();
    let mut s = strategy::<Vultr>("ports", &fake.url(), 1, home::<Vultr>());
    let p = project::<Vultr>(&s, TOKEN);
    p.ok(&["apply", "--auto-approve"]);
    let group = fake.world().firewalls.keys().next().unwrap().clone();
    s["node"]["ports"] = json!([{"port": 22, "from": ["198.51.100.0/24"]}, 8080]);
    p.write_strategy(&s);
    p.ok(&["apply", "--auto-approve"]);
    {
        let world = fake.world();
        assert_eq!(world.firewalls.len(), 1);
        let rules: Vec<(String, String, String, u64)> = world.firewalls[&group]
            .rules
            .values()
            .map(|r| {
                (
                    r["ip_type"].as_str().unwrap().into(),
                    r["port"].as_str().unwrap().into(),
                    r["subnet"].as_str().unwrap().into(),
                    r["subnet_size"].as_u64().unwrap(),
                )
            })
            .collect();
        let mut rules = rules;
        rules.sort();
        let rule = |t: &str, p: &str, s: &str, n: u64| (t.into(), p.into(), s.into(), n);
        assert_eq!(
            rules,
            [
                rule("v4", "22", "198.51.100.0", 24),
                rule("v4", "8080", "0.0.0.0", 0),
                rule("v6", "8080", "::", 0),
            ]
        );
    }
    let (code, out, _) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");
    p.ok(&["destroy", "--auto-approve"]);
    assert!(fake.world().firewalls.is_empty());
    fake.assert_conforming();
}

/// One GET of `target` from the fake.
fn get(fake: &Fake<Vultr>, target: &str, token: &str) -> String {
    raw(fake, "GET", target, token, &[], None)
}

#[test]
fn the_fake_refuses_what_vultrs_document_does_not_allow_and_filters_by_tag() {
    let fake = rest_case::fake::<Vultr>();
    let answer = get(&fake, "/v2/os?per_page=2", TOKEN);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""next":"bmV4dF9f2""#), "{answer}");
    fake.assert_conforming();
    let cases = [
        ("/v2/instances?per_page=many", "parameter `per_page`"),
        ("/v2/instances?page=2", "query parameter `page`"),
        ("/v3/regions", "no path of the document matches"),
    ];
    for (i, (target, says)) in cases.into_iter().enumerate() {
        let answer = get(&fake, target, TOKEN);
        assert!(answer.starts_with("HTTP/1.1 400"), "{target}: {answer}");
        let violations = fake.violations();
        assert_eq!(violations.len(), i + 1, "{violations:?}");
        assert!(violations[i].contains(says), "{violations:?}");
    }
    // A wrong key gets Vultr's 401 in its error shape.
    let answer = get(&fake, "/v2/regions", "nope");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        answer.contains(r#"{"error":"Invalid API token.","status":401}"#),
        "{answer}"
    );
    // `tag` picks the lineage's instances only.
    {
        let mut world = fake.world();
        world.add_instance("ewr", "mine", &["oss:lineage:L"]);
        world.add_instance("ewr", "theirs", &["other"]);
    }
    let answer = get(&fake, "/v2/instances?tag=oss%3Alineage%3AL", TOKEN);
    assert!(answer.contains(r#""total":1"#), "{answer}");
    assert!(answer.contains("mine") && !answer.contains("theirs"));
    assert_eq!(fake.violations().len(), 3, "{:?}", fake.violations());
}

struct Errors;
impl oss::net::rest::Classify for Errors {
    fn error_fields(&self, body: &Value) -> (Option<String>, Option<String>) {
        (None, body["error"].as_str().map(String::from))
    }
}

#[tokio::test]
async fn refreshing_1000_instances_takes_one_call_per_page_of_500() {
    use oss::net::rest::{Client, Paging, Token};
    let fake = rest_case::fake::<Vultr>();
    {
        let mut world = fake.world();
        for i in 0..1000 {
            world.add_instance("ewr", &format!("i-{i}"), &["oss:lineage:L"]);
        }
        world.add_instance("ewr", "other", &["someone-else"]);
    }
    fake.inject("list-instances", Fault::Status(429), 1);
    let client = Client::new(
        &fake.url(),
        Token::new(TOKEN.into()),
        Box::new(Errors),
        Paging::Cursor("/meta/links/next"),
    )
    .unwrap();
    let all = client
        .list(
            "/v2/instances",
            &[("tag", "oss:lineage:L".to_string())],
            500,
            "instances",
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 1000);
    // Two pages, one call each, plus the throttled one.
    assert_eq!(fake.count("list-instances"), 3, "{:?}", fake.calls());
    let ids: std::collections::BTreeSet<&str> =
        all.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1000, "no instance twice");
    fake.assert_conforming();
}
