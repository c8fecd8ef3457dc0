//! One HAProxy on this machine: its directory `STATE_DIR/haproxy/<provider id>/` with the
//! marker `balancer.json` (address, lineage, attributes, pid; written before the process
//! starts, so a crash leaves something refresh recognizes), `haproxy.cfg`, the stats socket
//! and logs. Started in master-worker mode (`-W`) detached in its own process group, with
//! `OSS_NODE_DIR` as its only variable besides `PATH` (how `/proc` finds it again, as for
//! local nodes); a new configuration is checked (`haproxy -c`) and then taken by a reload
//! (SIGUSR2 to the master), which hands the listening sockets to the new worker while the old
//! one finishes its connections; stopped by TERM, then KILL, to its process group.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use super::config::STATS_SOCKET;
use crate::driver::DriverError;
use crate::driver::local::procs::{self, NodeProcess};
use crate::fsutil;
use crate::resource::{Address, Attributes, Existing, Kind, Placement};

const MARKER: &str = "balancer.json";
const CONFIG: &str = "haproxy.cfg";
const PID_FILE: &str = "haproxy.pid";
const STDERR_LOG: &str = "stderr.log";
const POLL: Duration = Duration::from_millis(50);
/// Polls in a row without a process before HAProxy counts as gone (see [`wait_ready`]).
const GONE_POLLS: u32 = 4;
const KILL_WAIT: Duration = Duration::from_secs(2);

/// The marker in a balancer's directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Marker {
    pub lineage: String,
    pub address: Address,
    pub provider_id: String,
    pub placement: Placement,
    pub attributes: Attributes,
    #[serde(default)]
    pub dependencies: Vec<Address>,
    /// The master's pid, once started.
    pub pid: Option<u32>,
    /// The configuration it was last given.
    pub generation: String,
}

impl Marker {
    pub fn existing(&self, observed: Attributes) -> Existing {
        Existing {
            address: self.address.clone(),
            kind: Kind::Balancer,
            placement: self.placement.clone(),
            provider_id: self.provider_id.clone(),
            attributes: self.attributes.clone(),
            observed,
            dependencies: self.dependencies.clone(),
        }
    }
}

pub(super) fn io_error(what: &str, path: &Path, error: io::Error) -> DriverError {
    DriverError::fatal(format!("Could not {what} {}: {error}.", path.display()))
}

pub(super) fn read_marker(dir: &Path) -> Option<Marker> {
    serde_json::from_slice(&fs::read(dir.join(MARKER)).ok()?).ok()
}

pub(super) fn write_marker(dir: &Path, marker: &Marker) -> Result<(), DriverError> {
    let path = dir.join(MARKER);
    let bytes = serde_json::to_vec_pretty(marker).unwrap_or_default();
    fsutil::write_atomic(&path, &bytes, 0o600).map_err(|e| io_error("write", &path, e))
}

/// Every balancer directory under `root` with its marker, by provider id.
pub(super) fn read_markers(root: &Path) -> BTreeMap<String, Marker> {
    let Ok(entries) = fs::read_dir(root) else {
        return BTreeMap::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let id = entry.file_name().to_str()?.to_string();
            Some((id, read_marker(&entry.path())?))
        })
        .collect()
}

/// The live processes of the HAProxy in `dir`.
pub(super) fn processes_of(dir: &Path) -> Result<Vec<NodeProcess>, DriverError> {
    Ok(procs::scan_nodes()?.remove(dir).unwrap_or_default())
}

/// Checks `text` with `haproxy -c`, then puts it in place as the configuration.
pub(super) async fn install_config(bin: &Path, dir: &Path, text: &str) -> Result<(), DriverError> {
    let next = dir.join("haproxy.cfg.next");
    fsutil::write_atomic(&next, text.as_bytes(), 0o600).map_err(|e| io_error("write", &next, e))?;
    let checked = tokio::process::Command::new(bin)
        .arg("-c")
        .arg("-q")
        .arg("-f")
        .arg(&next)
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| DriverError::fatal(format!("Could not run {}: {e}.", bin.display())))?;
    if !checked.status.success() {
        let _ = fs::remove_file(&next);
        let said = String::from_utf8_lossy(&checked.stderr);
        return Err(DriverError::fatal(format!(
            "HAProxy refused the configuration oss wrote: {}",
            crate::echo::echo(said.trim())
        )));
    }
    let path = dir.join(CONFIG);
    fs::rename(&next, &path).map_err(|e| io_error("put in place", &path, e))
}

