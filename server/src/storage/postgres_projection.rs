//! The PostgreSQL side of the oversight projections: plain functions on a pooled client, called
//! by `postgres::PostgresStorage`.

use deadpool_postgres::Object;
use fieldbook_core::records::{RecordKind, RecordStatus};
use futures_util::TryStreamExt;
use tokio_postgres::IsolationLevel;

use super::{
    Allocation, CaseRow, DocRow, ProjectedCase, ProjectedDoc, ProjectionScope, ProjectionVisitor,
    Result, StorageError,
};

fn corrupt(e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(e.to_string())
}

pub(super) async fn put(
    client: &mut Object,
    docs: &[ProjectedDoc],
    cases: &[ProjectedCase],
) -> Result<()> {
    let tx = client.transaction().await?;
    for d in docs {
        tx.execute(
            "INSERT INTO oversight_docs (id, case_id, kind, status, data) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET case_id = $2, kind = $3, status = $4, data = $5",
            &[&d.id, &d.case_id, &d.kind.code(), &d.status.code(), &d.data],
        )
        .await?;
    }
    for c in cases {
        tx.execute(
            "INSERT INTO oversight_cases (case_id, data) VALUES ($1, $2)
             ON CONFLICT (case_id) DO UPDATE SET data = $2",
            &[&c.case_id, &c.data],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The scope as a WHERE clause on `x.case_id`; its parameter is always `$1` (unused by `All`,
/// which compares it with itself so that the parameter count stays fixed).
fn scope_clause(scope: &ProjectionScope) -> (&'static str, String) {
    match scope {
        ProjectionScope::All => ("$1::text = $1::text", String::new()),
        ProjectionScope::Team(team) => {
            ("x.case_id IN (SELECT case_id FROM allocations WHERE team = $1)", team.clone())
        }
        ProjectionScope::Case(case) => ("x.case_id = $1", case.clone()),
    }
}

pub(super) async fn docs(
    client: &Object,
    scope: &ProjectionScope,
    status: Option<RecordStatus>,
) -> Result<Vec<ProjectedDoc>> {
    let (clause, arg) = scope_clause(scope);
    let status = status.map(|s| s.code().to_string());
    let sql = format!(
        "SELECT x.id, x.case_id, x.kind, x.status, x.data FROM oversight_docs x
         WHERE ({clause}) AND ($2::text IS NULL OR x.status = $2) ORDER BY x.id"
    );
    let rows = client.query(&sql, &[&arg, &status]).await?;
    rows.iter()
        .map(|r| {
            Ok(ProjectedDoc {
                id: r.try_get(0)?,
                case_id: r.try_get(1)?,
                kind: RecordKind::from_code(r.try_get(2)?).map_err(corrupt)?,
                status: RecordStatus::from_code(r.try_get(3)?).map_err(corrupt)?,
                data: r.try_get(4)?,
            })
        })
        .collect()
}

pub(super) async fn cases(client: &Object, scope: &ProjectionScope) -> Result<Vec<ProjectedCase>> {
    let (clause, arg) = scope_clause(scope);
    let sql = format!(
        "SELECT x.case_id, x.data, a.worker, a.team FROM oversight_cases x
         LEFT JOIN allocations a ON a.case_id = x.case_id
         WHERE {clause} ORDER BY x.case_id"
    );
    let rows = client.query(&sql, &[&arg]).await?;
    rows.iter()
        .map(|r| {
            let case_id: String = r.try_get(0)?;
            let worker: Option<String> = r.try_get(2)?;
            let team: Option<String> = r.try_get(3)?;
            let allocation = match (worker, team) {
                (Some(worker), Some(team)) => {
                    Some(Allocation { case_id: case_id.clone(), worker, team })
                }
                _ => None,
            };
            Ok(ProjectedCase { case_id, data: r.try_get(1)?, allocation })
        })
        .collect()
}

/// `Storage::visit_projections`: the rows of `cases` and of `docs` (no status) in one read-only
/// repeatable-read transaction (one snapshot), streamed, each handed to the visitor borrowed
/// from its row.
pub(super) async fn visit(
    client: &mut Object,
    scope: &ProjectionScope,
    visitor: &mut dyn ProjectionVisitor,
) -> Result<()> {
    let (clause, arg) = scope_clause(scope);
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let sql = format!(
        "SELECT x.case_id, x.data, a.worker, a.team FROM oversight_cases x
         LEFT JOIN allocations a ON a.case_id = x.case_id
         WHERE {clause} ORDER BY x.case_id"
    );
    let rows = tx.query_raw(&sql, [&arg]).await?;
    let mut rows = std::pin::pin!(rows);
    while let Some(r) = rows.try_next().await? {
        let worker: Option<&str> = r.try_get(2)?;
        let team: Option<&str> = r.try_get(3)?;
        visitor.case(CaseRow {
            case_id: r.try_get(0)?,
            data: r.try_get(1)?,
            // As `cases`: an allocation is a worker and a team.
            worker: team.and(worker),
            team: worker.and(team),
        })?;
    }
    let sql = format!(
        "SELECT x.id, x.case_id, x.kind, x.status, x.data FROM oversight_docs x
         WHERE {clause} ORDER BY x.id"
    );
    let rows = tx.query_raw(&sql, [&arg]).await?;
    let mut rows = std::pin::pin!(rows);
    while let Some(r) = rows.try_next().await? {
        visitor.doc(DocRow {
            id: r.try_get(0)?,
            case_id: r.try_get(1)?,
            kind: RecordKind::from_code(r.try_get(2)?).map_err(corrupt)?,
            status: RecordStatus::from_code(r.try_get(3)?).map_err(corrupt)?,
            data: r.try_get(4)?,
        })?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn clear(client: &mut Object) -> Result<()> {
    let tx = client.transaction().await?;
    tx.batch_execute("DELETE FROM oversight_docs; DELETE FROM oversight_cases;").await?;
    tx.commit().await?;
    Ok(())
}
