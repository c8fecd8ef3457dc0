//! The local state files: `DIR/NAME.state.json`, its `.backup`, the apply journal
//! `DIR/NAME.journal` and the lock file's path. It keeps the bytes; what they mean is
//! [`super::document`]'s and [`super::journal`]'s, and the backend contract is
//! [`super::local`]'s.
//!
//! A write is atomic (through [`crate::fsutil::write_atomic`]: temp file, fsync, rename, fsync
//! of the directory) and keeps the previous version as the backup; files are 0600 and the
//! directory it creates 0700. During an apply every finished step is appended to an fsync'd
//! journal instead of rewriting the whole state, so an apply of N nodes writes O(N) bytes; the
//! journal is folded in at the end and whenever the state is loaded.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;

use super::document::{self, State};
use super::encryption::RecordSealer;
use super::encryption::envelope;
use super::error::{StateError, io_err};
use super::journal::{self, Entry, Header, Loaded};
use crate::fsutil;

/// Where one strategy's state lives.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
    name: String,
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

    /// The bytes at `path`, or `None` if there is no such file.
    pub fn read(&self, path: &std::path::Path) -> Result<Option<Vec<u8>>, StateError> {
        match fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", path)(e)),
        }
    }

    /// The stored state, without the journal.
    pub fn stored(&self) -> Result<Option<State>, StateError> {
        let path = self.state_path();
        self.read(&path)?
            .map(|bytes| document::parse(&bytes, &path.display().to_string()))
            .transpose()
    }

    /// The serial of the stored state (0: none), read without a key (an envelope keeps it in
    /// clear).
    pub fn stored_serial(&self) -> Result<u64, StateError> {
        let path = self.state_path();
        match self.read(&path)? {
            None => Ok(0),
            Some(bytes) => match envelope::header(&bytes) {
                Some(header) => Ok(header.serial),
                None => document::parse(&bytes, &path.display().to_string()).map(|s| s.serial),
            },
        }
    }

    /// Reads the state (in clear) and folds in a journal left by an apply that did not finish.
    pub fn load(&self) -> Result<Loaded, StateError> {
        let Some(state) = self.stored()? else {
            return Ok(Loaded::nothing());
        };
        let lines = self.journal_lines(&state)?;
        Ok(journal::fold(state, lines.iter().map(String::as_str)))
    }

    /// The journal's records, if it continues this exact state (see [`Header::continues`]);
    /// none otherwise. A torn last line (the process died mid-write) is among them: the fold
    /// stops there.
    pub fn journal_lines(&self, state: &State) -> Result<Vec<String>, StateError> {
        let path = self.journal_path();
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        let mut lines = BufReader::new(file).lines().map_while(Result::ok);
        match lines.next().as_deref().and_then(Header::decode) {
            Some(header) if header.continues(state) => Ok(lines.collect()),
            _ => Ok(Vec::new()),
        }
    }

    /// Stores `bytes` as the state if the stored serial is still `expected` (0: no state
    /// file): atomically, keeping the previous file as the backup, then drops the journal it
    /// supersedes. On any error the state file is as it was.
    pub fn put_if(&self, expected: u64, bytes: &[u8]) -> Result<(), StateError> {
        let found = self.stored_serial()?;
        if found != expected {
            return Err(StateError::Conflict { expected, found });
        }
        fsutil::create_private_dir_all(&self.dir).map_err(io_err("create", &self.dir))?;
        let path = self.state_path();
        if path.exists() {
            let backup = self.backup_path();
            match fs::remove_file(&backup) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("replace the backup", &backup)(e)),
            }
            if fs::hard_link(&path, &backup).is_err() {
                fs::copy(&path, &backup).map_err(io_err("back up", &path))?;
            }
        }
        fsutil::write_atomic(&path, bytes, 0o600).map_err(io_err("write", &path))?;
        match fs::remove_file(self.journal_path()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove", &self.journal_path())(e)),
        }
    }

    /// Starts a journal continuing `state` (which must be written, so its serial is on disk),
    /// its records in clear.
    pub fn begin_journal(&self, state: &State) -> Result<LocalJournal, StateError> {
        self.begin_sealed_journal(state, RecordSealer::plain(state))
    }

    /// Starts a journal continuing `state` whose records `sealer` writes. The header line
    /// stays in clear: it holds only the lineage and serial.
    pub fn begin_sealed_journal(
        &self,
        state: &State,
        sealer: RecordSealer,
    ) -> Result<LocalJournal, StateError> {
        let path = self.journal_path();
        let mut file = fsutil::create_private(&path, true).map_err(io_err("create", &path))?;
        let mut line = Header::continuing(state).encode().into_bytes();
        line.push(b'\n');
        file.write_all(&line).map_err(io_err("write", &path))?;
        file.sync_data().map_err(io_err("sync", &path))?;
        fsutil::sync_dir(&self.dir).map_err(io_err("sync", &self.dir))?;
        Ok(LocalJournal {
            file: Mutex::new(file),
            path,
            sealer,
        })
    }
}

