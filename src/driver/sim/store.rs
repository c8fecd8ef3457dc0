//! The sim state file: read into a [`Ledger`], cached, locked, and written in proportion to
//! what changed.
//!
//! The world is two files: the snapshot `<name>.json` (every instance, one per line, replaced
//! atomically) and its log `<name>.json.log` (one line per instance put or removed since the
//! snapshot, appended and fdatasync'd). A write appends the instances a batch touched; once the
//! log outgrows the snapshot, the next write folds it in (a new snapshot, the log removed), so
//! the bytes written stay proportional to the changes. The log's first line names the snapshot
//! it belongs to (a token the snapshot holds): a log left over from another snapshot (a crash
//! between the new snapshot and the log's removal, or a snapshot written by someone else) is
//! ignored. A torn last line (a crash mid-append) is ignored too, and cut off before the next
//! append.
//!
//! Several processes may share one state file: every read-modify-write holds an exclusive
//! `flock` on `<state file>.lock`. Each driver caches the parsed files and re-reads them when
//! another writer changed them (the lock file holds a generation counter every writer bumps,
//! and both files' identity, size and times are compared too). Calls made concurrently within
//! one process are batched through [`crate::batch`]: one lock, one freshness check and at most
//! one write serve them all.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::ledger::{Ledger, SimInstance};
use super::{io_error, parent_dir};
use crate::batch::GroupCommit;
use crate::driver::DriverError;
use crate::fsutil;

/// The version of the state file's layout.
const FORMAT: u32 = 1;

/// The snapshot's layout.
#[derive(Deserialize)]
struct SimFile {
    format: u32,
    /// The token its log names (absent in files written before the log, or by hand).
    #[serde(default)]
    log: Option<String>,
    instances: Vec<SimInstance>,
}

/// One line of the log.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum LogLine {
    /// The first line: the token of the snapshot this log extends.
    Base(String),
    /// An instance as it now is (new or changed).
    Put(Box<SimInstance>),
    /// An instance gone.
    Remove(String),
}

/// The identity and change times of a file, to notice that someone replaced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

fn stamp(path: &Path) -> Result<Option<Stamp>, DriverError> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("inspect", path, e)),
    }
}

/// Both files' stamps.
fn stamps(path: &Path) -> Result<(Option<Stamp>, Option<Stamp>), DriverError> {
    Ok((stamp(path)?, stamp(&log_path(path))?))
}

fn log_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".log");
    PathBuf::from(name)
}

/// A parsed state file and what it looked like when read or written.
#[derive(Debug)]
pub(super) struct Cached {
    generation: u64,
    stamp: (Option<Stamp>, Option<Stamp>),
    ledger: Ledger,
    files: Files,
}

/// What the next write needs to know about the files on disk.
#[derive(Debug, Default)]
struct Files {
    /// The snapshot's token, if it has one.
    token: Option<String>,
    /// The snapshot's size in bytes.
    snapshot_len: u64,
    /// The log's length up to its last whole line (0: no log for this snapshot).
    log_len: u64,
}

/// Run `work` on the ledger of `path` under the exclusive file lock, reusing `cache` if no one
/// changed the files since, and write what `work` changed.
///
/// The outer error means `work` did not run (lock or read failed); the inner result is the
/// write's, after `work` ran.
pub(super) fn transact<T>(
    path: &Path,
    cache: &mut Option<Cached>,
    work: impl FnOnce(&mut Ledger) -> T,
) -> Result<(T, Result<(), DriverError>), DriverError> {
    let lock = GenerationLock::acquire(path)?;
    let generation = lock.generation()?;
    let current = stamps(path)?;
    let cached = match cache.take() {
        Some(cached) if cached.generation == generation && cached.stamp == current => {
            cache.insert(cached)
        }
        // Another writer changed the files (or nothing is cached yet).
        _ => {
            let (ledger, files) = read_ledger(path)?;
            cache.insert(Cached {
                generation,
                stamp: current,
                ledger,
                files,
            })
        }
    };
    cached.ledger.dirty = false;
    cached.ledger.touched.clear();
    let value = work(&mut cached.ledger);
    if !cached.ledger.dirty {
        return Ok((value, Ok(())));
    }
    // The generation goes up before the files change: a crash in between costs others a
    // needless re-read, never a stale cache.
    let next = generation.wrapping_add(1);
    let written = lock
        .set_generation(next)
        .and_then(|()| write_changes(path, &cached.ledger, &mut cached.files))
        .and_then(|()| stamps(path));
    match written {
        Ok(stamp) => {
            cached.generation = next;
            cached.stamp = stamp;
            cached.ledger.dirty = false;
            cached.ledger.touched.clear();
            Ok((value, Ok(())))
        }
        Err(error) => {
            *cache = None;
            Ok((value, Err(error)))
        }
    }
}

