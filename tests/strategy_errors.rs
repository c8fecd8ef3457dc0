//! Malformed strategies get located errors (file:line:col, JSON pointer, expectation, hint),
//! exit code 1, and change nothing. Each case is a snapshot of what the user sees.

mod common;

use common::Project;

/// The sample strategy's text with `from` replaced by `to` (must occur).
fn sample_with(from: &str, to: &str) -> String {
    let sample = include_str!("../strategy.sample.json");
    assert!(sample.contains(from), "sample has no {from:?}");
    sample.replacen(from, to, 1)
}

fn check(name: &str, text: &str) {
    let p = Project::sample(1);
    std::fs::write(p.path("strategy.json"), text).unwrap();
    let (code, out, err) = p.run(&["apply", "--auto-approve", "-s", "strategy.json"]);
    assert_eq!(code, 1, "{name}: expected failure\n{out}\n{err}");
    assert!(out.is_empty(), "{name}: printed a plan: {out}");
    assert!(
        !p.path("state").exists(),
        "{name}: touched the state directory"
    );
    insta::assert_snapshot!(name, err);
}

#[test]
fn bad_json() {
    check(
        "bad_json",
        &sample_with("\"version\": \"0.1.0\",", "\"version\": \"0.1.0\""),
    );
}

#[test]
fn truncated_file() {
    let sample = include_str!("../strategy.sample.json");
    check("truncated_file", &sample[..sample.len() / 3]);
}

#[test]
fn wrong_type() {
    check(
        "wrong_type",
        &sample_with("\"count\": 3", "\"count\": \"three\""),
    );
}

#[test]
fn unknown_pick() {
    check(
        "unknown_pick",
        &sample_with("\"pick\": \"first\"\n  },", "\"pick\": \"fastest\"\n  },"),
    );
}

#[test]
fn missing_env_var() {
    check(
        "missing_env_var",
        &sample_with(
            "{\"ready_timeout\": 30}",
            "{\"ready_timeout\": 30, \"runtime_dir\": \"env.OSS_TEST_SURELY_UNSET\"}",
        ),
    );
}

#[test]
fn env_reference_outside_provider_settings() {
    check(
        "env_outside_provider",
        &sample_with(
            "\"tags\": {\"app\": \"hello\"}",
            "\"tags\": {\"app\": \"env.HOME\"}",
        ),
    );
}

#[test]
fn unknown_provider() {
    check(
        "unknown_provider",
        &sample_with(
            "{\"local\": {\"ready_timeout\": 30}}",
            "{\"local\": {}}, {\"gcp\": {\"project\": \"x\"}}",
        ),
    );
}

#[test]
fn unknown_top_level_property() {
    check(
        "unknown_top_level_property",
        &sample_with("\"default_pick\"", "\"nodes\": 3,\n  \"default_pick\""),
    );
}

#[test]
fn misspelt_node_property() {
    check(
        "misspelt_node_property",
        &sample_with("\"command\":", "\"commnd\":"),
    );
}

#[test]
fn missing_location() {
    check(
        "missing_location",
        &sample_with(
            "\"location\": {\"options\": [{\"id\": \"local-a\"}, {\"id\": \"local-b\"}], \"pick\": \"first\"},",
            "",
        ),
    );
}

#[test]
fn option_matching_nothing() {
    check(
        "option_matching_nothing",
        &sample_with("{\"id\": \"local-b\"}", "{\"id\": \"mars-1\"}"),
    );
}

#[test]
fn negative_count() {
    check(
        "negative_count",
        &sample_with("\"count\": 3", "\"count\": -2"),
    );
}

#[test]
fn no_provider_options() {
    check(
        "no_provider_options",
        &sample_with("{\"local\": {\"ready_timeout\": 30}}", ""),
    );
}

#[test]
fn bad_name() {
    check(
        "bad_name",
        &sample_with("\"name\": \"hello\"", "\"name\": \"my fleet!\""),
    );
}

#[test]
fn port_out_of_range() {
    check(
        "port_out_of_range",
        &sample_with("\"ports\": [8080]", "\"ports\": [70000]"),
    );
}

#[test]
fn several_problems_are_all_listed_in_file_order() {
    let text = sample_with("\"count\": 3", "\"count\": 2.5").replacen(
        "\"pick\": \"first\"",
        "\"pick\": \"best\"",
        1,
    );
    check("several_problems", &text);
}

#[test]
fn missing_strategy_file() {
    let p = Project::sample(1);
    let (code, _, err) = p.run(&["plan", "-s", "nope.json"]);
    assert_eq!(code, 1);
    insta::assert_snapshot!("missing_strategy_file", err);
}

#[test]
fn print_schema_is_the_shipped_schema() {
    let p = Project::sample(1);
    let out = p.ok(&["validate", "--print-schema"]);
    let schema: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(schema["title"], "oss strategy");
    assert_eq!(
        schema["properties"]["provider"]["properties"]["options"]["items"]["propertyNames"]["enum"],
        serde_json::json!(["local", "sim", "aws"])
    );
    let valid = p.ok(&["validate"]);
    assert!(valid.contains("is valid: 1 resource(s)"), "{valid}");
}

#[test]
fn setting_the_provider_refuses() {
    check(
        "refused_provider_setting",
        &sample_with(
            "{\"ready_timeout\": 30}",
            "{\"ready_timeout\": 30, \"colour\": \"blue\"}",
        ),
    );
}
