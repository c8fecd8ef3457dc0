//! A secret given to a provider through `env.`, or kept in the vault and given as
//! `secret.NAME` (through shares and through the unlock agent), appears nowhere: not in any
//! command's output (every plan format, show, state, graph, catalog, errors) and not in any
//! file oss leaves in the project (state, its backup, the journal, saved plans, the simulated cloud's records),
//! nor in a local node's environment (tests/node_env.rs reads that from /proc as well). A
//! secret used as the state-encryption passphrase, and a wrong one, appear in no output,
//! error, sealed version or settings `Debug` either.
//!
//! The secrets are canaries: distinctive strings no output would hold by chance. The scanner
//! is checked on a planted file, so the test cannot pass by scanning nothing.

mod common;

use std::path::{Path, PathBuf};

use common::Project;
use serde_json::Value;

const CANARY: &str = "oss-canary-7f3a9c1e";
/// A second secret, the wrong key of the failing applies.
const WRONG_CANARY: &str = "oss-canary-wrong-0b4d2e66";

/// Two nodes wherever cheapest on the three simulated clouds of examples/sim, each cloud
/// requiring the key `env.OSS_CANARY_KEY` and given `env.{api_key_var}`.
fn strategy(count: usize, api_key_var: &str) -> Value {
    let mut strategy = common::sim_example("cheapest-across-providers.json");
    for option in strategy["provider"]["options"].as_array_mut().unwrap() {
        let sim = &mut option["sim"];
        sim["api_key"] = format!("env.{api_key_var}").into();
        sim["require_api_key"] = "env.OSS_CANARY_KEY".into();
    }
    strategy["node"]["count"] = count.into();
    strategy
}

/// Runs oss with both secrets in the environment; returns (exit code, stdout + stderr).
fn run(p: &Project, args: &[&str]) -> (i32, String) {
    let out = p
        .oss()
        .args(args)
        .env("OSS_CANARY_KEY", CANARY)
        .env("OSS_CANARY_WRONG_KEY", WRONG_CANARY)
        .output()
        .unwrap();
    let text = format!(
        "$ oss {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn ok(p: &Project, args: &[&str], outputs: &mut Vec<String>) {
    let (code, text) = run(p, args);
    assert_eq!(code, 0, "{text}");
    outputs.push(text);
}

/// Every regular file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            found.extend(files_under(&entry.path()));
        } else if kind.is_file() {
            found.push(entry.path());
        }
    }
    found.sort();
    found
}

/// Files under `dir` holding either secret, as relative paths.
fn leaking_files(dir: &Path) -> Vec<String> {
    files_under(dir)
        .into_iter()
        .filter(|file| {
            let bytes = std::fs::read(file).unwrap();
            [CANARY, WRONG_CANARY]
                .iter()
                .any(|c| bytes.windows(c.len()).any(|w| w == c.as_bytes()))
        })
        .map(|file| file.strip_prefix(dir).unwrap().display().to_string())
        .collect()
}

