//! The `aws` load-balancer provider's ELBv2 layer (`oss::lb::aws::elbv2`) against moto's
//! ELBv2 and EC2, signatures checked by moto: a balancer in the default VPC's two zones, a
//! target group with the shared check, a listener, and targets that follow membership in
//! place (3 → 5 instances, one swapped) without a new load balancer; deletes that leave
//! nothing and may be repeated; a wrong secret fails clearly without echoing it. An
//! independent client (boto3) checks what moto holds. moto does not forward traffic, so no
//! request goes through the balancer here.
//!
//! Every test starts its own moto on a free loopback port and kills it when done.

mod common;

use std::collections::BTreeSet;

use common::fault_proxy::FaultProxy;
use common::moto::Moto;
use oss::driver::ErrorClass;
use oss::health::RawCheck;
use oss::lb::aws::elbv2::{Elbv2, health_params};
use oss::net::aws::Keys;
use serde_json::Value;

const REGION: &str = "ap-southeast-2";

fn keys(key: &str, secret: &str) -> Keys {
    Keys {
        access_key_id: key.to_string().into(),
        secret_access_key: secret.to_string().into(),
        session_token: None,
        source: "the test".into(),
    }
}

/// Launches `count` instances in the default VPC with boto3; their ids, in launch order.
fn launch(moto: &Moto, credentials: (&str, &str), count: usize) -> Vec<String> {
    let made = moto.boto(
        REGION,
        credentials,
        &format!(
            "image = ec2.describe_images(Owners=['amazon'])['Images'][0]['ImageId']\n\
             r = ec2.run_instances(ImageId=image, MinCount={count}, MaxCount={count}, InstanceType='t3.micro')\n\
             print(json.dumps([i['InstanceId'] for i in r['Instances']]))\n"
        ),
    );
    made.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// What boto3's elbv2 client sees: load balancer ARNs, target group ARNs, listener ARNs of
/// every balancer, and the registered ids of every target group.
fn seen(moto: &Moto, credentials: (&str, &str)) -> Value {
    moto.boto(
        REGION,
        credentials,
        &format!(
            "elb = session.client('elbv2', endpoint_url={url:?})\n\
             lbs = [b['LoadBalancerArn'] for b in elb.describe_load_balancers()['LoadBalancers']]\n\
             tgs = [g['TargetGroupArn'] for g in elb.describe_target_groups()['TargetGroups']]\n\
             ls = [l['ListenerArn'] for b in lbs for l in elb.describe_listeners(LoadBalancerArn=b)['Listeners']]\n\
             ids = sorted(d['Target']['Id'] for g in tgs for d in elb.describe_target_health(TargetGroupArn=g)['TargetHealthDescriptions'])\n\
             print(json.dumps({{'lbs': lbs, 'tgs': tgs, 'listeners': ls, 'ids': ids}}))\n",
            url = moto.url()
        ),
    )
}

fn ids(values: &[String]) -> BTreeSet<String> {
    values.iter().cloned().collect()
}

#[test]
fn a_balancer_with_its_target_group_and_listener_follows_membership_in_place_and_deletes_clean() {
    let moto = Moto::start();
    let credentials = ("AKIDOSSTEST", "oss-test-secret");
    let instances = launch(&moto, credentials, 5);
    let elb = Elbv2::new(
        "aws",
        REGION,
        Some(moto.url()),
        Some(keys(credentials.0, credentials.1)),
    )
    .unwrap();
    let check = serde_json::from_str::<RawCheck>(
        r#"{"type": "http", "path": "/healthz", "interval": "10s", "timeout": "3s"}"#,
    )
    .unwrap()
    .check()
    .unwrap();
    let health = health_params(&check, 8000).unwrap();
    let tags = vec![
        ("oss:address".to_string(), "lb.web".to_string()),
        ("oss:lineage".to_string(), "test-lineage".to_string()),
    ];
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let network = elb.default_network().await.unwrap().unwrap();
        assert!(!network.owned);
        let (vpc, subnets) = (network.vpc, network.subnets);
        assert_ne!(subnets[0], subnets[1]);
        assert_eq!(elb.find_load_balancer("web-test").await.unwrap(), None);
        let group = elb
            .create_target_group("web-test", &vpc, 8000, &health, &tags)
            .await
            .unwrap();
        assert_eq!(
            elb.find_target_group("web-test").await.unwrap().as_deref(),
            Some(group.as_str())
        );
        let balancer = elb
            .create_load_balancer("web-test", false, &subnets, &tags)
            .await
            .unwrap();
        assert_eq!(balancer.vpc, vpc);
        assert_eq!(balancer.scheme, "internet-facing");
        assert!(!balancer.dns_name.is_empty());
        let listener = elb
            .create_listener(&balancer.arn, 80, &group, &tags)
            .await
            .unwrap();
        assert_eq!(
            elb.listeners(&balancer.arn).await.unwrap(),
            [(listener.clone(), 80)]
        );
        // The tags oss adopts by are on all three.
        let arns = [balancer.arn.clone(), group.clone(), listener.clone()];
        let tagged = elb.tags(&arns).await.unwrap();
        assert_eq!(tagged.len(), 3, "{tagged:?}");
        for (arn, found) in &tagged {
            assert!(tags.iter().all(|t| found.contains(t)), "{arn}: {found:?}");
        }

        // Three members, then five, then one swapped: the same balancer throughout.
        let three = ids(&instances[..3]);
        assert_eq!(elb.set_targets(&group, 8000, &three).await.unwrap(), (3, 0));
        assert_eq!(elb.targets(&group).await.unwrap(), three);
        let seen_three = seen(&moto, credentials);
        let want: Vec<&String> = three.iter().collect();
        assert_eq!(seen_three["ids"], serde_json::json!(want));
        let five = ids(&instances);
        assert_eq!(elb.set_targets(&group, 8000, &five).await.unwrap(), (2, 0));
        assert_eq!(elb.set_targets(&group, 8000, &five).await.unwrap(), (0, 0));
        let mut swapped = five.clone();
        swapped.remove(&instances[0]);
        let replacement = launch(&moto, credentials, 1).remove(0);
        swapped.insert(replacement.clone());
        assert_eq!(
            elb.set_targets(&group, 8000, &swapped).await.unwrap(),
            (1, 1)
        );
        let now = elb.targets(&group).await.unwrap();
        assert!(now.contains(&replacement) && !now.contains(&instances[0]));
        assert_eq!(
            elb.find_load_balancer("web-test")
                .await
                .unwrap()
                .unwrap()
                .arn,
            balancer.arn,
            "membership changes keep the load balancer"
        );
        let after = seen(&moto, credentials);
        assert_eq!(after["lbs"], serde_json::json!([balancer.arn]));
        assert_eq!(after["listeners"], serde_json::json!([listener]));

        // Deletes leave nothing, and a second round is done, not an error.
        for _ in 0..2 {
            elb.delete_listener(&listener).await.unwrap();
            elb.delete_load_balancer(&balancer.arn).await.unwrap();
            elb.delete_target_group(&group).await.unwrap();
        }
        assert_eq!(elb.find_load_balancer("web-test").await.unwrap(), None);
        assert_eq!(elb.find_target_group("web-test").await.unwrap(), None);
    });
    let gone = seen(&moto, credentials);
    assert_eq!(gone["lbs"], serde_json::json!([]), "{gone}");
    assert_eq!(gone["tgs"], serde_json::json!([]), "{gone}");
    assert_eq!(gone["listeners"], serde_json::json!([]), "{gone}");
}

