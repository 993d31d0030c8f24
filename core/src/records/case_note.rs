//! A case note: a dated entry on the case's chronology. Its author is the record's creator.

use autosurgeon::{Hydrate, Reconcile};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::attachment::AttachmentRef;
use super::vocab::CaseNoteCategory;
use crate::terms::fields::{iso, text};

#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaseNote {
    pub category: CaseNoteCategory,
    #[autosurgeon(with = "iso")]
    pub occurred_at: DateTime<Utc>,
    #[autosurgeon(with = "text")]
    pub text: String,
    /// Photos, signature images, audio (references only). Added after the first release: a
    /// document or JSON without it reads as an empty list.
    #[autosurgeon(missing = "Vec::new")]
    #[serde(default)]
    pub attachments: Vec<AttachmentRef>,
}
