//! The embedded default: SQLite through rusqlite. One connection, owned by a thread of its own
//! that runs the storage's work in order (`sqlite_thread`): SQLite serialises writers anyway, and
//! a single connection keeps the shared sequence trivially ordered. `synchronous = FULL`: an acknowledged push survives a server kill
//! or a power cut. The file is encrypted with SQLCipher when opened with a key (the server always
//! does: `sqlite_file`); the schema and its migrations are in `sqlite_schema`.

use std::path::Path;

use async_trait::async_trait;
use fieldbook_core::records::{RecordKind, RecordStatus};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::key::SqliteKey;
use super::sqlite_thread::ConnectionThread;
use super::{
    decode_heads, encode_heads, Allocation, AllocationChange, AllocationEvent, Audience, DocInfo,
    DocState, Hash, NewChanges, ProjectedCase, ProjectedDoc, ProjectionScope, ProjectionVisitor,
    Result, Storage, StorageError, StoredChange,
};
use super::{sqlite_projection, sqlite_schema, sqlite_tags, FeedTag};
use fieldbook_core::store::keying::{is_key_step_failure, retry_key_step};

/// Prepared statements kept on the connection (`init`).
const STATEMENT_CACHE: usize = 256;

#[derive(Debug, Clone)]
pub struct SqliteStorage {
    conn: ConnectionThread,
    /// The schema keeps heads per document (always, except the upgrade tests' old versions).
    keeps_heads: bool,
    /// The schema tags the feed as a chain (always, except the upgrade tests' old versions).
    chained_tags: bool,
}

impl SqliteStorage {
    /// Opens (or creates) the database at `path`, encrypted with `key` (SQLCipher) or in plain
    /// text without one, and brings its schema up to date. The server opens its file through
    /// `sqlite_file::open_with_key_file`, which also manages the key file.
    ///
    /// A wrong key is `WrongKey`, an encrypted file opened without a key `NeedsKey`: an existing
    /// database is never replaced.
    pub fn open(path: &Path, key: Option<&SqliteKey>) -> Result<Self> {
        Self::open_at_version(path, key, sqlite_schema::CURRENT_VERSION)
    }

    /// Like `open`, but stops migrating at schema version `version`: the migration tests make
    /// each earlier schema this way.
    #[doc(hidden)]
    pub fn open_at_version(path: &Path, key: Option<&SqliteKey>, version: i64) -> Result<Self> {
        // SQLCipher's key step fails now and then on a new connection (see `keying`).
        retry_key_step(
            || Self::init(Connection::open(path)?, key, version),
            |e| matches!(e, StorageError::Sqlite(e) if is_key_step_failure(e)),
        )
    }

    /// A plain-text database in memory (the fuzz targets).
    pub fn in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?, None, sqlite_schema::CURRENT_VERSION)
    }

    fn init(mut conn: Connection, key: Option<&SqliteKey>, version: i64) -> Result<Self> {
        // Room for every statement the storage prepares with `prepare_cached`: one connection
        // serves them all, and rusqlite's default of 16 is fewer than one sync uses.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        if let Some(key) = key {
            conn.execute_batch(&format!("PRAGMA key = \"{}\";", key.literal().as_str()))?;
        }
        // The first read decrypts page 1: with a wrong key (or a key for a plain-text file, or no
        // key for an encrypted one) this is where SQLCipher says "file is not a database".
        match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)) {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::NotADatabase =>
            {
                return Err(if key.is_some() {
                    StorageError::WrongKey
                } else {
                    StorageError::NeedsKey
                })
            }
            Err(e) => return Err(e.into()),
        }
        // Temporary tables and sort spills stay in memory, never in a plain-text file.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
             PRAGMA temp_store = MEMORY;",
        )?;
        sqlite_schema::migrate(&mut conn, version)?;
        let version = sqlite_schema::version(&conn)?;
        let keeps_heads = version >= sqlite_schema::HEADS_VERSION;
        let chained_tags = version >= sqlite_schema::FEED_TAGS_VERSION;
        Ok(Self { conn: ConnectionThread::start(conn)?, keeps_heads, chained_tags })
    }

    /// The schema version of the open database.
    pub async fn schema_version(&self) -> Result<i64> {
        self.with(|c| sqlite_schema::version(c)).await
    }

    /// Runs `f` with the connection, on its thread.
    pub(super) async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.conn.run(f).await
    }
}

