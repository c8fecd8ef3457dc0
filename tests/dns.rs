//! DNS records on a real BIND 9: a local fleet's names published by TSIG-signed RFC 2136
//! updates and checked with `dig`: per-node A records, the round-robin name, SRV records and
//! the ownership TXT; updates in place on scale, replace and TTL changes; names held by
//! others refused; a wrong key or an unserved zone stopping the plan before anything runs.

mod common;

use common::Project;
use common::bind::{Bind, KEY_NAME, LOCKED_ZONE, ZONE};
use serde_json::{Value, json};

fn strategy(bind: &Bind, count: usize) -> Value {
    let mut s: Value = serde_json::from_str(include_str!("../strategy.sample.json")).unwrap();
    s["node"]["count"] = count.into();
    s["dns"] = json!({
        "zone": ZONE,
        "ttl": 30,
        "services": {"http": {"group": "web"}},
        "provider": {"rfc2136": {
            "server": bind.server(),
            "key_name": KEY_NAME,
            "key_secret": "env.OSS_TEST_TSIG_SECRET"
        }}
    });
    s["file_sd"] = json!("prometheus/targets.json");
    s
}

fn project(bind: &Bind, count: usize) -> Project {
    let p = Project::with_strategy(&strategy(bind, count));
    p.set_env("OSS_TEST_TSIG_SECRET", &bind.secret);
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

fn sorted(mut list: Vec<String>) -> Vec<String> {
    list.sort();
    list
}

#[test]
fn records_follow_the_fleet_and_change_in_place() {
    let bind = Bind::start();
    let p = project(&bind, 2);
    let plan = p.ok(&["plan"]);
    for address in ["dns.web[0]", "dns.web[1]", "dns.web", "dns._http._tcp"] {
        assert!(plan.contains(address), "the plan shows {address}:\n{plan}");
    }
    p.ok(&["apply", "--auto-approve"]);
    let ips = addresses(&p);
    assert_eq!(ips.len(), 2);
    for (i, ip) in ips.iter().enumerate() {
        assert_eq!(bind.dig(&format!("web-{i}.{ZONE}"), "A"), vec![ip.clone()]);
        let txt = bind.dig(&format!("web-{i}.{ZONE}"), "TXT");
        assert_eq!(txt.len(), 1, "{txt:?}");
        assert!(txt[0].contains("heritage=oss") && txt[0].contains(&format!("dns.web[{i}]")));
    }
    assert_eq!(bind.dig(&format!("web.{ZONE}"), "A"), sorted(ips.clone()));
    assert_eq!(
        bind.dig(&format!("_http._tcp.{ZONE}"), "SRV"),
        [
            format!("0 0 8080 web-0.{ZONE}."),
            format!("0 0 8080 web-1.{ZONE}.")
        ]
    );
    assert_eq!(bind.ttl(&format!("web.{ZONE}"), "A"), Some(30));

    // Discovery: the endpoints, probed, with their names; and Prometheus's targets file.
    let found: Value = serde_json::from_str(&p.ok(&["discover", "web", "--json"])).unwrap();
    assert_eq!(found["dns_name"], format!("web.{ZONE}."));
    assert_eq!(found["srv"], json!([format!("_http._tcp.{ZONE}.")]));
    let endpoints = found["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 2);
    for (i, e) in endpoints.iter().enumerate() {
        assert_eq!(e["host"], ips[i].as_str());
        assert_eq!(e["live"], true, "{e}");
        assert_eq!(e["dns_name"], format!("web-{i}.{ZONE}."));
    }
    let text = p.ok(&["discover", "web"]);
    assert!(
        text.contains(&format!("web-1\t{}:8080\tup\tweb-1.{ZONE}.", ips[1])),
        "{text}"
    );
    let (code, _, err) = p.run(&["discover", "wbe"]);
    assert_ne!(code, 0);
    assert!(err.contains("no node group wbe"), "{err}");
    let targets: Value =
        serde_json::from_slice(&std::fs::read(p.path("prometheus/targets.json")).unwrap()).unwrap();
    assert_eq!(
        targets,
        json!([
            {"targets": [format!("{}:8080", ips[0])], "labels": {"oss_strategy": "hello", "oss_group": "web", "oss_node": "web-0"}},
            {"targets": [format!("{}:8080", ips[1])], "labels": {"oss_strategy": "hello", "oss_group": "web", "oss_node": "web-1"}},
        ])
    );
    // Nothing changed: nothing to do.
    let again = p.ok(&["plan"]);
    assert!(again.contains("No changes"), "{again}");

    // Scale up: the new node's name is created, the shared names updated in place.
    p.write_strategy(&strategy(&bind, 3));
    let plan = p.ok(&["plan"]);
    assert!(plan.contains("dns.web[2]"), "{plan}");
    assert!(!plan.contains("dns.web must be replaced"), "{plan}");
    p.ok(&["apply", "--auto-approve"]);
    let ips = addresses(&p);
    assert_eq!(ips.len(), 3);
    assert_eq!(bind.dig(&format!("web.{ZONE}"), "A"), sorted(ips.clone()));
    assert_eq!(bind.dig(&format!("_http._tcp.{ZONE}"), "SRV").len(), 3);

    // A record state lost (as after a crash between writing it and saving) still carries
    // this state's ownership TXT: the next apply takes it back instead of refusing it.
    p.ok(&["state", "rm", "dns.web[2]"]);
    let plan = p.ok(&["plan"]);
    assert!(plan.contains("dns.web[2] will be created"), "{plan}");
    p.ok(&["apply", "--auto-approve"]);
    assert_eq!(
        bind.dig(&format!("web-2.{ZONE}"), "A"),
        vec![ips[2].clone()]
    );
    assert!(p.ok(&["plan"]).contains("No changes"));

    // A replaced node: its name now points at the new address, updated in place.
    let json = p.ok(&["plan", "--replace", "node.web[0]", "--json"]);
    let plan: Value = serde_json::from_str(&json).unwrap();
    let action = |address: &str| {
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["address"] == address)
            .map(|c| c["action"].as_str().unwrap().to_string())
    };
    assert_eq!(action("node.web[0]").as_deref(), Some("replace"));
    assert_eq!(action("dns.web[0]").as_deref(), Some("update"));
    assert_eq!(action("dns.web").as_deref(), Some("update"));
    p.ok(&["apply", "--auto-approve", "--replace", "node.web[0]"]);
    let now = addresses(&p);
    assert_eq!(
        bind.dig(&format!("web-0.{ZONE}"), "A"),
        vec![now[0].clone()]
    );
    assert_eq!(bind.dig(&format!("web.{ZONE}"), "A"), sorted(now.clone()));

    // A new TTL changes every record in place.
    let mut s = strategy(&bind, 3);
    s["dns"]["ttl"] = json!(120);
    p.write_strategy(&s);
    let json = p.ok(&["plan", "--json"]);
    let plan: Value = serde_json::from_str(&json).unwrap();
    let records: Vec<&Value> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["address"].as_str().unwrap().starts_with("dns."))
        .collect();
    assert_eq!(records.len(), 5);
    assert!(
        records.iter().all(|c| c["action"] == "update"),
        "{records:?}"
    );
    p.ok(&["apply", "--auto-approve"]);
    assert_eq!(bind.ttl(&format!("web-1.{ZONE}"), "A"), Some(120));
    assert_eq!(bind.ttl(&format!("_http._tcp.{ZONE}"), "SRV"), Some(120));

    let targets: Value =
        serde_json::from_slice(&std::fs::read(p.path("prometheus/targets.json")).unwrap()).unwrap();
    assert_eq!(
        targets.as_array().unwrap().len(),
        3,
        "the targets follow each apply"
    );

    // Destroy takes every name away, ownership records too.
    p.ok(&["destroy", "--auto-approve"]);
    let targets: Value =
        serde_json::from_slice(&std::fs::read(p.path("prometheus/targets.json")).unwrap()).unwrap();
    assert_eq!(targets, json!([]));
    for name in ["web-0", "web-1", "web", "_http._tcp"] {
        for rtype in ["A", "TXT", "SRV"] {
            assert!(
                bind.dig(&format!("{name}.{ZONE}"), rtype).is_empty(),
                "{name} {rtype}"
            );
        }
    }
}

