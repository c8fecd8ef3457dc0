//! The embedded `local` provider: a node is a supervised process tree on this Linux machine, so
//! every example runs offline with nothing but the host.
//!
//! Each node runs its start command under `/bin/sh -c`, detached in its own process group, in
//! its own directory `STATE_DIR/local/<provider id>/` and on its own loopback address
//! `127.N.x.y` (N = 1, 2, 3 for `local-a`, `local-b`, `local-c`). Nodes outlive the oss process.
//! They are found again by the `OSS_NODE_DIR` variable that every process of a node carries, and
//! by their `node.json`, written before the process starts, which marks them with the resource
//! address and the state lineage. Addresses are claimed machine-wide in a claim directory (one
//! file per address, created exclusively under a file lock), so several state directories can
//! run nodes side by side.
//!
//! This driver never reads or writes the state file and never prints: it returns what it
//! observed or a classified error; a node's own output goes to its log files.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream as StdTcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::task::JoinSet;

use super::{CreateRequest, Driver, DriverConfig, DriverError, Refreshed};
use crate::catalog::{Catalog, Image, Location, Size};
use crate::resource::{Address, Attributes, Desired, Existing, Kind, Placement};

/// Locations: id, display name and the second octet of their loopback range `127.N.0.0/16`.
const LOCATIONS: [(&str, &str, u8); 3] = [
    ("local-a", "Local A", 1),
    ("local-b", "Local B", 2),
    ("local-c", "Local C", 3),
];
/// Sizes: id, vCPUs, memory in GiB. Nothing enforces them; they exist so strategies can choose.
const SIZES: [(&str, u32, f64); 3] = [("small", 1, 0.5), ("medium", 2, 2.0), ("large", 4, 8.0)];
const IMAGE: &str = "host";
const SETTINGS: [&str; 3] = ["ready_timeout", "stop_grace", "runtime_dir"];

const META_FILE: &str = "node.json";
const STDOUT_LOG: &str = "stdout.log";
const STDERR_LOG: &str = "stderr.log";
const CLAIMS_LOCK: &str = ".lock";

/// How often readiness and stopping are checked.
const POLL: Duration = Duration::from_millis(50);
/// How long one TCP connect attempt may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// A node without ports is ready once its process has lived this long.
const SETTLE: Duration = Duration::from_millis(200);
/// How long processes may take to vanish after SIGKILL before stopping fails.
const KILL_WAIT: Duration = Duration::from_secs(2);
/// How many addresses with a foreign listener on the node's port are skipped before giving up.
const BUSY_LIMIT: usize = 16;
const LOG_LINES: usize = 10;
const LOG_TAIL_BYTES: u64 = 16 * 1024;

/// The `local` driver. See the module documentation.
#[derive(Debug)]
pub struct LocalDriver {
    /// The provider's name in placements (usually `local`).
    name: String,
    /// `STATE_DIR/local` (absolute): one directory per node.
    root: PathBuf,
    /// The machine-wide address-claim directory.
    claims: PathBuf,
    ready_timeout: Duration,
    stop_grace: Duration,
    /// Serializes address claims within this process (the claim-directory lock does it across
    /// processes).
    claim_lock: Arc<Mutex<()>>,
    /// Provider ids of nodes this process is creating right now, which refresh must not take
    /// for debris.
    starting: Mutex<HashSet<String>>,
}

impl LocalDriver {
    /// Build the driver. Settings, all optional: `ready_timeout` and `stop_grace` in seconds
    /// (defaults 30 and 5), and `runtime_dir`, the address-claim directory, meant for tests and
    /// isolated setups (default `$OSS_LOCAL_RUNTIME_DIR`, else `$TMPDIR/oss-local-UID`).
    pub fn new(config: DriverConfig) -> Result<Self, DriverError> {
        let settings = &config.settings;
        if let Some(key) = settings
            .keys()
            .find(|key| !SETTINGS.contains(&key.as_str()))
        {
            return Err(DriverError::fatal(format!(
                "Unknown local setting `{key}`; known settings: {}",
                SETTINGS.join(", ")
            )));
        }
        let claims = match settings.get("runtime_dir") {
            None => default_runtime_dir(),
            Some(Value::String(dir)) if !dir.is_empty() => PathBuf::from(dir),
            Some(_) => {
                return Err(DriverError::fatal(
                    "The local setting `runtime_dir` must be a directory path.",
                ));
            }
        };
        Ok(LocalDriver {
            name: config.name.clone(),
            root: absolute(&config.state_dir.join("local"))?,
            claims: absolute(&claims)?,
            ready_timeout: seconds(settings, "ready_timeout", 30.0)?,
            stop_grace: seconds(settings, "stop_grace", 5.0)?,
            claim_lock: Arc::new(Mutex::new(())),
            starting: Mutex::new(HashSet::new()),
        })
    }
}

#[async_trait]
impl Driver for LocalDriver {
    fn name(&self) -> &str {
        &self.name
    }

