//! The `aws` provider end to end against moto's EC2 emulator, through the real `oss` binary:
//! signatures really checked, a five-node fleet with its key pair and security group seen by an
//! independent client (boto3), drift and replacement, adoption after a crash, fail-over on
//! capacity refusals and on an unreachable endpoint, and convergence through throttling and
//! 503s without a duplicate instance.
//!
//! Every test starts its own moto (from the virtualenv scripts/test.sh makes) on a free
//! loopback port and kills it when done.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::Project;
use common::fault_proxy::FaultProxy;
use common::moto::{Moto, free_port};
use serde_json::{Value, json};

const REGION: &str = "ap-southeast-2";
const KEY: &str = "AKIDOSSTEST";
const SECRET: &str = "oss-test-secret";

/// A strategy of `count` nodes on the aws provider at `endpoint`, credentials from
/// `env.OSS_TEST_AWS_KEY`/`env.OSS_TEST_AWS_SECRET`, with a key pair.
fn strategy(name: &str, endpoint: &str, count: usize, locations: Value) -> Value {
    json!({
        "name": name,
        "provider": {"options": [{"aws": {
            "endpoint": endpoint,
            "regions": [REGION],
            "access_key_id": "env.OSS_TEST_AWS_KEY",
            "secret_access_key": "env.OSS_TEST_AWS_SECRET"
        }}]},
        "node": {
            "name": "web",
            "count": count,
            "image": {"options": [{"name": "amazon-linux-2023"}]},
            "hardware": {"options": [{"name": "t3.micro"}]},
            "location": locations,
            "ports": [22, 443],
            "tags": {"team": "oss-tests"},
            "ssh_public_key": "id.pub"
        }
    })
}

const PUBLIC_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHWnHZMLkm8VIHYXdljxkVSNn7dqN3Qv3CX3ShDNa0Ef oss-test";

fn project(strategy: &Value) -> Project {
    let p = Project::with_strategy(strategy);
    std::fs::write(p.path("id.pub"), format!("{PUBLIC_KEY}\n")).unwrap();
    p
}

/// Runs `oss ARGS` with the test credentials (or `secret` instead of the right one) and no
/// AWS configuration from the machine.
fn run_as(p: &Project, args: &[&str], secret: &str) -> (i32, String, String) {
    let out = p
        .oss()
        .args(args)
        .env("OSS_TEST_AWS_KEY", KEY)
        .env("OSS_TEST_AWS_SECRET", secret)
        .env("HOME", p.dir.path())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run(p: &Project, args: &[&str]) -> (i32, String, String) {
    run_as(p, args, SECRET)
}

fn ok(p: &Project, args: &[&str]) -> String {
    let (code, out, err) = run(p, args);
    assert_eq!(
        code, 0,
        "oss {args:?} failed\nstdout:\n{out}\nstderr:\n{err}"
    );
    out
}

fn resource<'a>(state: &'a Value, address: &str) -> &'a Value {
    state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == address)
        .unwrap_or_else(|| panic!("{address} is not in state: {state:#}"))
}

fn live_by_address(instances: &[Value]) -> BTreeMap<String, Vec<&Value>> {
    let mut by: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for i in instances {
        let address = i["address"].as_str().unwrap_or("?").to_string();
        by.entry(address).or_default().push(i);
    }
    by
}

