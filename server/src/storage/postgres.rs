//! The production backend: PostgreSQL through tokio-postgres with a deadpool connection pool. It
//! scales by PostgreSQL's own means (replicas, managed services). Same tables and semantics as the
//! SQLite backend; both pass `tests/storage_conformance.rs`. The schema and its migrations are in
//! `postgres_schema`.

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use fieldbook_core::records::{RecordKind, RecordStatus};
use tokio_postgres::{NoTls, Row};

use super::{
    decode_heads, encode_heads, Allocation, AllocationChange, AllocationEvent, Audience, DocInfo,
    DocState, Hash, NewChanges, ProjectedCase, ProjectedDoc, ProjectionScope, ProjectionVisitor,
    Result, Storage, StorageError, StoredChange,
};
use super::{postgres_projection, postgres_schema, postgres_tags, FeedTag};

/// Serialises writers: a sequence number is taken and committed under this lock, so a reader that
/// has seen sequence N can never later see a commit with a smaller number (which it would skip).
pub(super) const WRITE_LOCK: i64 = 0x6669_656c_6462;

const LOCK_WRITERS: &str = "SELECT pg_advisory_xact_lock($1)";

const INSERT_DOCS: &str = "INSERT INTO docs (id, case_id, kind)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
     ON CONFLICT (id) DO NOTHING";

/// From the heads schema on: a new document starts with no heads (known, empty).
const INSERT_DOCS_WITH_HEADS: &str = "INSERT INTO docs (id, case_id, kind, heads)
     SELECT id, case_id, kind, ''::bytea FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, case_id, kind)
     ON CONFLICT (id) DO NOTHING";

/// The heads' compare-and-set of `HeadsMove`: a document's heads become `after` only if they
/// were `before`, else unknown (NULL `before`: the writer did not know them).
const MOVE_HEADS: &str = "UPDATE docs d SET heads = CASE WHEN d.heads = u.before THEN u.after END
     FROM unnest($1::text[], $2::bytea[], $3::bytea[]) AS u(id, before, after)
     WHERE d.id = u.id";

/// Numbers the changes not stored yet (a hash twice in the batch once), in batch order: the
/// sequence is taken in the target list, which PostgreSQL evaluates after the `ORDER BY`.
const INSERT_SIGNED_CHANGES: &str = "WITH batch AS (
         SELECT DISTINCT ON (c.doc_id, c.hash) c.doc_id, c.hash, c.bytes, c.signature, c.ord
         FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::bytea[])
              WITH ORDINALITY AS c(doc_id, hash, bytes, signature, ord)
         WHERE NOT EXISTS (SELECT 1 FROM changes x WHERE x.doc_id = c.doc_id AND x.hash = c.hash)
         ORDER BY c.doc_id, c.hash, c.ord
     ), numbered AS (
         INSERT INTO changes (seq, doc_id, hash, bytes, signature)
         SELECT nextval('feed_seq'), doc_id, hash, bytes, signature FROM batch ORDER BY ord
         RETURNING seq
     )
     SELECT max(seq) FROM numbered";

/// `INSERT_SIGNED_CHANGES` for a batch without signatures: no `signature` column, so that it also
/// writes a database of a schema before version 5 (the migration tests seed every earlier
/// schema through `append`).
const INSERT_CHANGES: &str = "WITH batch AS (
         SELECT DISTINCT ON (c.doc_id, c.hash) c.doc_id, c.hash, c.bytes, c.ord
         FROM unnest($1::text[], $2::bytea[], $3::bytea[]) WITH ORDINALITY AS c(doc_id, hash, bytes, ord)
         WHERE NOT EXISTS (SELECT 1 FROM changes x WHERE x.doc_id = c.doc_id AND x.hash = c.hash)
         ORDER BY c.doc_id, c.hash, c.ord
     ), numbered AS (
         INSERT INTO changes (seq, doc_id, hash, bytes)
         SELECT nextval('feed_seq'), doc_id, hash, bytes FROM batch ORDER BY ord
         RETURNING seq
     )
     SELECT max(seq) FROM numbered";

