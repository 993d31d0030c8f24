//! The records and enums the app sees, mirrored from the core with conversions. Dates are ISO
//! strings (`2026-03-26`) and instants are Unix milliseconds: both read naturally in Kotlin and
//! Swift without a date library in the bindings.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use fieldbook_core::records::{self as core, RecordBody};

use crate::errors::RecordError;

/// The kind of visit (it decides the statutory rules that apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum VisitKind {
    ChildInNeed,
    ChildProtection,
    LookedAfter,
    PrivateFostering,
    Assessment,
    Section47,
    Other,
}

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

mirror_enum!(VisitKind <=> core::VisitKind {
    ChildInNeed, ChildProtection, LookedAfter, PrivateFostering, Assessment, Section47, Other
});

/// How the child's views were gathered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ViewsMethod {
    OwnWords,
    Play,
    Observation,
    Advocate,
    Interpreter,
    LinkedStatement,
}

mirror_enum!(ViewsMethod <=> core::ViewsMethod {
    OwnWords, Play, Observation, Advocate, Interpreter, LinkedStatement
});

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ChildView {
    /// Empty for a new view: the core gives it an id.
    pub id: String,
    pub method: ViewsMethod,
    pub text: String,
}

/// The parts of a visit a visit screen edits. Fields the app does not show (people present,
/// actions, agencies) are kept as they are on update: nothing is dropped by round-tripping.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VisitFields {
    pub kind: VisitKind,
    /// When the visit happened (Unix ms): timescales count from this, never from the clock.
    pub started_at_ms: i64,
    pub location: String,
    pub child_seen: Option<bool>,
    pub child_not_seen_reason: String,
    pub seen_alone: Option<bool>,
    pub bedroom_seen: Option<bool>,
    pub child_views: Vec<ChildView>,
    pub observations: String,
    pub analysis: String,
    pub risks: String,
}

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

impl VisitFields {
    /// Writes these fields over `visit`, keeping everything else it holds.
    pub(crate) fn apply_to(self, visit: &mut core::Visit) -> Result<(), RecordError> {
        visit.kind = self.kind.into();
        visit.started_at = instant(self.started_at_ms, "started_at_ms")?;
        visit.location = self.location;
        visit.child_seen = self.child_seen;
        visit.child_not_seen_reason = self.child_not_seen_reason;
        visit.seen_alone = self.seen_alone;
        visit.bedroom_seen = self.bedroom_seen;
        visit.observations = self.observations;
        visit.analysis = self.analysis;
        visit.risks = self.risks;
        let previous = std::mem::take(&mut visit.child_views);
        visit.child_views = self
            .child_views
            .into_iter()
            .map(|v| {
                let old = previous.iter().find(|p| !v.id.is_empty() && p.id == v.id);
                core::ChildView {
                    id: if v.id.is_empty() { core::new_id() } else { v.id },
                    method: v.method.into(),
                    text: v.text,
                    linked_ref: old.and_then(|o| o.linked_ref.clone()),
                }
            })
            .collect();
        Ok(())
    }

    pub(crate) fn from_visit(v: &core::Visit) -> Self {
        Self {
            kind: v.kind.into(),
            started_at_ms: v.started_at.timestamp_millis(),
            location: v.location.clone(),
            child_seen: v.child_seen,
            child_not_seen_reason: v.child_not_seen_reason.clone(),
            seen_alone: v.seen_alone,
            bedroom_seen: v.bedroom_seen,
            child_views: v
                .child_views
                .iter()
                .map(|c| ChildView {
                    id: c.id.clone(),
                    method: c.method.into(),
                    text: c.text.clone(),
                })
                .collect(),
            observations: v.observations.clone(),
            analysis: v.analysis.clone(),
            risks: v.risks.clone(),
        }
    }
}

/// The visit in `body`, or the error a caller expects when the record is something else.
pub(crate) fn visit_of(body: RecordBody) -> Result<core::Visit, RecordError> {
    match body {
        RecordBody::Visit(v) => Ok(v),
        other => Err(RecordError::InvalidTransition {
            reason: format!("the record is a {}, not a visit", other.kind().code()),
        }),
    }
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
    pub worker: String,
    pub device: String,
    pub at_ms: Option<i64>,
    pub fields: Vec<String>,
}

impl From<fieldbook_core::HistoryEntry> for HistoryItem {
    fn from(h: fieldbook_core::HistoryEntry) -> Self {
        Self {
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
