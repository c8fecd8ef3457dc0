//! The vault end to end through the real binary: `oss secrets`, `secret.NAME` in provider
//! settings, unlocking with k of n shares (files, `OSS_SHARES`, age-encrypted shares opened
//! with identities that the `age` CLI made, and shares the `age` CLI encrypted), the errors
//! that name the share at fault while nothing is decrypted or applied, `rekey`/`rotate`, and
//! the unlock agent.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Project;
use serde_json::Value;

/// The cloud key the walkthrough keeps in the vault (a canary: no output may hold it).
const CLOUD_KEY: &str = "oss-vault-cloud-key-5d1c88a2";

fn need_age() {
    for tool in ["/usr/bin/age", "/usr/bin/age-keygen"] {
        assert!(
            Path::new(tool).exists(),
            "the test needs {tool} (scripts/test.sh installs Debian's age package: apt-get install age)"
        );
    }
}

/// The three simulated clouds, each requiring the key in `OSS_REQUIRED_KEY` (the test's
/// environment) and given `secret.CLOUD_KEY` from the vault: a plan succeeds only if the
/// vault opened and gave the right value.
fn cloud_strategy(count: usize) -> Value {
    let mut strategy = common::sim_example("cheapest-across-providers.json");
    for option in strategy["provider"]["options"].as_array_mut().unwrap() {
        option["sim"]["api_key"] = "secret.CLOUD_KEY".into();
        option["sim"]["require_api_key"] = "env.OSS_REQUIRED_KEY".into();
    }
    strategy["node"]["count"] = count.into();
    strategy
}

/// A project with its agents' sockets in its own directory.
fn project(strategy: &Value) -> Project {
    let p = Project::with_strategy(strategy);
    p.set_env("OSS_REQUIRED_KEY", CLOUD_KEY);
    p.set_env("OSS_AGENT_DIR", p.path("agents").to_str().unwrap());
    p.set_env("OSS_SHARES", "");
    p
}

/// Runs oss with `stdin`; returns (exit code, stdout, stderr).
fn run_with_stdin(p: &Project, args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut child = p
        .oss()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `oss ARGS` must fail; returns stderr.
fn fails(p: &Project, args: &[&str]) -> String {
    let (code, out, err) = p.run(args);
    assert_eq!(
        code, 1,
        "oss {args:?} should fail\nstdout:\n{out}\nstderr:\n{err}"
    );
    assert!(
        !out.contains(CLOUD_KEY) && !err.contains(CLOUD_KEY),
        "{out}{err}"
    );
    err
}

/// The share files `init` or `rekey` listed, in share order.
fn listed_shares(p: &Project, out: &str) -> Vec<PathBuf> {
    out.lines()
        .filter_map(|l| l.strip_prefix("  "))
        .map(|l| p.path(l))
        .collect()
}

/// `--share F` for each file.
fn share_args(files: &[&PathBuf]) -> Vec<String> {
    files
        .iter()
        .flat_map(|f| ["--share".to_string(), f.display().to_string()])
        .collect()
}

fn args<'a>(head: &[&'a str], tail: &'a [String]) -> Vec<&'a str> {
    head.iter()
        .copied()
        .chain(tail.iter().map(String::as_str))
        .collect()
}

/// A vault of `k` of `n` plain shares holding CLOUD_KEY; returns the share files.
fn vault_with_key(p: &Project, n: u8, k: u8) -> Vec<PathBuf> {
    let out = p.ok(&[
        "secrets",
        "init",
        "--shares",
        &n.to_string(),
        "--threshold",
        &k.to_string(),
    ]);
    let shares = listed_shares(p, &out);
    assert_eq!(shares.len(), usize::from(n), "{out}");
    let given = share_args(&shares.iter().take(usize::from(k)).collect::<Vec<_>>());
    let (code, out, err) = run_with_stdin(
        p,
        &args(&["secrets", "set", "CLOUD_KEY"], &given),
        &format!("{CLOUD_KEY}\n"),
    );
    assert_eq!(code, 0, "{out}{err}");
    shares
}