/// The oversight rows of the appended documents (`append_projected`), in the append's
/// transaction. The ids are distinct (an upsert may not touch a row twice).
const UPSERT_DOC_ROWS: &str = "INSERT INTO oversight_docs (id, case_id, kind, status, data)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
     ON CONFLICT (id) DO UPDATE SET case_id = excluded.case_id, kind = excluded.kind,
         status = excluded.status, data = excluded.data";

#[derive(Clone)]
pub struct PostgresStorage {
    pool: Pool,
    /// The schema keeps heads per document (always, except the upgrade tests' old versions).
    keeps_heads: bool,
    /// The schema tags the feed as a chain (always, except the upgrade tests' old versions).
    chained_tags: bool,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage").finish_non_exhaustive()
    }
}

fn pool_err(e: impl std::fmt::Display) -> StorageError {
    StorageError::Pool(e.to_string())
}

impl PostgresStorage {
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with_schema(url, None).await
    }

    /// Connects using (and creating) a PostgreSQL schema of its own: tests run in parallel on one
    /// cluster, each in its own schema.
    pub async fn connect_with_schema(url: &str, schema: Option<&str>) -> Result<Self> {
        Self::connect_at_version(url, schema, postgres_schema::CURRENT_VERSION).await
    }

    /// Like `connect_with_schema`, but stops migrating at schema version `version`: the migration
    /// tests make each earlier schema this way.
    #[doc(hidden)]
    pub async fn connect_at_version(url: &str, schema: Option<&str>, version: i64) -> Result<Self> {
        let mut config: tokio_postgres::Config = url.parse()?;
        if let Some(schema) = schema {
            if !schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(StorageError::Pool("schema names are letters, digits and _".into()));
            }
            config.options(format!("-c search_path={schema}"));
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager).max_size(16).build().map_err(pool_err)?;
        let mut client = pool.get().await.map_err(pool_err)?;
        postgres_schema::migrate(&mut client, schema, version).await?;
        let version = postgres_schema::version(&client).await?;
        let keeps_heads = version >= postgres_schema::HEADS_VERSION;
        let chained_tags = version >= postgres_schema::FEED_TAGS_VERSION;
        Ok(Self { pool, keeps_heads, chained_tags })
    }

    /// The schema version of the database.
    pub async fn schema_version(&self) -> Result<i64> {
        postgres_schema::version(&self.client().await?).await
    }

    /// `append`, waiting for `before_commit` once its sequence numbers are taken and its rows
    /// written, just before the commit. The multi-instance tests hold a writer there (another
    /// server mid-append) to show that no reader can be handed a cursor past its numbers.
    #[doc(hidden)]
    pub async fn append_pausing(
        &self,
        batch: Vec<NewChanges>,
        before_commit: impl std::future::Future<Output = ()> + Send,
    ) -> Result<u64> {
        self.append_with_rows(batch, &[], before_commit).await
    }

    async fn append_with_rows(
        &self,
        batch: Vec<NewChanges>,
        rows: &[ProjectedDoc],
        before_commit: impl std::future::Future<Output = ()> + Send,
    ) -> Result<u64> {
        let row_ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let row_cases: Vec<&str> = rows.iter().map(|r| r.case_id.as_str()).collect();
        let row_kinds: Vec<&str> = rows.iter().map(|r| r.kind.code()).collect();
        let row_statuses: Vec<&str> = rows.iter().map(|r| r.status.code()).collect();
        let row_data: Vec<&str> = rows.iter().map(|r| r.data.as_str()).collect();
        let mut ids = Vec::with_capacity(batch.len());
        let mut cases = Vec::with_capacity(batch.len());
        let mut kinds = Vec::with_capacity(batch.len());
        let (mut doc_ids, mut hashes, mut bytes) = (Vec::new(), Vec::new(), Vec::new());
        let (mut before, mut after) = (Vec::new(), Vec::new());
        let mut signatures: Vec<Option<&[u8]>> = Vec::new();
        for doc in &batch {
            ids.push(doc.doc.id.as_str());
            cases.push(doc.doc.case_id.as_str());
            kinds.push(doc.doc.kind.code());
            before.push(doc.heads.as_ref().map(|m| encode_heads(&m.before)));
            after.push(doc.heads.as_ref().map(|m| encode_heads(&m.after)));
            let sigs: std::collections::HashMap<&Hash, &Vec<u8>> =
                doc.signatures.iter().map(|(h, s)| (h, s)).collect();
            for (hash, change) in &doc.changes {
                doc_ids.push(doc.doc.id.as_str());
                hashes.push(hash.as_ref());
                bytes.push(change.as_slice());
                signatures.push(sigs.get(hash).map(|s| s.as_slice()));
            }
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The lock is the serial point of every server on the database (docs/benchmarks.md):
        // while it is held, three statements prepared once per connection and sent together
        // (pipelined: they run in the order sent, so the lock comes first), whatever the batch.
        // From the heads schema on, a fourth statement moves the heads, in the same round trip.
        let insert_docs = if self.keeps_heads { INSERT_DOCS_WITH_HEADS } else { INSERT_DOCS };
        let move_heads = if self.keeps_heads {
            MOVE_HEADS
        } else {
            "SELECT $1::text[], $2::bytea[], $3::bytea[]"
        };
        let signed = signatures.iter().any(Option::is_some);
        let insert = if signed { INSERT_SIGNED_CHANGES } else { INSERT_CHANGES };
        let (lock, docs, numbered, heads) = tokio::try_join!(
            tx.prepare_cached(LOCK_WRITERS),
            tx.prepare_cached(insert_docs),
            tx.prepare_cached(insert),
            tx.prepare_cached(move_heads),
        )?;
        let doc_params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&ids, &cases, &kinds];
        let signed_params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
            [&doc_ids, &hashes, &bytes, &signatures];
        let change_params = if signed { &signed_params[..] } else { &signed_params[..3] };
        let heads_params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&ids, &before, &after];
        let row_params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
            [&row_ids, &row_cases, &row_kinds, &row_statuses, &row_data];
        // Polled after the others, so sent after the lock like them.
        let upsert_rows = async {
            if rows.is_empty() {
                return Ok(0);
            }
            let upsert = tx.prepare_cached(UPSERT_DOC_ROWS).await?;
            tx.execute(&upsert, &row_params).await
        };
        let (_, _, row, _, _) = tokio::try_join!(
            tx.execute(&lock, &[&WRITE_LOCK]),
            tx.execute(&docs, &doc_params),
            tx.query_one(&numbered, change_params),
            tx.execute(&heads, &heads_params),
            upsert_rows,
        )?;
        // The last number taken is the head: under the lock nothing numbered later is committed.
        let head = match row.try_get::<_, Option<i64>>(0)? {
            Some(seq) => seq as u64,
            None => head_in(&tx).await?,
        };
        if self.chained_tags {
            postgres_tags::tag_new_entries(&tx, false).await?;
        }
        before_commit.await;
        tx.commit().await?;
        Ok(head)
    }

    /// How many transactions of this database are waiting for the writers' lock (test hook: a
    /// test holding a writer with `append_pausing` waits for another to queue behind it, without
    /// a sleep). `pg_advisory_xact_lock(bigint)` files its key as (high, low) 32-bit halves.
    #[doc(hidden)]
    pub async fn writers_waiting(&self) -> Result<i64> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                 AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1",
                &[&(WRITE_LOCK >> 32), &(WRITE_LOCK & 0xffff_ffff)],
            )
            .await?;
        Ok(row.try_get(0)?)
    }

    pub(super) async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(pool_err)
    }
}

