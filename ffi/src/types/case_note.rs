//! A case note: a dated entry on the case's chronology (its author is the record's creator).

use fieldbook_core::records::{self as core, RecordBody};

use super::{instant, mirror_enum, wrong_kind};
use crate::errors::RecordError;

/// What a case note is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CaseNoteCategory {
    PhoneCall,
    Meeting,
    Correspondence,
    Supervision,
    ManagementOversight,
    Other,
}

mirror_enum!(CaseNoteCategory <=> core::CaseNoteCategory {
    PhoneCall, Meeting, Correspondence, Supervision, ManagementOversight, Other
});

/// Every field of a case note.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CaseNoteFields {
    pub category: CaseNoteCategory,
    /// When what it records happened (Unix ms).
    pub occurred_at_ms: i64,
    pub text: String,
}

impl CaseNoteFields {
    /// A new note (no attachments yet: they are added with `attach`).
    pub(crate) fn into_note(self) -> Result<core::CaseNote, RecordError> {
        Ok(core::CaseNote {
            category: self.category.into(),
            occurred_at: instant(self.occurred_at_ms, "occurred_at_ms")?,
            text: self.text,
            attachments: Vec::new(),
        })
    }

    /// Writes these fields over `note`, keeping what the type does not carry (its attachments).
    pub(crate) fn apply_to(self, note: &mut core::CaseNote) -> Result<(), RecordError> {
        note.category = self.category.into();
        note.occurred_at = instant(self.occurred_at_ms, "occurred_at_ms")?;
        note.text = self.text;
        Ok(())
    }

    pub(crate) fn from_note(n: &core::CaseNote) -> Self {
        Self {
            category: n.category.into(),
            occurred_at_ms: n.occurred_at.timestamp_millis(),
            text: n.text.clone(),
        }
    }
}

pub(crate) fn case_note_of(body: RecordBody) -> Result<core::CaseNote, RecordError> {
    match body {
        RecordBody::CaseNote(n) => Ok(n),
        other => Err(wrong_kind(other.kind(), core::RecordKind::CaseNote)),
    }
}
