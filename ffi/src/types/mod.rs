//! The records and enums the app sees, mirrored from the core with conversions. Dates are ISO
//! strings (`2026-03-26`) and instants are Unix milliseconds: both read naturally in Kotlin and
//! Swift without a date library in the bindings.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use fieldbook_core::records as core;

use crate::errors::RecordError;

pub(crate) mod assessment;
pub(crate) mod case_note;
pub(crate) mod case_summary;
mod conflicts;
mod record;
pub(crate) mod visit;

pub use assessment::{
    AgencyContact, AgencyKind, AssessmentFields, AssessmentKind, AssessmentOutcome,
};
pub use case_note::{CaseNoteCategory, CaseNoteFields};
pub use case_summary::{
    CaseSummary, ChildInNeedEpisode, ChildProtectionPlan, CodeList, Coded, LookedAfterEpisode,
    PreProceedings, PrivateFostering, Sex,
};
pub use conflicts::{ConflictValue, FieldConflict, FieldValue, Resolution};
pub use record::{Amendment, Oversight, OversightDecision, RecordContent, RecordInfo};
pub use visit::{ChildView, ViewsMethod, VisitFields, VisitKind};

macro_rules! mirror_enum {
    ($ours:ident <=> $theirs:path { $($v:ident),+ }) => {
        impl From<$ours> for $theirs {
            fn from(v: $ours) -> Self {
                match v { $($ours::$v => <$theirs>::$v),+ }
            }
        }
        impl From<$theirs> for $ours {
            fn from(v: $theirs) -> Self {
                match v { $(<$theirs>::$v => $ours::$v),+ }
            }
        }
    };
}

pub(crate) use mirror_enum;

pub(crate) fn instant(ms: i64, field: &str) -> Result<DateTime<Utc>, RecordError> {
    Utc.timestamp_millis_opt(ms).single().ok_or_else(|| RecordError::InvalidInput {
        field: field.into(),
        reason: "not a valid time".into(),
    })
}

pub(crate) fn date(iso: &str, field: &str) -> Result<NaiveDate, RecordError> {
    NaiveDate::parse_from_str(iso, "%Y-%m-%d").map_err(|_| RecordError::InvalidInput {
        field: field.into(),
        reason: "expected a date as YYYY-MM-DD".into(),
    })
}

/// The error for a record of another kind than the call expects.
pub(crate) fn wrong_kind(found: core::RecordKind, expected: core::RecordKind) -> RecordError {
    RecordError::WrongKind { expected: expected.into(), found: found.into() }
}

/// An optional ISO date from the app.
pub(crate) fn opt_date(iso: Option<String>, field: &str) -> Result<Option<NaiveDate>, RecordError> {
    iso.map(|d| date(&d, field)).transpose()
}

pub(crate) fn iso(d: &NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub(crate) fn opt_iso(d: &Option<NaiveDate>) -> Option<String> {
    d.as_ref().map(iso)
}

/// A DfE code from the app, checked against its list (`field` names the field in the error).
pub(crate) fn code<T>(
    value: &str,
    field: &str,
    parse: impl Fn(&str) -> Result<T, fieldbook_core::codes::UnknownCode>,
) -> Result<T, RecordError> {
    parse(value)
        .map_err(|e| RecordError::InvalidInput { field: field.into(), reason: e.to_string() })
}

/// A completeness check that failed, naming the field to fix.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MissingItem {
    /// The check (`C1`..`C8` of the statutory rules).
    pub check: String,
    pub field: String,
    pub message: String,
}