    async fn catalog(&self) -> Result<Catalog, DriverError> {
        let arch = host_arch();
        let version = fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|release| release.trim().to_string())
            .unwrap_or_default();
        // Local locations have no geography: country ZZ (ISO "unknown"), continent "none".
        let locations = LOCATIONS
            .iter()
            .map(|(id, name, _)| Location {
                id: id.to_string(),
                name: name.to_string(),
                region: "local".to_string(),
                zone: id.to_string(),
                country: "ZZ".to_string(),
                continent: "none".to_string(),
                latitude: 0.0,
                longitude: 0.0,
            })
            .collect();
        let sizes = SIZES
            .iter()
            .map(|(id, vcpus, memory_gib)| {
                let size = Size {
                    id: id.to_string(),
                    name: id.to_string(),
                    vcpus: *vcpus,
                    memory_gib: *memory_gib,
                    disk_gib: 10,
                    arch: arch.to_string(),
                };
                (size, 0.0)
            })
            .collect();
        let image = Image {
            id: IMAGE.to_string(),
            name: IMAGE.to_string(),
            os: "linux".to_string(),
            version,
            arch: arch.to_string(),
        };
        let mut catalog = Catalog::uniform(locations, sizes, vec![image], "USD");
        catalog.source = Some("this machine (local processes cost nothing)".into());
        Ok(catalog)
    }

    async fn refresh(&self, lineage: &str, known: &[Existing]) -> Result<Refreshed, DriverError> {
        let (processes, nodes) = self.look().await?;
        let mut refreshed = Refreshed::default();

        // Known nodes: alive if a live process carries the node directory and the first port
        // accepts a connection. The ports are probed concurrently.
        let mut probes = JoinSet::new();
        for existing in known {
            let live = self
                .node_dir(&existing.provider_id)
                .ok()
                .and_then(|dir| Some((processes.get(&dir)?, dir)));
            let Some((live, dir)) = live else {
                refreshed.known.insert(existing.address.clone(), None);
                continue;
            };
            // node.json is the record; without it, fall back to what state remembers.
            let (addr, attributes, recorded_pid) = match nodes.get(&existing.provider_id) {
                Some(meta) => (Some(meta.addr), &meta.attributes, meta.pid),
                None => (observed_addr(existing), &existing.attributes, None),
            };
            let Some(addr) = addr else {
                refreshed.known.insert(existing.address.clone(), None);
                continue;
            };
            let port = first_port(&existing.address, attributes);
            let observed = observed(&dir, addr, port, leader_pid(recorded_pid, live));
            let address = existing.address.clone();
            match port {
                None => {
                    refreshed.known.insert(address, Some(observed));
                }
                Some(port) => {
                    probes.spawn(async move {
                        let ready = accepts(addr, port).await;
                        (address, ready.then_some(observed))
                    });
                }
            }
        }
        while let Some(probe) = probes.join_next().await {
            let (address, observed) = probe.map_err(task_failed)?;
            refreshed.known.insert(address, observed);
        }

        // Nodes of this lineage that state does not know: live ones are orphans to adopt, dead
        // ones are debris of a crash before their process was ready.
        let known_ids: HashSet<&str> = known.iter().map(|e| e.provider_id.as_str()).collect();
        let known_addresses: HashSet<&Address> = known.iter().map(|e| &e.address).collect();

        let mut orphan_probes = JoinSet::new();
        for (id, meta) in &nodes {
            if meta.lineage != lineage || known_ids.contains(id.as_str()) {
                continue;
            }
            let dir = self.root.join(id);
            match processes.get(&dir) {
                Some(live) if !known_addresses.contains(&meta.address) => {
                    // Adopted only when it answers, like a node apply made: one a crash left
                    // still starting is reported as debris, and apply starts it again.
                    let port = first_port(&meta.address, &meta.attributes);
                    let observed = observed(&dir, meta.addr, port, leader_pid(meta.pid, live));
                    let found = meta.existing(observed);
                    let addr = meta.addr;
                    orphan_probes.spawn(async move {
                        let ready = match port {
                            Some(port) => accepts(addr, port).await,
                            None => true,
                        };
                        (found, ready)
                    });
                }
                // A second live node for an address state already knows: not ours to judge.
                Some(_) => {}
                // Refresh only looks (plan runs it without the lock, maybe while an apply
                // starts this very node): leftovers are reported, and removed by the apply
                // that deletes them.
                None if !self.is_starting(id) => {
                    refreshed.debris.push(meta.existing(Attributes::new()))
                }
                None => {}
            }
        }
        while let Some(probe) = orphan_probes.join_next().await {
            let (mut found, ready) = probe.map_err(task_failed)?;
            if ready {
                refreshed.orphans.push(found);
            } else {
                found.observed = Attributes::new();
                refreshed.debris.push(found);
            }
        }
        refreshed.orphans.sort_by(|a, b| a.address.cmp(&b.address));
        refreshed.debris.sort_by(|a, b| a.address.cmp(&b.address));
        Ok(refreshed)
    }

    async fn create(&self, request: CreateRequest<'_>) -> Result<Existing, DriverError> {
        let network = check_placement(request.placement)?;
        let spec = NodeSpec::parse(&request.desired.address, &request.desired.attributes)?;
        if let Some(adopted) = self.adopt(&request).await? {
            return Ok(adopted);
        }
        self.create_fresh(&request, network, &spec).await
    }

    async fn update(
        &self,
        existing: &Existing,
        desired: &Desired,
    ) -> Result<Existing, DriverError> {
        let dir = self.node_dir(&existing.provider_id)?;
        let mut meta = read_meta(&dir).ok_or_else(|| {
            DriverError::fatal(format!(
                "Node `{}` ({}) no longer exists, so its tags cannot be updated.",
                existing.address, existing.provider_id
            ))
        })?;
        match desired.attributes.get("tags") {
            Some(tags) => {
                check_tags(tags).map_err(|problem| {
                    DriverError::fatal(format!("Node `{}`: {problem}.", desired.address))
                })?;
                meta.attributes.insert("tags".to_string(), tags.clone());
            }
            None => {
                meta.attributes.remove("tags");
            }
        }
        write_meta(&dir, &meta)?;
        Ok(Existing {
            attributes: meta.attributes,
            ..existing.clone()
        })
    }

    async fn delete(&self, existing: &Existing) -> Result<(), DriverError> {
        let dir = self.node_dir(&existing.provider_id)?;
        self.stop(&dir).await?;
        self.remove_node(dir).await
    }
}

