//! The sim state file: read into a [`Ledger`], cached, locked and replaced atomically.
//!
//! Several processes may share one state file: every read-modify-write holds an exclusive
//! `flock` on `<state file>.lock` and replaces the file atomically. Each driver caches the
//! parsed file and re-reads it when another writer changed it (the lock file holds a generation
//! counter every writer bumps, and the file's identity, size and times are compared too).
//! Calls made concurrently within one process are batched through [`crate::batch`]: one lock,
//! one freshness check and at most one write serve them all, so applies of thousands of nodes
//! do not rewrite the file per node.

use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tokio::sync::oneshot;

use super::ledger::{Ledger, SimInstance};
use super::{io_error, parent_dir};
use crate::batch::GroupCommit;
use crate::driver::DriverError;
use crate::fsutil;

/// The version of the state file's layout.
const FORMAT: u32 = 1;

/// The state file's layout.
#[derive(Deserialize)]
struct SimFile {
    format: u32,
    instances: Vec<SimInstance>,
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

/// A parsed state file and what it looked like when read or written.
#[derive(Debug)]
pub(super) struct Cached {
    generation: u64,
    stamp: Option<Stamp>,
    ledger: Ledger,
}

/// Run `work` on the ledger of `path` under the exclusive file lock, reusing `cache` if no one
/// changed the file since, and write the file back if `work` changed the ledger.
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
    let current = stamp(path)?;
    let cached = match cache.take() {
        Some(cached) if cached.generation == generation && cached.stamp == current => {
            cache.insert(cached)
        }
        // Another writer changed the file (or nothing is cached yet).
        _ => cache.insert(Cached {
            generation,
            stamp: current,
            ledger: read_ledger(path)?,
        }),
    };
    cached.ledger.dirty = false;
    let value = work(&mut cached.ledger);
    if !cached.ledger.dirty {
        return Ok((value, Ok(())));
    }
    // The generation goes up before the file changes: a crash in between costs others a
    // needless re-read, never a stale cache.
    let next = generation.wrapping_add(1);
    let written = lock
        .set_generation(next)
        .and_then(|()| write_ledger(path, &cached.ledger))
        .and_then(|()| stamp(path));
    match written {
        Ok(stamp) => {
            cached.generation = next;
            cached.stamp = stamp;
            cached.ledger.dirty = false;
            Ok((value, Ok(())))
        }
        Err(error) => {
            *cache = None;
            Ok((value, Err(error)))
        }
    }
}

fn read_ledger(path: &Path) -> Result<Ledger, DriverError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Ledger::default()),
        Err(e) => return Err(io_error("read", path, e)),
    };
    let corrupt = |problem: String| {
        DriverError::fatal(format!(
            "The sim state file {} is damaged: {problem}.",
            path.display()
        ))
    };
    let file: SimFile = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if file.format != FORMAT {
        return Err(corrupt(format!(
            "its format is {}, this build reads format {FORMAT}",
            file.format
        )));
    }
    Ledger::from_instances(file.instances).map_err(corrupt)
}

/// Write the ledger atomically (see [`fsutil::write_atomic_with`]). One instance per line, so
/// the file reads well in a pager and diffs line by line.
fn write_ledger(path: &Path, ledger: &Ledger) -> Result<(), DriverError> {
    fsutil::write_atomic_with(path, 0o600, |out| {
        write!(out, "{{\n  \"format\": {FORMAT},\n  \"instances\": [")?;
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
    .map_err(|e| io_error("write", path, e))
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
