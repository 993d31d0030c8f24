//! Reads the UI needs. Lists come from projection rows only; a record in full or its history loads
//! the one document asked for.

use automerge::ChangeHash;
use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::documents::decode_heads;
use super::Store;
use crate::document::HistoryEntry;
use crate::error::{Error, Result};
use crate::records::{CaseSummary, Record, RecordKind, RecordStatus, VisitKind};
use crate::terms::fields::IsoString;

/// A case held on this device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseRow {
    pub case_id: String,
    pub local_child_id: String,
    pub name: String,
    pub summary: CaseSummary,
}

/// A record as listed: no document loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordRow {
    pub id: String,
    pub kind: RecordKind,
    pub case_id: String,
    pub status: RecordStatus,
    pub occurred_on: Option<chrono::NaiveDate>,
    pub visit_kind: Option<VisitKind>,
    pub child_seen: Option<bool>,
    pub seen_alone: Option<bool>,
    pub authorised_on: Option<chrono::NaiveDate>,
    pub created_by: String,
    /// Edited after authorisation.
    pub amended: bool,
    /// Number of fields with concurrent values to resolve.
    pub conflicts: u32,
    /// Whether the server has acknowledged every change of this record.
    pub acknowledged: bool,
}

const RECORD_COLUMNS: &str = "r.id, r.kind, r.case_id, r.status, r.occurred_on, r.visit_kind,
    r.child_seen, r.seen_alone, r.authorised_on, r.created_by, r.amended, r.conflicts,
    d.acked_heads IS NOT NULL AND d.acked_heads = d.heads";

fn code<T>(
    row: &Row<'_>,
    i: usize,
    parse: fn(&str) -> Result<T, crate::codes::UnknownCode>,
) -> rusqlite::Result<T> {
    let s: String = row.get(i)?;
    parse(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn date(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<chrono::NaiveDate>> {
    Ok(row.get::<_, Option<String>>(i)?.and_then(|s| chrono::NaiveDate::from_iso(&s)))
}

fn record_row(row: &Row<'_>) -> rusqlite::Result<RecordRow> {
    Ok(RecordRow {
        id: row.get(0)?,
        kind: code(row, 1, RecordKind::from_code)?,
        case_id: row.get(2)?,
        status: code(row, 3, RecordStatus::from_code)?,
        occurred_on: date(row, 4)?,
        visit_kind: match row.get::<_, Option<String>>(5)? {
            Some(_) => Some(code(row, 5, VisitKind::from_code)?),
            None => None,
        },
        child_seen: row.get(6)?,
        seen_alone: row.get(7)?,
        authorised_on: date(row, 8)?,
        created_by: row.get(9)?,
        amended: row.get(10)?,
        conflicts: row.get(11)?,
        acknowledged: row.get(12)?,
    })
}

impl Store {
    /// The cases held on this device (allocated to this worker, or the team for a manager).
    pub fn cases(&self) -> Result<Vec<CaseRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT case_id, local_child_id, name, summary_json FROM cases ORDER BY name, case_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (case_id, local_child_id, name, json) = row?;
            out.push(CaseRow {
                case_id,
                local_child_id,
                name,
                summary: serde_json::from_str(&json)?,
            });
        }
        Ok(out)
    }

    /// A case's records (visits, assessments, notes), newest first.
    pub fn case_records(&self, case_id: &str) -> Result<Vec<RecordRow>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records r JOIN documents d ON d.id = r.id
             WHERE r.case_id = ?1 AND r.kind != 'case_summary'
               AND r.case_id NOT IN (SELECT case_id FROM revoked_cases)
             ORDER BY r.occurred_on DESC, r.created_at DESC"
        ))?;
        let rows = stmt.query_map([case_id], record_row)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Records with changes the server has not acknowledged ("on this tablet only").
    pub fn unacknowledged(&self) -> Result<Vec<RecordRow>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records r JOIN documents d ON d.id = r.id
             WHERE d.acked_heads IS NULL OR d.acked_heads != d.heads
             ORDER BY r.updated_at"
        ))?;
        let rows = stmt.query_map([], record_row)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// One record's projection row.
    pub fn record_row(&self, id: &str) -> Result<RecordRow> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records r JOIN documents d ON d.id = r.id WHERE r.id = ?1"
        ))?;
        stmt.query_row([id], record_row)
            .optional()?
            .ok_or_else(|| Error::NotFound { id: id.into() })
    }

    /// A record in full, with its conflicts.
    pub fn record(&mut self, id: &str) -> Result<Record> {
        self.with_doc(id, |doc| doc.record())
    }

    /// Who changed what, when, from which device.
    pub fn history(&mut self, id: &str) -> Result<Vec<HistoryEntry>> {
        self.with_doc(id, |doc| Ok(doc.history()))
    }

    /// The current heads of a record.
    pub fn heads(&self, id: &str) -> Result<Vec<ChangeHash>> {
        let heads: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT heads FROM documents WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        decode_heads(&heads.ok_or_else(|| Error::NotFound { id: id.into() })?)
    }

    pub(super) fn case_summary_id(&self, case_id: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id FROM documents WHERE case_id = ?1 AND kind = 'case_summary'",
                params![case_id],
                |r| r.get(0),
            )
            .optional()?)
    }
}

/// What the records take on disk, before SQLite's page overhead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBytes {
    /// Automerge snapshots and change chunks.
    pub documents: i64,
    /// Projection columns.
    pub projections: i64,
}

impl Store {
    pub fn stored_bytes(&self) -> Result<StoredBytes> {
        let snapshots: i64 =
            self.conn.query_row("SELECT ifnull(sum(length(data)), 0) FROM snapshots", [], |r| {
                r.get(0)
            })?;
        let chunks: i64 =
            self.conn
                .query_row("SELECT ifnull(sum(length(data)), 0) FROM chunks", [], |r| r.get(0))?;
        let projections: i64 = self.conn.query_row(
            "SELECT ifnull(sum(length(id) + length(kind) + length(case_id) + length(status)
                 + ifnull(length(occurred_on), 0) + ifnull(length(visit_kind), 0)
                 + ifnull(length(authorised_on), 0) + length(created_by) + length(created_at)
                 + length(updated_at) + 4), 0) FROM records",
            [],
            |r| r.get(0),
        )?;
        Ok(StoredBytes { documents: snapshots + chunks, projections })
    }
}
