//! The sim's faults: capacity, seeded errors, latency and the rate limit, and that the
//! driver's retries and pacing meet them without a duplicate.

use super::*;

#[tokio::test]
async fn zero_capacity_fails_over() {
    let env = Env::new();
    let driver = env.driver(json!({"capacity": {"sim-a": 0}}));
    let error = create(&driver, 0).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::FailOver);
    assert_eq!(error.code.as_deref(), Some("InsufficientInstanceCapacity"));
    assert!(error.message.contains("`sim-a`"), "{}", error.message);
    assert!(error.message.contains("`small`"), "{}", error.message);
    assert!(env.instances().is_empty());
    // Other locations are not limited.
    create_at(&driver, 0, "sim-b", "small")
        .await
        .expect("sim-b has room");
}

#[tokio::test]
async fn capacity_is_enforced_and_shown_as_remaining() {
    let env = Env::new();
    let driver =
        env.driver(json!({"capacity": {"sim-a/small": 1, "sim-b": 2}, "advertise_capacity": true}));
    let capacities = |catalog: &Catalog| -> Vec<Option<u64>> {
        catalog.prices.iter().map(|p| p.capacity).collect()
    };
    let catalog = driver.catalog().await.expect("catalog");
    assert_eq!(capacities(&catalog), [Some(1), None, Some(2)]);

    let first = create(&driver, 0).await.expect("first fits");
    let error = create(&driver, 1).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::FailOver);
    assert_eq!(error.code.as_deref(), Some("InsufficientInstanceCapacity"));
    assert!(
        error.message.contains("size `small` in location `sim-a`"),
        "{}",
        error.message
    );
    create_at(&driver, 1, "sim-a", "large")
        .await
        .expect("another size still fits");
    create_at(&driver, 2, "sim-b", "small")
        .await
        .expect("sim-b fits");
    let catalog = driver.catalog().await.expect("catalog");
    assert_eq!(capacities(&catalog), [Some(0), None, Some(1)]);

    driver.delete(&first).await.expect("delete");
    let catalog = driver.catalog().await.expect("catalog");
    assert_eq!(capacities(&catalog), [Some(1), None, Some(1)]);
    create(&driver, 3).await.expect("room again");
}

/// The outcome of `count` sequential refreshes: `ok` or the error code.
async fn outcomes(driver: &SimDriver, count: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..count {
        seen.push(match driver.refresh(LINEAGE, &[]).await {
            Ok(_) => "ok".to_string(),
            Err(e) => {
                assert_eq!(e.class, ErrorClass::Retry);
                e.code.expect("code")
            }
        });
    }
    seen
}

#[tokio::test]
async fn seeded_errors_are_reproducible() {
    let env = Env::new();
    let settings = json!({
        "errors": {"throttle": 0.2, "unavailable": 0.2, "timeout": 0.2},
        "seed": 7
    });
    let first = outcomes(&env.driver(settings.clone()), 60).await;
    let second = outcomes(&env.driver(settings), 60).await;
    assert_eq!(first, second);
    for code in [
        "ok",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "RequestTimeout",
    ] {
        assert!(
            first.iter().any(|c| c == code),
            "{code} never seen: {first:?}"
        );
    }
    let other = outcomes(
        &env.driver(json!({"errors": {"throttle": 0.5}, "seed": 8})),
        60,
    )
    .await;
    assert_ne!(other, first);
}