// ---------------------------------------------------------------------------------------------
// Creating, waiting, stopping.

impl LocalDriver {
    /// Adopt a node of the same lineage and address that a crash left behind, if it is alive
    /// and becomes ready; clean up dead ones.
    async fn adopt(&self, request: &CreateRequest<'_>) -> Result<Option<Existing>, DriverError> {
        let (processes, nodes) = self.look().await?;
        for (id, meta) in nodes {
            let same = meta.lineage == request.lineage && meta.address == request.desired.address;
            if !same || self.is_starting(&id) {
                continue;
            }
            let dir = self.root.join(&id);
            if let Some(live) = processes.get(&dir) {
                let port = first_port(&meta.address, &meta.attributes);
                // A node that never gets ready is discarded below like a dead one.
                if self
                    .wait_ready(&meta.address, &dir, meta.addr, port, None)
                    .await
                    .is_ok()
                {
                    let observed = observed(&dir, meta.addr, port, leader_pid(meta.pid, live));
                    return Ok(Some(meta.existing(observed)));
                }
            }
            self.discard(&dir).await?;
        }
        Ok(None)
    }

    /// Create a new node directory, claim an address, start the process and wait until it is
    /// ready. On failure nothing is left behind.
    async fn create_fresh(
        &self,
        request: &CreateRequest<'_>,
        network: u8,
        spec: &NodeSpec,
    ) -> Result<Existing, DriverError> {
        fs::create_dir_all(&self.root)
            .map_err(|e| io_error("create the node directory root", &self.root, e))?;
        // The id follows from lineage and address, so a directory a crash left before its
        // node.json was written is found (and reclaimed) by the next create of that address.
        let provider_id = provider_id(&spec.name, request.lineage, &request.desired.address);
        let dir = self.root.join(&provider_id);
        if let Err(e) = fs::create_dir(&dir) {
            if e.kind() != io::ErrorKind::AlreadyExists {
                return Err(io_error("create the node directory", &dir, e));
            }
            self.discard(&dir).await?;
            fs::create_dir(&dir).map_err(|e| io_error("create the node directory", &dir, e))?;
        }
        let _starting = Starting::mark(&self.starting, &provider_id);

        let result = self
            .start_node(request, network, spec, &provider_id, &dir)
            .await;
        if let Err(mut error) = result {
            if let Err(cleanup) = self.discard(&dir).await {
                error.message = format!("{} Cleaning up also failed: {cleanup}", error.message);
            }
            return Err(error);
        }
        result
    }

    async fn start_node(
        &self,
        request: &CreateRequest<'_>,
        network: u8,
        spec: &NodeSpec,
        provider_id: &str,
        dir: &Path,
    ) -> Result<Existing, DriverError> {
        let desired = request.desired;
        let addr = self.claim(network, spec.port, dir).await?;
        let mut meta = NodeMeta {
            lineage: request.lineage.to_string(),
            address: desired.address.clone(),
            kind: desired.kind,
            placement: request.placement.clone(),
            attributes: desired.attributes.clone(),
            dependencies: desired.depends_on.clone(),
            provider_id: provider_id.to_string(),
            addr,
            pid: None,
            started_at: unix_now(),
        };
        // The record exists before the process does, so a crash in between leaves debris that
        // refresh recognizes, never an unmarked process.
        write_meta(dir, &meta)?;
        let pid = spawn_node(dir, addr, spec)?;
        meta.pid = Some(pid);
        write_meta(dir, &meta)?;
        self.wait_ready(&desired.address, dir, addr, spec.port, Some(pid))
            .await?;
        Ok(meta.existing(observed(dir, addr, spec.port, Some(pid))))
    }