#[test]
fn a_name_held_by_a_record_oss_does_not_own_is_refused_and_left_alone() {
    let bind = Bind::start();
    bind.nsupdate(&format!("update add web-1.{ZONE}. 300 A 10.9.9.9"));
    let p = project(&bind, 2);
    let (code, _out, err) = p.run(&["apply", "--auto-approve"]);
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains(&format!("web-1.{ZONE}. is already taken"))
            && err.contains("A record (10.9.9.9)"),
        "{err}"
    );
    // Refused at plan time: nothing else was touched.
    assert!(p.node_processes().is_empty(), "no node was started");
    assert!(bind.dig(&format!("web-0.{ZONE}"), "A").is_empty());
    assert_eq!(bind.dig(&format!("web-1.{ZONE}"), "A"), ["10.9.9.9"]);
    assert!(bind.dig(&format!("web-1.{ZONE}"), "TXT").is_empty());

    // Another state's name is not ours either.
    bind.nsupdate(&format!(
        "update delete web-1.{ZONE}. A\nupdate add web.{ZONE}. 300 TXT \"heritage=oss,oss/lineage=someone-else,oss/address=dns.web\""
    ));
    let (code, _, err) = p.run(&["plan"]);
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!("web.{ZONE}. is already taken")) && err.contains("another oss state"),
        "{err}"
    );

    // Taken between the plan and the apply: the server-side guard refuses that name alone
    // (its batch is sent again one edit at a time), and the record is left as it was.
    bind.nsupdate(&format!("update delete web.{ZONE}. TXT"));
    p.ok(&["plan", "--out", "saved.plan"]);
    bind.nsupdate(&format!("update add web-1.{ZONE}. 300 A 10.8.8.8"));
    let (code, _, err) = p.run(&["apply", "saved.plan", "--auto-approve"]);
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains(&format!("web-1.{ZONE}. is already taken")) && err.contains("10.8.8.8"),
        "{err}"
    );
    assert_eq!(bind.dig(&format!("web-1.{ZONE}"), "A"), ["10.8.8.8"]);
    assert!(bind.dig(&format!("web-1.{ZONE}"), "TXT").is_empty());
    assert_eq!(bind.dig(&format!("web-0.{ZONE}"), "A").len(), 1);

    // Once the name is free the apply goes through.
    bind.nsupdate(&format!("update delete web-1.{ZONE}. A"));
    p.ok(&["apply", "--auto-approve"]);
    assert_eq!(bind.dig(&format!("web-1.{ZONE}"), "A").len(), 1);
    assert_eq!(bind.dig(&format!("web.{ZONE}"), "A").len(), 2);
}

