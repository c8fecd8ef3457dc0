//! State backends with real PostgreSQL (started by scripts/test.sh) and S3 on the moto server
//! (each test starts its own): a full cycle, push and version checks, migration local →
//! postgres → s3 → local byte for byte, 8 concurrent applies for 20 rounds per backend
//! (exactly one applies each round, no lost update), kill -9 of an apply holding the lock
//! (PostgreSQL releases it itself; S3's is reported stale with its holder until
//! force-unlock), and clear errors for stores that cannot be used.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Project;
use common::moto::Moto;
use serde_json::{Value, json};

/// The keys oss and boto3 sign with (moto accepts any).
const AWS_ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "AKIDSTATETEST"),
    ("AWS_SECRET_ACCESS_KEY", "state-test-secret-value"),
    ("AWS_PROFILE", ""),
];

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

/// Local files keep two versions (the state and its backup); a forced push of the older one
/// becomes the next serial there too, not a step back.
#[test]
fn local_full_cycle_versions_and_push_checks() {
    full_cycle(&Project::with_strategy(&strategy("cycle-local", 0, 3)));
}

#[test]
fn postgres_full_cycle_versions_and_push_checks() {
    let _ = pg_url();
    full_cycle(&Project::with_strategy(&postgres(strategy("cycle", 0, 3))));
}