    /// Wait until the node accepts connections on its first port (or, without ports, has lived
    /// for a moment). If its processes die or `ready_timeout` passes, stop them and fail with the
    /// tail of its logs. `leader` is the pid we started, checked cheaply before scanning /proc.
    async fn wait_ready(
        &self,
        address: &Address,
        dir: &Path,
        addr: Ipv4Addr,
        port: Option<u16>,
        leader: Option<u32>,
    ) -> Result<(), DriverError> {
        let problem = match port {
            None => {
                tokio::time::sleep(SETTLE).await;
                if self.alive(dir, leader).await? {
                    return Ok(());
                }
                "its process exited".to_string()
            }
            Some(port) => {
                let deadline = Instant::now() + self.ready_timeout;
                loop {
                    if accepts(addr, port).await {
                        return Ok(());
                    }
                    if !self.alive(dir, leader).await? {
                        break "its process exited".to_string();
                    }
                    if Instant::now() >= deadline {
                        break format!(
                            "nothing accepted connections on {addr}:{port} within {:?}",
                            self.ready_timeout
                        );
                    }
                    tokio::time::sleep(POLL).await;
                }
            }
        };
        self.stop(dir).await?;
        Err(DriverError::fatal(format!(
            "Node `{address}` did not become ready: {problem}.{}",
            log_tail(dir)
        )))
    }

    /// Whether any process of the node is alive.
    async fn alive(&self, dir: &Path, leader: Option<u32>) -> Result<bool, DriverError> {
        if leader.is_some_and(pid_alive) {
            return Ok(true);
        }
        Ok(!self.processes_of(dir).await?.is_empty())
    }

    /// Stop every process carrying the node directory: SIGTERM to their process groups, SIGKILL
    /// after `stop_grace`. Stopping a node without processes succeeds at once.
    async fn stop(&self, dir: &Path) -> Result<(), DriverError> {
        let grace_end = Instant::now() + self.stop_grace;
        let give_up = grace_end + KILL_WAIT;
        let mut terminated = false;
        loop {
            let processes = self.processes_of(dir).await?;
            if processes.is_empty() {
                return Ok(());
            }
            let now = Instant::now();
            if !terminated {
                send_signal(&processes, libc::SIGTERM);
                terminated = true;
            } else if now >= give_up {
                return Err(DriverError::fatal(format!(
                    "The processes of node directory {} are still running after SIGKILL.",
                    dir.display()
                )));
            } else if now >= grace_end {
                send_signal(&processes, libc::SIGKILL);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Stop the node's processes and remove its directory and address claim.
    async fn discard(&self, dir: &Path) -> Result<(), DriverError> {
        self.stop(dir).await?;
        self.remove_node(dir.to_path_buf()).await
    }

    /// Remove a node directory and release its address claim. Missing pieces are fine.
    async fn remove_node(&self, dir: PathBuf) -> Result<(), DriverError> {
        let claims = self.claims.clone();
        let lock = self.claim_lock.clone();
        blocking(move || {
            match fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("remove the node directory", &dir, e)),
            }
            release_claims(&claims, &lock, &dir)
        })
        .await
    }

    async fn claim(
        &self,
        network: u8,
        port: Option<u16>,
        dir: &Path,
    ) -> Result<Ipv4Addr, DriverError> {
        let claims = self.claims.clone();
        let lock = self.claim_lock.clone();
        let dir = dir.to_path_buf();
        blocking(move || claim_address(&claims, &lock, network, port, &dir)).await
    }

    /// One /proc scan and one read of the node directories.
    async fn look(&self) -> Result<(ProcessMap, BTreeMap<String, NodeMeta>), DriverError> {
        let root = self.root.clone();
        blocking(move || Ok((scan_nodes()?, read_nodes(&root)?))).await
    }

    async fn processes_of(&self, dir: &Path) -> Result<Vec<NodeProcess>, DriverError> {
        let dir = dir.to_path_buf();
        blocking(move || Ok(scan_nodes()?.remove(&dir).unwrap_or_default())).await
    }

    /// The directory of a node, refusing ids that are not plain names (state could be edited).
    fn node_dir(&self, provider_id: &str) -> Result<PathBuf, DriverError> {
        let plain = !provider_id.is_empty()
            && !provider_id.starts_with('.')
            && provider_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if plain {
            Ok(self.root.join(provider_id))
        } else {
            Err(DriverError::fatal(format!(
                "`{provider_id}` is not a local node id."
            )))
        }
    }

    fn is_starting(&self, provider_id: &str) -> bool {
        self.starting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(provider_id)
    }
}

/// Marks a provider id as being created until dropped.
struct Starting<'a> {
    set: &'a Mutex<HashSet<String>>,
    id: String,
}

impl<'a> Starting<'a> {
    fn mark(set: &'a Mutex<HashSet<String>>, id: &str) -> Self {
        set.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_string());
        Starting {
            set,
            id: id.to_string(),
        }
    }
}

impl Drop for Starting<'_> {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