#[test]
fn a_wrong_key_or_a_zone_the_server_does_not_serve_stops_the_plan() {
    let bind = Bind::start();
    let p = project(&bind, 1);
    p.set_env(
        "OSS_TEST_TSIG_SECRET",
        "c2VjcmV0IHRoYXQgaXMgbm90IHRoZSBrZXk=",
    );
    let (code, _, err) = p.run(&["apply", "--auto-approve"]);
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!("refused TSIG key `{KEY_NAME}`")),
        "{err}"
    );
    assert!(
        !err.contains("c2VjcmV0"),
        "the secret is never shown: {err}"
    );
    assert!(p.node_processes().is_empty(), "no node was started");

    let mut s = strategy(&bind, 1);
    s["dns"]["zone"] = json!("elsewhere.test");
    p.write_strategy(&s);
    p.set_env("OSS_TEST_TSIG_SECRET", &bind.secret);
    let (code, _, err) = p.run(&["plan"]);
    assert_ne!(code, 0);
    assert!(err.contains("does not serve zone elsewhere.test."), "{err}");

    // Served, but the key may not change it: the update is refused, named.
    let mut s = strategy(&bind, 1);
    s["dns"]["zone"] = json!(LOCKED_ZONE);
    p.write_strategy(&s);
    let (code, _, err) = p.run(&["apply", "--auto-approve"]);
    assert_ne!(code, 0);
    assert!(err.contains("REFUSED"), "{err}");
    assert!(bind.dig(&format!("web-0.{LOCKED_ZONE}"), "A").is_empty());
    assert!(p.node_processes().is_empty(), "no node was started");
}