#[tokio::test]
async fn retried_create_after_injected_errors_never_duplicates() {
    let env = Env::new();
    let driver = env.driver(json!({
        "errors": {"throttle": 0.3, "unavailable": 0.2, "timeout": 0.2},
        "seed": 11
    }));
    let mut failures = 0;
    for index in 0..5 {
        loop {
            match create(&driver, index).await {
                Ok(_) => break,
                Err(error) => {
                    assert_eq!(error.class, ErrorClass::Retry);
                    if error.code.as_deref() == Some("RequestLimitExceeded") {
                        assert_eq!(error.retry_after, Some(THROTTLE_WAIT));
                    }
                    // The refused call left nothing behind.
                    assert_eq!(env.instances().len(), index);
                    failures += 1;
                }
            }
        }
    }
    assert!(failures > 0, "the seed injected no error");
    // A create repeated after success adopts, however often the call is retried.
    while create(&driver, 0).await.is_err() {}
    let recorded = env.instances();
    assert_eq!(recorded.len(), 5);
    let addresses: HashSet<&Address> = recorded.iter().map(|i| &i.address).collect();
    assert_eq!(addresses.len(), 5);
}

#[tokio::test]
async fn latency_applies_to_api_calls_not_to_the_catalog() {
    let env = Env::new();
    let latency = Duration::from_millis(20);
    let driver = env.driver(json!({"latency_ms": 20}));

    let started = Instant::now();
    let existing = create(&driver, 0).await.expect("create");
    assert!(started.elapsed() >= latency);
    let started = Instant::now();
    driver.refresh(LINEAGE, &[]).await.expect("refresh");
    assert!(started.elapsed() >= latency);
    let started = Instant::now();
    driver.update(&existing, &node(0)).await.expect("update");
    assert!(started.elapsed() >= latency);
    let started = Instant::now();
    driver.delete(&existing).await.expect("delete");
    assert!(started.elapsed() >= latency);

    // With an hour of latency per call, a catalog read that paid it would never answer
    // before the guard; no clock reading decides this, however busy the machine.
    let slow = env.driver(json!({"latency_ms": 3_600_000}));
    tokio::select! {
        catalog = slow.catalog() => { catalog.expect("catalog"); }
        () = tokio::time::sleep(Duration::from_secs(600)) => {
            panic!("the catalog paid the API latency")
        }
    }

    // An injected timeout takes twice the latency.
    let timing_out = env.driver(json!({"latency_ms": 10, "errors": {"timeout": 1}}));
    let started = Instant::now();
    let error = timing_out.refresh(LINEAGE, &[]).await.unwrap_err();
    assert_eq!(error.code.as_deref(), Some("RequestTimeout"));
    assert!(started.elapsed() >= Duration::from_millis(20));
}

#[tokio::test]
async fn rate_limit_throttles_calls_beyond_it() {
    let env = Env::new();
    let driver = env.driver(json!({"rate_limit": 3}));
    let mut results = Vec::new();
    for _ in 0..5 {
        results.push(driver.refresh(LINEAGE, &[]).await);
    }
    assert!(results[..3].iter().all(Result::is_ok));
    let error = results[3].as_ref().unwrap_err();
    assert_eq!(error.class, ErrorClass::Retry);
    assert_eq!(error.code.as_deref(), Some("RequestLimitExceeded"));
    let wait = error.retry_after.expect("retry_after");
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_millis(334),
        "{wait:?}"
    );
    assert!(results[4].is_err());

    tokio::time::sleep(wait).await;
    driver
        .refresh(LINEAGE, &[])
        .await
        .expect("a token came back");
}

/// With pacing on, the first refusal slows this client down to below the limit: a loop of
/// calls meets the limit once, then not again.
#[tokio::test]
async fn pacing_keeps_calls_under_the_rate_limit_after_the_first_refusal() {
    let env = Env::new();
    let mut driver = env.driver(json!({"rate_limit": 20}));
    driver.pace = crate::net::pace::Pace::new();
    let mut refused = 0;
    for _ in 0..60 {
        if driver.refresh(LINEAGE, &[]).await.is_err() {
            refused += 1;
        }
    }
    assert_eq!(
        refused, 1,
        "one refusal, then paced below 20 calls a second"
    );
    assert!(
        driver.pace.rate().is_some_and(|r| r <= 20.0),
        "{:?}",
        driver.pace.rate()
    );
}
