//! The local state store: `DIR/NAME.state.json`, its `.backup`, and the apply journal.
//!
//! A full write is atomic (temp file, fsync, rename, fsync of the directory) and keeps the
//! previous version as the backup; files are mode 0600. During an apply every finished step is
//! appended to an fsync'd journal instead of rewriting the whole state, so an apply of N nodes
//! writes O(N) bytes; the journal is folded in at the end and whenever the state is loaded.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::State;
use crate::resource::{Address, Existing};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("Cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("State file {} is not valid state JSON", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "State file {} has format_version {found}; this oss reads version {}",
        path.display(), super::FORMAT_VERSION
    )]
    Version { path: PathBuf, found: u32 },
    #[error("The state changed underneath: expected serial {expected}, found {found}")]
    Conflict { expected: u64, found: u64 },
    #[error("Refused: {0}")]
    Refused(String),
    #[error("State backend {backend}: {message}")]
    Backend { backend: String, message: String },
}

fn io_err<'p>(action: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> StoreError + 'p {
    move |source| StoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Where one strategy's state lives.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
    name: String,
}

/// A state as loaded, and whether unfinished journal entries were folded into it (then the
/// caller should write it before changing anything else).
#[derive(Debug)]
pub struct Loaded {
    pub state: Option<State>,
    pub recovered_steps: usize,
}

#[derive(Serialize, Deserialize)]
struct Header {
    journal: u32,
    lineage: String,
    base_serial: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Entry {
    Put(Box<Existing>),
    Delete(Address),
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>, name: &str) -> Self {
        Store {
            dir: dir.into(),
            name: name.to_string(),
        }
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.join(format!("{}.state.json", self.name))
    }

    pub fn backup_path(&self) -> PathBuf {
        self.dir.join(format!("{}.state.json.backup", self.name))
    }

    pub fn journal_path(&self) -> PathBuf {
        self.dir.join(format!("{}.journal", self.name))
    }

    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.name))
    }

    /// Reads the state and folds in a journal left by an apply that did not finish.
    pub fn load(&self) -> Result<Loaded, StoreError> {
        let path = self.state_path();
        let mut state = match fs::read(&path) {
            Ok(bytes) => {
                let state: State =
                    serde_json::from_slice(&bytes).map_err(|source| StoreError::Corrupt {
                        path: path.clone(),
                        source,
                    })?;
                if state.format_version != super::FORMAT_VERSION {
                    return Err(StoreError::Version {
                        path,
                        found: state.format_version,
                    });
                }
                Some(state)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        let recovered_steps = match state.as_mut() {
            Some(state) => self.fold_journal(state)?,
            None => 0,
        };
        Ok(Loaded {
            state,
            recovered_steps,
        })
    }

    /// Applies the journal's entries if it continues this exact state; a journal for another
    /// lineage or an older serial was already folded in (or is foreign) and is ignored. A torn
    /// last line (the process died mid-write) ends the fold.
    fn fold_journal(&self, state: &mut State) -> Result<usize, StoreError> {
        let path = self.journal_path();
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        let mut lines = BufReader::new(file).lines();
        let Some(Ok(first)) = lines.next() else {
            return Ok(0);
        };
        match serde_json::from_str::<Header>(&first) {
            Ok(h) if h.lineage == state.lineage && h.base_serial == state.serial => {}
            _ => return Ok(0),
        }
        let mut count = 0;
        for line in lines {
            let Ok(line) = line else { break };
            if !apply_entry(state, &line) {
                break;
            }
            count += 1;
        }
        Ok(count)
    }

    /// Writes `state` as the next serial: atomically, keeping the previous file as the
    /// backup; then drops the journal it supersedes.
    pub fn write(&self, state: &mut State) -> Result<(), StoreError> {
        state.serial += 1;
        self.write_raw(&super::backend::render(state))
    }

    /// Stores `bytes` as the state as they are (for `state push` and migration): atomically,
    /// keeping the previous file as the backup, dropping the journal.
    pub fn write_raw(&self, bytes: &[u8]) -> Result<(), StoreError> {
        fs::create_dir_all(&self.dir).map_err(io_err("create", &self.dir))?;
        let path = self.state_path();
        let tmp = self.dir.join(format!(
            ".{}.state.json.tmp-{}",
            self.name,
            std::process::id()
        ));
        {
            let mut file = create_private(&tmp)?;
            file.write_all(bytes).map_err(io_err("write", &tmp))?;
            file.sync_all().map_err(io_err("sync", &tmp))?;
        }
        if path.exists() {
            let backup = self.backup_path();
            let _ = fs::remove_file(&backup);
            if fs::hard_link(&path, &backup).is_err() {
                fs::copy(&path, &backup).map_err(io_err("back up", &path))?;
            }
        }
        fs::rename(&tmp, &path).map_err(io_err("replace", &path))?;
        sync_dir(&self.dir)?;
        match fs::remove_file(self.journal_path()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove", &self.journal_path())(e)),
        }
    }

    /// Starts a journal continuing `state` (which must be written, so its serial is on disk).
    pub fn begin_journal(&self, state: &State) -> Result<Journal, StoreError> {
        let path = self.journal_path();
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_err("create", &path))?;
        let header = Header {
            journal: 1,
            lineage: state.lineage.clone(),
            base_serial: state.serial,
        };
        let mut line = serde_json::to_vec(&header).expect("header serializes");
        line.push(b'\n');
        file.write_all(&line).map_err(io_err("write", &path))?;
        file.sync_data().map_err(io_err("sync", &path))?;
        sync_dir(&self.dir)?;
        Ok(Journal {
            file: Mutex::new(file),
            path,
        })
    }
}

