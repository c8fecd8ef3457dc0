//! The apply summaries: one record for every `oss apply`, `oss destroy` and auto-repair this
//! machine carried out (how long carrying out the plan took, how its steps ended, and per
//! provider the API calls of the command, their errors by class and throttles), appended to
//! `applies.jsonl` beside the health store (under `--state-dir`, whatever the backend).
//! `oss serve` sums them at each scrape of `/metrics` (docs/serve.md).
//!
//! Never the state file: like health, a summary is what one machine did, not what exists.
//! Built from the events the engine already reports ([`Tally`] passes each one on) and from the
//! drivers' own call counts. Bounded: a file past [`MAX_BYTES`] is rotated to
//! `applies.jsonl.1` (the previous one dropped), so the summaries take at most two files.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::driver::Driver;
use crate::net::calls::CallCounts;
use crate::plan::Action;
use crate::report::{Event, Reporter};

/// The store's file name under the state directory.
pub const FILE: &str = "applies.jsonl";
/// A file larger than this is rotated before the next append (a record is about 300 bytes).
pub const MAX_BYTES: u64 = 1 << 20;
/// The upper bounds of the duration histogram's buckets, in seconds.
pub const BUCKETS: [f64; 10] = [
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// What carried the plan out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    Apply,
    Destroy,
    /// An auto-repair of `oss monitor` or `oss serve` (a replace through the engine).
    Repair,
}

impl Command {
    pub const ALL: [Command; 3] = [Command::Apply, Command::Destroy, Command::Repair];

    pub fn as_str(self) -> &'static str {
        match self {
            Command::Apply => "apply",
            Command::Destroy => "destroy",
            Command::Repair => "repair",
        }
    }
}

/// How the steps of an apply ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Steps {
    pub created: u64,
    pub updated: u64,
    pub replaced: u64,
    pub deleted: u64,
    pub failed: u64,
    /// Not tried: a dependency failed.
    pub skipped: u64,
    /// Refused everywhere, then not needed (see `Event::StepNotNeeded`).
    pub not_needed: u64,
}

impl Steps {
    /// Each outcome with its label.
    pub fn outcomes(&self) -> [(&'static str, u64); 7] {
        [
            ("created", self.created),
            ("updated", self.updated),
            ("replaced", self.replaced),
            ("deleted", self.deleted),
            ("failed", self.failed),
            ("skipped", self.skipped),
            ("not_needed", self.not_needed),
        ]
    }

    fn add(&mut self, other: &Steps) {
        self.created += other.created;
        self.updated += other.updated;
        self.replaced += other.replaced;
        self.deleted += other.deleted;
        self.failed += other.failed;
        self.skipped += other.skipped;
        self.not_needed += other.not_needed;
    }
}

/// One apply, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// When it ended (RFC 3339, UTC).
    pub at: String,
    pub command: Command,
    /// From the start of carrying the plan out to the final state write (no refresh, no
    /// plan, no confirmation prompt).
    pub seconds: f64,
    pub steps: Steps,
    /// Per provider, the calls of the whole command (its refresh included).
    #[serde(default)]
    pub providers: BTreeMap<String, CallCounts>,
}

/// A reporter that counts step outcomes and passes every event on to the one it wraps.
pub struct Tally {
    inner: Arc<dyn Reporter>,
    steps: Mutex<Steps>,
}

impl Tally {
    pub fn new(inner: Arc<dyn Reporter>) -> Self {
        Tally {
            inner,
            steps: Mutex::default(),
        }
    }