/// An age identity made by the `age-keygen` CLI; returns (identity file, public key).
fn age_keygen(p: &Project, name: &str) -> (PathBuf, String) {
    let path = p.path(&format!("{name}.key"));
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&path).unwrap();
    let public = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string();
    (path, public)
}

fn state_text(p: &Project) -> Option<String> {
    std::fs::read_to_string(p.path("state/cheapest.state.json")).ok()
}

/// The README's "Unlocking cloud keys with shares", step by step: five holders with age keys,
/// a vault with threshold 3 holding the cloud key, an apply with three holders' shares, and
/// the refusal with two (nothing decrypted, nothing applied).
#[test]
fn readme_walkthrough_five_shares_threshold_three() {
    need_age();
    let p = project(&cloud_strategy(2));
    let holders = ["alice", "bob", "carol", "dave", "erin"];
    let keys: Vec<(PathBuf, String)> = holders.iter().map(|h| age_keygen(&p, h)).collect();
    let mut init = vec!["secrets", "init", "--shares", "5", "--threshold", "3"];
    for (_, public) in &keys {
        init.extend(["--recipient", public.as_str()]);
    }
    let out = p.ok(&init);
    let shares = listed_shares(&p, &out);
    assert_eq!(shares.len(), 5, "{out}");
    assert!(
        shares.iter().all(|s| s.extension().unwrap() == "age"),
        "{shares:?}"
    );

    // Each holder opens their own share with the age CLI, and only their own.
    let opened = Command::new("age")
        .args(["-d", "-i"])
        .arg(&keys[1].0)
        .arg(&shares[1])
        .output()
        .unwrap();
    assert!(opened.status.success(), "{opened:?}");
    let text = String::from_utf8(opened.stdout).unwrap();
    assert!(text.starts_with("# oss share 2 of 5"), "{text}");
    let refused = Command::new("age")
        .args(["-d", "-i"])
        .arg(&keys[0].0)
        .arg(&shares[1])
        .output()
        .unwrap();
    assert!(!refused.status.success());

    // Alice, Carol and Erin put the cloud key in.
    let three: Vec<String> = [0, 2, 4]
        .iter()
        .flat_map(|&i| {
            [
                "--share".to_string(),
                shares[i].display().to_string(),
                "--identity".to_string(),
                keys[i].0.display().to_string(),
            ]
        })
        .collect();
    let (code, out, err) = run_with_stdin(
        &p,
        &args(&["secrets", "set", "CLOUD_KEY"], &three),
        CLOUD_KEY,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(p.ok(&["secrets", "list"]), "CLOUD_KEY\n");
    let vault = std::fs::read_to_string(p.path("secrets.oss.json")).unwrap();
    assert!(!vault.contains(CLOUD_KEY));

    // Two holders are refused: the error names both shares, and nothing was applied.
    let two = &three[..8];
    let err = fails(&p, &args(&["apply", "--auto-approve"], two));
    assert!(
        err.contains("2 of the 3 shares needed to unlock secrets.oss.json were given"),
        "{err}"
    );
    assert!(err.contains(shares[0].to_str().unwrap()), "{err}");
    assert!(err.contains(shares[2].to_str().unwrap()), "{err}");
    assert_eq!(state_text(&p), None, "nothing was applied");

    // Three apply: the clouds accepted the key from the vault.
    let out = p.ok(&args(&["apply", "--auto-approve"], &three));
    assert!(!out.contains(CLOUD_KEY), "{out}");
    let state = state_text(&p).unwrap();
    assert_eq!(
        p.state("cheapest")["resources"].as_array().unwrap().len(),
        2
    );
    assert!(!state.contains(CLOUD_KEY), "{state}");
    // State records the reference, never the value.
    let providers = p.state("cheapest")["providers"].clone();
    let recorded: Vec<&Value> = providers
        .as_object()
        .unwrap()
        .values()
        .map(|r| &r["settings"]["api_key"])
        .collect();
    assert!(!recorded.is_empty(), "{providers}");
    assert!(
        recorded.iter().all(|k| *k == "secret.CLOUD_KEY"),
        "{providers}"
    );

    p.ok(&args(&["destroy", "--auto-approve"], &three));
}

/// Every bad share fails with an error naming it, before anything is decrypted: the vault
/// file, the state and the share files are as they were.
#[test]
fn a_bad_share_is_named_and_nothing_is_decrypted_or_applied() {
    need_age();
    let p = project(&cloud_strategy(1));
    let shares = vault_with_key(&p, 3, 2);
    let vault_before = std::fs::read(p.path("secrets.oss.json")).unwrap();
    let plan = |given: &[String]| fails(&p, &args(&["plan"], given));
    let name = |f: &PathBuf| f.display().to_string();

    // Fewer than the threshold.
    let err = plan(&share_args(&[&shares[1]]));
    assert!(err.contains("1 of the 2 shares needed"), "{err}");
    assert!(err.contains(&name(&shares[1])), "{err}");
    let err = plan(&[]);
    assert!(err.contains("0 of the 2 shares needed"), "{err}");

    // The same share twice (the second file a copy of the first).
    let copy = p.path("copy-of-share-1.txt");
    std::fs::copy(&shares[0], &copy).unwrap();
    let err = plan(&share_args(&[&shares[0], &copy]));
    assert!(
        err.contains(&format!(
            "Share {} is share 1 of 3 again: {} is the same share",
            name(&copy),
            name(&shares[0])
        )),
        "{err}"
    );

    // A share of another vault.
    let other = Project::with_strategy(&cloud_strategy(1));
    let out = other.ok(&["secrets", "init", "--shares", "3", "--threshold", "2"]);
    let foreign = listed_shares(&other, &out);
    let err = plan(&share_args(&[&shares[0], &foreign[1]]));
    assert!(
        err.contains(&format!(
            "Share {} belongs to another vault",
            name(&foreign[1])
        )),
        "{err}"
    );

    // A corrupted share: one character changed.
    let text = std::fs::read_to_string(&shares[1]).unwrap();
    let line = text.lines().last().unwrap();
    let at = line.len() - 20;
    let swapped = if &line[at..=at] == "A" { "B" } else { "A" };
    let mut broken = line.to_string();
    broken.replace_range(at..=at, swapped);
    let corrupt = p.path("corrupt.txt");
    std::fs::write(&corrupt, format!("{broken}\n")).unwrap();
    let err = plan(&share_args(&[&shares[0], &corrupt]));
    assert!(
        err.contains(&format!("Share {} is corrupted", name(&corrupt))),
        "{err}"
    );
    // Cut short, and not a share at all.
    std::fs::write(&corrupt, &line[..line.len() / 2]).unwrap();
    let err = plan(&share_args(&[&corrupt, &shares[0]]));
    assert!(
        err.contains(&format!("Share {} is corrupted", name(&corrupt))),
        "{err}"
    );

    // An age-encrypted share (by the age CLI) with the wrong identity, then without one.
    let (_, bob) = age_keygen(&p, "bob");
    let (mallory_key, _) = age_keygen(&p, "mallory");
    let sealed = p.path("share-2.age");
    let status = Command::new("age")
        .args(["-a", "-r", &bob, "-o"])
        .arg(&sealed)
        .arg(&shares[1])
        .status()
        .unwrap();
    assert!(status.success());
    let mut given = share_args(&[&shares[0], &sealed]);
    given.extend(["--identity".into(), mallory_key.display().to_string()]);
    let err = plan(&given);
    assert!(
        err.contains(&format!(
            "Share {} is encrypted to another age key",
            name(&sealed)
        )),
        "{err}"
    );
    let err = plan(&share_args(&[&shares[0], &sealed]));
    assert!(
        err.contains(&format!(
            "Share {} is age-encrypted and no age identity",
            name(&sealed)
        )),
        "{err}"
    );

    // A missing share file.
    let err = plan(&share_args(&[&shares[0], &p.path("nowhere.txt")]));
    assert!(err.contains("Cannot read share"), "{err}");

    // None of it changed a thing.
    assert_eq!(
        std::fs::read(p.path("secrets.oss.json")).unwrap(),
        vault_before
    );
    assert_eq!(state_text(&p), None);
    // A bad share refuses a write to the vault too.
    let (code, _, err) = run_with_stdin(
        &p,
        &args(
            &["secrets", "set", "OTHER"],
            &share_args(&[&shares[0], &copy]),
        ),
        "value",
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        std::fs::read(p.path("secrets.oss.json")).unwrap(),
        vault_before
    );

    // The good ones (here through OSS_SHARES) open it.
    let joined = format!("{}:{}", name(&shares[2]), name(&shares[0]));
    p.set_env("OSS_SHARES", &joined);
    p.ok(&["plan"]);
}

/// A share the age CLI encrypted opens with `--identity` from age-keygen, and a share oss
/// encrypted opens with the age CLI into the same text a plain share holds.
#[test]
fn age_encrypted_shares_interoperate_with_the_age_cli() {
    need_age();
    let p = project(&cloud_strategy(1));
    let (key, public) = age_keygen(&p, "holder");
    let out = p.ok(&[
        "secrets",
        "init",
        "--shares",
        "2",
        "--threshold",
        "2",
        "--out",
        "mine",
        "--recipient",
        &public,
        "--recipient",
        &public,
    ]);
    let shares = listed_shares(&p, &out);
    let opened = Command::new("age")
        .args(["-d", "-i"])
        .arg(&key)
        .arg(&shares[0])
        .output()
        .unwrap();
    assert!(opened.status.success(), "{opened:?}");
    let plain = p.path("plain-1.txt");
    std::fs::write(&plain, &opened.stdout).unwrap();
    // The age CLI's output is a share as good as a plain share file.
    let mut given = share_args(&[&plain, &shares[1]]);
    given.extend(["--identity".into(), key.display().to_string()]);
    let (code, out, err) = run_with_stdin(
        &p,
        &args(&["secrets", "set", "CLOUD_KEY"], &given),
        CLOUD_KEY,
    );
    assert_eq!(code, 0, "{out}{err}");
    p.ok(&args(&["plan"], &given));
    // Binary (not armoured) age output from the CLI too.
    let binary = p.path("share-2.bin.age");
    let status = Command::new("age")
        .args(["-r", &public, "-o"])
        .arg(&binary)
        .arg(&plain)
        .status()
        .unwrap();
    assert!(status.success());
    let mut given = share_args(&[&binary, &shares[1]]);
    given.extend(["--identity".into(), key.display().to_string()]);
    p.ok(&args(&["plan"], &given));
    // A bad recipient is refused before any share file is written.
    let (code, _, err) = p.run(&[
        "--vault",
        "second.json",
        "secrets",
        "init",
        "--shares",
        "1",
        "--threshold",
        "1",
        "--out",
        "second",
        "--recipient",
        "age1notakey",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("The age recipient for share 1"), "{err}");
    assert!(!p.path("second").exists() && !p.path("second.json").exists());
}

/// `rekey` makes new shares (the old ones are refused by name) for the same secrets; `rotate`
/// seals every secret under a new data key and the shares still open it.
#[test]
fn rekey_retires_the_old_shares_and_rotate_keeps_them() {
    let p = project(&cloud_strategy(1));
    let old = vault_with_key(&p, 3, 2);
    let old_given = share_args(&[&old[0], &old[2]]);
    let out = p.ok(&args(
        &["secrets", "rekey", "--shares", "4", "--threshold", "3"],
        &old_given,
    ));
    let new = listed_shares(&p, &out);
    assert_eq!(new.len(), 4, "{out}");
    let err = fails(&p, &args(&["plan"], &old_given));
    assert!(
        err.contains(&format!(
            "Share {} was replaced by `oss secrets rekey`",
            old[0].display()
        )),
        "{err}"
    );
    let err = fails(&p, &args(&["plan"], &share_args(&[&new[0], &new[1]])));
    assert!(err.contains("2 of the 3 shares needed"), "{err}");
    let new_given = share_args(&[&new[3], &new[1], &new[0]]);
    p.ok(&args(&["plan"], &new_given));

    let before: Value =
        serde_json::from_str(&std::fs::read_to_string(p.path("secrets.oss.json")).unwrap())
            .unwrap();
    p.ok(&args(&["secrets", "rotate"], &new_given));
    let after: Value =
        serde_json::from_str(&std::fs::read_to_string(p.path("secrets.oss.json")).unwrap())
            .unwrap();
    assert_ne!(before["key_id"], after["key_id"]);
    assert_ne!(
        before["secrets"]["CLOUD_KEY"], after["secrets"]["CLOUD_KEY"],
        "sealed again"
    );
    assert_eq!(before["share_set"], after["share_set"]);
    // The same shares, the same value (the clouds accept it).
    p.ok(&args(&["plan"], &new_given));
}

/// `set` reads stdin only, `list` shows names, `rm` removes (an unknown name gets a
/// suggestion); a strategy naming a missing secret is located at the reference.
#[test]
fn secrets_commands_read_stdin_and_show_names_only() {
    let p = project(&cloud_strategy(1));
    let shares = vault_with_key(&p, 2, 2);
    let given = share_args(&[&shares[0], &shares[1]]);
    let (code, _, err) = run_with_stdin(
        &p,
        &args(&["secrets", "set", "DB_PASSWORD"], &given),
        "pw-one\r\n",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(p.ok(&["secrets", "list"]), "CLOUD_KEY\nDB_PASSWORD\n");
    let vault = std::fs::read_to_string(p.path("secrets.oss.json")).unwrap();
    assert!(!vault.contains("pw-one"));
    // The value never comes from the arguments.
    let (code, _, err) = p.run(&["secrets", "set", "X", "value"]);
    assert_eq!(code, 1, "{err}");
    let err = fails(&p, &["secrets", "rm", "DB_PASSWROD"]);
    assert!(err.contains("There is no secret DB_PASSWROD"), "{err}");
    assert!(err.contains("did you mean DB_PASSWORD"), "{err}");
    p.ok(&["secrets", "rm", "DB_PASSWORD"]);
    assert_eq!(p.ok(&["secrets", "list"]), "CLOUD_KEY\n");
    let err = fails(
        &p,
        &["secrets", "init", "--shares", "2", "--threshold", "2"],
    );
    assert!(err.contains("A vault exists already"), "{err}");
    let err = fails(
        &p,
        &[
            "--vault",
            "v2.json",
            "secrets",
            "init",
            "--shares",
            "2",
            "--threshold",
            "3",
        ],
    );
    assert!(
        err.contains("A threshold of 3 with 2 shares cannot work"),
        "{err}"
    );

    // A reference to a secret the vault lacks, located at the string that names it.
    let mut strategy = cloud_strategy(1);
    strategy["provider"]["options"][1]["sim"]["api_key"] = "secret.CLOUD_KY".into();
    p.write_strategy(&strategy);
    let err = fails(&p, &args(&["plan"], &given));
    assert!(err.contains("There is no secret CLOUD_KY"), "{err}");
    assert!(err.contains("/provider/options/1/sim/api_key"), "{err}");
    // And outside provider settings, refused like env.
    let mut strategy = cloud_strategy(1);
    strategy["description"] = "secret.CLOUD_KEY".into();
    p.write_strategy(&strategy);
    let err = fails(&p, &args(&["plan"], &given));
    assert!(
        err.contains("secret.CLOUD_KEY is used outside provider settings"),
        "{err}"
    );
}

/// Kills the agent when the test ends, however it ends.
struct Agent(i32);

impl Drop for Agent {
    fn drop(&mut self) {
        // SAFETY: kill on a pid this test started.
        unsafe {
            libc::kill(self.0, libc::SIGKILL);
        }
    }
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.split_whitespace().nth(2).is_none_or(|st| st != "Z"))
}

fn agent_pid(out: &str) -> i32 {
    out.split("(pid ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {out}"))
}

/// `oss unlock` once: later commands need no share; the agent's socket is 0600 in a 0700
/// directory, the key is in neither its arguments nor its environment; `oss lock` ends it,
/// and so does its TTL.
#[test]
fn the_unlock_agent_serves_until_lock_or_ttl() {
    use std::os::unix::fs::PermissionsExt;
    let p = project(&cloud_strategy(1));
    let shares = vault_with_key(&p, 3, 2);
    let given = share_args(&[&shares[2], &shares[1]]);
    let out = p.ok(&args(&["unlock", "--ttl", "60s"], &given));
    let agent = Agent(agent_pid(&out));
    assert!(alive(agent.0), "{out}");
    let dir = p.path("agents");
    let socket = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "sock"))
        .expect("the agent's socket");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&socket), 0o600);
    assert_eq!(mode(&dir), 0o700);
    // A second unlock is refused while the agent runs.
    let err = fails(&p, &args(&["unlock"], &given));
    assert!(err.contains("running already"), "{err}");

    // No share given, and it works (even a write).
    p.ok(&["plan"]);
    let (code, _, err) = run_with_stdin(&p, &["secrets", "set", "EXTRA"], "x1");
    assert_eq!(code, 0, "{err}");
    // Rekey and rotate need the shares, not the agent.
    let err = fails(&p, &["secrets", "rotate"]);
    assert!(err.contains("0 of the 2 shares needed"), "{err}");

    // Its arguments and environment hold no share and no secret.
    for file in ["cmdline", "environ"] {
        let bytes = std::fs::read(format!("/proc/{}/{file}", agent.0)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(CLOUD_KEY), "{file}");
        assert!(!text.contains("oss-share1"), "{file}");
    }

    let out = p.ok(&["lock"]);
    assert!(out.contains("its unlock agent ended"), "{out}");
    assert!(common::wait_until(Duration::from_secs(5), || !alive(
        agent.0
    )));
    assert!(!socket.exists());
    let err = fails(&p, &["plan"]);
    assert!(err.contains("0 of the 2 shares needed"), "{err}");
    assert!(p.ok(&["lock"]).contains("No unlock agent runs"));

    // The TTL ends it too.
    let out = p.ok(&args(&["unlock", "--ttl", "1s"], &given));
    let agent = Agent(agent_pid(&out));
    assert!(alive(agent.0));
    assert!(common::wait_until(Duration::from_secs(10), || !alive(
        agent.0
    )));
    assert!(!socket.exists());
}

