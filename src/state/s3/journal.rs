//! The S3 backend's journal: an apply's finished steps are small objects under
//! `KEY.journal/LINEAGE-SERIAL/`, one per append (the records as lines, in the journal codec),
//! read back in key order when the state is loaded and removed (every version) once the
//! state is written. A record that cannot be read fails the load: nothing is folded around a
//! hole.

use std::sync::Arc;
use std::sync::Mutex;

use async_trait::async_trait;

use super::http::{Client, ErrorText as _, Request};
use super::{S3Backend, md5_base64};
use crate::state::document::State;
use crate::state::encryption::RecordSealer;
use crate::state::error::StateError;
use crate::state::journal::{Entry, Journal};

impl S3Backend {
    fn journal_root(&self) -> String {
        format!("{}.journal/", self.key)
    }

    fn journal_prefix(&self, lineage: &str, serial: u64) -> String {
        format!("{}{lineage}-{serial}/", self.journal_root())
    }

    /// Starts the journal of an apply continuing `state` ([`super::Backend::begin_journal`]).
    pub(super) async fn start_journal(
        &self,
        state: &State,
    ) -> Result<Arc<dyn Journal>, StateError> {
        self.clear_journal().await?;
        let sealer = self.codec.record_sealer(state).await?;
        Ok(Arc::new(S3Journal {
            sealer,
            client: Arc::clone(&self.client),
            bucket: self.location.bucket.clone(),
            prefix: self.journal_prefix(&state.lineage, state.serial),
            next: Mutex::new(0),
            shown: self.shown.clone(),
        }))
    }

    /// Removes every version of the journal objects (they are superseded once the state is
    /// written), up to 1,000 per request.
    pub(super) async fn clear_journal(&self) -> Result<(), StateError> {
        let versions = self.list_versions(&self.journal_root()).await?;
        for batch in versions.chunks(1000) {
            let mut body = String::from("<Delete><Quiet>true</Quiet>");
            for (element, _) in batch {
                let key = element.text_at(&["Key"]).unwrap_or_default();
                let version = element.text_at(&["VersionId"]).unwrap_or("null");
                body.push_str(&format!(
                    "<Object><Key>{}</Key><VersionId>{}</VersionId></Object>",
                    xml_escape(key),
                    xml_escape(version)
                ));
            }
            body.push_str("</Delete>");
            let bytes = body.into_bytes();
            let reply = self
                .s3(
                    "cannot remove the journal",
                    Request::new("POST", None)
                        .query("delete", "")
                        .header("content-type", "application/xml")
                        .header("content-md5", md5_base64(&bytes))
                        .body(bytes),
                )
                .await?;
            if !reply.ok() {
                return Err(self.fail("cannot remove the journal", reply.s3_error()));
            }
        }
        Ok(())
    }

    /// The journal objects continuing `state` (each holds one or more records as lines), in
    /// the order they were written.
    pub(super) async fn journal_entries(&self, state: &State) -> Result<Vec<String>, StateError> {
        let prefix = self.journal_prefix(&state.lineage, state.serial);
        let mut keys: Vec<String> = self
            .list_versions(&prefix)
            .await?
            .into_iter()
            .filter(|(element, kind)| {
                *kind == "Version" && element.text_at(&["IsLatest"]) != Some("false")
            })
            .filter_map(|(element, _)| element.text_at(&["Key"]).map(str::to_string))
            .collect();
        keys.sort();
        keys.dedup();
        let requests = keys.iter().map(|key| Request::new("GET", Some(key)));
        let replies = self.fetch_all("cannot read the journal", requests).await?;
        let mut objects = Vec::with_capacity(replies.len());
        for (key, reply) in keys.iter().zip(replies) {
            // A record missing from the middle would make a state that never existed.
            if !reply.ok() {
                return Err(StateError::JournalHole {
                    backend: self.shown.clone(),
                    object: format!("s3://{}/{key}", self.location.bucket),
                    problem: reply.s3_error(),
                });
            }
            objects.push(String::from_utf8_lossy(&reply.body).into_owned());
        }
        Ok(objects)
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

struct S3Journal {
    client: Arc<Client>,
    bucket: String,
    prefix: String,
    next: Mutex<u64>,
    shown: String,
    sealer: RecordSealer,
}

#[async_trait]
impl Journal for S3Journal {
    /// One object holding the records as lines (one PUT however many steps finished).
    async fn append(&self, entries: &[Entry]) -> Result<(), StateError> {
        // The object's number and its records' numbers are taken together, in one order.
        let (seq, bytes) = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            *next += 1;
            (*next - 1, self.sealer.text(entries))
        };
        let key = format!("{}{seq:010}", self.prefix);
        let fail = |e: String| StateError::Backend {
            backend: self.shown.clone(),
            message: format!("cannot append to the journal: {e}"),
        };
        let reply = self
            .client
            .s3(
                &self.bucket,
                Request::new("PUT", Some(&key))
                    .header("content-md5", md5_base64(&bytes))
                    .body(bytes),
            )
            .await
            .map_err(fail)?;
        if !reply.ok() {
            return Err(fail(reply.s3_error()));
        }
        Ok(())
    }
}
