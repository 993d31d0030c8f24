//! Reading the oversight projections by visiting their rows (`Storage::visit_projections`): each
//! row is handed to the caller's fold as it is read, its text borrowed from the database's row
//! buffer, so that a page over the whole council (the board) neither builds a `String` per column
//! nor holds every row at once (docs/benchmarks.md, "Oversight pages").

use std::any::Any;

use fieldbook_core::records::{RecordKind, RecordStatus};

use super::{ProjectionScope, Result, Storage, StorageError};

/// One case projection row as read, with the case's current allocation (if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseRow<'a> {
    pub case_id: &'a str,
    pub data: &'a str,
    pub worker: Option<&'a str>,
    pub team: Option<&'a str>,
}

/// One document projection row as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocRow<'a> {
    pub id: &'a str,
    pub case_id: &'a str,
    pub kind: RecordKind,
    pub status: RecordStatus,
    pub data: &'a str,
}

/// A fold over the projections in a scope: every case row (by case id), then every document row
/// (by id), from one snapshot. An error from either call stops the read and is returned by it.
///
/// Owned and `'static` because the SQLite backend runs the read on its blocking pool; the fold is
/// handed back when the read ends (`fold_projections` does the downcast).
pub trait ProjectionVisitor: Any + Send {
    fn case(&mut self, row: CaseRow<'_>) -> Result<()>;
    fn doc(&mut self, row: DocRow<'_>) -> Result<()>;
    /// `self` as `Any`, to be given back to the caller as its own type.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

/// Visits the projections in `scope` with `fold` and returns it, folded.
pub async fn fold_projections<V: ProjectionVisitor>(
    storage: &dyn Storage,
    scope: &ProjectionScope,
    fold: V,
) -> Result<V> {
    let back = storage.visit_projections(scope, Box::new(fold)).await?;
    back.into_any()
        .downcast::<V>()
        .map(|v| *v)
        .map_err(|_| StorageError::Task("the storage gave back another visitor".into()))
}
