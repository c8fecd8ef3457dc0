//! State encrypted at rest on every backend (local files, PostgreSQL from scripts/test.sh, S3
//! on a moto server each test starts), driven through the CLI as a user would: plaintext
//! state is refused by encryption settings without a fallback, migrated to encrypted through
//! `"fallback": {"method": "unencrypted"}`, rotated to a new passphrase with the old one as
//! the fallback, refused with a wrong passphrase or with no encryption settings (naming what
//! is missing), and migrated back to plaintext through a fallback. The stored bytes (as
//! `oss state pull` shows them, exactly as kept) never hold the passphrase, a state value
//! or a resource address while encrypted. Tampered local versions are refused.

mod common;

use std::path::PathBuf;

use common::Project;
use common::moto::Moto;
use serde_json::{Value, json};

const AWS_ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "AKIDENCTEST"),
    ("AWS_SECRET_ACCESS_KEY", "enc-test-secret-value"),
    ("AWS_PROFILE", ""),
];

/// The passphrases: canaries that must appear in no stored byte.
const PASS_A: &str = "canary-pass-a-5b1e7c";
const PASS_B: &str = "canary-pass-b-93d0aa";
/// A tag value: in the plaintext state, never in an encrypted one.
const MARKER: &str = "marker-tag-41c2e9";

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{name}-{:08x}", nanos ^ std::process::id().rotate_left(16))
}

/// A strategy on one simulated provider with `count` nodes and the state block `state`.
fn strategy(name: &str, count: usize, state: Value) -> Value {
    let catalog = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/sim/cloud-b.json");
    json!({
        "name": name,
        "default_pick": "cheapest",
        "state": state,
        "provider": {"options": [{"sim": {"name": "cloud-b", "catalog": catalog, "latency_ms": 0}}]},
        "node": {
            "name": "app", "count": count,
            "image": {"options": [{"os": "ubuntu"}]},
            "hardware": {"options": [{"min_vcpus": 2}]},
            "location": {"options": [{"country": "AU"}]},
            "tags": {"marker": MARKER}
        }
    })
}

fn passphrase(var: &str) -> Value {
    json!({"passphrase": {"passphrase": format!("env.{var}"), "iterations": 10000}})
}

/// One backend's `state` block without encryption, and the project to run in.
struct Where {
    base: Value,
    project: Project,
    _moto: Option<Moto>,
}

impl Where {
    fn local() -> Where {
        Where::new(json!({"backend": "local"}), None)
    }

    fn postgres() -> Where {
        let url = std::env::var("OSS_TEST_PG_URL").unwrap_or_else(|_| {
            panic!("OSS_TEST_PG_URL is not set: run the tests with `bash scripts/test.sh`, which starts a throwaway PostgreSQL")
        });
        let w = Where::new(
            json!({"backend": "postgres", "url": "env.OSS_TEST_PG_URL"}),
            None,
        );
        w.project.set_env("OSS_TEST_PG_URL", &url);
        w
    }

    fn s3() -> Where {
        let moto = Moto::start();
        let bucket = "oss-enc-state";
        moto.boto(
            "us-east-1",
            (AWS_ENV[0].1, AWS_ENV[1].1),
            &format!(
                "s3 = session.client('s3', endpoint_url={url:?})\n\
                 s3.create_bucket(Bucket={bucket:?})\n\
                 s3.put_bucket_versioning(Bucket={bucket:?}, VersioningConfiguration={{'Status': 'Enabled'}})\n\
                 print('null')\n",
                url = moto.url()
            ),
        );
        let url = format!(
            "s3://{bucket}/fleets?region=us-east-1&endpoint={}",
            moto.url()
        );
        let w = Where::new(json!({"backend": "s3", "url": url}), Some(moto));
        for (k, v) in AWS_ENV {
            w.project.set_env(k, v);
        }
        w
    }

    fn new(base: Value, moto: Option<Moto>) -> Where {
        let project = Project::with_strategy(&json!({}));
        project.set_env("OSS_PASS_A", PASS_A);
        project.set_env("OSS_PASS_B", PASS_B);
        Where {
            base,
            project,
            _moto: moto,
        }
    }

