//! State backends with real PostgreSQL (started by scripts/test.sh): a full cycle, push and
//! version checks, migration byte for byte, 8 concurrent applies for 20 rounds per backend
//! (exactly one applies each round, no lost update), and kill -9 of an apply holding the
//! PostgreSQL lock (released by PostgreSQL itself; the next apply adopts what was created).

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Project;
use serde_json::{Value, json};

fn pg_url() -> String {
    std::env::var("OSS_TEST_PG_URL").unwrap_or_else(|_| {
        panic!("OSS_TEST_PG_URL is not set: run the tests with `bash scripts/test.sh`, which starts a throwaway PostgreSQL")
    })
}

/// A strategy on one simulated provider, with a name of its own (tests share the database).
fn strategy(name: &str, latency_ms: u64, count: usize) -> Value {
    let catalog = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/sim/cloud-b.json");
    json!({
        "name": format!("{name}-{:08x}", rand_u32()),
        "default_pick": "cheapest",
        "provider": {"options": [{"sim": {"name": "cloud-b", "catalog": catalog, "latency_ms": latency_ms}}]},
        "node": {
            "name": "app", "count": count,
            "image": {"options": [{"os": "ubuntu"}]},
            "hardware": {"options": [{"min_vcpus": 2}]},
            "location": {"options": [{"country": "AU"}]},
            "tags": {"round": "0"}
        }
    })
}

fn rand_u32() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    nanos ^ std::process::id().rotate_left(16)
}

fn postgres(mut s: Value) -> Value {
    s["state"] = json!({"backend": "postgres", "url": "env.OSS_TEST_PG_URL"});
    s
}

#[test]
fn postgres_full_cycle_versions_and_push_checks() {
    let _ = pg_url();
    let s = postgres(strategy("cycle", 0, 3));
    let name = s["name"].as_str().unwrap().to_string();
    let p = Project::with_strategy(&s);
    p.ok(&["apply", "--auto-approve"]);
    assert!(
        !p.path(&format!("state/{name}.state.json")).exists(),
        "state went to PostgreSQL, not files"
    );
    let (code, out, _) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}");
    let versions: Value = serde_json::from_str(&p.ok(&["state", "versions", "--json"])).unwrap();
    let serials: Vec<u64> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["serial"].as_u64().unwrap())
        .collect();
    assert!(
        serials.len() >= 2 && serials.windows(2).all(|w| w[0] < w[1]),
        "{serials:?}"
    );

    // Pull, then pushing the same serial again is refused; an older version needs --force.
    let latest = p.ok(&["state", "pull"]);
    std::fs::write(p.path("latest.json"), &latest).unwrap();
    let (code, _, err) = p.run(&["state", "push", "latest.json"]);
    assert_eq!(code, 1);
    assert!(err.contains("not newer than the stored serial"), "{err}");
    let first = p.ok(&["state", "pull", "--serial", &serials[0].to_string()]);
    std::fs::write(p.path("first.json"), &first).unwrap();
    let mut other: Value = serde_json::from_str(&latest).unwrap();
    other["lineage"] = "00000000-0000-4000-8000-000000000000".into();
    other["serial"] = 99.into();
    std::fs::write(
        p.path("other.json"),
        serde_json::to_string_pretty(&other).unwrap(),
    )
    .unwrap();
    let (code, _, err) = p.run(&["state", "push", "other.json"]);
    assert_eq!(code, 1);
    assert!(err.contains("lineage"), "{err}");
    // Restoring an earlier version is a forced push: it becomes the next version.
    let out = p.ok(&["state", "push", "first.json", "--force"]);
    assert!(
        out.contains(&format!("Pushed serial {}", serials.last().unwrap() + 1)),
        "{out}"
    );
    p.ok(&["destroy", "--auto-approve"]);
}

