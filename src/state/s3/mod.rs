//! The S3 backend: the state is one object per strategy in a bucket that keeps versions, so
//! every earlier state can be listed and restored. Each version carries its serial, lineage,
//! SHA-256 and writer as object metadata, and is uploaded with `Content-MD5`; reads check the
//! body's MD5 against the ETag, so a torn or stale read is refused rather than used.
//!
//! Two ways to lock and to compare-and-swap:
//! - **conditional writes** (default): the lock is an object created with `If-None-Match: *`
//!   (one creator wins), and a state write is `If-Match` the ETag of the version it replaces;
//! - **a DynamoDB lock table** (`lock_table=NAME`, for S3-compatible stores without
//!   conditional writes): the lock is an item put on condition that none exists, and the
//!   table keeps the MD5 of the latest state so a stale read is noticed.
//!
//! A lock whose holder died stays until `force-unlock` removes it; its record says who held it.
//! An apply's finished steps are small journal objects, one per step, folded into the state
//! when it is loaded and removed (every version) once the state is written.
//!
//! URL: `s3://BUCKET[/PREFIX]?region=R&endpoint=URL&lock_table=T&profile=P`. Credentials come
//! from the standard AWS environment variables or shared files, never from the URL.
//!
//! Versions and journal objects go through the backend's [`Codec`] (encryption at rest).
//!
//! Here: connecting, reading and the compare-and-swap write of the state, versions. The URL is
//! [`location`], the lock [`lock`], the journal objects [`journal`], requests and signing
//! `http`.

pub(crate) mod http;
mod journal;
mod location;
mod lock;

pub use location::{Location, Settings};

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use md5::{Digest as _, Md5};
use serde_json::json;

use self::http::{Client, Endpoint, ErrorText as _, Reply, Request};
use super::backend::{Backend, Held, Version};
use super::document::State;
use super::encryption::{self, Codec};
use super::error::StateError;
use super::journal::{Journal, Loaded};
use super::lock::{LockError, LockInfo, who};
use crate::backoff::Policy;
use crate::net::aws::credentials;
use crate::net::aws::xml::Element;

/// Reads whose MD5 does not match are tried five times, 400 ms apart, before giving up
/// (S3-compatible stores may still serve an older copy for a moment after a write).
const STALE_READ: Policy =
    Policy::new(Duration::from_millis(400), Duration::from_millis(400), 4).with_jitter(0.0);
/// Journal objects fetched at once when a state is recovered.
const FETCH_WIDTH: usize = 16;

/// What HEAD or GET says about a version of the state object.
#[derive(Clone, Debug)]
struct Meta {
    etag: String,
    serial: u64,
    hash: String,
}

impl Meta {
    fn from(reply: &Reply) -> Meta {
        Meta {
            etag: reply.etag().unwrap_or_default(),
            serial: reply
                .header("x-amz-meta-oss-serial")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            hash: reply
                .header("x-amz-meta-oss-hash")
                .unwrap_or_default()
                .to_string(),
        }
    }
}

pub struct S3Backend {
    client: Arc<Client>,
    location: Location,
    key: String,
    shown: String,
    codec: Arc<Codec>,
}

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn md5_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(bytes))
}

/// Whether an ETag is the plain MD5 of the body (single-part upload without KMS).
fn plain_md5_etag(etag: &str) -> bool {
    etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit())
}

/// S3 metadata values must be ASCII.
fn ascii(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .collect()
}

