//! Writing records: create, edit as whole values, and the `draft -> submitted -> authorised`
//! lifecycle with its completeness checks.

use chrono::{DateTime, Utc};

use crate::document::{Author, FieldConflict, RecordDoc, Resolution};
use crate::error::{Error, Result};
use crate::records::{
    new_id, CaseSummary, Oversight, OversightDecision, RecordBody, RecordKind, RecordStatus,
};
use crate::rules::calendar::BankHolidayCalendar;
use crate::rules::completeness::{self, MissingItem};
use crate::rules::settings::LocalSettings;

use super::Store;

impl Store {
    /// Creates a record on `case_id` and returns its id. Committed when this returns.
    pub fn create_record(&mut self, case_id: &str, body: &RecordBody) -> Result<String> {
        if case_id.trim().is_empty() {
            return Err(Error::InvalidInput {
                field: "case_id",
                reason: "must not be empty".into(),
            });
        }
        // The size limit is checked inside, from the one serialisation of the body.
        let doc = RecordDoc::create_checked(
            &self.author,
            new_id(),
            case_id.to_string(),
            body,
            self.now(),
        )?;
        let id = doc.id().to_string();
        self.insert_doc(doc)?;
        Ok(id)
    }

    /// Creates or replaces the case summary of `case_id` (normally sent by the server; the device
    /// does not edit it). Returns the summary record's id.
    pub fn put_case_summary(&mut self, case_id: &str, summary: &CaseSummary) -> Result<String> {
        let missing = completeness::check_case_summary(summary);
        if !missing.is_empty() {
            return Err(Error::Incomplete(missing));
        }
        let body = RecordBody::CaseSummary(summary.clone());
        match self.case_summary_id(case_id)? {
            Some(id) => {
                self.update_record(&id, &body)?;
                Ok(id)
            }
            None => self.create_record(case_id, &body),
        }
    }

    /// Replaces a record's body with `body`. Only what differs is written: text as splices, so a
    /// colleague's concurrent edits to the same text are kept. Returns the fields that changed.
    pub fn update_record(&mut self, id: &str, body: &RecordBody) -> Result<Vec<String>> {
        let author = self.author.clone();
        let now = self.now();
        // The size limit is checked before anything is written; a refused body drops the cached
        // document (`edit_doc`), which the next read loads again from disk.
        self.edit_doc(id, |doc| doc.update_body_checked(&author, body, now))
    }

    /// A record's conflicts, each value with who wrote it and when.
    pub fn conflicts(&mut self, id: &str) -> Result<Vec<FieldConflict>> {
        self.with_doc(id, |doc| doc.conflicts_with_times())
    }

    /// Resolves the conflict at `path` of a record by keeping one of its values or writing a new
    /// one (`document::resolve`). Returns the body fields whose value changed.
    pub fn resolve_conflict(
        &mut self,
        id: &str,
        path: &str,
        resolution: &Resolution,
    ) -> Result<Vec<String>> {
        let author = self.author.clone();
        let now = self.now();
        self.edit_doc(id, |doc| doc.resolve_conflict(&author, path, resolution, now))
    }

    /// The completeness checks a record must pass to be submitted (empty when it may be).
    pub fn check_record(&mut self, id: &str) -> Result<Vec<MissingItem>> {
        self.with_doc(id, |doc| missing_for_submit(doc.body()))
    }

    /// Submits a draft for management oversight after the completeness checks (C1-C4, C6, C7).
    pub fn submit(&mut self, id: &str) -> Result<()> {
        let author = self.author.clone();
        let now = self.now();
        self.edit_doc(id, |doc| {
            let mut meta = doc.meta().clone();
            if meta.status != RecordStatus::Draft || meta.kind == RecordKind::CaseSummary {
                return Err(Error::InvalidTransition { status: meta.status, action: "submitted" });
            }
            let missing = missing_for_submit(doc.body())?;
            if !missing.is_empty() {
                return Err(Error::Incomplete(missing));
            }
            meta.status = RecordStatus::Submitted;
            meta.submitted_by = Some(author.worker.clone());
            meta.submitted_at = Some(now);
            doc.update_meta(&author, meta, "submitted", now)
        })
    }

    /// Records a manager's oversight decision on a submitted record (C5): authorise, close, or
    /// return it to draft for more work. The store's worker is the manager.
    pub fn decide(&mut self, id: &str, decision: OversightDecision, rationale: &str) -> Result<()> {
        let author = self.author.clone();
        let now = self.now();
        let calendar = self.calendar()?;
        let settings = self.local_settings()?;
        self.edit_doc(id, |doc| {
            decide_on(doc, &author, decision, rationale, now, &calendar, &settings)
        })
    }

    /// Authorises a submitted record with the manager's rationale.
    pub fn authorise(&mut self, id: &str, rationale: &str) -> Result<()> {
        self.decide(id, OversightDecision::Authorise, rationale)
    }
}

fn missing_for_submit(body: &RecordBody) -> Result<Vec<MissingItem>> {
    Ok(match body {
        RecordBody::Visit(v) => completeness::check_visit(v),
        RecordBody::Assessment(a) => completeness::check_assessment(a),
        RecordBody::CaseNote(_) => Vec::new(),
        RecordBody::CaseSummary(s) => completeness::check_case_summary(s),
    })
}

/// A manager's oversight decision on a submitted record, written as one change by `author` (the
/// manager): the C5 checks (a rationale; never on one's own record), the assessment-delay check
/// when it is authorised late, then the lifecycle step. The one implementation of the decision,
/// used by the device's store and by the server's oversight pages alike, so a decision made in
/// a browser merges with the worker's offline edits exactly like one made on a tablet.
pub fn decide_on(
    doc: &mut RecordDoc,
    author: &Author,
    decision: OversightDecision,
    rationale: &str,
    now: DateTime<Utc>,
    calendar: &BankHolidayCalendar,
    settings: &LocalSettings,
) -> Result<()> {
    let mut meta = doc.meta().clone();
    if meta.status != RecordStatus::Submitted {
        return Err(Error::InvalidTransition { status: meta.status, action: "authorised" });
    }
    let mut missing =
        completeness::check_oversight(decision, rationale, &author.worker, &meta.created_by);
    if let (RecordBody::Assessment(a), true) =
        (doc.body(), decision != OversightDecision::ReturnForWork)
    {
        let due = crate::rules::timescales::assessment_due(calendar, settings, a.start_date);
        // Late by the Europe/London date of the decision: 00:30 BST on the day after
        // the due date is late, though in UTC it is still the due date.
        let late = crate::rules::local_date(now) > due.due;
        missing.extend(completeness::check_assessment_delay(a, late));
    }
    if !missing.is_empty() {
        return Err(Error::Incomplete(missing));
    }
    meta.status = match decision {
        OversightDecision::ReturnForWork => RecordStatus::Draft,
        OversightDecision::Authorise | OversightDecision::Close => RecordStatus::Authorised,
    };
    meta.oversight = Some(Oversight {
        manager: author.worker.clone(),
        at: now,
        decision,
        rationale: rationale.to_string(),
    });
    doc.update_meta(author, meta, decision.code(), now)
}
