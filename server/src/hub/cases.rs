//! The case system's side: upserting case summaries with their allocation, and reading merged
//! records from the export feed.

use std::collections::HashMap;

use chrono::Utc;
use fieldbook_core::document::authorship::normalise_worker_id;
use fieldbook_core::document::{Author, RecordDoc};
use fieldbook_core::records::{
    CaseSummary, ConsistentIdentifier, PractitionerRole, Record, RecordBody, RecordKind,
};
use fieldbook_core::rules::case_checks::{check_summary_for_save, episode_shows_assessment};
use serde::{Deserialize, Serialize};

use super::{doc_from_changes, stored_changes, Hub, HubError, Job};
use crate::storage::{Allocation, DocInfo, Hash, NewChanges};

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
    /// The allocated worker's role. Absent: a social worker (every allocation before Working
    /// Together 2023 was one), so callers that predate roles keep working.
    #[serde(default)]
    pub role: Option<PractitionerRole>,
    /// The social worker supervising a Family Help lead practitioner.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    pub supervising_social_worker: Option<String>,
}

/// Who an exported record is about: every record in the export feed carries the child's
/// identifiers (Children Act 2004 s16LC: information processed about a child includes the
/// consistent identifier).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChildIdentity {
    pub local_child_id: String,
    pub consistent_identifier: Option<ConsistentIdentifier>,
    pub consistent_identifier_absent_reason: Option<String>,
}

impl ChildIdentity {
    fn of(summary: &CaseSummary) -> Self {
        Self {
            local_child_id: summary.local_child_id.clone(),
            consistent_identifier: summary.consistent_identifier.clone(),
            consistent_identifier_absent_reason: summary
                .consistent_identifier_absent_reason
                .clone(),
        }
    }
}

/// One record of the export feed: the merged record (its fields at the top level, as before)
/// and the child it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportedRecord {
    #[serde(flatten)]
    pub record: Record,
    /// Absent only when the server holds no summary for the record's case.
    pub child: Option<ChildIdentity>,
    /// Where to fetch each attachment the record refers to (`GET`, with the case system's own
    /// token; docs/PROTOCOL.md, "Attachments"), in the order of the record's list. A link answers
    /// 404 until the device that took the photo has uploaded it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachment_links: Vec<String>,
}

/// A page of the export feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportPage {
    pub records: Vec<ExportedRecord>,
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
        self.upsert_case_by(case_id, upsert, "integration").await
    }

    /// `upsert_case` on behalf of `acting` (the case system's token subject): the summary's
    /// changes are signed by the server's key naming it (issue #16).
    pub async fn upsert_case_by(
        &self,
        case_id: &str,
        mut upsert: CaseUpsert,
        acting: &str,
    ) -> Result<(), HubError> {
        // Allocation is matched against token subjects, which are normalised: "AMARA" from the
        // case system and "amara" from the identity provider are one worker.
        upsert.allocated_worker = normalise_worker_id(&upsert.allocated_worker);
        if !valid_id(case_id) || !valid_id(&upsert.allocated_worker) || !valid_id(&upsert.team) {
            return Err(HubError::Invalid(
                "case, worker and team ids: letters, digits, - _ . only".into(),
            ));
        }
        if upsert.supervising_social_worker.as_deref().is_some_and(|s| !valid_id(s)) {
            return Err(HubError::Invalid(
                "supervising social worker id: letters, digits, - _ . only".into(),
            ));
        }
        let storage = self.storage.as_ref();
        let summary = summary_to_save(&upsert);
        // C7, C8, C9, C10, A1: the summary is written only here, so refusing it here means no
        // device ever receives one that breaks them.
        let mut missing = check_summary_for_save(&summary, false);
        if !missing.is_empty()
            && needs_assessment(&summary)
            && has_assessment(self, case_id).await?
        {
            missing = check_summary_for_save(&summary, true);
        }
        if !missing.is_empty() {
            return Err(HubError::Unprocessable(missing));
        }
        let id = summary_doc_id(case_id);
        let stored = stored_changes(storage, &id).await?;
        let (job_id, job_case) = (id.clone(), case_id.to_string());
        let changes = self
            .pool
            .run(Job::Upsert, move || summary_changes(&job_id, &job_case, &stored, summary))
            .await??;
        let doc = DocInfo { id, case_id: case_id.to_string(), kind: RecordKind::CaseSummary };
        let signatures = self.sign_own(&changes, &format!("integration:{acting}"));
        let batch = vec![NewChanges { doc, changes, heads: None, signatures }];
        crate::oversight::projection::append_and_project(self, batch).await?;
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
        let mut children: HashMap<String, Option<ChildIdentity>> = HashMap::new();
        for (seq, info) in changed.into_iter().take(limit) {
            let stored = stored_changes(storage, &info.id).await?;
            let job_id = info.id.clone();
            let record = self
                .pool
                .run(Job::Export, move || {
                    doc_from_changes(&job_id, &stored).and_then(|doc| {
                        RecordDoc::from_doc(doc)
                            .and_then(|d| d.record())
                            .map_err(|e| HubError::Corrupt(format!("document {job_id}: {e}")))
                    })
                })
                .await??;
            let child = match children.get(&info.case_id) {
                Some(child) => child.clone(),
                None => {
                    let child = match &record.body {
                        RecordBody::CaseSummary(s) => Some(ChildIdentity::of(s)),
                        _ => self.child_of(&info.case_id).await?,
                    };
                    children.insert(info.case_id.clone(), child.clone());
                    child
                }
            };
            let attachment_links = record
                .body
                .attachments()
                .iter()
                .map(|a| fieldbook_core::attachments::attachment_path(&a.hash))
                .collect();
            records.push(ExportedRecord { record, child, attachment_links });
            next_cursor = seq;
        }
        Ok(ExportPage { records, next_cursor, more })
    }
}

