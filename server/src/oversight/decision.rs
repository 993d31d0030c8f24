//! A manager's decision from the authorisation queue, written as an Automerge change by the
//! manager's identity through the core's lifecycle function (`fieldbook_core::store::decide_on`,
//! the same the tablets use), so it merges with whatever the worker typed offline and reaches
//! the worker's tablet on its next sync like any other change.

use chrono::Utc;
use fieldbook_core::document::{Author, RecordDoc};
use fieldbook_core::records::OversightDecision;
use fieldbook_core::store::decide_on;

use super::pages::PageError;
use super::projection::{append_and_project, rules};
use crate::auth::Identity;
use crate::hub::{doc_from_changes, stored_changes, Hub, HubError, Job};
use crate::storage::{DocInfo, Hash, NewChanges};

/// The device name the server's oversight changes carry in their actor and history.
pub const OVERSIGHT_DEVICE: &str = "oversight-web";

/// Records `decision` with `rationale` on the record `info` as `who` (already checked to manage
/// the record's team).
pub async fn decide(
    hub: &Hub,
    who: &Identity,
    info: DocInfo,
    decision: OversightDecision,
    rationale: String,
) -> Result<(), PageError> {
    let stored = stored_changes(hub.storage().as_ref(), &info.id).await?;
    let author = Author::new(&who.subject, OVERSIGHT_DEVICE);
    let id = info.id.clone();
    let outcome = hub
        .run_job(Job::Oversight, move || {
            let doc = doc_from_changes(&id, &stored)?.with_actor(author.actor());
            let mut record = RecordDoc::from_doc(doc)
                .map_err(|e| HubError::Corrupt(format!("document {id}: {e}")))?;
            let (cal, settings) = rules();
            Ok::<_, HubError>(
                decide_on(&mut record, &author, decision, &rationale, Utc::now(), cal, settings)
                    .map(|()| record.raw_changes()),
            )
        })
        .await??;
    let changes = match outcome {
        Ok(changes) => changes,
        Err(fieldbook_core::Error::Incomplete(items)) => {
            return Err(PageError::Incomplete(
                items.iter().map(|i| format!("{:?}: {}", i.check, i.message)).collect(),
            ))
        }
        Err(fieldbook_core::Error::InvalidTransition { .. }) => return Err(PageError::Conflict),
        Err(e) => return Err(HubError::Corrupt(format!("document {}: {e}", info.id)).into()),
    };
    let changes: Vec<_> = changes.into_iter().map(|(h, bytes)| (Hash::from(h), bytes)).collect();
    let doc_id = info.id.clone();
    let signatures = hub.sign_own(&changes, &format!("manager:{}", who.subject));
    append_and_project(hub, vec![NewChanges { doc: info, changes, heads: None, signatures }])
        .await?;
    tracing::info!(doc = %doc_id, manager = %who.subject, decision = decision.code(), "oversight decision recorded");
    Ok(())
}
