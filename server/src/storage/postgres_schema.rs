//! The PostgreSQL backend's schema: one ordered list of migrations, keyed by the one-row
//! `schema_version` table. `MIGRATIONS[i]` upgrades version `i` to `i + 1`.
//!
//! All pending migrations and the version bump run in one transaction under an advisory lock, so
//! several servers starting together on one database migrate once (the others wait, then find
//! the schema current) and a failed upgrade leaves the previous version intact (PostgreSQL's DDL
//! is transactional). A database whose version is above `CURRENT_VERSION` is refused.
//!
//! Never edit a migration that has shipped: add the next one. `server/tests/storage_migrations.rs`
//! upgrades every earlier version (with data in it) and compares with a fresh schema.

use deadpool_postgres::GenericClient;

use super::{Result, StorageError};

/// Every migration, in order.
pub const MIGRATIONS: &[&str] = &[
    // 1: the schema as the first releases created it, on every start and without a version
    // table: `IF NOT EXISTS` lets such a database be adopted as version 1 as it is.
    r#"
CREATE SEQUENCE IF NOT EXISTS feed_seq;
CREATE TABLE IF NOT EXISTS docs (
    id      TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    kind    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_case ON docs(case_id);
CREATE TABLE IF NOT EXISTS changes (
    seq     BIGINT PRIMARY KEY,
    doc_id  TEXT NOT NULL REFERENCES docs(id),
    hash    BYTEA NOT NULL,
    bytes   BYTEA NOT NULL,
    UNIQUE (doc_id, hash)
);
CREATE INDEX IF NOT EXISTS changes_doc ON changes(doc_id, seq);
CREATE TABLE IF NOT EXISTS allocations (
    case_id TEXT PRIMARY KEY,
    worker  TEXT NOT NULL,
    team    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS allocation_history (
    worker  TEXT NOT NULL,
    case_id TEXT NOT NULL,
    PRIMARY KEY (worker, case_id)
);
CREATE TABLE IF NOT EXISTS allocation_events (
    seq           BIGINT NOT NULL,
    audience_kind TEXT NOT NULL,
    audience      TEXT NOT NULL,
    case_id       TEXT NOT NULL,
    change        TEXT NOT NULL,
    PRIMARY KEY (seq, audience_kind, audience)
);
CREATE INDEX IF NOT EXISTS allocation_events_audience ON allocation_events(audience_kind, audience, seq);
"#,
    // 2: attachments, stored once per hash and linked to each case; uploads in progress as parts.
    r#"
CREATE TABLE attachments (
    hash  TEXT PRIMARY KEY,
    size  BIGINT NOT NULL,
    bytes BYTEA NOT NULL
);
CREATE TABLE attachment_cases (
    hash    TEXT NOT NULL REFERENCES attachments(hash),
    case_id TEXT NOT NULL,
    PRIMARY KEY (hash, case_id)
);
CREATE TABLE attachment_uploads (
    hash    TEXT NOT NULL,
    case_id TEXT NOT NULL,
    "offset" BIGINT NOT NULL,
    bytes   BYTEA NOT NULL,
    PRIMARY KEY (hash, case_id, "offset")
);
"#,
    // 3: the oversight projections (`crate::oversight::projection`), derived from the documents
    // when changes are accepted and rebuilt by `fieldbook-server rebuild-projections`.
    r#"
CREATE TABLE oversight_docs (
    id      TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    kind    TEXT NOT NULL,
    status  TEXT NOT NULL,
    data    TEXT NOT NULL
);
CREATE INDEX oversight_docs_case ON oversight_docs(case_id);
CREATE INDEX oversight_docs_status ON oversight_docs(status, case_id);
CREATE TABLE oversight_cases (
    case_id TEXT PRIMARY KEY,
    data    TEXT NOT NULL
);
CREATE INDEX allocations_team ON allocations(team, case_id);
"#,
    // 4: each document's heads (sorted hashes, concatenated), moved by every append; NULL when
    // unknown (documents stored before this version: the hub records them when it first loads
    // one). The hub's cache of loaded documents is only used when its heads equal these.
    r#"
ALTER TABLE docs ADD COLUMN heads BYTEA;
"#,
    // 5: evidence-grade records (issue #16): each change's signature (CBOR `ChangeSignature`),
    // the device keys as registered (bound to a worker and device, with when and which token),
    // their revocation, and the signed log of key events.
    r#"
ALTER TABLE changes ADD COLUMN signature BYTEA;
CREATE TABLE device_keys (
    id            BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    key           BYTEA PRIMARY KEY,
    worker        TEXT NOT NULL,
    device        TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    token         TEXT NOT NULL,
    revoked_at    TEXT,
    revoked_by    TEXT
);
CREATE INDEX device_keys_worker ON device_keys(worker, device);
CREATE TABLE key_events (
    id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    data BYTEA NOT NULL
);
"#,
    // 6: each feed entry's chained tag and, for the entries stored before it, their tag of
    // before (`legacy`), as SQLite's schema 6. The entries are tagged in order after this SQL
    // runs (`postgres_tags::tag_new_entries`), in the migration's transaction.
    r#"
CREATE TABLE feed_tags (
    seq    BIGINT PRIMARY KEY,
    tag    BYTEA NOT NULL,
    legacy BIGINT
);
"#,
];

/// The first version that tags the feed as a chain (`feed_tags`).
pub const FEED_TAGS_VERSION: i64 = 6;

/// The first version that keeps heads per document (older schemas exist only in the upgrade
/// tests, which write to them with this build).
pub const HEADS_VERSION: i64 = 4;

/// The schema version this build writes.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Taken for the whole migration transaction (a different key from the writers' lock).
const MIGRATION_LOCK: i64 = 0x6669_656c_6462_6d67;

/// The bookkeeping table itself is not a migration: it must exist before the version is read.
const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
)";

/// The recorded schema version (0 when there is no version table or row yet).
pub async fn version(client: &impl GenericClient) -> Result<i64> {
    let exists = client
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await?
        .try_get::<_, bool>(0)?;
    if !exists {
        return Ok(0);
    }
    let row = client.query_opt("SELECT version FROM schema_version WHERE id = 1", &[]).await?;
    Ok(row.map(|r| r.try_get::<_, i64>(0)).transpose()?.unwrap_or(0))
}

/// Creates `schema` if given (the connection's `search_path` names it), then brings the schema to
/// version `target` (at most `CURRENT_VERSION`; tests stop earlier to make old schemas), refusing
/// one written by a newer build.
pub async fn migrate(
    client: &mut deadpool_postgres::Object,
    schema: Option<&str>,
    target: i64,
) -> Result<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    if let Some(schema) = schema {
        // The caller checked the name: letters, digits and _.
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).await?;
    }
    tx.batch_execute(VERSION_TABLE).await?;
    let found = version(&tx).await?;
    if found > CURRENT_VERSION {
        return Err(StorageError::SchemaTooNew { found, supported: CURRENT_VERSION });
    }
    let target = target.clamp(0, CURRENT_VERSION);
    if target > found {
        for (i, sql) in
            MIGRATIONS.iter().enumerate().take(target as usize).skip(found.max(0) as usize)
        {
            tx.batch_execute(sql).await?;
            if i as i64 + 1 == FEED_TAGS_VERSION {
                super::postgres_tags::tag_new_entries(&tx, true).await?;
            }
        }
        tx.execute(
            "INSERT INTO schema_version (id, version) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET version = $1",
            &[&target],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
