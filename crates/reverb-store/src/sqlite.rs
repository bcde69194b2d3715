//! The SQLite implementation of [`Store`]: one file, WAL journal, one writer.

use std::fs::File;
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::Store;
use crate::migrations::MIGRATIONS;
use crate::types::{
    ClickAcceptance, ForwardedRequest, JudgmentClaim, MessageRef, OutboxStats, PendingClick,
    QueuedMessage, StoreError, StoredMessage,
};
use reverb_model::{MessageKind, OutboundMessage};

/// How long a statement waits for another connection's write lock (`reverb outbox retry` is
/// a short-lived writer beside the server).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The heartbeat waits less: a store that stays locked this long is reported as unwritable.
const HEARTBEAT_BUSY_TIMEOUT: Duration = Duration::from_secs(1);

/// A SQLite-backed store. `synchronous=NORMAL` in WAL mode keeps every committed row through a
/// process crash (`kill -9`); only a power loss can drop the last transactions.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// The serving lock (see [`SqliteStore::open_for_serving`]), released when the store is
    /// dropped or the process ends.
    _serving_lock: Option<File>,
}

impl SqliteStore {
    /// Open (creating the file and its folder when missing) and migrate. Takes no serving lock:
    /// this is how `reverb outbox` reads and edits the store of a running Reverb, through
    /// SQLite's own locking.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        prepare_folder(path)?;
        create_private(path)?;
        Self::init(connect(path)?, None)
    }

    /// Open for serving: as [`SqliteStore::open`], after taking an exclusive lock on the lock
    /// file beside the database ([`SqliteStore::lock_path`]) and writing this process's pid
    /// into it. A second server on the same store gets [`StoreError::InUse`], naming the
    /// holder, instead of delivering every message a second time.
    pub fn open_for_serving(path: &Path) -> Result<Self, StoreError> {
        prepare_folder(path)?;
        let lock = take_serving_lock(path)?;
        create_private(path)?;
        Self::init(connect(path)?, Some(lock))
    }

    /// `<database>.lock`, beside the database.
    pub fn lock_path(path: &Path) -> PathBuf {
        let mut name = path.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// A private in-memory store, for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?, None)
    }

    fn init(mut conn: Connection, serving_lock: Option<File>) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            _serving_lock: serving_lock,
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // A poisoned lock only means another thread panicked mid-call; SQLite's own transaction
        // rolled back, so the connection is still consistent.
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Flush the WAL into the main file (on shutdown).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.with(|c| {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
    }

    /// The schema version in force.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.with(|c| current_version(c))
    }
}

fn open_error(path: &Path, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Open {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    Connection::open(path).map_err(|e| open_error(path, e))
}

/// The database's folder, created when missing; a folder Reverb creates is private (0700).
fn prepare_folder(path: &Path) -> Result<(), StoreError> {
    let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(parent).map_err(|e| open_error(path, e))
}

/// Open (creating when missing) a file readable and writable by its owner only (0600).
/// The database holds message bodies and identities; SQLite gives its `-wal` and `-shm` files
/// the database file's mode, so creating the database this way before SQLite does covers them.
fn open_private(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

fn create_private(path: &Path) -> Result<(), StoreError> {
    open_private(path)
        .map(drop)
        .map_err(|e| open_error(path, e))
}

/// Lock `<database>.lock` exclusively (released by the OS when the process ends, whatever the
/// way) and write our pid into it for whoever finds it taken.
fn take_serving_lock(path: &Path) -> Result<File, StoreError> {
    let lock_path = SqliteStore::lock_path(path);
    let lock_error = |e: std::io::Error| open_error(&lock_path, e);
    let mut file = open_private(&lock_path).map_err(lock_error)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(StoreError::InUse {
                path: path.display().to_string(),
                lock: lock_path.display().to_string(),
                holder: if holder.is_empty() {
                    "unknown".to_owned()
                } else {
                    holder.to_owned()
                },
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(lock_error(e)),
    }
    file.set_len(0).map_err(lock_error)?;
    file.rewind().map_err(lock_error)?;
    writeln!(file, "{}", std::process::id()).map_err(lock_error)?;
    file.flush().map_err(lock_error)?;
    Ok(file)
}

fn current_version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            applied_ms INTEGER NOT NULL
        )",
    )?;
    let found = current_version(conn)?;
    let known = MIGRATIONS.last().map(|(v, _)| *v).unwrap_or(0);
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_ms) VALUES (?1, ?2)",
            params![version, now_ms()],
        )?;
        tx.commit()?;
        tracing::info!(version, "store schema migrated");
    }
    Ok(())
}