/// The summary as it is kept: the allocation's worker, team, role and supervisor copied in (the
/// allocation is what the case system just decided), the identifier normalised.
fn summary_to_save(upsert: &CaseUpsert) -> CaseSummary {
    let mut summary = upsert.summary.clone();
    summary.allocated_worker.clone_from(&upsert.allocated_worker);
    summary.team.clone_from(&upsert.team);
    summary.allocated_role =
        Some(upsert.role.or(summary.allocated_role).unwrap_or(PractitionerRole::SocialWorker));
    if upsert.supervising_social_worker.is_some() {
        summary.supervising_social_worker.clone_from(&upsert.supervising_social_worker);
    }
    summary.consistent_identifier =
        summary.consistent_identifier.as_ref().map(ConsistentIdentifier::normalised);
    summary
}

/// The closure reason needs an assessment the summary itself does not show.
fn needs_assessment(summary: &CaseSummary) -> bool {
    summary.child_in_need.as_ref().is_some_and(|e| {
        e.closure_reason.is_some_and(|r| r.requires_assessment()) && !episode_shows_assessment(e)
    })
}

/// Whether the server holds an assessment record for the case (recorded on a device).
async fn has_assessment(hub: &Hub, case_id: &str) -> Result<bool, HubError> {
    let changes = hub.storage.case_changes(case_id).await?;
    Ok(changes.iter().any(|c| c.doc.kind == RecordKind::Assessment))
}

impl Hub {
    /// The identity of the child of a case, from its stored summary.
    async fn child_of(&self, case_id: &str) -> Result<Option<ChildIdentity>, HubError> {
        let id = summary_doc_id(case_id);
        let stored = stored_changes(self.storage.as_ref(), &id).await?;
        if stored.is_empty() {
            return Ok(None);
        }
        self.pool
            .run(Job::Export, move || {
                let doc = RecordDoc::from_doc(doc_from_changes(&id, &stored)?)
                    .map_err(|e| HubError::Corrupt(format!("document {id}: {e}")))?;
                Ok(match doc.body() {
                    RecordBody::CaseSummary(s) => Some(ChildIdentity::of(s)),
                    _ => None,
                })
            })
            .await?
    }
}

/// The case system's new changes to the summary `id` of `case_id`, given its stored changes
/// (none for a new case). Automerge work: runs in the pool.
fn summary_changes(
    id: &str,
    case_id: &str,
    stored: &[u8],
    summary: CaseSummary,
) -> Result<Vec<(Hash, Vec<u8>)>, HubError> {
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
    Ok(doc.raw_changes().into_iter().map(|(h, bytes)| (Hash::from(h), bytes)).collect())
}