impl From<fieldbook_core::rules::completeness::MissingItem> for MissingItem {
    fn from(m: fieldbook_core::rules::completeness::MissingItem) -> Self {
        Self { check: format!("{:?}", m.check), field: m.field, message: m.message }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RecordKind {
    Visit,
    Assessment,
    CaseNote,
    CaseSummary,
}

mirror_enum!(RecordKind <=> core::RecordKind { Visit, Assessment, CaseNote, CaseSummary });

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RecordStatus {
    Draft,
    Submitted,
    Authorised,
}

mirror_enum!(RecordStatus <=> core::RecordStatus { Draft, Submitted, Authorised });

/// A record as a list shows it (no document is loaded to list).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecordSummary {
    pub id: String,
    pub kind: RecordKind,
    pub case_id: String,
    pub status: RecordStatus,
    pub occurred_on: Option<String>,
    pub conflicts: u32,
    /// The council has received every change of it.
    pub received: bool,
}

impl From<fieldbook_core::RecordRow> for RecordSummary {
    fn from(r: fieldbook_core::RecordRow) -> Self {
        Self {
            id: r.id,
            kind: r.kind.into(),
            case_id: r.case_id,
            status: r.status.into(),
            occurred_on: r.occurred_on.map(|d| d.to_string()),
            conflicts: r.conflicts,
            received: r.acknowledged,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CaseInfo {
    pub case_id: String,
    pub local_child_id: String,
    pub name: String,
}

/// Where a timescale stands.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum DueStatus {
    Upcoming {
        days_left: i64,
    },
    DueToday,
    Overdue {
        days_overdue: i64,
    },
    Done {
        late_by_days: i64,
    },
    /// An action with no statutory date (a consistent identifier to record, an FGDM meeting to
    /// arrange); the entry's `due` is the date it became open.
    ToDo,
}

impl From<fieldbook_core::rules::status::DueStatus> for DueStatus {
    fn from(s: fieldbook_core::rules::status::DueStatus) -> Self {
        use fieldbook_core::rules::status::DueStatus as D;
        match s {
            D::Upcoming { days_left } => Self::Upcoming { days_left },
            D::DueToday => Self::DueToday,
            D::Overdue { days_overdue } => Self::Overdue { days_overdue },
            D::Done { late_by_days } => Self::Done { late_by_days },
            D::ToDo => Self::ToDo,
        }
    }
}

/// One line of the worklist: what is due for which child, and when.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WorklistEntry {
    pub case_id: String,
    pub child_name: String,
    pub label: String,
    pub from: String,
    pub due: String,
    pub status: DueStatus,
    pub calendar_unconfirmed: bool,
    pub stale: bool,
}

impl From<fieldbook_core::rules::worklist::WorklistItem> for WorklistEntry {
    fn from(i: fieldbook_core::rules::worklist::WorklistItem) -> Self {
        Self {
            case_id: i.case_id,
            child_name: i.child_name,
            label: i.label,
            from: i.from.to_string(),
            due: i.due.to_string(),
            status: i.status.into(),
            calendar_unconfirmed: i.calendar_unconfirmed,
            stale: i.stale,
        }
    }
}

/// Who changed which fields, when (the device's clock: advisory).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HistoryItem {
    /// The change's id (its Automerge hash, hex).
    pub change: String,
    pub worker: String,
    pub device: String,
    pub at_ms: Option<i64>,
    pub fields: Vec<String>,
}

impl From<fieldbook_core::HistoryEntry> for HistoryItem {
    fn from(h: fieldbook_core::HistoryEntry) -> Self {
        Self {
            change: h.change,
            worker: h.worker,
            device: h.device,
            at_ms: h.at.map(|t| t.timestamp_millis()),
            fields: h.fields,
        }
    }
}

/// "On this tablet only" or "received by the council at 14:02".
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Delivery {
    OnDeviceOnly,
    Received { at_ms: i64 },
}

impl From<fieldbook_core::store::Delivery> for Delivery {
    fn from(d: fieldbook_core::store::Delivery) -> Self {
        match d {
            fieldbook_core::store::Delivery::OnDeviceOnly => Self::OnDeviceOnly,
            fieldbook_core::store::Delivery::Received { at } => {
                Self::Received { at_ms: at.timestamp_millis() }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SyncState {
    Idle,
    Syncing,
    Offline,
    Error { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncStatus {
    pub state: SyncState,
    pub last_success_ms: Option<i64>,
    pub pending_records: u64,
}

impl From<&fieldbook_core::sync::SyncStatus> for SyncStatus {
    fn from(s: &fieldbook_core::sync::SyncStatus) -> Self {
        use fieldbook_core::sync::SyncState as S;
        Self {
            state: match &s.state {
                S::Idle => SyncState::Idle,
                S::Syncing => SyncState::Syncing,
                S::Offline => SyncState::Offline,
                S::Error { reason } => SyncState::Error { reason: reason.to_string() },
            },
            last_success_ms: s.last_success.map(|t| t.timestamp_millis()),
            pending_records: s.pending_records as u64,
        }
    }
}

/// What one `sync()` did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    pub requests: u32,
    pub pushed: u64,
    pub acknowledged: u64,
    pub pulled: u64,
    pub purged_cases: Vec<String>,
    pub allocated_cases: Vec<String>,
    pub conflicts: u64,
    /// Records the server refused (kept on the device), by id.
    pub refused: Vec<String>,
    pub more: bool,
}

impl From<&fieldbook_core::sync::SyncReport> for SyncReport {
    fn from(r: &fieldbook_core::sync::SyncReport) -> Self {
        Self {
            requests: r.requests,
            pushed: r.pushed as u64,
            acknowledged: r.acknowledged as u64,
            pulled: r.pulled as u64,
            purged_cases: r.purged_cases.clone(),
            allocated_cases: r.allocated_cases.clone(),
            conflicts: r.conflicts as u64,
            refused: r.rejected.iter().map(|(id, _)| id.clone()).collect(),
            more: r.more,
        }
    }
}
