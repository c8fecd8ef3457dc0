//! Live progress: how apply's events reach `serve`. An apply writes every finished step to
//! the backend's journal (fsync'd, group-committed) before it writes the next state version;
//! loading the state folds that journal in. So `serve` needs no socket and no cooperation of
//! the applying process, and it works the same for every backend and for an apply started on
//! another machine: it loads the state every `poll` (never taking the lock) and, when
//! something changed, broadcasts one event per resource added, changed or removed, with the
//! new totals. The pages receive them as server-sent events (`/api/events`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{broadcast, watch};

use super::fleet::{self, Row, Totals};
use super::source::{redact, redact_text};
use crate::engine::Session;
use crate::state::State;
use crate::state::StateError;

/// The state as last loaded.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub state: Option<State>,
    /// Why the last load failed (the state before it is kept).
    pub error: Option<String>,
    /// Finished steps of an apply in progress (or interrupted) folded in from the journal.
    pub journal_steps: usize,
}

/// One change seen between two loads.
#[derive(Clone, Debug, Serialize)]
pub struct Change {
    /// `added`, `changed`, `removed`, `state-error` (the state could not be read), or
    /// `health` (a node's verdict changed; its row carries the new one).
    pub kind: &'static str,
    pub address: Option<String>,
    pub row: Option<Row>,
    pub serial: Option<u64>,
    pub journal_steps: usize,
    pub totals: Totals,
    pub error: Option<String>,
}

/// The latest snapshot, and the stream of changes.
#[derive(Clone)]
pub struct Live {
    latest: watch::Receiver<Arc<Snapshot>>,
    changes: broadcast::Sender<Change>,
}

impl Live {
    /// Loads the state once (an error here stops the server before it starts), then keeps
    /// loading it every `poll` in a task that ends with the server.
    pub async fn start(
        session: Arc<Session>,
        secrets: Arc<Vec<String>>,
        poll: Duration,
    ) -> Result<Live, StateError> {
        let first = load(&session, &secrets).await?;
        let (latest_tx, latest) = watch::channel(Arc::new(first));
        let (changes, _) = broadcast::channel(1024);
        let sender = changes.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(poll.max(Duration::from_millis(50)));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if latest_tx.is_closed() {
                    return;
                }
                let before = latest_tx.borrow().clone();
                let next = match load(&session, &secrets).await {
                    Ok(next) => next,
                    Err(e) => Snapshot {
                        state: before.state.clone(),
                        error: Some(redact_text(&e.to_string(), &secrets)),
                        journal_steps: before.journal_steps,
                    },
                };
                let changes = diff(&before, &next);
                if changes.is_empty() && next.error == before.error {
                    continue;
                }
                latest_tx.send_replace(Arc::new(next));
                for change in changes {
                    // Nobody listening is fine.
                    let _ = sender.send(change);
                }
            }
        });
        Ok(Live { latest, changes })
    }

    pub fn latest(&self) -> Arc<Snapshot> {
        self.latest.borrow().clone()
    }

    /// Sends `change` to every page listening (the health view's transitions).
    pub fn announce(&self, change: Change) {
        let _ = self.changes.send(change);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }
}

async fn load(session: &Session, secrets: &[String]) -> Result<Snapshot, StateError> {
    let loaded = session.backend.load().await?;
    Ok(Snapshot {
        state: loaded.state.map(|s| redact(s, secrets)),
        error: None,
        journal_steps: loaded.recovered_steps,
    })
}

/// The changes from `before` to `after`, by address (deposed objects included).
fn diff(before: &Snapshot, after: &Snapshot) -> Vec<Change> {
    let index = |s: &Snapshot| -> BTreeMap<String, Row> {
        fleet::rows(s.state.as_ref())
            .into_iter()
            .map(|r| (format!("{}#{}", r.address, r.provider_id), r))
            .collect()
    };
    let (old, new) = (index(before), index(after));
    let totals = Totals::of(new.values());
    let serial = after.state.as_ref().map(|s| s.serial);
    let change = |kind, row: &Row, keep: bool| Change {
        kind,
        address: Some(row.address.clone()),
        row: keep.then(|| row.clone()),
        serial,
        journal_steps: after.journal_steps,
        totals: totals.clone(),
        error: None,
    };
    let mut changes = Vec::new();
    for (key, row) in &new {
        match old.get(key) {
            None => changes.push(change("added", row, true)),
            Some(was) if was != row => changes.push(change("changed", row, true)),
            Some(_) => {}
        }
    }
    for (key, row) in &old {
        if !new.contains_key(key) {
            changes.push(change("removed", row, false));
        }
    }
    if let Some(error) = &after.error
        && before.error.as_ref() != Some(error)
    {
        changes.push(Change {
            kind: "state-error",
            address: None,
            row: None,
            serial,
            journal_steps: after.journal_steps,
            totals,
            error: Some(error.clone()),
        });
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::document::tests::node;

    fn snapshot(indexes: &[usize]) -> Snapshot {
        let mut state = State::new("t");
        for i in indexes {
            state.resources.insert(node(*i).address.clone(), node(*i));
        }
        Snapshot {
            state: Some(state),
            ..Snapshot::default()
        }
    }

    #[test]
    fn added_changed_and_removed_resources_are_each_one_change() {
        let before = snapshot(&[0, 1]);
        let mut after = snapshot(&[1, 2]);
        let moved = after.state.as_mut().unwrap();
        let one = moved.resources.values_mut().next().unwrap();
        one.placement.size = "large".into();
        let changes = diff(&before, &after);
        let seen: Vec<(&str, &str)> = changes
            .iter()
            .map(|c| (c.kind, c.address.as_deref().unwrap()))
            .collect();
        assert_eq!(
            seen,
            [
                ("changed", "node.web[1]"),
                ("added", "node.web[2]"),
                ("removed", "node.web[0]")
            ]
        );
        assert!(changes.iter().all(|c| c.totals.nodes == 2));
        assert!(diff(&after, &after).is_empty());
    }
}
