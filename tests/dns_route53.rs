//! DNS records on Route53, as moto serves its REST API: a local fleet's names published with
//! UPSERTs and exact DELETEs and checked with boto3 (A, round-robin, SRV, ownership TXT;
//! scale and destroy); names held by others and a missing hosted zone refused before anything
//! runs; and, through the fault proxy, what moto does not do and Route53 does: changes PENDING
//! before INSYNC, and a change batch refused with `InvalidChangeBatch`, named in the error.
//! Also the number of change calls 1,000 records take.

mod common;

use std::collections::BTreeMap;

use common::Project;
use common::fault_proxy::FaultProxy;
use common::moto::Moto;
use oss::dns::Zone;
use oss::dns::record::{Edit, Guard, RecordSet, Rtype};
use serde_json::{Value, json};

const ZONE: &str = "oss.test";
const KEYS: (&str, &str) = ("AKIDROUTE53", "route53-test-secret");

/// Runs boto3's route53 client against `url` (moto or the proxy in front of it).
fn boto(moto: &Moto, script: &str) -> Value {
    moto.boto(
        "us-east-1",
        KEYS,
        &format!(
            "r53 = session.client('route53', endpoint_url={:?})\n{script}",
            moto.url()
        ),
    )
}

/// Creates a hosted zone; its bare id.
fn create_zone(moto: &Moto, name: &str) -> String {
    let id = boto(
        moto,
        &format!(
            "z = r53.create_hosted_zone(Name={name:?}, CallerReference={name:?})\nprint(json.dumps(z['HostedZone']['Id']))\n"
        ),
    );
    id.as_str()
        .unwrap()
        .trim_start_matches("/hostedzone/")
        .to_string()
}

/// The zone's A, AAAA, SRV and TXT sets as boto3 lists them: "name TYPE" → (TTL, values).
fn records(moto: &Moto, id: &str) -> BTreeMap<String, (u64, Vec<String>)> {
    let found = boto(
        moto,
        &format!(
            "out = []\n\
             for page in r53.get_paginator('list_resource_record_sets').paginate(HostedZoneId={id:?}):\n\
             \x20   for s in page['ResourceRecordSets']:\n\
             \x20       if s['Type'] in ('A', 'AAAA', 'SRV', 'TXT'):\n\
             \x20           out.append([s['Name'] + ' ' + s['Type'], s.get('TTL', 0), sorted(r['Value'] for r in s.get('ResourceRecords', []))])\n\
             print(json.dumps(out))\n"
        ),
    );
    found
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let values = r[2]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            (
                r[0].as_str().unwrap().to_string(),
                (r[1].as_u64().unwrap(), values),
            )
        })
        .collect()
}

fn strategy(endpoint: &str, count: usize) -> Value {
    let mut s: Value = serde_json::from_str(include_str!("../strategy.sample.json")).unwrap();
    s["node"]["count"] = count.into();
    s["dns"] = json!({
        "zone": ZONE,
        "ttl": 30,
        "services": {"http": {"group": "web"}},
        "provider": {"route53": {
            "endpoint": endpoint,
            "access_key_id": "env.OSS_TEST_R53_KEY",
            "secret_access_key": "env.OSS_TEST_R53_SECRET",
            "change_timeout_seconds": 30
        }}
    });
    s
}

fn project(endpoint: &str, count: usize) -> Project {
    let p = Project::with_strategy(&strategy(endpoint, count));
    p.set_env("OSS_TEST_R53_KEY", KEYS.0);
    p.set_env("OSS_TEST_R53_SECRET", KEYS.1);
    p
}

