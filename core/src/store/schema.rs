//! The store's schema and its migrations, in one place, keyed by SQLite's `user_version`.
//!
//! Each migration runs in an IMMEDIATE transaction with the version bump, so a crash mid-upgrade
//! leaves the previous version intact. `test_upgrade_from_every_version` checks that upgrading the
//! oldest schema gives exactly the fresh one.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Error, Result};

/// Every migration, in order: `MIGRATIONS[i]` upgrades version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: documents, change chunks, projections, cases, sync bookkeeping, settings.
    r#"
    -- One row per document, kept small (no blobs of content) so that joins from list queries
    -- read few pages: every page read is a page decrypted.
    CREATE TABLE documents (
        id             TEXT PRIMARY KEY,
        kind           TEXT NOT NULL,
        case_id        TEXT NOT NULL,
        -- The heads of the document after the last chunk (hashes, 32 bytes each, sorted).
        heads          BLOB NOT NULL,
        snapshot_bytes INTEGER NOT NULL,
        chunk_count    INTEGER NOT NULL DEFAULT 0,
        chunk_bytes    INTEGER NOT NULL DEFAULT 0,
        -- Heads the server has acknowledged holding; NULL until the first acknowledgement.
        acked_heads   BLOB,
        acked_at      TEXT,
        updated_at    TEXT NOT NULL
    );
    CREATE INDEX documents_case ON documents(case_id);

    -- A compacted Automerge save of each document.
    CREATE TABLE snapshots (
        doc_id  TEXT PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
        data    BLOB NOT NULL
    );

    -- Incremental changes appended by each write since the last compaction.
    CREATE TABLE chunks (
        doc_id  TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        seq     INTEGER NOT NULL,
        data    BLOB NOT NULL,
        PRIMARY KEY (doc_id, seq)
    );

    -- One row per record with what lists and the worklist need: never load a document to list.
    CREATE TABLE records (
        id            TEXT PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
        kind          TEXT NOT NULL,
        case_id       TEXT NOT NULL,
        status        TEXT NOT NULL,
        occurred_on   TEXT,
        visit_kind    TEXT,
        child_seen    INTEGER,
        seen_alone    INTEGER,
        authorised_on TEXT,
        created_by    TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        amended       INTEGER NOT NULL DEFAULT 0,
        conflicts     INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX records_case ON records(case_id, occurred_on);

    -- The case summary projection: one row per case held on this device.
    CREATE TABLE cases (
        case_id        TEXT PRIMARY KEY,
        summary_id     TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        local_child_id TEXT NOT NULL,
        name           TEXT NOT NULL,
        summary_json   TEXT NOT NULL
    );

    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    "#,
    // 2: attachments (photos, signatures, audio), content-addressed by SHA-256, their bytes in
    // chunk rows of this (SQLCipher) database: encrypted with the store's key, removed with their
    // record (ON DELETE CASCADE, so a purged case takes its attachments with it) and overwritten
    // on delete (secure_delete). docs/decisions.md, "Attachments on the device".
    r#"
    CREATE TABLE attachments (
        record_id    TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        hash         TEXT NOT NULL,
        media_type   TEXT NOT NULL,
        size         INTEGER NOT NULL,
        -- 'local': on this tablet only; 'delivered': the server holds it (delivered_at set);
        -- 'fetched': fetched from the server when it was opened.
        state        TEXT NOT NULL,
        delivered_at TEXT,
        PRIMARY KEY (record_id, hash)
    );
    CREATE TABLE attachment_chunks (
        record_id TEXT NOT NULL,
        hash      TEXT NOT NULL,
        seq       INTEGER NOT NULL,
        data      BLOB NOT NULL,
        PRIMARY KEY (record_id, hash, seq),
        FOREIGN KEY (record_id, hash) REFERENCES attachments(record_id, hash) ON DELETE CASCADE
    );
    "#,
    // 3: evidence-grade records (issue #16). The device's Ed25519 keys (the secret never leaves
    // this encrypted database; `current` marks the one that signs, older ones are kept after a
    // rotation), the signature of every change held (CBOR `ChangeSignature`), the server's
    // registrations of the keys that signed what this device received, and the server's signed
    // receipt of each document's last acknowledgement.
    r#"
    CREATE TABLE device_keys (
        public     BLOB PRIMARY KEY,
        secret     BLOB NOT NULL,
        created_at TEXT NOT NULL,
        current    INTEGER NOT NULL
    );
    CREATE TABLE change_signatures (
        doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        hash   BLOB NOT NULL,
        data   BLOB NOT NULL,
        PRIMARY KEY (doc_id, hash)
    );
    CREATE TABLE known_keys (
        key  BLOB PRIMARY KEY,
        data BLOB NOT NULL
    );
    CREATE TABLE receipts (
        doc_id TEXT PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
        data   BLOB NOT NULL
    );
    "#,
    // 4: cases the server revoked whose late work is still on the device, waiting for the
    // server's acknowledgement (`store::revocation`).
    r#"
    CREATE TABLE revoked_cases (
        case_id TEXT PRIMARY KEY
    );
    "#,
    // 5: documents stored as they were received and listed from the server's list row, never
    // loaded yet (issue #13: a new tablet's caseload). Their signatures were checked on receipt;
    // the first load checks the document is what its row says and derives the row again
    // (`store::documents`, "listed").
    r#"
    ALTER TABLE documents ADD COLUMN listed INTEGER NOT NULL DEFAULT 0;
    "#,
];

/// The schema version this build writes.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to `CURRENT_VERSION`, refusing a database written by a newer build.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > CURRENT_VERSION {
        return Err(Error::StoreTooNew { found: version, supported: CURRENT_VERSION });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn schema(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name")
            .unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect()
    }

    #[test]
    fn test_upgrade_from_every_version() {
        let mut fresh = Connection::open_in_memory().unwrap();
        migrate(&mut fresh).unwrap();
        for start in 0..CURRENT_VERSION {
            let mut old = Connection::open_in_memory().unwrap();
            for sql in &MIGRATIONS[..start as usize] {
                old.execute_batch(sql).unwrap();
            }
            old.pragma_update(None, "user_version", start).unwrap();
            migrate(&mut old).unwrap();
            assert_eq!(schema(&old), schema(&fresh), "upgrade from version {start}");
            let v: i64 = old.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
            assert_eq!(v, CURRENT_VERSION);
        }
    }

    #[test]
    fn newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", CURRENT_VERSION + 1).unwrap();
        assert!(matches!(migrate(&mut conn), Err(Error::StoreTooNew { .. })));
    }
}
