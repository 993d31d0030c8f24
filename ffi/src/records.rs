//! Records of every kind, typed: visits, assessments and case notes as whole values in and out,
//! the case summary (read-only), any record in full, its conflicts and their resolution, the
//! lifecycle (submit, authorise with a rationale), history and delivery.
//!
//! Every write tells the record observers which record changed, with its kind and case.

use fieldbook_core::records::RecordBody;
use fieldbook_core::Store;

use crate::errors::RecordError;
use crate::observe::RecordChange;
use crate::store::FieldbookStore;
use crate::types::assessment::assessment_of;
use crate::types::case_note::case_note_of;
use crate::types::case_summary::codes_of;
use crate::types::visit::visit_of;
use crate::types::{
    date, instant, AssessmentFields, CaseInfo, CaseNoteFields, CaseSummary, CodeList, Coded,
    Delivery, FieldConflict, HistoryItem, RecordInfo, RecordSummary, Resolution, VisitFields,
    WorklistEntry,
};

/// Every code of a DfE list with its label, for the app's pickers (assessment factors, closure
/// reasons, ..). Codes are what records carry.
#[uniffi::export]
pub fn code_list(list: CodeList) -> Vec<Coded> {
    codes_of(list)
}

/// What observers are told of `id` after a write (read from its projection row).
fn change_of(store: &Store, id: &str) -> Result<RecordChange, RecordError> {
    let row = store.record_row(id)?;
    Ok(RecordChange { id: row.id, kind: row.kind.into(), case_id: row.case_id, removed: false })
}

impl FieldbookStore {
    /// Creates a record and tells the observers.
    fn create(
        &self,
        case_id: &str,
        body: impl FnOnce() -> Result<RecordBody, RecordError>,
    ) -> Result<String, RecordError> {
        let (id, change) = self.with(|store| {
            let id = store.create_record(case_id, &body()?)?;
            let change = change_of(store, &id)?;
            Ok((id, change))
        })?;
        self.inner.records.changed(vec![change]);
        Ok(id)
    }

    /// Reads a record's body, lets `edit` change it, writes what differs; tells the observers
    /// when something changed. Returns the fields that changed.
    fn edit(
        &self,
        id: &str,
        edit: impl FnOnce(RecordBody) -> Result<RecordBody, RecordError>,
    ) -> Result<Vec<String>, RecordError> {
        let (changed, change) = self.with(|store| {
            let body = edit(store.record(id)?.body)?;
            let changed = store.update_record(id, &body)?;
            Ok((changed, change_of(store, id)?))
        })?;
        if !changed.is_empty() {
            self.inner.records.changed(vec![change]);
        }
        Ok(changed)
    }

    /// Runs a lifecycle step and tells the observers.
    fn step(
        &self,
        id: &str,
        f: impl FnOnce(&mut Store) -> Result<(), RecordError>,
    ) -> Result<(), RecordError> {
        let change = self.with(|store| {
            f(store)?;
            change_of(store, id)
        })?;
        self.inner.records.changed(vec![change]);
        Ok(())
    }
}

#[uniffi::export]
impl FieldbookStore {
    /// Records a new visit on a case. Committed when this returns.
    pub fn create_visit(&self, case_id: String, visit: VisitFields) -> Result<String, RecordError> {
        self.create(&case_id, || {
            let started = instant(visit.started_at_ms, "started_at_ms")?;
            let mut v = fieldbook_core::records::Visit::new(visit.kind.into(), started);
            visit.apply_to(&mut v)?;
            Ok(RecordBody::Visit(v))
        })
    }

    /// Saves the visit screen's fields over the stored visit (text as splices, so a colleague's
    /// concurrent words are kept; fields the type does not carry are kept). Returns the fields
    /// that changed.
    pub fn update_visit(&self, id: String, visit: VisitFields) -> Result<Vec<String>, RecordError> {
        self.edit(&id, |body| {
            let mut v = visit_of(body)?;
            visit.apply_to(&mut v)?;
            Ok(RecordBody::Visit(v))
        })
    }

    pub fn visit(&self, id: String) -> Result<VisitFields, RecordError> {
        self.with(|store| Ok(VisitFields::from_visit(&visit_of(store.record(&id)?.body)?)))
    }

    /// Records a new assessment on a case.
    pub fn create_assessment(
        &self,
        case_id: String,
        assessment: AssessmentFields,
    ) -> Result<String, RecordError> {
        self.create(&case_id, || Ok(RecordBody::Assessment(assessment.into_new()?)))
    }

    /// Saves the assessment's fields over the stored one. Returns the fields that changed.
    pub fn update_assessment(
        &self,
        id: String,
        assessment: AssessmentFields,
    ) -> Result<Vec<String>, RecordError> {
        self.edit(&id, |body| {
            let mut a = assessment_of(body)?;
            assessment.apply_to(&mut a)?;
            Ok(RecordBody::Assessment(a))
        })
    }

