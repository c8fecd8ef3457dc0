//! Node groups, references, variables and outputs, end to end through the binary: the
//! web-and-db example on real local nodes, plans that read values known only after apply,
//! and every reference problem located in the strategy file.

mod common;

use common::{Project, http_get};
use serde_json::{Value, json};

fn web_and_db() -> Value {
    serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/web-and-db.json"
        ))
        .unwrap(),
    )
    .unwrap()
}

fn plan_json(p: &Project, args: &[&str]) -> Value {
    let mut all = vec!["plan", "--json"];
    all.extend_from_slice(args);
    serde_json::from_str(p.ok(&all).lines().last().unwrap()).unwrap()
}

fn change<'a>(plan: &'a Value, address: &str) -> &'a Value {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == address)
        .unwrap_or_else(|| panic!("{address} not in {plan}"))
}

#[test]
fn every_web_node_answers_with_the_db_address_it_read_through_env() {
    let p = Project::with_strategy(&web_and_db());
    // Before apply the db's address is not known: the web nodes' env says so in every format.
    let plan = plan_json(&p, &[]);
    let web = change(&plan, "node.web[0]");
    assert_eq!(web["after_unknown"], json!({"env": true}), "{web}");
    assert!(web["after"].get("env").is_none(), "{web}");
    assert_eq!(web["after"]["tags"]["db"], "db-0", "known at plan: {web}");
    let text = p.ok(&["plan"]);
    assert!(text.contains("env      = (known after apply)"), "{text}");
    let markdown = p.ok(&["plan", "--markdown"]);
    assert!(markdown.contains("(known after apply)"), "{markdown}");

    let applied = p.ok(&["apply", "--auto-approve"]);
    assert!(applied.contains("Outputs:"), "{applied}");
    let state = p.state("web-and-db");
    let resources = state["resources"].as_array().unwrap();
    let db = resources
        .iter()
        .find(|r| r["address"] == "node.db[0]")
        .unwrap();
    let db_addr = db["observed"]["addr"].as_str().unwrap().to_string();
    let webs: Vec<&Value> = resources
        .iter()
        .filter(|r| r["address"].as_str().unwrap().starts_with("node.web["))
        .collect();
    assert_eq!(webs.len(), 3);
    for web in &webs {
        let url = web["observed"]["url"].as_str().unwrap();
        let body = http_get(url);
        let name = web["attributes"]["name"].as_str().unwrap();
        assert_eq!(body, format!("{name} db={db_addr}:5432\n"), "{url}");
        // What the node was created with is recorded with the values filled in.
        assert_eq!(web["attributes"]["env"]["DB_ADDR"], db_addr.as_str());
    }
    // Outputs over the state.
    assert_eq!(p.ok(&["output", "db_address", "--raw"]), db_addr);
    let all: Value = serde_json::from_str(&p.ok(&["output", "--json"])).unwrap();
    assert_eq!(all["web_count"]["value"], 3);
    assert_eq!(all["web_addresses"]["value"].as_array().unwrap().len(), 3);
    assert_eq!(all["db_address"]["description"], "Where the db listens.");
    let (code, _, err) = p.run(&["output", "db_adress"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("did you mean db_address?"), "{err}");
    let (code, _, err) = p.run(&["output", "web_addresses", "--raw"]);
    assert_eq!(code, 1, "{err}");

    // Nothing changes on a second plan: the values read are the values recorded.
    let again = p.ok(&["plan"]);
    assert!(again.contains("No changes."), "{again}");

    // Replacing the db makes its readers' env unknown again: they are replaced, and say why.
    let plan = plan_json(&p, &["--replace", "node.db[0]"]);
    let web = change(&plan, "node.web[1]");
    assert_eq!(web["action"], "replace", "{web}");
    let reason = web["reason"].as_str().unwrap();
    assert!(
        reason.contains("node.db[0].private_address (node.db[0] will be replaced)"),
        "{reason}"
    );

    // A variable from the command line, then from the environment.
    let plan = plan_json(&p, &["--var", "web_count=2"]);
    assert_eq!(change(&plan, "node.web[2]")["action"], "delete");
    p.set_env("OSS_VAR_web_count", "4");
    let plan = plan_json(&p, &[]);
    assert_eq!(change(&plan, "node.web[3]")["action"], "create");
    let (code, _, err) = p.run(&["plan", "--var", "web_count=many"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("at /variables/web_count: Variable web_count is of type integer, but the value from --var is \"many\""),
        "{err}"
    );

    p.ok(&["destroy", "--auto-approve"]);
    assert!(p.node_processes().is_empty());
}

/// A two-group local strategy whose web group's env is `env`.
fn two_groups(env: Value) -> Value {
    json!({
        "name": "refs",
        "provider": {"options": [{"local": {}}]},
        "nodes": {
            "db": {"image": {"options": [{"name": "host"}]},
                   "hardware": {"options": [{"name": "small"}]},
                   "location": {"options": [{"id": "local-a"}]},
                   "command": "exec sleep infinity"},
            "web": {"count": 2,
                    "image": {"options": [{"name": "host"}]},
                    "hardware": {"options": [{"name": "small"}]},
                    "location": {"options": [{"id": "local-a"}]},
                    "command": "exec sleep infinity",
                    "env": env}
        }
    })
}

fn refused(strategy: &Value) -> String {
    let p = Project::with_strategy(strategy);
    let (code, out, err) = p.run(&["plan"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(!p.path("state").join("refs.state.json").exists());
    err
}

#[test]
fn reference_problems_are_located_and_change_nothing() {
    let cases = [
        (
            json!({"A": "${node.dbx[0].address}"}),
            "at /nodes/web/env/A: There is no node group \"dbx\" to refer to.",
            "did you mean node.db?",
        ),
        (
            json!({"A": "${node.db[0].adress}"}),
            "refers to \"adress\", which nodes do not have.",
            "did you mean address?",
        ),
        (
            json!({"A": "${node.db[1].address}"}),
            "node.db[1] does not exist: node.db has 1 node(s).",
            "the only one is node.db[0]",
        ),
        (
            json!({"A": "${node.db[*].address}"}),
            "${node.db[*].address} is a list, but one value is needed here.",
            "refer to one node",
        ),
        (
            json!({"A": "${node.db[0]"}),
            "is not closed",
            "write $${ for a literal ${",
        ),
        // Balancer references are oss's own (a DNS alias's target), not the strategy's.
        (
            json!({"A": "${lb.web.address}"}),
            "at /nodes/web/env/A: ${lb.web.address} refers to a load balancer; a strategy's strings may refer only to nodes.",
            "refer to a node",
        ),
    ];
    for (env, message, hint) in cases {
        let err = refused(&two_groups(env.clone()));
        assert!(err.contains(message), "{env}: {err}");
        assert!(err.contains(hint), "{env}: {err}");
        assert!(err.contains("strategy.json:"), "located: {err}");
    }
}

#[test]
fn a_cycle_names_every_member() {
    let mut strategy = two_groups(json!({"A": "${node.db[0].address}"}));
    strategy["nodes"]["db"]["env"] = json!({"B": "${node.web[1].name}"});
    let err = refused(&strategy);
    assert!(err.contains("form a cycle"), "{err}");
    for member in ["node.db[0]", "node.web[1]"] {
        assert!(err.contains(member), "{member}: {err}");
    }
    assert!(!err.contains("node.web[0]"), "not a member: {err}");
    // depends_on closes circles too.
    let mut strategy = two_groups(json!({"A": "${node.db[0].address}"}));
    strategy["nodes"]["db"]["depends_on"] = json!(["node.web"]);
    let err = refused(&strategy);
    assert!(err.contains("form a cycle"), "{err}");
}

#[test]
fn depends_on_and_references_are_edges_of_the_graph() {
    let mut strategy = two_groups(json!({"A": "${node.db[0].address}"}));
    strategy["nodes"]["extra"] = strategy["nodes"]["db"].clone();
    strategy["nodes"]["extra"]["depends_on"] = json!(["node.web[1]"]);
    let p = Project::with_strategy(&strategy);
    let dot = p.ok(&["graph"]);
    for edge in [
        "\"node.db[0]\" -> \"node.web[0]\"",
        "\"node.db[0]\" -> \"node.web[1]\"",
        "\"node.web[1]\" -> \"node.extra[0]\"",
    ] {
        assert!(dot.contains(edge), "{edge}: {dot}");
    }
    assert!(
        !dot.contains("\"node.web[0]\" -> \"node.extra[0]\""),
        "{dot}"
    );
    let mut bad = strategy.clone();
    bad["nodes"]["extra"]["depends_on"] = json!(["node.web[5]"]);
    let err = refused(&bad);
    assert!(
        err.contains("at /nodes/extra/depends_on/0: node.web[5] does not exist"),
        "{err}"
    );
}

#[test]
fn groups_keep_to_their_providers() {
    let mut strategy = common::sim_example("cheapest-across-providers.json");
    let mut node = strategy.as_object_mut().unwrap().remove("node").unwrap();
    // Every option must match somewhere among a group's own providers: all have oceania.
    node["location"] = json!({"options": [{"continent": "oceania"}]});
    let names: Vec<String> = strategy["provider"]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["sim"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.len() >= 2, "{names:?}");
    let mut only_first = node.clone();
    only_first["providers"] = json!([names[0]]);
    only_first.as_object_mut().unwrap().remove("name");
    let mut only_last = node.clone();
    only_last["providers"] = json!([names[names.len() - 1]]);
    only_last.as_object_mut().unwrap().remove("name");
    strategy["nodes"] = json!({"a": only_first, "b": only_last});
    let p = Project::with_strategy(&strategy);
    let plan = plan_json(&p, &[]);
    for c in plan["changes"].as_array().unwrap() {
        let address = c["address"].as_str().unwrap();
        let provider = c["after"]["provider"].as_str().unwrap();
        let allowed = if address.starts_with("node.a[") {
            &names[0]
        } else {
            &names[names.len() - 1]
        };
        assert_eq!(provider, allowed, "{address}");
        for candidate in c["candidates"].as_array().unwrap() {
            assert_eq!(candidate["provider"], allowed.as_str(), "{address}");
        }
    }
    // A provider the strategy does not have is refused at the name.
    strategy["nodes"]["a"]["providers"] = json!(["nope"]);
    let p = Project::with_strategy(&strategy);
    let (code, _, err) = p.run(&["plan"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("at /nodes/a/providers/0: The strategy has no provider named \"nope\"."),
        "{err}"
    );
}