fn kind_of(s: &str) -> Result<RecordKind> {
    RecordKind::from_code(s).map_err(|e| StorageError::Corrupt(e.to_string()))
}

fn info(row: &Row, at: usize) -> Result<DocInfo> {
    Ok(DocInfo {
        id: row.try_get(at)?,
        case_id: row.try_get(at + 1)?,
        kind: kind_of(row.try_get(at + 2)?)?,
    })
}

fn stored_change(row: &Row) -> Result<StoredChange> {
    let hash: Vec<u8> = row.try_get(4)?;
    Ok(StoredChange {
        seq: row.try_get::<_, i64>(0)? as u64,
        doc: info(row, 1)?,
        hash: hash
            .as_slice()
            .try_into()
            .map_err(|_| StorageError::Corrupt("hash is not 32 bytes".into()))?,
        bytes: row.try_get(5)?,
    })
}

fn audience_key(a: &Audience) -> (&'static str, &str) {
    match a {
        Audience::Worker(w) => ("worker", w),
        Audience::Team(t) => ("team", t),
    }
}

#[async_trait]
impl Storage for PostgresStorage {
    async fn doc_info(&self, id: &str) -> Result<Option<DocInfo>> {
        let client = self.client().await?;
        let row =
            client.query_opt("SELECT id, case_id, kind FROM docs WHERE id = $1", &[&id]).await?;
        row.map(|r| info(&r, 0)).transpose()
    }