#[test]
fn a_secret_from_the_environment_appears_in_no_output_and_no_file() {
    let p = Project::with_strategy(&strategy(2, "OSS_CANARY_KEY"));
    let mut outputs = Vec::new();

    ok(&p, &["validate"], &mut outputs);
    for format in [&[][..], &["--json"], &["--markdown"], &["--concise"]] {
        ok(&p, &[&["plan"], format].concat(), &mut outputs);
    }
    ok(&p, &["plan", "--out", "p.bin"], &mut outputs);
    for format in [&[][..], &["--json"], &["--markdown"], &["--concise"]] {
        ok(&p, &[&["show", "p.bin"], format].concat(), &mut outputs);
    }
    ok(&p, &["apply", "p.bin", "--auto-approve"], &mut outputs);

    // A second change, applied without a saved plan: the state and its backup both exist.
    p.write_strategy(&strategy(3, "OSS_CANARY_KEY"));
    ok(
        &p,
        &["plan", "--out", "grow.bin", "--markdown"],
        &mut outputs,
    );
    ok(&p, &["apply", "--auto-approve"], &mut outputs);
    for args in [
        &["show"][..],
        &["show", "--json"],
        &["state", "list"],
        &["state", "show", "node.app[0]"],
        &["graph"],
        &["catalog"],
        &["catalog", "--json"],
        &["plan", "--detailed-exitcode"],
    ] {
        ok(&p, args, &mut outputs);
    }

    // The wrong key: refresh is refused, and with --refresh=false every create is.
    p.write_strategy(&strategy(4, "OSS_CANARY_WRONG_KEY"));
    for args in [
        &["apply", "--auto-approve"][..],
        &["apply", "--auto-approve", "--refresh=false"],
    ] {
        let (code, text) = run(&p, args);
        assert_eq!(code, 1, "{text}");
        assert!(text.contains("AuthFailure"), "{text}");
        outputs.push(text);
    }

    p.write_strategy(&strategy(4, "OSS_CANARY_KEY"));
    ok(&p, &["destroy", "--auto-approve"], &mut outputs);

    for text in &outputs {
        assert!(
            !text.contains(CANARY) && !text.contains(WRONG_CANARY),
            "a secret leaked:\n{text}"
        );
    }

    // What was scanned: the plan files, the state and its backup, the simulated cloud.
    let scanned: Vec<String> = files_under(p.dir.path())
        .iter()
        .map(|f| f.strip_prefix(p.dir.path()).unwrap().display().to_string())
        .collect();
    for expected in [
        "p.bin",
        "grow.bin",
        "state/cheapest.state.json",
        "state/cheapest.state.json.backup",
        "state/sim/cloud-b.json",
    ] {
        assert!(scanned.iter().any(|f| f == expected), "{scanned:?}");
    }
    assert_eq!(leaking_files(p.dir.path()), Vec::<String>::new());

    // The scanner finds a secret where there is one, however deep.
    std::fs::create_dir_all(p.path("state/sim/deeper")).unwrap();
    std::fs::write(
        p.path("state/sim/deeper/planted.log"),
        format!("key={CANARY}\n"),
    )
    .unwrap();
    assert_eq!(
        leaking_files(p.dir.path()),
        ["state/sim/deeper/planted.log"]
    );
}

/// The sample's local nodes, first, with the three simulated clouds behind them holding the
/// secrets; each node's command writes its whole environment to `env.txt` in its directory.
fn local_strategy() -> Value {
    let mut local: Value = serde_json::from_str(include_str!("../strategy.sample.json")).unwrap();
    local["node"]["count"] = 2.into();
    let command = local["node"]["command"].as_str().unwrap();
    local["node"]["command"] = format!("env > env.txt; {command}").into();
    let clouds = strategy(1, "OSS_CANARY_KEY")["provider"]["options"].clone();
    let options = local["provider"]["options"].as_array_mut().unwrap();
    options.extend(clouds.as_array().unwrap().iter().cloned());
    local
}

#[test]
fn a_secret_from_the_environment_reaches_no_local_node() {
    let p = Project::with_strategy(&local_strategy());
    let mut outputs = Vec::new();
    ok(&p, &["apply", "--auto-approve"], &mut outputs);

    // Each node did write its environment: the scan below reads them.
    let dirs = p.node_dirs();
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    for dir in &dirs {
        let dump = std::fs::read_to_string(dir.join("env.txt")).unwrap();
        assert!(dump.contains("OSS_NODE_NAME=web-"), "{dump}");
    }
    assert_eq!(leaking_files(p.dir.path()), Vec::<String>::new());

    // The scanner finds a secret in a node's directory.
    let planted = dirs[0].join("planted.txt");
    std::fs::write(&planted, format!("OSS_CANARY_KEY={CANARY}\n")).unwrap();
    let relative = planted.strip_prefix(p.dir.path()).unwrap();
    assert_eq!(
        leaking_files(p.dir.path()),
        [relative.display().to_string()]
    );

    // A node that writes a secret to its log anyway: `oss logs` shows it hidden.
    let id = dirs[0].file_name().unwrap().to_string_lossy().into_owned();
    let state = p.state("hello");
    let address = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["provider_id"] == id.as_str())
        .unwrap()["address"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::write(dirs[0].join("stdout.log"), format!("key={CANARY}\n")).unwrap();
    let (code, logs) = run(&p, &["logs", &address]);
    assert_eq!(code, 0, "{logs}");
    assert!(logs.contains("key=(sensitive)"), "{logs}");
    outputs.push(logs);

    ok(&p, &["destroy", "--auto-approve"], &mut outputs);
    assert_eq!(p.node_dirs(), Vec::<PathBuf>::new());
    for text in &outputs {
        assert!(
            !text.contains(CANARY) && !text.contains(WRONG_CANARY),
            "a secret leaked:\n{text}"
        );
    }
}