fn read_ledger(path: &Path) -> Result<(Ledger, Files), DriverError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok((Ledger::default(), Files::default()));
        }
        Err(e) => return Err(io_error("read", path, e)),
    };
    let corrupt = |file: &Path, problem: String| {
        DriverError::fatal(format!(
            "The sim state file {} is damaged: {problem}.",
            file.display()
        ))
    };
    let file: SimFile = serde_json::from_slice(&bytes).map_err(|e| corrupt(path, e.to_string()))?;
    if file.format != FORMAT {
        return Err(corrupt(
            path,
            format!(
                "its format is {}, this build reads format {FORMAT}",
                file.format
            ),
        ));
    }
    let mut ledger = Ledger::from_instances(file.instances).map_err(|e| corrupt(path, e))?;
    let mut files = Files {
        token: file.log,
        snapshot_len: bytes.len() as u64,
        log_len: 0,
    };
    let Some(token) = files.token.as_deref() else {
        return Ok((ledger, files));
    };
    let log = log_path(path);
    let text = match fs::read(&log) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((ledger, files)),
        Err(e) => return Err(io_error("read", &log, e)),
    };
    // Whole lines only: a torn last line is a crash mid-append, its change never answered.
    let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |n| n + 1);
    let mut lines = text[..whole]
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty());
    let line = |bytes: &[u8]| -> Result<LogLine, DriverError> {
        serde_json::from_slice(bytes).map_err(|e| corrupt(&log, e.to_string()))
    };
    match lines.next().map(line).transpose()? {
        Some(LogLine::Base(base)) if base == token => {}
        // Another snapshot's log (or an empty one): not ours to replay.
        _ => return Ok((ledger, files)),
    }
    for bytes in lines {
        match line(bytes)? {
            LogLine::Put(instance) => {
                ledger.remove(&instance.id);
                ledger.insert(*instance);
            }
            LogLine::Remove(id) => {
                ledger.remove(&id);
            }
            LogLine::Base(_) => {
                return Err(corrupt(&log, "a second base line".to_string()));
            }
        }
    }
    ledger.dirty = false;
    ledger.touched.clear();
    files.log_len = whole as u64;
    Ok((ledger, files))
}

/// Write what changed: the touched instances appended to the log, or, when there is no
/// snapshot with a token yet or the log would outgrow the snapshot, a new snapshot.
fn write_changes(path: &Path, ledger: &Ledger, files: &mut Files) -> Result<(), DriverError> {
    let mut entries = Vec::new();
    let mut ids: Vec<&String> = ledger.touched.iter().collect();
    ids.sort();
    for id in ids {
        match ledger.line(id) {
            Some(line) => {
                entries.extend_from_slice(b"{\"put\":");
                entries.extend_from_slice(line.as_bytes());
                entries.extend_from_slice(b"}\n");
            }
            None => {
                let line = serde_json::to_string(&LogLine::Remove(id.clone()))
                    .expect("a removal encodes as JSON");
                entries.extend_from_slice(line.as_bytes());
                entries.push(b'\n');
            }
        }
    }
    match files.token.clone() {
        Some(token) if files.log_len + (entries.len() as u64) <= files.snapshot_len => {
            append_log(path, &token, files, &entries)
        }
        _ => write_snapshot(path, ledger, files),
    }
}

fn append_log(
    path: &Path,
    token: &str,
    files: &mut Files,
    entries: &[u8],
) -> Result<(), DriverError> {
    let log = log_path(path);
    let mut bytes = Vec::new();
    if files.log_len == 0 {
        let base = serde_json::to_string(&LogLine::Base(token.to_string()))
            .expect("a token encodes as JSON");
        bytes.extend_from_slice(base.as_bytes());
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(entries);
    let appended = (|| {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&log)?;
        // Cut a torn line (or another snapshot's log) before writing after it.
        file.set_len(files.log_len)?;
        file.write_all_at(&bytes, files.log_len)?;
        file.sync_data()?;
        if files.log_len == 0 {
            fsutil::sync_dir(&parent_dir(path))?;
        }
        Ok(())
    })();
    appended.map_err(|e: io::Error| io_error("append to", &log, e))?;
    files.log_len += bytes.len() as u64;
    Ok(())
}

/// Write the ledger as a new snapshot, atomically (see [`fsutil::write_atomic_with`]), with a
/// new token, then remove the old log. One instance per line, so the file reads well in a
/// pager and diffs line by line.
fn write_snapshot(path: &Path, ledger: &Ledger, files: &mut Files) -> Result<(), DriverError> {
    let token = format!("{:016x}", rand::random::<u64>());
    let mut written = 0u64;
    fsutil::write_atomic_with(path, 0o600, |out| {
        let mut out = Counting {
            inner: out,
            count: &mut written,
        };
        write!(
            out,
            "{{\n  \"format\": {FORMAT},\n  \"log\": \"{token}\",\n  \"instances\": ["
        )?;
        for (n, line) in ledger.lines.values().enumerate() {
            out.write_all(if n == 0 { b"\n    " } else { b",\n    " })?;
            out.write_all(line.as_bytes())?;
        }
        out.write_all(if ledger.instances.is_empty() {
            b"]\n}\n"
        } else {
            b"\n  ]\n}\n"
        })
    })
    .map_err(|e| io_error("write", path, e))?;
    *files = Files {
        token: Some(token),
        snapshot_len: written,
        log_len: 0,
    };
    // The old log names the old token: harmless if this removal does not happen.
    let log = log_path(path);
    match fs::remove_file(&log) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("remove", &log, e)),
    }
}

