//! The unlock agent: a process that holds one vault's data key in memory only (never on disk,
//! never in its environment or arguments; core dumps and ptrace refused) and hands it to
//! processes of the same user over a Unix socket (0600, in a 0700 directory, the peer's uid
//! checked) until its TTL ends or `oss lock` stops it. Both ends of the one-line protocol
//! are here; starting the process is the command line's job.
//!
//! It also keeps the state keys that the `passphrase` key provider derived (PBKDF2 runs once
//! per session, not per command), each filed under a digest of the passphrase, salt and
//! iteration count ([`passphrase_slot`]): only a process that knows the passphrase can name
//! the slot, so the agent gives no one a key they could not derive themselves. New states
//! sealed with a passphrase share one salt while it runs ([`new_salt_slot`]), so that they
//! need no derivation either.
//!
//! Requests: `key VAULT_ID` → `ok KEY_ID HEX`; `derived SLOT` → `ok HEX` or `miss`;
//! `keep SLOT HEX` → `ok`; `lock` → `ok SERVED` (derived keys served) and the agent ends.

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

/// The most derived keys an agent keeps (the oldest goes first): one strategy uses one or
/// two (primary and fallback), a salt per version written while the agent runs.
const MAX_DERIVED: usize = 32;

/// What the agent holds besides the data key: derived keys by slot, and how often one was
/// served (`oss lock` says it).
#[derive(Default)]
struct Derived {
    keys: Vec<(Zeroizing<String>, Key)>,
    served: u64,
}