/// Start `/bin/sh -c COMMAND` detached in its own process group and return its pid.
fn spawn_node(dir: &Path, addr: Ipv4Addr, spec: &NodeSpec) -> Result<u32, DriverError> {
    let log = |name: &str| {
        let path = dir.join(name);
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_error("open the log file", &path, e))
    };
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(&spec.command)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log(STDOUT_LOG)?)
        .stderr(log(STDERR_LOG)?)
        .process_group(0)
        .env("OSS_NODE_NAME", &spec.name)
        .env("OSS_NODE_ADDR", addr.to_string())
        .env("OSS_NODE_DIR", dir);
    match spec.port {
        Some(port) => command.env("OSS_NODE_PORT", port.to_string()),
        None => command.env_remove("OSS_NODE_PORT"),
    };
    match spec.index {
        Some(index) => command.env("OSS_NODE_INDEX", index.to_string()),
        None => command.env_remove("OSS_NODE_INDEX"),
    };
    let mut child = command
        .spawn()
        .map_err(|e| DriverError::fatal(format!("Could not start node `{}`: {e}.", spec.name)))?;
    let pid = child.id().ok_or_else(|| {
        DriverError::fatal(format!("Node `{}` exited before it got a pid.", spec.name))
    })?;
    // Reap it in the background so a dead node does not linger as a zombie while oss runs.
    // Nodes outlive oss, so the child is not killed when dropped.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    Ok(pid)
}

/// Whether something accepts TCP connections on `addr:port`.
async fn accepts(addr: Ipv4Addr, port: u16) -> bool {
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect((addr, port))).await,
        Ok(Ok(_))
    )
}

// ---------------------------------------------------------------------------------------------
// What a node is made of: its attributes and its node.json.

/// The attributes the driver needs to start a node.
#[derive(Debug)]
struct NodeSpec {
    name: String,
    index: Option<u64>,
    command: String,
    /// The first port: the readiness port.
    port: Option<u16>,
}

impl NodeSpec {
    fn parse(address: &Address, attributes: &Attributes) -> Result<Self, DriverError> {
        let bad = |problem: String| DriverError::fatal(format!("Node `{address}`: {problem}."));
        let text = |key: &str| match attributes.get(key) {
            Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
            _ => Err(bad(format!("attribute `{key}` must be a non-empty string"))),
        };
        let name = text("name")?;
        let command = text("command")?;
        let index = match attributes.get("index") {
            None | Some(Value::Null) => None,
            Some(index) => Some(
                index
                    .as_u64()
                    .ok_or_else(|| bad("attribute `index` must be a whole number".to_string()))?,
            ),
        };
        let ports = match attributes.get("ports") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(ports)) => ports
                .iter()
                .map(|port| port.as_u64().and_then(|port| u16::try_from(port).ok()))
                .map(|port| port.filter(|port| *port > 0))
                .collect::<Option<Vec<u16>>>()
                .ok_or_else(|| bad("attribute `ports` must hold port numbers 1-65535".into()))?,
            Some(_) => return Err(bad("attribute `ports` must be an array".to_string())),
        };
        if let Some(tags) = attributes.get("tags") {
            check_tags(tags).map_err(bad)?;
        }
        Ok(NodeSpec {
            name,
            index,
            command,
            port: ports.first().copied(),
        })
    }
}

fn check_tags(tags: &Value) -> Result<(), String> {
    match tags {
        Value::Object(tags) if tags.values().all(Value::is_string) => Ok(()),
        _ => Err("attribute `tags` must map names to strings".to_string()),
    }
}

/// The readiness port of a recorded node; a malformed record counts as no port.
fn first_port(address: &Address, attributes: &Attributes) -> Option<u16> {
    NodeSpec::parse(address, attributes).ok()?.port
}

/// The placement's location network number, after checking size and image exist.
fn check_placement(placement: &Placement) -> Result<u8, DriverError> {
    let unknown = |what: &str, value: &str, valid: Vec<&str>| {
        DriverError::fatal(format!(
            "Unknown local {what} `{value}`; valid {what}s: {}.",
            valid.join(", ")
        ))
    };
    let Some((_, _, network)) = LOCATIONS.iter().find(|(id, ..)| *id == placement.location) else {
        let valid = LOCATIONS.iter().map(|(id, ..)| *id).collect();
        return Err(unknown("location", &placement.location, valid));
    };
    if !SIZES.iter().any(|(id, ..)| *id == placement.size) {
        let valid = SIZES.iter().map(|(id, ..)| *id).collect();
        return Err(unknown("size", &placement.size, valid));
    }
    if placement.image != IMAGE {
        return Err(unknown("image", &placement.image, vec![IMAGE]));
    }
    Ok(*network)
}

/// `node.json`: everything needed to recognize a node and rebuild its `Existing`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct NodeMeta {
    lineage: String,
    address: Address,
    kind: Kind,
    placement: Placement,
    attributes: Attributes,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    dependencies: Vec<Address>,
    provider_id: String,
    addr: Ipv4Addr,
    /// Absent when oss stopped between writing the record and starting the process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    started_at: u64,
}

