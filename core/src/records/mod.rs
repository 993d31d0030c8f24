//! Typed case records. Each record is one Automerge document laid out as
//! `{ meta: RecordMeta, body: <Visit | Assessment | CaseNote | CaseSummary> }`: the body is what
//! the app edits as a whole value; the meta (identity, lifecycle, oversight, amendments) is managed
//! by the core.

pub mod assessment;
pub mod attachment;
#[cfg(test)]
mod attachment_upgrade_tests;
pub mod case_note;
pub mod case_summary;
pub mod identifier;
pub mod ids;
pub mod parts;
#[cfg(test)]
mod summary_upgrade_tests;
pub mod visit;
pub mod vocab;

use autosurgeon::{Hydrate, Reconcile};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use assessment::Assessment;
pub use attachment::{is_attachment_hash, AttachmentRef};
pub use case_note::CaseNote;
pub use case_summary::{
    CaseSummary, ChildInNeedEpisode, ChildProtectionPlan, LookedAfterEpisode, PreProceedings,
    PrivateFostering,
};
pub use identifier::{ConsistentIdentifier, IdentifierError, IdentifierScheme, PractitionerRole};
pub use ids::{case_summary_id, id_fits, is_device_record_id, new_record_id, IdMisfit};
pub use parts::{new_id, new_id_bytes, Action, AgencyContact, ChildView, PersonPresent};
pub use visit::Visit;
pub use vocab::*;

use crate::terms::fields::{iso, opt_iso, text};

/// The schema version this build writes. Version 1 is the first, so nothing is upgraded yet:
/// fields added since are optional and read as empty from older documents, and a document of a
/// newer version is refused when read (`crate::document`) rather than half-understood.
pub const SCHEMA_VERSION: u64 = 1;

/// The identity, lifecycle and oversight of a record.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordMeta {
    pub id: String,
    pub kind: RecordKind,
    pub case_id: String,
    pub schema_version: u64,
    pub status: RecordStatus,
    /// The worker who created the record.
    pub created_by: String,
    #[autosurgeon(with = "iso")]
    pub created_at: DateTime<Utc>,
    pub submitted_by: Option<String>,
    #[autosurgeon(with = "opt_iso")]
    pub submitted_at: Option<DateTime<Utc>>,
    pub oversight: Option<Oversight>,
    /// Edits made after authorisation: kept, never dropped, and flagged for the manager.
    #[autosurgeon(missing = "Vec::new")]
    pub amendments: Vec<Amendment>,
}

/// A manager's oversight decision with its written rationale (C5).
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Oversight {
    pub manager: String,
    #[autosurgeon(with = "iso")]
    pub at: DateTime<Utc>,
    pub decision: OversightDecision,
    #[autosurgeon(with = "text")]
    pub rationale: String,
}

/// An edit made to an authorised record.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Amendment {
    #[key]
    pub id: String,
    pub by: String,
    #[autosurgeon(with = "iso")]
    pub at: DateTime<Utc>,
    /// The body fields that changed.
    pub fields: Vec<String>,
}

/// The editable content of a record, one variant per kind.
///
/// Adjacently tagged (`{"kind": "visit", "fields": {...}}`) because visits and assessments have a
/// `kind` field of their own, which an internal tag would collide with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", content = "fields", rename_all = "snake_case")]
// The case summary is the largest variant (about 0.5 KB inline; its text is on the heap). Bodies
// are handled one record at a time, never in bulk arrays, so boxing it would only add churn.
#[allow(clippy::large_enum_variant)]
pub enum RecordBody {
    Visit(Visit),
    Assessment(Assessment),
    CaseNote(CaseNote),
    CaseSummary(CaseSummary),
}

impl RecordBody {
    pub fn kind(&self) -> RecordKind {
        match self {
            Self::Visit(_) => RecordKind::Visit,
            Self::Assessment(_) => RecordKind::Assessment,
            Self::CaseNote(_) => RecordKind::CaseNote,
            Self::CaseSummary(_) => RecordKind::CaseSummary,
        }
    }

    /// The attachments the record refers to (none for the kinds that carry none).
    pub fn attachments(&self) -> &[AttachmentRef] {
        match self {
            Self::Visit(v) => &v.attachments,
            Self::CaseNote(n) => &n.attachments,
            Self::Assessment(_) | Self::CaseSummary(_) => &[],
        }
    }

    /// The record's attachment list, for the kinds that carry one.
    pub fn attachments_mut(&mut self) -> Option<&mut Vec<AttachmentRef>> {
        match self {
            Self::Visit(v) => Some(&mut v.attachments),
            Self::CaseNote(n) => Some(&mut n.attachments),
            Self::Assessment(_) | Self::CaseSummary(_) => None,
        }
    }
}

/// A record in full: what the app shows on a record's screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Record {
    pub meta: RecordMeta,
    pub body: RecordBody,
    /// Scalar fields two people set differently at the same time: every value is kept and shown,
    /// none is hidden. Empty when there is nothing to resolve.
    pub conflicts: Vec<crate::terms::conflict::FieldConflict>,
}
