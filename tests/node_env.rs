//! A node's environment, and the privacy of what a run leaves on disk (issue 12): a local
//! node's processes carry exactly their `OSS_NODE_*` variables and a minimal `PATH`, `HOME`,
//! `PWD` and `LANG`, never a variable of the shell that ran oss (cloud keys, the backend URL,
//! `env.` secrets); a saved plan is readable by its owner alone, whatever the umask.
//!
//! The environment scanner reads `/proc/PID/environ`; it is first shown to find a canary in
//! a process that does carry one, so the checks cannot pass by reading nothing.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{Project, http_get};
use serde_json::Value;

/// Secrets oss's own environment holds during the apply, one per way a secret gets there.
const CANARIES: [(&str, &str); 5] = [
    ("AWS_SECRET_ACCESS_KEY", "oss-canary-aws-secret-5e81c0"),
    ("AWS_ACCESS_KEY_ID", "AKIAOSSCANARY4D29B7"),
    (
        "OSS_BACKEND_URL",
        "postgres://oss:oss-canary-backend-a31f@127.0.0.1:1/oss",
    ),
    // Read by the strategy as `env.OSS_CANARY_STRATEGY_KEY` (the spare sim provider's key).
    ("OSS_CANARY_STRATEGY_KEY", "oss-canary-strategy-9c44d1"),
    // Named like a node variable, but oss's own: it must not pass as one.
    ("OSS_NODE_EXTRA", "oss-canary-node-prefix-07be"),
];

/// What a node's environment holds, by name.
const NODE_VARIABLES: [&str; 9] = [
    "HOME",
    "LANG",
    "OSS_NODE_ADDR",
    "OSS_NODE_DIR",
    "OSS_NODE_INDEX",
    "OSS_NODE_NAME",
    "OSS_NODE_PORT",
    "PATH",
    "PWD",
];

/// The sample (two nodes on the local provider, picked first), with a spare simulated cloud
/// behind it whose key comes from the environment: the strategy holds a resolved secret.
fn strategy() -> Value {
    let mut strategy: Value =
        serde_json::from_str(include_str!("../strategy.sample.json")).unwrap();
    strategy["node"]["count"] = 2.into();
    let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sim/cloud-a.json");
    let spare = serde_json::json!({"sim": {
        "name": "spare",
        "catalog": catalog.to_str().unwrap(),
        "latency_ms": 0,
        "api_key": "env.OSS_CANARY_STRATEGY_KEY",
    }});
    strategy["provider"]["options"]
        .as_array_mut()
        .unwrap()
        .push(spare);
    strategy
}

/// The environment of a live process, by name.
fn environ(pid: i32) -> BTreeMap<String, String> {
    let bytes = std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/environ: {e}"));
    bytes
        .split(|b| *b == 0)
        .filter(|var| !var.is_empty())
        .map(|var| {
            let var = String::from_utf8_lossy(var);
            let (name, value) = var.split_once('=').unwrap_or((&var, ""));
            (name.to_string(), value.to_string())
        })
        .collect()
}

/// The canary variables whose value shows anywhere in `env` (names or values).
fn leaks(env: &BTreeMap<String, String>) -> Vec<&'static str> {
    CANARIES
        .iter()
        .filter(|(_, canary)| {
            env.iter()
                .any(|(name, value)| name.contains(canary) || value.contains(canary))
        })
        .map(|(name, _)| *name)
        .collect()
}

/// Runs `oss ARGS` in the project with every canary in its environment; asserts success.
fn ok_with_canaries(p: &Project, args: &[&str]) -> String {
    let out = p
        .oss()
        .args(args)
        .envs(CANARIES)
        .env_remove("OSS_BACKEND")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "oss {args:?} failed:\n{text}");
    text
}

#[test]
fn the_scanner_finds_a_canary_in_a_process_environment() {
    // No shell in between: a second exec could be under way while the environment is read.
    let mut child = Command::new("sleep")
        .arg("300")
        .envs(CANARIES)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    // spawn returns while the kernel may still be laying out the new program's environment
    // (it reads as empty until then): wait for it to show.
    let mut env = environ(pid);
    for _ in 0..500 {
        if !env.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        env = environ(pid);
    }
    let found = leaks(&env);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(found, CANARIES.map(|(name, _)| name));
}

#[test]
fn a_local_node_carries_only_its_own_variables() {
    let p = Project::with_strategy(&strategy());
    ok_with_canaries(&p, &["apply", "--auto-approve"]);

    let state = p.state("hello");
    let resources = state["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 2, "{state}");
    // The nodes run on the minimal PATH: the sample's python3 server answers.
    for r in resources {
        let name = r["attributes"]["name"].as_str().unwrap();
        let body = http_get(r["observed"]["url"].as_str().unwrap());
        assert_eq!(body, format!("{name}\n"));
    }

    let processes = p.node_processes();
    assert_eq!(processes.len(), 2, "one process per node: {processes:?}");
    let allowed: BTreeSet<&str> = NODE_VARIABLES.into_iter().collect();
    for (pid, dir) in &processes {
        let env = environ(*pid);
        let names: BTreeSet<&str> = env.keys().map(String::as_str).collect();
        // Names only: the test's own environment is no business of its log.
        assert_eq!(names, allowed, "node process {pid} in {dir}");
        assert_eq!(leaks(&env), Vec::<&str>::new(), "node process {pid}");
        assert_eq!(env["HOME"], *dir, "a node's home is its own directory");
        assert_eq!(env["PWD"], *dir, "and its working directory");
        assert_eq!(env["OSS_NODE_DIR"], *dir);
        assert_eq!(env["PATH"], "/usr/local/bin:/usr/bin:/bin");
        assert_eq!(env["LANG"], "C.UTF-8");
    }

    ok_with_canaries(&p, &["destroy", "--auto-approve"]);
    assert_eq!(p.node_processes(), Vec::new());
}

/// Mode bits of `path`.
fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_saved_plan_is_private_whatever_the_umask() {
    let p = Project::sample(1);
    let run = |out: &str| {
        let mut command = p.oss();
        command.args(["plan", "--out", out]);
        // SAFETY: umask only sets the child's file-creation mask; it cannot fail.
        unsafe {
            command.pre_exec(|| {
                libc::umask(0);
                Ok(())
            });
        }
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };

    run("fresh.plan");
    assert_eq!(mode(&p.path("fresh.plan")), 0o600, "a new plan file");

    // An existing, world-readable file of that name is replaced by a private one.
    let old = p.path("old.plan");
    std::fs::write(&old, b"an older plan").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    run("old.plan");
    assert_eq!(mode(&old), 0o600, "a replaced plan file");
    let saved: Value = serde_json::from_slice(&std::fs::read(&old).unwrap()).unwrap();
    assert!(saved.is_object(), "the plan itself was written: {saved}");
    p.ok(&["show", "old.plan"]);
}
