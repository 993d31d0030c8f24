//! A record in full: identity, lifecycle, oversight, amendments, its typed content and its
//! conflicts (what `record_json` used to carry as JSON).

use fieldbook_core::records::{self as core, RecordBody};

use super::assessment::AssessmentFields;
use super::case_note::CaseNoteFields;
use super::case_summary::CaseSummary;
use super::conflicts::FieldConflict;
use super::visit::VisitFields;
use super::{mirror_enum, RecordKind, RecordStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum OversightDecision {
    Authorise,
    ReturnForWork,
    Close,
}

mirror_enum!(OversightDecision <=> core::OversightDecision { Authorise, ReturnForWork, Close });

/// A manager's oversight decision with its written rationale (C5).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Oversight {
    pub manager: String,
    pub at_ms: i64,
    pub decision: OversightDecision,
    pub rationale: String,
}

/// An edit made after authorisation: kept, and flagged for the manager.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Amendment {
    pub by: String,
    pub at_ms: i64,
    pub fields: Vec<String>,
}

/// The content of a record, by kind.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
// The case summary is the largest variant; one record's content is read at a time, never held in
// bulk, and uniffi lowers the value across the boundary anyway, so boxing would only add churn.
#[allow(clippy::large_enum_variant)]
pub enum RecordContent {
    Visit {
        fields: VisitFields,
    },
    Assessment {
        fields: AssessmentFields,
    },
    CaseNote {
        fields: CaseNoteFields,
    },
    /// Read-only; its `due` is empty here (`case_summary(case_id, today)` computes it).
    CaseSummary {
        summary: CaseSummary,
    },
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RecordInfo {
    pub id: String,
    pub kind: RecordKind,
    pub case_id: String,
    pub status: RecordStatus,
    pub created_by: String,
    pub created_at_ms: i64,
    pub submitted_by: Option<String>,
    pub submitted_at_ms: Option<i64>,
    pub oversight: Option<Oversight>,
    pub amendments: Vec<Amendment>,
    pub content: RecordContent,
    /// Fields with concurrent values to resolve; empty when there is nothing to resolve.
    pub conflicts: Vec<FieldConflict>,
}

impl RecordInfo {
    pub(crate) fn from_core(r: core::Record, conflicts: Vec<FieldConflict>) -> Self {
        let m = r.meta;
        let content = match &r.body {
            RecordBody::Visit(v) => RecordContent::Visit { fields: VisitFields::from_visit(v) },
            RecordBody::Assessment(a) => {
                RecordContent::Assessment { fields: AssessmentFields::from_assessment(a) }
            }
            RecordBody::CaseNote(n) => {
                RecordContent::CaseNote { fields: CaseNoteFields::from_note(n) }
            }
            RecordBody::CaseSummary(s) => RecordContent::CaseSummary {
                summary: CaseSummary::from_core(m.case_id.clone(), s, Vec::new()),
            },
        };
        Self {
            id: m.id,
            kind: m.kind.into(),
            case_id: m.case_id,
            status: m.status.into(),
            created_by: m.created_by,
            created_at_ms: m.created_at.timestamp_millis(),
            submitted_by: m.submitted_by,
            submitted_at_ms: m.submitted_at.map(|t| t.timestamp_millis()),
            oversight: m.oversight.map(|o| Oversight {
                manager: o.manager,
                at_ms: o.at.timestamp_millis(),
                decision: o.decision.into(),
                rationale: o.rationale,
            }),
            amendments: m
                .amendments
                .into_iter()
                .map(|a| Amendment { by: a.by, at_ms: a.at.timestamp_millis(), fields: a.fields })
                .collect(),
            content,
            conflicts,
        }
    }
}