/// The agent keeps the state keys the `passphrase` key provider derived: the first command
/// derives (PBKDF2) and hands the key over, each later one is served it from memory, and a
/// different passphrase names another slot, so the agent gives it nothing and the state stays
/// shut. `oss lock` says how many keys it served.
#[test]
fn the_unlock_agent_keeps_passphrase_derived_state_keys() {
    let mut strategy = cloud_strategy(1);
    strategy["state"] = serde_json::json!({"encryption": {
        "key_provider": {"passphrase": {"passphrase": "env.OSS_STATE_PASS", "iterations": 600000}},
        "method": "aes_gcm"
    }});
    let p = project(&strategy);
    p.set_env("OSS_STATE_PASS", "agent-kept-passphrase-1");
    let shares = vault_with_key(&p, 3, 2);
    let given = share_args(&[&shares[0], &shares[1]]);
    let out = p.ok(&args(&["unlock", "--ttl", "60s"], &given));
    let _agent = Agent(agent_pid(&out));

    p.ok(&["apply", "--auto-approve"]);
    p.ok(&["plan"]);
    p.ok(&["plan"]);
    p.set_env("OSS_STATE_PASS", "another-passphrase-2");
    let err = fails(&p, &["plan"]);
    assert!(
        err.contains("does not open it (a wrong passphrase"),
        "{err}"
    );
    assert!(!err.contains("another-passphrase-2"), "{err}");

    // A new state (another strategy name) takes the salt the agent kept for this passphrase,
    // and so the key derived over it: nothing to derive again.
    p.set_env("OSS_STATE_PASS", "agent-kept-passphrase-1");
    let mut second = strategy.clone();
    second["name"] = "second-fleet".into();
    std::fs::write(
        p.path("strategy.json"),
        serde_json::to_string_pretty(&second).unwrap(),
    )
    .unwrap();
    p.ok(&["apply", "--auto-approve"]);
    let salts = salts_in(&p.path("state"));
    assert_eq!(salts.len(), 1, "one salt in both states: {salts:?}");

    let out = p.ok(&["lock"]);
    assert!(
        out.contains("it served 4 passphrase-derived state keys from memory"),
        "the apply derived the key, each plan was served it, the other passphrase nothing, \
         the second state its salt and key:\n{out}"
    );
}

