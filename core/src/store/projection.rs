//! Projection rows: the columns lists and the worklist need, written in the same transaction as
//! the document change they reflect, so they never disagree with the documents.

use rusqlite::{params, Transaction};

use crate::document::{fields::IsoString, RecordDoc};
use crate::error::Result;
use crate::records::{RecordBody, RecordStatus};

/// Writes the projection row of `doc`. `conflicts` is the number of conflicted fields, or `None`
/// to keep the count the row has.
pub(super) fn upsert(
    tx: &Transaction<'_>,
    doc: &RecordDoc,
    conflicts: Option<usize>,
    now: &str,
) -> Result<()> {
    let meta = doc.meta();
    let body = doc.body();
    let conflicts = conflicts.map(|n| n as i64);
    let mut occurred_on = None;
    let mut visit_kind = None;
    let mut child_seen = None;
    let mut seen_alone = None;
    let mut authorised_on = None;
    match body {
        RecordBody::Visit(v) => {
            occurred_on = Some(v.started_at.date_naive().to_iso());
            visit_kind = Some(v.kind.code());
            child_seen = v.child_seen;
            seen_alone = v.seen_alone;
        }
        RecordBody::Assessment(a) => {
            occurred_on = Some(a.start_date.to_iso());
            child_seen = a.child_seen;
            authorised_on = a.authorisation_date.map(|d| d.to_iso());
        }
        RecordBody::CaseNote(n) => occurred_on = Some(n.occurred_at.date_naive().to_iso()),
        RecordBody::CaseSummary(s) => {
            tx.execute(
                "INSERT INTO cases (case_id, summary_id, local_child_id, name, summary_json)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(case_id) DO UPDATE SET summary_id = ?2, local_child_id = ?3,
                     name = ?4, summary_json = ?5",
                params![meta.case_id, meta.id, s.local_child_id, s.name, serde_json::to_string(s)?],
            )?;
        }
    }
    if meta.status == RecordStatus::Authorised && authorised_on.is_none() {
        authorised_on = meta.oversight.as_ref().map(|o| o.at.date_naive().to_iso());
    }
    tx.execute(
        "INSERT INTO records (id, kind, case_id, status, occurred_on, visit_kind, child_seen,
             seen_alone, authorised_on, created_by, created_at, updated_at, amended, conflicts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ifnull(?14, 0))
         ON CONFLICT(id) DO UPDATE SET status = ?4, occurred_on = ?5, visit_kind = ?6,
             child_seen = ?7, seen_alone = ?8, authorised_on = ?9, updated_at = ?12,
             amended = ?13, conflicts = ifnull(?14, conflicts)",
        params![
            meta.id,
            meta.kind.code(),
            meta.case_id,
            meta.status.code(),
            occurred_on,
            visit_kind,
            child_seen,
            seen_alone,
            authorised_on,
            meta.created_by,
            meta.created_at.to_rfc3339(),
            now,
            !meta.amendments.is_empty(),
            conflicts,
        ],
    )?;
    Ok(())
}