/// Starts HAProxy on the configuration in `dir`; returns the master's pid.
pub(super) fn spawn(bin: &Path, dir: &Path) -> Result<u32, DriverError> {
    let log = |name: &str| {
        let path = dir.join(name);
        fsutil::append_private(&path).map_err(|e| io_error("open the log file", &path, e))
    };
    let mut command = tokio::process::Command::new(bin);
    command
        .arg("-W")
        .arg("-f")
        .arg(dir.join(CONFIG))
        .arg("-p")
        .arg(dir.join(PID_FILE))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log("stdout.log")?)
        .stderr(log(STDERR_LOG)?)
        .process_group(0)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("OSS_NODE_DIR", dir);
    let mut child = command
        .spawn()
        .map_err(|e| DriverError::fatal(format!("Could not start {}: {e}.", bin.display())))?;
    let pid = child
        .id()
        .ok_or_else(|| DriverError::fatal("HAProxy exited before it got a pid."))?;
    // Reaped in the background while oss runs; HAProxy outlives oss.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    Ok(pid)
}

/// Asks the master to take the new configuration (a reload keeps the listening sockets).
pub(super) fn reload(pid: u32) -> Result<(), DriverError> {
    // SAFETY: kill only sends a signal.
    let sent = pid > 1 && unsafe { libc::kill(pid as libc::pid_t, libc::SIGUSR2) } == 0;
    match sent {
        true => Ok(()),
        false => Err(DriverError::retry(format!(
            "HAProxy (pid {pid}) could not be told to reload: {}",
            io::Error::last_os_error()
        ))),
    }
}

/// The stats socket's answer to `show info`'s `description`, or `None` when it does not
/// answer.
async fn generation_running(dir: &Path) -> Option<String> {
    let ask = async {
        let mut socket = UnixStream::connect(dir.join(STATS_SOCKET)).await.ok()?;
        socket.write_all(b"show info\n").await.ok()?;
        let mut answer = String::new();
        socket.read_to_string(&mut answer).await.ok()?;
        answer
            .lines()
            .find_map(|l| l.strip_prefix("description: oss-"))
            .map(str::to_string)
    };
    tokio::time::timeout(Duration::from_secs(1), ask)
        .await
        .ok()
        .flatten()
}

/// Waits until the HAProxy in `dir` runs `generation` and its listeners take connections;
/// fails with its log's tail when it dies or `timeout` passes.
pub(super) async fn wait_ready(
    dir: &Path,
    generation: &str,
    listen: &[(std::net::Ipv4Addr, u16)],
    timeout: Duration,
) -> Result<(), DriverError> {
    let deadline = Instant::now() + timeout;
    // Polls in a row that found no process of it: one is not enough, since a reload re-executes
    // the master, and while it does its `/proc/PID/environ` (which says whose it is) may not
    // read, so a scan can miss a HAProxy that is running.
    let mut unseen = 0;
    loop {
        if generation_running(dir).await.as_deref() == Some(generation) {
            let mut all = true;
            for target in listen {
                all &= TcpStream::connect(target).await.is_ok();
            }
            if all {
                return Ok(());
            }
        }
        unseen = if processes_of(dir)?.is_empty() {
            unseen + 1
        } else {
            0
        };
        if unseen >= GONE_POLLS {
            return Err(DriverError::fatal(format!(
                "HAProxy in {} exited.{}",
                dir.display(),
                log_tail(dir)
            )));
        }
        if Instant::now() >= deadline {
            return Err(DriverError::retry(format!(
                "HAProxy in {} did not take its configuration within {timeout:?}.{}",
                dir.display(),
                log_tail(dir)
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Stops every process of the HAProxy in `dir`: TERM to its process group, KILL after
/// `grace`.
pub(super) async fn stop(dir: &Path, grace: Duration) -> Result<(), DriverError> {
    let grace_end = Instant::now() + grace;
    let give_up = grace_end + KILL_WAIT;
    let mut terminated = false;
    loop {
        let processes = processes_of(dir)?;
        if processes.is_empty() {
            return Ok(());
        }
        let now = Instant::now();
        if !terminated {
            procs::send_signal(&processes, libc::SIGTERM);
            terminated = true;
        } else if now >= give_up {
            return Err(DriverError::fatal(format!(
                "HAProxy in {} still runs after SIGKILL.",
                dir.display()
            )));
        } else if now >= grace_end {
            procs::send_signal(&processes, libc::SIGKILL);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Removes a balancer's directory (missing is fine).
pub(super) fn remove_dir(dir: &PathBuf) -> Result<(), DriverError> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("remove", dir, e)),
    }
}

/// What HAProxy said last in its error log, for an error message: its alerts when it has
/// some (why it stopped), else its last lines; the balancer's own directory left out of paths.
fn log_tail(dir: &Path) -> String {
    let text = fs::read_to_string(dir.join(STDERR_LOG)).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let alerts: Vec<&str> = all
        .iter()
        .copied()
        .filter(|l| l.contains("[ALERT]"))
        .collect();
    let chosen = if alerts.is_empty() { all } else { alerts };
    let prefix = format!("{}/", dir.display());
    let lines: Vec<String> = chosen[chosen.len().saturating_sub(2)..]
        .iter()
        .map(|l| l.replace(&prefix, ""))
        .collect();
    match lines.is_empty() {
        true => String::new(),
        false => format!(" It said: {}", crate::echo::echo(&lines.join(" | "))),
    }
}