impl S3Backend {
    /// Checks that the bucket can be reached, exists and keeps versions (and that the lock
    /// table exists, when named): a clear error here, before anything changes.
    pub async fn connect(url: &str, name: &str) -> Result<Self, StateError> {
        let shown = super::postgres::redact(url);
        let fail = |message: String| StateError::Backend {
            backend: shown.clone(),
            message,
        };
        let location = Location::parse(url).map_err(&fail)?;
        let given = credentials::Given {
            profile: location.settings.profile.clone(),
            ..Default::default()
        };
        let keys = credentials::resolve(given, &credentials::Environment::process())
            .map_err(&fail)?
            .ok_or_else(|| {
                fail("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
                      or AWS_PROFILE (or profile= in the URL) naming a profile in ~/.aws/credentials"
                    .into())
            })?;
        let client = Client::new(Endpoint {
            region: location.settings.region.clone(),
            url: location.settings.endpoint.clone(),
            keys,
        })
        .map_err(&fail)?;
        let backend = S3Backend {
            client: Arc::new(client),
            key: location.key(name),
            location,
            shown,
            codec: Arc::new(Codec::plain()),
        };
        backend.check_bucket().await?;
        if let Some(table) = &backend.location.settings.lock_table {
            let what = format!(
                "cannot use the lock table `{table}` (create it with a string partition key \
                 named LockID)"
            );
            backend
                .dynamo("DescribeTable", &json!({"TableName": table}), &what)
                .await?;
        }
        Ok(backend)
    }

    /// The same backend, its versions sealed and opened by `codec`.
    pub fn with_codec(self, codec: Arc<Codec>) -> Self {
        S3Backend { codec, ..self }
    }

    /// One DynamoDB call, whatever it answers; an error only when DynamoDB cannot be reached.
    async fn dynamo_reply(
        &self,
        action: &str,
        body: &serde_json::Value,
    ) -> Result<Reply, StateError> {
        self.client
            .dynamo(action, body)
            .await
            .map_err(|e| self.fail("cannot reach DynamoDB", e))
    }

    /// One DynamoDB call that must succeed: otherwise an error saying `what` failed, with the
    /// service's error kind and message.
    async fn dynamo(
        &self,
        action: &str,
        body: &serde_json::Value,
        what: &str,
    ) -> Result<Reply, StateError> {
        let reply = self.dynamo_reply(action, body).await?;
        if !reply.ok() {
            let (kind, message) = reply.dynamo_error();
            return Err(self.fail(what, format!("{kind}: {message}")));
        }
        Ok(reply)
    }

    fn fail(&self, what: &str, e: impl std::fmt::Display) -> StateError {
        StateError::Backend {
            backend: self.shown.clone(),
            message: format!("{what}: {e}"),
        }
    }

    async fn s3(&self, what: &str, request: Request<'_>) -> Result<Reply, StateError> {
        self.client
            .s3(&self.location.bucket, request)
            .await
            .map_err(|e| self.fail(what, e))
    }

    async fn check_bucket(&self) -> Result<(), StateError> {
        let bucket = &self.location.bucket;
        let reply = self
            .s3(
                "cannot reach S3",
                Request::new("GET", None).query("versioning", ""),
            )
            .await?;
        if !reply.ok() {
            return Err(self.fail(
                &format!("cannot use the bucket `{bucket}`"),
                reply.s3_error(),
            ));
        }
        let text = String::from_utf8_lossy(&reply.body);
        let status = Element::parse(&text)
            .ok()
            .and_then(|root| root.text_at(&["Status"]).map(str::to_string));
        if status.as_deref() != Some("Enabled") {
            return Err(self.fail(
                &format!("the bucket `{bucket}` does not keep versions"),
                format!(
                    "oss keeps every state as a version; enable versioning first \
                     (aws s3api put-bucket-versioning --bucket {bucket} \
                     --versioning-configuration Status=Enabled)"
                ),
            ));
        }
        Ok(())
    }

    /// The DynamoDB item ids: the lock's and the state digest's (as Terraform names them).
    fn table_ids(&self) -> (String, String) {
        let id = format!("{}/{}", self.location.bucket, self.key);
        let digest = format!("{id}-md5");
        (id, digest)
    }

    async fn head(&self) -> Result<Option<Meta>, StateError> {
        let reply = self
            .s3(
                "cannot read the state",
                Request::new("HEAD", Some(&self.key)),
            )
            .await?;
        match reply.status {
            404 => Ok(None),
            _ if reply.ok() => Ok(Some(Meta::from(&reply))),
            _ => Err(self.fail("cannot read the state", reply.s3_error())),
        }
    }