#[test]
fn five_nodes_over_two_zones_with_key_pair_and_security_group_round_trip() {
    let moto = Moto::start();
    let zones = json!({"options": [{"id": "ap-southeast-2a"}, {"id": "ap-southeast-2b"}], "pick": "random"});
    let p = project(&strategy("fleet", &moto.url(), 5, zones));
    ok(&p, &["apply", "--auto-approve", "--seed", "3"]);

    let state = p.state("fleet");
    let lineage = state["lineage"].as_str().unwrap();
    let key = resource(&state, "key.aws.ap-southeast-2");
    let group = resource(&state, "firewall.aws.ap-southeast-2");
    let key_name = key["provider_id"].as_str().unwrap();
    let group_id = group["provider_id"].as_str().unwrap();
    assert_eq!(key_name, format!("oss-fleet-{}", &lineage[..8]));

    // An independent client sees exactly the fleet.
    let instances = moto.instances(REGION);
    assert_eq!(instances.len(), 5, "{instances:#?}");
    let mut zones_used = BTreeSet::new();
    for i in &instances {
        let address = i["address"].as_str().unwrap();
        let recorded = resource(&state, address);
        assert_eq!(i["state"], "running");
        assert_eq!(i["id"], recorded["provider_id"]);
        assert_eq!(i["zone"], recorded["placement"]["location"]);
        assert_eq!(i["type"], "t3.micro");
        assert_eq!(i["key"], key_name);
        assert_eq!(i["groups"], json!([group_id]));
        assert_eq!(i["tags"]["oss:lineage"], lineage);
        assert_eq!(i["tags"]["team"], "oss-tests");
        // A node launched alone is named after itself, one launched in a batch (one
        // RunInstances for the nodes of one zone) after the batch.
        let name = recorded["attributes"]["name"].as_str().unwrap();
        match i["tags"]["oss:addresses"].as_str() {
            None => assert_eq!(i["tags"]["Name"], name),
            Some(listed) => {
                assert!(listed.starts_with("node.web["), "{listed}");
                let named = i["tags"]["Name"].as_str().unwrap();
                assert_eq!(named, listed.replacen("node.web", "web-", 1));
            }
        }
        zones_used.insert(i["zone"].as_str().unwrap().to_string());
    }
    assert_eq!(zones_used.len(), 2, "{zones_used:?}");
    let (keys, groups) = moto.keys_and_groups(REGION);
    assert_eq!(keys, [key_name]);
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["id"], group_id);
    assert_eq!(groups[0]["ports"], json!([22, 443]));

    // Nothing to do now.
    let (code, out, err) = run(&p, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}\n{err}");

    // An instance terminated behind oss's back is planned for replacement.
    let victim = instances[0]["id"].as_str().unwrap();
    let victim_address = instances[0]["address"].as_str().unwrap();
    moto.terminate(REGION, victim);
    let (code, out, err) = run(&p, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert_eq!(out.matches("must be replaced").count(), 1, "{out}");
    assert!(
        out.contains(&format!("# {victim_address} must be replaced")),
        "{out}"
    );
    ok(&p, &["apply", "--auto-approve"]);
    let instances = moto.instances(REGION);
    assert_eq!(instances.len(), 5);
    assert!(instances.iter().all(|i| i["id"] != victim));

    // Destroy leaves nothing: no instance, key pair or security group.
    ok(&p, &["destroy", "--auto-approve"]);
    assert!(moto.instances(REGION).is_empty());
    let (keys, groups) = moto.keys_and_groups(REGION);
    assert!(keys.is_empty() && groups.is_empty(), "{keys:?} {groups:?}");
}

#[test]
fn signatures_are_verified_and_a_wrong_secret_is_an_auth_failure_without_retries() {
    // moto lets the first three calls through unauthenticated: boto3 uses them to make an IAM
    // user with an access key and an allow-all policy; every later call must be signed right.
    let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "3")]);
    let made = moto.boto(
        REGION,
        ("AKIDBOOTSTRAP", "bootstrap"),
        "iam.create_user(UserName='oss')\n\
         key = iam.create_access_key(UserName='oss')['AccessKey']\n\
         iam.put_user_policy(UserName='oss', PolicyName='all', PolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': '*', 'Resource': '*'}]}))\n\
         print(json.dumps([key['AccessKeyId'], key['SecretAccessKey']]))\n",
    );
    let (key, secret) = (made[0].as_str().unwrap(), made[1].as_str().unwrap());
    let proxy = FaultProxy::start(moto.port);
    let mut s = strategy(
        "signed",
        &proxy.url(),
        1,
        json!({"options": [{"id": "ap-southeast-2a"}]}),
    );
    s["provider"]["options"][0]["aws"]["access_key_id"] = "env.OSS_TEST_AWS_KEY".into();
    let p = project(&s);
    let as_user = |args: &[&str], secret: &str| {
        let out = p
            .oss()
            .args(args)
            .env("OSS_TEST_AWS_KEY", key)
            .env("OSS_TEST_AWS_SECRET", secret)
            .env("HOME", p.dir.path())
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, out, err) = as_user(&["apply", "--auto-approve"], secret);
    assert_eq!(code, 0, "with the right secret\n{out}\n{err}");
    let (code, out, err) = as_user(&["plan", "--detailed-exitcode"], secret);
    assert_eq!(code, 0, "{out}\n{err}");

    proxy.reset_counts();
    let wrong = "wrong-secret-0123456789";
    let (code, out, err) = as_user(&["plan"], wrong);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("AuthFailure"), "{err}");
    assert!(
        err.contains("AWS was not able to validate the provided access credentials"),
        "{err}"
    );
    assert!(
        !err.contains(wrong) && !out.contains(wrong),
        "the secret leaked"
    );
    assert!(
        proxy.total_calls() <= 3,
        "a wrong secret is not retried: {}",
        proxy.summary()
    );

    let (code, out, err) = as_user(&["destroy", "--auto-approve"], secret);
    assert_eq!(code, 0, "{out}\n{err}");
}

