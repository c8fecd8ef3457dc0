//! Makes finished steps durable in the journal from one blocking thread, so that no step holds
//! a runtime worker while its journal entry is made durable. A backend's journal may do that
//! work on the calling thread (the local one writes and fsyncs there): called from the steps'
//! own tasks, a few of them at once stalled every other step, timer and driver reply of the
//! apply. It forwards entries in the order they arrive and decides nothing about them.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::resource::{Address, Existing};
use crate::state::backend::Journal;
use crate::state::store::StoreError;

enum Entry {
    Put(Box<Existing>),
    Delete(Address),
}

type Request = (Entry, oneshot::Sender<Result<(), StoreError>>);

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
            while let Some((entry, done)) = incoming.blocking_recv() {
                let result = runtime.block_on(async {
                    match &entry {
                        Entry::Put(resource) => journal.put(resource).await,
                        Entry::Delete(address) => journal.delete(address).await,
                    }
                });
                let _ = done.send(result);
            }
        }));
        Recorder { requests }
    }

    async fn record(&self, entry: Entry) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        let lost = || StoreError::Io {
            action: "record in",
            path: "the apply journal".into(),
            source: std::io::Error::other("the journal thread ended before the entry was durable"),
        };
        self.requests.send((entry, done)).map_err(|_| lost())?;
        answer.await.map_err(|_| lost())?
    }
}

#[async_trait]
impl Journal for Recorder {
    async fn put(&self, resource: &Existing) -> Result<(), StoreError> {
        self.record(Entry::Put(Box::new(resource.clone()))).await
    }

    async fn delete(&self, address: &Address) -> Result<(), StoreError> {
        self.record(Entry::Delete(address.clone())).await
    }
}
