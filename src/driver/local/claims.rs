//! Loopback addresses claimed machine-wide: one file per address in the claim directory,
//! created exclusively under an exclusive `flock` on the directory's `.lock`, so several state
//! directories (and processes) can run nodes side by side without meeting.

use std::ffi::OsStr;
use std::fs::{self};
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream as StdTcpStream};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::DriverError;
use super::io_error;
use crate::fsutil;

const CLAIMS_LOCK: &str = ".lock";
/// How many addresses with a foreign listener on the node's port are skipped before giving up.
const BUSY_LIMIT: usize = 16;

/// Claim a free address in `127.{network}.0.0/16` for the node directory `dir`.
///
/// A claim is the file `CLAIMS/ADDR`, created exclusively and holding the node directory's
/// path. Claims are made and released under an exclusive lock on `CLAIMS/.lock`, so removing a
/// stale claim cannot race with another process taking the same address.
pub(super) fn claim_address(
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
        match fsutil::create_private_new(&claim) {
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
pub(super) fn release_claims(
    claims: &Path,
    lock: &Mutex<()>,
    dir: &Path,
) -> Result<(), DriverError> {
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

/// Take the machine-wide claim lock; it holds until the returned guard is dropped.
pub(super) fn lock_claims(claims: &Path) -> Result<fsutil::FileLock, DriverError> {
    fsutil::create_private_dir_all(claims)
        .map_err(|e| io_error("create the address-claim directory", claims, e))?;
    let path = claims.join(CLAIMS_LOCK);
    fsutil::FileLock::exclusive(&path).map_err(|e| io_error("lock", &path, e))
}

/// A claim is stale when the node directory it names no longer exists. An empty claim is stale
/// too: claims are written under the lock, so only a writer that died leaves one empty.
pub(super) fn claim_is_stale(claim: &Path) -> bool {
    match fs::read(claim) {
        Ok(owner) => owner.is_empty() || !Path::new(OsStr::from_bytes(&owner)).is_dir(),
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    }
}

/// Addresses of a location in allocation order: `127.N.0.2` upward, skipping `.0` and `.255`
/// in the last octet.
pub(super) fn candidates(network: u8) -> impl Iterator<Item = Ipv4Addr> {
    (0..=255u8).flat_map(move |x| {
        let first = if x == 0 { 2 } else { 1 };
        (first..=254u8).map(move |y| Ipv4Addr::new(127, network, x, y))
    })
}

/// Whether something already listens on `addr:port` (a quick blocking connect attempt).
pub(super) fn listening(addr: Ipv4Addr, port: u16) -> bool {
    let target = SocketAddr::from((addr, port));
    StdTcpStream::connect_timeout(&target, Duration::from_millis(200)).is_ok()
}

pub(super) fn remove_file(path: &Path) -> Result<(), DriverError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("remove", path, e)),
    }
}