use reverb_support::now_ms;

const MESSAGE_COLUMNS: &str = "id, body, created_ms, attempts, next_attempt_ms, last_error";

fn read_message(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<(i64, String, i64, u32, i64, Option<String>)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn decode(
    (id, body, created_ms, attempts, next_attempt_ms, last_error): (
        i64,
        String,
        i64,
        u32,
        i64,
        Option<String>,
    ),
) -> Result<StoredMessage, StoreError> {
    let message: OutboundMessage =
        serde_json::from_str(&body).map_err(|source| StoreError::Corrupt { id, source })?;
    Ok(StoredMessage {
        id,
        message,
        created_ms,
        attempts,
        next_attempt_ms,
        last_error,
    })
}

fn select_messages(conn: &Connection, state: &str) -> Result<Vec<StoredMessage>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE state = ?1 ORDER BY id"
    ))?;
    let rows = stmt
        .query_map([state], read_message)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(decode).collect()
}

impl Store for SqliteStore {
    fn enqueue_groups(
        &self,
        groups: &[&[OutboundMessage]],
        now_ms: i64,
    ) -> Result<Vec<Vec<Option<QueuedMessage>>>, StoreError> {
        let bodies = groups
            .iter()
            .map(|group| {
                group
                    .iter()
                    .map(|m| serde_json::to_string(m).map_err(StoreError::Encode))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.with(|conn| {
            let tx = conn.transaction()?;
            let mut stored = Vec::with_capacity(groups.len());
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO outbox (lane, kind, body, created_ms, next_attempt_ms)
                     VALUES (?1, ?2, ?3, ?4, ?4)",
                )?;
                let mut decided = tx.prepare_cached(
                    "SELECT 1 FROM judgments WHERE judgment_key = ?1 AND state = 'decided'",
                )?;
                for (group, bodies) in groups.iter().zip(&bodies) {
                    let mut queued = Vec::with_capacity(group.len());
                    for (message, body) in group.iter().zip(bodies) {
                        if let Some(key) = message.unless_judgment_decided()
                            && decided.exists([key])?
                        {
                            queued.push(None);
                            continue;
                        }
                        let lane = message.lane();
                        let kind = message.kind();
                        insert.execute(params![lane, kind.as_str(), body, now_ms])?;
                        queued.push(Some(QueuedMessage {
                            id: tx.last_insert_rowid(),
                            lane,
                            kind: kind.clone(),
                            next_attempt_ms: now_ms,
                        }));
                    }
                    stored.push(queued);
                }
            }
            tx.commit()?;
            Ok(stored)
        })
    }

    fn pending(&self) -> Result<Vec<StoredMessage>, StoreError> {
        self.with(|c| select_messages(c, "pending"))
    }