impl NodeMeta {
    fn existing(&self, observed: Attributes) -> Existing {
        Existing {
            address: self.address.clone(),
            kind: self.kind,
            placement: self.placement.clone(),
            provider_id: self.provider_id.clone(),
            attributes: self.attributes.clone(),
            observed,
            dependencies: self.dependencies.clone(),
        }
    }
}

fn read_meta(dir: &Path) -> Option<NodeMeta> {
    serde_json::from_slice(&fs::read(dir.join(META_FILE)).ok()?).ok()
}

/// Write node.json atomically: temporary file, fsync, rename, fsync of the directory.
fn write_meta(dir: &Path, meta: &NodeMeta) -> Result<(), DriverError> {
    let path = dir.join(META_FILE);
    let temp = dir.join(format!("{META_FILE}.tmp"));
    let json = serde_json::to_vec_pretty(meta)
        .map_err(|e| DriverError::fatal(format!("Could not encode {}: {e}.", path.display())))?;
    let write = || -> io::Result<()> {
        let mut file = File::create(&temp)?;
        file.write_all(&json)?;
        file.sync_all()?;
        fs::rename(&temp, &path)?;
        File::open(dir)?.sync_all()
    };
    write().map_err(|e| io_error("write", &path, e))
}

/// Every node directory under `root` with a readable node.json, by directory name (the
/// provider id). A directory without one is not (yet) a node and is left alone.
fn read_nodes(root: &Path) -> Result<BTreeMap<String, NodeMeta>, DriverError> {
    let entries = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(io_error("read the node directory root", root, e)),
    };
    let mut nodes = BTreeMap::new();
    for entry in entries.flatten() {
        let Ok(id) = entry.file_name().into_string() else {
            continue;
        };
        // A record that names another directory (a copied one) is not this node's.
        if let Some(meta) = read_meta(&entry.path())
            && meta.provider_id == id
        {
            nodes.insert(id, meta);
        }
    }
    Ok(nodes)
}

/// What `Existing.observed` holds for a node.
fn observed(dir: &Path, addr: Ipv4Addr, port: Option<u16>, pid: Option<u32>) -> Attributes {
    let mut observed = Attributes::new();
    observed.insert("addr".to_string(), Value::from(addr.to_string()));
    if let Some(pid) = pid {
        observed.insert("pid".to_string(), Value::from(pid));
    }
    observed.insert(
        "dir".to_string(),
        Value::from(dir.to_string_lossy().into_owned()),
    );
    if let Some(port) = port {
        observed.insert(
            "url".to_string(),
            Value::from(format!("http://{addr}:{port}")),
        );
    }
    observed
}

fn observed_addr(existing: &Existing) -> Option<Ipv4Addr> {
    existing.observed.get("addr")?.as_str()?.parse().ok()
}

/// The pid to report: the recorded one while it lives, else the oldest-looking live one.
fn leader_pid(recorded: Option<u32>, live: &[NodeProcess]) -> Option<u32> {
    recorded
        .filter(|pid| live.iter().any(|p| p.pid == *pid))
        .or_else(|| live.iter().map(|p| p.pid).min())
}

/// The last lines of the node's logs, formatted to end an error message.
fn log_tail(dir: &Path) -> String {
    let mut out = String::new();
    for name in [STDERR_LOG, STDOUT_LOG] {
        let lines = last_lines(&dir.join(name), LOG_LINES);
        if !lines.is_empty() {
            out.push_str(&format!("\n{name}:"));
            for line in lines {
                out.push_str("\n  ");
                out.push_str(&line);
            }
        }
    }
    if out.is_empty() {
        " It wrote no output.".to_string()
    } else {
        format!(" Last output:{out}")
    }
}