#[test]
fn a_wrong_secret_fails_clearly_without_echoing_it() {
    // moto lets the first three calls through unauthenticated: boto3 makes an IAM user with an
    // access key and an allow-all policy; every later call must be signed right.
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
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let right = Elbv2::new("aws", REGION, Some(moto.url()), Some(keys(key, secret))).unwrap();
    assert_eq!(
        runtime
            .block_on(right.find_load_balancer("web-test"))
            .unwrap(),
        None,
        "the right key is accepted"
    );
    let wrong_secret = "wrong-secret-0123456789";
    let wrong = Elbv2::new(
        "aws",
        REGION,
        Some(moto.url()),
        Some(keys(key, wrong_secret)),
    )
    .unwrap();
    let error = runtime
        .block_on(wrong.find_load_balancer("web-test"))
        .unwrap_err();
    assert_eq!(error.class, ErrorClass::Fatal, "{error}");
    let text = format!("{error} {error:?}");
    assert!(!text.contains(wrong_secret), "{text}");
    assert!(
        text.contains("DescribeLoadBalancers") || text.contains("Signature"),
        "the failed call is named: {text}"
    );
}

/// examples/aws-load-balanced.json with `count` web nodes, its aws blocks and its route53
/// block pointed at `endpoint` with the test credentials (`env.` references).
fn fleet(endpoint: &str, count: usize) -> Value {
    let text = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/aws-load-balanced.json"
    ))
    .unwrap();
    let mut strategy: Value = serde_json::from_slice(&text).unwrap();
    strategy["name"] = "elb".into();
    strategy["node"]["count"] = count.into();
    for pointer in [
        "/provider/options/0/aws",
        "/lb/web/provider/aws",
        "/dns/provider/route53",
    ] {
        let block = strategy.pointer_mut(pointer).unwrap();
        block["endpoint"] = endpoint.into();
        block["access_key_id"] = "env.OSS_TEST_AWS_KEY".into();
        block["secret_access_key"] = "env.OSS_TEST_AWS_SECRET".into();
    }
    strategy
}

