//! The original tool's strategy files, through the real binary: its own sample (verbatim)
//! ends in the located "SoftLayer is not yet supported" error and changes nothing; the same
//! sample on Libcloud's `EC2_AP_SOUTHEAST2` validates and plans from the shipped AWS price
//! table (the endpoint is a closed loopback port: no network), with a note on stderr giving
//! today's spelling; hardware strings and old shapes that do not read are located errors,
//! snapshotted like tests/strategy_errors.rs.

mod common;

use common::Project;

const SAMPLE: &str = include_str!("../examples/original-sample.json");
const EC2: &str = include_str!("../examples/original-ec2.json");

/// The sample's `os` block as written.
const SAMPLE_OS: &str = "{\"options\": [{\"name\": \"Ubuntu Linux 14.04 LTS Trusty Tahr - Minimal Install (64 bit)\"},\n                             {\"name\": \"Ubuntu - Latest (64 bit)\"}, {\"name\": \"Ubuntu - Latest\"}], \"pick\": \"first\"}";

/// Dummy credentials for the EC2 variant's `env.` references.
const KEY_ID: &str = "AKIDORIGINALCANARY";
const SECRET: &str = "original-secret-canary";

/// A project whose `strategy.json` is `text`, with the EC2 variant's credentials set.
fn project(text: &str) -> Project {
    let p = Project::sample(1);
    std::fs::write(p.path("strategy.json"), text).unwrap();
    p.set_env("EC2_KEY_ID", KEY_ID);
    p.set_env("EC2_SECRET", SECRET);
    p
}

/// `text` with `from` replaced by `to` (which must occur).
fn with(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "no {from:?} in {text}");
    text.replacen(from, to, 1)
}

/// A loopback port nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The EC2 variant pointed at a closed loopback endpoint, so planning cannot reach AWS and
/// falls back to the shipped price table.
fn ec2_offline() -> String {
    with(
        EC2,
        "{\"auth\":",
        &format!(
            "{{\"endpoint\": \"http://127.0.0.1:{}\", \"auth\":",
            closed_port()
        ),
    )
}

/// Runs `args` on `text`, expecting a located error: exit 1, nothing on stdout, no state.
fn fails(name: &str, text: &str, args: &[&str]) -> String {
    let p = project(text);
    let (code, out, err) = p.run(args);
    assert_eq!(code, 1, "{name}: expected failure\n{out}\n{err}");
    assert!(out.is_empty(), "{name}: printed a plan: {out}");
    assert!(
        !p.path("state").exists(),
        "{name}: touched the state directory"
    );
    assert!(!err.contains(SECRET) && !err.contains(KEY_ID), "{err}");
    redact_port(&err)
}