#[test]
fn s3_full_cycle_versions_and_push_checks() {
    let store = S3Store::start(false);
    let p = store.project(strategy("cycle", 0, 3));
    full_cycle(&p);
    // What S3 holds: one version per state write, each with its serial; no lock left behind.
    let listed = store.boto(&format!(
        "vs = s3.list_object_versions(Bucket={bucket:?})\n\
         out = {{'lock': [], 'state': []}}\n\
         for v in vs.get('Versions', []):\n\
         \x20   if v['Key'].endswith('.lock'):\n\
         \x20       out['lock'].append(v['Key'])\n\
         \x20   elif v['Key'].endswith('.state.json'):\n\
         \x20       h = s3.head_object(Bucket={bucket:?}, Key=v['Key'], VersionId=v['VersionId'])\n\
         \x20       out['state'].append(int(h['Metadata']['oss-serial']))\n\
         print(json.dumps(out))\n",
        bucket = store.bucket
    ));
    assert_eq!(listed["lock"], json!([]), "locks are removed when released");
    let mut serials: Vec<u64> = listed["state"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    serials.sort();
    assert!(serials.len() >= 4, "{serials:?}");
    serials.dedup();
    assert_eq!(
        serials.len(),
        listed["state"].as_array().unwrap().len(),
        "a version per serial"
    );
}

/// Apply, versions, pull, push checks, restoring an earlier version, destroy: on whatever
/// backend the project's strategy names.
fn full_cycle(p: &Project) {
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(p.path("strategy.json")).unwrap()).unwrap();
    let name = s["name"].as_str().unwrap().to_string();
    p.ok(&["apply", "--auto-approve"]);
    assert_eq!(
        p.path(&format!("state/{name}.state.json")).exists(),
        s.get("state").is_none(),
        "state went to the backend the strategy names"
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
fn migrate_local_to_postgres_to_s3_and_back_byte_for_byte() {
    let pg = pg_url();
    let store = S3Store::start(false);
    let s3 = store.url("migrated");
    let p = store.project(strategy("migrate", 0, 2));
    // The project starts on local files.
    let mut s: Value =
        serde_json::from_str(&std::fs::read_to_string(p.path("strategy.json")).unwrap()).unwrap();
    s.as_object_mut().unwrap().remove("state");
    p.write_strategy(&s);
    p.ok(&["apply", "--auto-approve"]);
    let original = p.ok(&["state", "pull"]);
    let on = |backend: &str, url: &str| -> Vec<String> {
        vec![
            "--backend".into(),
            backend.into(),
            "--backend-url".into(),
            url.into(),
        ]
    };
    let migrate = |from: Vec<String>, to: &[&str]| {
        let out = p
            .oss()
            .args(["state", "migrate"])
            .args(&from)
            .args(to)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "migrate {from:?} → {to:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains("verified. The source is unchanged."),
            "{said}"
        );
    };
    let pull = |from: Vec<String>| {
        let out = p
            .oss()
            .args(["state", "pull"])
            .args(&from)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };

    migrate(vec![], &["--to", "postgres", "--to-url", &pg]);
    assert_eq!(pull(on("postgres", &pg)), original);
    assert_eq!(
        p.ok(&["state", "pull"]),
        original,
        "the source is still readable"
    );

    migrate(on("postgres", &pg), &["--to", "s3", "--to-url", &s3]);
    assert_eq!(pull(on("s3", &s3)), original);
    assert_eq!(
        pull(on("postgres", &pg)),
        original,
        "the source is still readable"
    );

    migrate(on("s3", &s3), &["--to", "local", "--to-state-dir", "back"]);
    let back = std::fs::read_to_string(
        p.path(&format!("back/{}.state.json", s["name"].as_str().unwrap())),
    )
    .unwrap();
    assert_eq!(back, original);
    assert_eq!(
        pull(on("s3", &s3)),
        original,
        "the source is still readable"
    );
    p.ok(&["destroy", "--auto-approve"]);
}

/// 8 processes apply the same fleet at once, 20 rounds, each round with a new tag value.
fn concurrent_rounds(p: &Project) {
    let mut s: Value =
        serde_json::from_str(&std::fs::read_to_string(p.path("strategy.json")).unwrap()).unwrap();
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
    concurrent_rounds(&Project::with_strategy(&postgres(strategy(
        "rounds-pg",
        40,
        2,
    ))));
}

#[test]
fn eight_concurrent_applies_for_twenty_rounds_on_local_files() {
    concurrent_rounds(&Project::with_strategy(&strategy("rounds-local", 40, 2)));
}

#[test]
fn eight_concurrent_applies_for_twenty_rounds_on_s3() {
    let store = S3Store::start(false);
    concurrent_rounds(&store.project(strategy("rounds-s3", 40, 2)));
}

#[test]
fn eight_concurrent_applies_for_twenty_rounds_on_s3_with_a_dynamodb_lock_table() {
    let store = S3Store::start(true);
    concurrent_rounds(&store.project(strategy("rounds-ddb", 40, 2)));
}

#[test]
fn kill_9_of_an_apply_frees_the_postgres_lock_and_the_next_apply_adopts() {
    let _ = pg_url();
    let p = Project::with_strategy(&postgres(strategy("kill", 300, 4)));
    kill_9_while_applying(&p, 4);

    // PostgreSQL ended the dead session's lock: no force-unlock needed, and nobody is
    // reported as holding it.
    let (code, _, err) = p.run(&["force-unlock", "not-the-id"]);
    assert_eq!(code, 1);
    assert!(err.contains("State is not locked"), "{err}");
    next_apply_adopts(&p, 4);
}

#[test]
fn kill_9_of_an_apply_leaves_the_s3_lock_reported_stale_until_force_unlock() {
    let store = S3Store::start(false);
    let p = store.project(strategy("kill-s3", 300, 4));
    kill_9_while_applying(&p, 4);
    stale_lock_then_force_unlock(&p);
    next_apply_adopts(&p, 4);
}

#[test]
fn kill_9_with_a_dynamodb_lock_table_is_reported_stale_until_force_unlock() {
    let store = S3Store::start(true);
    let p = store.project(strategy("kill-ddb", 300, 3));
    kill_9_while_applying(&p, 3);
    stale_lock_then_force_unlock(&p);
    next_apply_adopts(&p, 3);
}

/// The dead holder's lock stays: the next apply names it as stale with the command that
/// removes it; that command (with the id from the message) clears it.
fn stale_lock_then_force_unlock(p: &Project) {
    let (code, _, err) = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("State is locked by") && err.contains("no longer running"),
        "{err}"
    );
    assert!(err.contains("for `apply`"), "{err}");
    let id = err
        .split("oss force-unlock ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("no force-unlock command in: {err}"))
        .to_string();
    let (code, _, err) = p.run(&["force-unlock", "0000000000000000"]);
    assert_eq!(code, 1);
    assert!(err.contains("does not match the lock held by"), "{err}");
    p.ok(&["force-unlock", &id]);
    let (code, _, err) = p.run(&["force-unlock", &id]);
    assert_eq!(code, 1);
    assert!(err.contains("State is not locked"), "{err}");
}

/// The nodes the backend's state records (the journal of an unfinished apply folded in).
fn recorded_nodes(p: &Project) -> usize {
    p.ok(&["state", "list"])
        .lines()
        .filter(|l| l.starts_with("node."))
        .count()
}

/// Starts a slow apply of `count` nodes, waits until it holds the lock and has recorded at
/// least one created node, and kills it with SIGKILL; then checks that the kill landed mid-apply
/// (some nodes recorded, not all), so that what follows really tests recovery.
fn kill_9_while_applying(p: &Project, count: usize) {
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
    while recorded_nodes(p) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the apply never recorded a created node"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let recorded = recorded_nodes(p);
    assert!(
        (1..count).contains(&recorded),
        "the kill must land mid-apply: {recorded} of {count} nodes recorded"
    );
}

/// The next apply finishes the fleet: every node exists once, in the state and at the
/// (simulated) provider.
fn next_apply_adopts(p: &Project, count: usize) {
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(p.path("strategy.json")).unwrap()).unwrap();
    let name = s["name"].as_str().unwrap().to_string();
    p.ok(&["apply", "--auto-approve", "--lock-timeout", "10s"]);
    let sim = p.path("state/sim/cloud-b.json");
    let instances = oss::driver::sim::instances(&sim).unwrap();
    let nodes: Vec<_> = instances
        .iter()
        .filter(|i| i.kind == oss::resource::Kind::Node)
        .collect();
    assert_eq!(nodes.len(), count, "every node once: {nodes:?}");
    let state: Value = serde_json::from_str(&p.ok(&["state", "pull"])).unwrap();
    assert_eq!(state["resources"].as_array().unwrap().len(), count);
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

#[test]
fn s3_stores_that_cannot_be_used_are_clear_errors_that_change_nothing() {
    let store = S3Store::start(false);
    let secret = AWS_ENV[1].1;
    let check = |p: &Project, needle: &str| {
        let (code, out, err) = p.run(&["apply", "--auto-approve"]);
        assert_eq!(code, 1, "{out}{err}");
        assert!(err.contains(needle), "expected {needle:?} in: {err}");
        assert!(
            !format!("{out}{err}").contains(secret),
            "the secret key leaked: {err}"
        );
        assert!(!p.path("state/sim").exists(), "nothing was created");
    };
    // Nothing listens there.
    let mut s = strategy("down", 0, 1);
    s["state"] = json!({"backend": "s3", "url": "s3://oss-state/x?endpoint=http://127.0.0.1:1&region=us-east-1"});
    let p = Project::with_strategy(&s);
    for (k, v) in AWS_ENV {
        p.set_env(k, v);
    }
    check(&p, "cannot reach S3");
    // No such bucket.
    let mut s = strategy("nobucket", 0, 1);
    s["state"] = json!({"backend": "s3", "url": store.url("x").replace(&store.bucket, "oss-no-such-bucket")});
    let p = store.project(s);
    check(&p, "NoSuchBucket");
    // A bucket that keeps no versions.
    store.boto("s3.create_bucket(Bucket='oss-unversioned')\nprint('null')\n");
    let mut s = strategy("unversioned", 0, 1);
    s["state"] =
        json!({"backend": "s3", "url": store.url("x").replace(&store.bucket, "oss-unversioned")});
    let p = store.project(s);
    check(&p, "does not keep versions");
    // A lock table that does not exist.
    let p = store.project(strategy("notable", 0, 1));
    let mut s: Value =
        serde_json::from_str(&std::fs::read_to_string(p.path("strategy.json")).unwrap()).unwrap();
    s["state"]["url"] = format!("{}&lock_table=oss-missing", store.url("x")).into();
    p.write_strategy(&s);
    check(&p, "cannot use the lock table `oss-missing`");
    // No credentials anywhere.
    let p = store.project(strategy("nokeys", 0, 1));
    p.set_env("AWS_ACCESS_KEY_ID", "");
    p.set_env("AWS_SECRET_ACCESS_KEY", "");
    p.set_env("HOME", p.path("").to_str().unwrap());
    check(&p, "no AWS credentials");
}

#[test]
fn a_stale_s3_read_is_refused_by_the_lock_tables_digest() {
    let store = S3Store::start(true);
    let s = strategy("digest", 0, 2);
    let name = s["name"].as_str().unwrap().to_string();
    let p = store.project(s);
    p.ok(&["apply", "--auto-approve"]);
    // Sets the digest item to `digest` (a Python expression; `body` is the stored state).
    let set_digest = |digest: &str| {
        store.boto(&format!(
            "import hashlib\n\
             d = session.client('dynamodb', endpoint_url={url:?})\n\
             items = d.scan(TableName='oss-locks')['Items']\n\
             ids = [i['LockID']['S'] for i in items if i['LockID']['S'].endswith('-md5')]\n\
             body = s3.get_object(Bucket={bucket:?}, Key='fleets/{name}.state.json')['Body'].read()\n\
             d.put_item(TableName='oss-locks', Item={{'LockID': {{'S': ids[0]}}, 'Digest': {{'S': {digest}}}}})\n\
             print(json.dumps(ids))\n",
            url = store.moto.url(),
            bucket = store.bucket,
            name = name,
        ))
    };
    // The table says the latest write had another MD5: what S3 serves now is stale.
    let ids = set_digest("'0123456789abcdef0123456789abcdef'");
    assert_eq!(ids.as_array().unwrap().len(), 1, "{ids}");
    let before = store.boto(&format!(
        "print(json.dumps(len(s3.list_object_versions(Bucket={:?})['Versions'])))\n",
        store.bucket
    ));
    let (code, _, err) = p.run(&["apply", "--auto-approve"]);
    assert_eq!(code, 1);
    assert!(err.contains("a stale read"), "{err}");
    assert!(err.contains("0123456789abcdef0123456789abcdef"), "{err}");
    let after = store.boto(&format!(
        "print(json.dumps(len(s3.list_object_versions(Bucket={:?})['Versions'])))\n",
        store.bucket
    ));
    assert_eq!(before, after, "nothing was written");
    // With the digest of what is stored, it reads again.
    set_digest("hashlib.md5(body).hexdigest()");
    let (code, out, err) = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}{err}");
}