/// The example's hosted zone.
const ZONE: &str = "aws.oss.example.";

/// Creates the example's hosted zone in moto; its bare id.
fn create_zone(moto: &Moto, credentials: (&str, &str)) -> String {
    let id = moto.boto(
        "us-east-1",
        credentials,
        &format!(
            "r53 = session.client('route53', endpoint_url={:?})\n\
             z = r53.create_hosted_zone(Name={ZONE:?}, CallerReference='oss')\n\
             print(json.dumps(z['HostedZone']['Id']))\n",
            moto.url()
        ),
    );
    id.as_str()
        .unwrap()
        .trim_start_matches("/hostedzone/")
        .to_string()
}

/// What boto3 sees of the zone's record sets (ListResourceRecordSets) other than SOA and NS,
/// by "name TYPE", and of the balancers (DescribeLoadBalancers): their DNSName and
/// CanonicalHostedZoneId.
fn names(moto: &Moto, credentials: (&str, &str), zone: &str) -> Value {
    moto.boto(
        REGION,
        credentials,
        &format!(
            "r53 = session.client('route53', endpoint_url={url:?})\n\
             elb = session.client('elbv2', endpoint_url={url:?})\n\
             sets = {{}}\n\
             for s in r53.list_resource_record_sets(HostedZoneId={zone:?})['ResourceRecordSets']:\n\
             \x20   if s['Type'] not in ('SOA', 'NS'):\n\
             \x20       sets[s['Name'] + ' ' + s['Type']] = {{'alias': s.get('AliasTarget'), 'values': sorted(r['Value'] for r in s.get('ResourceRecords', []))}}\n\
             lbs = [{{'DNSName': b['DNSName'], 'CanonicalHostedZoneId': b['CanonicalHostedZoneId']}} for b in elb.describe_load_balancers()['LoadBalancers']]\n\
             print(json.dumps({{'sets': sets, 'lbs': lbs}}))\n",
            url = moto.url()
        ),
    )
}

/// `oss` in `p` with the test credentials and no AWS settings from this environment.
fn command(p: &common::Project) -> std::process::Command {
    let mut command = p.oss();
    command
        .env("OSS_TEST_AWS_KEY", "AKIDOSSTEST")
        .env("OSS_TEST_AWS_SECRET", "oss-test-secret")
        .env("HOME", p.dir.path())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION");
    command
}