fn kind_of(s: &str) -> rusqlite::Result<RecordKind> {
    RecordKind::from_code(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn next_seq(tx: &rusqlite::Transaction<'_>) -> Result<u64> {
    let v: i64 = tx
        .prepare_cached("UPDATE counter SET value = value + 1 WHERE id = 1 RETURNING value")?
        .query_row([], |r| r.get(0))?;
    Ok(v as u64)
}

fn audience_key(a: &Audience) -> (&'static str, &str) {
    match a {
        Audience::Worker(w) => ("worker", w),
        Audience::Team(t) => ("team", t),
    }
}

fn hash_of(bytes: Vec<u8>) -> rusqlite::Result<Hash> {
    bytes.as_slice().try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Blob,
            "hash is not 32 bytes".into(),
        )
    })
}

fn stored_change(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredChange> {
    Ok(StoredChange {
        seq: r.get::<_, i64>(0)? as u64,
        doc: DocInfo { id: r.get(1)?, case_id: r.get(2)?, kind: kind_of(&r.get::<_, String>(3)?)? },
        hash: hash_of(r.get(4)?)?,
        bytes: r.get(5)?,
    })
}

#[async_trait]
impl Storage for SqliteStorage {
    async fn doc_info(&self, id: &str) -> Result<Option<DocInfo>> {
        let id = id.to_string();
        self.with(move |c| {
            Ok(c.query_row("SELECT id, case_id, kind FROM docs WHERE id = ?1", [&id], |r| {
                Ok(DocInfo {
                    id: r.get(0)?,
                    case_id: r.get(1)?,
                    kind: kind_of(&r.get::<_, String>(2)?)?,
                })
            })
            .optional()?)
        })
        .await
    }

    async fn doc_state(&self, id: &str) -> Result<Option<DocState>> {
        let id = id.to_string();
        let keeps_heads = self.keeps_heads;
        self.with(move |c| {
            let heads = if keeps_heads { "heads" } else { "NULL" };
            let row: Option<(DocInfo, Option<Vec<u8>>, i64)> = c
                .prepare_cached(&format!(
                    "SELECT id, case_id, kind, {heads},
                            (SELECT count(*) FROM changes WHERE doc_id = docs.id)
                     FROM docs WHERE id = ?1"
                ))?
                .query_row([&id], |r| {
                    Ok((
                        DocInfo {
                            id: r.get(0)?,
                            case_id: r.get(1)?,
                            kind: kind_of(&r.get::<_, String>(2)?)?,
                        },
                        r.get(3)?,
                        r.get(4)?,
                    ))
                })
                .optional()?;
            row.map(|(info, heads, changes)| {
                Ok(DocState {
                    info,
                    heads: heads.as_deref().map(decode_heads).transpose()?,
                    changes: changes as u64,
                })
            })
            .transpose()
        })
        .await
    }

    async fn put_heads(&self, id: &str, heads: Vec<Hash>, changes: u64) -> Result<bool> {
        if !self.keeps_heads {
            return Ok(false);
        }
        let id = id.to_string();
        self.with(move |c| {
            // One connection: no append can run between this check and this write.
            let n = c
                .prepare_cached(
                    "UPDATE docs SET heads = ?2 WHERE id = ?1 AND heads IS NULL
                 AND (SELECT count(*) FROM changes WHERE doc_id = ?1) = ?3",
                )?
                .execute(params![id, encode_heads(&heads), changes as i64])?;
            Ok(n == 1)
        })
        .await
    }

    async fn doc_changes(&self, id: &str) -> Result<Vec<Vec<u8>>> {
        let id = id.to_string();
        self.with(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT bytes FROM changes WHERE doc_id = ?1 ORDER BY seq")?;
            let rows = stmt.query_map([&id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    async fn append(&self, batch: Vec<NewChanges>) -> Result<u64> {
        self.append_projected(batch, Vec::new()).await
    }

    async fn append_projected(
        &self,
        batch: Vec<NewChanges>,
        docs: Vec<ProjectedDoc>,
    ) -> Result<u64> {
        let keeps_heads = self.keeps_heads;
        let chained_tags = self.chained_tags;
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // The rows first: they are plain upserts, and the same commit makes them durable.
            sqlite_projection::write(&tx, &docs, &[])?;
            for doc in &batch {
                let sigs: std::collections::HashMap<&Hash, &Vec<u8>> =
                    doc.signatures.iter().map(|(h, s)| (h, s)).collect();
                if keeps_heads {
                    // A new document starts with no heads (known, empty).
                    tx.prepare_cached(
                        "INSERT OR IGNORE INTO docs (id, case_id, kind, heads)
                         VALUES (?1, ?2, ?3, X'')",
                    )?
                    .execute(params![
                        doc.doc.id,
                        doc.doc.case_id,
                        doc.doc.kind.code()
                    ])?;
                    // Compare-and-set (`HeadsMove`): unknown unless they were `before`.
                    let (before, after) = match &doc.heads {
                        Some(m) => (Some(encode_heads(&m.before)), Some(encode_heads(&m.after))),
                        None => (None, None),
                    };
                    tx.prepare_cached(
                        "UPDATE docs SET heads = CASE WHEN heads IS ?2 THEN ?3 ELSE NULL END
                         WHERE id = ?1",
                    )?
                    .execute(params![doc.doc.id, before, after])?;
                } else {
                    tx.execute(
                        "INSERT OR IGNORE INTO docs (id, case_id, kind) VALUES (?1, ?2, ?3)",
                        params![doc.doc.id, doc.doc.case_id, doc.doc.kind.code()],
                    )?;
                }
                for (hash, bytes) in &doc.changes {
                    let exists = tx
                        .prepare_cached("SELECT 1 FROM changes WHERE doc_id = ?1 AND hash = ?2")?
                        .query_row(params![doc.doc.id, hash.0.as_slice()], |_| Ok(()))
                        .optional()?
                        .is_some();
                    if !exists {
                        let seq = next_seq(&tx)?;
                        // Without a signature the column is left out: the same statement
                        // then also writes a database of a schema before version 5 (the
                        // migration tests seed every earlier schema through `append`).
                        match sigs.get(hash) {
                            Some(sig) => tx
                                .prepare_cached(
                                    "INSERT INTO changes (seq, doc_id, hash, bytes, signature)
                                     VALUES (?1, ?2, ?3, ?4, ?5)",
                                )?
                                .execute(params![
                                    seq as i64,
                                    doc.doc.id,
                                    hash.0.as_slice(),
                                    bytes,
                                    sig
                                ])?,
                            None => tx
                                .prepare_cached(
                                    "INSERT INTO changes (seq, doc_id, hash, bytes)
                                     VALUES (?1, ?2, ?3, ?4)",
                                )?
                                .execute(params![
                                    seq as i64,
                                    doc.doc.id,
                                    hash.0.as_slice(),
                                    bytes
                                ])?,
                        };
                    }
                }
            }
            if chained_tags {
                sqlite_tags::tag_new_entries(&tx, false)?;
            }
            let head: i64 = tx
                .prepare_cached("SELECT value FROM counter WHERE id = 1")?
                .query_row([], |r| r.get(0))?;
            tx.commit()?;
            Ok(head as u64)
        })
        .await
    }

    async fn feed(
        &self,
        cursor: u64,
        cases: &[String],
        budget: u64,
        max_rows: usize,
    ) -> Result<Vec<StoredChange>> {
        let cases =
            serde_json::to_string(cases).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT ch.seq, d.id, d.case_id, d.kind, ch.hash, ch.bytes
                 FROM changes ch JOIN docs d ON d.id = ch.doc_id
                 WHERE ch.seq > ?1 AND d.case_id IN (SELECT value FROM json_each(?2))
                 ORDER BY ch.seq",
            )?;
            let mut rows = stmt.query(params![cursor as i64, cases])?;
            let mut out = Vec::new();
            let mut bytes = 0u64;
            while let Some(row) = rows.next()? {
                let change = stored_change(row)?;
                bytes += change.bytes.len() as u64;
                out.push(change);
                if bytes >= budget || out.len() >= max_rows {
                    break;
                }
            }
            Ok(out)
        })
        .await
    }

    async fn seq_tag(&self, seq: u64) -> Result<Option<FeedTag>> {
        let chained = self.chained_tags;
        self.with(move |c| sqlite_tags::seq_tag(c, seq, chained)).await
    }

    async fn head(&self) -> Result<u64> {
        self.with(|c| {
            Ok(c.prepare_cached("SELECT value FROM counter WHERE id = 1")?
                .query_row([], |r| r.get::<_, i64>(0))? as u64)
        })
        .await
    }

    async fn allocate(&self, allocation: Allocation) -> Result<Option<Allocation>> {
        let chained_tags = self.chained_tags;
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let previous: Option<Allocation> = tx
                .query_row("SELECT case_id, worker, team FROM allocations WHERE case_id = ?1", [&allocation.case_id], |r| {
                    Ok(Allocation { case_id: r.get(0)?, worker: r.get(1)?, team: r.get(2)? })
                })
                .optional()?;
            let mut events: Vec<(&str, String, AllocationChange)> = Vec::new();
            match &previous {
                Some(p) if p.worker == allocation.worker && p.team == allocation.team => {}
                Some(p) => {
                    if p.worker != allocation.worker {
                        events.push(("worker", p.worker.clone(), AllocationChange::Revoked));
                        events.push(("worker", allocation.worker.clone(), AllocationChange::Allocated));
                    }
                    if p.team != allocation.team {
                        events.push(("team", p.team.clone(), AllocationChange::Revoked));
                        events.push(("team", allocation.team.clone(), AllocationChange::Allocated));
                    }
                }
                None => {
                    events.push(("worker", allocation.worker.clone(), AllocationChange::Allocated));
                    events.push(("team", allocation.team.clone(), AllocationChange::Allocated));
                }
            }
            for (kind, audience, change) in events {
                let seq = next_seq(&tx)?;
                let change = match change {
                    AllocationChange::Allocated => "allocated",
                    AllocationChange::Revoked => "revoked",
                };
                tx.execute(
                    "INSERT INTO allocation_events (seq, audience_kind, audience, case_id, change) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![seq as i64, kind, audience, allocation.case_id, change],
                )?;
            }
            tx.execute(
                "INSERT INTO allocations (case_id, worker, team) VALUES (?1, ?2, ?3)
                 ON CONFLICT(case_id) DO UPDATE SET worker = ?2, team = ?3",
                params![allocation.case_id, allocation.worker, allocation.team],
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO allocation_history (worker, case_id) VALUES (?1, ?2)",
                params![allocation.worker, allocation.case_id],
            )?;
            if chained_tags {
                sqlite_tags::tag_new_entries(&tx, false)?;
            }
            tx.commit()?;
            Ok(previous)
        })
        .await
    }

    async fn allocation(&self, case_id: &str) -> Result<Option<Allocation>> {
        let case_id = case_id.to_string();
        self.with(move |c| {
            Ok(c.query_row(
                "SELECT case_id, worker, team FROM allocations WHERE case_id = ?1",
                [&case_id],
                |r| Ok(Allocation { case_id: r.get(0)?, worker: r.get(1)?, team: r.get(2)? }),
            )
            .optional()?)
        })
        .await
    }

    async fn visible_cases(&self, audience: &Audience) -> Result<Vec<String>> {
        let (kind, name) = audience_key(audience);
        let name = name.to_string();
        self.with(move |c| {
            let sql = if kind == "worker" {
                "SELECT case_id FROM allocations WHERE worker = ?1 ORDER BY case_id"
            } else {
                "SELECT case_id FROM allocations WHERE team = ?1 ORDER BY case_id"
            };
            let mut stmt = c.prepare_cached(sql)?;
            let rows = stmt.query_map([&name], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    async fn ever_allocated(&self, worker: &str, case_id: &str) -> Result<bool> {
        let (worker, case_id) = (worker.to_string(), case_id.to_string());
        self.with(move |c| {
            Ok(c.query_row(
                "SELECT 1 FROM allocation_history WHERE worker = ?1 AND case_id = ?2",
                params![worker, case_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
        })
        .await
    }

    async fn allocation_events(
        &self,
        audience: &Audience,
        cursor: u64,
    ) -> Result<Vec<AllocationEvent>> {
        let (kind, name) = audience_key(audience);
        let name = name.to_string();
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, case_id, change FROM allocation_events
                 WHERE audience_kind = ?1 AND audience = ?2 AND seq > ?3 ORDER BY seq",
            )?;
            let rows = stmt
                .query_map(params![kind, name, cursor as i64], |r| {
                    let change: String = r.get(2)?;
                    Ok(AllocationEvent {
                        seq: r.get::<_, i64>(0)? as u64,
                        case_id: r.get(1)?,
                        change: if change == "revoked" {
                            AllocationChange::Revoked
                        } else {
                            AllocationChange::Allocated
                        },
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    async fn case_changes(&self, case_id: &str) -> Result<Vec<StoredChange>> {
        let case_id = case_id.to_string();
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT ch.seq, d.id, d.case_id, d.kind, ch.hash, ch.bytes
                 FROM changes ch JOIN docs d ON d.id = ch.doc_id
                 WHERE d.case_id = ?1 ORDER BY ch.seq",
            )?;
            let rows =
                stmt.query_map([&case_id], stored_change)?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    async fn changed_docs(&self, cursor: u64, limit: usize) -> Result<Vec<(u64, DocInfo)>> {
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT max(ch.seq) AS last, d.id, d.case_id, d.kind
                 FROM changes ch JOIN docs d ON d.id = ch.doc_id
                 GROUP BY d.id HAVING last > ?1 ORDER BY last LIMIT ?2",
            )?;
            let rows = stmt
                .query_map(params![cursor as i64, limit as i64], |r| {
                    Ok((
                        r.get::<_, i64>(0)? as u64,
                        DocInfo {
                            id: r.get(1)?,
                            case_id: r.get(2)?,
                            kind: kind_of(&r.get::<_, String>(3)?)?,
                        },
                    ))
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    async fn put_projections(
        &self,
        docs: Vec<ProjectedDoc>,
        cases: Vec<ProjectedCase>,
    ) -> Result<()> {
        self.with(move |c| sqlite_projection::put(c, &docs, &cases)).await
    }

    async fn projected_docs(
        &self,
        scope: &ProjectionScope,
        status: Option<RecordStatus>,
    ) -> Result<Vec<ProjectedDoc>> {
        let scope = scope.clone();
        self.with(move |c| sqlite_projection::docs(c, &scope, status)).await
    }

    async fn projected_cases(&self, scope: &ProjectionScope) -> Result<Vec<ProjectedCase>> {
        let scope = scope.clone();
        self.with(move |c| sqlite_projection::cases(c, &scope)).await
    }

    async fn visit_projections(
        &self,
        scope: &ProjectionScope,
        mut visitor: Box<dyn ProjectionVisitor>,
    ) -> Result<Box<dyn ProjectionVisitor>> {
        let scope = scope.clone();
        self.with(move |c| {
            sqlite_projection::visit(c, &scope, visitor.as_mut())?;
            Ok(visitor)
        })
        .await
    }

    async fn clear_projections(&self) -> Result<()> {
        self.with(sqlite_projection::clear).await
    }
}