/// The simulated clouds in order of preference (`first` everywhere), each requiring the key
/// written in the strategy as a literal; cloud-a is given it by `env.OSS_CANARY_KEY`, the
/// others as a literal.
fn recorded_strategy(clouds: &[&str]) -> Value {
    let mut strategy = strategy(2, "OSS_CANARY_KEY");
    strategy["default_pick"] = "first".into();
    strategy["node"]["location"]["options"] = serde_json::json!([{"continent": "oceania"}]);
    let options = strategy["provider"]["options"].as_array_mut().unwrap();
    options.retain(|o| clouds.contains(&o["sim"]["name"].as_str().unwrap()));
    for option in options.iter_mut() {
        option["sim"]["require_api_key"] = CANARY.into();
        if option["sim"]["name"] != "cloud-a" {
            option["sim"]["api_key"] = CANARY.into();
        }
    }
    strategy
}

#[test]
fn a_provider_recorded_in_state_keeps_its_credentials_out() {
    let p = Project::with_strategy(&recorded_strategy(&["cloud-a", "cloud-b"]));
    let mut outputs = Vec::new();
    ok(&p, &["apply", "--auto-approve"], &mut outputs);
    let state = p.state("cheapest");
    // The precondition: cloud-a holds the nodes and is recorded, its key as the reference.
    let on: Vec<&str> = state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["placement"]["provider"].as_str().unwrap())
        .collect();
    assert_eq!(on, ["cloud-a", "cloud-a"], "{state}");
    let recorded = &state["providers"]["cloud-a"]["settings"];
    assert_eq!(recorded["api_key"], "env.OSS_CANARY_KEY", "{state}");
    assert!(recorded.get("require_api_key").is_none(), "{state}");

    // cloud-a leaves the strategy: it is rebuilt from the record to move the nodes off it.
    p.write_strategy(&recorded_strategy(&["cloud-b"]));
    for format in [&[][..], &["--json"], &["--markdown"], &["--concise"]] {
        ok(&p, &[&["plan"], format].concat(), &mut outputs);
    }
    let (code, text) = {
        let out = p
            .oss()
            .args(["plan"])
            .env("OSS_CANARY_WRONG_KEY", WRONG_CANARY)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), text)
    };
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("environment variable OSS_CANARY_KEY is not set"),
        "{text}"
    );
    outputs.push(text);
    ok(&p, &["apply", "--auto-approve"], &mut outputs);
    let state = p.state("cheapest");
    assert_eq!(state["providers"]["cloud-b"]["kind"], "sim", "{state}");
    assert!(state["providers"].get("cloud-a").is_none(), "{state}");
    ok(&p, &["show"], &mut outputs);
    ok(&p, &["destroy", "--auto-approve"], &mut outputs);

    for text in &outputs {
        assert!(
            !text.contains(CANARY) && !text.contains(WRONG_CANARY),
            "a secret leaked:\n{text}"
        );
    }
    // Only the strategy holds the literal key: not the state, its backup, or the clouds.
    assert_eq!(leaking_files(p.dir.path()), ["strategy.json"]);
}

/// A secret kept in the vault, given to the clouds as `secret.NAME`.
const VAULT_CANARY: &str = "oss-canary-vault-3e9d17b4";

