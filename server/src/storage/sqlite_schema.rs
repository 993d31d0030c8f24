//! The embedded backend's schema: one ordered list of migrations, keyed by SQLite's
//! `user_version`. `MIGRATIONS[i]` upgrades version `i` to `i + 1`; each runs in an IMMEDIATE
//! transaction with the version bump, so a crash mid-upgrade leaves the previous version intact.
//! A database whose version is above `CURRENT_VERSION` was written by a newer build: refused.
//!
//! Never edit a migration that has shipped: add the next one. `server/tests/storage_migrations.rs`
//! upgrades every earlier version (with data in it) and compares with a fresh database.

use rusqlite::{Connection, TransactionBehavior};

use super::{Result, StorageError};

/// Every migration, in order.
pub const MIGRATIONS: &[&str] = &[
    // 1: the schema as the first releases created it (`IF NOT EXISTS`, since those releases ran it
    // on every start and set the version afterwards: a crash in between left the tables at
    // version 0, and running it again must be harmless).
    r#"
CREATE TABLE IF NOT EXISTS docs (
    id      TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    kind    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_case ON docs(case_id);
-- Every stored change, numbered in the shared feed sequence.
CREATE TABLE IF NOT EXISTS changes (
    seq     INTEGER PRIMARY KEY,
    doc_id  TEXT NOT NULL REFERENCES docs(id),
    hash    BLOB NOT NULL,
    bytes   BLOB NOT NULL,
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
-- One row per audience affected: ('worker', name) or ('team', name).
CREATE TABLE IF NOT EXISTS allocation_events (
    seq           INTEGER NOT NULL,
    audience_kind TEXT NOT NULL,
    audience      TEXT NOT NULL,
    case_id       TEXT NOT NULL,
    change        TEXT NOT NULL,
    PRIMARY KEY (seq, audience_kind, audience)
);
CREATE INDEX IF NOT EXISTS allocation_events_audience ON allocation_events(audience_kind, audience, seq);
-- The shared sequence: changes and allocation events interleave in one order.
CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
INSERT OR IGNORE INTO counter (id, value) VALUES (1, 0);
"#,
    // 2: attachments, stored once per hash and linked to each case; uploads in progress as parts.
    r#"
CREATE TABLE attachments (
    hash  TEXT PRIMARY KEY,
    size  INTEGER NOT NULL,
    bytes BLOB NOT NULL
);
CREATE TABLE attachment_cases (
    hash    TEXT NOT NULL REFERENCES attachments(hash),
    case_id TEXT NOT NULL,
    PRIMARY KEY (hash, case_id)
);
CREATE TABLE attachment_uploads (
    hash    TEXT NOT NULL,
    case_id TEXT NOT NULL,
    offset  INTEGER NOT NULL,
    bytes   BLOB NOT NULL,
    PRIMARY KEY (hash, case_id, offset)
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
ALTER TABLE docs ADD COLUMN heads BLOB;
"#,
    // 5: evidence-grade records (issue #16): each change's signature (CBOR `ChangeSignature`),
    // the device keys as registered (bound to a worker and device, with when and which token),
    // their revocation, and the signed log of key events.
    r#"
ALTER TABLE changes ADD COLUMN signature BLOB;
CREATE TABLE device_keys (
    key           BLOB PRIMARY KEY,
    worker        TEXT NOT NULL,
    device        TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    token         TEXT NOT NULL,
    revoked_at    TEXT,
    revoked_by    TEXT
);
CREATE INDEX device_keys_worker ON device_keys(worker, device);
CREATE TABLE key_events (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    data BLOB NOT NULL
);
"#,
    // 6: each feed entry's chained tag (SHA-256 over the previous tag and the entry, issue
    // #12's bug 4), and for the entries stored before it, their tag of before (`legacy`), which
    // devices hold with their cursors. The entries are tagged in order after this SQL runs
    // (`sqlite_tags::tag_new_entries`), in the same transaction.
    r#"
CREATE TABLE feed_tags (
    seq    INTEGER PRIMARY KEY,
    tag    BLOB NOT NULL,
    legacy INTEGER
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

/// The database's schema version (0 for a new file).
pub fn version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings the database to version `target` (at most `CURRENT_VERSION`; tests stop earlier to make
/// old schemas), refusing one written by a newer build.
pub fn migrate(conn: &mut Connection, target: i64) -> Result<()> {
    let found = version(conn)?;
    if found > CURRENT_VERSION {
        return Err(StorageError::SchemaTooNew { found, supported: CURRENT_VERSION });
    }
    let target = target.clamp(0, CURRENT_VERSION);
    for (i, sql) in MIGRATIONS.iter().enumerate().take(target as usize).skip(found.max(0) as usize)
    {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        if i as i64 + 1 == FEED_TAGS_VERSION {
            super::sqlite_tags::tag_new_entries(&tx, true)?;
        }
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