/// The append-only record of finished steps of one apply. Each record is durable (fsync'd)
/// before the call returns.
pub struct Journal {
    file: Mutex<File>,
    path: PathBuf,
}

impl Journal {
    /// Records that `resource` exists as given.
    pub fn put(&self, resource: &Existing) -> Result<(), StoreError> {
        self.append(&[entry_put(resource)])
    }

    /// Records that `address` no longer exists.
    pub fn delete(&self, address: &Address) -> Result<(), StoreError> {
        self.append(&[entry_delete(address)])
    }

    /// Appends records as lines, made durable by one sync.
    pub fn append(&self, entries: &[String]) -> Result<(), StoreError> {
        let mut lines = Vec::with_capacity(entries.iter().map(|e| e.len() + 1).sum());
        for entry in entries {
            lines.extend_from_slice(entry.as_bytes());
            lines.push(b'\n');
        }
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&lines)
            .map_err(io_err("append to", &self.path))?;
        file.sync_data().map_err(io_err("sync", &self.path))
    }
}

/// One journal record as text (the same in every backend).
pub(crate) fn entry_put(resource: &Existing) -> String {
    serde_json::to_string(&Entry::Put(Box::new(resource.clone())))
        .expect("journal entry serializes")
}

pub(crate) fn entry_delete(address: &Address) -> String {
    serde_json::to_string(&Entry::Delete(address.clone())).expect("journal entry serializes")
}

/// Applies one journal record to `state`; false if it does not parse (a torn write).
pub(crate) fn apply_entry(state: &mut State, line: &str) -> bool {
    match serde_json::from_str::<Entry>(line) {
        Ok(Entry::Put(r)) => {
            state.resources.insert(r.address.clone(), *r);
            true
        }
        Ok(Entry::Delete(a)) => {
            state.resources.remove(&a);
            true
        }
        Err(_) => false,
    }
}

fn create_private(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err("create", path))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync", dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{Kind, Placement};
    use std::os::unix::fs::PermissionsExt;

    fn node(i: usize) -> Existing {
        Existing {
            address: Address::node("web", i),
            kind: Kind::Node,
            placement: Placement {
                provider: "local".into(),
                location: "local-a".into(),
                size: "small".into(),
                image: "host".into(),
                hourly_price: None,
                currency: None,
            },
            provider_id: format!("web-{i}"),
            attributes: Default::default(),
            observed: Default::default(),
            dependencies: vec![],
        }
    }

    #[test]
    fn write_is_private_keeps_backup_and_bumps_serial() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), "t");
        let mut state = State::new("t");
        store.write(&mut state).unwrap();
        state.resources.insert(node(0).address.clone(), node(0));
        store.write(&mut state).unwrap();
        assert_eq!(state.serial, 2);
        let mode = fs::metadata(store.state_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let backup: State =
            serde_json::from_slice(&fs::read(store.backup_path()).unwrap()).unwrap();
        assert_eq!(backup.serial, 1);
        assert!(backup.resources.is_empty());
        let loaded = store.load().unwrap().state.unwrap();
        assert_eq!(loaded, state);
    }

    #[test]
    fn journal_is_folded_on_load_and_a_torn_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), "t");
        let mut state = State::new("t");
        state.resources.insert(node(9).address.clone(), node(9));
        store.write(&mut state).unwrap();
        let journal = store.begin_journal(&state).unwrap();
        journal.put(&node(0)).unwrap();
        journal.put(&node(1)).unwrap();
        journal.delete(&node(9).address).unwrap();
        drop(journal);
        let mut f = OpenOptions::new()
            .append(true)
            .open(store.journal_path())
            .unwrap();
        f.write_all(b"{\"put\":{\"addr").unwrap();
        let loaded = store.load().unwrap();
        assert_eq!(loaded.recovered_steps, 3);
        let got: Vec<_> = loaded
            .state
            .unwrap()
            .resources
            .into_keys()
            .map(|a| a.0)
            .collect();
        assert_eq!(got, ["node.web[0]", "node.web[1]"]);
    }

    #[test]
    fn a_journal_older_than_the_state_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), "t");
        let mut state = State::new("t");
        store.write(&mut state).unwrap();
        let journal = store.begin_journal(&state).unwrap();
        journal.put(&node(0)).unwrap();
        // Simulate a crash after the final write but before the journal was removed.
        let stale = fs::read(store.journal_path()).unwrap();
        state.resources.insert(node(0).address.clone(), node(0));
        store.write(&mut state).unwrap();
        fs::write(store.journal_path(), stale).unwrap();
        let loaded = store.load().unwrap();
        assert_eq!(loaded.recovered_steps, 0);
        assert_eq!(loaded.state.unwrap().serial, 2);
    }
}
