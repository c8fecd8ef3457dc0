//! Makes finished steps durable in the journal from one thread of its own, so that no step
//! holds a runtime worker while its journal entry is made durable. A backend's journal may do
//! that work on the calling thread (the local one writes and fsyncs there): called from the
//! steps' own tasks, a few of them at once stalled every other step, timer and driver reply of
//! the apply. Entries that queue up while one append is under way go out together in the next
//! (group commit through [`crate::batch`]: one sync, row batch or object for many finished
//! steps), in the order they arrived. It decides nothing about them.

use std::sync::Arc;

use async_trait::async_trait;

use crate::batch::GroupCommit;
use crate::state::StateError;
use crate::state::journal::{Entry, Journal};

/// The most records one append carries.
const BATCH_MAX: usize = 1000;

/// A [`Journal`] that hands each entry to the recording thread and waits for it to be durable.
/// The thread ends when the recorder is dropped.
pub struct Recorder {
    queue: GroupCommit<Entry, Result<(), StateError>>,
}

impl Recorder {
    /// Starts the recording thread over `journal`. Call within a tokio runtime: the thread
    /// drives the journal's appends on it.
    pub fn start(journal: Arc<dyn Journal>) -> Self {
        let runtime = tokio::runtime::Handle::current();
        let queue = GroupCommit::start("oss-recorder", BATCH_MAX, move |entries: Vec<Entry>| {
            let result = runtime.block_on(journal.append(&entries));
            entries
                .iter()
                .map(|_| {
                    result
                        .as_ref()
                        .map(|_| ())
                        .map_err(|e| StateError::Backend {
                            backend: "the apply journal".into(),
                            message: e.to_string(),
                        })
                })
                .collect()
        });
        Recorder { queue }
    }
}

#[async_trait]
impl Journal for Recorder {
    async fn append(&self, entries: &[Entry]) -> Result<(), StateError> {
        let lost = || StateError::Io {
            action: "record in",
            path: "the apply journal".into(),
            source: std::io::Error::other("the journal thread ended before the entry was durable"),
        };
        // Queued one by one (in order) before waiting, so they can share one append.
        let answers = entries
            .iter()
            .map(|entry| self.queue.queue(entry.clone()).map_err(|_| lost()))
            .collect::<Result<Vec<_>, _>>()?;
        for answer in answers {
            answer.await.map_err(|_| lost())??;
        }
        Ok(())
    }
}