    /// The latest state (or the version `version_id`), checked against its MD5.
    async fn get(&self, version_id: Option<&str>) -> Result<Option<Vec<u8>>, StateError> {
        let expected_digest = match (&self.location.settings.lock_table, version_id) {
            (Some(table), None) => self.stored_digest(table).await?,
            _ => None,
        };
        let mut backoff = STALE_READ.start();
        loop {
            let mut request = Request::new("GET", Some(&self.key));
            if let Some(v) = version_id {
                request = request.query("versionId", v);
            }
            let reply = self.s3("cannot read the state", request).await?;
            if reply.status == 404 && expected_digest.is_none() {
                return Ok(None);
            }
            let problem = if reply.status == 404 {
                "the lock table records a state digest but the bucket has no state object".into()
            } else if !reply.ok() {
                return Err(self.fail("cannot read the state", reply.s3_error()));
            } else {
                let md5 = md5_hex(&reply.body);
                let etag = reply.etag().unwrap_or_default();
                if plain_md5_etag(&etag) && etag != md5 {
                    format!("the body's MD5 {md5} is not its ETag {etag} (a torn read)")
                } else if expected_digest.as_ref().is_some_and(|d| *d != md5) {
                    format!(
                        "the state read has MD5 {md5}, the lock table records {} for the latest \
                         write (a stale read)",
                        expected_digest.as_deref().unwrap_or_default()
                    )
                } else {
                    return Ok(Some(reply.body));
                }
            };
            if !backoff.wait(None).await {
                let attempt = backoff.retries() + 1;
                return Err(self.fail(
                    "the state read does not match what was written",
                    format!(
                        "{problem}; tried {attempt} times. If the table's digest is wrong, \
                         fix or delete its item {}",
                        self.table_ids().1
                    ),
                ));
            }
        }
    }

    async fn stored_digest(&self, table: &str) -> Result<Option<String>, StateError> {
        let id = self.table_ids().1;
        self.item(table, &id, "Digest", "the state digest").await
    }

    /// The string attribute `attribute` of the item `id` in the lock table (read consistently).
    async fn item(
        &self,
        table: &str,
        id: &str,
        attribute: &str,
        what: &str,
    ) -> Result<Option<String>, StateError> {
        let reply = self
            .dynamo(
                "GetItem",
                &json!({"TableName": table, "Key": {"LockID": {"S": id}}, "ConsistentRead": true}),
                &format!("cannot read {what}"),
            )
            .await?;
        let value: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
        Ok(value["Item"][attribute]["S"].as_str().map(str::to_string))
    }

    /// Stores `bytes` (the rendering of `state`) as the next version if the latest is still
    /// serial `expected` (0: none).
    async fn put(&self, state: &State, bytes: &[u8], expected: u64) -> Result<(), StateError> {
        let current = self.head().await?;
        let found = current.as_ref().map_or(0, |m| m.serial);
        if found != expected {
            return Err(StateError::Conflict { expected, found });
        }
        let hash = crate::digest::sha256_hex(bytes);
        let mut request = Request::new("PUT", Some(&self.key))
            .header("content-type", "application/json")
            .header("content-md5", md5_base64(bytes))
            .header("x-amz-meta-oss-serial", state.serial.to_string())
            .header("x-amz-meta-oss-lineage", ascii(&state.lineage))
            .header("x-amz-meta-oss-hash", hash.clone())
            .header("x-amz-meta-oss-written-by", ascii(&who()))
            .body(bytes.to_vec());
        if self.location.settings.lock_table.is_none() {
            request = match &current {
                Some(meta) => request.header("if-match", format!("\"{}\"", meta.etag)),
                None => request.header("if-none-match", "*"),
            };
        }
        let reply = self.s3("cannot write the state", request).await?;
        if reply.status == 412 {
            // Someone wrote first, or this is our own write answered late and retried.
            let now = self.head().await?;
            return match now {
                Some(meta) if meta.hash == hash && meta.serial == state.serial => Ok(()),
                now => Err(StateError::Conflict {
                    expected,
                    found: now.map_or(0, |m| m.serial),
                }),
            };
        }
        if !reply.ok() {
            return Err(self.fail("cannot write the state", reply.s3_error()));
        }
        let md5 = md5_hex(bytes);
        if let Some(etag) = reply.etag().filter(|e| plain_md5_etag(e) && *e != md5) {
            return Err(self.fail(
                "the stored state differs from what was sent",
                format!("ETag {etag}, MD5 sent {md5}"),
            ));
        }
        if let Some(table) = &self.location.settings.lock_table {
            self.dynamo(
                "PutItem",
                &json!({"TableName": table,
                        "Item": {"LockID": {"S": self.table_ids().1}, "Digest": {"S": md5}}}),
                "cannot record the state digest",
            )
            .await?;
        }
        self.clear_journal().await
    }

