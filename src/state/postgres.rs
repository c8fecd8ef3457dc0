//! The PostgreSQL backend, for teams and CI sharing one fleet. Every write of the state is a
//! new row (serial, lineage, hash, written_at, written_by, body), so any earlier version can
//! be shown and restored; a write is a compare-and-swap on the serial inside a transaction.
//! An apply's finished steps go into a journal table, one row per step, so a crash loses
//! nothing. The lock is a session-level advisory lock held on its own connection, with a row
//! saying who holds it: when the holder's session dies, PostgreSQL releases the lock itself.
//!
//! The schema is created on first use. Messages never carry the URL's password. The
//! connection is TLS as the URL's `sslmode` and `sslrootcert` ask ([`tls`]). Bodies and
//! journal rows go through the backend's [`Codec`]; a body whose (authenticated) serial is
//! not its row's is refused, so a version copied over another is noticed.

mod tls;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_postgres::Client;

use super::backend::{self, Backend, Held, Version};
use super::document::State;
use super::encryption::{self, Codec, RecordSealer};
use super::error::StateError;
use super::journal::{Entry, Journal, Loaded};
use super::lock::{LockError, LockInfo, who};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS oss_state (
    name text NOT NULL,
    serial bigint NOT NULL,
    lineage text NOT NULL,
    hash text NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now(),
    written_by text NOT NULL,
    body bytea NOT NULL,
    PRIMARY KEY (name, serial)
);
CREATE TABLE IF NOT EXISTS oss_journal (
    seq bigserial PRIMARY KEY,
    name text NOT NULL,
    lineage text NOT NULL,
    base_serial bigint NOT NULL,
    entry text NOT NULL
);
CREATE TABLE IF NOT EXISTS oss_lock (
    name text PRIMARY KEY,
    info text NOT NULL
);";

/// Serializes schema creation between processes starting at once.
const SCHEMA_LOCK: i64 = 0x6f73_735f_7363_6865;

pub struct PgBackend {
    client: Arc<Client>,
    /// Kept to open the lock's own connection; never printed (see `shown`).
    url: String,
    /// The URL without its password.
    shown: String,
    name: String,
    codec: Arc<Codec>,
}

