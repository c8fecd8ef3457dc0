//! The node processes as `/proc` shows them: found by the `OSS_NODE_DIR` they carry, checked
//! for life, and signalled by process group (never oss itself or its own group). The
//! `haproxy` load balancer (`crate::lb::haproxy`) finds and stops its processes with these too.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::fs::{self};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::DriverError;
use super::io_error;

#[derive(Clone, Copy, Debug)]
pub(crate) struct NodeProcess {
    pub(crate) pid: u32,
    pub(crate) pgid: u32,
}

/// Live processes by the `OSS_NODE_DIR` they carry.
pub(crate) type ProcessMap = HashMap<PathBuf, Vec<NodeProcess>>;

/// Scan `/proc` once for live processes carrying `OSS_NODE_DIR`. Processes whose environment
/// cannot be read (other users') are skipped.
pub(crate) fn scan_nodes() -> Result<ProcessMap, DriverError> {
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
pub(super) fn process_stat(pid: u32) -> Option<(char, u32)> {
    let stat = fs::read(format!("/proc/{pid}/stat")).ok()?;
    let stat = String::from_utf8_lossy(&stat);
    // The command name in parentheses may hold spaces; the fields follow the last ')'.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _parent = fields.next()?;
    let pgid = fields.next()?.parse().ok()?;
    Some((state, pgid))
}

pub(super) fn is_live_state(state: char) -> bool {
    !matches!(state, 'Z' | 'X' | 'x')
}

pub(crate) fn pid_alive(pid: u32) -> bool {
    process_stat(pid).is_some_and(|(state, _)| is_live_state(state))
}

/// Send `signal` to the process groups of `processes` and to each process itself, never to oss
/// itself or its own group.
pub(crate) fn send_signal(processes: &[NodeProcess], signal: libc::c_int) {
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