/// Each node's address as state records it, by index.
fn addresses(p: &Project) -> Vec<String> {
    let state = p.state("hello");
    let mut found: Vec<(u64, String)> = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "node")
        .map(|r| {
            (
                r["attributes"]["index"].as_u64().unwrap(),
                r["observed"]["addr"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, a)| a).collect()
}

fn values(found: &BTreeMap<String, (u64, Vec<String>)>, key: &str) -> Vec<String> {
    found.get(key).map(|(_, v)| v.clone()).unwrap_or_default()
}

#[test]
fn records_follow_the_fleet_on_route53() {
    let moto = Moto::start();
    let id = create_zone(&moto, "oss.test.");
    let p = project(&moto.url(), 2);
    // A literal secret in the strategy is used, and kept out of state.
    let mut literal = strategy(&moto.url(), 2);
    literal["dns"]["provider"]["route53"]["secret_access_key"] = json!(KEYS.1);
    p.write_strategy(&literal);
    let plan = p.ok(&["plan"]);
    for address in ["dns.web[0]", "dns.web[1]", "dns.web", "dns._http._tcp"] {
        assert!(plan.contains(address), "the plan shows {address}:\n{plan}");
    }
    p.ok(&["apply", "--auto-approve"]);
    let ips = addresses(&p);
    let found = records(&moto, &id);
    for (i, ip) in ips.iter().enumerate() {
        assert_eq!(
            values(&found, &format!("web-{i}.oss.test. A")),
            std::slice::from_ref(ip)
        );
        let txt = values(&found, &format!("web-{i}.oss.test. TXT"));
        assert_eq!(txt.len(), 1, "{found:?}");
        assert!(
            txt[0].starts_with("\"heritage=oss,") && txt[0].ends_with(&format!("dns.web[{i}]\"")),
            "the ownership TXT, quoted as Route53 keeps it: {txt:?}"
        );
    }
    let mut both = ips.clone();
    both.sort();
    assert_eq!(values(&found, "web.oss.test. A"), both);
    assert_eq!(found["web.oss.test. A"].0, 30);
    assert_eq!(
        values(&found, "_http._tcp.oss.test. SRV"),
        ["0 0 8080 web-0.oss.test.", "0 0 8080 web-1.oss.test."]
    );
    assert!(
        p.ok(&["plan"]).contains("No changes"),
        "refresh reads back what was written"
    );

    // Scale up: a new name, the shared ones upserted in place.
    p.write_strategy(&strategy(&moto.url(), 3));
    p.ok(&["apply", "--auto-approve"]);
    let found = records(&moto, &id);
    assert_eq!(values(&found, "web.oss.test. A").len(), 3);
    assert_eq!(values(&found, "_http._tcp.oss.test. SRV").len(), 3);
    // Down to one: web-1's and web-2's names are deleted exactly, values and TTL.
    p.write_strategy(&strategy(&moto.url(), 1));
    p.ok(&["apply", "--auto-approve"]);
    let found = records(&moto, &id);
    assert!(
        !found.contains_key("web-2.oss.test. A") && !found.contains_key("web-1.oss.test. TXT"),
        "{found:?}"
    );
    assert_eq!(values(&found, "web.oss.test. A").len(), 1);

    // Destroy leaves the zone as it was made.
    p.ok(&["destroy", "--auto-approve"]);
    let found = records(&moto, &id);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn names_written_with_the_legacy_ownership_text_stay_ours_and_get_the_short_one() {
    let moto = Moto::start();
    let id = create_zone(&moto, "oss.test.");
    let p = project(&moto.url(), 2);
    p.ok(&["apply", "--auto-approve"]);
    let lineage = p.state("hello")["lineage"].as_str().unwrap().to_string();
    // The names as an earlier oss wrote them: the lineage in full in every TXT record.
    let names = [
        ("web-0.oss.test.", "dns.web[0]"),
        ("web-1.oss.test.", "dns.web[1]"),
        ("web.oss.test.", "dns.web"),
        ("_http._tcp.oss.test.", "dns._http._tcp"),
    ];
    let legacy = |address: &str| {
        oss::dns::record::legacy_owner_text(&lineage, &oss::resource::Address(address.into()))
    };
    let changes: Vec<Value> = names
        .iter()
        .map(|(name, address)| {
            json!({"Action": "UPSERT", "ResourceRecordSet": {"Name": name, "Type": "TXT", "TTL": 30,
                "ResourceRecords": [{"Value": format!("\"{}\"", legacy(address))}]}})
        })
        .collect();
    boto(
        &moto,
        &format!(
            "r53.change_resource_record_sets(HostedZoneId={id:?}, ChangeBatch={{'Changes': json.loads({:?})}})\nprint('null')\n",
            serde_json::to_string(&changes).unwrap()
        ),
    );
    let txt = |found: &BTreeMap<String, (u64, Vec<String>)>, name: &str| {
        values(found, &format!("{name} TXT"))
            .first()
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        txt(&records(&moto, &id), "web.oss.test."),
        format!("\"{}\"", legacy("dns.web"))
    );
    // Still this state's: nothing is refused, nothing to change.
    assert!(p.ok(&["plan"]).contains("No changes"));
    // A write of a name gives it today's short text; the others stay ours as they are.
    p.write_strategy(&strategy(&moto.url(), 3));
    p.ok(&["apply", "--auto-approve"]);
    let found = records(&moto, &id);
    let short = oss::dns::record::owner_text(&lineage, &oss::resource::Address("dns.web".into()));
    assert_eq!(txt(&found, "web.oss.test."), format!("\"{short}\""));
    assert_eq!(
        txt(&found, "web-0.oss.test."),
        format!("\"{}\"", legacy("dns.web[0]"))
    );
    assert_eq!(values(&found, "web.oss.test. A").len(), 3);
    // Destroy removes the names of both texts.
    p.ok(&["destroy", "--auto-approve"]);
    let left = records(&moto, &id);
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn names_held_by_others_and_a_missing_zone_stop_the_plan() {
    let moto = Moto::start();
    let id = create_zone(&moto, "oss.test.");
    boto(
        &moto,
        &format!(
            "r53.change_resource_record_sets(HostedZoneId={id:?}, ChangeBatch={{'Changes': [{{'Action': 'CREATE', 'ResourceRecordSet': {{'Name': 'web-1.oss.test.', 'Type': 'A', 'TTL': 300, 'ResourceRecords': [{{'Value': '127.9.9.9'}}]}}}}]}})\nprint('null')\n"
        ),
    );
    let p = project(&moto.url(), 2);
    let (code, _, err) = p.run(&["apply", "--auto-approve"]);
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("web-1.oss.test. is already taken") && err.contains("A record (127.9.9.9)"),
        "{err}"
    );
    assert!(p.node_processes().is_empty(), "no node was started");
    let found = records(&moto, &id);
    assert_eq!(found.len(), 1, "only the record that was there: {found:?}");

    // Another oss state's ownership text.
    boto(
        &moto,
        &format!(
            "r53.change_resource_record_sets(HostedZoneId={id:?}, ChangeBatch={{'Changes': [{{'Action': 'DELETE', 'ResourceRecordSet': {{'Name': 'web-1.oss.test.', 'Type': 'A', 'TTL': 300, 'ResourceRecords': [{{'Value': '127.9.9.9'}}]}}}}, {{'Action': 'CREATE', 'ResourceRecordSet': {{'Name': 'web.oss.test.', 'Type': 'TXT', 'TTL': 300, 'ResourceRecords': [{{'Value': '\"heritage=oss,oss/lineage=someone-else,oss/address=dns.web\"'}}]}}}}]}})\nprint('null')\n"
        ),
    );
    let (code, _, err) = p.run(&["plan"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("web.oss.test. is already taken") && err.contains("another oss state"),
        "{err}"
    );

    // A zone Route53 does not have, by name and by id.
    let mut s = strategy(&moto.url(), 1);
    s["dns"]["zone"] = json!("elsewhere.test");
    p.write_strategy(&s);
    let (code, _, err) = p.run(&["plan"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("Route53 has no hosted zone elsewhere.test."),
        "{err}"
    );
    let mut s = strategy(&moto.url(), 1);
    s["dns"]["provider"]["route53"]["hosted_zone_id"] = json!("ZNOSUCHZONE");
    p.write_strategy(&s);
    let (code, _, err) = p.run(&["plan"]);
    assert_ne!(code, 0);
    assert!(err.contains("no hosted zone with id ZNOSUCHZONE"), "{err}");
    // The right id works; the secret is nowhere in what oss wrote.
    s["dns"]["provider"]["route53"]["hosted_zone_id"] = json!(format!("/hostedzone/{id}"));
    s["node"]["count"] = json!(0);
    p.write_strategy(&s);
    p.ok(&["plan"]);
}

#[test]
fn pending_changes_are_awaited_and_a_refused_batch_names_its_record() {
    let moto = Moto::start();
    let id = create_zone(&moto, "oss.test.");
    let proxy = FaultProxy::start(moto.port);
    proxy.pending_changes(2);
    let p = project(&proxy.url(), 2);
    p.ok(&["apply", "--auto-approve"]);
    let changes = proxy.calls("ChangeResourceRecordSets");
    assert!(changes >= 1, "{}", proxy.summary());
    assert_eq!(
        proxy.calls("GetChange"),
        3 * changes,
        "every change polled until INSYNC (twice PENDING, then INSYNC): {}",
        proxy.summary()
    );
    assert_eq!(values(&records(&moto, &id), "web.oss.test. A").len(), 2);

    // Route53 refuses a batch touching web-2: that record fails, named; the rest go through.
    proxy.pending_changes(0);
    proxy.refuse_change_of(Some("web-2.oss.test."));
    p.write_strategy(&strategy(&proxy.url(), 3));
    let (code, _, err) = p.run(&["apply", "--auto-approve"]);
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("Route53 refused the change of web-2.oss.test. in zone oss.test.")
            && err.contains("conflicting RRSet of type CNAME"),
        "{err}"
    );
    let found = records(&moto, &id);
    assert!(!found.contains_key("web-2.oss.test. A"), "{found:?}");
    proxy.refuse_change_of(None);
    p.ok(&["apply", "--auto-approve"]);
    assert_eq!(values(&records(&moto, &id), "web.oss.test. A").len(), 3);
}

#[test]
fn a_thousand_records_take_few_change_calls() {
    let moto = Moto::start();
    create_zone(&moto, "oss.test.");
    let proxy = FaultProxy::start(moto.port);
    let settings = json!({
        "endpoint": proxy.url(),
        "access_key_id": KEYS.0,
        "secret_access_key": KEYS.1,
    });
    let zone =
        oss::dns::route53::Route53::new("route53", "oss.test.", settings.as_object().unwrap())
            .unwrap();
    let lineage = "0b6f6c1e-5d1e-4c1f-9a57-8f4ad3f7c0de";
    let edits: Vec<Edit> = (0..1000)
        .map(|i| {
            let name = format!("web-{i}.oss.test.");
            let owner = oss::dns::record::owner_text(
                lineage,
                &oss::resource::Address::record(&format!("web[{i}]")),
            );
            let set = |rtype, value: String| RecordSet {
                name: name.clone(),
                rtype,
                ttl: 60,
                values: vec![value],
                alias: None,
            };
            Edit {
                name: name.clone(),
                guard: Guard::Unclaimed,
                write: vec![
                    set(Rtype::A, format!("127.1.{}.{}", i / 250, i % 250 + 1)),
                    set(Rtype::Txt, owner),
                ],
                remove: Vec::new(),
            }
        })
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        for run in zone.split(&edits) {
            zone.edit(run).await.unwrap();
        }
    });
    let calls = proxy.calls("ChangeResourceRecordSets");
    // Route53's quotas (1,000 records and 32,000 value characters a request, an UPSERT
    // counting twice): new names go as CREATEs, each an A record and an ownership TXT of
    // about 55 characters in all, so 1,000 names (2,000 records, about 54,000 characters)
    // take 2 calls of 500 names.
    assert_eq!(calls, 2, "{}", proxy.summary());
    let names = runtime.block_on(zone.read(&[
        "web-0.oss.test.".to_string(),
        "web-999.oss.test.".to_string(),
    ]));
    let names = names.unwrap();
    assert_eq!(names[1].len(), 2, "{names:?}");
    assert_eq!(names[1][0].values, ["127.1.3.250"]);
}

#[test]
fn a_wrong_secret_stops_the_plan_with_a_credentials_error() {
    // moto lets the first four calls through unsigned: an IAM user with a key and an
    // allow-all policy, and the hosted zone; every later call must be signed right.
    let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "4")]);
    let made = boto(
        &moto,
        "iam.create_user(UserName='oss')\n\
         key = iam.create_access_key(UserName='oss')['AccessKey']\n\
         iam.put_user_policy(UserName='oss', PolicyName='all', PolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': '*', 'Resource': '*'}]}))\n\
         r53.create_hosted_zone(Name='oss.test.', CallerReference='auth')\n\
         print(json.dumps([key['AccessKeyId'], key['SecretAccessKey']]))\n",
    );
    let (key, secret) = (made[0].as_str().unwrap(), made[1].as_str().unwrap());
    let p = project(&moto.url(), 1);
    p.set_env("OSS_TEST_R53_KEY", key);
    // moto checks a signed GET that has a query string against a payload hash of the query
    // (Route53 and SigV4 hash the empty body), so a right signature of ListHostedZonesByName
    // cannot be shown passing here; the signer itself is checked against moto by aws_moto.
    assert!(!secret.is_empty());
    let wrong = "wrong-secret-0123456789";
    p.set_env("OSS_TEST_R53_SECRET", wrong);
    let (code, out, err) = p.run(&["plan"]);
    assert_ne!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("Route53 refused the credentials of DNS provider `route53`"),
        "{err}"
    );
    assert!(!err.contains(wrong) && !out.contains(wrong), "{err}");
    assert!(p.node_processes().is_empty(), "no node was started");
}
