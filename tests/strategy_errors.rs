//! Malformed strategies get located errors (file:line:col, JSON pointer, expectation, hint),
//! exit code 1, and change nothing. Each case is a snapshot of what the user sees.

mod common;

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Project;

/// The sample strategy's text with `from` replaced by `to` (must occur).
fn sample_with(from: &str, to: &str) -> String {
    let sample = include_str!("../strategy.sample.json");
    assert!(sample.contains(from), "sample has no {from:?}");
    sample.replacen(from, to, 1)
}

fn check(name: &str, text: &str) {
    check_bytes(name, text.as_bytes());
}

fn check_bytes(name: &str, text: &[u8]) {
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
        &sample_with("\"default_pick\"", "\"nodez\": 3,\n  \"default_pick\""),
    );
}

#[test]
fn exchange_rates_are_positive_numbers_by_currency_code() {
    for (rates, expected) in [
        (serde_json::json!({"EUR": 0}), "/exchange_rates/EUR"),
        (serde_json::json!({"EUR": "1.1"}), "/exchange_rates/EUR"),
        (serde_json::json!({"USD": 2}), "/exchange_rates/USD"),
        (serde_json::json!({"euro": 1.1}), "/exchange_rates"),
    ] {
        let p = Project::sample(1);
        let mut strategy: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p.path("strategy.json")).unwrap())
                .unwrap();
        strategy["exchange_rates"] = rates.clone();
        p.write_strategy(&strategy);
        let (code, _, err) = p.run(&["validate"]);
        assert_eq!(code, 1, "{rates}: {err}");
        assert!(err.contains(&format!("at {expected}")), "{rates}: {err}");
        assert!(err.contains("strategy.json:"), "located: {err}");
    }
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
        serde_json::json!([
            "local",
            "sim",
            "aws",
            "digitalocean",
            "linode",
            "hetzner",
            "vultr"
        ])
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

/// Runs `cmd`, killing it if it has not ended within `limit`, so a hang fails the test instead
/// of stopping the suite.
fn output_within(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("oss did not end within {limit:?}: it blocks");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    Output {
        status,
        stdout,
        stderr,
    }
}

/// `oss plan -s PATH` in `p`: (exit code, stderr); fails if it blocks.
fn plan_path(p: &Project, path: &str) -> (i32, String) {
    let mut cmd = p.oss();
    cmd.args(["plan", "-s", path]);
    let out = output_within(cmd, Duration::from_secs(30));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let p = Project::sample(1);
    let fifo =
        std::ffi::CString::new(p.path("pipe.json").into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0, "mkfifo");
    let (code, err) = plan_path(&p, "pipe.json");
    assert_eq!(code, 1, "{err}");
    insta::assert_snapshot!("fifo_strategy", err);
}

#[test]
fn a_directory_or_device_is_refused() {
    let p = Project::sample(1);
    std::fs::create_dir(p.path("dir.json")).unwrap();
    let (code, err) = plan_path(&p, "dir.json");
    assert_eq!(code, 1, "{err}");
    insta::assert_snapshot!("directory_strategy", err);
    let (code, err) = plan_path(&p, "/dev/zero");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("/dev/zero") && err.contains("it is a character device, not a regular file"),
        "{err}"
    );
}

#[test]
fn invalid_utf8_is_located_at_the_first_bad_byte() {
    let text = sample_with("\"app\": \"hello\"", "\"app\": \"h\u{e9}llo\"");
    let mut bytes = text.into_bytes();
    // Latin-1 é (0xE9) where UTF-8 has two bytes: line 20, after `"app": "h`.
    let at = bytes.windows(2).position(|w| w == [0xC3, 0xA9]).unwrap();
    bytes.splice(at..at + 2, [0xE9]);
    check_bytes("invalid_utf8", &bytes);
}

#[test]
fn a_count_in_exponent_form_is_located() {
    check(
        "count_exponent",
        &sample_with("\"count\": 3", "\"count\": 1E+2"),
    );
}

#[test]
fn a_count_with_a_fraction_is_located() {
    check(
        "count_fraction",
        &sample_with("\"count\": 3", "\"count\": 3.0"),
    );
}

#[test]
fn a_negative_zero_count_is_located() {
    check(
        "count_negative_zero",
        &sample_with("\"count\": 3", "\"count\": -0"),
    );
}

#[test]
fn a_port_with_a_fraction_is_located() {
    check(
        "port_fraction",
        &sample_with("\"ports\": [8080]", "\"ports\": [8080.0]"),
    );
}

#[test]
fn cheapest_and_priciest_in_one_node_are_refused() {
    check(
        "conflicting_price_picks",
        &sample_with(
            "\"hardware\": {\"options\": [{\"name\": \"small\"}]}",
            "\"hardware\": {\"options\": [{\"name\": \"small\"}], \"pick\": \"cheapest\"}",
        )
        .replacen("\"pick\": \"first\"},", "\"pick\": \"priciest\"},", 1),
    );
}

#[test]
fn random_beside_a_price_pick_is_refused() {
    // default_pick cheapest is in force for provider, hardware and image; location is random.
    check(
        "random_beside_price_pick",
        &sample_with(
            "\"default_pick\": \"first\"",
            "\"default_pick\": \"cheapest\"",
        )
        .replacen("],\n    \"pick\": \"first\"\n  },", "]\n  },", 1)
        .replacen("\"pick\": \"first\"},", "\"pick\": \"random\"},", 1),
    );
}

#[test]
fn a_price_pick_beside_first_is_accepted() {
    let text = sample_with(
        "\"hardware\": {\"options\": [{\"name\": \"small\"}]}",
        "\"hardware\": {\"options\": [{\"name\": \"small\"}], \"pick\": \"cheapest\"}",
    );
    let p = Project::sample(1);
    std::fs::write(p.path("strategy.json"), text).unwrap();
    let out = p.ok(&["validate", "-s", "strategy.json"]);
    assert!(out.contains("is valid"), "{out}");
}

#[test]
fn health_check_timeout_longer_than_interval() {
    check(
        "health_check_timeout_longer_than_interval",
        &sample_with(
            "\"command\":",
            "\"health\": {\"type\": \"http\", \"path\": \"/healthz\", \"interval\": \"1s\", \"timeout\": \"2s\"},\n    \"command\":",
        ),
    );
}

#[test]
fn health_check_type_is_checked() {
    check(
        "health_check_type_is_checked",
        &sample_with(
            "\"command\":",
            "\"health\": {\"type\": \"tcp\", \"path\": \"/\"},\n    \"command\":",
        ),
    );
}
