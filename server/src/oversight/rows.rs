//! What the two big pages read of the projections, and nothing more (docs/benchmarks.md,
//! "Oversight pages"). The team page needs each case's due items, and of the submitted records
//! only their case (a column); the board needs each case's child protection plan and looked
//! after episode, and the dates and flags of each record. Decoding the whole projection (every
//! case's summary, every record's ids and names) was most of the pages' time: here the rest of
//! each JSON value is skipped without being built, and the columns the storage already returns
//! (case, kind, status, allocation) are borrowed rather than decoded again.

use chrono::NaiveDate;
use fieldbook_core::records::{ChildProtectionPlan, LookedAfterEpisode, RecordKind, VisitKind};
use fieldbook_core::rules::timescales::Due;
use serde::Deserialize;

use super::projection::{CaseView, DocFacts};
use crate::hub::HubError;
use crate::storage::{ProjectedCase, ProjectedDoc};

/// A case as the team page counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamCase<'a> {
    pub case_id: &'a str,
    pub worker: Option<&'a str>,
    pub due: Vec<Due>,
}

#[derive(Deserialize)]
struct DueOnly {
    due: Vec<Due>,
}

/// A case as the board counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardCase<'a> {
    pub case_id: &'a str,
    pub worker: Option<&'a str>,
    pub child_protection: Option<ChildProtectionPlan>,
    pub looked_after: Option<LookedAfterEpisode>,
}

#[derive(Deserialize)]
pub(super) struct EpisodesOnly {
    pub(super) summary: Episodes,
}

#[derive(Deserialize)]
pub(super) struct Episodes {
    #[serde(default)]
    pub(super) child_protection: Option<ChildProtectionPlan>,
    #[serde(default)]
    pub(super) looked_after: Option<LookedAfterEpisode>,
}

/// A record as the board counts it: its case and kind (columns) and the facts the figures read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardDoc<'a> {
    pub case_id: &'a str,
    pub kind: RecordKind,
    pub facts: BoardFacts,
}

/// The fields of `DocFacts` the board's figures read (the same names in the same JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct BoardFacts {
    pub recorded_on: NaiveDate,
    #[serde(default)]
    pub occurred_on: Option<NaiveDate>,
    #[serde(default)]
    pub visit_kind: Option<VisitKind>,
    #[serde(default)]
    pub child_seen: Option<bool>,
    #[serde(default)]
    pub seen_alone: Option<bool>,
    #[serde(default)]
    pub views_recorded: Option<bool>,
    #[serde(default)]
    pub authorised_on: Option<NaiveDate>,
}

fn corrupt(what: &str, id: &str, e: serde_json::Error) -> HubError {
    HubError::Corrupt(format!("projection of {what} {id}: {e}"))
}

pub fn team_cases(rows: &[ProjectedCase]) -> Result<Vec<TeamCase<'_>>, HubError> {
    rows.iter()
        .map(|r| {
            let d: DueOnly =
                serde_json::from_str(&r.data).map_err(|e| corrupt("case", &r.case_id, e))?;
            Ok(TeamCase {
                case_id: &r.case_id,
                worker: r.allocation.as_ref().map(|a| a.worker.as_str()),
                due: d.due,
            })
        })
        .collect()
}

pub fn board_cases(rows: &[ProjectedCase]) -> Result<Vec<BoardCase<'_>>, HubError> {
    rows.iter()
        .map(|r| {
            let e: EpisodesOnly =
                serde_json::from_str(&r.data).map_err(|e| corrupt("case", &r.case_id, e))?;
            Ok(BoardCase {
                case_id: &r.case_id,
                worker: r.allocation.as_ref().map(|a| a.worker.as_str()),
                child_protection: e.summary.child_protection,
                looked_after: e.summary.looked_after,
            })
        })
        .collect()
}

/// The records the board counts: visits and assessments (the kind column says which; notes and
/// case summaries carry nothing the figures read, and a summary's JSON is the largest).
pub fn board_docs(rows: &[ProjectedDoc]) -> Result<Vec<BoardDoc<'_>>, HubError> {
    rows.iter()
        .filter(|r| matches!(r.kind, RecordKind::Visit | RecordKind::Assessment))
        .map(|r| {
            let facts: BoardFacts =
                serde_json::from_str(&r.data).map_err(|e| corrupt("record", &r.id, e))?;
            Ok(BoardDoc { case_id: &r.case_id, kind: r.kind, facts })
        })
        .collect()
}

/// The same views of fully decoded projections (the figures' tests, and callers that have them).
pub fn team_case(c: &CaseView) -> TeamCase<'_> {
    TeamCase { case_id: &c.facts.case_id, worker: c.worker.as_deref(), due: c.facts.due.clone() }
}

pub fn board_case(c: &CaseView) -> BoardCase<'_> {
    BoardCase {
        case_id: &c.facts.case_id,
        worker: c.worker.as_deref(),
        child_protection: c.facts.summary.child_protection.clone(),
        looked_after: c.facts.summary.looked_after.clone(),
    }
}

pub fn board_doc(d: &DocFacts) -> BoardDoc<'_> {
    BoardDoc {
        case_id: &d.case_id,
        kind: d.kind,
        facts: BoardFacts {
            recorded_on: d.recorded_on,
            occurred_on: d.occurred_on,
            visit_kind: d.visit_kind,
            child_seen: d.child_seen,
            seen_alone: d.seen_alone,
            views_recorded: d.views_recorded,
            authorised_on: d.authorised_on,
        },
    }
}