fn failure(shown: &str, what: &str, e: impl std::fmt::Display) -> StateError {
    StateError::Backend {
        backend: shown.to_string(),
        message: format!("{what}: {e}"),
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`; `password=x` → `password=***`.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        let authority = match authority.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***@{host}"),
                None => format!("{userinfo}@{host}"),
            },
            None => authority.to_string(),
        };
        let path = path
            .split('&')
            .map(|kv| match kv.split_once("password=") {
                Some((head, _)) => format!("{head}password=***"),
                None => kv.to_string(),
            })
            .collect::<Vec<_>>()
            .join("&");
        let slash = if rest.contains('/') { "/" } else { "" };
        return format!("{scheme}://{authority}{slash}{path}");
    }
    url.split_whitespace()
        .map(|kv| {
            if kv.starts_with("password=") {
                "password=***"
            } else {
                kv
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn connect(url: &str, shown: &str) -> Result<Client, StateError> {
    let (rest, tls) = tls::split(url).map_err(|e| failure(shown, "bad TLS settings", e))?;
    let mut config: tokio_postgres::Config = rest
        .parse()
        .map_err(|e| failure(shown, "cannot read the URL", e))?;
    config.ssl_mode(tls.ssl_mode());
    let connector = tokio_postgres_rustls::MakeRustlsConnect::new(
        tls.client_config()
            .map_err(|e| failure(shown, "bad TLS settings", e))?,
    );
    let (client, connection) =
        tokio::time::timeout(Duration::from_secs(10), config.connect(connector))
            .await
            .map_err(|_| failure(shown, "cannot connect", "no answer within 10 s"))?
            .map_err(|e| {
                // tokio-postgres says "error performing TLS handshake"; the cause says why.
                let why = std::iter::once(e.to_string())
                    .chain(crate::echo::causes(&e))
                    .collect::<Vec<_>>()
                    .join(": ");
                failure(shown, "cannot connect", why)
            })?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// How pg_locks shows a bigint advisory key: its high and low 32 bits (classid, objid).
fn key_parts(key: i64) -> (i64, i64) {
    (i64::from((key >> 32) as u32), i64::from(key as u32))
}

/// The advisory lock key of a state: 64 bits of the SHA-256 of its name.
fn lock_key(name: &str) -> i64 {
    let hex = crate::digest::sha256_hex(format!("oss-state:{name}").as_bytes());
    u64::from_str_radix(&hex[..16], 16).unwrap_or(0) as i64
}

impl PgBackend {
    /// Connects and creates the schema if needed. Fails (changing nothing) when the database
    /// cannot be reached.
    pub async fn connect(url: &str, name: &str) -> Result<Self, StateError> {
        let shown = redact(url);
        let client = connect(url, &shown).await?;
        client
            .batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock({SCHEMA_LOCK}); {SCHEMA} COMMIT;"
            ))
            .await
            .map_err(|e| failure(&shown, "cannot create the schema", e))?;
        Ok(PgBackend {
            client: Arc::new(client),
            url: url.to_string(),
            shown,
            name: name.to_string(),
            codec: Arc::new(Codec::plain()),
        })
    }

    /// The same backend, its versions sealed and opened by `codec`.
    pub fn with_codec(self, codec: Arc<Codec>) -> Self {
        PgBackend { codec, ..self }
    }

    fn fail(&self, what: &str, e: impl std::fmt::Display) -> StateError {
        failure(&self.shown, what, e)
    }

    async fn latest(&self) -> Result<Option<(u64, Vec<u8>)>, StateError> {
        let row = self
            .client
            .query_opt(
                "SELECT serial, body FROM oss_state WHERE name = $1 ORDER BY serial DESC LIMIT 1",
                &[&self.name],
            )
            .await
            .map_err(|e| self.fail("cannot read the state", e))?;
        Ok(row.map(|r| (r.get::<_, i64>(0) as u64, r.get(1))))
    }

    /// Inserts `bytes` as version `state.serial` if the latest is still `expected` (0: none).
    async fn insert(&self, state: &State, bytes: &[u8], expected: u64) -> Result<(), StateError> {
        let who = who();
        let hash = crate::digest::sha256_hex(bytes);
        // One round trip: lock the name for this transaction, check the serial, insert, drop
        // the superseded journal. The function raises on a stale serial.
        let rows = self
            .client
            .query(
                "WITH guard AS (SELECT pg_advisory_xact_lock($7)),
                      latest AS (SELECT COALESCE(MAX(serial), 0) AS serial FROM oss_state, guard WHERE name = $1),
                      ins AS (
                        INSERT INTO oss_state (name, serial, lineage, hash, written_by, body)
                        SELECT $1, $2, $3, $4, $5, $6 FROM latest WHERE latest.serial = $8
                        RETURNING serial)
                 SELECT (SELECT serial FROM latest), (SELECT count(*) FROM ins)",
                &[
                    &self.name,
                    &(state.serial as i64),
                    &state.lineage,
                    &hash,
                    &who,
                    &bytes,
                    &lock_key(&format!("write:{}", self.name)),
                    &(expected as i64),
                ],
            )
            .await
            .map_err(|e| {
                // A writer racing us inserted this serial first: the same as a stale serial.
                if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
                    StateError::Conflict {
                        expected,
                        found: state.serial,
                    }
                } else {
                    self.fail("cannot write the state", e)
                }
            })?;
        let (found, inserted): (i64, i64) = rows.first().map_or((0, 0), |r| (r.get(0), r.get(1)));
        if inserted == 0 {
            return Err(StateError::Conflict {
                expected,
                found: found as u64,
            });
        }
        self.client
            .execute("DELETE FROM oss_journal WHERE name = $1", &[&self.name])
            .await
            .map_err(|e| self.fail("cannot clear the journal", e))?;
        Ok(())
    }
}

struct PgJournal {
    client: Arc<Client>,
    name: String,
    lineage: String,
    base_serial: i64,
    shown: String,
    sealer: RecordSealer,
}

#[async_trait]
impl Journal for PgJournal {
    /// One INSERT of all the rows, in order (one commit however many steps finished).
    async fn append(&self, entries: &[Entry]) -> Result<(), StateError> {
        let entries: Vec<String> = self.sealer.lines(entries);
        self.client
            .execute(
                "INSERT INTO oss_journal (name, lineage, base_serial, entry)
                 SELECT $1, $2, $3, e FROM unnest($4::text[]) WITH ORDINALITY AS t(e, n) ORDER BY n",
                &[&self.name, &self.lineage, &self.base_serial, &entries],
            )
            .await
            .map_err(|e| failure(&self.shown, "cannot append to the journal", e))?;
        Ok(())
    }
}

/// A held advisory lock: its own connection; dropping it closes the session, which releases
/// the lock (as a crash would).
struct PgLock {
    _client: Client,
    info: LockInfo,
}

impl Held for PgLock {
    fn info(&self) -> &LockInfo {
        &self.info
    }

    fn release_now(&self) {
        // The session ends with the process, and PostgreSQL releases the lock then.
    }
}

#[async_trait]
impl Backend for PgBackend {
    fn describe(&self) -> String {
        format!("{} (state `{}`)", self.shown, self.name)
    }

    fn codec(&self) -> &Codec {
        &self.codec
    }

    async fn load(&self) -> Result<Loaded, StateError> {
        let Some((serial, bytes)) = self.latest().await? else {
            return Ok(Loaded::nothing());
        };
        let whence = self.describe();
        let opened = self.codec.open(&bytes, &whence).await?;
        if opened.state.serial != serial {
            return Err(StateError::Encryption {
                whence,
                message: format!(
                    "has a row for serial {serial} whose body is serial {} (a version copied                      over another); nothing was read",
                    opened.state.serial
                ),
            });
        }
        let state = &opened.state;
        let rows = self
            .client
            .query(
                "SELECT entry FROM oss_journal WHERE name = $1 AND lineage = $2 AND base_serial = $3 ORDER BY seq",
                &[&self.name, &state.lineage, &(state.serial as i64)],
            )
            .await
            .map_err(|e| self.fail("cannot read the journal", e))?;
        let whence = self.describe();
        encryption::fold(opened, rows.iter().map(|row| row.get(0)), &whence)
    }

    async fn put_if(&self, expected: u64, state: &State, bytes: &[u8]) -> Result<(), StateError> {
        self.insert(state, bytes, expected).await
    }

    async fn begin_journal(&self, state: &State) -> Result<Arc<dyn Journal>, StateError> {
        self.client
            .execute("DELETE FROM oss_journal WHERE name = $1", &[&self.name])
            .await
            .map_err(|e| self.fail("cannot start the journal", e))?;
        let sealer = self.codec.record_sealer(state).await?;
        Ok(Arc::new(PgJournal {
            sealer,
            client: Arc::clone(&self.client),
            name: self.name.clone(),
            lineage: state.lineage.clone(),
            base_serial: state.serial as i64,
            shown: self.shown.clone(),
        }))
    }

    async fn lock(&self, operation: &str, timeout: Duration) -> Result<Arc<dyn Held>, LockError> {
        let io = |e: StateError| LockError::Io {
            path: self.shown.clone().into(),
            source: std::io::Error::other(e.to_string()),
        };
        let client = connect(&self.url, &self.shown).await.map_err(io)?;
        let key = lock_key(&self.name);
        let info = LockInfo::new(operation);
        let text = serde_json::to_string(&info).expect("lock info serializes");
        let (conn, key, text, io) = (&client, &key, &text, &io);
        backend::wait_for_lock(
            timeout,
            &self.shown,
            move || async move {
                let got: bool = conn
                    .query_one("SELECT pg_try_advisory_lock($1)", &[key])
                    .await
                    .map_err(|e| io(self.fail("cannot take the lock", e)))?
                    .get(0);
                if !got {
                    return Ok(None);
                }
                conn.execute(
                    "INSERT INTO oss_lock (name, info) VALUES ($1, $2)
                     ON CONFLICT (name) DO UPDATE SET info = EXCLUDED.info",
                    &[&self.name, text],
                )
                .await
                .map_err(|e| io(self.fail("cannot record the lock holder", e)))?;
                Ok(Some(()))
            },
            move || async move { self.holder().await.map_err(io) },
        )
        .await?;
        Ok(Arc::new(PgLock {
            _client: client,
            info,
        }))
    }

    async fn force_unlock(&self, id: &str) -> Result<LockInfo, LockError> {
        let io = |e: StateError| LockError::Io {
            path: self.shown.clone().into(),
            source: std::io::Error::other(e.to_string()),
        };
        let info = self
            .holder()
            .await
            .map_err(io)?
            .ok_or(LockError::NotLocked)?
            .matching(id)?;
        // End the session holding the advisory lock.
        let (high, low) = key_parts(lock_key(&self.name));
        self.client
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks
                 WHERE locktype = 'advisory' AND granted AND classid::bigint = $1 AND objid::bigint = $2",
                &[&high, &low],
            )
            .await
            .map_err(|e| io(self.fail("cannot end the lock holder's session", e)))?;
        self.client
            .execute("DELETE FROM oss_lock WHERE name = $1", &[&self.name])
            .await
            .map_err(|e| io(self.fail("cannot remove the lock record", e)))?;
        Ok(info)
    }

    async fn versions(&self) -> Result<Vec<Version>, StateError> {
        let rows = self
            .client
            .query(
                "SELECT serial, lineage, hash, to_char(written_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), written_by
                 FROM oss_state WHERE name = $1 ORDER BY serial",
                &[&self.name],
            )
            .await
            .map_err(|e| self.fail("cannot list versions", e))?;
        Ok(rows
            .iter()
            .map(|r| Version {
                serial: r.get::<_, i64>(0) as u64,
                lineage: r.get(1),
                hash: r.get(2),
                written_at: r.get(3),
                written_by: r.get(4),
            })
            .collect())
    }

    async fn raw(&self, serial: Option<u64>) -> Result<Option<Vec<u8>>, StateError> {
        let Some(serial) = serial else {
            return Ok(self.latest().await?.map(|(_, bytes)| bytes));
        };
        let row = self
            .client
            .query_opt(
                "SELECT body FROM oss_state WHERE name = $1 AND serial = $2",
                &[&self.name, &(serial as i64)],
            )
            .await
            .map_err(|e| self.fail("cannot read the state", e))?;
        Ok(row.map(|r| r.get(0)))
    }
}

impl PgBackend {
    /// Who holds the lock, if a session holds it now (the record of a released lock stays
    /// behind until the next holder overwrites it, and means nothing then).
    async fn holder(&self) -> Result<Option<LockInfo>, StateError> {
        let (high, low) = key_parts(lock_key(&self.name));
        let row = self
            .client
            .query_opt(
                "SELECT info FROM oss_lock WHERE name = $1 AND EXISTS (
                     SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
                     AND classid::bigint = $2 AND objid::bigint = $3)",
                &[&self.name, &high, &low],
            )
            .await
            .map_err(|e| self.fail("cannot read the lock record", e))?;
        Ok(row.and_then(|r| serde_json::from_str(r.get::<_, &str>(0)).ok()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_never_show_passwords() {
        use super::redact;
        assert_eq!(
            redact("postgres://oss:s3cret@127.0.0.1:5432/db"),
            "postgres://oss:***@127.0.0.1:5432/db"
        );
        assert_eq!(
            redact("postgres://oss@127.0.0.1/db?password=s3cret&x=1"),
            "postgres://oss@127.0.0.1/db?password=***&x=1"
        );
        assert_eq!(
            redact("host=127.0.0.1 password=s3cret user=oss"),
            "host=127.0.0.1 password=*** user=oss"
        );
        assert_eq!(redact("postgres://127.0.0.1"), "postgres://127.0.0.1");
    }
}