/// Serves `key` (vault `id`'s data key, `key_id`) on `listener` until `ttl` has passed or a
/// `lock` request comes; then removes the socket.
pub fn serve(listener: UnixListener, dir: &Path, id: &str, key_id: &str, key: Key, ttl: Duration) {
    // Normally done already by `oss::cli::main()`; the agent must never run without it.
    let _ = crate::harden::harden();
    let socket = socket_path(dir, id);
    let deadline = Instant::now() + ttl;
    let _ = listener.set_nonblocking(true);
    let mut derived = Derived::default();
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    while Instant::now() < deadline {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // Asleep until a peer connects (answered at once: a command waits on it), at
                // most a second, to see the TTL and the socket.
                let left = deadline.saturating_duration_since(Instant::now());
                wait_for_peer(&listener, left.min(Duration::from_secs(1)));
                continue;
            }
            Err(_) => break,
        };
        if peer_uid(&stream) != Some(me) {
            continue;
        }
        if answer(stream, id, key_id, &key, &mut derived) == Answered::Lock {
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

/// Waits until `listener` has a connection to accept, or `at_most` has passed.
fn wait_for_peer(listener: &UnixListener, at_most: Duration) {
    let mut poll = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(at_most.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd for the call's duration; the listener outlives it.
    unsafe { libc::poll(&mut poll, 1, ms) };
}

#[derive(PartialEq)]
enum Answered {
    Lock,
    Other,
}

fn answer(
    stream: UnixStream,
    id: &str,
    key_id: &str,
    key: &Key,
    derived: &mut Derived,
) -> Answered {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    // A `keep` request carries a key: the line is zeroized like one.
    let mut line = Zeroizing::new(String::new());
    let mut reader = BufReader::new(&stream).take(256);
    if reader.read_line(&mut line).is_err() {
        return Answered::Other;
    }
    let mut out = &stream;
    let words: Vec<&str> = line.split_ascii_whitespace().collect();
    let reply: Zeroizing<String> = match words.as_slice() {
        ["key", asked] if *asked == id => {
            Zeroizing::new(format!("ok {key_id} {}\n", to_hex(key).as_str()))
        }
        ["key", _] => Zeroizing::new("err this agent holds another vault's key\n".into()),
        ["derived", slot] => match derived.keys.iter().find(|(s, _)| s.as_str() == *slot) {
            Some((_, k)) => {
                derived.served += 1;
                Zeroizing::new(format!("ok {}\n", to_hex(k).as_str()))
            }
            None => Zeroizing::new("miss\n".into()),
        },
        ["keep", slot, hex] => match from_hex(hex) {
            Some(k) if slot.len() == 64 => {
                derived.keys.retain(|(s, _)| s.as_str() != *slot);
                if derived.keys.len() == MAX_DERIVED {
                    derived.keys.remove(0);
                }
                derived.keys.push((Zeroizing::new(slot.to_string()), k));
                Zeroizing::new("ok\n".into())
            }
            _ => Zeroizing::new("err not a slot and a key\n".into()),
        },
        ["lock"] => {
            let _ = out.write_all(format!("ok {}\n", derived.served).as_bytes());
            return Answered::Lock;
        }
        _ => Zeroizing::new("err unknown request\n".into()),
    };
    let _ = out.write_all(reply.as_bytes());
    Answered::Other
}

/// `key` in lowercase hex, as the protocol carries it.
pub fn to_hex(key: &Key) -> Zeroizing<String> {
    let mut hex = Zeroizing::new(String::with_capacity(64));
    for b in key.bytes() {
        hex.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        hex.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    hex
}

/// The key written as 64 hex digits; `None` for anything else.
pub fn from_hex(hex: &str) -> Option<Key> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let bytes: Zeroizing<Vec<u8>> = Zeroizing::new(
        (0..32)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<_>>()?,
    );
    Key::from_slice(&bytes)
}

/// The slot a passphrase-derived key is kept under: SHA-256 over a label, the KDF's name and
/// iteration count, the salt and the passphrase. It stands for the passphrase as far as the
/// agent is concerned (a fast hash, so it travels only over the agent's socket and lives only
/// in the two processes' memory, beside the key it names).
pub fn passphrase_slot(kdf: &str, iterations: u32, salt: &[u8], passphrase: &[u8]) -> String {
    slot(
        b"oss-passphrase-slot/1\n",
        &[kdf.as_bytes(), &iterations.to_be_bytes(), salt, passphrase],
    )
}

/// The slot of the salt that new states sealed with a passphrase take while the agent runs
/// (32 bytes kept like a key; the salt is their start): SHA-256 over another label, the KDF's
/// name and iteration count and the passphrase, so again only the passphrase names it.
pub fn new_salt_slot(kdf: &str, iterations: u32, passphrase: &[u8]) -> String {
    slot(
        b"oss-passphrase-new-salt/1\n",
        &[kdf.as_bytes(), &iterations.to_be_bytes(), passphrase],
    )
}

/// SHA-256 over `label` and each part with its length, in hex.
fn slot(label: &[u8], parts: &[&[u8]]) -> String {
    use sha2::Digest as _;
    let mut hash = sha2::Sha256::new();
    hash.update(label);
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
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
    let line = Zeroizing::new(format!("{line}\n"));
    (&stream).write_all(line.as_bytes()).map_err(io)?;
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
    let key = from_hex(hex).ok_or_else(bad)?;
    Ok(Some((key_id.to_string(), key)))
}

/// The derived key the agent for vault `id` keeps in `slot`; `None` when no agent runs or it
/// keeps none there.
pub fn derived(dir: &Path, id: &str, slot: &str) -> Result<Option<Key>, VaultError> {
    let Some(reply) = request(dir, id, &format!("derived {slot}"))? else {
        return Ok(None);
    };
    match reply.trim_end() {
        "miss" => Ok(None),
        text => text
            .strip_prefix("ok ")
            .and_then(from_hex)
            .map(Some)
            .ok_or_else(|| {
                failed(
                    &socket_path(dir, id),
                    "it answered something that is not a key",
                )
            }),
    }
}

/// Hands `key` to the agent for vault `id` to keep in `slot` for the rest of its TTL; false
/// when no agent runs.
pub fn keep(dir: &Path, id: &str, slot: &str, key: &Key) -> Result<bool, VaultError> {
    let line = Zeroizing::new(format!("keep {slot} {}", to_hex(key).as_str()));
    Ok(request(dir, id, &line)?.is_some())
}

/// Ends the agent for vault `id`: how many derived keys it served, `None` when none was
/// running.
pub fn stop(dir: &Path, id: &str) -> Result<Option<u64>, VaultError> {
    Ok(request(dir, id, "lock")?.map(|reply| {
        reply
            .trim_end()
            .strip_prefix("ok ")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }))
}