    /// The outcomes counted so far.
    pub fn steps(&self) -> Steps {
        *self.steps.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Reporter for Tally {
    fn report(&self, event: Event<'_>) {
        {
            let mut steps = self.steps.lock().unwrap_or_else(PoisonError::into_inner);
            match &event {
                Event::StepFinished { action, .. } => match action {
                    Action::Create => steps.created += 1,
                    Action::Update => steps.updated += 1,
                    Action::Replace => steps.replaced += 1,
                    Action::Delete => steps.deleted += 1,
                    Action::NoOp => {}
                },
                Event::StepFailed { .. } => steps.failed += 1,
                Event::StepSkipped { .. } => steps.skipped += 1,
                Event::StepNotNeeded { .. } => steps.not_needed += 1,
                _ => {}
            }
        }
        self.inner.report(event);
    }
}

/// Each driver's call counts now.
pub fn calls_of(drivers: &HashMap<String, Arc<dyn Driver>>) -> BTreeMap<String, CallCounts> {
    drivers
        .iter()
        .map(|(name, driver)| (name.clone(), driver.api_calls()))
        .collect()
}

/// Each driver's calls since `mark` (a driver not in it counted from zero), providers that
/// made none left out.
pub fn calls_since(
    drivers: &HashMap<String, Arc<dyn Driver>>,
    mark: &BTreeMap<String, CallCounts>,
) -> BTreeMap<String, CallCounts> {
    calls_of(drivers)
        .into_iter()
        .map(|(name, now)| {
            let since = now.since(&mark.get(&name).copied().unwrap_or_default());
            (name, since)
        })
        .filter(|(_, counts)| *counts != CallCounts::default())
        .collect()
}

/// The append-only file (and the one rotated out).
#[derive(Clone, Debug)]
pub struct Store {
    path: PathBuf,
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

    fn rotated(&self) -> PathBuf {
        self.path.with_extension("jsonl.1")
    }

    /// Appends `record` as one line, rotating a full file out first.
    pub fn append(&self, record: &Record) -> std::io::Result<()> {
        if std::fs::metadata(&self.path).is_ok_and(|m| m.len() >= MAX_BYTES) {
            std::fs::rename(&self.path, self.rotated())?;
        }
        let line = serde_json::to_string(record).unwrap_or_default();
        crate::fsutil::append_line(&self.path, &line)
    }

    /// Every record kept, oldest first (a line that does not parse, such as one cut by a
    /// crash, is skipped).
    pub fn records(&self) -> Vec<Record> {
        let mut records = Vec::new();
        for path in [self.rotated(), self.path.clone()] {
            let Ok(file) = std::fs::File::open(&path) else {
                continue;
            };
            records.extend(
                BufReader::new(file)
                    .lines()
                    .map_while(Result::ok)
                    .filter_map(|line| serde_json::from_str::<Record>(&line).ok()),
            );
        }
        records
    }
}

/// A histogram of durations: counts per bucket of [`BUCKETS`] (cumulative), all, and the sum.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Durations {
    pub buckets: [u64; BUCKETS.len()],
    pub count: u64,
    pub sum: f64,
}

/// The records summed, for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Totals {
    pub durations: BTreeMap<Command, Durations>,
    pub steps: Steps,
    pub providers: BTreeMap<String, CallCounts>,
}

