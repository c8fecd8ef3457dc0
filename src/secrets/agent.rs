//! The unlock agent: a process that holds one vault's data key in memory only (never on disk,
//! never in its environment or arguments; core dumps and ptrace refused) and hands it to
//! processes of the same user over a Unix socket (0600, in a 0700 directory, the peer's uid
//! checked) until its TTL ends or `oss lock` stops it. Both ends of the one-line protocol
//! are here; starting the process is the command line's job.
//!
//! Requests: `key VAULT_ID` → `ok KEY_ID HEX`; `lock` → `ok` and the agent ends.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::error::VaultError;
use super::key::Key;

/// The directory agents' sockets live in: `OSS_AGENT_DIR`, else `$XDG_RUNTIME_DIR/oss`, else
/// `/tmp/oss-UID`.
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("OSS_AGENT_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("oss");
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    PathBuf::from(format!("/tmp/oss-{uid}"))
}

/// The socket of the agent for vault `id` in `dir`.
pub fn socket_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("agent-{id}.sock"))
}

fn failed(socket: &Path, reason: impl Into<String>) -> VaultError {
    VaultError::Agent {
        socket: socket.to_path_buf(),
        reason: reason.into(),
    }
}

/// Refuses to expose core dumps and ptrace of this process to others of the same user (and a
/// core file holding keys). Called by whoever holds a vault key.
pub fn harden() {
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) only changes this process's dumpable flag.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

/// Makes `dir` 0700 (creating it) and checks that this user owns it and nobody else can
/// enter it.
fn private_dir(dir: &Path, socket: &Path) -> Result<(), VaultError> {
    crate::fsutil::create_private_dir_all(dir)
        .map_err(|e| failed(socket, format!("cannot create {}: {e}", dir.display())))?;
    let meta = std::fs::metadata(dir)
        .map_err(|e| failed(socket, format!("cannot read {}: {e}", dir.display())))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me || meta.mode() & 0o077 != 0 {
        return Err(failed(
            socket,
            format!(
                "{} must belong to this user and be private (0700)",
                dir.display()
            ),
        ));
    }
    Ok(())
}

/// The listening socket of a new agent for vault `id`: refused when an agent answers there
/// already; a socket left by one that died is replaced.
pub fn bind(dir: &Path, id: &str) -> Result<UnixListener, VaultError> {
    let socket = socket_path(dir, id);
    private_dir(dir, &socket)?;
    if socket.exists() {
        if UnixStream::connect(&socket).is_ok() {
            return Err(VaultError::usage(
                format!(
                    "An unlock agent for this vault is running already ({}).",
                    socket.display()
                ),
                "run `oss lock` first to start a new one",
            ));
        }
        let _ = std::fs::remove_file(&socket);
    }
    let listener =
        UnixListener::bind(&socket).map_err(|e| failed(&socket, format!("cannot listen: {e}")))?;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| failed(&socket, format!("cannot make it private: {e}")))?;
    Ok(listener)
}

/// The uid of the process at the other end of `stream`.
fn peer_uid(stream: &UnixStream) -> Option<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: cred and len are valid for writes of the sizes given; the fd is open.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(cred.uid)
}

/// Serves `key` (vault `id`'s data key, `key_id`) on `listener` until `ttl` has passed or a
/// `lock` request comes; then removes the socket.
pub fn serve(listener: UnixListener, dir: &Path, id: &str, key_id: &str, key: Key, ttl: Duration) {
    harden();
    let socket = socket_path(dir, id);
    let deadline = Instant::now() + ttl;
    let _ = listener.set_nonblocking(true);
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    while Instant::now() < deadline {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            Err(_) => break,
        };
        if peer_uid(&stream) != Some(me) {
            continue;
        }
        if answer(stream, id, key_id, &key) == Answered::Lock {
            break;
        }
        // The socket removed (by hand, or a new agent after this one was thought dead):
        // nobody can reach this one any more.
        if !socket.exists() {
            return;
        }
    }
    let _ = std::fs::remove_file(&socket);
}

#[derive(PartialEq)]
enum Answered {
    Key,
    Lock,
    Nothing,
}

fn answer(stream: UnixStream, id: &str, key_id: &str, key: &Key) -> Answered {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let mut line = String::new();
    let mut reader = BufReader::new(&stream).take(256);
    if reader.read_line(&mut line).is_err() {
        return Answered::Nothing;
    }
    let mut out = &stream;
    match line.trim().split_once(' ') {
        Some(("key", asked)) if asked == id => {
            let mut reply = Zeroizing::new(format!("ok {key_id} "));
            for b in key.bytes() {
                reply.push_str(&format!("{b:02x}"));
            }
            reply.push('\n');
            let _ = out.write_all(reply.as_bytes());
            Answered::Key
        }
        Some(("key", _)) => {
            let _ = out.write_all(b"err this agent holds another vault's key\n");
            Answered::Nothing
        }
        _ if line.trim() == "lock" => {
            let _ = out.write_all(b"ok\n");
            Answered::Lock
        }
        _ => {
            let _ = out.write_all(b"err unknown request\n");
            Answered::Nothing
        }
    }
}

/// One request to the agent for vault `id`; `None` when no agent answers there.
fn request(dir: &Path, id: &str, line: &str) -> Result<Option<Zeroizing<String>>, VaultError> {
    let socket = socket_path(dir, id);
    let Ok(stream) = UnixStream::connect(&socket) else {
        return Ok(None);
    };
    let io = |e: std::io::Error| failed(&socket, e.to_string());
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(io)?;
    (&stream)
        .write_all(format!("{line}\n").as_bytes())
        .map_err(io)?;
    let mut reply = Zeroizing::new(String::new());
    BufReader::new(&stream)
        .take(1024)
        .read_line(&mut reply)
        .map_err(io)?;
    match reply.trim_end().strip_prefix("err ") {
        Some(reason) => Err(failed(&socket, reason)),
        None => Ok(Some(reply)),
    }
}

/// The data key the agent for vault `id` holds, with its key id; `None` when none runs.
pub fn fetch(dir: &Path, id: &str) -> Result<Option<(String, Key)>, VaultError> {
    let Some(reply) = request(dir, id, &format!("key {id}"))? else {
        return Ok(None);
    };
    let socket = socket_path(dir, id);
    let bad = || failed(&socket, "it answered something that is not a key");
    let mut parts = reply.trim_end().split(' ');
    let (Some("ok"), Some(key_id), Some(hex), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if hex.len() != 64 || !hex.is_ascii() {
        return Err(bad());
    }
    let bytes: Zeroizing<Vec<u8>> = Zeroizing::new(
        (0..32)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?,
    );
    let key = Key::from_slice(&bytes).ok_or_else(bad)?;
    Ok(Some((key_id.to_string(), key)))
}

/// Ends the agent for vault `id`; false when none was running.
pub fn stop(dir: &Path, id: &str) -> Result<bool, VaultError> {
    Ok(request(dir, id, "lock")?.is_some())
}
