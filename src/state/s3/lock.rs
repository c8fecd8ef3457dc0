//! The S3 backend's lock: an object created with `If-None-Match: *` (one creator wins), or an
//! item in a DynamoDB table put on condition that none exists. Its record says who holds it;
//! a lock whose holder died stays until `force-unlock` removes it. A held lock is released
//! when dropped, removing only the exact version or item it created.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;

use super::S3Backend;
use super::http::{Client, Endpoint, ErrorText as _, Request};
use crate::state::backend::{self, Held};
use crate::state::error::StateError;
use crate::state::lock::{LockError, LockInfo};

impl S3Backend {
    pub(super) fn lock_key(&self) -> String {
        format!("{}.lock", self.key)
    }

    /// Takes the lock for `operation`, waiting up to `timeout` ([`super::Backend::lock`]).
    pub(super) async fn take_lock(
        &self,
        operation: &str,
        timeout: Duration,
    ) -> Result<Arc<dyn Held>, LockError> {
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

    /// Removes the lock whose id is `id` ([`super::Backend::force_unlock`]).
    pub(super) async fn remove_lock(&self, id: &str) -> Result<LockInfo, LockError> {
        let (info, handle) = self
            .holder()
            .await
            .map_err(|e| self.lock_io(e))?
            .ok_or(LockError::NotLocked)?;
        let info = info.matching(id)?;
        let release = match &self.location.settings.lock_table {
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

    /// Who holds the lock now, with the version id of its record (S3) or the record's text
    /// (DynamoDB), if anyone does.
    async fn holder(&self) -> Result<Option<(LockInfo, String)>, StateError> {
        if let Some(table) = &self.location.settings.lock_table {
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
    async fn try_lock(&self, info: &LockInfo) -> Result<Option<Release>, StateError> {
        let text = serde_json::to_string(info).expect("lock info serializes");
        if let Some(table) = &self.location.settings.lock_table {
            let reply = self
                .dynamo_reply(
                    "PutItem",
                    &json!({"TableName": table,
                            "Item": {"LockID": {"S": self.table_ids().0}, "Info": {"S": text}},
                            "ConditionExpression": "attribute_not_exists(LockID)"}),
                )
                .await?;
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

    fn lock_io(&self, e: StateError) -> LockError {
        LockError::Io {
            path: self.shown.clone().into(),
            source: std::io::Error::other(e.to_string()),
        }
    }
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
