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

mod http;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use md5::{Digest as _, Md5};
use serde_json::json;

use self::http::{Client, Endpoint, ErrorText as _, Reply, Request};
use super::State;
use super::backend::{self, Backend, Held, Journal, Version};
use super::lock::{LockError, LockInfo, who};
use super::store::{Loaded, StoreError};
use crate::backoff::Policy;
use crate::net::aws::credentials;
use crate::net::aws::xml::Element;

/// Reads whose MD5 does not match are tried five times, 400 ms apart, before giving up
/// (S3-compatible stores may still serve an older copy for a moment after a write).
const STALE_READ: Policy =
    Policy::new(Duration::from_millis(400), Duration::from_millis(400), 4).with_jitter(0.0);
/// Journal objects fetched at once when a state is recovered.
const FETCH_WIDTH: usize = 16;

/// Where the state lives, parsed from an `s3://` URL.
#[derive(Clone, Debug, PartialEq)]
pub struct Location {
    pub bucket: String,
    /// Folder for the objects, without slashes at either end (may be empty).
    pub prefix: String,
    pub region: String,
    pub endpoint: Option<String>,
    pub lock_table: Option<String>,
    pub profile: Option<String>,
}

impl Location {
    /// Parses `s3://BUCKET[/PREFIX][?region=..&endpoint=..&lock_table=..&profile=..]`.
    pub fn parse(url: &str) -> Result<Location, String> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or("the URL must start with s3:// (s3://BUCKET/PREFIX?region=REGION)")?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        if bucket.is_empty() {
            return Err("the URL names no bucket (s3://BUCKET/PREFIX)".into());
        }
        let mut location = Location {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            region: std::env::var("AWS_REGION")
                .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
                .ok()
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "us-east-1".into()),
            endpoint: None,
            lock_table: None,
            profile: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned();
            match name {
                "region" => location.region = value,
                "endpoint" => location.endpoint = Some(value.trim_end_matches('/').to_string()),
                "lock_table" => location.lock_table = Some(value),
                "profile" => location.profile = Some(value),
                other => {
                    return Err(format!(
                        "unknown URL setting `{other}`; known: region, endpoint, lock_table, profile"
                    ));
                }
            }
        }
        Ok(location)
    }

    /// The state object's key for strategy `name`.
    fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            format!("{name}.state.json")
        } else {
            format!("{}/{name}.state.json", self.prefix)
        }
    }
}

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
    pub async fn connect(url: &str, name: &str) -> Result<Self, StoreError> {
        let shown = super::postgres::redact(url);
        let fail = |message: String| StoreError::Backend {
            backend: shown.clone(),
            message,
        };
        let location = Location::parse(url).map_err(&fail)?;
        let given = credentials::Given {
            profile: location.profile.clone(),
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
            region: location.region.clone(),
            url: location.endpoint.clone(),
            keys,
        })
        .map_err(&fail)?;
        let backend = S3Backend {
            client: Arc::new(client),
            key: location.key(name),
            location,
            shown,
        };
        backend.check_bucket().await?;
        if let Some(table) = &backend.location.lock_table {
            let reply = backend
                .client
                .dynamo("DescribeTable", &json!({"TableName": table}))
                .await
                .map_err(|e| backend.fail("cannot reach DynamoDB", e))?;
            if !reply.ok() {
                let (kind, message) = reply.dynamo_error();
                return Err(backend.fail(
                    &format!("cannot use the lock table `{table}`"),
                    format!(
                        "{kind}: {message} (create it with a string partition key named LockID)"
                    ),
                ));
            }
        }
        Ok(backend)
    }

    fn fail(&self, what: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Backend {
            backend: self.shown.clone(),
            message: format!("{what}: {e}"),
        }
    }

    async fn s3(&self, what: &str, request: Request<'_>) -> Result<Reply, StoreError> {
        self.client
            .s3(&self.location.bucket, request)
            .await
            .map_err(|e| self.fail(what, e))
    }

    async fn check_bucket(&self) -> Result<(), StoreError> {
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

    fn lock_key(&self) -> String {
        format!("{}.lock", self.key)
    }

    fn journal_root(&self) -> String {
        format!("{}.journal/", self.key)
    }

    fn journal_prefix(&self, lineage: &str, serial: u64) -> String {
        format!("{}{lineage}-{serial}/", self.journal_root())
    }

    /// The DynamoDB item ids: the lock's and the state digest's (as Terraform names them).
    fn table_ids(&self) -> (String, String) {
        let id = format!("{}/{}", self.location.bucket, self.key);
        let digest = format!("{id}-md5");
        (id, digest)
    }

    async fn head(&self) -> Result<Option<Meta>, StoreError> {
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
    async fn get(&self, version_id: Option<&str>) -> Result<Option<Vec<u8>>, StoreError> {
        let expected_digest = match (&self.location.lock_table, version_id) {
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

    async fn stored_digest(&self, table: &str) -> Result<Option<String>, StoreError> {
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
    ) -> Result<Option<String>, StoreError> {
        let reply = self
            .client
            .dynamo(
                "GetItem",
                &json!({"TableName": table, "Key": {"LockID": {"S": id}}, "ConsistentRead": true}),
            )
            .await
            .map_err(|e| self.fail("cannot reach DynamoDB", e))?;
        if !reply.ok() {
            let (kind, message) = reply.dynamo_error();
            return Err(self.fail(&format!("cannot read {what}"), format!("{kind}: {message}")));
        }
        let value: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
        Ok(value["Item"][attribute]["S"].as_str().map(str::to_string))
    }

    /// Stores `bytes` (the rendering of `state`) as the next version if the latest is still
    /// serial `expected` (`None`: whatever it is).
    async fn put(
        &self,
        state: &State,
        bytes: &[u8],
        expected: Option<u64>,
    ) -> Result<(), StoreError> {
        let current = self.head().await?;
        let found = current.as_ref().map_or(0, |m| m.serial);
        if let Some(expected) = expected
            && found != expected
        {
            return Err(StoreError::Conflict { expected, found });
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
        if self.location.lock_table.is_none() {
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
                now => Err(StoreError::Conflict {
                    expected: expected.unwrap_or(found),
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
        if let Some(table) = &self.location.lock_table {
            let reply = self
                .client
                .dynamo(
                    "PutItem",
                    &json!({"TableName": table,
                            "Item": {"LockID": {"S": self.table_ids().1}, "Digest": {"S": md5}}}),
                )
                .await
                .map_err(|e| self.fail("cannot reach DynamoDB", e))?;
            if !reply.ok() {
                let (kind, message) = reply.dynamo_error();
                return Err(self.fail(
                    "cannot record the state digest",
                    format!("{kind}: {message}"),
                ));
            }
        }
        self.clear_journal().await
    }

    /// Every version of every object under `prefix`, as (key, version id), delete markers too.
    async fn list_versions(
        &self,
        prefix: &str,
    ) -> Result<Vec<(Element, &'static str)>, StoreError> {
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

    /// Removes every version of the journal objects (they are superseded once the state is
    /// written), up to 1,000 per request.
    async fn clear_journal(&self) -> Result<(), StoreError> {
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
    async fn journal_entries(&self, state: &State) -> Result<Vec<String>, StoreError> {
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
        Ok(replies
            .into_iter()
            .filter(Reply::ok)
            .map(|reply| String::from_utf8_lossy(&reply.body).into_owned())
            .collect())
    }

    /// Sends `requests`, up to [`FETCH_WIDTH`] at a time; the replies in the same order.
    async fn fetch_all<'a>(
        &self,
        what: &str,
        requests: impl Iterator<Item = Request<'a>>,
    ) -> Result<Vec<Reply>, StoreError> {
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
    async fn stored_versions(&self) -> Result<Vec<(String, Version)>, StoreError> {
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

    /// Who holds the lock now, with the version id of its record (S3) or the record's text
    /// (DynamoDB), if anyone does.
    async fn holder(&self) -> Result<Option<(LockInfo, String)>, StoreError> {
        if let Some(table) = &self.location.lock_table {
            let id = self.table_ids().0;
            let text = self.item(table, &id, "Info", "the lock").await?;
            return Ok(text.map(|text| {
                let info = serde_json::from_str(&text).unwrap_or_else(|_| LockInfo::unknown());
                (info, text)
            }));
        }
        let key = self.lock_key();
        let reply = self
            .s3("cannot read the lock", Request::new("GET", Some(&key)))
            .await?;
        match reply.status {
            404 => Ok(None),
            _ if reply.ok() => {
                let info =
                    serde_json::from_slice(&reply.body).unwrap_or_else(|_| LockInfo::unknown());
                let version = reply
                    .header("x-amz-version-id")
                    .unwrap_or("null")
                    .to_string();
                Ok(Some((info, version)))
            }
            _ => Err(self.fail("cannot read the lock", reply.s3_error())),
        }
    }

    /// One try at taking the lock: `Some(release)` when taken, `None` when someone holds it.
    async fn try_lock(&self, info: &LockInfo) -> Result<Option<Release>, StoreError> {
        let text = serde_json::to_string(info).expect("lock info serializes");
        if let Some(table) = &self.location.lock_table {
            let reply = self
                .client
                .dynamo(
                    "PutItem",
                    &json!({"TableName": table,
                            "Item": {"LockID": {"S": self.table_ids().0}, "Info": {"S": text}},
                            "ConditionExpression": "attribute_not_exists(LockID)"}),
                )
                .await
                .map_err(|e| self.fail("cannot reach DynamoDB", e))?;
            if reply.ok() {
                return Ok(Some(Release::Item {
                    table: table.clone(),
                    id: self.table_ids().0,
                    info: text,
                }));
            }
            let (kind, message) = reply.dynamo_error();
            if kind == "ConditionalCheckFailedException" {
                // Taken, perhaps by our own put whose answer was lost and retried.
                return Ok(match self.holder().await? {
                    Some((held, _)) if held.id == info.id => Some(Release::Item {
                        table: table.clone(),
                        id: self.table_ids().0,
                        info: text,
                    }),
                    _ => None,
                });
            }
            return Err(self.fail("cannot take the lock", format!("{kind}: {message}")));
        }
        let key = self.lock_key();
        let reply = self
            .s3(
                "cannot take the lock",
                Request::new("PUT", Some(&key))
                    .header("content-type", "application/json")
                    .header("if-none-match", "*")
                    .body(text.into_bytes()),
            )
            .await?;
        let object = |version: String| Release::Object {
            bucket: self.location.bucket.clone(),
            key: key.clone(),
            version,
        };
        if reply.ok() {
            let version = reply.header("x-amz-version-id").unwrap_or("null");
            return Ok(Some(object(version.to_string())));
        }
        if reply.status == 412 || reply.status == 409 {
            return Ok(match self.holder().await? {
                Some((held, version)) if held.id == info.id => Some(object(version)),
                _ => None,
            });
        }
        Err(self.fail("cannot take the lock", reply.s3_error()))
    }

    fn lock_io(&self, e: StoreError) -> LockError {
        LockError::Io {
            path: self.shown.clone().into(),
            source: std::io::Error::other(e.to_string()),
        }
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// What removes a held lock: the exact version of the lock object (so a lock someone took
/// after a force-unlock is never removed by mistake), or the item if it still holds our record.
#[derive(Clone)]
enum Release {
    Object {
        bucket: String,
        key: String,
        version: String,
    },
    Item {
        table: String,
        id: String,
        info: String,
    },
}

impl Release {
    async fn run(&self, client: &Client) -> Result<(), String> {
        let reply = match self {
            Release::Object {
                bucket,
                key,
                version,
            } => {
                client
                    .s3(
                        bucket,
                        Request::new("DELETE", Some(key)).query("versionId", version.clone()),
                    )
                    .await?
            }
            Release::Item { table, id, info } => {
                client
                    .dynamo(
                        "DeleteItem",
                        &json!({"TableName": table, "Key": {"LockID": {"S": id}},
                                "ConditionExpression": "Info = :info",
                                "ExpressionAttributeValues": {":info": {"S": info}}}),
                    )
                    .await?
            }
        };
        if reply.ok() || reply.status == 404 {
            return Ok(());
        }
        match self {
            // Someone force-unlocked it and another holder took it: not ours to remove.
            Release::Item { .. } if reply.dynamo_error().0 == "ConditionalCheckFailedException" => {
                Ok(())
            }
            Release::Item { .. } => Err(reply.dynamo_error().1),
            Release::Object { .. } => Err(reply.s3_error()),
        }
    }
}

/// A held lock; released when dropped (or by `release_now`), on a thread of its own so that
/// it works from synchronous code and while the async runtime shuts down.
struct S3Lock {
    info: LockInfo,
    endpoint: Endpoint,
    release: Release,
    released: AtomicBool,
}

impl S3Lock {
    fn release_blocking(&self) {
        if self.released.swap(true, Ordering::SeqCst) {
            return;
        }
        let endpoint = self.endpoint.clone();
        let release = self.release.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let client = Client::new(endpoint).ok()?;
                release.run(&client).await.ok()
            })
        })
        .join();
    }
}

impl Held for S3Lock {
    fn info(&self) -> &LockInfo {
        &self.info
    }

    fn release_now(&self) {
        self.release_blocking();
    }
}

impl Drop for S3Lock {
    fn drop(&mut self) {
        self.release_blocking();
    }
}

struct S3Journal {
    client: Arc<Client>,
    bucket: String,
    prefix: String,
    next: AtomicU64,
    shown: String,
}

#[async_trait]
impl Journal for S3Journal {
    /// One object holding the records as lines (one PUT however many steps finished).
    async fn append(&self, entries: &[String]) -> Result<(), StoreError> {
        let seq = self.next.fetch_add(1, Ordering::SeqCst);
        let key = format!("{}{seq:010}", self.prefix);
        let fail = |e: String| StoreError::Backend {
            backend: self.shown.clone(),
            message: format!("cannot append to the journal: {e}"),
        };
        let bytes = entries.join("\n").into_bytes();
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
        if let Some(endpoint) = &self.location.endpoint {
            text.push_str(&format!(" at {}", super::postgres::redact(endpoint)));
        }
        if let Some(table) = &self.location.lock_table {
            text.push_str(&format!(" (lock table {table})"));
        }
        text
    }

    async fn load(&self) -> Result<Loaded, StoreError> {
        let Some(bytes) = self.get(None).await? else {
            return Ok(Loaded {
                state: None,
                recovered_steps: 0,
            });
        };
        let state = backend::parse(&bytes, &self.describe())?;
        let objects = self.journal_entries(&state).await?;
        let entries = objects
            .iter()
            .flat_map(|o| o.lines())
            .filter(|l| !l.is_empty());
        Ok(backend::fold(state, entries))
    }

    async fn write(&self, state: &mut State) -> Result<(), StoreError> {
        let expected = state.serial;
        state.serial += 1;
        let bytes = backend::render(state);
        if let Err(e) = self.put(state, &bytes, Some(expected)).await {
            state.serial = expected;
            return Err(e);
        }
        Ok(())
    }

    async fn begin_journal(&self, state: &State) -> Result<Arc<dyn Journal>, StoreError> {
        self.clear_journal().await?;
        Ok(Arc::new(S3Journal {
            client: Arc::clone(&self.client),
            bucket: self.location.bucket.clone(),
            prefix: self.journal_prefix(&state.lineage, state.serial),
            next: AtomicU64::new(0),
            shown: self.shown.clone(),
        }))
    }

    async fn lock(&self, operation: &str, timeout: Duration) -> Result<Arc<dyn Held>, LockError> {
        let info = LockInfo::new(operation);
        let mine = &info;
        let release = backend::wait_for_lock(
            timeout,
            &self.shown,
            move || async move { self.try_lock(mine).await.map_err(|e| self.lock_io(e)) },
            move || async move {
                let holder = self.holder().await.map_err(|e| self.lock_io(e))?;
                Ok(holder.map(|(info, _)| info))
            },
        )
        .await?;
        Ok(Arc::new(S3Lock {
            info,
            endpoint: self.client.endpoint().clone(),
            release,
            released: AtomicBool::new(false),
        }))
    }

    async fn force_unlock(&self, id: &str) -> Result<LockInfo, LockError> {
        let (info, handle) = self
            .holder()
            .await
            .map_err(|e| self.lock_io(e))?
            .ok_or(LockError::NotLocked)?;
        if info.id != id {
            return Err(LockError::WrongId {
                given: id.to_string(),
                info: Box::new(info),
            });
        }
        let release = match &self.location.lock_table {
            Some(table) => Release::Item {
                table: table.clone(),
                id: self.table_ids().0,
                info: handle,
            },
            None => Release::Object {
                bucket: self.location.bucket.clone(),
                key: self.lock_key(),
                version: handle,
            },
        };
        release
            .run(&self.client)
            .await
            .map_err(|e| self.lock_io(self.fail("cannot remove the lock", e)))?;
        Ok(info)
    }

    async fn versions(&self) -> Result<Vec<Version>, StoreError> {
        let stored = self.stored_versions().await?;
        Ok(stored.into_iter().map(|(_, version)| version).collect())
    }

    async fn raw(&self, serial: Option<u64>) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(serial) = serial else {
            return self.get(None).await;
        };
        let stored = self.stored_versions().await?;
        match stored.iter().find(|(_, v)| v.serial == serial) {
            Some((version_id, _)) => self.get(Some(version_id)).await,
            None => Ok(None),
        }
    }

    async fn push(&self, bytes: &[u8], force: bool) -> Result<State, StoreError> {
        let current = self.load().await?.state;
        let (incoming, bytes, expected) = backend::pushed(bytes, current.as_ref(), force)?;
        self.put(&incoming, &bytes, Some(expected)).await?;
        Ok(incoming)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_settings() {
        let l = Location::parse(
            "s3://team-state/fleets/prod?region=eu-west-1&endpoint=http%3A%2F%2F127.0.0.1%3A5000&lock_table=locks",
        )
        .unwrap();
        assert_eq!(l.bucket, "team-state");
        assert_eq!(l.prefix, "fleets/prod");
        assert_eq!(l.region, "eu-west-1");
        assert_eq!(l.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(l.lock_table.as_deref(), Some("locks"));
        assert_eq!(l.key("web"), "fleets/prod/web.state.json");
        let plain = Location::parse("s3://b?endpoint=http://127.0.0.1:5000/").unwrap();
        assert_eq!(plain.key("web"), "web.state.json");
        assert_eq!(plain.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
        assert!(Location::parse("s3:///x").is_err());
        assert!(Location::parse("http://b").is_err());
        let unknown = Location::parse("s3://b?secret=1").unwrap_err();
        assert!(
            unknown.contains("unknown URL setting `secret`"),
            "{unknown}"
        );
    }

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
