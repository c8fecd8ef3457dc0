//! Starting, waiting for and stopping nodes: adoption of what a crash left, a fresh node's
//! directory, claim, record, detached process group and environment (its own variables only,
//! nothing of oss's), readiness on the first port, and TERM-then-KILL stopping. Everything that blocks runs on blocking threads.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::fs;
use std::io::{self};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::process::Command;

use super::claims::{claim_address, release_claims};
use super::node_dir::{
    NodeMeta, NodeSpec, STDERR_LOG, STDOUT_LOG, first_port, leader_pid, log_tail, observed,
    read_meta, read_nodes, write_meta,
};
use super::procs::{NodeProcess, ProcessMap, pid_alive, scan_nodes, send_signal};
use super::{CreateRequest, DriverError};
use super::{LocalDriver, blocking, io_error, provider_id, unix_now};
use crate::fsutil;
use crate::resource::{Address, Existing};

/// How often readiness and stopping are checked.
pub(super) const POLL: Duration = Duration::from_millis(50);
/// How long one TCP connect attempt may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// A node without ports is ready once its process has lived this long.
const SETTLE: Duration = Duration::from_millis(200);
/// How long processes may take to vanish after SIGKILL before stopping fails.
const KILL_WAIT: Duration = Duration::from_secs(2);