    /// Writes the strategy `name` with `count` nodes and `encryption` (none: `null`).
    fn settings(&self, name: &str, count: usize, encryption: Value) {
        let mut state = self.base.clone();
        if !encryption.is_null() {
            state["encryption"] = encryption;
        }
        self.project.write_strategy(&strategy(name, count, state));
    }

    /// The latest version exactly as stored.
    fn stored(&self) -> String {
        self.project.ok(&["state", "pull"])
    }

    fn addresses(&self) -> Vec<String> {
        self.project
            .ok(&["state", "list"])
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn assert_encrypted(stored: &str, step: &str) {
    let envelope: Value = serde_json::from_str(stored).unwrap_or_else(|e| panic!("{step}: {e}"));
    assert_eq!(envelope["encrypted_state"], 1, "{step}: {stored}");
    assert_eq!(envelope["method"], "aes_gcm", "{step}");
    for canary in [PASS_A, PASS_B, MARKER, "node.app", "b-mel"] {
        assert!(
            !stored.contains(canary),
            "{step}: `{canary}` is readable at rest"
        );
    }
}

fn assert_plaintext(stored: &str, step: &str) {
    let state: Value = serde_json::from_str(stored).unwrap_or_else(|e| panic!("{step}: {e}"));
    assert!(state.get("encrypted_state").is_none(), "{step}");
    assert!(
        stored.contains(MARKER),
        "{step}: the scanner finds the marker in clear"
    );
    for canary in [PASS_A, PASS_B] {
        assert!(!stored.contains(canary), "{step}: a passphrase was stored");
    }
}

/// The whole walk on one backend.
fn migration_rotation_and_refusals(w: &Where) {
    let name = unique("enc");
    let p = &w.project;
    let enc_a = json!({"key_provider": passphrase("OSS_PASS_A"), "method": "aes_gcm"});

    // Plaintext to begin with.
    w.settings(&name, 1, Value::Null);
    p.ok(&["apply", "--auto-approve"]);
    let plain = w.stored();
    assert_plaintext(&plain, "before encryption");

    // Encryption without a fallback refuses the plaintext version, changing nothing.
    w.settings(&name, 2, enc_a.clone());
    let (code, _, err) = p.run(&["plan"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("is not encrypted")
            && err.contains("\"fallback\": {\"method\": \"unencrypted\"}"),
        "{err}"
    );
    assert_eq!(w.stored(), plain, "a refused read changes nothing");

    // Plaintext → encrypted through the fallback: one apply writes the first sealed version.
    let mut migrate = enc_a.clone();
    migrate["fallback"] = json!({"method": "unencrypted"});
    w.settings(&name, 2, migrate);
    p.ok(&["apply", "--auto-approve"]);
    assert_encrypted(&w.stored(), "after migrating to encrypted");

    // Without the fallback it still reads (the version is sealed now).
    w.settings(&name, 2, enc_a.clone());
    assert_eq!(w.addresses(), ["node.app[0]", "node.app[1]"]);

    // A wrong passphrase: refused, saying which key provider and that nothing was read.
    p.set_env("OSS_PASS_A", "not-the-passphrase");
    let (code, _, err) = p.run(&["plan"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("does not open it (a wrong passphrase"),
        "{err}"
    );
    assert!(err.contains("nothing was read"), "{err}");
    assert!(
        !err.contains("not-the-passphrase"),
        "the passphrase is echoed: {err}"
    );
    p.set_env("OSS_PASS_A", PASS_A);

    let before = w.stored();

    // No encryption settings at all: the key is missing, and the error says what to add.
    w.settings(&name, 2, Value::Null);
    let (code, _, err) = p.run(&["plan"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("is encrypted (key provider passphrase)") && err.contains("has no encryption"),
        "{err}"
    );

    // The passphrase's variable unset: the strategy error names it.
    w.settings(
        &name,
        2,
        json!({"key_provider": passphrase("OSS_PASS_UNSET"), "method": "aes_gcm"}),
    );
    let (code, _, err) = p.run(&["plan"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("OSS_PASS_UNSET"), "{err}");

    // Rotation: passphrase B, with A as the fallback; one apply reseals under B.
    w.settings(
        &name,
        3,
        json!({"key_provider": passphrase("OSS_PASS_B"), "method": "aes_gcm",
               "fallback": {"key_provider": passphrase("OSS_PASS_A"), "method": "aes_gcm"}}),
    );
    p.ok(&["apply", "--auto-approve"]);
    let rotated = w.stored();
    assert_encrypted(&rotated, "after rotation");
    let salt =
        |s: &str| serde_json::from_str::<Value>(s).unwrap()["key"]["passphrase"]["salt"].clone();
    assert_ne!(
        salt(&rotated),
        salt(&before),
        "a new key sealed the new version"
    );
    // B alone opens it now; A alone does not.
    w.settings(
        &name,
        3,
        json!({"key_provider": passphrase("OSS_PASS_B"), "method": "aes_gcm"}),
    );
    assert_eq!(w.addresses().len(), 3);
    w.settings(&name, 3, enc_a.clone());
    let (code, _, err) = p.run(&["plan"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("wrong passphrase"), "{err}");

    // Encrypted → plaintext through the fallback.
    w.settings(
        &name,
        2,
        json!({"method": "unencrypted",
               "fallback": {"key_provider": passphrase("OSS_PASS_B"), "method": "aes_gcm"}}),
    );
    p.ok(&["apply", "--auto-approve"]);
    assert_plaintext(&w.stored(), "after migrating back");
    w.settings(&name, 2, Value::Null);
    assert_eq!(w.addresses(), ["node.app[0]", "node.app[1]"]);
    p.ok(&["destroy", "--auto-approve"]);
}

#[test]
fn local_state_migrates_rotates_and_refuses() {
    migration_rotation_and_refusals(&Where::local());
}

#[test]
fn postgres_state_migrates_rotates_and_refuses() {
    migration_rotation_and_refusals(&Where::postgres());
}

#[test]
fn s3_state_migrates_rotates_and_refuses() {
    migration_rotation_and_refusals(&Where::s3());
}

/// A changed byte of the ciphertext, or of the serial the envelope keeps in clear, and the
/// version is refused: never garbage, never a silent read.
#[test]
fn a_tampered_local_version_is_refused() {
    let w = Where::local();
    let name = unique("tamper");
    w.settings(
        &name,
        1,
        json!({"key_provider": passphrase("OSS_PASS_A"), "method": "aes_gcm",
               "fallback": {"method": "unencrypted"}}),
    );
    w.project.ok(&["apply", "--auto-approve"]);
    let path = w.project.path(&format!("state/{name}.state.json"));
    let good = std::fs::read_to_string(&path).unwrap();
    let mut envelope: Value = serde_json::from_str(&good).unwrap();

    let ciphertext = envelope["ciphertext"].as_str().unwrap().to_string();
    let flipped = if ciphertext.starts_with('A') {
        "B"
    } else {
        "A"
    };
    envelope["ciphertext"] = json!(format!("{flipped}{}", &ciphertext[1..]));
    std::fs::write(&path, serde_json::to_string(&envelope).unwrap()).unwrap();
    let (code, _, err) = w.project.run(&["plan"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cannot be decrypted") && err.contains("changed"),
        "{err}"
    );

    let mut moved: Value = serde_json::from_str(&good).unwrap();
    moved["serial"] = json!(moved["serial"].as_u64().unwrap() + 5);
    std::fs::write(&path, serde_json::to_string(&moved).unwrap()).unwrap();
    let (code, _, err) = w.project.run(&["plan"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot be decrypted"), "{err}");

    std::fs::write(&path, &good).unwrap();
    w.project.ok(&["destroy", "--auto-approve"]);
}

/// The passphrase must come from the environment or the vault: a literal is a located error.
#[test]
fn a_literal_passphrase_is_refused_where_it_is_written() {
    let w = Where::local();
    w.settings(
        &unique("literal"),
        1,
        json!({"key_provider": {"passphrase": {"passphrase": "hunter2-literal"}}, "method": "aes_gcm"}),
    );
    let (code, _, err) = w.project.run(&["plan"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("/state/encryption/key_provider/passphrase/passphrase"),
        "{err}"
    );
}

/// The vault's key as the state's: sealed with two of three shares, refused with one, and
/// after `oss secrets rotate` the old version names the data key it needs.
#[test]
fn the_shares_key_provider_seals_with_the_vaults_key() {
    let w = Where::local();
    let p = &w.project;
    p.set_env("OSS_AGENT_DIR", p.path("agents").to_str().unwrap());
    p.set_env("OSS_SHARES", "");
    let out = p.ok(&["secrets", "init", "--shares", "3", "--threshold", "2"]);
    let shares: Vec<String> = out
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .map(|l| p.path(l).display().to_string())
        .collect();
    assert_eq!(shares.len(), 3, "{out}");
    let name = unique("shares");
    let shared = json!({"key_provider": {"shares": {}}, "method": "aes_gcm"});
    let mut migrate = shared.clone();
    migrate["fallback"] = json!({"method": "unencrypted"});
    w.settings(&name, 1, migrate);
    p.set_env("OSS_SHARES", &shares[..2].join(":"));
    p.ok(&["apply", "--auto-approve"]);
    let stored = w.stored();
    assert_encrypted(&stored, "sealed with the vault's key");
    let envelope: Value = serde_json::from_str(&stored).unwrap();
    assert!(envelope["key"]["shares"]["vault"].is_string(), "{stored}");

    w.settings(&name, 1, shared);
    assert_eq!(w.addresses(), ["node.app[0]"]);
    p.set_env("OSS_SHARES", &shares[0]);
    let (code, _, err) = p.run(&["plan"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("key provider shares") && err.contains("the vault does not unlock"),
        "{err}"
    );

    p.set_env("OSS_SHARES", &shares[1..].join(":"));
    p.ok(&["secrets", "rotate"]);
    let (code, _, err) = p.run(&["plan"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("from before `oss secrets rotate`"), "{err}");
}

/// AWS KMS on moto: GenerateDataKey seals the first version (its blob stored with it, the
/// data key nowhere), a new process opens it through Decrypt, and a KMS key that is not
/// there is the error, naming KMS's refusal.
#[test]
fn the_aws_kms_key_provider_seals_with_a_kms_data_key() {
    let moto = Moto::start();
    let key_id = moto.boto(
        "us-east-1",
        (AWS_ENV[0].1, AWS_ENV[1].1),
        &format!(
            "kms = session.client('kms', endpoint_url={url:?})\n\
             k = kms.create_key(Description='oss state')['KeyMetadata']['KeyId']\n\
             kms.create_alias(AliasName='alias/oss-state', TargetKeyId=k)\n\
             print(json.dumps(k))\n",
            url = moto.url()
        ),
    );
    let key_id = key_id.as_str().unwrap().to_string();
    let w = Where::local();
    for (k, v) in AWS_ENV {
        w.project.set_env(k, v);
    }
    let name = unique("kms");
    let kms = json!({"key_provider": {"aws_kms": {"key_id": "alias/oss-state", "region": "us-east-1",
                                                  "endpoint": moto.url()}},
                     "method": "aes_gcm"});
    let mut migrate = kms.clone();
    migrate["fallback"] = json!({"method": "unencrypted"});
    w.settings(&name, 1, migrate);
    w.project.ok(&["apply", "--auto-approve"]);
    let stored = w.stored();
    assert_encrypted(&stored, "sealed with a KMS data key");
    let envelope: Value = serde_json::from_str(&stored).unwrap();
    assert!(envelope["key"]["aws_kms"]["blob"].is_string(), "{stored}");

    w.settings(&name, 1, kms);
    assert_eq!(w.addresses(), ["node.app[0]"]);

    // A KMS key that is not there: KMS's refusal is the error.
    w.settings(
        &name,
        1,
        json!({"key_provider": {"aws_kms": {"key_id": "alias/no-such-key", "region": "us-east-1",
                                            "endpoint": moto.url()}},
               "method": "aes_gcm"}),
    );
    let (code, _, err) = w.project.run(&["plan"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("KMS Decrypt of key alias/no-such-key failed"),
        "{err}"
    );
    assert!(!key_id.is_empty());
}