    async fn doc_state(&self, id: &str) -> Result<Option<DocState>> {
        let client = self.client().await?;
        let heads = if self.keeps_heads { "heads" } else { "NULL::bytea" };
        let row = client
            .query_opt(
                &format!(
                    "SELECT id, case_id, kind, {heads},
                            (SELECT count(*) FROM changes WHERE doc_id = docs.id)
                     FROM docs WHERE id = $1"
                ),
                &[&id],
            )
            .await?;
        row.map(|r| {
            let heads: Option<Vec<u8>> = r.try_get(3)?;
            Ok(DocState {
                info: info(&r, 0)?,
                heads: heads.as_deref().map(decode_heads).transpose()?,
                changes: r.try_get::<_, i64>(4)? as u64,
            })
        })
        .transpose()
    }

    async fn put_heads(&self, id: &str, heads: Vec<Hash>, changes: u64) -> Result<bool> {
        if !self.keeps_heads {
            return Ok(false);
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Under the writers' lock: no append of another server can commit between the count
        // and the write (an append holds the lock to its commit).
        tx.execute(LOCK_WRITERS, &[&WRITE_LOCK]).await?;
        let n = tx
            .execute(
                "UPDATE docs SET heads = $2 WHERE id = $1 AND heads IS NULL
                 AND (SELECT count(*) FROM changes WHERE doc_id = $1) = $3",
                &[&id, &encode_heads(&heads), &(changes as i64)],
            )
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn doc_changes(&self, id: &str) -> Result<Vec<Vec<u8>>> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT bytes FROM changes WHERE doc_id = $1 ORDER BY seq", &[&id])
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    async fn append(&self, batch: Vec<NewChanges>) -> Result<u64> {
        self.append_pausing(batch, std::future::ready(())).await
    }

    async fn append_projected(
        &self,
        batch: Vec<NewChanges>,
        docs: Vec<ProjectedDoc>,
    ) -> Result<u64> {
        self.append_with_rows(batch, &docs, std::future::ready(())).await
    }

    async fn feed(
        &self,
        cursor: u64,
        cases: &[String],
        budget: u64,
        max_rows: usize,
    ) -> Result<Vec<StoredChange>> {
        let client = self.client().await?;
        let cases: Vec<&str> = cases.iter().map(String::as_str).collect();
        let rows = client
            .query(
                "SELECT ch.seq, d.id, d.case_id, d.kind, ch.hash, ch.bytes
                 FROM changes ch JOIN docs d ON d.id = ch.doc_id
                 WHERE ch.seq > $1 AND d.case_id = ANY($2) ORDER BY ch.seq LIMIT $3",
                &[&(cursor as i64), &cases, &(max_rows as i64)],
            )
            .await?;
        let mut out = Vec::new();
        let mut bytes = 0u64;
        for row in &rows {
            let change = stored_change(row)?;
            bytes += change.bytes.len() as u64;
            out.push(change);
            if bytes >= budget {
                break;
            }
        }
        Ok(out)
    }

    async fn seq_tag(&self, seq: u64) -> Result<Option<FeedTag>> {
        postgres_tags::seq_tag(&self.client().await?, seq, self.chained_tags).await
    }

    async fn head(&self) -> Result<u64> {
        let client = self.client().await?;
        head_of(&client).await
    }

    async fn allocate(&self, allocation: Allocation) -> Result<Option<Allocation>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK]).await?;
        let previous = tx
            .query_opt(
                "SELECT case_id, worker, team FROM allocations WHERE case_id = $1",
                &[&allocation.case_id],
            )
            .await?
            .map(|r| -> Result<Allocation> {
                Ok(Allocation {
                    case_id: r.try_get(0)?,
                    worker: r.try_get(1)?,
                    team: r.try_get(2)?,
                })
            })
            .transpose()?;
        let mut events: Vec<(&str, String, &str)> = Vec::new();
        match &previous {
            Some(p) if p.worker == allocation.worker && p.team == allocation.team => {}
            Some(p) => {
                if p.worker != allocation.worker {
                    events.push(("worker", p.worker.clone(), "revoked"));
                    events.push(("worker", allocation.worker.clone(), "allocated"));
                }
                if p.team != allocation.team {
                    events.push(("team", p.team.clone(), "revoked"));
                    events.push(("team", allocation.team.clone(), "allocated"));
                }
            }
            None => {
                events.push(("worker", allocation.worker.clone(), "allocated"));
                events.push(("team", allocation.team.clone(), "allocated"));
            }
        }
        for (kind, audience, change) in events {
            tx.execute(
                "INSERT INTO allocation_events (seq, audience_kind, audience, case_id, change)
                 VALUES (nextval('feed_seq'), $1, $2, $3, $4)",
                &[&kind, &audience, &allocation.case_id, &change],
            )
            .await?;
        }
        tx.execute(
            "INSERT INTO allocations (case_id, worker, team) VALUES ($1, $2, $3)
             ON CONFLICT (case_id) DO UPDATE SET worker = $2, team = $3",
            &[&allocation.case_id, &allocation.worker, &allocation.team],
        )
        .await?;
        tx.execute(
            "INSERT INTO allocation_history (worker, case_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&allocation.worker, &allocation.case_id],
        )
        .await?;
        if self.chained_tags {
            postgres_tags::tag_new_entries(&tx, false).await?;
        }
        tx.commit().await?;
        Ok(previous)
    }

    async fn allocation(&self, case_id: &str) -> Result<Option<Allocation>> {
        let client = self.client().await?;
        client
            .query_opt(
                "SELECT case_id, worker, team FROM allocations WHERE case_id = $1",
                &[&case_id],
            )
            .await?
            .map(|r| {
                Ok(Allocation {
                    case_id: r.try_get(0)?,
                    worker: r.try_get(1)?,
                    team: r.try_get(2)?,
                })
            })
            .transpose()
    }

    async fn visible_cases(&self, audience: &Audience) -> Result<Vec<String>> {
        let client = self.client().await?;
        let (kind, name) = audience_key(audience);
        let sql = if kind == "worker" {
            "SELECT case_id FROM allocations WHERE worker = $1 ORDER BY case_id"
        } else {
            "SELECT case_id FROM allocations WHERE team = $1 ORDER BY case_id"
        };
        let rows = client.query(sql, &[&name]).await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    async fn ever_allocated(&self, worker: &str, case_id: &str) -> Result<bool> {
        let client = self.client().await?;
        Ok(client
            .query_opt(
                "SELECT 1 FROM allocation_history WHERE worker = $1 AND case_id = $2",
                &[&worker, &case_id],
            )
            .await?
            .is_some())
    }

    async fn allocation_events(
        &self,
        audience: &Audience,
        cursor: u64,
    ) -> Result<Vec<AllocationEvent>> {
        let client = self.client().await?;
        let (kind, name) = audience_key(audience);
        let rows = client
            .query(
                "SELECT seq, case_id, change FROM allocation_events
                 WHERE audience_kind = $1 AND audience = $2 AND seq > $3 ORDER BY seq",
                &[&kind, &name, &(cursor as i64)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let change: String = r.try_get(2)?;
                Ok(AllocationEvent {
                    seq: r.try_get::<_, i64>(0)? as u64,
                    case_id: r.try_get(1)?,
                    change: if change == "revoked" {
                        AllocationChange::Revoked
                    } else {
                        AllocationChange::Allocated
                    },
                })
            })
            .collect()
    }

    async fn case_changes(&self, case_id: &str) -> Result<Vec<StoredChange>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT ch.seq, d.id, d.case_id, d.kind, ch.hash, ch.bytes
                 FROM changes ch JOIN docs d ON d.id = ch.doc_id WHERE d.case_id = $1 ORDER BY ch.seq",
                &[&case_id],
            )
            .await?;
        rows.iter().map(stored_change).collect()
    }

    async fn changed_docs(&self, cursor: u64, limit: usize) -> Result<Vec<(u64, DocInfo)>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT max(ch.seq) AS last, d.id, d.case_id, d.kind
                 FROM changes ch JOIN docs d ON d.id = ch.doc_id
                 GROUP BY d.id, d.case_id, d.kind HAVING max(ch.seq) > $1 ORDER BY last LIMIT $2",
                &[&(cursor as i64), &(limit as i64)],
            )
            .await?;
        rows.iter().map(|r| Ok((r.try_get::<_, i64>(0)? as u64, info(r, 1)?))).collect()
    }

    async fn put_projections(
        &self,
        docs: Vec<ProjectedDoc>,
        cases: Vec<ProjectedCase>,
    ) -> Result<()> {
        postgres_projection::put(&mut self.client().await?, &docs, &cases).await
    }

    async fn projected_docs(
        &self,
        scope: &ProjectionScope,
        status: Option<RecordStatus>,
    ) -> Result<Vec<ProjectedDoc>> {
        postgres_projection::docs(&self.client().await?, scope, status).await
    }

    async fn projected_cases(&self, scope: &ProjectionScope) -> Result<Vec<ProjectedCase>> {
        postgres_projection::cases(&self.client().await?, scope).await
    }

    async fn visit_projections(
        &self,
        scope: &ProjectionScope,
        mut visitor: Box<dyn ProjectionVisitor>,
    ) -> Result<Box<dyn ProjectionVisitor>> {
        postgres_projection::visit(&mut self.client().await?, scope, visitor.as_mut()).await?;
        Ok(visitor)
    }

    async fn clear_projections(&self) -> Result<()> {
        postgres_projection::clear(&mut self.client().await?).await
    }
}

/// The highest committed sequence number (0 when empty). Not the sequence's `last_value`: that
/// counts numbers taken by transactions still in flight, and a cursor set past one of those would
/// skip its changes once it commits. Writers take numbers and commit under `WRITE_LOCK`, so commits
/// arrive in sequence order and the committed maximum is a safe cursor.
async fn head_of(client: &impl deadpool_postgres::GenericClient) -> Result<u64> {
    let row = client
        .query_one(
            "SELECT GREATEST(
                 (SELECT COALESCE(max(seq), 0) FROM changes),
                 (SELECT COALESCE(max(seq), 0) FROM allocation_events))",
            &[],
        )
        .await?;
    Ok(row.try_get::<_, i64>(0)? as u64)
}

async fn head_in(tx: &deadpool_postgres::Transaction<'_>) -> Result<u64> {
    head_of(tx).await
}