impl Totals {
    pub fn of(records: &[Record]) -> Totals {
        let mut totals = Totals::default();
        for record in records {
            let durations = totals.durations.entry(record.command).or_default();
            for (bound, count) in BUCKETS.iter().zip(durations.buckets.iter_mut()) {
                if record.seconds <= *bound {
                    *count += 1;
                }
            }
            durations.count += 1;
            durations.sum += record.seconds;
            totals.steps.add(&record.steps);
            for (provider, calls) in &record.providers {
                totals
                    .providers
                    .entry(provider.clone())
                    .or_default()
                    .add(calls);
            }
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Address;
    use std::io::Write;

    fn record(command: Command, seconds: f64, created: u64, calls: u64) -> Record {
        let counts = CallCounts {
            calls,
            throttles: 1,
            retry_errors: 1,
            ..CallCounts::default()
        };
        Record {
            at: "2026-12-03T08:00:00Z".into(),
            command,
            seconds,
            steps: Steps {
                created,
                ..Steps::default()
            },
            providers: [("sim".to_string(), counts)].into(),
        }
    }

    /// Collects what it is passed on, to show the tally forwards every event.
    #[derive(Default)]
    struct Seen(Mutex<usize>);
    impl Reporter for Seen {
        fn report(&self, _event: Event<'_>) {
            *self.0.lock().unwrap() += 1;
        }
    }

    #[test]
    fn the_tally_counts_outcomes_and_passes_every_event_on() {
        let seen = Arc::new(Seen::default());
        let tally = Tally::new(seen.clone());
        let a = Address::node("web", 0);
        let b = Address::node("web", 1);
        tally.report(Event::ApplyStarted { steps: 4 });
        for action in [Action::Create, Action::Create, Action::Delete] {
            tally.report(Event::StepFinished {
                address: &a,
                action,
                elapsed: std::time::Duration::from_millis(5),
                placement: None,
            });
        }
        tally.report(Event::StepFailed {
            address: &a,
            action: Action::Create,
            error: "refused",
        });
        tally.report(Event::StepSkipped {
            address: &b,
            because: &a,
        });
        assert_eq!(
            tally.steps(),
            Steps {
                created: 2,
                deleted: 1,
                failed: 1,
                skipped: 1,
                ..Steps::default()
            }
        );
        assert_eq!(*seen.0.lock().unwrap(), 6);
    }

    #[test]
    fn records_are_summed_into_cumulative_buckets_per_command() {
        let records = [
            record(Command::Apply, 0.5, 3, 10),
            record(Command::Apply, 42.0, 1, 5),
            record(Command::Destroy, 2.0, 0, 4),
        ];
        let totals = Totals::of(&records);
        let apply = &totals.durations[&Command::Apply];
        assert_eq!(apply.buckets, [1, 1, 1, 1, 2, 2, 2, 2, 2, 2]);
        assert_eq!((apply.count, apply.sum), (2, 42.5));
        assert_eq!(totals.durations[&Command::Destroy].buckets[0], 0);
        assert_eq!(totals.durations[&Command::Destroy].buckets[1], 1);
        assert!(!totals.durations.contains_key(&Command::Repair));
        assert_eq!(totals.steps.created, 4);
        let sim = totals.providers["sim"];
        assert_eq!((sim.calls, sim.throttles, sim.retry_errors), (19, 3, 3));
    }

    #[test]
    fn the_store_keeps_records_across_a_rotation_and_skips_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::in_dir(&dir.path().join("state"));
        assert!(store.records().is_empty());
        store.append(&record(Command::Apply, 1.0, 1, 1)).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(store.path())
            .unwrap()
            .write_all(b"{\"cut by a cra")
            .unwrap();
        store.append(&record(Command::Apply, 2.0, 2, 1)).unwrap();
        assert_eq!(
            store
                .records()
                .iter()
                .map(|r| r.seconds)
                .collect::<Vec<_>>(),
            [1.0, 2.0]
        );
        // Full: the next append moves the file aside and starts a new one.
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(store.path())
            .unwrap();
        file.set_len(MAX_BYTES).unwrap();
        store.append(&record(Command::Destroy, 3.0, 0, 1)).unwrap();
        assert!(std::fs::metadata(store.path()).unwrap().len() < 1000);
        let kept = store.records();
        assert_eq!(kept.last().map(|r| r.command), Some(Command::Destroy));
        assert_eq!(kept.len(), 3, "the rotated file is still read");
        // Full again: the oldest file is dropped, so at most two are kept.
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(store.path())
            .unwrap();
        file.set_len(MAX_BYTES).unwrap();
        store.append(&record(Command::Repair, 4.0, 0, 1)).unwrap();
        let kept = store.records();
        assert_eq!(
            kept.iter().map(|r| r.command).collect::<Vec<_>>(),
            [Command::Destroy, Command::Repair]
        );
    }
}