    fn pending_queue(&self, after_id: i64) -> Result<Vec<QueuedMessage>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, lane, kind, next_attempt_ms FROM outbox
                 WHERE state = 'pending' AND id > ?1 ORDER BY id",
            )?;
            let rows = stmt
                .query_map([after_id], |r| {
                    Ok(QueuedMessage {
                        id: r.get(0)?,
                        lane: r.get(1)?,
                        kind: MessageKind::parse(&r.get::<_, String>(2)?),
                        next_attempt_ms: r.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    fn pending_message(&self, id: i64) -> Result<Option<StoredMessage>, StoreError> {
        self.with(|c| {
            let row = c
                .query_row(
                    &format!(
                        "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE id = ?1 AND state = 'pending'"
                    ),
                    [id],
                    read_message,
                )
                .optional()?;
            row.map(decode).transpose()
        })
    }

    fn complete(
        &self,
        id: i64,
        reference: Option<(&str, &MessageRef)>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            tx.execute("DELETE FROM outbox WHERE id = ?1", [id])?;
            if let Some((key, r)) = reference {
                upsert_ref(&tx, key, r, now_ms)?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn schedule_retry(
        &self,
        id: i64,
        attempts: u32,
        next_attempt_ms: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE outbox SET attempts = ?2, next_attempt_ms = ?3, last_error = ?4 WHERE id = ?1",
                params![id, attempts, next_attempt_ms, error],
            )?;
            Ok(())
        })
    }

    fn dead_letter(&self, id: i64, error: &str, now_ms: i64) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE outbox SET state = 'dead', last_error = ?2, dead_ms = ?3 WHERE id = ?1",
                params![id, error, now_ms],
            )?;
            Ok(())
        })
    }

    fn dead_letters(&self) -> Result<Vec<StoredMessage>, StoreError> {
        self.with(|c| select_messages(c, "dead"))
    }

    fn revive(&self, id: i64, now_ms: i64) -> Result<Option<StoredMessage>, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            // A revived message goes to the back of its lane: it gets a fresh id so ordering
            // among pending messages stays "by id".
            let row = tx
                .query_row(
                    &format!(
                        "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE id = ?1 AND state = 'dead'"
                    ),
                    [id],
                    read_message,
                )
                .optional()?;
            let Some(row) = row else {
                return Ok(None);
            };
            let old = decode(row)?;
            tx.execute("DELETE FROM outbox WHERE id = ?1", [id])?;
            let body = serde_json::to_string(&old.message).map_err(StoreError::Encode)?;
            tx.execute(
                "INSERT INTO outbox (lane, kind, body, created_ms, next_attempt_ms)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
                params![
                    old.message.lane(),
                    old.message.kind().as_str(),
                    body,
                    now_ms
                ],
            )?;
            let revived = StoredMessage {
                id: tx.last_insert_rowid(),
                created_ms: now_ms,
                attempts: 0,
                next_attempt_ms: now_ms,
                last_error: None,
                ..old
            };
            tx.commit()?;
            Ok(Some(revived))
        })
    }

    fn drop_dead_letter(&self, id: i64) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.execute("DELETE FROM outbox WHERE id = ?1 AND state = 'dead'", [id])? > 0)
        })
    }

    fn stats(&self, now_ms: i64) -> Result<OutboxStats, StoreError> {
        self.with(|c| {
            let (pending, oldest): (i64, Option<i64>) = c.query_row(
                "SELECT COUNT(*), MIN(created_ms) FROM outbox WHERE state = 'pending'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let dead: i64 = c.query_row(
                "SELECT COUNT(*) FROM outbox WHERE state = 'dead'",
                [],
                |r| r.get(0),
            )?;
            Ok(OutboxStats {
                pending: pending.max(0) as u64,
                dead: dead.max(0) as u64,
                oldest_pending_age_ms: oldest.map(|t| (now_ms - t).max(0)),
            })
        })
    }

    fn message_ref(&self, key: &str) -> Result<Option<MessageRef>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT channel_id, ts FROM message_refs WHERE ref_key = ?1",
                [key],
                |r| {
                    Ok(MessageRef {
                        channel_id: r.get(0)?,
                        ts: r.get(1)?,
                    })
                },
            )
            .optional()?)
        })
    }

    fn record_ref(&self, key: &str, reference: &MessageRef, now_ms: i64) -> Result<(), StoreError> {
        self.with(|c| upsert_ref(c, key, reference, now_ms))
    }

    fn refs_with_prefix(&self, prefix: &str) -> Result<Vec<(String, MessageRef)>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT ref_key, channel_id, ts FROM message_refs
                 WHERE substr(ref_key, 1, length(?1)) = ?1 ORDER BY ref_key",
            )?;
            let rows = stmt
                .query_map([prefix], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        MessageRef {
                            channel_id: r.get(1)?,
                            ts: r.get(2)?,
                        },
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    fn claim_judgment(
        &self,
        key: &str,
        claimant: &str,
        now_ms: i64,
        stale_ms: i64,
    ) -> Result<JudgmentClaim, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let existing: Option<(String, String, Option<String>, i64)> = tx
                .query_row(
                    "SELECT claimant, state, outcome, updated_ms FROM judgments WHERE judgment_key = ?1",
                    [key],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let answer = match existing {
                Some((_, state, outcome, _)) if state == "decided" => JudgmentClaim::Decided {
                    outcome: outcome.unwrap_or_default(),
                },
                Some((holder, state, _, updated)) if state == "claimed" && now_ms - updated < stale_ms => {
                    JudgmentClaim::InProgress { claimant: holder }
                }
                _ => {
                    tx.execute(
                        "INSERT INTO judgments (judgment_key, claimant, state, updated_ms)
                         VALUES (?1, ?2, 'claimed', ?3)
                         ON CONFLICT(judgment_key) DO UPDATE SET
                           claimant = excluded.claimant, state = 'claimed', outcome = NULL,
                           updated_ms = excluded.updated_ms",
                        params![key, claimant, now_ms],
                    )?;
                    JudgmentClaim::Granted
                }
            };
            tx.commit()?;
            Ok(answer)
        })
    }

    fn release_unfinished_claims(&self) -> Result<usize, StoreError> {
        self.with(|c| Ok(c.execute("DELETE FROM judgments WHERE state = 'claimed'", [])?))
    }

    fn secret_or_insert(
        &self,
        name: &str,
        fresh: &[u8],
        now_ms: i64,
    ) -> Result<Vec<u8>, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO secrets (name, value, created_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO NOTHING",
                params![name, fresh, now_ms],
            )?;
            let value: Vec<u8> =
                tx.query_row("SELECT value FROM secrets WHERE name = ?1", [name], |r| {
                    r.get(0)
                })?;
            tx.commit()?;
            Ok(value)
        })
    }

    fn accept_click(
        &self,
        request_key: &str,
        payload: &str,
        now_ms: i64,
        window_ms: i64,
    ) -> Result<ClickAcceptance, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute(
                "DELETE FROM seen_requests WHERE seen_ms < ?1",
                [now_ms.saturating_sub(window_ms)],
            )?;
            let inserted = tx.execute(
                "INSERT INTO seen_requests (request_key, seen_ms) VALUES (?1, ?2)
                 ON CONFLICT(request_key) DO NOTHING",
                params![request_key, now_ms],
            )?;
            let answer = if inserted == 0 {
                ClickAcceptance::Replay
            } else {
                tx.execute(
                    "INSERT INTO pending_clicks (payload, received_ms) VALUES (?1, ?2)",
                    params![payload, now_ms],
                )?;
                ClickAcceptance::Accepted(tx.last_insert_rowid())
            };
            tx.commit()?;
            Ok(answer)
        })
    }

    fn finish_click(&self, id: i64) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute("DELETE FROM pending_clicks WHERE id = ?1", [id])?;
            Ok(())
        })
    }

    fn unfinished_clicks(&self) -> Result<Vec<PendingClick>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, payload, received_ms FROM pending_clicks ORDER BY id",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(PendingClick {
                        id: r.get(0)?,
                        payload: r.get(1)?,
                        received_ms: r.get(2)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    fn finish_judgment(
        &self,
        key: &str,
        outcome: &str,
        decided: bool,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            if decided {
                c.execute(
                    "UPDATE judgments SET state = 'decided', outcome = ?2, updated_ms = ?3
                     WHERE judgment_key = ?1",
                    params![key, outcome, now_ms],
                )?;
            } else {
                c.execute("DELETE FROM judgments WHERE judgment_key = ?1", [key])?;
            }
            Ok(())
        })
    }

    fn judgment_outcome(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT outcome FROM judgments WHERE judgment_key = ?1 AND state = 'decided'",
                [key],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    fn enqueue_forward(&self, request: &ForwardedRequest, now_ms: i64) -> Result<i64, StoreError> {
        let headers = serde_json::to_string(&request.headers).map_err(StoreError::Encode)?;
        self.with(|c| {
            c.execute(
                "INSERT INTO echo_forwards (method, path, headers, body, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![request.method, request.path, headers, request.body, now_ms],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    fn pending_forwards(&self, limit: usize) -> Result<Vec<(i64, ForwardedRequest)>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, method, path, headers, body FROM echo_forwards ORDER BY id LIMIT ?1",
            )?;
            let rows = stmt
                .query_map([limit as i64], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Vec<u8>>(4)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(id, method, path, headers, body)| {
                    let headers = serde_json::from_str(&headers)
                        .map_err(|source| StoreError::Corrupt { id, source })?;
                    Ok((
                        id,
                        ForwardedRequest {
                            method,
                            path,
                            headers,
                            body,
                        },
                    ))
                })
                .collect()
        })
    }

    fn complete_forward(&self, id: i64) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute("DELETE FROM echo_forwards WHERE id = ?1", [id])?;
            Ok(())
        })
    }

    fn forward_backlog(&self) -> Result<u64, StoreError> {
        self.with(|c| {
            let n: i64 = c.query_row("SELECT COUNT(*) FROM echo_forwards", [], |r| r.get(0))?;
            Ok(n.max(0) as u64)
        })
    }

    fn heartbeat(&self, now_ms: i64) -> Result<(), StoreError> {
        self.with(|c| {
            c.busy_timeout(HEARTBEAT_BUSY_TIMEOUT)?;
            let written = c.execute(
                "INSERT INTO heartbeat (id, beat_ms) VALUES (1, ?1)
                 ON CONFLICT(id) DO UPDATE SET beat_ms = excluded.beat_ms",
                [now_ms],
            );
            c.busy_timeout(BUSY_TIMEOUT)?;
            written?;
            Ok(())
        })
    }
}

