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

mod claims;
mod marker;
mod node_dir;
pub(crate) mod procs;
mod settings;
pub use settings::SECRET_SETTINGS;
mod spawn;

use std::collections::HashSet;
use std::fs::{self};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio::task::JoinSet;

use super::{CreateRequest, Driver, DriverConfig, DriverError, LogStream, Refreshed};
use crate::catalog::{Catalog, Image, Location, Size};
use crate::resource::{Address, Attributes, Desired, Existing, Placement};
use node_dir::{
    NodeSpec, STDERR_LOG, STDOUT_LOG, check_tags, first_port, last_lines, leader_pid, observed,
    observed_addr, read_meta, write_meta,
};
use spawn::accepts;

/// Locations: id, display name and the second octet of their loopback range `127.N.0.0/16`.
const LOCATIONS: [(&str, &str, u8); 3] = [
    ("local-a", "Local A", 1),
    ("local-b", "Local B", 2),
    ("local-c", "Local C", 3),
];
/// Sizes: id, vCPUs, memory in GiB. Nothing enforces them; they exist so strategies can choose.
const SIZES: [(&str, u32, f64); 3] = [("small", 1, 0.5), ("medium", 2, 2.0), ("large", 4, 8.0)];
const IMAGE: &str = "host";

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
    /// Its operations (refresh, create, update, delete) counted as a cloud's API calls are,
    /// so `/metrics` shows local applies like any other provider's.
    calls: crate::net::calls::Calls,
}

impl LocalDriver {
    /// Build the driver. Settings, all optional: `ready_timeout` and `stop_grace` in seconds
    /// (defaults 30 and 5), and `runtime_dir`, the address-claim directory, meant for tests and
    /// isolated setups (default `$OSS_LOCAL_RUNTIME_DIR`, else `$TMPDIR/oss-local-UID`).
    pub fn new(config: DriverConfig) -> Result<Self, DriverError> {
        let settings = settings::resolve(&config.settings)
            .map_err(|e| e.into_driver_error("local", &config.name))?;
        Ok(LocalDriver {
            name: config.name.clone(),
            root: absolute(&config.state_dir.join("local"))?,
            claims: absolute(&settings.runtime_dir())?,
            ready_timeout: settings.ready_timeout(),
            stop_grace: settings.stop_grace(),
            claim_lock: Arc::new(Mutex::new(())),
            starting: Mutex::new(HashSet::new()),
            calls: Default::default(),
        })
    }
}

/// Checks local settings as written in the strategy (see [`crate::driver::check_settings`]).
pub fn check_settings(settings: &Map<String, Value>) -> Result<(), super::settings::SettingsError> {
    settings::check(settings)
}

#[async_trait]
impl Driver for LocalDriver {
    fn name(&self) -> &str {
        &self.name
    }

    fn api_calls(&self) -> crate::net::calls::CallCounts {
        self.calls.counts()
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
        self.calls.count(self.refresh_nodes(lineage, known)).await
    }

    async fn import(&self, address: &Address, id: &str) -> Result<Existing, DriverError> {
        self.import_node(address, id).await
    }

    async fn remark(
        &self,
        existing: &Existing,
        lineage: &str,
        to: Option<&Address>,
    ) -> Result<Existing, DriverError> {
        self.remark_node(existing, lineage, to)
    }

    async fn create(&self, request: CreateRequest<'_>) -> Result<Existing, DriverError> {
        self.calls.count(self.create_node(request)).await
    }

    async fn update(
        &self,
        existing: &Existing,
        desired: &Desired,
    ) -> Result<Existing, DriverError> {
        self.calls.count(self.update_node(existing, desired)).await
    }

    async fn delete(&self, existing: &Existing) -> Result<(), DriverError> {
        self.calls.count(self.delete_node(existing)).await
    }

    async fn logs(
        &self,
        existing: &Existing,
        lines: usize,
    ) -> Result<Option<Vec<LogStream>>, DriverError> {
        let dir = self.node_dir(&existing.provider_id)?;
        let streams = [("stderr", STDERR_LOG), ("stdout", STDOUT_LOG)]
            .into_iter()
            .map(|(name, file)| LogStream {
                name: name.to_string(),
                lines: last_lines(&dir.join(file), lines),
            })
            .collect();
        Ok(Some(streams))
    }
}

/// The driver's operations, each counted as one call by its trait method (`calls`).
impl LocalDriver {
    /// What exists of `lineage`: the `known` nodes' liveness, orphans and debris.
    async fn refresh_nodes(
        &self,
        lineage: &str,
        known: &[Existing],
    ) -> Result<Refreshed, DriverError> {
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

    /// A node for `request`: an orphan of its address adopted, or a fresh one.
    async fn create_node(&self, request: CreateRequest<'_>) -> Result<Existing, DriverError> {
        let network = check_placement(request.placement)?;
        let spec = NodeSpec::parse(&request.desired.address, &request.desired.attributes)?;
        if let Some(adopted) = self.adopt(&request).await? {
            return Ok(adopted);
        }
        self.create_fresh(&request, network, &spec).await
    }

    /// The node's tags set to the desired ones.
    async fn update_node(
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

    /// The node stopped and its directory removed.
    async fn delete_node(&self, existing: &Existing) -> Result<(), DriverError> {
        let dir = self.node_dir(&existing.provider_id)?;
        self.stop(&dir).await?;
        self.remove_node(dir).await
    }
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
// ---------------------------------------------------------------------------------------------
// Small helpers.

pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, DriverError> + Send + 'static,
) -> Result<T, DriverError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(task_failed)?
}

pub(super) fn task_failed(error: tokio::task::JoinError) -> DriverError {
    DriverError::fatal(format!("A local driver task failed: {error}."))
}

pub(super) fn io_error(what: &str, path: &Path, error: io::Error) -> DriverError {
    DriverError::fatal(format!("Could not {what} {}: {error}.", path.display()))
}

pub(super) fn absolute(path: &Path) -> Result<PathBuf, DriverError> {
    std::path::absolute(path).map_err(|e| io_error("resolve", path, e))
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        other => other,
    }
}

/// A node's id: its name, and a digest of lineage, address and the ids of the objects it
/// replaces (none, unless the old node still runs beside it: create-before-destroy).
pub(super) fn provider_id(
    name: &str,
    lineage: &str,
    address: &Address,
    replacing: &[&str],
) -> String {
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
    let mut seed = format!("{lineage}\0{address}");
    for id in replacing {
        seed.push('\0');
        seed.push_str(id);
    }
    let digest = crate::digest::sha256_hex(seed.as_bytes());
    format!("{base}-{}", &digest[..8])
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
