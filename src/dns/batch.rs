//! Many edits per change: the edits of record steps that run at once are queued to one
//! group-commit thread ([`crate::batch`]) and sent together, in changes the zone cuts
//! ([`super::Zone::split`]: by default at most [`MAX_BYTES`] of record data, as an RFC 2136
//! UPDATE over TCP holds 64 KiB; Route53 by its request quotas). A change whose
//! guard fails, or that the server cannot carry out, is sent again one edit at a time, so
//! only the edit whose name is taken (or that breaks a server rule) fails and the others go
//! through.

use std::sync::Arc;

use super::Zone;
use super::record::Edit;
use crate::batch::GroupCommit;
use crate::driver::DriverError;

/// Record data per change, estimated: well under a DNS message's 64 KiB, leaving room for
/// the header, the zone and the TSIG record.
pub const MAX_BYTES: usize = 48 * 1024;

/// Edits queued to one zone.
pub struct Batcher {
    queue: GroupCommit<Edit, Result<(), DriverError>>,
}

impl Batcher {
    /// Starts the thread; the changes are sent on the runtime current now.
    pub fn start(name: &str, zone: Arc<dyn Zone>) -> Self {
        let runtime = tokio::runtime::Handle::current();
        let queue = GroupCommit::start(&format!("oss-dns-{name}"), 10_000, move |edits| {
            runtime.block_on(commit(zone.as_ref(), edits))
        });
        Batcher { queue }
    }

    /// Queues `edit` and waits until its change is done.
    pub async fn submit(&self, edit: Edit) -> Result<(), DriverError> {
        self.queue
            .submit(edit)
            .await
            .unwrap_or_else(|_| Err(DriverError::fatal("the DNS update thread ended")))
    }
}

/// Sends `edits` in as few changes as fit; one answer per edit, in order.
async fn commit(zone: &dyn Zone, edits: Vec<Edit>) -> Vec<Result<(), DriverError>> {
    let mut answers = Vec::with_capacity(edits.len());
    for chunk in zone.split(&edits) {
        match zone.edit(chunk).await {
            Ok(()) => answers.extend(chunk.iter().map(|_| Ok(()))),
            Err(e) if chunk.len() > 1 && is_one_edits_fault(&e) => {
                for edit in chunk {
                    answers.push(zone.edit(std::slice::from_ref(edit)).await);
                }
            }
            Err(e) => answers.extend(chunk.iter().map(|_| Err(e.clone()))),
        }
    }
    answers
}

/// Whether a failed change may be the fault of one of its edits (a guard, a server rule), so
/// the others should go through on their own.
fn is_one_edits_fault(error: &DriverError) -> bool {
    matches!(
        error.code.as_deref(),
        Some(super::PREREQUISITE | super::UPDATE_FAILED)
    )
}

/// `edits` cut into runs of at most [`MAX_BYTES`] of estimated record data.
pub fn chunks(edits: &[Edit]) -> Vec<&[Edit]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, edit) in edits.iter().enumerate() {
        let size = estimate(edit);
        if i > start && bytes + size > MAX_BYTES {
            chunks.push(&edits[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < edits.len() {
        chunks.push(&edits[start..]);
    }
    chunks
}

/// Bytes an edit takes in a message, at most: every record with its name uncompressed
/// (name, type, class, TTL, length: 10 bytes) and its data.
fn estimate(edit: &Edit) -> usize {
    let record = |data: usize| edit.name.len() + 2 + 10 + data;
    let guard = record(match &edit.guard {
        super::record::Guard::Unclaimed => 0,
        super::record::Guard::Owner(text) => text.len() + 1,
    });
    let cleared = (edit.write.len() + edit.remove.len()) * record(0);
    let written: usize = edit
        .write
        .iter()
        .flat_map(|s| &s.values)
        .map(|v| record(v.len() + 2))
        .sum();
    guard + cleared + written
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::record::{Guard, RecordSet, Rtype};

    fn edit(i: usize) -> Edit {
        Edit {
            name: format!("web-{i}.oss.test."),
            guard: Guard::Unclaimed,
            write: vec![RecordSet {
                name: format!("web-{i}.oss.test."),
                rtype: Rtype::A,
                ttl: 60,
                values: vec!["127.0.0.2".into()],
                alias: None,
            }],
            remove: Vec::new(),
        }
    }

    #[test]
    fn a_thousand_edits_fit_in_a_few_messages_each_under_the_limit() {
        let edits: Vec<Edit> = (0..1000).map(edit).collect();
        let chunks = chunks(&edits);
        assert!(chunks.len() >= 2 && chunks.len() <= 4, "{}", chunks.len());
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), 1000);
        for chunk in &chunks {
            assert!(chunk.iter().map(estimate).sum::<usize>() <= MAX_BYTES);
        }
        assert_eq!(super::chunks(&edits[..1]).len(), 1);
        assert!(super::chunks(&[]).is_empty());
    }
}
