//! A record's list row: what a device's lists and worklist need of one record, derived from its
//! document by `ListRow::of`. The device writes it beside every document it stores
//! (`store::projection`); the server keeps it with the document's projection and sends it
//! beside a whole document (`DocChanges::listing`), so that a new tablet downloading a caseload
//! can list every record without loading any of them into Automerge (issue #13). The row is
//! used only for exactly the heads it was derived at; a record is loaded, checked and its row
//! derived again the first time it is opened (`docs/PROTOCOL.md`, "Listings").

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::Hash;
use crate::document::RecordDoc;
use crate::records::{CaseSummary, RecordBody, RecordStatus, VisitKind};
use crate::rules::local_date;

/// The list row of a document at `heads` (sorted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    pub heads: Vec<Hash>,
    pub row: ListRow,
}

/// The columns of a record's list row. Dates derived from instants are Europe/London dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRow {
    pub status: RecordStatus,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// The event's date: a visit's start, an assessment's start, a note's occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_on: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visit_kind: Option<VisitKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_seen: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_alone: Option<bool>,
    /// An assessment's authorisation date, else the date of the manager's authorisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorised_on: Option<NaiveDate>,
    /// Edited after authorisation.
    #[serde(default)]
    pub amended: bool,
    /// A case summary's content (the device's case row).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<CaseSummary>,
}

impl ListRow {
    /// The row of `doc` as it stands.
    pub fn of(doc: &RecordDoc) -> Self {
        let meta = doc.meta();
        let mut row = ListRow {
            status: meta.status,
            created_by: meta.created_by.clone(),
            created_at: meta.created_at,
            occurred_on: None,
            visit_kind: None,
            child_seen: None,
            seen_alone: None,
            authorised_on: None,
            amended: !meta.amendments.is_empty(),
            summary: None,
        };
        match doc.body() {
            RecordBody::Visit(v) => {
                row.occurred_on = Some(local_date(v.started_at));
                row.visit_kind = Some(v.kind);
                row.child_seen = v.child_seen;
                row.seen_alone = v.seen_alone;
            }
            RecordBody::Assessment(a) => {
                row.occurred_on = Some(a.start_date);
                row.child_seen = a.child_seen;
                row.authorised_on = a.authorisation_date;
            }
            RecordBody::CaseNote(n) => row.occurred_on = Some(local_date(n.occurred_at)),
            RecordBody::CaseSummary(s) => row.summary = Some(s.clone()),
        }
        if meta.status == RecordStatus::Authorised && row.authorised_on.is_none() {
            row.authorised_on = meta.oversight.as_ref().map(|o| local_date(o.at));
        }
        row
    }
}