/// `text` with the closed endpoint's port (which differs per run) shown as `PORT`.
fn redact_port(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("127.0.0.1:") {
        let (head, tail) = rest.split_at(at + "127.0.0.1:".len());
        out.push_str(head);
        let digits = tail.chars().take_while(char::is_ascii_digit).count();
        out.push_str(if digits > 0 { "PORT" } else { "" });
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_verbatim_sample_names_softlayer_as_not_yet_supported() {
    for command in ["validate", "plan", "apply"] {
        let mut args = vec![command, "-s", "strategy.json"];
        if command == "apply" {
            args.push("--auto-approve");
        }
        let err = fails("original_sample", SAMPLE, &args);
        insta::assert_snapshot!("original_sample", err);
    }
}

#[test]
fn an_unknown_provider_is_still_unknown_not_unsupported() {
    let err = fails(
        "unknown_provider",
        &with(SAMPLE, "\"SoftLayer\"", "\"SoftLayr\""),
        &["plan", "-s", "strategy.json"],
    );
    assert!(err.contains("Unknown provider \"SoftLayr\"."), "{err}");
    assert!(!err.contains("not yet supported"), "{err}");
}

#[test]
fn the_ec2_variant_validates_and_plans_offline_with_a_spelling_note() {
    let p = project(&ec2_offline());
    let out = p.oss().args(["validate"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let out = p.oss().args(["plan", "--seed", "7"]).output().unwrap();
    let (plan, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{plan}\n{err}");
    assert!(
        plan.contains("Plan: 2 to add, 0 to change, 0 to destroy."),
        "{plan}"
    );
    assert!(plan.contains("provider = \"aws\""), "{plan}");
    assert!(plan.contains("location = \"ap-southeast-2a\""), "{plan}");
    assert!(plan.contains("image    = \"ubuntu-24.04\""), "{plan}");
    // The smallest size of at least 4 vCPUs and 8 GiB (sizes of AWS boot from EBS).
    assert!(plan.contains("size     = \"a1.xlarge\""), "{plan}");
    assert!(
        err.contains(
            "warning: strategy.json:5:28 at /provider/options/0/EC2_AP_SOUTHEAST2: \"EC2_AP_SOUTHEAST2\" is Apache Libcloud's old name for EC2 in ap-southeast-2; read as {\"aws\":{"
        ),
        "{err}"
    );
    assert!(
        err.contains("\"access_key_id\":\"env.EC2_KEY_ID\",\"secret_access_key\":\"env.EC2_SECRET\",\"regions\":[\"ap-southeast-2\"]"),
        "{err}"
    );
    assert!(
        err.contains("warning: strategy.json:2:11 at /node/os: \"os\" is the original tool's name for \"image\""),
        "{err}"
    );
    for text in [&plan, &err] {
        assert!(!text.contains(SECRET) && !text.contains(KEY_ID), "{text}");
    }
    assert!(!p.path("state").exists(), "a plan writes no state");
}

#[test]
fn the_ec2_variant_needs_its_credentials() {
    let p = Project::sample(1);
    std::fs::write(p.path("strategy.json"), ec2_offline()).unwrap();
    let (code, _, err) = p.run(&["plan"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("at /provider/options/0/EC2_AP_SOUTHEAST2/auth/username: Environment variable EC2_KEY_ID is not set (env.EC2_KEY_ID)."),
        "{err}"
    );
}

#[test]
fn the_samples_image_names_are_located_errors_listing_aws_images() {
    // The original sample's SoftLayer image names on EC2: each `first` option is tried in
    // order and none exists there, so each is a located error naming AWS's images.
    let os = SAMPLE_OS;
    let sample_os = SAMPLE
        .split("\"os\": ")
        .nth(1)
        .and_then(|rest| rest.split(",\n          \"hardware\"").next())
        .unwrap();
    assert_eq!(sample_os, os);
    let text = with(
        &ec2_offline(),
        "{\"options\": [{\"name\": \"ubuntu-24.04\"}, {\"name\": \"ubuntu-22.04\"}], \"pick\": \"first\"}",
        os,
    );
    let err = fails("softlayer_images_on_ec2", &text, &["plan"]);
    insta::assert_snapshot!("softlayer_images_on_ec2", err);
}

#[test]
fn an_unreadable_hardware_string_is_located() {
    let err = fails(
        "hardware_string_unreadable",
        &with(&ec2_offline(), "8GB ram", "8GB rum"),
        &["validate"],
    );
    insta::assert_snapshot!("hardware_string_unreadable", err);
}

#[test]
fn a_hardware_string_of_no_size_is_located() {
    let err = fails(
        "hardware_string_empty",
        &with(
            &ec2_offline(),
            "\"4 CPU, 8GB ram, 100GB\"",
            "\"4 CPU, 2 cores\", \" \"",
        ),
        &["validate"],
    );
    insta::assert_snapshot!("hardware_string_twice_and_empty", err);
}

#[test]
fn image_and_os_together_are_located() {
    let err = fails(
        "image_and_os",
        &with(
            &ec2_offline(),
            "\"os\":",
            "\"image\": {\"options\": [{\"name\": \"debian-12\"}]}, \"os\":",
        ),
        &["validate"],
    );
    insta::assert_snapshot!("image_and_os", err);
}

#[test]
fn neither_image_nor_os_is_located() {
    let err = fails(
        "no_image",
        &with(&ec2_offline(), "\"os\":", "\"unused\":"),
        &["validate"],
    );
    assert!(
        err.contains("at /node/unused: Unknown property \"unused\"."),
        "{err}"
    );
    assert!(
        err.contains("at /node: Missing required property \"image\"."),
        "{err}"
    );
}

#[test]
fn a_bad_auth_block_is_located() {
    let err = fails(
        "bad_auth",
        &with(&ec2_offline(), "\"key\":", "\"secret\":"),
        &["validate"],
    );
    insta::assert_snapshot!("bad_auth", err);
}

#[test]
fn an_old_ec2_name_with_its_own_regions_is_refused() {
    let err = fails(
        "ec2_with_regions",
        &with(
            &ec2_offline(),
            "\"auth\":",
            "\"regions\": [\"us-east-1\"], \"auth\":",
        ),
        &["validate"],
    );
    insta::assert_snapshot!("ec2_with_regions", err);
}

/// A SoftLayer-like catalog for the `sim` provider: the data centre `syd01`, SoftLayer's
/// image names, sizes with disks of their own.
const SOFTLAYER_LIKE: &str = r#"{
  "locations": [
    {"id": "syd01", "name": "Sydney 1", "region": "syd", "zone": "syd01", "country": "AU",
     "continent": "oceania", "latitude": -33.87, "longitude": 151.21},
    {"id": "mel01", "name": "Melbourne 1", "region": "mel", "zone": "mel01", "country": "AU",
     "continent": "oceania", "latitude": -37.81, "longitude": 144.96}
  ],
  "sizes": [
    {"id": "4x8-25", "name": "4x8-25", "vcpus": 4, "memory_gib": 8, "disk_gib": 25, "arch": "x86_64"},
    {"id": "4x8-100", "name": "4x8-100", "vcpus": 4, "memory_gib": 8, "disk_gib": 100, "arch": "x86_64"},
    {"id": "2x4-100", "name": "2x4-100", "vcpus": 2, "memory_gib": 4, "disk_gib": 100, "arch": "x86_64"}
  ],
  "images": [
    {"id": "UBUNTU_LATEST_64", "name": "Ubuntu - Latest (64 bit)", "os": "ubuntu", "version": "latest", "arch": "x86_64"},
    {"id": "UBUNTU_LATEST", "name": "Ubuntu - Latest", "os": "ubuntu", "version": "latest", "arch": "any"},
    {"id": "UBUNTU_14_64", "name": "Ubuntu Linux 14.04 LTS Trusty Tahr - Minimal Install (64 bit)", "os": "ubuntu", "version": "14.04", "arch": "x86_64"}
  ],
  "prices": [
    {"location": "syd01", "size": "4x8-25", "hourly_price": 0.1, "currency": "USD"},
    {"location": "syd01", "size": "4x8-100", "hourly_price": 0.12, "currency": "USD"},
    {"location": "syd01", "size": "2x4-100", "hourly_price": 0.06, "currency": "USD"},
    {"location": "mel01", "size": "4x8-100", "hourly_price": 0.11, "currency": "USD"}
  ]
}"#;

#[test]
fn the_samples_node_block_plans_where_syd01_exists() {
    // The verbatim node block against a catalog that has syd01 (as SoftLayer's will): the
    // location matches by name, the hardware string rules out the 25 GB disk and the 2 vCPU
    // size, and `first` takes the first image option.
    let text = with(
        SAMPLE,
        "{\"SoftLayer\": {\"auth\": {\"username\": \"env.SL_USER\", \"key\": \"env.SL_KEY\"}}}",
        "{\"sim\": {\"name\": \"softlayer-like\", \"catalog\": \"softlayer-like.json\"}}",
    );
    let p = project(&text);
    std::fs::write(p.path("softlayer-like.json"), SOFTLAYER_LIKE).unwrap();
    let plan = p.ok(&["plan", "--seed", "7"]);
    assert!(
        plan.contains("Plan: 1 to add, 0 to change, 0 to destroy."),
        "{plan}"
    );
    assert!(plan.contains("location = \"syd01\""), "{plan}");
    assert!(plan.contains("size     = \"4x8-100\""), "{plan}");
    assert!(plan.contains("image    = \"UBUNTU_14_64\""), "{plan}");
}

#[test]
fn a_hardware_string_matching_nothing_is_shown_as_written() {
    let text = with(
        SAMPLE,
        "{\"SoftLayer\": {\"auth\": {\"username\": \"env.SL_USER\", \"key\": \"env.SL_KEY\"}}}",
        "{\"local\": {}}",
    );
    let text = with(&text, SAMPLE_OS, "{\"options\": [{\"name\": \"host\"}]}");
    let err = fails("hardware_string_no_match", &text, &["plan"]);
    insta::assert_snapshot!("hardware_string_no_match", err);
}