#[test]
fn many_records_go_out_in_few_update_messages() {
    let bind = Bind::start();
    let count = 60;
    let catalog = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sim/cloud-b.json");
    let s = json!({
        "name": "fleet",
        "default_pick": "cheapest",
        "provider": {"options": [{"sim": {"name": "cloud-b", "catalog": catalog, "latency_ms": 0}}]},
        "nodes": {"app": {
            "count": count,
            "image": {"options": [{"os": "ubuntu"}]},
            "hardware": {"options": [{"min_vcpus": 2}]},
            "location": {"options": [{"country": "AU"}]}
        }},
        "dns": {"zone": ZONE, "provider": {"rfc2136": {
            "server": bind.server(),
            "key_name": KEY_NAME,
            "key_secret": "env.OSS_TEST_TSIG_SECRET"
        }}}
    });
    let p = Project::with_strategy(&s);
    p.set_env("OSS_TEST_TSIG_SECRET", &bind.secret);
    let before = bind.updates();
    p.ok(&["apply", "--auto-approve", "--parallelism", "200"]);
    let sent = bind.updates() - before;
    assert_eq!(bind.dig(&format!("app.{ZONE}"), "A").len(), count);
    for i in 0..count {
        assert_eq!(
            bind.dig(&format!("app-{i}.{ZONE}"), "A").len(),
            1,
            "app-{i}"
        );
    }
    // 61 records: one UPDATE each without batching.
    eprintln!("{sent} UPDATE messages for {} records", count + 1);
    assert!(
        (1..=30).contains(&sent),
        "{sent} UPDATE messages for {} records",
        count + 1
    );
}

/// Every regular file under `dir` that holds `needle`.
fn files_holding(dir: &std::path::Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path)
            && String::from_utf8_lossy(&bytes).contains(needle)
        {
            found.push(path.display().to_string());
        }
    }
    found
}

#[test]
fn the_tsig_secret_appears_in_no_output_and_no_file() {
    let bind = Bind::start();
    let p = project(&bind, 1);
    let mut outputs = Vec::new();
    for args in [
        &["plan", "--out", "saved.plan"][..],
        &["apply", "saved.plan", "--auto-approve"],
        &["plan", "--json"],
        &["plan", "--markdown"],
        &["show", "--json"],
        &["state", "list"],
        &["state", "show", "dns.web[0]"],
        &["discover", "web", "--json"],
        &["graph"],
    ] {
        let (code, out, err) = p.run(args);
        assert_eq!(code, 0, "oss {args:?}: {err}");
        outputs.push(format!("{out}{err}"));
    }
    // Failing runs too: a wrong secret, and a zone the server does not serve.
    p.set_env("OSS_TEST_TSIG_SECRET", "d3Jvbmcgc2VjcmV0IGZvciB0aGUga2V5");
    let (code, out, err) = p.run(&["plan"]);
    assert_ne!(code, 0);
    outputs.push(format!("{out}{err}"));
    p.set_env("OSS_TEST_TSIG_SECRET", &bind.secret);
    let state = p.state("hello");
    assert_eq!(
        state["providers"]["rfc2136"]["settings"]["key_secret"], "env.OSS_TEST_TSIG_SECRET",
        "state records the reference, not the value"
    );
    for text in &outputs {
        assert!(!text.contains(&bind.secret), "the secret leaked:\n{text}");
    }
    // The scanner finds a planted copy, so it is not scanning nothing.
    std::fs::write(p.path("state/planted"), &bind.secret).unwrap();
    assert_eq!(files_holding(p.dir.path(), &bind.secret).len(), 1);
    std::fs::remove_file(p.path("state/planted")).unwrap();
    assert!(files_holding(p.dir.path(), &bind.secret).is_empty());
    p.ok(&["destroy", "--auto-approve"]);
}

