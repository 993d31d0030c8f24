//! The case system's side: upserting case summaries with their allocation, and reading merged
//! records from the export feed.

use chrono::Utc;
use fieldbook_core::document::{Author, RecordDoc};
use fieldbook_core::records::{CaseSummary, Record, RecordBody};
use fieldbook_core::rules::completeness;
use serde::{Deserialize, Serialize};

use super::{doc_from_changes, stored_changes, Hub, HubError, Job};
use crate::storage::{Allocation, DocInfo, NewChanges};

/// The worker id the server writes case summaries as (the case system's changes).
pub const CASE_SYSTEM_WORKER: &str = "case-system";

/// What the case system sends for one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseUpsert {
    pub summary: CaseSummary,
    /// The worker the case is allocated to.
    pub allocated_worker: String,
    /// The worker's team: the team's managers see the case.
    pub team: String,
}

/// A page of the export feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportPage {
    pub records: Vec<Record>,
    /// Pass back as `cursor` to continue.
    pub next_cursor: u64,
    /// More records are waiting after `next_cursor`.
    pub more: bool,
}

/// The id of a case's summary document: one per case, the same on every server (defined with
/// every other id format in `fieldbook_core::records::ids`).
pub fn summary_doc_id(case_id: &str) -> String {
    fieldbook_core::records::case_summary_id(case_id)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= fieldbook_core::protocol::limits::MAX_ID_LEN
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Hub {
    /// Creates or updates a case's summary and allocation. Re-allocation makes the previous
    /// worker's devices purge the case on their next sync and delivers it to the new worker's.
    pub async fn upsert_case(&self, case_id: &str, upsert: CaseUpsert) -> Result<(), HubError> {
        if !valid_id(case_id) || !valid_id(&upsert.allocated_worker) || !valid_id(&upsert.team) {
            return Err(HubError::Invalid(
                "case, worker and team ids: letters, digits, - _ . only".into(),
            ));
        }
        let missing = completeness::check_case_summary(&upsert.summary);
        if let Some(item) = missing.first() {
            return Err(HubError::Invalid(format!("{}: {}", item.field, item.message)));
        }
        let storage = self.storage.as_ref();
        let id = summary_doc_id(case_id);
        let stored = stored_changes(storage, &id).await?;
        let (job_id, job_case) = (id.clone(), case_id.to_string());
        let summary = upsert.summary.clone();
        let changes = self
            .pool
            .run(Job::Upsert, move || summary_changes(&job_id, &job_case, &stored, summary))
            .await??;
        storage
            .append(vec![NewChanges {
                doc: DocInfo {
                    id,
                    case_id: case_id.to_string(),
                    kind: fieldbook_core::records::RecordKind::CaseSummary,
                },
                changes,
            }])
            .await?;
        storage
            .allocate(Allocation {
                case_id: case_id.to_string(),
                worker: upsert.allocated_worker,
                team: upsert.team,
            })
            .await?;
        Ok(())
    }

    /// Merged records changed after `cursor`, as JSON-shaped values.
    pub async fn export(&self, cursor: u64, limit: usize) -> Result<ExportPage, HubError> {
        let storage = self.storage.as_ref();
        let limit = limit.clamp(1, 500);
        let changed = storage.changed_docs(cursor, limit + 1).await?;
        let more = changed.len() > limit;
        let mut records = Vec::new();
        let mut next_cursor = cursor;
        for (seq, info) in changed.into_iter().take(limit) {
            let stored = stored_changes(storage, &info.id).await?;
            let record = self
                .pool
                .run(Job::Export, move || {
                    doc_from_changes(&info.id, &stored).and_then(|doc| {
                        RecordDoc::from_doc(doc)
                            .and_then(|d| d.record())
                            .map_err(|e| HubError::Corrupt(format!("document {}: {e}", info.id)))
                    })
                })
                .await??;
            records.push(record);
            next_cursor = seq;
        }
        Ok(ExportPage { records, next_cursor, more })
    }
}

/// The case system's new changes to the summary `id` of `case_id`, given its stored changes
/// (none for a new case). Automerge work: runs in the pool.
fn summary_changes(
    id: &str,
    case_id: &str,
    stored: &[u8],
    summary: CaseSummary,
) -> Result<Vec<(crate::storage::Hash, Vec<u8>)>, HubError> {
    let author = Author::new(CASE_SYSTEM_WORKER, "server");
    let body = RecordBody::CaseSummary(summary);
    let now = Utc::now();
    let mut existing = doc_from_changes(id, stored)?;
    let mut doc = if existing.get_heads().is_empty() {
        RecordDoc::create(&author, id.to_string(), case_id.to_string(), &body, now)
            .map_err(|e| HubError::Corrupt(e.to_string()))?
    } else {
        let mut doc = RecordDoc::from_doc(existing.with_actor(author.actor()))
            .map_err(|e| HubError::Corrupt(e.to_string()))?;
        doc.update_body(&author, &body, now).map_err(|e| HubError::Invalid(e.to_string()))?;
        doc
    };
    Ok(doc.raw_changes().into_iter().map(|(h, bytes)| (h.0, bytes)).collect())
}
