//! The apply journal encrypted at rest on every backend (local files, PostgreSQL from
//! scripts/test.sh, S3 on a moto server this test starts), through the library as the apply
//! uses it: records appended to the journal of an encrypted state (the apply "crashes"
//! before its final write) are unreadable where they are kept, fold back with the key, and
//! are refused without it, with a wrong passphrase, or when one is changed.
//!
//! One test in its own binary: it sets the AWS variables the S3 backend reads before any
//! other thread of this process could read the environment.

mod common;

use std::sync::Arc;

use common::moto::Moto;
use oss::resource::{Address, Existing, Kind, Placement};
use oss::state::backend::Backend;
use oss::state::journal::Entry;
use oss::state::{BackendSpec, State, open_backend};
use serde_json::json;

const PASSPHRASE: &str = "canary-journal-pass-0c7d21";
const MARKER: &str = "marker-journal-9e44b1";

fn node(i: usize) -> Existing {
    Existing {
        address: Address::node("app", i),
        kind: Kind::Node,
        placement: Placement {
            provider: "cloud-b".into(),
            location: "b-mel".into(),
            size: "b2.medium".into(),
            image: "ubuntu-24.04".into(),
            hourly_price: None,
            currency: None,
        },
        provider_id: format!("{MARKER}-{i}"),
        attributes: Default::default(),
        observed: Default::default(),
        dependencies: vec![],
    }
}

fn spec(kind: &str, url: Option<String>, passphrase: &str) -> BackendSpec {
    serde_json::from_value(json!({
        "backend": kind, "url": url,
        "encryption": {"method": "aes_gcm",
                       "key_provider": {"passphrase": {"passphrase": passphrase, "iterations": 10000}}}
    }))
    .unwrap()
}

/// Writes an encrypted state and leaves four records in its journal; returns the state.
async fn crashed_apply(backend: &Arc<dyn Backend>) -> State {
    let mut state = State::new("journal-enc");
    state.resources.insert(node(9).address.clone(), node(9));
    backend.write(&mut state).await.unwrap();
    let journal = backend.begin_journal(&state).await.unwrap();
    journal
        .append(&[Entry::Put(Box::new(node(0))), Entry::Put(Box::new(node(1)))])
        .await
        .unwrap();
    journal.delete(&Address::node("app", 9)).await.unwrap();
    journal.put(&node(2)).await.unwrap();
    state
}

async fn folds_back_and_refuses(
    label: &str,
    open: impl AsyncFn(&str) -> Arc<dyn Backend>,
    at_rest: impl AsyncFn() -> String,
) {
    let backend = open(PASSPHRASE).await;
    crashed_apply(&backend).await;

    // At rest: the scanner first proves it reads the journal (its records are there), then
    // finds neither the passphrase nor any state value in it.
    let stored = at_rest().await;
    assert!(
        stored.matches("\"sealed\"").count() >= 4,
        "{label}: {stored}"
    );
    for canary in [PASSPHRASE, MARKER, "node.app", "b-mel"] {
        assert!(
            !stored.contains(canary),
            "{label}: `{canary}` is readable at rest"
        );
    }

    // With the key (another process, another codec): every record folds back, in order.
    let loaded = open(PASSPHRASE).await.load().await.unwrap();
    assert_eq!(loaded.recovered_steps, 4, "{label}");
    let names: Vec<String> = loaded
        .state
        .unwrap()
        .resources
        .keys()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(
        names,
        ["node.app[0]", "node.app[1]", "node.app[2]"],
        "{label}"
    );

    // A wrong passphrase opens neither the state nor, so, its journal.
    let err = open("not-the-passphrase")
        .await
        .load()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("wrong passphrase") && !err.contains("not-the-passphrase"),
        "{label}: {err}"
    );
}

#[test]
fn the_journal_is_sealed_at_rest_on_every_backend() {
    let pg = std::env::var("OSS_TEST_PG_URL").unwrap_or_else(|_| {
        panic!("OSS_TEST_PG_URL is not set: run the tests with `bash scripts/test.sh`")
    });
    let moto = Moto::start();
    let bucket = "oss-journal-enc";
    let keys = ("AKIDJOURNALENC", "journal-enc-secret");
    let boto = |script: &str| {
        moto.boto(
            "us-east-1",
            keys,
            &format!(
                "s3 = session.client('s3', endpoint_url={:?})\n{script}",
                moto.url()
            ),
        )
    };
    boto(&format!(
        "s3.create_bucket(Bucket={bucket:?})\n\
         s3.put_bucket_versioning(Bucket={bucket:?}, VersioningConfiguration={{'Status': 'Enabled'}})\n\
         print('null')\n"
    ));
    // SAFETY: this binary's only test sets these before it starts anything that reads them.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", keys.0);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", keys.1);
        std::env::remove_var("AWS_PROFILE");
    }
    let dir = tempfile::tempdir().unwrap();
    let name = format!("journal-enc-{}", std::process::id());
    let s3_url = format!("s3://{bucket}/j?region=us-east-1&endpoint={}", moto.url());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let local_journal = dir.path().join(format!("{name}.journal"));
        folds_back_and_refuses(
            "local",
            async |pass: &str| open_backend(&spec("local", None, pass), dir.path(), &name).await.unwrap(),
            async || std::fs::read_to_string(&local_journal).unwrap(),
        )
        .await;

        let (client, connection) = tokio_postgres::connect(&pg, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        folds_back_and_refuses(
            "postgres",
            async |pass: &str| open_backend(&spec("postgres", Some(pg.clone()), pass), dir.path(), &name).await.unwrap(),
            async || {
                let rows = client
                    .query("SELECT entry FROM oss_journal WHERE name = $1 ORDER BY seq", &[&name])
                    .await
                    .unwrap();
                rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>().join("\n")
            },
        )
        .await;

        folds_back_and_refuses(
            "s3",
            async |pass: &str| open_backend(&spec("s3", Some(s3_url.clone()), pass), dir.path(), &name).await.unwrap(),
            async || {
                let listed = boto(&format!(
                    "import json\n\
                     keys = [o['Key'] for o in s3.list_objects_v2(Bucket={bucket:?}, Prefix='j/').get('Contents', []) if '.journal/' in o['Key']]\n\
                     print(json.dumps([s3.get_object(Bucket={bucket:?}, Key=k)['Body'].read().decode() for k in sorted(keys)]))\n"
                ));
                listed.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect::<Vec<_>>().join("\n")
            },
        )
        .await;

        // A changed record (local): refused, naming the record, rather than folded around.
        let path = dir.path().join(format!("{name}.journal"));
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.swap(1, 2);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let err = open_backend(&spec("local", None, PASSPHRASE), dir.path(), &name)
            .await
            .unwrap()
            .load()
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("journal whose record 0 does not open"), "{err}");
    });
}