/// Every distinct `"salt"` in the state files under `dir` (versions and journals).
fn salts_in(dir: &Path) -> std::collections::BTreeSet<String> {
    let mut salts = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for part in text.split("\"salt\":").skip(1) {
            let value = part.trim_start().trim_start_matches('"');
            salts.insert(value.split('"').next().unwrap().to_string());
        }
    }
    salts
}

/// At a terminal (a pseudo-terminal from util-linux's `script`), shares are asked for one at
/// a time with progress, without echo, as when unsealing Vault; a path to a share file works
/// as well as its text.
#[test]
fn shares_are_entered_at_a_terminal_one_at_a_time() {
    use std::io::{Read, Write};
    assert!(
        Path::new("/usr/bin/script").exists(),
        "the test needs script(1) from util-linux (Debian's bsdutils)"
    );
    let p = project(&cloud_strategy(1));
    let shares = vault_with_key(&p, 3, 2);
    let oss = p.oss();
    let mut command = Command::new("script");
    command
        .args(["-qec"])
        .arg(format!("{} plan", oss.get_program().to_str().unwrap()))
        .arg("/dev/null")
        .current_dir(p.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in oss.get_envs() {
        match value {
            Some(v) => command.env(name, v),
            None => command.env_remove(name),
        };
    }
    let mut child = command.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let mut wait_for = |text: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !seen.contains(text) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(bytes) => seen.push_str(&String::from_utf8_lossy(&bytes)),
                Err(_) => panic!("no {text:?} in:\n{seen}"),
            }
        }
        seen.clone()
    };
    wait_for("Share 1 of 2");
    let share_text = std::fs::read_to_string(&shares[2]).unwrap();
    let line = share_text.lines().last().unwrap().to_string();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{line}").unwrap();
    wait_for("Share 2 of 2");
    writeln!(stdin, "{}", shares[0].display()).unwrap();
    let seen = wait_for("Plan:");
    let _ = child.wait();
    assert!(seen.contains("1 of 2 shares given."), "{seen}");
    assert!(!seen.contains(&line), "the share was echoed:\n{seen}");
    assert!(!seen.contains(CLOUD_KEY), "{seen}");
}