fn last_lines(path: &Path, count: usize) -> Vec<String> {
    let Ok(mut file) = File::open(path) else {
        return Vec::new();
    };
    let start = file
        .metadata()
        .map(|m| m.len().saturating_sub(LOG_TAIL_BYTES))
        .unwrap_or(0);
    let mut bytes = Vec::new();
    if file
        .seek(SeekFrom::Start(start))
        .and_then(|_| file.read_to_end(&mut bytes))
        .is_err()
    {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..]
        .iter()
        .map(|line| line.to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Addresses: machine-wide claims.

/// Claim a free address in `127.{network}.0.0/16` for the node directory `dir`.
///
/// A claim is the file `CLAIMS/ADDR`, created exclusively and holding the node directory's
/// path. Claims are made and released under an exclusive lock on `CLAIMS/.lock`, so removing a
/// stale claim cannot race with another process taking the same address.
fn claim_address(
    claims: &Path,
    lock: &Mutex<()>,
    network: u8,
    port: Option<u16>,
    dir: &Path,
) -> Result<Ipv4Addr, DriverError> {
    let _in_process = lock.lock().unwrap_or_else(PoisonError::into_inner);
    let _machine = lock_claims(claims)?;
    let mut busy = 0;
    for addr in candidates(network) {
        let claim = claims.join(addr.to_string());
        if claim.exists() {
            if !claim_is_stale(&claim) {
                continue;
            }
            remove_file(&claim)?;
        }
        if let Some(port) = port
            && listening(addr, port)
        {
            busy += 1;
            if busy == BUSY_LIMIT {
                return Err(DriverError::fail_over(format!(
                    "Port {port} is taken on every address tried in 127.{network}.0.0/16; \
                     is something listening on 0.0.0.0:{port}?"
                )));
            }
            continue;
        }
        match OpenOptions::new().write(true).create_new(true).open(&claim) {
            Ok(mut file) => {
                let written = file
                    .write_all(dir.as_os_str().as_bytes())
                    .and_then(|()| file.sync_all());
                if let Err(e) = written {
                    let _ = fs::remove_file(&claim);
                    return Err(io_error("write the address claim", &claim, e));
                }
                return Ok(addr);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_error("create the address claim", &claim, e)),
        }
    }
    Err(DriverError::fail_over(format!(
        "No free loopback address is left in 127.{network}.0.0/16."
    )))
}

/// Release every claim held by the node directory `dir`.
fn release_claims(claims: &Path, lock: &Mutex<()>, dir: &Path) -> Result<(), DriverError> {
    let _in_process = lock.lock().unwrap_or_else(PoisonError::into_inner);
    let _machine = lock_claims(claims)?;
    let entries = fs::read_dir(claims).map_err(|e| io_error("read", claims, e))?;
    for entry in entries.flatten() {
        if entry.file_name().as_bytes().starts_with(b".") {
            continue;
        }
        let path = entry.path();
        if fs::read(&path).is_ok_and(|owner| owner == dir.as_os_str().as_bytes()) {
            remove_file(&path)?;
        }
    }
    Ok(())
}

/// Take the machine-wide claim lock; it holds until the returned file is closed.
fn lock_claims(claims: &Path) -> Result<File, DriverError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(claims)
        .map_err(|e| io_error("create the address-claim directory", claims, e))?;
    let path = claims.join(CLAIMS_LOCK);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io_error("open", &path, e))?;
    loop {
        // SAFETY: flock on a descriptor we own; it does not touch memory.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(file);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(io_error("lock", &path, error));
        }
    }
}

/// A claim is stale when the node directory it names no longer exists. An empty claim is stale
/// too: claims are written under the lock, so only a writer that died leaves one empty.
fn claim_is_stale(claim: &Path) -> bool {
    match fs::read(claim) {
        Ok(owner) => owner.is_empty() || !Path::new(OsStr::from_bytes(&owner)).is_dir(),
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    }
}

/// Addresses of a location in allocation order: `127.N.0.2` upward, skipping `.0` and `.255`
/// in the last octet.
fn candidates(network: u8) -> impl Iterator<Item = Ipv4Addr> {
    (0..=255u8).flat_map(move |x| {
        let first = if x == 0 { 2 } else { 1 };
        (first..=254u8).map(move |y| Ipv4Addr::new(127, network, x, y))
    })
}

/// Whether something already listens on `addr:port` (a quick blocking connect attempt).
fn listening(addr: Ipv4Addr, port: u16) -> bool {
    let target = SocketAddr::from((addr, port));
    StdTcpStream::connect_timeout(&target, Duration::from_millis(200)).is_ok()
}

fn remove_file(path: &Path) -> Result<(), DriverError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("remove", path, e)),
    }
}

// ---------------------------------------------------------------------------------------------
// Processes: finding them in /proc and signalling them.

#[derive(Clone, Copy, Debug)]
struct NodeProcess {
    pid: u32,
    pgid: u32,
}

/// Live processes by the `OSS_NODE_DIR` they carry.
type ProcessMap = HashMap<PathBuf, Vec<NodeProcess>>;

/// Scan `/proc` once for live processes carrying `OSS_NODE_DIR`. Processes whose environment
/// cannot be read (other users') are skipped.
fn scan_nodes() -> Result<ProcessMap, DriverError> {
    let entries = fs::read_dir("/proc").map_err(|e| io_error("read", Path::new("/proc"), e))?;
    let mut found = ProcessMap::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let Ok(environ) = fs::read(entry.path().join("environ")) else {
            continue;
        };
        let Some(dir) = environ
            .split(|byte| *byte == 0)
            .find_map(|var| var.strip_prefix(b"OSS_NODE_DIR="))
        else {
            continue;
        };
        let Some((state, pgid)) = process_stat(pid) else {
            continue;
        };
        if is_live_state(state) {
            found
                .entry(PathBuf::from(OsStr::from_bytes(dir)))
                .or_default()
                .push(NodeProcess { pid, pgid });
        }
    }
    Ok(found)
}

/// State letter and process group of a process, from `/proc/PID/stat`.
fn process_stat(pid: u32) -> Option<(char, u32)> {
    let stat = fs::read(format!("/proc/{pid}/stat")).ok()?;
    let stat = String::from_utf8_lossy(&stat);
    // The command name in parentheses may hold spaces; the fields follow the last ')'.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _parent = fields.next()?;
    let pgid = fields.next()?.parse().ok()?;
    Some((state, pgid))
}