fn oss(p: &common::Project, args: &[&str]) -> (i32, String, String) {
    let out = command(p).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(p: &common::Project, args: &[&str]) {
    let (code, out, err) = oss(p, args);
    assert_eq!(code, 0, "oss {args:?}\nstdout:\n{out}\nstderr:\n{err}");
}

/// The instance ids of `node.web[*]` and the balancer's ARN, from state.
fn recorded(p: &common::Project) -> (Vec<String>, String) {
    let state = p.state("elb");
    let mut nodes = Vec::new();
    let mut lb = String::new();
    for r in state["resources"].as_array().unwrap() {
        let address = r["address"].as_str().unwrap();
        let id = r["provider_id"].as_str().unwrap().to_string();
        if address.starts_with("node.web[") {
            nodes.push(id);
        } else if address == "lb.web" {
            lb = id;
        }
    }
    nodes.sort();
    (nodes, lb)
}

#[test]
fn an_oss_fleet_behind_elbv2_registers_its_instances_and_follows_scaling_and_replacement() {
    let moto = Moto::start();
    let credentials = ("AKIDOSSTEST", "oss-test-secret");
    let zone = create_zone(&moto, credentials);
    let p = common::Project::with_strategy(&fleet(&moto.url(), 3));
    // The plan shows the alias like every record, its target known once the balancer is.
    let (code, out, err) = oss(&p, &["plan"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("dns.web"), "{out}");
    ok(&p, &["apply", "--auto-approve"]);
    let (three, arn) = recorded(&p);
    assert_eq!(three.len(), 3);
    assert!(arn.starts_with("arn:"), "{arn}");
    let seen_three = seen(&moto, credentials);
    assert_eq!(seen_three["ids"], serde_json::json!(three), "{seen_three}");
    assert_eq!(seen_three["lbs"], serde_json::json!([arn]));
    assert_eq!(seen_three["listeners"].as_array().unwrap().len(), 1);
    // Applied once, the fleet and its balancer match the strategy.
    let (code, out, err) = oss(&p, &["plan"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("No changes."), "{out}");
    // web.ZONE is an alias A record to the balancer, beside its ownership TXT; no CNAME, no
    // copied addresses.
    let named = names(&moto, credentials, &zone);
    let lb = &named["lbs"][0];
    assert!(
        lb["CanonicalHostedZoneId"]
            .as_str()
            .is_some_and(|z| !z.is_empty()),
        "{named}"
    );
    let web = &named["sets"][format!("web.{ZONE} A")];
    assert_eq!(web["values"], serde_json::json!([]), "{named}");
    assert_eq!(
        web["alias"]["HostedZoneId"], lb["CanonicalHostedZoneId"],
        "{named}"
    );
    let target = web["alias"]["DNSName"].as_str().unwrap_or_default();
    let dns_name = lb["DNSName"].as_str().unwrap();
    assert_eq!(
        target.trim_end_matches('.').to_ascii_lowercase(),
        dns_name.to_ascii_lowercase(),
        "{named}"
    );
    assert_eq!(web["alias"]["EvaluateTargetHealth"], true, "{named}");
    let owner = &named["sets"][format!("web.{ZONE} TXT")]["values"][0];
    assert!(
        owner.as_str().is_some_and(|t| t.contains("dns.web")),
        "{named}"
    );
    assert!(
        named["sets"].get(format!("web.{ZONE} CNAME")).is_none(),
        "{named}"
    );
    assert_eq!(
        named["sets"][format!("web-2.{ZONE} A")]["values"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{named}"
    );

    p.write_strategy(&fleet(&moto.url(), 5));
    ok(&p, &["apply", "--auto-approve"]);
    let (five, arn_after) = recorded(&p);
    assert_eq!(arn_after, arn, "scaling keeps the load balancer");
    let seen_five = seen(&moto, credentials);
    assert_eq!(seen_five["ids"], serde_json::json!(five), "{seen_five}");
    assert_eq!(five.len(), 5);

    let state = p.state("elb");
    let old = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "node.web[0]")
        .unwrap()["provider_id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&p, &["apply", "--auto-approve", "--replace", "node.web[0]"]);
    let (swapped, arn_replaced) = recorded(&p);
    assert_eq!(arn_replaced, arn);
    assert!(!swapped.contains(&old), "{swapped:?}");
    let seen_swapped = seen(&moto, credentials);
    assert_eq!(
        seen_swapped["ids"],
        serde_json::json!(swapped),
        "{seen_swapped}"
    );

    // Membership changes leave the alias as it was: same target, no rewrite needed.
    let after = names(&moto, credentials, &zone);
    assert_eq!(
        after["sets"][format!("web.{ZONE} A")],
        named["sets"][format!("web.{ZONE} A")],
        "{after}"
    );
    // A new TTL updates the name in place: the alias written again over itself (an UPSERT
    // guarded by its ownership TXT), the TXT with the new TTL.
    let mut slower = fleet(&moto.url(), 5);
    slower["dns"]["ttl"] = 120.into();
    p.write_strategy(&slower);
    let (code, out, err) = oss(&p, &["plan"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("dns.web will be updated in place"), "{out}");
    ok(&p, &["apply", "--auto-approve"]);
    let updated = names(&moto, credentials, &zone);
    assert_eq!(
        updated["sets"][format!("web.{ZONE} A")],
        named["sets"][format!("web.{ZONE} A")],
        "{updated}"
    );
    assert_eq!(
        p.state("elb")["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == "dns.web")
            .map(|r| r["attributes"]["ttl"].clone()),
        Some(serde_json::json!(120))
    );

    ok(&p, &["destroy", "--auto-approve"]);
    let gone = seen(&moto, credentials);
    assert_eq!(gone["lbs"], serde_json::json!([]), "{gone}");
    assert_eq!(gone["tgs"], serde_json::json!([]), "{gone}");
    assert_eq!(gone["listeners"], serde_json::json!([]), "{gone}");
    // Every name oss wrote is gone, the alias exactly deleted (moto refuses a DELETE that
    // does not match the set).
    let left = names(&moto, credentials, &zone);
    assert_eq!(left["sets"], serde_json::json!({}), "{left}");
}

#[test]
fn a_kill_after_the_elbv2_creates_is_repaired_by_adoption_not_a_second_balancer() {
    use std::os::unix::process::ExitStatusExt;
    let moto = Moto::start();
    let credentials = ("AKIDOSSTEST", "oss-test-secret");
    create_zone(&moto, credentials);
    let proxy = FaultProxy::start(moto.port);
    let p = common::Project::with_strategy(&fleet(&proxy.url(), 2));
    // The first registration waits in the proxy: by then the balancer, its target group and
    // its listener are made, and the state does not know them.
    proxy.hold(Some("RegisterTargets"));
    let mut child = command(&p)
        .args(["apply", "--auto-approve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let held = common::wait_until(std::time::Duration::from_secs(120), || {
        proxy.calls("RegisterTargets") >= 1
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let status = child.wait().unwrap();
    proxy.hold(None);
    assert!(
        held,
        "the apply never registered targets: {}",
        proxy.summary()
    );
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    let made = seen(&moto, credentials);
    assert_eq!(made["lbs"].as_array().unwrap().len(), 1, "{made}");
    assert_eq!(made["listeners"].as_array().unwrap().len(), 1, "{made}");
    let journal = std::fs::read_to_string(p.path("state/elb.journal")).unwrap_or_default();
    assert!(!journal.contains("lb.web"), "killed too late: {journal}");

    let lock: Value =
        serde_json::from_slice(&std::fs::read(p.path("state/elb.lock")).unwrap()).unwrap();
    ok(&p, &["force-unlock", lock["id"].as_str().unwrap()]);
    ok(&p, &["apply", "--auto-approve"]);
    let after = seen(&moto, credentials);
    assert_eq!(
        after["lbs"], made["lbs"],
        "the balancer is adopted: {after}"
    );
    assert_eq!(after["tgs"], made["tgs"], "{after}");
    assert_eq!(after["listeners"], made["listeners"], "{after}");
    let (nodes, arn) = recorded(&p);
    assert_eq!(after["lbs"], serde_json::json!([arn]));
    assert_eq!(after["ids"], serde_json::json!(nodes), "{after}");
    let (code, out, err) = oss(&p, &["plan"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("No changes."), "{out}");
    ok(&p, &["destroy", "--auto-approve"]);
    assert_eq!(seen(&moto, credentials)["lbs"], serde_json::json!([]));
}

/// Deletes the region's default VPC (its subnets and internet gateway first), as accounts
/// made without one, or that removed it, are.
fn delete_default_vpc(moto: &Moto, credentials: (&str, &str)) {
    let left = moto.boto(
        REGION,
        credentials,
        "vpc = ec2.describe_vpcs(Filters=[{'Name': 'is-default', 'Values': ['true']}])['Vpcs'][0]['VpcId']\n\
         for s in ec2.describe_subnets(Filters=[{'Name': 'vpc-id', 'Values': [vpc]}])['Subnets']:\n\
         \x20   ec2.delete_subnet(SubnetId=s['SubnetId'])\n\
         for g in ec2.describe_internet_gateways(Filters=[{'Name': 'attachment.vpc-id', 'Values': [vpc]}])['InternetGateways']:\n\
         \x20   ec2.detach_internet_gateway(InternetGatewayId=g['InternetGatewayId'], VpcId=vpc)\n\
         \x20   ec2.delete_internet_gateway(InternetGatewayId=g['InternetGatewayId'])\n\
         ec2.delete_vpc(VpcId=vpc)\n\
         print(json.dumps(len(ec2.describe_vpcs(Filters=[{'Name': 'is-default', 'Values': ['true']}])['Vpcs'])))\n",
    );
    assert_eq!(left, serde_json::json!(0), "the default VPC is gone");
}

/// What boto3 sees of the VPCs, subnets and internet gateways oss made (tagged
/// `oss:address`), and of the balancers' VPCs.
fn networks(moto: &Moto, credentials: (&str, &str)) -> Value {
    moto.boto(
        REGION,
        credentials,
        &format!(
            "elb = session.client('elbv2', endpoint_url={url:?})\n\
             mine = [{{'Name': 'tag-key', 'Values': ['oss:address']}}]\n\
             tags = lambda o: {{t['Key']: t['Value'] for t in o.get('Tags', [])}}\n\
             vpcs = [{{'id': v['VpcId'], 'cidr': v['CidrBlock'], 'tags': tags(v)}} for v in ec2.describe_vpcs(Filters=mine)['Vpcs']]\n\
             subnets = sorted([{{'id': s['SubnetId'], 'vpc': s['VpcId'], 'zone': s['AvailabilityZone'], 'cidr': s['CidrBlock']}} for s in ec2.describe_subnets(Filters=mine)['Subnets']], key=lambda s: s['zone'])\n\
             gateways = [{{'id': g['InternetGatewayId'], 'vpcs': [a['VpcId'] for a in g.get('Attachments', [])]}} for g in ec2.describe_internet_gateways(Filters=mine)['InternetGateways']]\n\
             routes = [r.get('GatewayId') for v in vpcs for t in ec2.describe_route_tables(Filters=[{{'Name': 'vpc-id', 'Values': [v['id']]}}])['RouteTables'] for r in t['Routes'] if r.get('DestinationCidrBlock') == '0.0.0.0/0']\n\
             lbs = [b['VpcId'] for b in elb.describe_load_balancers()['LoadBalancers']]\n\
             print(json.dumps({{'vpcs': vpcs, 'subnets': subnets, 'gateways': gateways, 'routes': routes, 'lbs': lbs}}))\n",
            url = moto.url()
        ),
    )
}

/// The example with no nodes (EC2 instances need a default VPC) and no dns block: the
/// balancer and its network alone.
fn balancer_only(endpoint: &str) -> Value {
    let mut strategy = fleet(endpoint, 0);
    strategy.as_object_mut().unwrap().remove("dns");
    strategy
}

#[test]
fn without_a_default_vpc_oss_makes_a_network_for_the_balancer_adopts_it_after_a_kill_and_deletes_it()
 {
    use std::os::unix::process::ExitStatusExt;
    let moto = Moto::start();
    let credentials = ("AKIDOSSTEST", "oss-test-secret");
    delete_default_vpc(&moto, credentials);
    let proxy = FaultProxy::start(moto.port);
    let p = common::Project::with_strategy(&balancer_only(&proxy.url()));
    let (code, out, err) = oss(&p, &["plan"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("network.aws-elb"),
        "the plan shows the network: {out}"
    );

    // Killed while its first subnet is made: the VPC and its gateway exist, and the state
    // does not know them.
    proxy.hold(Some("CreateSubnet"));
    let mut child = command(&p)
        .args(["apply", "--auto-approve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let held = common::wait_until(std::time::Duration::from_secs(120), || {
        proxy.calls("CreateSubnet") >= 1
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let status = child.wait().unwrap();
    proxy.hold(None);
    assert!(held, "the apply never made a subnet: {}", proxy.summary());
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    let partial = networks(&moto, credentials);
    assert_eq!(partial["vpcs"].as_array().unwrap().len(), 1, "{partial}");
    let journal = std::fs::read_to_string(p.path("state/elb.journal")).unwrap_or_default();
    assert!(
        !journal.contains("network.aws-elb"),
        "killed too late: {journal}"
    );

    let lock: Value =
        serde_json::from_slice(&std::fs::read(p.path("state/elb.lock")).unwrap()).unwrap();
    ok(&p, &["force-unlock", lock["id"].as_str().unwrap()]);
    ok(&p, &["apply", "--auto-approve"]);
    let made = networks(&moto, credentials);
    // The VPC the killed apply made is adopted by its tags, not made twice.
    assert_eq!(made["vpcs"].as_array().unwrap().len(), 1, "{made}");
    let vpc = &made["vpcs"][0];
    assert_eq!(vpc["id"], partial["vpcs"][0]["id"], "{made}");
    assert_eq!(vpc["cidr"], "10.0.0.0/16");
    assert_eq!(vpc["tags"]["oss:address"], "network.aws-elb", "{made}");
    let lineage = p.state("elb")["lineage"].as_str().unwrap().to_string();
    assert_eq!(vpc["tags"]["oss:lineage"], lineage.as_str(), "{made}");
    let subnets = made["subnets"].as_array().unwrap();
    assert_eq!(subnets.len(), 2, "{made}");
    assert_ne!(subnets[0]["zone"], subnets[1]["zone"], "two zones: {made}");
    assert!(subnets.iter().all(|s| s["vpc"] == vpc["id"]), "{made}");
    let gateways = made["gateways"].as_array().unwrap();
    assert_eq!(gateways.len(), 1, "{made}");
    assert_eq!(
        gateways[0]["vpcs"],
        serde_json::json!([vpc["id"]]),
        "{made}"
    );
    assert_eq!(
        made["routes"],
        serde_json::json!([gateways[0]["id"]]),
        "{made}"
    );
    assert_eq!(
        made["lbs"],
        serde_json::json!([vpc["id"]]),
        "the balancer is in it"
    );
    // State records the network, the balancer after it.
    let state = p.state("elb");
    let network = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "network.aws-elb")
        .unwrap_or_else(|| panic!("{state}"))
        .clone();
    assert_eq!(network["provider_id"], vpc["id"]);
    assert_eq!(network["observed"]["owned"], true);
    let (code, out, err) = oss(&p, &["plan"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("No changes."), "{out}");

    ok(&p, &["destroy", "--auto-approve"]);
    let gone = networks(&moto, credentials);
    assert_eq!(gone["vpcs"], serde_json::json!([]), "{gone}");
    assert_eq!(gone["subnets"], serde_json::json!([]), "{gone}");
    assert_eq!(gone["gateways"], serde_json::json!([]), "{gone}");
    assert_eq!(gone["lbs"], serde_json::json!([]), "{gone}");
}

#[test]
fn a_check_elbv2_cannot_do_is_a_located_problem() {
    let mut strategy = fleet("http://127.0.0.1:9", 1);
    strategy["lb"]["web"]["health"]["interval"] = "4s".into();
    let p = common::Project::with_strategy(&strategy);
    let (code, out, err) = oss(&p, &["validate"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("/lb/web/health/interval") && err.contains("5 to 300"),
        "{err}"
    );
}
