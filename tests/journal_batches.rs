//! Group commit on every backend: records appended together in one journal call (as the
//! apply's recorder does when steps finish while an append is under way) are all folded
//! back, in order, when the state is loaded after a crash. Local files, PostgreSQL (from
//! scripts/test.sh) and S3 on a moto server this test starts.
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
        provider_id: format!("i-{i}"),
        attributes: Default::default(),
        observed: Default::default(),
        dependencies: vec![],
    }
}

async fn batches_fold_back(label: &str, backend: Arc<dyn Backend>) {
    let mut state = State::new("batches");
    state.resources.insert(node(9).address.clone(), node(9));
    backend.write(&mut state).await.unwrap();
    let journal = backend.begin_journal(&state).await.unwrap();
    // Three steps in one append, then a delete and a put alone, then two more together.
    let put = |i| Entry::Put(Box::new(node(i)));
    let delete = |i| Entry::Delete(Address::node("app", i));
    journal.append(&[put(0), put(1), put(2)]).await.unwrap();
    journal.delete(&Address::node("app", 9)).await.unwrap();
    journal.put(&node(3)).await.unwrap();
    journal.append(&[delete(1), put(4)]).await.unwrap();
    drop(journal); // the apply "crashes" here: no final write

    let loaded = backend.load().await.unwrap();
    assert_eq!(loaded.recovered_steps, 7, "{label}");
    let state = loaded.state.unwrap();
    let names: Vec<String> = state.resources.keys().map(|a| a.to_string()).collect();
    assert_eq!(
        names,
        ["node.app[0]", "node.app[2]", "node.app[3]", "node.app[4]"],
        "{label}"
    );
}

#[test]
fn journal_batches_fold_back_in_order_on_every_backend() {
    let pg = std::env::var("OSS_TEST_PG_URL").unwrap_or_else(|_| {
        panic!("OSS_TEST_PG_URL is not set: run the tests with `bash scripts/test.sh`")
    });
    let moto = Moto::start();
    let bucket = "oss-journal-batches";
    moto.boto(
        "us-east-1",
        ("AKIDJOURNAL", "journal-secret"),
        &format!(
            "s3 = session.client('s3', endpoint_url={url:?})\n\
             s3.create_bucket(Bucket={bucket:?})\n\
             s3.put_bucket_versioning(Bucket={bucket:?}, VersioningConfiguration={{'Status': 'Enabled'}})\n\
             print('null')\n",
            url = moto.url()
        ),
    );
    // SAFETY: this binary's only test sets these before it starts anything that reads them.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDJOURNAL");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "journal-secret");
        std::env::remove_var("AWS_PROFILE");
    }
    let dir = tempfile::tempdir().unwrap();
    let name = format!("batches-{}", std::process::id());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        for (kind, url) in [
            ("local", None),
            ("postgres", Some(pg.clone())),
            (
                "s3",
                Some(format!(
                    "s3://{bucket}/j?region=us-east-1&endpoint={}",
                    moto.url()
                )),
            ),
        ] {
            let spec = BackendSpec {
                kind: kind.into(),
                url,
                encryption: None,
            };
            let backend = open_backend(&spec, dir.path(), &name).await.unwrap();
            batches_fold_back(kind, backend).await;
        }
    });
}