#[test]
fn dns_block_problems_are_located_and_change_nothing() {
    let p = Project::with_strategy(&json!({}));
    p.set_env("X", "c2VjcmV0");
    let check = |dns: Value, pointer: &str, says: &str| {
        let mut s: Value = serde_json::from_str(include_str!("../strategy.sample.json")).unwrap();
        s["dns"] = dns;
        p.write_strategy(&s);
        let (code, _, err) = p.run(&["validate"]);
        assert_ne!(code, 0, "{pointer}");
        assert!(
            err.contains(&format!("at {pointer}:")) && err.contains(says),
            "{pointer}: {says}:\n{err}"
        );
        assert!(err.contains("strategy.json:"), "located at a line: {err}");
    };
    let provider =
        json!({"rfc2136": {"server": "127.0.0.1:53", "key_name": "k", "key_secret": "env.X"}});
    check(
        json!({"zone": "oss.test", "groups": ["wbe"], "provider": provider}),
        "/dns/groups/0",
        "did you mean \"web\"",
    );
    check(
        json!({"zone": "oss.test", "services": {"http": {"group": "web", "port": 9999}}, "provider": provider}),
        "/dns/services/http/port",
        "Port 9999 is not one of group \"web\"'s ports",
    );
    check(
        json!({"zone": "oss.test", "provider": {"rfc2136": {"server": "dns.example:53", "key_name": "k", "key_secret": "env.X"}}}),
        "/dns/provider/rfc2136/server",
        "IP address and port",
    );
    check(
        json!({"zone": "oss.test", "provider": {"route54": {}}}),
        "/dns/provider/route54",
        "allowed here: rfc2136",
    );
    check(
        json!({"zone": "oss.test", "provider": {"rfc2136": {"server": "127.0.0.1:53", "key_name": "k", "key_secret": "c2VjcmV0", "key_algorithm": "hmac-md5"}}}),
        "/dns/provider/rfc2136/key_algorithm",
        "hmac-sha256",
    );
    assert!(!p.path("state").exists(), "nothing was written");
}

#[test]
fn records_of_a_dns_block_that_left_the_strategy_are_removed() {
    let bind = Bind::start();
    let p = project(&bind, 1);
    p.ok(&["apply", "--auto-approve"]);
    assert_eq!(bind.dig(&format!("web-0.{ZONE}"), "A").len(), 1);
    let mut s = strategy(&bind, 1);
    s.as_object_mut().unwrap().remove("dns");
    p.write_strategy(&s);
    // The provider is rebuilt from what state recorded (its zone, the secret's env. name).
    let plan = p.ok(&["plan"]);
    assert!(
        plan.contains("provider rfc2136 is no longer in the strategy"),
        "{plan}"
    );
    p.ok(&["apply", "--auto-approve"]);
    for name in ["web-0", "web"] {
        assert!(
            bind.dig(&format!("{name}.{ZONE}"), "A").is_empty(),
            "{name}"
        );
        assert!(
            bind.dig(&format!("{name}.{ZONE}"), "TXT").is_empty(),
            "{name}"
        );
    }
    assert_eq!(p.node_processes().len(), 1, "the node stays");
    p.ok(&["destroy", "--auto-approve"]);
}

#[test]
fn a_name_over_the_servers_record_limit_fails_fast_and_alone() {
    // BIND 9.18 allows 100 records per name and type: a round-robin name over 101 nodes breaks
    // that rule. The UPDATE fails at once (no endless retry), named, and every other name is
    // published.
    let bind = Bind::start();
    let count = 101;
    let catalog = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sim/cloud-b.json");
    let s = json!({
        "name": "fleet",
        "default_pick": "cheapest",
        "provider": {"options": [{"sim": {"name": "cloud-b", "catalog": catalog, "latency_ms": 0}}]},
        "nodes": {"app": {
            "count": count,
            "image": {"options": [{"os": "ubuntu"}]},
            "hardware": {"options": [{"min_vcpus": 2}]},
            "location": {"options": [{"country": "AU"}]}
        }},
        "dns": {"zone": ZONE, "provider": {"rfc2136": {
            "server": bind.server(),
            "key_name": KEY_NAME,
            "key_secret": "env.OSS_TEST_TSIG_SECRET"
        }}}
    });
    let p = Project::with_strategy(&s);
    p.set_env("OSS_TEST_TSIG_SECRET", &bind.secret);
    let started = std::time::Instant::now();
    let (code, _, err) = p.run(&["apply", "--auto-approve", "--parallelism", "200"]);
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains(&format!("app.{ZONE}.")) && err.contains("max-records-per-type"),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "failed fast"
    );
    assert!(bind.dig(&format!("app.{ZONE}"), "A").is_empty());
    for i in 0..count {
        assert_eq!(
            bind.dig(&format!("app-{i}.{ZONE}"), "A").len(),
            1,
            "app-{i}"
        );
    }
}