#[test]
fn migrate_local_to_postgres_and_back_byte_for_byte() {
    let url = pg_url();
    let s = strategy("migrate", 0, 2);
    let p = Project::with_strategy(&s);
    p.ok(&["apply", "--auto-approve"]);
    let original = p.ok(&["state", "pull"]);
    let out = p
        .oss()
        .args(["state", "migrate", "--to", "postgres"])
        .env("OSS_MIGRATE_TO_URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("verified. The source is unchanged."),
        "{said}"
    );
    let from_pg = p
        .oss()
        .args([
            "state",
            "pull",
            "--backend",
            "postgres",
            "--backend-url",
            &url,
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&from_pg.stdout), original);
    assert_eq!(
        p.ok(&["state", "pull"]),
        original,
        "the source is still readable"
    );
    // And back, into a fresh directory.
    let out = p
        .oss()
        .args([
            "state",
            "migrate",
            "--backend",
            "postgres",
            "--backend-url",
            &url,
            "--to",
            "local",
            "--to-state-dir",
            "back",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let back = std::fs::read_to_string(
        p.path(&format!("back/{}.state.json", s["name"].as_str().unwrap())),
    )
    .unwrap();
    assert_eq!(back, original);
    p.ok(&["destroy", "--auto-approve"]);
}

/// 8 processes apply the same fleet at once, 20 rounds, each round with a new tag value.
fn concurrent_rounds(s: Value) {
    let mut s = s;
    let p = Project::with_strategy(&s);
    p.ok(&["apply", "--auto-approve"]);
    let mut last_serial = 0;
    for round in 1..=20 {
        s["node"]["tags"]["round"] = round.to_string().into();
        p.write_strategy(&s);
        let children: Vec<_> = (0..8)
            .map(|i| {
                let mut cmd = p.oss();
                cmd.args(["apply", "--auto-approve"]);
                if i % 2 == 1 {
                    cmd.args(["--lock-timeout", "60s"]); // waiters see no changes after
                }
                cmd.stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut applied = 0;
        for child in children {
            let out = child.wait_with_output().unwrap();
            let (stdout, stderr) = (
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            );
            if out.status.success() {
                if stdout.contains("Apply complete") {
                    applied += 1;
                } else {
                    assert!(stdout.contains("No changes."), "round {round}: {stdout}");
                }
            } else {
                assert!(
                    stderr.contains("State is locked by") && stderr.contains("for `apply`"),
                    "round {round}: {stderr}"
                );
            }
        }
        assert_eq!(applied, 1, "round {round}: exactly one process applies");
        let versions: Value =
            serde_json::from_str(&p.ok(&["state", "versions", "--json"])).unwrap();
        let serial = versions.as_array().unwrap().last().unwrap()["serial"]
            .as_u64()
            .unwrap();
        assert!(
            serial > last_serial,
            "round {round}: serial {serial} after {last_serial}"
        );
        last_serial = serial;
        // No lost update: every node carries this round's tag.
        let state: Value = serde_json::from_str(&p.ok(&["state", "pull"])).unwrap();
        for r in state["resources"].as_array().unwrap() {
            assert_eq!(
                r["attributes"]["tags"]["round"],
                round.to_string(),
                "round {round}"
            );
        }
    }
    p.ok(&["destroy", "--auto-approve"]);
}

#[test]
fn eight_concurrent_applies_for_twenty_rounds_on_postgres() {
    let _ = pg_url();
    concurrent_rounds(postgres(strategy("rounds-pg", 40, 2)));
}

#[test]
fn eight_concurrent_applies_for_twenty_rounds_on_local_files() {
    concurrent_rounds(strategy("rounds-local", 40, 2));
}

#[test]
fn kill_9_of_an_apply_frees_the_postgres_lock_and_the_next_apply_adopts() {
    let _ = pg_url();
    let s = postgres(strategy("kill", 300, 4));
    let name = s["name"].as_str().unwrap().to_string();
    let p = Project::with_strategy(&s);
    let mut child = p
        .oss()
        .args(["apply", "--auto-approve", "--parallelism", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until it holds the lock, then kill it mid-apply. The probe must not compete for the
    // lock: force-unlock with a wrong id only reports the holder and never removes it.
    let started = Instant::now();
    loop {
        let (_, _, err) = p.run(&["force-unlock", "not-the-id"]);
        if err.contains("does not match the lock held by") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the apply never took the lock: {err}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(700));
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();

    // PostgreSQL ended the dead session's lock: no force-unlock needed, and nobody is
    // reported as holding it.
    let (code, _, err) = p.run(&["force-unlock", "not-the-id"]);
    assert_eq!(code, 1);
    assert!(err.contains("State is not locked"), "{err}");
    p.ok(&["apply", "--auto-approve", "--lock-timeout", "10s"]);
    let sim = p.path("state/sim/cloud-b.json");
    let instances = oss::driver::sim::instances(&sim).unwrap();
    let nodes: Vec<_> = instances
        .iter()
        .filter(|i| i.kind == oss::resource::Kind::Node)
        .collect();
    assert_eq!(nodes.len(), 4, "every node once: {nodes:?}");
    let state: Value = serde_json::from_str(&p.ok(&["state", "pull"])).unwrap();
    assert_eq!(state["resources"].as_array().unwrap().len(), 4);
    assert_eq!(state["strategy"], name);
    p.ok(&["destroy", "--auto-approve"]);
}

#[test]
fn an_unreachable_database_is_a_clear_error_without_the_password() {
    let s = json!({"state": {"backend": "postgres", "url": "postgres://oss:hunter2-secret@127.0.0.1:1/postgres"}});
    let mut full = strategy("down", 0, 1);
    full["state"] = s["state"].clone();
    let p = Project::with_strategy(&full);
    let (code, out, err) = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot connect"), "{err}");
    assert!(
        err.contains("postgres://oss:***@127.0.0.1:1/postgres"),
        "{err}"
    );
    assert!(
        !format!("{out}{err}").contains("hunter2"),
        "the password leaked: {err}"
    );
    assert!(!p.path("state/sim").exists(), "nothing was created");
}
