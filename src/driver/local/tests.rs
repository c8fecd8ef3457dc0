//! Tests of the local driver with real processes on loopback addresses.

use super::claims::{claim_address, release_claims};
use super::procs::{NodeProcess, pid_alive, scan_nodes, send_signal};
use super::spawn::POLL;
use super::*;
use crate::driver::ErrorClass;
use crate::resource::Kind;
use serde_json::json;
use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LINEAGE: &str = "lineage-test";

/// Answers every GET with "hello from NAME" on $OSS_NODE_ADDR:$OSS_NODE_PORT.
const SERVER: &str = r#"
import http.server, os
name = os.environ["OSS_NODE_NAME"]
class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("hello from " + name).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
address = (os.environ["OSS_NODE_ADDR"], int(os.environ["OSS_NODE_PORT"]))
http.server.HTTPServer(address, Hello).serve_forever()
"#;

/// A driver on its own temporary state and claim directories. Dropping it kills every
/// process started under them, even when the test failed.
struct Env {
    tmp: TempDir,
    driver: LocalDriver,
    server: String,
}

impl Env {
    fn new() -> Self {
        Self::with(Map::new())
    }

    fn with(mut settings: Map<String, Value>) -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let claims = tmp.path().join("claims");
        settings.insert("runtime_dir".into(), json!(claims.to_str().expect("utf-8")));
        settings.entry("stop_grace").or_insert(json!(2));
        settings.entry("ready_timeout").or_insert(json!(10));
        let config = DriverConfig {
            name: "local".into(),
            base_dir: PathBuf::from("."),
            settings: settings.into(),
            state_dir: tmp.path().join("state"),
        };
        let driver = LocalDriver::new(config).expect("driver");
        let script = tmp.path().join("server.py");
        fs::write(&script, SERVER).expect("write server.py");
        let server = format!("exec python3 '{}'", script.display());
        Env {
            tmp,
            driver,
            server,
        }
    }

    async fn create(&self, desired: &Desired) -> Result<Existing, DriverError> {
        self.create_in(desired, LINEAGE).await
    }

    async fn create_in(&self, desired: &Desired, lineage: &str) -> Result<Existing, DriverError> {
        let placement = placement("local-a");
        let request = CreateRequest {
            desired,
            placement: &placement,
            lineage,
            dependencies: &[],
            replacing: &[],
        };
        self.driver.create(request).await
    }

    /// Addresses claimed in this test's claim directory.
    fn claims(&self) -> Vec<String> {
        names(&self.tmp.path().join("claims"))
    }

    fn node_dirs(&self) -> Vec<String> {
        names(&self.tmp.path().join("state/local"))
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let Ok(found) = scan_nodes() else { return };
        for (dir, processes) in found {
            if dir.starts_with(self.tmp.path()) {
                send_signal(&processes, libc::SIGKILL);
            }
        }
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| !name.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn placement(location: &str) -> Placement {
    Placement {
        provider: "local".into(),
        location: location.into(),
        size: "small".into(),
        image: "host".into(),
        hourly_price: Some(0.0),
        currency: Some("USD".into()),
    }
}

fn node(index: usize, command: &str, ports: &[u16]) -> Desired {
    let attributes = json!({
        "name": format!("web-{index}"),
        "index": index,
        "command": command,
        "ports": ports,
        "tags": {"team": "a"},
    });
    Desired {
        address: Address::node("web", index),
        kind: Kind::Node,
        placement: placement("local-a"),
        fallbacks: Default::default(),
        attributes: serde_json::from_value(attributes).expect("attributes"),
        depends_on: Vec::new(),
        templates: Default::default(),
        unknown: Default::default(),
    }
}

/// A random high port, so parallel tests (each with its own claim directory) do not meet.
fn test_port() -> u16 {
    20_000 + rand::random::<u16>() % 40_000
}

fn addr_of(existing: &Existing) -> Ipv4Addr {
    observed_addr(existing).expect("observed addr")
}

fn node_processes(existing: &Existing) -> Vec<NodeProcess> {
    let dir = PathBuf::from(existing.observed["dir"].as_str().expect("dir"));
    scan_nodes().expect("scan").remove(&dir).unwrap_or_default()
}

async fn http_get(addr: Ipv4Addr, port: u16) -> String {
    let mut stream = TcpStream::connect((addr, port)).await.expect("connect");
    stream
        .write_all(b"GET / HTTP/1.0\r\n\r\n")
        .await
        .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    answer
}

async fn wait_until_gone(existing: &Existing) {
    for _ in 0..100 {
        if node_processes(existing).is_empty() {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("node processes did not exit");
}

#[tokio::test]
async fn catalog_lists_locations_sizes_and_host_image() {
    let env = Env::new();
    let catalog = env.driver.catalog().await.expect("catalog");
    let locations: Vec<&str> = catalog.locations.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(locations, ["local-a", "local-b", "local-c"]);
    assert_eq!(catalog.locations[1].name, "Local B");
    assert_eq!(catalog.sizes.len(), 3);
    assert_eq!(catalog.sizes[2].memory_gib, 8.0);
    assert_eq!(catalog.images[0].id, "host");
}

#[tokio::test]
async fn created_node_answers_and_refresh_sees_it() {
    let env = Env::new();
    let port = test_port();
    let desired = node(0, &env.server, &[port]);
    let existing = env.create(&desired).await.expect("create");

    let addr = addr_of(&existing);
    assert_eq!(addr, Ipv4Addr::new(127, 1, 0, 2));
    assert_eq!(
        existing.observed["url"],
        json!(format!("http://{addr}:{port}"))
    );
    assert_eq!(existing.attributes, desired.attributes);
    assert!(existing.provider_id.starts_with("web-0-"));
    assert!(http_get(addr, port).await.contains("hello from web-0"));

    let meta = read_meta(&env.driver.root.join(&existing.provider_id)).expect("node.json");
    assert_eq!(meta.lineage, LINEAGE);
    assert_eq!(
        meta.pid,
        existing.observed["pid"].as_u64().map(|p| p as u32)
    );

    let refreshed = env
        .driver
        .refresh(LINEAGE, std::slice::from_ref(&existing))
        .await
        .expect("refresh");
    let seen = refreshed.known[&existing.address].as_ref().expect("alive");
    assert_eq!(seen["addr"], json!(addr.to_string()));
    assert!(refreshed.orphans.is_empty());
    env.driver.delete(&existing).await.expect("delete");
}

#[tokio::test]
async fn nodes_get_different_addresses() {
    let env = Env::new();
    let port = test_port();
    let (first, second) = (node(0, &env.server, &[port]), node(1, &env.server, &[port]));
    let (first, second) = tokio::join!(env.create(&first), env.create(&second));
    let (first, second) = (first.expect("first"), second.expect("second"));
    assert_ne!(addr_of(&first), addr_of(&second));
    assert!(http_get(addr_of(&first), port).await.contains("web-0"));
    assert!(http_get(addr_of(&second), port).await.contains("web-1"));
    assert_eq!(env.claims().len(), 2);
}

#[test]
fn stale_claims_are_reclaimed_and_live_ones_skipped() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let claims = tmp.path().join("claims");
    fs::create_dir_all(&claims).expect("claims dir");
    let live_dir = tmp.path().join("live");
    fs::create_dir_all(&live_dir).expect("live dir");
    fs::write(
        claims.join("127.1.0.2"),
        tmp.path().join("gone").as_os_str().as_bytes(),
    )
    .expect("stale claim");
    fs::write(claims.join("127.1.0.3"), live_dir.as_os_str().as_bytes()).expect("claim");
    let lock = Mutex::new(());
    // Claims are made for existing node directories; a missing one makes its claim stale.
    for node in ["a", "b"] {
        fs::create_dir_all(tmp.path().join(node)).expect("node dir");
    }

    let first = claim_address(&claims, &lock, 1, None, &tmp.path().join("a")).expect("a");
    let second = claim_address(&claims, &lock, 1, None, &tmp.path().join("b")).expect("b");
    assert_eq!(first, Ipv4Addr::new(127, 1, 0, 2));
    assert_eq!(second, Ipv4Addr::new(127, 1, 0, 4));

    release_claims(&claims, &lock, &tmp.path().join("a")).expect("release");
    assert!(!claims.join("127.1.0.2").exists());
    assert!(claims.join("127.1.0.3").exists());
}

#[tokio::test]
async fn killed_node_is_gone_and_its_debris_is_reported() {
    let env = Env::new();
    let port = test_port();
    let existing = env
        .create(&node(0, &env.server, &[port]))
        .await
        .expect("create");
    let other = env
        .create_in(&node(1, "exec sleep 300", &[]), "another-lineage")
        .await
        .expect("create other");

    for node in [&existing, &other] {
        send_signal(&node_processes(node), libc::SIGKILL);
        wait_until_gone(node).await;
    }

    let refreshed = env
        .driver
        .refresh(LINEAGE, std::slice::from_ref(&existing))
        .await
        .expect("refresh");
    assert_eq!(refreshed.known[&existing.address], None);
    assert_eq!(
        env.node_dirs().len(),
        2,
        "a known node's directory stays until delete"
    );

    // Forgotten and dead: debris of this lineage is reported (refresh never removes), the
    // other lineage's is not; deleting the reported debris removes it.
    let refreshed = env.driver.refresh(LINEAGE, &[]).await.expect("refresh");
    assert!(refreshed.orphans.is_empty());
    assert_eq!(refreshed.debris.len(), 1);
    assert_eq!(refreshed.debris[0].provider_id, existing.provider_id);
    assert_eq!(env.node_dirs().len(), 2);
    env.driver
        .delete(&refreshed.debris[0])
        .await
        .expect("delete debris");
    assert_eq!(env.node_dirs(), std::slice::from_ref(&other.provider_id));
    assert_eq!(env.claims().len(), 1);
}

#[tokio::test]
async fn refresh_finds_forgotten_node_as_orphan() {
    let env = Env::new();
    let port = test_port();
    let existing = env
        .create(&node(0, &env.server, &[port]))
        .await
        .expect("create");

    let refreshed = env.driver.refresh(LINEAGE, &[]).await.expect("refresh");
    assert_eq!(refreshed.orphans, std::slice::from_ref(&existing));

    let refreshed = env.driver.refresh("other", &[]).await.expect("refresh");
    assert!(refreshed.orphans.is_empty());
    assert_eq!(env.node_dirs().len(), 1);
}

#[tokio::test]
async fn create_adopts_running_node_of_same_lineage_and_address() {
    let env = Env::new();
    let port = test_port();
    let desired = node(0, &env.server, &[port]);
    let first = env.create(&desired).await.expect("create");
    let again = env.create(&desired).await.expect("create again");

    assert_eq!(again.provider_id, first.provider_id);
    assert_eq!(again.observed, first.observed);
    assert_eq!(node_processes(&first).len(), 1);
    assert_eq!(env.node_dirs().len(), 1);
}

#[tokio::test]
async fn create_replaces_dead_node_of_same_lineage_and_address() {
    let env = Env::new();
    let desired = node(0, "exec sleep 300", &[]);
    let first = env.create(&desired).await.expect("create");
    send_signal(&node_processes(&first), libc::SIGKILL);
    wait_until_gone(&first).await;

    let second = env.create(&desired).await.expect("create again");
    // Ids follow from lineage and address: the same directory, a new process.
    assert_eq!(second.provider_id, first.provider_id);
    assert_ne!(second.observed["pid"], first.observed["pid"]);
    assert_eq!(node_processes(&second).len(), 1);
    assert_eq!(env.node_dirs(), std::slice::from_ref(&second.provider_id));
    assert_eq!(env.claims().len(), 1);
}

/// Creating a node that runs `command` fails fatally, its message holding each of `expected`,
/// and leaves no node directory or address claim behind.
async fn assert_create_fails(env: &Env, command: &str, expected: &[&str]) {
    let error = env
        .create(&node(0, command, &[test_port()]))
        .await
        .unwrap_err();
    assert_eq!(error.class, ErrorClass::Fatal);
    for part in expected {
        assert!(error.message.contains(part), "{part}: {}", error.message);
    }
    assert!(env.node_dirs().is_empty());
    assert!(env.claims().is_empty());
}

#[tokio::test]
async fn command_that_exits_fails_with_its_output() {
    let env = Env::new();
    let command = "echo out-line; echo err-line >&2; exit 3";
    assert_create_fails(
        &env,
        command,
        &["node.web[0]", "exited", "err-line", "out-line"],
    )
    .await;
}

#[tokio::test]
async fn node_that_never_listens_times_out() {
    let env = Env::with(serde_json::from_value(json!({"ready_timeout": 0.5})).expect("map"));
    let command = "echo waiting; exec sleep 300";
    assert_create_fails(&env, command, &["within 500ms", "waiting"]).await;
    assert!(
        scan_nodes()
            .expect("scan")
            .keys()
            .all(|d| !d.starts_with(env.tmp.path()))
    );
}

#[tokio::test]
async fn delete_stops_the_whole_group_and_removes_dir_and_claim() {
    let env = Env::new();
    let existing = env
        .create(&node(0, "sleep 300 & sleep 301", &[]))
        .await
        .expect("create");
    let processes = node_processes(&existing);
    assert!(processes.len() >= 2, "{processes:?}");
    assert_eq!(env.claims(), [addr_of(&existing).to_string()]);

    env.driver.delete(&existing).await.expect("delete");
    assert!(processes.iter().all(|p| !pid_alive(p.pid)));
    assert!(env.node_dirs().is_empty());
    assert!(env.claims().is_empty());

    env.driver
        .delete(&existing)
        .await
        .expect("deleting again succeeds");
}

#[tokio::test]
async fn node_runs_in_its_directory_with_its_environment() {
    let env = Env::new();
    let command = r#"printf '%s|%s|%s|%s|%s' "$OSS_NODE_NAME" "$OSS_NODE_INDEX" "$OSS_NODE_ADDR" "${OSS_NODE_PORT-none}" "$OSS_NODE_DIR" > env.txt; exec sleep 300"#;
    let existing = env.create(&node(3, command, &[])).await.expect("create");

    let dir = env.driver.root.join(&existing.provider_id);
    assert_eq!(
        existing.observed["dir"],
        json!(dir.to_str().expect("utf-8"))
    );
    let seen = fs::read_to_string(dir.join("env.txt")).expect("env.txt");
    let expected = format!("web-3|3|{}|none|{}", addr_of(&existing), dir.display());
    assert_eq!(seen, expected);
    assert!(!existing.observed.contains_key("url"));
}

/// Issue 12: nothing of the test process's own environment (cargo's, the shell's) reaches a
/// node; what it sees is exactly `node_environment`.
#[tokio::test]
async fn node_environment_is_all_a_node_sees() {
    let env = Env::new();
    let command = "env > env.txt; exec sleep 300";
    let existing = env.create(&node(1, command, &[])).await.expect("create");
    let dir = env.driver.root.join(&existing.provider_id);

    let dump = fs::read_to_string(dir.join("env.txt")).expect("env.txt");
    let mut seen: Vec<&str> = dump.lines().collect();
    seen.sort_unstable();
    let dir_text = dir.to_str().expect("utf-8");
    let addr = addr_of(&existing);
    let expected = [
        format!("HOME={dir_text}"),
        "LANG=C.UTF-8".to_string(),
        format!("OSS_NODE_ADDR={addr}"),
        format!("OSS_NODE_DIR={dir_text}"),
        "OSS_NODE_INDEX=1".to_string(),
        "OSS_NODE_NAME=web-1".to_string(),
        "PATH=/usr/local/bin:/usr/bin:/bin".to_string(),
        format!("PWD={dir_text}"),
    ];
    // Names first: a failure shows which variables got through, not the values of the test's
    // own environment.
    let names = |lines: &[&str]| -> Vec<String> {
        let names = lines
            .iter()
            .map(|line| line.split('=').next().unwrap_or(line));
        names.map(str::to_string).collect()
    };
    let expected_lines: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(names(&seen), names(&expected_lines));
    assert_eq!(seen, expected_lines);
    // The precondition: the test process itself has variables a node must not see.
    assert!(std::env::var_os("CARGO_PKG_NAME").is_some());
    env.driver.delete(&existing).await.expect("delete");
}

#[test]
fn unknown_settings_are_refused() {
    let settings = serde_json::from_value::<Map<String, Value>>(json!({"ready_timeot": 3}))
        .expect("map")
        .into();
    let config = DriverConfig {
        name: "local".into(),
        base_dir: PathBuf::from("."),
        settings,
        state_dir: PathBuf::from("state"),
    };
    let error = LocalDriver::new(config).unwrap_err();
    assert!(
        error.message.contains("`ready_timeot`"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn update_rewrites_tags() {
    let env = Env::new();
    let existing = env
        .create(&node(0, "exec sleep 300", &[]))
        .await
        .expect("create");
    let mut desired = node(0, "exec sleep 300", &[]);
    desired
        .attributes
        .insert("tags".into(), json!({"team": "b", "tier": "web"}));

    let updated = env
        .driver
        .update(&existing, &desired)
        .await
        .expect("update");
    assert_eq!(
        updated.attributes["tags"],
        json!({"team": "b", "tier": "web"})
    );
    assert_eq!(updated.provider_id, existing.provider_id);
    let meta = read_meta(&env.driver.root.join(&existing.provider_id)).expect("node.json");
    assert_eq!(meta.attributes["tags"], json!({"team": "b", "tier": "web"}));
}

#[tokio::test]
async fn unknown_location_is_fatal_and_lists_valid_ones() {
    let env = Env::new();
    let desired = node(0, "exec sleep 300", &[]);
    let placement = placement("local-z");
    let request = CreateRequest {
        desired: &desired,
        placement: &placement,
        lineage: LINEAGE,
        dependencies: &[],
        replacing: &[],
    };
    let error = env.driver.create(request).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::Fatal);
    assert!(error.message.contains("`local-z`"), "{}", error.message);
    assert!(
        error.message.contains("local-a, local-b, local-c"),
        "{}",
        error.message
    );
}

#[test]
fn unsafe_provider_ids_are_refused() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = DriverConfig {
        name: "local".into(),
        base_dir: PathBuf::from("."),
        settings: Map::new().into(),
        state_dir: tmp.path().to_path_buf(),
    };
    let driver = LocalDriver::new(config).expect("driver");
    assert!(driver.node_dir("web-0-0badcafe").is_ok());
    for id in ["", "..", "../x", "a/b", ".hidden"] {
        assert!(driver.node_dir(id).is_err(), "{id}");
    }
}

/// Issue 12's groundwork: what a node leaves on disk is private to its user.
#[tokio::test]
async fn node_directories_are_private_and_their_files_too() {
    let env = Env::new();
    let existing = env
        .create(&node(0, "echo hello; exec sleep 300", &[]))
        .await
        .expect("create");
    let dir = env.driver.root.join(&existing.provider_id);
    let mode = |path: &Path| {
        fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&env.driver.root), 0o700, "the node directory root");
    assert_eq!(mode(&dir), 0o700, "the node directory");
    for file in ["node.json", "stdout.log", "stderr.log"] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    // The record was rewritten once the process started (with its pid): still private.
    assert!(read_meta(&dir).expect("node.json").pid.is_some());
    env.driver.delete(&existing).await.expect("delete");
}