    /// Every version of every object under `prefix`, as (key, version id), delete markers too.
    async fn list_versions(
        &self,
        prefix: &str,
    ) -> Result<Vec<(Element, &'static str)>, StateError> {
        let mut found = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut request = Request::new("GET", None)
                .query("prefix", prefix)
                .query("versions", "");
            if let Some((key, version)) = &markers {
                request = request
                    .query("key-marker", key.clone())
                    .query("version-id-marker", version.clone());
            }
            let reply = self.s3("cannot list versions", request).await?;
            if !reply.ok() {
                return Err(self.fail("cannot list versions", reply.s3_error()));
            }
            let root = Element::parse(&String::from_utf8_lossy(&reply.body))
                .map_err(|e| self.fail("cannot list versions", e))?;
            for child in &root.children {
                match child.name.as_str() {
                    "Version" => found.push((child.clone(), "Version")),
                    "DeleteMarker" => found.push((child.clone(), "DeleteMarker")),
                    _ => {}
                }
            }
            if root.text_at(&["IsTruncated"]) != Some("true") {
                return Ok(found);
            }
            match (
                root.text_at(&["NextKeyMarker"]),
                root.text_at(&["NextVersionIdMarker"]),
            ) {
                (Some(k), Some(v)) => markers = Some((k.to_string(), v.to_string())),
                _ => return Ok(found),
            }
        }
    }

    /// Sends `requests`, up to [`FETCH_WIDTH`] at a time; the replies in the same order.
    async fn fetch_all<'a>(
        &self,
        what: &str,
        requests: impl Iterator<Item = Request<'a>>,
    ) -> Result<Vec<Reply>, StateError> {
        let requests: Vec<Request<'a>> = requests.collect();
        let mut replies = Vec::with_capacity(requests.len());
        let mut requests = requests.into_iter().peekable();
        while requests.peek().is_some() {
            let wave = requests
                .by_ref()
                .take(FETCH_WIDTH)
                .map(|request| self.s3(what, request));
            for reply in futures_util::future::join_all(wave).await {
                replies.push(reply?);
            }
        }
        Ok(replies)
    }

    /// Every stored version of the state with its version id, oldest first (a listing, then
    /// a HEAD of each for the metadata the listing lacks).
    async fn stored_versions(&self) -> Result<Vec<(String, Version)>, StateError> {
        let listed: Vec<(String, String)> = self
            .list_versions(&self.key)
            .await?
            .into_iter()
            .filter(|(element, kind)| {
                *kind == "Version" && element.text_at(&["Key"]) == Some(self.key.as_str())
            })
            .filter_map(|(element, _)| {
                Some((
                    element.text_at(&["VersionId"])?.to_string(),
                    whole_seconds(element.text_at(&["LastModified"]).unwrap_or_default()),
                ))
            })
            .collect();
        let heads = listed
            .iter()
            .map(|(id, _)| Request::new("HEAD", Some(&self.key)).query("versionId", id.clone()));
        let replies = self.fetch_all("cannot list versions", heads).await?;
        let mut versions = Vec::with_capacity(listed.len());
        for ((version_id, written_at), reply) in listed.into_iter().zip(replies) {
            if !reply.ok() {
                return Err(self.fail("cannot list versions", reply.s3_error()));
            }
            let meta = Meta::from(&reply);
            let version = Version {
                serial: meta.serial,
                lineage: reply
                    .header("x-amz-meta-oss-lineage")
                    .unwrap_or_default()
                    .to_string(),
                hash: meta.hash,
                written_at: Some(written_at).filter(|w| !w.is_empty()),
                written_by: reply
                    .header("x-amz-meta-oss-written-by")
                    .map(str::to_string),
            };
            versions.push((version_id, version));
        }
        versions.sort_by_key(|(_, v)| v.serial);
        Ok(versions)
    }
}