/// A journal object S3 will not serve (here: moved to Glacier, so GET answers 403
/// InvalidObjectState, however often it is retried) between two readable ones: the load fails
/// naming it, and nothing is folded around the hole or written.
#[test]
fn an_unreadable_s3_journal_object_fails_the_load_instead_of_being_skipped() {
    let store = S3Store::start(false);
    let s = strategy("hole", 0, 3);
    let name = s["name"].as_str().unwrap().to_string();
    let p = store.project(s);
    p.ok(&["apply", "--auto-approve"]);
    assert_eq!(recorded_nodes(&p), 3);
    // Three journal objects continuing the stored state, as an apply that died would leave
    // them: each deletes one node; the middle one cannot be read.
    let out = store.boto(&format!(
        "key = 'fleets/{name}.state.json'\n\
         state = json.loads(s3.get_object(Bucket={bucket:?}, Key=key)['Body'].read())\n\
         prefix = '%s.journal/%s-%d/' % (key, state['lineage'], state['serial'])\n\
         for seq, (index, storage) in enumerate([(0, 'STANDARD'), (1, 'GLACIER'), (2, 'STANDARD')]):\n\
         \x20   body = json.dumps({{'delete': 'node.app[%d]' % index}}) + '\\n'\n\
         \x20   s3.put_object(Bucket={bucket:?}, Key='%s%010d' % (prefix, seq), Body=body.encode(), StorageClass=storage)\n\
         try:\n\
         \x20   s3.get_object(Bucket={bucket:?}, Key='%s%010d' % (prefix, 1))\n\
         \x20   served = True\n\
         except Exception:\n\
         \x20   served = False\n\
         versions = len(s3.list_object_versions(Bucket={bucket:?}, Prefix=key)['Versions'])\n\
         print(json.dumps({{'served': served, 'hole': '%s%010d' % (prefix, 1), 'versions': versions}}))\n",
        bucket = store.bucket,
    ));
    assert_eq!(
        out["served"], false,
        "the middle object must be unreadable: {out}"
    );
    let hole = out["hole"].as_str().unwrap();
    for args in [&["state", "list"][..], &["apply", "--auto-approve"]] {
        let (code, stdout, err) = p.run(args);
        assert_eq!(code, 1, "{args:?}: {stdout}{err}");
        assert!(
            err.contains(&format!(
                "the apply journal object s3://{}/{hole} cannot be read",
                store.bucket
            )),
            "{args:?}: {err}"
        );
        assert!(err.contains("nothing was changed"), "{err}");
    }
    let versions = store.boto(&format!(
        "print(json.dumps(len(s3.list_object_versions(Bucket={bucket:?}, Prefix='fleets/{name}.state.json')['Versions'])))\n",
        bucket = store.bucket,
    ));
    assert_eq!(versions, out["versions"], "no state was written");
}