fn upsert_ref(conn: &Connection, key: &str, r: &MessageRef, now_ms: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO message_refs (ref_key, channel_id, ts, updated_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(ref_key) DO UPDATE SET channel_id = excluded.channel_id, ts = excluded.ts,
           updated_ms = excluded.updated_ms",
        params![key, r.channel_id, r.ts, now_ms],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reverb_model::SlackMessage;

    fn text(text: &str) -> SlackMessage {
        SlackMessage {
            text: text.into(),
            ..Default::default()
        }
    }

    fn msg(address: &str, text: &str) -> OutboundMessage {
        OutboundMessage::post(
            reverb_model::event::EventKind::Pipeline.into(),
            address,
            self::text(text),
        )
        .into()
    }

    #[test]
    fn enqueue_survives_reopen_in_order_and_completes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/reverb.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            let stored = store
                .enqueue(
                    &[msg("#a", "one"), msg("#b", "two"), msg("#a", "three")],
                    1000,
                )
                .unwrap();
            assert_eq!(stored.len(), 3);
            assert!(stored[0].id < stored[1].id && stored[1].id < stored[2].id);
            assert_eq!(stored[1].lane, "b");
        }
        let store = SqliteStore::open(&path).unwrap();
        let pending = store.pending().unwrap();
        let texts: Vec<_> = pending
            .iter()
            .map(|m| m.message.message().text.as_str())
            .collect();
        assert_eq!(texts, ["one", "two", "three"]);
        let r = MessageRef {
            channel_id: "C1".into(),
            ts: "1.000001".into(),
        };
        store
            .complete(pending[0].id, Some(("k1", &r)), 2000)
            .unwrap();
        assert_eq!(store.pending().unwrap().len(), 2);
        assert_eq!(store.message_ref("k1").unwrap(), Some(r));
        assert_eq!(store.schema_version().unwrap(), 4);
    }

    #[test]
    fn retries_dead_letters_and_revival() {
        let store = SqliteStore::in_memory().unwrap();
        let stored = store.enqueue(&[msg("#a", "x")], 10).unwrap();
        let id = stored[0].id;
        store.schedule_retry(id, 2, 5000, "internal_error").unwrap();
        let p = &store.pending().unwrap()[0];
        assert_eq!((p.attempts, p.next_attempt_ms), (2, 5000));
        assert_eq!(p.last_error.as_deref(), Some("internal_error"));
        store.dead_letter(id, "channel_not_found", 6000).unwrap();
        assert!(store.pending().unwrap().is_empty());
        let stats = store.stats(7000).unwrap();
        assert_eq!((stats.pending, stats.dead), (0, 1));
        let dead = store.dead_letters().unwrap();
        assert_eq!(dead[0].last_error.as_deref(), Some("channel_not_found"));
        let revived = store.revive(id, 8000).unwrap().unwrap();
        assert_ne!(revived.id, id);
        assert_eq!(revived.attempts, 0);
        assert_eq!(store.pending().unwrap().len(), 1);
        assert!(store.revive(id, 9000).unwrap().is_none());
        assert_eq!(store.pending_queue(revived.id - 1).unwrap().len(), 1);
        assert!(store.pending_queue(revived.id).unwrap().is_empty());
        assert_eq!(
            store.pending_message(revived.id).unwrap().map(|m| m.id),
            Some(revived.id)
        );
        assert!(store.pending_message(id).unwrap().is_none());
        store.dead_letter(revived.id, "again", 9000).unwrap();
        assert!(store.drop_dead_letter(revived.id).unwrap());
        assert!(!store.drop_dead_letter(revived.id).unwrap());
        assert_eq!(store.stats(9000).unwrap(), OutboxStats::default());
    }

    #[test]
    fn oldest_pending_age() {
        let store = SqliteStore::in_memory().unwrap();
        store.enqueue(&[msg("#a", "x")], 1_000).unwrap();
        store.enqueue(&[msg("#a", "y")], 4_000).unwrap();
        assert_eq!(
            store.stats(10_000).unwrap().oldest_pending_age_ms,
            Some(9_000)
        );
    }

    #[test]
    fn refs_by_prefix() {
        let store = SqliteStore::in_memory().unwrap();
        let r = |c: &str| MessageRef {
            channel_id: c.into(),
            ts: "1.1".into(),
        };
        store.record_ref("judgment:e1:2@a", &r("C1"), 1).unwrap();
        store.record_ref("judgment:e1:2@b", &r("C2"), 1).unwrap();
        store.record_ref("judgment:e1:20@a", &r("C3"), 1).unwrap();
        store.record_ref("judgment:e1:2@a", &r("C9"), 2).unwrap();
        let found = store.refs_with_prefix("judgment:e1:2@").unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].1.channel_id, "C9");
    }

    #[test]
    fn a_signed_request_is_accepted_once_per_window_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reverb.db");
        let window = 300_000;
        let id = {
            let store = SqliteStore::open(&path).unwrap();
            let ClickAcceptance::Accepted(id) = store
                .accept_click("1700:v0=ab", "{}", 1_000, window)
                .unwrap()
            else {
                panic!("first sight must be accepted");
            };
            assert_eq!(
                store
                    .accept_click("1700:v0=ab", "{}", 2_000, window)
                    .unwrap(),
                ClickAcceptance::Replay
            );
            id
        };
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(
            store
                .accept_click("1700:v0=ab", "{}", 3_000, window)
                .unwrap(),
            ClickAcceptance::Replay,
            "the record of what was seen outlives a restart"
        );
        let unfinished = store.unfinished_clicks().unwrap();
        assert_eq!(unfinished.len(), 1);
        assert_eq!(unfinished[0].id, id);
        store.finish_click(id).unwrap();
        assert!(store.unfinished_clicks().unwrap().is_empty());
        // Past the window the record is forgotten (Slack's signature check refuses it anyway).
        assert!(matches!(
            store
                .accept_click("1700:v0=ab", "{}", 1_000 + window + 1, window)
                .unwrap(),
            ClickAcceptance::Accepted(_)
        ));
    }

    #[test]
    fn a_secret_is_made_once() {
        let store = SqliteStore::in_memory().unwrap();
        let first = store.secret_or_insert("k", &[1, 2, 3], 0).unwrap();
        let second = store.secret_or_insert("k", &[9, 9, 9], 1).unwrap();
        assert_eq!(first, vec![1, 2, 3]);
        assert_eq!(second, first);
    }

    #[test]
    fn unfinished_claims_are_released_at_start() {
        let store = SqliteStore::in_memory().unwrap();
        store.claim_judgment("open", "a", 0, 60_000).unwrap();
        store.claim_judgment("done", "a", 0, 60_000).unwrap();
        store.finish_judgment("done", "x", true, 1).unwrap();
        assert_eq!(store.release_unfinished_claims().unwrap(), 1);
        assert_eq!(
            store.claim_judgment("open", "b", 2, 60_000).unwrap(),
            JudgmentClaim::Granted
        );
        assert!(matches!(
            store.claim_judgment("done", "b", 2, 60_000).unwrap(),
            JudgmentClaim::Decided { .. }
        ));
    }

    #[test]
    fn judgment_claims_are_exclusive() {
        let store = SqliteStore::in_memory().unwrap();
        assert_eq!(
            store.claim_judgment("j", "a", 0, 60_000).unwrap(),
            JudgmentClaim::Granted
        );
        assert_eq!(
            store.claim_judgment("j", "b", 10, 60_000).unwrap(),
            JudgmentClaim::InProgress {
                claimant: "a".into()
            }
        );
        // A crashed claimant's claim goes stale and can be taken over.
        assert_eq!(
            store.claim_judgment("j", "b", 70_000, 60_000).unwrap(),
            JudgmentClaim::Granted
        );
        store
            .finish_judgment("j", "continue by b", true, 70_001)
            .unwrap();
        assert_eq!(
            store.claim_judgment("j", "c", 80_000, 60_000).unwrap(),
            JudgmentClaim::Decided {
                outcome: "continue by b".into()
            }
        );
        assert_eq!(
            store.judgment_outcome("j").unwrap().as_deref(),
            Some("continue by b")
        );
        // A released claim (Orca unreachable) can be claimed again.
        assert_eq!(
            store.claim_judgment("k", "a", 0, 60_000).unwrap(),
            JudgmentClaim::Granted
        );
        store.finish_judgment("k", "", false, 1).unwrap();
        assert_eq!(
            store.claim_judgment("k", "b", 2, 60_000).unwrap(),
            JudgmentClaim::Granted
        );
    }

    #[test]
    fn edits_of_decided_judgments_are_not_stored() {
        let store = SqliteStore::in_memory().unwrap();
        let edit: OutboundMessage = reverb_model::outbound::Update::judgment_ended_in_orca(
            "e",
            "1",
            "#a",
            text("judged in Deck"),
        )
        .into();
        assert_eq!(edit.unless_judgment_decided(), Some("judgment:e:1"));
        assert_eq!(
            store.enqueue(std::slice::from_ref(&edit), 1).unwrap().len(),
            1
        );
        store
            .claim_judgment("judgment:e:1", "U1", 2, 60_000)
            .unwrap();
        store
            .finish_judgment("judgment:e:1", "continue by jane", true, 3)
            .unwrap();
        let other = msg("#a", "other");
        let groups = store
            .enqueue_groups(&[&[edit.clone(), other.clone()], &[edit]], 4)
            .unwrap();
        // Aligned with the input: the guarded edit is left out, in every group.
        assert!(groups[0][0].is_none() && groups[0][1].is_some() && groups[1][0].is_none());
        let stored = store.enqueue(&[other], 5).unwrap();
        assert_eq!(stored.len(), 1);
        let pending = store.pending().unwrap();
        assert_eq!(pending.len(), 3);
        assert_eq!(pending[1].message.message().text, "other");
    }

    #[test]
    fn forwards_keep_order_and_bytes() {
        let store = SqliteStore::in_memory().unwrap();
        let req = |b: &[u8]| ForwardedRequest {
            method: "POST".into(),
            path: "/".into(),
            headers: vec![("X-SPINNAKER-USER".into(), "jane".into())],
            body: b.to_vec(),
        };
        store.enqueue_forward(&req(b"{\"a\":1}"), 1).unwrap();
        store.enqueue_forward(&req(&[0, 159, 146, 150]), 2).unwrap();
        let pending = store.pending_forwards(10).unwrap();
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[1].1.body, vec![0, 159, 146, 150]);
        store.complete_forward(pending[0].0).unwrap();
        assert_eq!(store.forward_backlog().unwrap(), 1);
    }

    #[test]
    fn one_server_per_store_while_outbox_commands_still_open_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reverb.db");
        let serving = SqliteStore::open_for_serving(&path).unwrap();
        let lock = SqliteStore::lock_path(&path);
        assert_eq!(lock, dir.path().join("reverb.db.lock"));
        assert_eq!(
            std::fs::read_to_string(&lock).unwrap().trim(),
            std::process::id().to_string()
        );
        match SqliteStore::open_for_serving(&path) {
            Err(StoreError::InUse { holder, lock, .. }) => {
                assert_eq!(holder, std::process::id().to_string());
                assert!(lock.ends_with("reverb.db.lock"), "{lock}");
            }
            Err(e) => panic!("expected InUse, got {e}"),
            Ok(_) => panic!("a second server opened a store in use"),
        }
        // `reverb outbox` beside the server: reads and writes through SQLite's locking.
        let reader = SqliteStore::open(&path).unwrap();
        reader.enqueue(&[msg("#a", "x")], 1).unwrap();
        assert_eq!(serving.pending().unwrap().len(), 1);
        drop(reader);
        drop(serving);
        // The lock goes with the store; a later server takes it over.
        assert!(SqliteStore::open_for_serving(&path).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn store_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("made/by/reverb/reverb.db");
        let store = SqliteStore::open_for_serving(&path).unwrap();
        store.heartbeat(1).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let with = |suffix: &str| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        };
        for file in ["", "-wal", "-shm", ".lock"] {
            assert_eq!(mode(&with(file)), 0o600, "reverb.db{file}");
        }
        for folder in ["made", "made/by", "made/by/reverb"] {
            assert_eq!(mode(&dir.path().join(folder)), 0o700, "{folder}");
        }
    }

    #[test]
    fn heartbeat_fails_while_another_connection_holds_the_write_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reverb.db");
        let store = SqliteStore::open(&path).unwrap();
        store.heartbeat(1).unwrap();
        store.heartbeat(2).unwrap();
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let started = std::time::Instant::now();
        let err = store.heartbeat(3).unwrap_err();
        assert!(err.to_string().contains("locked"), "{err}");
        assert!(
            started.elapsed() < BUSY_TIMEOUT,
            "the heartbeat waits briefly"
        );
        other.execute_batch("ROLLBACK").unwrap();
        store.heartbeat(4).unwrap();
        let beat: i64 = other
            .query_row("SELECT beat_ms FROM heartbeat", [], |r| r.get(0))
            .unwrap();
        assert_eq!(beat, 4);
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        drop(SqliteStore::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute("INSERT INTO schema_migrations VALUES (999, 0)", [])
            .unwrap();
        drop(conn);
        assert!(matches!(
            SqliteStore::open(&path),
            Err(StoreError::SchemaTooNew { found: 999, .. })
        ));
    }
}
