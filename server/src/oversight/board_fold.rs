//! The board's figures folded over the projection rows as storage reads them
//! (`Storage::visit_projections`): no row is kept and no column copied, only what the figures
//! need of each (docs/benchmarks.md, "Oversight pages"). The counting is `figures::Tally`, the
//! same as `figures::board_of` over collected rows; `server/tests/board_fold.rs` compares the two
//! on both backends.

use std::collections::HashMap;

use chrono::NaiveDate;
use fieldbook_core::records::{ChildProtectionPlan, LookedAfterEpisode, RecordKind, VisitKind};

use super::figures::{BoardFigures, Tally};
use super::rows::{BoardFacts, EpisodesOnly};
use crate::storage::{
    fold_projections, CaseRow, DocRow, ProjectionScope, ProjectionVisitor, Result, Storage,
    StorageError,
};

/// A case as the fold keeps it until every record is read: its episodes and the dates of its
/// visits with the child seen (only for the episodes it has).
#[derive(Debug)]
struct FoldCase {
    child_protection: Option<ChildProtectionPlan>,
    looked_after: Option<LookedAfterEpisode>,
    cp_visits: Vec<NaiveDate>,
    la_visits: Vec<NaiveDate>,
}

/// The fold: cases come first (storage's order), so a record finds its case by id.
#[derive(Debug)]
pub struct BoardFold {
    tally: Tally,
    cases: Vec<FoldCase>,
    index: HashMap<Box<str>, usize>,
}

fn corrupt(what: &str, id: &str, e: serde_json::Error) -> StorageError {
    StorageError::Corrupt(format!("projection of {what} {id}: {e}"))
}

impl BoardFold {
    pub fn new(today: NaiveDate) -> Self {
        Self { tally: Tally::new(today), cases: Vec::new(), index: HashMap::new() }
    }

    /// The figures, once every row has been visited.
    pub fn finish(mut self) -> BoardFigures {
        for case in &mut self.cases {
            case.cp_visits.sort_unstable();
            case.la_visits.sort_unstable();
            self.tally.case(
                case.child_protection.as_ref(),
                case.looked_after.as_ref(),
                &case.cp_visits,
                &case.la_visits,
            );
        }
        self.tally.finish()
    }
}

impl ProjectionVisitor for BoardFold {
    fn case(&mut self, row: CaseRow<'_>) -> Result<()> {
        let e: EpisodesOnly =
            serde_json::from_str(row.data).map_err(|e| corrupt("case", row.case_id, e))?;
        if let Some(w) = row.worker {
            self.tally.allocated(w);
        }
        self.index.insert(row.case_id.into(), self.cases.len());
        self.cases.push(FoldCase {
            child_protection: e.summary.child_protection,
            looked_after: e.summary.looked_after,
            cp_visits: Vec::new(),
            la_visits: Vec::new(),
        });
        Ok(())
    }

    fn doc(&mut self, row: DocRow<'_>) -> Result<()> {
        // As `rows::board_docs`: notes and case summaries carry nothing the figures read.
        if !matches!(row.kind, RecordKind::Visit | RecordKind::Assessment) {
            return Ok(());
        }
        let d: BoardFacts =
            serde_json::from_str(row.data).map_err(|e| corrupt("record", row.id, e))?;
        self.tally.record(row.kind, &d);
        if let (Some(kind), Some(true), Some(on)) = (d.visit_kind, d.child_seen, d.occurred_on) {
            if let Some(case) = self.index.get(row.case_id).and_then(|i| self.cases.get_mut(*i)) {
                match kind {
                    VisitKind::ChildProtection if case.child_protection.is_some() => {
                        case.cp_visits.push(on)
                    }
                    VisitKind::LookedAfter if case.looked_after.is_some() => {
                        case.la_visits.push(on)
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

/// The board's figures for the twelve months to `today`, folded over every projection.
pub async fn board_figures(storage: &dyn Storage, today: NaiveDate) -> Result<BoardFigures> {
    Ok(fold_projections(storage, &ProjectionScope::All, BoardFold::new(today)).await?.finish())
}