/// A state file naming a resource twice is refused where the second copy starts, before
/// anything runs.
#[test]
fn a_resource_listed_twice_in_a_state_file_is_refused_with_its_location() {
    let s = strategy("twice", 0, 2);
    let name = s["name"].as_str().unwrap().to_string();
    let p = Project::with_strategy(&s);
    p.ok(&["apply", "--auto-approve"]);
    let file = format!("state/{name}.state.json");
    let mut state: Value =
        serde_json::from_str(&std::fs::read_to_string(p.path(&file)).unwrap()).unwrap();
    let copy = state["resources"][0].clone();
    state["resources"].as_array_mut().unwrap().push(copy);
    let text = serde_json::to_string_pretty(&state).unwrap();
    std::fs::write(p.path(&file), &text).unwrap();
    // The third element of "resources" starts on the last line holding only "{".
    let lines: Vec<&str> = text.lines().collect();
    let line = lines.iter().rposition(|l| l.trim() == "{").unwrap() + 1;
    let (code, out, err) = p.run(&["plan"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!(
            "State file state/{name}.state.json:{line}:5 lists node.app[0] a second time (at /resources/2)"
        )),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(p.path(&file)).unwrap(),
        text,
        "nothing was changed"
    );
}

/// A moto server holding a versioned bucket for S3 state, and a DynamoDB lock table if asked.
struct S3Store {
    moto: Moto,
    bucket: String,
    lock_table: bool,
}

