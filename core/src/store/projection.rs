//! Projection rows: the columns lists and the worklist need, written in the same transaction as
//! the document change they reflect, so they never disagree with the documents. Dates derived
//! from instants are Europe/London dates (`rules::local_date`), as the rules count them.

use rusqlite::{params, Transaction};

use crate::document::RecordDoc;
use crate::error::Result;
use crate::protocol::ListRow;
use crate::records::RecordKind;
use crate::terms::fields::IsoString;

/// Writes the projection row of `doc`. `conflicts` is the number of conflicted fields, or `None`
/// to keep the count the row has.
pub(super) fn upsert(
    tx: &Transaction<'_>,
    doc: &RecordDoc,
    conflicts: Option<usize>,
    now: &str,
) -> Result<()> {
    let meta = doc.meta();
    write_row(tx, &meta.id, meta.kind, &meta.case_id, &ListRow::of(doc), conflicts, now)
}

/// Writes a record's list row (derived here by `ListRow::of`, or received from the server beside
/// a document stored without loading it: `exchange::stage_listed`), and for a case summary the
/// case's row.
pub(super) fn write_row(
    tx: &Transaction<'_>,
    id: &str,
    kind: RecordKind,
    case_id: &str,
    row: &ListRow,
    conflicts: Option<usize>,
    now: &str,
) -> Result<()> {
    if let Some(s) = &row.summary {
        tx.execute(
            "INSERT INTO cases (case_id, summary_id, local_child_id, name, summary_json)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(case_id) DO UPDATE SET summary_id = ?2, local_child_id = ?3,
                 name = ?4, summary_json = ?5",
            params![case_id, id, s.local_child_id, s.name, serde_json::to_string(s)?],
        )?;
    }
    let conflicts = conflicts.map(|n| n as i64);
    // Cached: written on every autosave (see `documents::persist_changes`).
    tx.prepare_cached(
        "INSERT INTO records (id, kind, case_id, status, occurred_on, visit_kind, child_seen,
             seen_alone, authorised_on, created_by, created_at, updated_at, amended, conflicts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ifnull(?14, 0))
         ON CONFLICT(id) DO UPDATE SET status = ?4, occurred_on = ?5, visit_kind = ?6,
             child_seen = ?7, seen_alone = ?8, authorised_on = ?9, updated_at = ?12,
             amended = ?13, conflicts = ifnull(?14, conflicts)",
    )?
    .execute(params![
        id,
        kind.code(),
        case_id,
        row.status.code(),
        row.occurred_on.map(|d| d.to_iso()),
        row.visit_kind.map(|k| k.code()),
        row.child_seen,
        row.seen_alone,
        row.authorised_on.map(|d| d.to_iso()),
        row.created_by,
        row.created_at.to_rfc3339(),
        now,
        row.amended,
        conflicts,
    ])?;
    Ok(())
}

/// The version of the rules that derive projection rows from documents, kept in the store's
/// settings. Version 2 derives dates in Europe/London instead of UTC; a store written by an
/// earlier build has rows dated by the old rule, which nothing would rewrite until each record
/// next changed, so opening it re-derives every row once.
const PROJECTION_VERSION: u32 = 2;
const PROJECTION_VERSION_KEY: &str = "projection_version";

/// Documents re-derived per transaction: bounds the memory a large store needs on its first open.
const REFRESH_BATCH: usize = 100;

impl super::Store {
    /// Re-derives every projection row if they were written by older projection rules, in
    /// batches, and then records the version (so a crash part-way starts again on the next open:
    /// re-deriving a row twice gives the same row). Returns how many rows were rewritten. A
    /// document that cannot be loaded keeps its row as it was, and is logged by id only (a load
    /// error may quote document content); the store still opens.
    pub(super) fn refresh_projections(&mut self) -> Result<usize> {
        let current = self.setting(PROJECTION_VERSION_KEY)?.and_then(|v| v.parse::<u32>().ok());
        if current.is_some_and(|v| v >= PROJECTION_VERSION) {
            return Ok(0);
        }
        let ids: Vec<String> = {
            let mut stmt = self.conn.prepare("SELECT id FROM documents ORDER BY id")?;
            let ids = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            ids
        };
        let now = self.now().to_rfc3339();
        let mut written = 0;
        for batch in ids.chunks(REFRESH_BATCH) {
            let mut docs = Vec::with_capacity(batch.len());
            for id in batch {
                match self.take_doc(id) {
                    Ok(doc) => docs.push(doc),
                    Err(_) => tracing::warn!(doc = %id, "projection kept: document unreadable"),
                }
            }
            self.write(|tx| docs.iter().try_for_each(|doc| upsert(tx, doc, None, &now)))?;
            written += docs.len();
            for doc in docs {
                self.cache.put(doc.id().to_string(), doc);
            }
        }
        self.put_setting(PROJECTION_VERSION_KEY, &PROJECTION_VERSION.to_string())?;
        if written > 0 {
            tracing::info!(rows = written, "projection rows re-derived by the current rules");
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use chrono::{DateTime, NaiveDate, Utc};

    use crate::records::{RecordBody, Visit, VisitKind};
    use crate::Store;

    fn open(path: &std::path::Path) -> Store {
        let mut store = Store::open(path, &[3u8; 32], "w1", "tablet-1").unwrap();
        store.set_clock(Box::new(|| DateTime::from_timestamp(1_780_000_000, 0).unwrap()));
        store
    }

    #[test]
    fn rows_dated_in_utc_by_an_older_build_are_re_derived_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let mut store = open(&path);
        let instant: DateTime<Utc> = "2026-06-03T23:30:00Z".parse().unwrap();
        let body = RecordBody::Visit(Visit::new(VisitKind::ChildProtection, instant));
        let id = store.create_record("case-1", &body).unwrap();
        let june = |d| NaiveDate::from_ymd_opt(2026, 6, d).unwrap();
        assert_eq!(store.record_row(&id).unwrap().occurred_on, Some(june(4)));
        // What a build that dated in UTC left behind: the UTC date, and no projection version.
        store
            .conn
            .execute_batch(
                "UPDATE records SET occurred_on = '2026-06-03';
                 DELETE FROM settings WHERE key = 'projection_version';",
            )
            .unwrap();
        drop(store);
        let mut store = open(&path);
        assert_eq!(store.record_row(&id).unwrap().occurred_on, Some(june(4)));
        // The version is recorded: the next open re-derives nothing.
        assert_eq!(store.refresh_projections().unwrap(), 0);
    }
}
