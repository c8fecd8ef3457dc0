//! Plan benchmark (figure 1 of the scale curves): the whole plan pipeline in-process for the
//! sample strategy grown to 1,000, 10,000 and 100,000 local nodes with no state: strategy parse
//! and schema check, compile (catalogs, placement, the petgraph DAG), diff against the empty
//! state, and the text plan rendered to a string. No refresh (there is no state to refresh),
//! no process start, nothing written. `bash bench/scale.sh` runs it and tabulates
//! criterion's samples; `OSS_BENCH_SIZES=1000,10000` picks the sizes.

use std::path::Path;
use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use oss::engine::{PlanOptions, Session};
use oss::report::Silent;
use oss::state::{BackendSpec, open_backend};

/// The allocator the `oss` binary uses (src/main.rs), so the pipeline is measured as it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The sample strategy (`strategy.sample.json`) with `count` nodes.
fn strategy_text(count: usize) -> String {
    let sample = include_str!("../strategy.sample.json");
    let mut value: serde_json::Value = serde_json::from_str(sample).expect("the sample parses");
    value["node"]["count"] = count.into();
    serde_json::to_string_pretty(&value).expect("serializes")
}

/// One `oss plan --refresh=false`, without the process: the text a person would read.
async fn plan(text: &str, dir: &Path) -> String {
    let path = dir.join("strategy.json");
    let strategy = oss::strategy::parse(&path, text, &|_| None).expect("the strategy is valid");
    let local = BackendSpec {
        kind: "local".into(),
        url: None,
        encryption: None,
    };
    let backend = open_backend(&local, dir, &strategy.name)
        .await
        .expect("local backend");
    let session = Session::open(strategy, dir, backend).expect("session");
    let options = PlanOptions {
        refresh: false,
        ..PlanOptions::default()
    };
    let planned = session.plan(&options, &Silent).await.expect("plan");
    oss::plan::text::render(&planned.plan, false)
}

fn sizes() -> Vec<usize> {
    std::env::var("OSS_BENCH_SIZES")
        .ok()
        .map(|s| {
            s.split(',')
                .map(|n| n.trim().parse().expect("OSS_BENCH_SIZES: numbers"))
                .collect()
        })
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000])
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut group = c.benchmark_group("plan");
    // Each sample is one plan at the largest sizes, so every sample has the same weight.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    for n in sizes() {
        let text = strategy_text(n);
        // Sanity: the plan is what `oss plan` would say, not an error or an empty plan.
        let out = runtime.block_on(plan(&text, dir.path()));
        assert!(
            out.contains(&format!("Plan: {n} to add")),
            "{}",
            &out[..200]
        );
        group.throughput(Throughput::Elements(n as u64));
        // About ten samples whatever the size: ~1 s of plans at 1k, one plan a sample at 100k.
        group.measurement_time(Duration::from_secs_f64(
            (n as f64 / 10_000.0).max(1.0) * 2.0,
        ));
        group.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| {
            b.iter(|| runtime.block_on(plan(text, dir.path())));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