/// `2026-11-25T10:01:02.000Z` → `2026-11-25T10:01:02Z`.
fn whole_seconds(timestamp: &str) -> String {
    match timestamp.split_once('.') {
        Some((seconds, _)) => format!("{seconds}Z"),
        None => timestamp.to_string(),
    }
}

#[async_trait]
impl Backend for S3Backend {
    fn describe(&self) -> String {
        let mut text = format!("s3://{}/{}", self.location.bucket, self.key);
        if let Some(endpoint) = &self.location.settings.endpoint {
            text.push_str(&format!(" at {}", super::postgres::redact(endpoint)));
        }
        if let Some(table) = &self.location.settings.lock_table {
            text.push_str(&format!(" (lock table {table})"));
        }
        text
    }

    fn codec(&self) -> &Codec {
        &self.codec
    }

    async fn load(&self) -> Result<Loaded, StateError> {
        let Some(bytes) = self.get(None).await? else {
            return Ok(Loaded::nothing());
        };
        let whence = self.describe();
        let opened = self.codec.open(&bytes, &whence).await?;
        let objects = self.journal_entries(&opened.state).await?;
        encryption::fold(opened, objects.iter().flat_map(|o| o.lines()), &whence)
    }

    async fn put_if(&self, expected: u64, state: &State, bytes: &[u8]) -> Result<(), StateError> {
        self.put(state, bytes, expected).await
    }

    async fn begin_journal(&self, state: &State) -> Result<Arc<dyn Journal>, StateError> {
        self.start_journal(state).await
    }

    async fn lock(&self, operation: &str, timeout: Duration) -> Result<Arc<dyn Held>, LockError> {
        self.take_lock(operation, timeout).await
    }

    async fn force_unlock(&self, id: &str) -> Result<LockInfo, LockError> {
        self.remove_lock(id).await
    }

    async fn versions(&self) -> Result<Vec<Version>, StateError> {
        let stored = self.stored_versions().await?;
        Ok(stored.into_iter().map(|(_, version)| version).collect())
    }

    async fn raw(&self, serial: Option<u64>) -> Result<Option<Vec<u8>>, StateError> {
        let Some(serial) = serial else {
            return self.get(None).await;
        };
        let stored = self.stored_versions().await?;
        match stored.iter().find(|(_, v)| v.serial == serial) {
            Some((version_id, _)) => self.get(Some(version_id)).await,
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_forms() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_base64(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
        assert!(plain_md5_etag("d41d8cd98f00b204e9800998ecf8427e"));
        assert!(!plain_md5_etag("d41d8cd98f00b204e9800998ecf8427e-2"));
    }

    #[test]
    fn timestamps_drop_fractions() {
        assert_eq!(
            whole_seconds("2026-11-25T10:01:02.000Z"),
            "2026-11-25T10:01:02Z"
        );
        assert_eq!(
            whole_seconds("2026-11-25T10:01:02Z"),
            "2026-11-25T10:01:02Z"
        );
    }
}