fn is_live_state(state: char) -> bool {
    !matches!(state, 'Z' | 'X' | 'x')
}

fn pid_alive(pid: u32) -> bool {
    process_stat(pid).is_some_and(|(state, _)| is_live_state(state))
}

/// Send `signal` to the process groups of `processes` and to each process itself, never to oss
/// itself or its own group.
fn send_signal(processes: &[NodeProcess], signal: libc::c_int) {
    // SAFETY: getpid and getpgrp have no preconditions.
    let (me, my_group) = unsafe { (libc::getpid(), libc::getpgrp()) };
    // Pids fit in pid_t: the kernel caps them at 2^22.
    let groups: BTreeSet<libc::pid_t> = processes
        .iter()
        .map(|p| p.pgid as libc::pid_t)
        .filter(|group| *group > 1 && *group != my_group)
        .collect();
    for group in groups {
        // SAFETY: kill only sends a signal.
        unsafe { libc::kill(-group, signal) };
    }
    for process in processes {
        let pid = process.pid as libc::pid_t;
        if pid > 1 && pid != me {
            // SAFETY: kill only sends a signal.
            unsafe { libc::kill(pid, signal) };
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, DriverError> + Send + 'static,
) -> Result<T, DriverError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(task_failed)?
}

fn task_failed(error: tokio::task::JoinError) -> DriverError {
    DriverError::fatal(format!("A local driver task failed: {error}."))
}

fn io_error(what: &str, path: &Path, error: io::Error) -> DriverError {
    DriverError::fatal(format!("Could not {what} {}: {error}.", path.display()))
}

fn absolute(path: &Path) -> Result<PathBuf, DriverError> {
    std::path::absolute(path).map_err(|e| io_error("resolve", path, e))
}

fn default_runtime_dir() -> PathBuf {
    match std::env::var_os("OSS_LOCAL_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            // SAFETY: getuid has no preconditions.
            let uid = unsafe { libc::getuid() };
            std::env::temp_dir().join(format!("oss-local-{uid}"))
        }
    }
}

fn seconds(
    settings: &Map<String, Value>,
    key: &str,
    default: f64,
) -> Result<Duration, DriverError> {
    match settings.get(key) {
        None => Ok(Duration::from_secs_f64(default)),
        Some(value) => value
            .as_f64()
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
            .ok_or_else(|| {
                DriverError::fatal(format!(
                    "The local setting `{key}` must be a number of seconds."
                ))
            }),
    }
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        other => other,
    }
}

fn provider_id(name: &str, lineage: &str, address: &Address) -> String {
    let base: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(48)
        .collect();
    let base = if base.is_empty() { "node" } else { &base };
    let digest = crate::digest::sha256_hex(format!("{lineage}\0{address}").as_bytes());
    format!("{base}-{}", &digest[..8])
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::ErrorClass;
    use serde_json::json;
    use tempfile::TempDir;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
                settings,
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

        async fn create_in(
            &self,
            desired: &Desired,
            lineage: &str,
        ) -> Result<Existing, DriverError> {
            let placement = placement("local-a");
            let request = CreateRequest {
                desired,
                placement: &placement,
                lineage,
                dependencies: &[],
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
            fallbacks: Vec::new(),
            attributes: serde_json::from_value(attributes).expect("attributes"),
            depends_on: Vec::new(),
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

    #[tokio::test]
    async fn command_that_exits_fails_with_its_output() {
        let env = Env::new();
        let command = "echo out-line; echo err-line >&2; exit 3";
        let error = env
            .create(&node(0, command, &[test_port()]))
            .await
            .unwrap_err();

        assert_eq!(error.class, ErrorClass::Fatal);
        assert!(error.message.contains("node.web[0]"), "{}", error.message);
        assert!(error.message.contains("exited"), "{}", error.message);
        assert!(error.message.contains("err-line"), "{}", error.message);
        assert!(error.message.contains("out-line"), "{}", error.message);
        assert!(env.node_dirs().is_empty());
        assert!(env.claims().is_empty());
    }

    #[tokio::test]
    async fn node_that_never_listens_times_out() {
        let env = Env::with(serde_json::from_value(json!({"ready_timeout": 0.5})).expect("map"));
        let command = "echo waiting; exec sleep 300";
        let error = env
            .create(&node(0, command, &[test_port()]))
            .await
            .unwrap_err();

        assert_eq!(error.class, ErrorClass::Fatal);
        assert!(error.message.contains("within 500ms"), "{}", error.message);
        assert!(error.message.contains("waiting"), "{}", error.message);
        assert!(env.node_dirs().is_empty());
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

    #[test]
    fn unknown_settings_are_refused() {
        let settings = serde_json::from_value(json!({"ready_timeot": 3})).expect("map");
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
            settings: Map::new(),
            state_dir: tmp.path().to_path_buf(),
        };
        let driver = LocalDriver::new(config).expect("driver");
        assert!(driver.node_dir("web-0-0badcafe").is_ok());
        for id in ["", "..", "../x", "a/b", ".hidden"] {
            assert!(driver.node_dir(id).is_err(), "{id}");
        }
    }
}