/// Runs `oss ARGS` with `stdin`; returns (exit code, stdout + stderr).
fn run_stdin(p: &Project, args: &[&str], stdin: &str) -> (i32, String) {
    use std::io::Write;
    let mut child = p
        .oss()
        .args(args)
        .env("OSS_CANARY_KEY", CANARY)
        .env("OSS_CANARY_WRONG_KEY", WRONG_CANARY)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "$ oss {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The sample's local nodes (each writing its environment to `env.txt`) and the simulated
/// clouds, which require `secret.REQUIRED` and are given `secret.{given}` from the vault.
fn vault_strategy(given: &str) -> Value {
    let mut strategy = local_strategy();
    for option in strategy["provider"]["options"].as_array_mut().unwrap() {
        if let Some(sim) = option.get_mut("sim") {
            sim["api_key"] = format!("secret.{given}").into();
            sim["require_api_key"] = "secret.REQUIRED".into();
        }
    }
    strategy
}

#[test]
fn a_secret_from_the_vault_appears_in_no_output_file_or_node() {
    let p = Project::with_strategy(&vault_strategy("GIVEN"));
    p.set_env("OSS_AGENT_DIR", p.path("agents").to_str().unwrap());
    let mut outputs = Vec::new();
    ok(
        &p,
        &["secrets", "init", "--shares", "3", "--threshold", "2"],
        &mut outputs,
    );
    let shares: Vec<String> = files_under(&p.path("shares"))
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    let given = ["--share", &shares[0], "--share", &shares[2]];
    for (name, value) in [
        ("REQUIRED", VAULT_CANARY),
        ("GIVEN", VAULT_CANARY),
        ("WRONG", WRONG_CANARY),
    ] {
        let (code, text) = run_stdin(&p, &[&["secrets", "set", name][..], &given].concat(), value);
        assert_eq!(code, 0, "{text}");
        outputs.push(text);
    }
    ok(&p, &[&["validate"][..], &given].concat(), &mut outputs);
    for format in [&[][..], &["--json"], &["--markdown"], &["--concise"]] {
        ok(&p, &[&["plan"], format, &given].concat(), &mut outputs);
    }
    ok(
        &p,
        &[&["plan", "--out", "p.bin"][..], &given].concat(),
        &mut outputs,
    );
    ok(
        &p,
        &[&["show", "p.bin", "--json"][..], &given].concat(),
        &mut outputs,
    );
    // Through the unlock agent from here on.
    let (code, text) = run(&p, &[&["unlock", "--ttl", "120s"][..], &given].concat());
    assert_eq!(code, 0, "{text}");
    let agent_pid: i32 = text
        .split("(pid ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    struct Kill(i32);
    impl Drop for Kill {
        fn drop(&mut self) {
            // SAFETY: kill on the agent this test started.
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
    let _agent = Kill(agent_pid);
    outputs.push(text);
    ok(&p, &["apply", "p.bin", "--auto-approve"], &mut outputs);
    for args in [
        &["show"][..],
        &["show", "--json"],
        &["state", "list"],
        &["catalog"],
    ] {
        ok(&p, args, &mut outputs);
    }
    // The clouds alone (own strategy file and state): the right secret is accepted and the
    // wrong one refused, so the values really come from the vault.
    for (given, action, code_wanted) in [
        ("GIVEN", "apply", 0),
        ("WRONG", "apply", 1),
        ("GIVEN", "destroy", 0),
    ] {
        let mut clouds = strategy(1, "OSS_CANARY_KEY");
        for option in clouds["provider"]["options"].as_array_mut().unwrap() {
            option["sim"]["api_key"] = format!("secret.{given}").into();
            option["sim"]["require_api_key"] = "secret.REQUIRED".into();
        }
        std::fs::write(p.path("clouds.json"), clouds.to_string()).unwrap();
        let (code, text) = run(
            &p,
            &[
                "-s",
                "clouds.json",
                "--state-dir",
                "state-clouds",
                action,
                "--auto-approve",
            ],
        );
        assert_eq!(code, code_wanted, "{text}");
        if code_wanted == 1 {
            assert!(text.contains("AuthFailure"), "{text}");
        }
        outputs.push(text);
    }

    // The nodes ran and wrote their environment; the agent's holds nothing either.
    let dirs = p.node_dirs();
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    for dir in &dirs {
        let dump = std::fs::read_to_string(dir.join("env.txt")).unwrap();
        assert!(dump.contains("OSS_NODE_NAME=web-"), "{dump}");
    }
    for file in ["environ", "cmdline"] {
        let bytes = std::fs::read(format!("/proc/{agent_pid}/{file}")).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains(VAULT_CANARY));
    }
    let vault = std::fs::read_to_string(p.path("secrets.oss.json")).unwrap();
    assert!(vault.contains("\"REQUIRED\""), "{vault}");
    assert_eq!(leaking_vault_files(p.dir.path()), Vec::<String>::new());

    ok(&p, &["destroy", "--auto-approve"], &mut outputs);
    ok(&p, &["lock"], &mut outputs);
    for text in &outputs {
        assert!(
            !text.contains(VAULT_CANARY) && !text.contains(CANARY) && !text.contains(WRONG_CANARY),
            "a secret leaked:\n{text}"
        );
    }
    assert_eq!(leaking_vault_files(p.dir.path()), Vec::<String>::new());
    // The scanner finds the vault canary where it is.
    std::fs::write(p.path("state/planted.txt"), VAULT_CANARY).unwrap();
    assert_eq!(leaking_vault_files(p.dir.path()), ["state/planted.txt"]);
}

/// Files under `dir` holding the vault canary (or either other), as relative paths.
fn leaking_vault_files(dir: &Path) -> Vec<String> {
    let mut found = leaking_files(dir);
    for file in files_under(dir) {
        let bytes = std::fs::read(&file).unwrap();
        let name = file.strip_prefix(dir).unwrap().display().to_string();
        if bytes
            .windows(VAULT_CANARY.len())
            .any(|w| w == VAULT_CANARY.as_bytes())
            && !found.contains(&name)
        {
            found.push(name);
        }
    }
    found
}

/// Every page and JSON answer of `oss serve`, even with the secret pasted into a node's tags
/// (so the state itself holds it): shown as `(sensitive)`, never as itself.
#[test]
fn a_secret_appears_on_no_page_of_the_dashboard() {
    let mut pasted = strategy(2, "OSS_CANARY_KEY");
    pasted["node"]["tags"]["pasted"] = format!("token {CANARY}").into();
    let p = Project::with_strategy(&pasted);
    let mut outputs = Vec::new();
    ok(&p, &["apply", "--auto-approve"], &mut outputs);
    p.write_strategy(&{
        let mut grown = pasted.clone();
        grown["node"]["count"] = 3.into();
        grown
    });
    ok(&p, &["plan", "--out", "grow.bin"], &mut outputs);
    ok(&p, &["apply", "--auto-approve"], &mut outputs);
    ok(&p, &["plan", "--out", "same.bin"], &mut outputs);
    // The state does hold it: the pages must hide what is there.
    let stored = std::fs::read_to_string(p.path("state/cheapest.state.json")).unwrap();
    assert!(stored.contains(CANARY));

    p.set_env("OSS_CANARY_KEY", CANARY);
    p.set_env("OSS_CANARY_WRONG_KEY", WRONG_CANARY);
    let served = common::serve::Served::start(&p, &["--plan", "grow.bin", "--plan", "same.bin"]);
    let (_, history) = served.get("/api/history");
    let versions: Value = serde_json::from_str(&history).unwrap();
    let versions = versions.as_array().unwrap();
    let (first, latest) = (
        &versions[0]["serial"],
        &versions[versions.len() - 1]["serial"],
    );
    let diff = format!("diff?from={first}&to={latest}");
    let mut paths: Vec<String> = [
        "/",
        "/api/fleet",
        "/history",
        "/api/history",
        "/cost",
        "/api/cost",
        "/plans",
        "/api/plans",
        "/plans/0",
        "/plans/1",
        "/api/plans/0",
        "/api/plans/1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    paths.push(format!("/history/{diff}"));
    paths.push(format!("/api/history/{diff}"));
    for i in 0..3 {
        paths.push(format!("/nodes/node.app%5B{i}%5D"));
        paths.push(format!("/api/nodes/node.app%5B{i}%5D"));
    }
    let mut sensitive_shown = 0;
    for path in &paths {
        let (status, body) = served.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        assert!(
            !body.contains(CANARY) && !body.contains(WRONG_CANARY),
            "a secret leaked on {path}:\n{body}"
        );
        sensitive_shown += usize::from(body.contains("(sensitive)"));
        outputs.push(body);
    }
    // What was scanned is the real content: the node pages show the tag, hidden.
    assert!(
        sensitive_shown >= 6,
        "{sensitive_shown} pages showed (sensitive)"
    );
    let (_, node) = served.get("/api/nodes/node.app%5B0%5D");
    let node: Value = serde_json::from_str(&node).unwrap();
    assert_eq!(
        node["resource"]["attributes"]["tags"]["pasted"],
        "(sensitive)"
    );
    drop(served);
    ok(&p, &["destroy", "--auto-approve"], &mut outputs);
    for text in &outputs {
        assert!(!text.contains(CANARY), "a secret leaked:\n{text}");
    }
}

/// State encrypted with the secret as its passphrase (`env.`, the same variable the clouds
/// read): neither the passphrase nor a wrong one appears in any output, error, stored
/// version, backup or saved plan, nor in the key provider settings' `Debug`; and the stored
/// versions are sealed (the scanner reads them: they are there and hold no resource name).
#[test]
fn an_encrypted_state_and_its_passphrase_leak_nowhere() {
    let encrypted = |count: usize, passphrase_var: &str| {
        let mut s = strategy(count, "OSS_CANARY_KEY");
        s["state"] = serde_json::json!({"backend": "local", "encryption": {
            "key_provider": {"passphrase": {"passphrase": format!("env.{passphrase_var}"), "iterations": 10000}},
            "method": "aes_gcm", "fallback": {"method": "unencrypted"}}});
        s
    };
    let p = Project::with_strategy(&encrypted(2, "OSS_CANARY_KEY"));
    let mut outputs = Vec::new();
    ok(&p, &["plan", "--out", "p.bin"], &mut outputs);
    for format in [&[][..], &["--json"], &["--markdown"], &["--concise"]] {
        ok(&p, &[&["show", "p.bin"], format].concat(), &mut outputs);
    }
    ok(&p, &["apply", "p.bin", "--auto-approve"], &mut outputs);
    p.write_strategy(&encrypted(3, "OSS_CANARY_KEY"));
    ok(&p, &["apply", "--auto-approve"], &mut outputs);
    for args in [
        &["state", "pull"][..],
        &["state", "versions", "--json"],
        &["state", "list"],
        &["show", "--json"],
    ] {
        ok(&p, args, &mut outputs);
    }
    let stored = outputs[outputs.len() - 4].clone();
    assert!(stored.contains("\"encrypted_state\": 1"), "{stored}");
    assert!(!stored.contains("node.app"), "{stored}");

    // The wrong passphrase (the second canary): refused, echoing neither.
    p.write_strategy(&encrypted(3, "OSS_CANARY_WRONG_KEY"));
    let (code, text) = run(&p, &["plan"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("wrong passphrase"), "{text}");
    outputs.push(text);

    p.write_strategy(&encrypted(3, "OSS_CANARY_KEY"));
    ok(&p, &["destroy", "--auto-approve"], &mut outputs);
    for text in &outputs {
        assert!(
            !text.contains(CANARY) && !text.contains(WRONG_CANARY),
            "a secret leaked:\n{text}"
        );
    }
    let scanned: Vec<String> = files_under(p.dir.path())
        .iter()
        .map(|f| f.strip_prefix(p.dir.path()).unwrap().display().to_string())
        .collect();
    for expected in [
        "p.bin",
        "state/cheapest.state.json",
        "state/cheapest.state.json.backup",
    ] {
        assert!(scanned.iter().any(|f| f == expected), "{scanned:?}");
    }
    assert_eq!(leaking_files(p.dir.path()), Vec::<String>::new());

    // The settings as the program holds them: Debug shows no character of the passphrase.
    let spec: oss::state::BackendSpec = serde_json::from_value(serde_json::json!({
        "backend": "local",
        "encryption": {"method": "aes_gcm",
                       "key_provider": {"passphrase": {"passphrase": CANARY}}}
    }))
    .unwrap();
    let shown = format!("{spec:?}");
    assert!(
        shown.contains("passphrase") && !shown.contains(CANARY),
        "{shown}"
    );
}