/// The state backend's URL (with its password) from the vault: `"url": "secret.PG_URL"`
/// against the real PostgreSQL that scripts/test.sh starts; the URL is in no output and the
/// state's row holds no trace of it.
#[test]
fn a_state_backend_url_comes_from_the_vault() {
    let url = std::env::var("OSS_TEST_PG_URL").unwrap_or_else(|_| {
        panic!("OSS_TEST_PG_URL is not set: run the tests with `bash scripts/test.sh`, which starts a throwaway PostgreSQL")
    });
    let mut strategy = cloud_strategy(1);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    strategy["name"] = format!("vault-pg-{nanos:08x}-{}", std::process::id()).into();
    strategy["state"] = serde_json::json!({"backend": "postgres", "url": "secret.PG_URL"});
    let p = project(&strategy);
    let shares = vault_with_key(&p, 2, 2);
    let given = share_args(&[&shares[0], &shares[1]]);
    let (code, out, err) = run_with_stdin(&p, &args(&["secrets", "set", "PG_URL"], &given), &url);
    assert_eq!(code, 0, "{out}{err}");
    let out = p.ok(&args(&["apply", "--auto-approve"], &given));
    assert!(!out.contains(&url), "{out}");
    let pulled = p.ok(&args(&["state", "pull"], &given));
    assert!(pulled.contains("\"serial\""), "{pulled}");
    assert!(
        !pulled.contains(&url) && !pulled.contains(CLOUD_KEY),
        "{pulled}"
    );
    assert!(
        !p.path("state/cheapest.state.json").exists(),
        "the state is in PostgreSQL"
    );
    // Without the shares the backend cannot even be found: refused before any connection.
    let err = fails(&p, &["state", "list"]);
    assert!(err.contains("0 of the 2 shares needed"), "{err}");
    assert!(!err.contains(&url), "{err}");
    p.ok(&args(&["destroy", "--auto-approve"], &given));
}