#[test]
fn a_crash_between_run_instances_and_the_state_write_ends_in_adoption() {
    let moto = Moto::start();
    let p = project(&strategy(
        "crash",
        &moto.url(),
        2,
        json!({"options": [{"id": "ap-southeast-2a"}]}),
    ));
    ok(&p, &["apply", "--auto-approve"]);
    // The state write of node.web[1] "never happened".
    let path = p.path("state/crash.state.json");
    let mut state: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    state["resources"]
        .as_array_mut()
        .unwrap()
        .retain(|r| r["address"] != "node.web[1]");
    std::fs::write(&path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();

    // Without refresh, the create itself finds the instance by its tags.
    let out = ok(&p, &["apply", "--auto-approve", "--refresh=false"]);
    assert!(out.contains("node.web[1]"), "{out}");
    // With refresh, it is adopted before planning.
    std::fs::write(&path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    let (code, out, err) = run(&p, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        code, 0,
        "the adopted instance matches the strategy\n{out}\n{err}"
    );
    assert!(out.contains("adopted"), "{out}");
    ok(&p, &["apply", "--auto-approve"]);

    let instances = moto.instances(REGION);
    let by = live_by_address(&instances);
    assert_eq!(by.len(), 2, "{instances:#?}");
    assert!(
        by.values().all(|list| list.len() == 1),
        "a second instance was launched: {by:#?}"
    );
    ok(&p, &["destroy", "--auto-approve"]);
    assert!(moto.instances(REGION).is_empty());
}

#[test]
fn a_capacity_refusal_in_one_region_fails_over_to_the_next() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(moto.port);
    proxy.refuse_capacity_in(&["ap-southeast-2a", "ap-southeast-2b", "ap-southeast-2c"]);
    let mut s = strategy(
        "capacity",
        &proxy.url(),
        2,
        json!({"options": [{"region": "ap-southeast-2"}, {"region": "ap-southeast-1"}]}),
    );
    s["provider"]["options"][0]["aws"]["regions"] = json!(["ap-southeast-2", "ap-southeast-1"]);
    let p = project(&s);
    let (code, out, err) = run(&p, &["apply", "--auto-approve", "--parallelism", "1"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains(
            "aws/ap-southeast-2a/t3.micro/amazon-linux-2023 refused (InsufficientInstanceCapacity"
        ),
        "the output says why\n{err}"
    );
    assert!(out.contains("fail-over node.web[0]"), "{out}");
    let state = p.state("capacity");
    for address in ["node.web[0]", "node.web[1]"] {
        let zone = resource(&state, address)["placement"]["location"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(zone.starts_with("ap-southeast-1"), "{address} is in {zone}");
    }
    let there = moto.instances("ap-southeast-1");
    assert_eq!(there.len(), 2);
    assert!(moto.instances(REGION).is_empty());
    // The nodes there use that region's own key pair and security group.
    let key = resource(&state, "key.aws.ap-southeast-1")["provider_id"].clone();
    assert!(there.iter().all(|i| i["key"] == key));
    let (code, out, _) = run(&p, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");
    ok(&p, &["destroy", "--auto-approve"]);
    assert!(moto.instances("ap-southeast-1").is_empty());
}

#[test]
fn throttling_and_503s_on_a_fifth_of_calls_converge_without_duplicates() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(moto.port);
    proxy.inject_faults(0.2, &[]);
    let p = project(&strategy(
        "faults",
        &proxy.url(),
        4,
        json!({"options": [{"id": "ap-southeast-2a"}, {"id": "ap-southeast-2b"}]}),
    ));
    let (code, out, err) = run(&p, &["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{out}\n{err}\ncalls: {}", proxy.summary());
    assert!(
        proxy.total_faults() > 0,
        "no fault was injected: {}",
        proxy.summary()
    );

    let instances = moto.instances(REGION);
    let by = live_by_address(&instances);
    assert_eq!(by.len(), 4, "{instances:#?}");
    assert!(
        by.values().all(|list| list.len() == 1),
        "a retried launch started a second instance: {by:#?}"
    );
    let (code, out, err) = run(&p, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}\n{err}\ncalls: {}", proxy.summary());
    let (code, out, err) = run(&p, &["destroy", "--auto-approve"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(moto.instances(REGION).is_empty());
    let (keys, groups) = moto.keys_and_groups(REGION);
    assert!(keys.is_empty() && groups.is_empty(), "{keys:?} {groups:?}");
}

#[test]
fn an_unreachable_aws_endpoint_fails_over_to_local_as_the_original_sample_did() {
    // Nothing listens on this port: connections are refused.
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let sample: Value = serde_json::from_str(include_str!("../strategy.sample.json")).unwrap();
    let s = json!({
        "name": "first-that-works",
        "provider": {"options": [
            {"aws": {"endpoint": endpoint, "regions": [REGION],
                     "access_key_id": "env.OSS_TEST_AWS_KEY", "secret_access_key": "env.OSS_TEST_AWS_SECRET"}},
            {"local": {}}
        ], "pick": "first"},
        "node": {
            "name": "web",
            "count": 1,
            "image": {"options": [{"name": "amazon-linux-2023"}, {"name": "host"}]},
            "hardware": {"options": [{"name": "t3.micro"}, {"name": "small"}]},
            "location": {"options": [{"id": "ap-southeast-2a"}, {"id": "local-a"}]},
            "command": sample["node"]["command"],
            "ports": [8080]
        }
    });
    let p = project(&s);
    let (code, out, err) = run(&p, &["plan"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("+ provider = \"aws\""),
        "AWS ranks first\n{out}"
    );

    let (code, out, err) = run(&p, &["apply", "--auto-approve"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("could not reach the AWS endpoint") && err.contains("Connection refused"),
        "the note says why\n{err}"
    );
    assert!(
        err.contains("node.web[0]: created at local/local-a"),
        "{err}"
    );
    let state = p.state("first-that-works");
    let node = resource(&state, "node.web[0]");
    assert_eq!(node["placement"]["provider"], "local");
    let url = node["observed"]["url"].as_str().unwrap();
    assert_eq!(
        common::http_get(url),
        "web-0\n",
        "the node serves at {url}\n{state:#}"
    );
    ok(&p, &["destroy", "--auto-approve"]);
    assert!(p.node_processes().is_empty());
}

#[test]
fn a_reviewed_plan_looks_up_its_ami_once_for_all_launches() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(moto.port);
    let s = strategy(
        "reviewed",
        &proxy.url(),
        6,
        json!({"options": [{"id": "ap-southeast-2a"}]}),
    );
    let p = project(&s);
    ok(&p, &["plan", "--out", "plan.bin"]);
    proxy.reset_counts();
    ok(
        &p,
        &["apply", "plan.bin", "--auto-approve", "--parallelism", "6"],
    );
    // Six launches at once share one DescribeImages (looked up while the security group and
    // key pair were made), instead of one each, and one zone's RunInstances (the first may
    // have gone out alone).
    assert!(proxy.calls("RunInstances") <= 2, "{}", proxy.summary());
    assert_eq!(proxy.calls("DescribeImages"), 1, "{}", proxy.summary());
    assert_eq!(moto.instances(REGION).len(), 6);
    ok(&p, &["destroy", "--auto-approve"]);
}

#[test]
fn state_rm_leaves_the_instance_and_import_adopts_it_back_by_its_id() {
    let moto = Moto::start();
    let p = project(&strategy(
        "imported",
        &moto.url(),
        2,
        json!({"options": [{"id": "ap-southeast-2a"}]}),
    ));
    ok(&p, &["apply", "--auto-approve"]);
    let state: Value = serde_json::from_str(&ok(&p, &["state", "pull"])).unwrap();
    let id = resource(&state, "node.web[1]")["provider_id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&p, &["state", "rm", "node.web[1]"]);
    // Forgotten, not destroyed: the instance runs, without this state's marker.
    let instances = moto.instances(REGION);
    let forgotten = instances.iter().find(|i| i["id"] == id.as_str()).unwrap();
    assert_ne!(forgotten["state"], "terminated", "{forgotten}");
    assert!(
        forgotten["tags"].get("oss:lineage").is_none(),
        "{forgotten}"
    );
    let plan = ok(&p, &["plan"]);
    assert!(plan.contains("node.web[1] will be created"), "{plan}");

    // An id that does not exist is refused and changes nothing.
    let before = ok(&p, &["state", "pull"]);
    let (code, _, err) = run(&p, &["import", "node.web[1]", "i-0123456789abcdef0"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("i-0123456789abcdef0"), "{err}");
    assert_eq!(ok(&p, &["state", "pull"]), before);

    ok(&p, &["import", "node.web[1]", &id]);
    let state: Value = serde_json::from_str(&ok(&p, &["state", "pull"])).unwrap();
    assert_eq!(resource(&state, "node.web[1]")["provider_id"], id.as_str());
    let instances = moto.instances(REGION);
    let back = instances.iter().find(|i| i["id"] == id.as_str()).unwrap();
    assert_eq!(back["tags"]["oss:address"], "node.web[1]", "{back}");
    let (code, out, err) = run(&p, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "the imported instance matches\n{out}\n{err}");
    ok(&p, &["destroy", "--auto-approve"]);
    assert!(moto.instances(REGION).is_empty());
}

#[test]
fn create_before_destroy_runs_two_instances_for_one_address_then_one() {
    let moto = Moto::start();
    let mut s = strategy(
        "cbd",
        &moto.url(),
        1,
        json!({"options": [{"id": "ap-southeast-2a"}]}),
    );
    s["node"]["create_before_destroy"] = true.into();
    let p = project(&s);
    ok(&p, &["apply", "--auto-approve"]);
    let old = resource(&p.state("cbd"), "node.web[0]")["provider_id"]
        .as_str()
        .unwrap()
        .to_string();

    // The launch looks for an instance of this address to adopt: the old one is not it.
    let (code, _, err) = run(&p, &["apply", "--auto-approve", "--replace", "node.web[0]"]);
    assert_eq!(code, 0, "{err}");
    let new = resource(&p.state("cbd"), "node.web[0]")["provider_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(
        new, old,
        "the old instance was adopted as its own replacement"
    );
    let at = |needle: &str| {
        err.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in\n{err}"))
    };
    assert!(
        at(&format!(
            "replacement {new} is ready; deleting the old object {old}"
        )) < at(&format!("old object {old} deleted")),
        "{err}"
    );
    let instances = moto.instances(REGION);
    let by = live_by_address(&instances);
    let ids: Vec<&str> = by["node.web[0]"]
        .iter()
        .filter(|i| i["state"] != "shutting-down")
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [new.as_str()], "{instances:#?}");
    // Refresh takes the new one for the address, and adopts nothing.
    let (code, out, err) = run(&p, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}\n{err}");
    ok(&p, &["destroy", "--auto-approve"]);
    assert!(moto.instances(REGION).is_empty());
}

/// Ports open only to some sources: one security-group rule per block (IPv4 and IPv6), changed
/// in place when the blocks change, and a plan warning when SSH is open to the whole internet.
#[test]
fn ports_open_to_some_sources_become_rules_changed_in_place() {
    let moto = Moto::start();
    let zone = json!({"options": [{"id": "ap-southeast-2a"}]});
    let mut s = strategy("cidrs", &moto.url(), 1, zone);
    s["node"]["ports"] = json!([443, {"port": 22, "from": ["203.0.113.0/24", "2001:db8::/32"]}]);
    let p = project(&s);
    let planned = ok(&p, &["plan"]);
    assert!(!planned.contains("Warning:"), "{planned}");
    ok(&p, &["apply", "--auto-approve"]);
    let rules = |moto: &Moto| moto.keys_and_groups(REGION).1[0]["rules"].clone();
    assert_eq!(
        rules(&moto),
        json!(["22 2001:db8::/32", "22 203.0.113.0/24", "443 0.0.0.0/0"])
    );
    let (code, out, err) = run(&p, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let instance = moto.instances(REGION)[0]["id"].clone();

    // Other blocks: the group is updated in place, the node untouched.
    s["node"]["ports"] = json!([443, {"port": 22, "from": ["198.51.100.0/24"]}]);
    p.write_strategy(&s);
    let (code, out, err) = run(&p, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        out.contains("firewall.aws.ap-southeast-2 will be updated in place"),
        "{out}"
    );
    assert!(
        out.contains("Plan: 0 to add, 1 to change, 0 to destroy."),
        "{out}"
    );
    ok(&p, &["apply", "--auto-approve"]);
    assert_eq!(rules(&moto), json!(["22 198.51.100.0/24", "443 0.0.0.0/0"]));
    assert_eq!(moto.instances(REGION)[0]["id"], instance);

    // SSH open to anyone: the plan says so in every format, and still applies.
    s["node"]["ports"] = json!([443, 22]);
    p.write_strategy(&s);
    let text = ok(&p, &["plan"]);
    let warning = "firewall.aws.ap-southeast-2 opens SSH (port 22) to the whole internet";
    assert!(text.contains(&format!("Warning: {warning}")), "{text}");
    assert!(ok(&p, &["plan", "--markdown"]).contains(warning));
    let doc: Value = serde_json::from_str(&ok(&p, &["plan", "--json"])).unwrap();
    assert!(
        doc["warnings"][0].as_str().unwrap().starts_with(warning),
        "{doc:#}"
    );
    ok(&p, &["apply", "--auto-approve"]);
    assert_eq!(rules(&moto), json!(["22 0.0.0.0/0", "443 0.0.0.0/0"]));
    ok(&p, &["destroy", "--auto-approve"]);
}

#[test]
fn oss_logs_shows_an_instances_console_output() {
    let moto = Moto::start();
    let p = project(&strategy(
        "console",
        &moto.url(),
        1,
        json!({"options": [{"id": "ap-southeast-2a"}]}),
    ));
    ok(&p, &["apply", "--auto-approve"]);
    let state: Value = serde_json::from_str(&ok(&p, &["state", "pull"])).unwrap();
    let id = resource(&state, "node.web[0]")["provider_id"]
        .as_str()
        .unwrap()
        .to_string();
    // What EC2 (moto) says the console holds, read with boto3.
    let console = moto.boto(
        REGION,
        (KEY, SECRET),
        &format!(
            "print(json.dumps(ec2.get_console_output(InstanceId={id:?}, Latest=True).get('Output', '')))"
        ),
    );
    let expected: Vec<&str> = console.as_str().unwrap().lines().collect();
    assert!(!expected.is_empty(), "moto gave no console output");
    let out = ok(&p, &["logs", "node.web[0]", "--tail", "1000"]);
    let mut shown = out.lines();
    assert_eq!(shown.next(), Some("==> console <=="), "{out}");
    let shown: Vec<&str> = shown.collect();
    let expected: Vec<&str> = expected.iter().map(|l| l.trim_end_matches('\r')).collect();
    assert_eq!(shown, expected);
    // A key pair keeps no logs: said as such.
    let (code, _, err) = run(&p, &["logs", "key.aws.ap-southeast-2"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("keeps no logs oss can show for key.aws.ap-southeast-2"),
        "{err}"
    );
}
