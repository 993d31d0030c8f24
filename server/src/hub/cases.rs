//! The case system's side: upserting case summaries with their allocation, and reading merged
//! records from the export feed.

use chrono::Utc;
use fieldbook_core::document::{Author, RecordDoc};
use fieldbook_core::records::{CaseSummary, Record, RecordBody};
use fieldbook_core::rules::completeness;
use serde::{Deserialize, Serialize};

use super::{load_doc, Hub, HubError};
use crate::storage::{Allocation, DocInfo, NewChanges};

/// The worker id the server writes case summaries as (the case system's changes).
pub const CASE_SYSTEM_WORKER: &str = "case-system";

/// What the case system sends for one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaseUpsert {
    pub summary: CaseSummary,
    /// The worker the case is allocated to.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    pub allocated_worker: String,
    /// The worker's team: the team's managers see the case.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    pub team: String,
}

/// A page of the export feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportPage {
    pub records: Vec<Record>,
    /// Pass back as `cursor` to continue.
    pub next_cursor: u64,
    /// More records are waiting after `next_cursor`.
    pub more: bool,
}

/// The id of a case's summary document: one per case, the same on every server.
pub fn summary_doc_id(case_id: &str) -> String {
    format!("summary-{case_id}")
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
        let author = Author::new(CASE_SYSTEM_WORKER, "server");
        let body = RecordBody::CaseSummary(upsert.summary.clone());
        let now = Utc::now();
        let mut existing = load_doc(storage, &id).await?;
        let mut doc = if existing.get_heads().is_empty() {
            RecordDoc::create(&author, id.clone(), case_id.to_string(), &body, now)
                .map_err(|e| HubError::Corrupt(e.to_string()))?
        } else {
            let mut doc = RecordDoc::from_doc(existing.with_actor(author.actor()))
                .map_err(|e| HubError::Corrupt(e.to_string()))?;
            doc.update_body(&author, &body, now).map_err(|e| HubError::Invalid(e.to_string()))?;
            doc
        };
        let changes = doc.raw_changes().into_iter().map(|(h, bytes)| (h.0, bytes)).collect();
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
            let doc = load_doc(storage, &info.id).await?;
            let record = RecordDoc::from_doc(doc)
                .and_then(|d| d.record())
                .map_err(|e| HubError::Corrupt(format!("document {}: {e}", info.id)))?;
            records.push(record);
            next_cursor = seq;
        }
        Ok(ExportPage { records, next_cursor, more })
    }
}