impl LocalDriver {
    /// Adopt a node of the same lineage and address that a crash left behind, if it is alive
    /// and becomes ready; clean up dead ones.
    pub(super) async fn adopt(
        &self,
        request: &CreateRequest<'_>,
    ) -> Result<Option<Existing>, DriverError> {
        let (processes, nodes) = self.look().await?;
        for (id, meta) in nodes {
            let same = meta.lineage == request.lineage && meta.address == request.desired.address;
            // The old node of a replace is not the new one, however alike.
            let replaced = request.replacing.iter().any(|r| r.provider_id == id);
            if !same || replaced || self.is_starting(&id) {
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
    pub(super) async fn create_fresh(
        &self,
        request: &CreateRequest<'_>,
        network: u8,
        spec: &NodeSpec,
    ) -> Result<Existing, DriverError> {
        fsutil::create_private_dir_all(&self.root)
            .map_err(|e| io_error("create the node directory root", &self.root, e))?;
        // The id follows from lineage and address (and the objects it replaces, which may still
        // run beside it), so a directory a crash left before its node.json was written is
        // found (and reclaimed) by the next create of that address.
        let replacing: Vec<&str> = request
            .replacing
            .iter()
            .map(|r| r.provider_id.as_str())
            .collect();
        let mut provider_id = provider_id(
            &spec.name,
            request.lineage,
            &request.desired.address,
            &replacing,
        );
        // A directory of that name whose node was renamed or forgotten since (its marker names
        // another address, or no lineage) still runs and is not this create's to reclaim: the
        // new node takes the next free name.
        let base = provider_id.clone();
        let mut next = 1;
        while read_meta(&self.root.join(&provider_id)).is_some_and(|meta| {
            meta.lineage != request.lineage || meta.address != request.desired.address
        }) {
            provider_id = format!("{base}-{next}");
            next += 1;
        }
        let dir = self.root.join(&provider_id);
        if let Err(e) = fsutil::create_private_dir(&dir) {
            if e.kind() != io::ErrorKind::AlreadyExists {
                return Err(io_error("create the node directory", &dir, e));
            }
            self.discard(&dir).await?;
            fsutil::create_private_dir(&dir)
                .map_err(|e| io_error("create the node directory", &dir, e))?;
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

    pub(super) async fn start_node(
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
    pub(super) async fn wait_ready(
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
    pub(super) async fn alive(&self, dir: &Path, leader: Option<u32>) -> Result<bool, DriverError> {
        if leader.is_some_and(pid_alive) {
            return Ok(true);
        }
        Ok(!self.processes_of(dir).await?.is_empty())
    }

    /// Stop every process carrying the node directory: SIGTERM to their process groups, SIGKILL
    /// after `stop_grace`. Stopping a node without processes succeeds at once.
    pub(super) async fn stop(&self, dir: &Path) -> Result<(), DriverError> {
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
    pub(super) async fn discard(&self, dir: &Path) -> Result<(), DriverError> {
        self.stop(dir).await?;
        self.remove_node(dir.to_path_buf()).await
    }

    /// Remove a node directory and release its address claim. Missing pieces are fine.
    pub(super) async fn remove_node(&self, dir: PathBuf) -> Result<(), DriverError> {
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

    pub(super) async fn claim(
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
    pub(super) async fn look(
        &self,
    ) -> Result<(ProcessMap, BTreeMap<String, NodeMeta>), DriverError> {
        let root = self.root.clone();
        blocking(move || Ok((scan_nodes()?, read_nodes(&root)?))).await
    }

    pub(super) async fn processes_of(&self, dir: &Path) -> Result<Vec<NodeProcess>, DriverError> {
        let dir = dir.to_path_buf();
        blocking(move || Ok(scan_nodes()?.remove(&dir).unwrap_or_default())).await
    }

    /// The directory of a node, refusing ids that are not plain names (state could be edited).
    pub(super) fn node_dir(&self, provider_id: &str) -> Result<PathBuf, DriverError> {
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

    pub(super) fn is_starting(&self, provider_id: &str) -> bool {
        self.starting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(provider_id)
    }
}

/// Marks a provider id as being created until dropped.
pub(super) struct Starting<'a> {
    pub(super) set: &'a Mutex<HashSet<String>>,
    pub(super) id: String,
}

impl<'a> Starting<'a> {
    pub(super) fn mark(set: &'a Mutex<HashSet<String>>, id: &str) -> Self {
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

/// The `PATH` a node starts with: the system's directories, none of the user's.
pub(super) const NODE_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// The `LANG` a node starts with.
pub(super) const NODE_LANG: &str = "C.UTF-8";

/// A node's whole process environment. Nothing comes from oss's own environment, which holds
/// cloud keys, the backend URL and every `env.` secret of the strategy: a node reads only
/// these, and anyone who can read its `/proc/PID/environ` sees only these.
///
/// Built in three layers, later ones winning: the base (`PATH`, `HOME` and `PWD` = the node
/// directory, `LANG`; `PWD` is set here because `/bin/sh` would add it anyway), then the group's `env` map (issue 12's fleet model: it goes between the two, so
/// it may set `PATH` or `LANG` but never an `OSS_NODE_*` name), then the node's own
/// `OSS_NODE_*` variables, of which `OSS_NODE_DIR` is how [`super::procs`] finds the node's
/// processes again.
pub(super) fn node_environment(
    dir: &Path,
    addr: Ipv4Addr,
    spec: &NodeSpec,
) -> BTreeMap<String, OsString> {
    let mut env: BTreeMap<String, OsString> = BTreeMap::from([
        ("PATH".into(), OsString::from(NODE_PATH)),
        ("HOME".into(), dir.as_os_str().to_owned()),
        ("PWD".into(), dir.as_os_str().to_owned()),
        ("LANG".into(), OsString::from(NODE_LANG)),
    ]);
    // The group's `env` map may set PATH, HOME or LANG, never the OSS_NODE_* facts below.
    for (name, value) in &spec.env {
        if !name.starts_with("OSS_NODE_") {
            env.insert(name.clone(), value.into());
        }
    }
    env.insert("OSS_NODE_NAME".into(), spec.name.clone().into());
    env.insert("OSS_NODE_ADDR".into(), addr.to_string().into());
    env.insert("OSS_NODE_DIR".into(), dir.as_os_str().to_owned());
    if let Some(port) = spec.port {
        env.insert("OSS_NODE_PORT".into(), port.to_string().into());
    }
    if let Some(index) = spec.index {
        env.insert("OSS_NODE_INDEX".into(), index.to_string().into());
    }
    env
}

/// Start `/bin/sh -c COMMAND` detached in its own process group, with exactly
/// [`node_environment`], and return its pid.
pub(super) fn spawn_node(dir: &Path, addr: Ipv4Addr, spec: &NodeSpec) -> Result<u32, DriverError> {
    let log = |name: &str| {
        let path = dir.join(name);
        fsutil::append_private(&path).map_err(|e| io_error("open the log file", &path, e))
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
        .env_clear()
        .envs(node_environment(dir, addr, spec));
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
pub(super) async fn accepts(addr: Ipv4Addr, port: u16) -> bool {
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect((addr, port))).await,
        Ok(Ok(_))
    )
}
