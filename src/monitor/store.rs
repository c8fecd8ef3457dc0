//! The health store: every up/down transition `oss monitor` (or `oss serve`) saw, one JSON
//! line each, appended to `health.jsonl` beside the local state (under `--state-dir`, whatever
//! the backend). Never the state file: health is what one observer saw from where it runs,
//! not what exists, so it is kept per observer and never shared through the PostgreSQL or S3
//! backend (docs/monitor.md). Each line is one `write` on a file opened for appending, so a
//! monitor and a dashboard recording at once never interleave within a line.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::health::Status;

/// The store's file name under the state directory.
pub const FILE: &str = "health.jsonl";

/// One transition, as stored and as printed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// When it was seen (RFC 3339, UTC).
    pub at: String,
    pub address: String,
    pub group: String,
    /// The node's provider id: a replaced node starts a new history.
    pub provider_id: String,
    pub from: Status,
    pub to: Status,
    /// Why the last probe failed (empty when up).
    pub detail: String,
    /// The last probe's latency in milliseconds.
    pub latency_ms: f64,
    /// Who saw it: `monitor` or `serve`.
    pub observer: String,
}

/// The append-only file.
#[derive(Clone, Debug)]
pub struct Store {
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("Cannot write the health store {}", crate::echo::EchoPath(path))]
pub struct StoreError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl Store {
    /// The store of the state directory `dir` (created on the first append).
    pub fn in_dir(dir: &Path) -> Store {
        Store {
            path: dir.join(FILE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` as one line (private file, one write).
    pub fn append(&self, record: &Record) -> Result<(), StoreError> {
        let line = serde_json::to_string(record).unwrap_or_default();
        crate::fsutil::append_line(&self.path, &line).map_err(|source| StoreError {
            path: self.path.clone(),
            source,
        })
    }

    /// The last `limit` records of `address`, oldest first (a line that does not parse, such
    /// as one cut by a crash, is skipped).
    pub fn history(&self, address: &str, limit: usize) -> Vec<Record> {
        let Ok(file) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let mut found: std::collections::VecDeque<Record> = Default::default();
        for line in BufReader::new(file).lines().map_while(Result::ok) {
            // Cheap filter before parsing: the address appears quoted in its lines.
            if !line.contains(address) {
                continue;
            }
            if let Ok(record) = serde_json::from_str::<Record>(&line)
                && record.address == address
            {
                if found.len() == limit {
                    found.pop_front();
                }
                found.push_back(record);
            }
        }
        found.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn record(address: &str, to: Status) -> Record {
        Record {
            at: "2026-12-02T12:00:00Z".into(),
            address: address.into(),
            group: "web".into(),
            provider_id: "n1".into(),
            from: Status::Unknown,
            to,
            detail: String::new(),
            latency_ms: 1.5,
            observer: "monitor".into(),
        }
    }

    #[test]
    fn appended_records_come_back_per_address_and_bad_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::in_dir(&dir.path().join("state"));
        assert!(store.history("node.web[0]", 10).is_empty());
        store.append(&record("node.web[0]", Status::Up)).unwrap();
        store.append(&record("node.web[1]", Status::Up)).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(store.path())
            .unwrap()
            .write_all(b"{\"cut by a cra")
            .unwrap();
        store.append(&record("node.web[0]", Status::Down)).unwrap();
        let seen = store.history("node.web[0]", 10);
        assert_eq!(
            seen.iter().map(|r| r.to).collect::<Vec<_>>(),
            [Status::Up, Status::Down]
        );
        assert_eq!(store.history("node.web[0]", 1)[0].to, Status::Down);
    }
}