/// The append-only record of finished steps of one apply, as lines of a file. Each append is
/// durable (fsync'd) before the call returns.
pub struct LocalJournal {
    file: Mutex<File>,
    path: PathBuf,
    sealer: RecordSealer,
}

impl LocalJournal {
    /// Appends records as lines, made durable by one sync (on the calling thread).
    pub fn append_now(&self, entries: &[Entry]) -> Result<(), StateError> {
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let lines = self.sealer.text(entries);
        file.write_all(&lines)
            .map_err(io_err("append to", &self.path))?;
        file.sync_data().map_err(io_err("sync", &self.path))
    }
}

#[async_trait]
impl journal::Journal for LocalJournal {
    async fn append(&self, entries: &[Entry]) -> Result<(), StateError> {
        self.append_now(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::document::tests::node;
    use std::os::unix::fs::PermissionsExt;

    /// A store in a fresh directory (`sub` below it) holding `state`, written once (serial 1).
    fn written(sub: &str, mut state: State) -> (tempfile::TempDir, Store, State) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join(sub), "t");
        store.write(&mut state).unwrap();
        (dir, store, state)
    }

    #[test]
    fn write_is_private_keeps_backup_and_bumps_serial() {
        let (dir, store, mut state) = written("state", State::new("t"));
        state.resources.insert(node(0).address.clone(), node(0));
        store.write(&mut state).unwrap();
        assert_eq!(state.serial, 2);
        let mode =
            |path: &std::path::Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&store.state_path()), 0o600);
        assert_eq!(mode(&dir.path().join("state")), 0o700);
        let backup = document::parse(&fs::read(store.backup_path()).unwrap(), "backup").unwrap();
        assert_eq!(backup.serial, 1);
        assert!(backup.resources.is_empty());
        let loaded = store.load().unwrap().state.unwrap();
        assert_eq!(loaded, state);
    }

    /// A write that fails leaves the serial and the file as they were, so the next write
    /// (once the problem is fixed) is not refused as a conflict with itself.
    #[test]
    fn a_failed_write_changes_neither_the_serial_nor_the_file() {
        let (_dir, store, mut state) = written("", State::new("t"));
        let before = fs::read(store.state_path()).unwrap();
        // The backup cannot be replaced (a non-empty directory sits where it goes): this
        // fails even for root, which a read-only directory would not stop.
        fs::create_dir_all(store.backup_path().join("in-the-way")).unwrap();
        state.resources.insert(node(0).address.clone(), node(0));
        assert!(store.write(&mut state).is_err());
        assert_eq!(state.serial, 1, "the serial is restored");
        assert_eq!(fs::read(store.state_path()).unwrap(), before);
        fs::remove_dir_all(store.backup_path()).unwrap();
        store.write(&mut state).unwrap();
        assert_eq!(state.serial, 2);
        assert_eq!(store.load().unwrap().state.unwrap(), state);
    }

    #[test]
    fn a_write_from_a_stale_serial_is_a_conflict() {
        let (_dir, store, mut state) = written("", State::new("t"));
        let mut stale = state.clone();
        store.write(&mut state).unwrap();
        let err = store.write(&mut stale).unwrap_err();
        assert!(
            matches!(
                err,
                StateError::Conflict {
                    expected: 1,
                    found: 2
                }
            ),
            "{err}"
        );
        assert_eq!(stale.serial, 1);
    }

    #[test]
    fn journal_is_folded_on_load_and_a_torn_line_is_ignored() {
        let mut first = State::new("t");
        first.resources.insert(node(9).address.clone(), node(9));
        let (_dir, store, state) = written("", first);
        let journal = store.begin_journal(&state).unwrap();
        journal
            .append_now(&[Entry::Put(Box::new(node(0))), Entry::Put(Box::new(node(1)))])
            .unwrap();
        journal
            .append_now(&[Entry::Delete(node(9).address)])
            .unwrap();
        drop(journal);
        let mut f = fsutil::append_private(&store.journal_path()).unwrap();
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
        let (_dir, store, mut state) = written("", State::new("t"));
        let journal = store.begin_journal(&state).unwrap();
        journal
            .append_now(&[Entry::Put(Box::new(node(0)))])
            .unwrap();
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