/// A writer that counts the bytes through it.
struct Counting<'a, W> {
    inner: &'a mut W,
    count: &'a mut u64,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        *self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The exclusive lock on `<state file>.lock`, held until dropped. The lock file holds the
/// generation: a counter every writer bumps, so cached readers notice any change.
struct GenerationLock {
    lock: fsutil::FileLock,
}

impl GenerationLock {
    fn acquire(state_file: &Path) -> Result<Self, DriverError> {
        let dir = parent_dir(state_file);
        fsutil::create_private_dir_all(&dir)
            .map_err(|e| io_error("create the directory", &dir, e))?;
        let mut name = state_file.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        let path = dir.join(name);
        let lock = fsutil::FileLock::exclusive(&path).map_err(|e| io_error("lock", &path, e))?;
        Ok(GenerationLock { lock })
    }

    fn generation(&self) -> Result<u64, DriverError> {
        let mut text = String::new();
        let mut file = self.lock.file();
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.read_to_string(&mut text))
            .map_err(|e| io_error("read", self.lock.path(), e))?;
        Ok(text.trim().parse().unwrap_or(0))
    }

    fn set_generation(&self, generation: u64) -> Result<(), DriverError> {
        let text = format!("{generation}\n");
        let file = self.lock.file();
        file.set_len(0)
            .and_then(|()| file.write_all_at(text.as_bytes(), 0))
            .map_err(|e| io_error("write", self.lock.path(), e))
    }
}

/// The state file of one driver, with its cache, behind a group-commit queue.
///
/// A call queues its work and waits for its answer. The queue's thread takes every work queued
/// and runs them all in one [`transact`]: one file lock, one freshness check and at most one
/// write for the batch. Works queued while a batch is being written wait for the next, so
/// batches grow with the load.
pub(super) struct Store {
    pub path: PathBuf,
    queue: GroupCommit<Box<dyn Job>, ()>,
}

impl Store {
    pub fn new(path: PathBuf) -> Self {
        let file = path.clone();
        let mut cache: Option<Cached> = None;
        let queue = GroupCommit::start(
            "oss-sim-store",
            usize::MAX,
            move |jobs: Vec<Box<dyn Job>>| {
                let count = jobs.len();
                commit(&file, &mut cache, jobs);
                vec![(); count]
            },
        );
        Store { path, queue }
    }

    /// Runs `work` on the ledger in the next batch; its answer comes once the batch's write
    /// is done.
    pub async fn run<T, F>(&self, work: F) -> Result<T, DriverError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Ledger) -> Result<T, DriverError> + Send + 'static,
    {
        let dropped =
            || DriverError::fatal("A sim driver call was dropped before it was answered.");
        let (reply, answer) = oneshot::channel();
        // The queue's own answer only says the batch is done; the work's reply says more.
        drop(
            self.queue
                .queue(Box::new(Task { work, reply }))
                .map_err(|_| dropped())?,
        );
        answer.await.map_err(|_| dropped())?
    }
}

/// One batch: every work in one transaction, each answered with its result and the write's.
fn commit(path: &Path, cache: &mut Option<Cached>, jobs: Vec<Box<dyn Job>>) {
    let mut pending = Some(jobs);
    let outcome = transact(path, cache, |ledger| {
        let jobs = pending.take().unwrap_or_default();
        jobs.into_iter()
            .map(|job| job.run(ledger))
            .collect::<Vec<_>>()
    });
    match outcome {
        Ok((replies, written)) => {
            for reply in replies {
                reply(written.clone());
            }
        }
        Err(error) => {
            for job in pending.into_iter().flatten() {
                job.fail(error.clone());
            }
        }
    }
}

/// Sends a work's answer once the batch's write is done (or failed).
type Reply = Box<dyn FnOnce(Result<(), DriverError>) + Send>;

trait Job: Send {
    fn run(self: Box<Self>, ledger: &mut Ledger) -> Reply;
    fn fail(self: Box<Self>, error: DriverError);
}

struct Task<F, T> {
    work: F,
    reply: oneshot::Sender<Result<T, DriverError>>,
}

impl<F, T> Job for Task<F, T>
where
    T: Send + 'static,
    F: FnOnce(&mut Ledger) -> Result<T, DriverError> + Send + 'static,
{
    fn run(self: Box<Self>, ledger: &mut Ledger) -> Reply {
        let result = (self.work)(ledger);
        let reply = self.reply;
        Box::new(move |written| {
            let _ = reply.send(result.and_then(|value| written.map(|()| value)));
        })
    }

    fn fail(self: Box<Self>, error: DriverError) {
        let _ = self.reply.send(Err(error));
    }
}