impl S3Store {
    fn start(lock_table: bool) -> Self {
        let store = S3Store {
            moto: Moto::start_serial(),
            bucket: "oss-team-state".into(),
            lock_table,
        };
        let mut script = format!(
            "s3.create_bucket(Bucket={b:?})\n\
             s3.put_bucket_versioning(Bucket={b:?}, VersioningConfiguration={{'Status': 'Enabled'}})\n",
            b = store.bucket
        );
        if lock_table {
            script.push_str(&format!(
                "d = session.client('dynamodb', endpoint_url={url:?})\n\
                 d.create_table(TableName='oss-locks', KeySchema=[{{'AttributeName': 'LockID', 'KeyType': 'HASH'}}], \
                 AttributeDefinitions=[{{'AttributeName': 'LockID', 'AttributeType': 'S'}}], BillingMode='PAY_PER_REQUEST')\n",
                url = store.moto.url()
            ));
        }
        script.push_str("print('null')\n");
        store.boto(&script);
        store
    }

    /// The backend URL for state under `prefix`.
    fn url(&self, prefix: &str) -> String {
        let mut url = format!(
            "s3://{}/{prefix}?region=us-east-1&endpoint={}",
            self.bucket,
            self.moto.url()
        );
        if self.lock_table {
            url.push_str("&lock_table=oss-locks");
        }
        url
    }

    /// A project keeping its state here (unless `s` names a state block), with keys to sign
    /// with.
    fn project(&self, mut s: Value) -> Project {
        if s.get("state").is_none() {
            s["state"] = json!({"backend": "s3", "url": self.url("fleets")});
        }
        let p = Project::with_strategy(&s);
        for (k, v) in AWS_ENV {
            p.set_env(k, v);
        }
        p
    }

    /// Runs a boto3 snippet with an `s3` client (and `session`) ready; returns its JSON.
    fn boto(&self, script: &str) -> Value {
        self.moto.boto(
            "us-east-1",
            (AWS_ENV[0].1, AWS_ENV[1].1),
            &format!(
                "s3 = session.client('s3', endpoint_url={:?})\n{script}",
                self.moto.url()
            ),
        )
    }
}
