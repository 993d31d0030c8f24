//! The SQLite side of the oversight projections (`Storage::put_projections` and the reads): plain
//! functions on the connection, called by `sqlite::SqliteStorage` on its blocking pool.

use fieldbook_core::records::{RecordKind, RecordStatus};
use rusqlite::{params, Connection, TransactionBehavior};

use super::{
    Allocation, CaseRow, DocRow, ProjectedCase, ProjectedDoc, ProjectionScope, ProjectionVisitor,
    Result,
};

fn code_err(i: usize, e: fieldbook_core::codes::UnknownCode) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
}

pub(super) fn put(
    conn: &mut Connection,
    docs: &[ProjectedDoc],
    cases: &[ProjectedCase],
) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    write(&tx, docs, cases)?;
    tx.commit()?;
    Ok(())
}

/// Writes the rows on `conn` inside the caller's transaction (`put`, and the append that
/// carries its documents' rows: `SqliteStorage::append_projected`).
pub(super) fn write(
    conn: &Connection,
    docs: &[ProjectedDoc],
    cases: &[ProjectedCase],
) -> Result<()> {
    for d in docs {
        conn.prepare_cached(
            "INSERT INTO oversight_docs (id, case_id, kind, status, data) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(id) DO UPDATE SET case_id = ?2, kind = ?3, status = ?4, data = ?5",
        )?
        .execute(params![d.id, d.case_id, d.kind.code(), d.status.code(), d.data])?;
    }
    for c in cases {
        conn.execute(
            "INSERT INTO oversight_cases (case_id, data) VALUES (?1, ?2)
             ON CONFLICT(case_id) DO UPDATE SET data = ?2",
            params![c.case_id, c.data],
        )?;
    }
    Ok(())
}

/// The scope as a WHERE clause on `x.case_id` and its parameter.
fn scope_clause(scope: &ProjectionScope) -> (&'static str, Option<&str>) {
    match scope {
        ProjectionScope::All => ("1 = 1 OR ?1 IS NULL", None),
        ProjectionScope::Team(team) => {
            ("x.case_id IN (SELECT case_id FROM allocations WHERE team = ?1)", Some(team))
        }
        ProjectionScope::Case(case) => ("x.case_id = ?1", Some(case)),
    }
}

pub(super) fn docs(
    conn: &Connection,
    scope: &ProjectionScope,
    status: Option<RecordStatus>,
) -> Result<Vec<ProjectedDoc>> {
    let (clause, arg) = scope_clause(scope);
    // The status is in the SQL only when asked for: `?2 IS NULL OR x.status = ?2` would keep
    // SQLite from the (status, case_id) index, and the team page reads its submitted records
    // through it (a prepared statement is planned once, whatever its parameters).
    let status_clause = if status.is_some() { "x.status = ?2" } else { "?2 IS NULL" };
    let sql = format!(
        "SELECT x.id, x.case_id, x.kind, x.status, x.data FROM oversight_docs x
         WHERE ({clause}) AND {status_clause} ORDER BY x.id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![arg, status.map(|s| s.code())], |r| {
            Ok(ProjectedDoc {
                id: r.get(0)?,
                case_id: r.get(1)?,
                // Borrowed, not copied: the board reads every record's row.
                kind: RecordKind::from_code(r.get_ref(2)?.as_str()?).map_err(|e| code_err(2, e))?,
                status: RecordStatus::from_code(r.get_ref(3)?.as_str()?)
                    .map_err(|e| code_err(3, e))?,
                data: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub(super) fn cases(conn: &Connection, scope: &ProjectionScope) -> Result<Vec<ProjectedCase>> {
    let (clause, arg) = scope_clause(scope);
    let sql = format!(
        "SELECT x.case_id, x.data, a.worker, a.team FROM oversight_cases x
         LEFT JOIN allocations a ON a.case_id = x.case_id
         WHERE {clause} ORDER BY x.case_id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![arg], |r| {
            let case_id: String = r.get(0)?;
            let worker: Option<String> = r.get(2)?;
            let team: Option<String> = r.get(3)?;
            let allocation = match (worker, team) {
                (Some(worker), Some(team)) => {
                    Some(Allocation { case_id: case_id.clone(), worker, team })
                }
                _ => None,
            };
            Ok(ProjectedCase { case_id, data: r.get(1)?, allocation })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

fn text<'r>(r: &'r rusqlite::Row<'_>, i: usize) -> rusqlite::Result<&'r str> {
    Ok(r.get_ref(i)?.as_str()?)
}

fn text_or_null<'r>(r: &'r rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<&'r str>> {
    Ok(r.get_ref(i)?.as_str_or_null()?)
}

/// `Storage::visit_projections`: the rows of `cases` and of `docs` (no status) in one read
/// transaction, each handed to the visitor borrowed from the statement's row.
pub(super) fn visit(
    conn: &mut Connection,
    scope: &ProjectionScope,
    visitor: &mut dyn ProjectionVisitor,
) -> Result<()> {
    let (clause, arg) = scope_clause(scope);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
    {
        let sql = format!(
            "SELECT x.case_id, x.data, a.worker, a.team FROM oversight_cases x
             LEFT JOIN allocations a ON a.case_id = x.case_id
             WHERE {clause} ORDER BY x.case_id"
        );
        let mut stmt = tx.prepare_cached(&sql)?;
        let mut rows = stmt.query(params![arg])?;
        while let Some(r) = rows.next()? {
            let (worker, team) = (text_or_null(r, 2)?, text_or_null(r, 3)?);
            visitor.case(CaseRow {
                case_id: text(r, 0)?,
                data: text(r, 1)?,
                // As `cases`: an allocation is a worker and a team.
                worker: team.and(worker),
                team: worker.and(team),
            })?;
        }
    }
    {
        let sql = format!(
            "SELECT x.id, x.case_id, x.kind, x.status, x.data FROM oversight_docs x
             WHERE {clause} ORDER BY x.id"
        );
        let mut stmt = tx.prepare_cached(&sql)?;
        let mut rows = stmt.query(params![arg])?;
        while let Some(r) = rows.next()? {
            visitor.doc(DocRow {
                id: text(r, 0)?,
                case_id: text(r, 1)?,
                kind: RecordKind::from_code(text(r, 2)?).map_err(|e| code_err(2, e))?,
                status: RecordStatus::from_code(text(r, 3)?).map_err(|e| code_err(3, e))?,
                data: text(r, 4)?,
            })?;
        }
    }
    tx.commit()?;
    Ok(())
}

pub(super) fn clear(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch("DELETE FROM oversight_docs; DELETE FROM oversight_cases;")?;
    tx.commit()?;
    Ok(())
}
