//! Makes finished steps durable in the journal from one blocking thread, so that no step holds
//! a runtime worker while its journal entry is made durable. A backend's journal may do that
//! work on the calling thread (the local one writes and fsyncs there): called from the steps'
//! own tasks, a few of them at once stalled every other step, timer and driver reply of the
//! apply. Entries that queue up while one append is under way go out together in the next
//! (group commit: one sync, row batch or object for many finished steps), in the order they
//! arrived. It decides nothing about them.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::state::StateError;
use crate::state::journal::{Entry, Journal};

/// The most records one append carries.
const BATCH_MAX: usize = 1000;

type Request = (Entry, oneshot::Sender<Result<(), StateError>>);

/// A [`Journal`] that hands each entry to a thread of its own and waits for it to be durable.
/// The thread ends when the recorder is dropped.
pub struct Recorder {
    requests: mpsc::UnboundedSender<Request>,
}

impl Recorder {
    /// Starts the recording thread over `journal`. Call within a tokio runtime.
    pub fn start(journal: Arc<dyn Journal>) -> Self {
        let (requests, mut incoming) = mpsc::unbounded_channel::<Request>();
        let runtime = tokio::runtime::Handle::current();
        // Not awaited: it ends by itself once every sender is gone.
        drop(tokio::task::spawn_blocking(move || {
            while let Some(first) = incoming.blocking_recv() {
                let mut batch = vec![first];
                while batch.len() < BATCH_MAX {
                    match incoming.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let (entries, waiting): (Vec<Entry>, Vec<_>) = batch.into_iter().unzip();
                let result = runtime.block_on(journal.append(&entries));
                for done in waiting {
                    let _ = done.send(match &result {
                        Ok(()) => Ok(()),
                        Err(e) => Err(StateError::Backend {
                            backend: "the apply journal".into(),
                            message: e.to_string(),
                        }),
                    });
                }
            }
        }));
        Recorder { requests }
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
        let mut answers = Vec::with_capacity(entries.len());
        for entry in entries {
            let (done, answer) = oneshot::channel();
            self.requests
                .send((entry.clone(), done))
                .map_err(|_| lost())?;
            answers.push(answer);
        }
        for answer in answers {
            answer.await.map_err(|_| lost())??;
        }
        Ok(())
    }
}
