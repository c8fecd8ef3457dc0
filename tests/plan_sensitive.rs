//! The JSON plan's `sensitive` list is computed: an attribute that holds the value of an
//! `env.` reference is named there, left out of `before`/`after`, and shown as `(sensitive)`
//! by every other format, also from a saved plan read without the environment.

mod common;

use common::Project;
use serde_json::Value;

const TOKEN: &str = "oss-plan-token-5c8e21d7";

/// Two nodes on the simulated clouds, whose API key comes from `env.OSS_PLAN_TOKEN` and
/// whose `deploy` tag holds the same token (pasted there as well).
fn project() -> Project {
    let mut strategy = common::sim_example("cheapest-across-providers.json");
    for option in strategy["provider"]["options"].as_array_mut().unwrap() {
        option["sim"]["api_key"] = "env.OSS_PLAN_TOKEN".into();
    }
    strategy["node"]["count"] = 2.into();
    strategy["node"]["tags"]["deploy"] = format!("key={TOKEN}").into();
    let p = Project::with_strategy(&strategy);
    p.set_env("OSS_PLAN_TOKEN", TOKEN);
    p
}

#[test]
fn a_field_holding_a_secret_is_listed_and_left_out_of_the_json_plan() {
    let p = project();
    let out = p.ok(&["plan", "--json"]);
    assert!(
        !out.contains(TOKEN),
        "the secret is in the JSON plan: {out}"
    );
    let doc: Value = serde_json::from_str(&out).unwrap();
    let changes = doc["changes"].as_array().unwrap();
    let nodes: Vec<&Value> = changes
        .iter()
        .filter(|c| c["address"].as_str().unwrap().starts_with("node."))
        .collect();
    assert_eq!(nodes.len(), 2, "{doc:#}");
    for change in nodes {
        assert_eq!(
            change["sensitive"],
            serde_json::json!(["tags"]),
            "{change:#}"
        );
        assert!(change["after"].get("tags").is_none(), "{change:#}");
        // Everything else is still there.
        assert!(change["after"]["ports"].is_array(), "{change:#}");
        assert!(
            change["changed"]
                .as_array()
                .unwrap()
                .contains(&"tags".into()),
            "{change:#}"
        );
    }
    for change in changes
        .iter()
        .filter(|c| !c["address"].as_str().unwrap().starts_with("node."))
    {
        let sensitive = change["sensitive"].as_array().unwrap();
        let holds = change["after"].to_string().contains(TOKEN);
        assert_eq!(!sensitive.is_empty(), holds, "{change:#}");
    }
}

#[test]
fn every_format_shows_sensitive_and_a_saved_plan_keeps_it_hidden() {
    let p = project();
    for format in [&[][..], &["--markdown"], &["--concise"]] {
        let mut args = vec!["plan"];
        args.extend_from_slice(format);
        let out = p.ok(&args);
        assert!(!out.contains(TOKEN), "oss {args:?} shows the secret: {out}");
        if format.is_empty() {
            assert!(out.contains("(sensitive)"), "{out}");
        }
    }
    p.ok(&["plan", "--out", "plan.bin"]);
    // Read back without the environment (nothing to resolve the secret with).
    let out = p
        .oss()
        .args(["show", "plan.bin", "--json"])
        .env_remove("OSS_PLAN_TOKEN")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert!(
        doc["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["sensitive"] == serde_json::json!(["tags"])),
        "{doc:#}"
    );
    let shown = p.ok(&["show", "plan.bin"]);
    assert!(
        !shown.contains(TOKEN) && shown.contains("(sensitive)"),
        "{shown}"
    );
}
