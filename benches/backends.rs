//! State-backend benchmark: the cost of making one finished apply step durable (a journal
//! append) and of the final state write, for each backend, with 1,000 node records shaped like
//! a real apply's. Prints a markdown table. PostgreSQL comes from OSS_TEST_PG_URL and S3 (moto)
//! from OSS_BENCH_S3_URL; bench/backends.sh starts both. Run: `bash bench/backends.sh`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use oss::resource::{Address, Existing, Kind, Placement};
use oss::state::backend::Backend;
use oss::state::document::render;
use oss::state::{BackendSpec, State, open_backend};
use serde_json::json;

const STEPS: usize = 1000;

fn node(i: usize) -> Existing {
    Existing {
        address: Address::node("app", i),
        kind: Kind::Node,
        placement: Placement {
            provider: "cloud-b".into(),
            location: "b-mel".into(),
            size: "b2.medium".into(),
            image: "ubuntu-24.04".into(),
            hourly_price: Some(0.018),
            currency: Some("USD".into()),
        },
        provider_id: format!("i-{i:017x}"),
        attributes: [
            ("command".to_string(), json!("")),
            ("index".to_string(), json!(i)),
            ("name".to_string(), json!(format!("app-{i}"))),
            ("ports".to_string(), json!([443])),
            ("tags".to_string(), json!({"team": "web"})),
        ]
        .into_iter()
        .collect(),
        observed: [
            ("id".to_string(), json!(format!("i-{i:017x}"))),
            (
                "private_ip".to_string(),
                json!(format!("10.2.{}.{}", i / 250, i % 250 + 4)),
            ),
        ]
        .into_iter()
        .collect(),
        dependencies: vec![],
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn measure(label: &str, backend: Arc<dyn Backend>) {
    let mut state = State::new("bench");
    backend.write(&mut state).await.expect("initial write");
    let journal = backend.begin_journal(&state).await.expect("journal");
    let mut latencies = Vec::with_capacity(STEPS);
    let mut entry_bytes = 0usize;
    let started = Instant::now();
    for i in 0..STEPS {
        let record = node(i);
        entry_bytes += serde_json::to_vec(&record).unwrap().len() + 10; // + {"put":…}\n
        let t = Instant::now();
        journal.put(&record).await.expect("journal put");
        latencies.push(t.elapsed());
        state.resources.insert(record.address.clone(), record);
    }
    let journal_time = started.elapsed();
    let t = Instant::now();
    backend.write(&mut state).await.expect("final write");
    let final_write = t.elapsed();
    let final_size = render(&state).len();
    latencies.sort();
    let ms = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1000.0);
    println!(
        "| {label} | {STEPS} | {} | {} | {} | {} | {:.0} | {} | {:.2} |",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(journal_time / STEPS as u32),
        ms(final_write),
        entry_bytes as f64 / STEPS as f64,
        final_size,
        (entry_bytes + final_size) as f64 / final_size as f64,
    );
}

#[tokio::main]
async fn main() {
    println!(
        "| backend | steps | append p50 (ms) | append p99 (ms) | mean per step (ms) | final write (ms) | journal bytes/step | final state (B) | bytes written ÷ final |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let dir = tempfile::tempdir().expect("tempdir");
    let local = open_backend(
        &BackendSpec {
            kind: "local".into(),
            url: None,
            encryption: None,
        },
        dir.path(),
        "bench",
    )
    .await
    .expect("local");
    measure("local files (fsync per step)", local).await;
    let url =
        std::env::var("OSS_TEST_PG_URL").expect("OSS_TEST_PG_URL: run bash bench/backends.sh");
    let name = format!("bench-{}", std::process::id());
    let pg = open_backend(
        &BackendSpec {
            kind: "postgres".into(),
            url: Some(url),
            encryption: None,
        },
        dir.path(),
        &name,
    )
    .await
    .expect("postgres");
    measure("postgres (a row per step)", pg).await;
    let url =
        std::env::var("OSS_BENCH_S3_URL").expect("OSS_BENCH_S3_URL: run bash bench/backends.sh");
    let s3 = open_backend(
        &BackendSpec {
            kind: "s3".into(),
            url: Some(url),
            encryption: None,
        },
        dir.path(),
        &name,
    )
    .await
    .expect("s3");
    measure("s3 on moto (an object per step)", s3).await;
}
