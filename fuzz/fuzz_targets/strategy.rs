//! Coverage-guided fuzzing of strategy parsing, error location and placement: any bytes go
//! in; nothing may panic. A strategy that parses is placed against the AWS price table (one
//! copy per provider option), which exercises matching, ranking and allocation.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use oss::placement::{Input, place};
use oss::strategy::{self, locate};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Error location walks the raw text: it must survive anything.
    for offset in [0, text.len() / 2, text.len()] {
        if let Some(pointer) = locate::pointer_at(text, offset) {
            let _ = locate::locate(text, &pointer, None);
            let _ = locate::value_text(text, &pointer);
        }
    }
    let Ok(strategy) = strategy::parse(Path::new("fuzz.json"), text, &|_| None) else {
        return;
    };
    if placement_too_big(&strategy) {
        return;
    }
    let catalogs: Vec<(String, oss::catalog::Catalog)> = strategy
        .provider
        .options
        .iter()
        .map(|o| (o.name.clone(), oss::catalog::aws::price_table().clone()))
        .collect();
    let current = |_: usize| None;
    let _ = place(&Input {
        strategy: &strategy,
        catalogs: &catalogs,
        current: &current,
        seed: data.len() as u64,
        rebalance: false,
    });
});

/// Fleets of many thousand nodes are allowed but slow: not what a fuzzer should spend on.
fn placement_too_big(strategy: &strategy::Strategy) -> bool {
    oss::placement::fleet(strategy).nodes > 2_000
}
