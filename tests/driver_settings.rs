//! Wrong provider settings are strategy errors located at the setting (file:line:col and JSON
//! pointer such as `/provider/options/0/sim/latency_ms`), found by `oss validate` and `oss plan`
//! on the settings as written, before anything changes. Unknown keys name the closest known
//! one; no message echoes a setting's value. Each case is a snapshot of what the user sees.

mod common;

use common::Project;

/// The sample strategy with its provider options replaced by `options` (one per line).
fn with_providers(options: &[&str]) -> String {
    let sample = include_str!("../strategy.sample.json");
    let from = "      {\"local\": {\"ready_timeout\": 30}}\n";
    assert!(sample.contains(from), "the sample's provider line changed");
    let lines: Vec<String> = options.iter().map(|o| format!("      {o}")).collect();
    sample.replacen(from, &format!("{}\n", lines.join(",\n")), 1)
}

/// `oss plan` refuses `text` with exit 1, prints no plan, leaves no state; `oss validate`
/// says the same. Returns stderr.
fn refused(name: &str, text: &str) -> String {
    let p = Project::sample(1);
    std::fs::write(p.path("strategy.json"), text).unwrap();
    let (code, out, err) = p.run(&["plan", "-s", "strategy.json"]);
    assert_eq!(code, 1, "{name}: expected failure\n{out}\n{err}");
    assert!(out.is_empty(), "{name}: printed a plan: {out}");
    assert!(
        !p.path("state").exists(),
        "{name}: touched the state directory"
    );
    let (code, _, validated) = p.run(&["validate", "-s", "strategy.json"]);
    assert_eq!(code, 1, "{name}: validate passed\n{validated}");
    assert_eq!(validated, err, "{name}: validate and plan disagree");
    err
}

fn check(name: &str, options: &[&str]) {
    let err = refused(name, &with_providers(options));
    insta::assert_snapshot!(name, err);
}

const SIM: &str = r#""catalog": "aws""#;

#[test]
fn local_wrong_type() {
    check(
        "local_wrong_type",
        &[r#"{"local": {"ready_timeout": "soon"}}"#],
    );
}

#[test]
fn local_unknown_key() {
    check("local_unknown_key", &[r#"{"local": {"ready_timeot": 3}}"#]);
}

#[test]
fn local_out_of_range() {
    check("local_out_of_range", &[r#"{"local": {"stop_grace": -1}}"#]);
}

#[test]
fn sim_wrong_type() {
    check(
        "sim_wrong_type",
        &[
            r#"{"local": {}}"#,
            &format!(r#"{{"sim": {{{SIM}, "latency_ms": "fast"}}}}"#),
        ],
    );
}

#[test]
fn sim_unknown_nested_key() {
    check(
        "sim_unknown_nested_key",
        &[&format!(
            r#"{{"sim": {{{SIM}, "errors": {{"throttling": 0.1}}}}}}"#
        )],
    );
}

#[test]
fn sim_out_of_range() {
    check(
        "sim_out_of_range",
        &[&format!(
            r#"{{"sim": {{{SIM}, "errors": {{"timeout": 2}}}}}}"#
        )],
    );
}

#[test]
fn sim_capacity_names_nothing_in_the_catalog() {
    check(
        "sim_capacity_names_nothing_in_the_catalog",
        &[&format!(
            r#"{{"sim": {{{SIM}, "capacity": {{"ap-southeast-2a/t9.huge": 1}}}}}}"#
        )],
    );
}

#[test]
fn sim_missing_catalog() {
    check("sim_missing_catalog", &[r#"{"sim": {"seed": 1}}"#]);
}

#[test]
fn aws_wrong_type() {
    check(
        "aws_wrong_type",
        &[r#"{"aws": {"regions": "ap-southeast-2"}}"#],
    );
}

#[test]
fn aws_unknown_key() {
    check(
        "aws_unknown_key",
        &[r#"{"aws": {"region": ["ap-southeast-2"]}}"#],
    );
}

#[test]
fn aws_out_of_range() {
    check(
        "aws_out_of_range",
        &[r#"{"aws": {"regions": ["ap-southeast-2"], "ready_timeout": 0}}"#],
    );
}

#[test]
fn aws_bad_region_in_a_list() {
    check(
        "aws_bad_region_in_a_list",
        &[r#"{"aws": {"regions": ["ap-southeast-2", "AP SOUTH"]}}"#],
    );
}

/// A value written where another type belongs is never echoed: it may be a credential.
#[test]
fn a_secret_of_the_wrong_type_is_never_echoed() {
    let err = refused(
        "secret",
        &with_providers(&[
            r#"{"aws": {"access_key_id": ["AKIACANARY0123456789"], "secret_access_key": 42}}"#,
        ]),
    );
    assert!(
        err.contains("/provider/options/0/aws/access_key_id"),
        "{err}"
    );
    assert!(!err.contains("AKIACANARY0123456789"), "{err}");
}

/// The check reads the settings as written: an `env.` reference is not judged as a URL, so
/// only the missing variable is reported.
#[test]
fn env_references_are_checked_unresolved() {
    let p = Project::sample(1);
    let text = with_providers(&[r#"{"aws": {"endpoint": "env.OSS_TEST_NO_SUCH_ENDPOINT"}}"#]);
    std::fs::write(p.path("strategy.json"), text).unwrap();
    let (code, _, err) = p.run(&["validate", "-s", "strategy.json"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("OSS_TEST_NO_SUCH_ENDPOINT"), "{err}");
    assert!(!err.contains("http://"), "judged as a URL: {err}");
}
