//! The sim's world file: shared between drivers, readable, written in proportion to the
//! changes, and robust to a torn log line.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drivers_sharing_a_state_file_see_each_other() {
    let env = Env::new();
    // Two drivers, two caches: like two oss processes on one simulated cloud.
    let one = Arc::new(env.driver(json!({"capacity": {"sim-a": 30}})));
    let two = Arc::new(env.driver(json!({"capacity": {"sim-a": 30}, "advertise_capacity": true})));

    let first = create(&one, 0).await.expect("create");
    let refreshed = two.refresh(LINEAGE, &[]).await.expect("refresh");
    assert_eq!(refreshed.orphans, std::slice::from_ref(&first));
    assert_eq!(create(&two, 0).await.expect("adopt"), first);

    // Concurrent creates from both: every one recorded once, addresses unique, capacity
    // counted across both.
    let mut tasks = tokio::task::JoinSet::new();
    for index in 1..40 {
        let driver = Arc::clone(if index % 2 == 0 { &one } else { &two });
        tasks.spawn(async move { create(&driver, index).await });
    }
    let mut created = 1;
    let mut refused = 0;
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            Ok(_) => created += 1,
            Err(e) => {
                assert_eq!(e.code.as_deref(), Some("InsufficientInstanceCapacity"));
                refused += 1;
            }
        }
    }
    assert_eq!((created, refused), (30, 10));
    let recorded = env.instances();
    assert_eq!(recorded.len(), 30);
    let ips: HashSet<Ipv4Addr> = recorded.iter().map(|i| i.private_ip).collect();
    let ids: HashSet<&str> = recorded.iter().map(|i| i.id.as_str()).collect();
    assert_eq!((ips.len(), ids.len()), (30, 30));

    let seen_by_one = one.refresh(LINEAGE, &[]).await.expect("refresh");
    assert_eq!(seen_by_one.orphans.len(), 30);
    let catalog = two.catalog().await.expect("catalog");
    assert_eq!(catalog.prices[0].capacity, Some(0));
}

#[tokio::test]
async fn state_file_is_readable_json_and_damage_is_reported() {
    let env = Env::new();
    let driver = env.driver(json!({}));
    create(&driver, 0).await.expect("create");
    create(&driver, 1).await.expect("create");
    // The snapshot is JSON, one instance per line; the second create went to its log.
    let text = fs::read_to_string(env.state_file()).expect("read");
    let parsed: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(parsed["format"], json!(1));
    let listed = parsed["instances"].as_array().expect("array").len();
    assert_eq!(text.lines().count(), 6 + listed, "{text}");
    let log = fs::read_to_string(log_of(&env)).expect("log");
    assert_eq!(listed + log.lines().count() - 1, 2, "{text}\n{log}");
    assert_eq!(env.instances().len(), 2);

    fs::write(env.state_file(), "{\"format\": 1, \"instances\": [").expect("damage");
    let error = driver.refresh(LINEAGE, &[]).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Fatal);
    assert!(error.message.contains("damaged"), "{}", error.message);
}

fn log_of(env: &Env) -> PathBuf {
    let mut name = env.state_file().into_os_string();
    name.push(".log");
    PathBuf::from(name)
}

/// Writes grow with the changes, not with the world: a thousand creates one at a time write
/// a few times the final files' size, not a thousand times.
#[tokio::test]
async fn writes_are_proportional_to_the_changes() {
    let env = Env::new();
    let driver = env.driver(json!({}));
    use std::os::unix::fs::MetadataExt;
    let (mut written, mut snapshot, mut log_len) = (0, None, 0);
    for index in 0..1000 {
        create(&driver, index).await.expect("create");
        // Each write either appends to the log or makes a new snapshot (and drops the log).
        let meta = fs::metadata(env.state_file()).unwrap();
        let log = fs::metadata(log_of(&env)).map_or(0, |m| m.len());
        if snapshot != Some(meta.ino()) {
            written += meta.len() + log;
            snapshot = Some(meta.ino());
        } else {
            written += log - log_len;
        }
        log_len = log;
    }
    let size = fs::metadata(env.state_file()).unwrap().len();
    assert!(
        written < 6 * size,
        "{written} bytes written for a {size}-byte world"
    );
    assert_eq!(env.instances().len(), 1000);
    // Another reader (no cache) sees the same world through snapshot and log.
    let fresh = env.driver(json!({}));
    assert_eq!(
        fresh.refresh(LINEAGE, &[]).await.unwrap().orphans.len(),
        1000
    );
}

/// A crash mid-append leaves a torn last line: it is ignored (its call was never answered),
/// and cut off before the next append. A log of another snapshot is ignored.
#[tokio::test]
async fn a_torn_log_line_and_a_stale_log_are_ignored() {
    let env = Env::new();
    let driver = env.driver(json!({}));
    for index in 0..3 {
        create(&driver, index).await.expect("create");
    }
    let before = env.instances();
    let mut log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_of(&env))
        .expect("log");
    std::io::Write::write_all(&mut log, b"{\"put\":{\"id\":\"i-00").expect("tear");
    drop(log);
    assert_eq!(env.instances(), before, "the torn line is ignored");
    let other = env.driver(json!({}));
    create(&other, 3).await.expect("create after the torn line");
    assert_eq!(env.instances().len(), 4);

    // A log naming another snapshot's token replays nothing.
    let log = fs::read_to_string(log_of(&env)).expect("log");
    let stale = log.replacen("{\"base\":\"", "{\"base\":\"0", 1);
    fs::write(log_of(&env), stale).expect("stale");
    let listed = instances(&env.state_file()).expect("instances").len();
    assert!(listed < 4, "only the snapshot's instances: {listed}");
}