    pub fn assessment(&self, id: String) -> Result<AssessmentFields, RecordError> {
        self.with(|store| {
            Ok(AssessmentFields::from_assessment(&assessment_of(store.record(&id)?.body)?))
        })
    }

    /// Records a case note on a case's chronology.
    pub fn create_case_note(
        &self,
        case_id: String,
        note: CaseNoteFields,
    ) -> Result<String, RecordError> {
        self.create(&case_id, || Ok(RecordBody::CaseNote(note.into_note()?)))
    }

    /// Saves the note's fields over the stored one, keeping its attachments. Returns the fields
    /// that changed.
    pub fn update_case_note(
        &self,
        id: String,
        note: CaseNoteFields,
    ) -> Result<Vec<String>, RecordError> {
        self.edit(&id, |body| {
            let mut n = case_note_of(body)?;
            note.apply_to(&mut n)?;
            Ok(RecordBody::CaseNote(n))
        })
    }

    pub fn case_note(&self, id: String) -> Result<CaseNoteFields, RecordError> {
        self.with(|store| Ok(CaseNoteFields::from_note(&case_note_of(store.record(&id)?.body)?)))
    }

    /// The case's summary from the case system, with what is due on it on `today`
    /// (`YYYY-MM-DD`). Read-only.
    pub fn case_summary(&self, case_id: String, today: String) -> Result<CaseSummary, RecordError> {
        self.with(|store| {
            let today = date(&today, "today")?;
            let case = store
                .cases()?
                .into_iter()
                .find(|c| c.case_id == case_id)
                .ok_or_else(|| RecordError::NotFound { id: case_id.clone() })?;
            let due = store
                .worklist(today)?
                .into_iter()
                .filter(|i| i.case_id == case_id)
                .map(Into::into)
                .collect();
            Ok(CaseSummary::from_core(case.case_id, &case.summary, due))
        })
    }

    /// Any record in full: lifecycle, oversight, amendments, typed content and its conflicts.
    pub fn record(&self, id: String) -> Result<RecordInfo, RecordError> {
        self.with(|store| {
            let conflicts = store.conflicts(&id)?.into_iter().map(Into::into).collect();
            Ok(RecordInfo::from_core(store.record(&id)?, conflicts))
        })
    }

    /// The record's fields with concurrent values, each value with who wrote it and when.
    pub fn conflicts(&self, id: String) -> Result<Vec<FieldConflict>, RecordError> {
        self.with(|store| Ok(store.conflicts(&id)?.into_iter().map(Into::into).collect()))
    }

    /// Resolves the conflict at `path` (a `FieldConflict::path`) by keeping one value or writing
    /// a new one; the resolution syncs like any edit. Returns the fields whose value changed.
    pub fn resolve_conflict(
        &self,
        id: String,
        path: String,
        resolution: Resolution,
    ) -> Result<Vec<String>, RecordError> {
        let (changed, change) = self.with(|store| {
            let changed = store.resolve_conflict(&id, &path, &resolution.into_core()?)?;
            Ok((changed, change_of(store, &id)?))
        })?;
        self.inner.records.changed(vec![change]);
        Ok(changed)
    }

    pub fn cases(&self) -> Result<Vec<CaseInfo>, RecordError> {
        self.with(|store| {
            Ok(store
                .cases()?
                .into_iter()
                .map(|c| CaseInfo {
                    case_id: c.case_id,
                    local_child_id: c.local_child_id,
                    name: c.name,
                })
                .collect())
        })
    }

    pub fn case_records(&self, case_id: String) -> Result<Vec<RecordSummary>, RecordError> {
        self.with(|store| Ok(store.case_records(&case_id)?.into_iter().map(Into::into).collect()))
    }

    /// Submits for management oversight; `RecordError::Incomplete` names each missing item.
    pub fn submit(&self, id: String) -> Result<(), RecordError> {
        self.step(&id, |store| Ok(store.submit(&id)?))
    }

    /// A manager authorises a submitted record with their rationale.
    pub fn authorise(&self, id: String, rationale: String) -> Result<(), RecordError> {
        self.step(&id, |store| Ok(store.authorise(&id, &rationale)?))
    }

    /// What is due and overdue across my cases on `today` (`YYYY-MM-DD`).
    pub fn worklist(&self, today: String) -> Result<Vec<WorklistEntry>, RecordError> {
        self.with(|store| {
            let today = date(&today, "today")?;
            Ok(store.worklist(today)?.into_iter().map(Into::into).collect())
        })
    }

    pub fn history(&self, id: String) -> Result<Vec<HistoryItem>, RecordError> {
        self.with(|store| Ok(store.history(&id)?.into_iter().map(Into::into).collect()))
    }

    /// "On this tablet only" or "received by the council at ..".
    pub fn delivery(&self, id: String) -> Result<Delivery, RecordError> {
        self.with(|store| Ok(store.delivery(&id)?.into()))
    }
}
