//! Applying pushed changes: who may write which document, and what is acknowledged.

use std::collections::HashSet;

use automerge::{AutoCommit, ChangeHash};
use fieldbook_core::document::authorship::{parse_actor, same_worker};
use fieldbook_core::document::RecordDoc;
use fieldbook_core::protocol::{DocHeads, Hash, PushDoc, RejectReason, Rejection};
use fieldbook_core::records::RecordKind;

use super::{load_doc, Hub, HubError};
use crate::auth::{Identity, Role};
use crate::storage::{Audience, DocInfo, NewChanges};

/// The outcome of the push half of an exchange.
#[derive(Debug, Default)]
pub(super) struct Pushed {
    pub acks: Vec<DocHeads>,
    pub rejected: Vec<Rejection>,
    /// Hashes of every change the device sent: never sent back to it.
    pub hashes: HashSet<Hash>,
}

pub(super) async fn apply(
    hub: &Hub,
    who: &Identity,
    audience: &Audience,
    push: &[PushDoc],
) -> Result<Pushed, HubError> {
    let storage = hub.storage.as_ref();
    let visible: HashSet<String> = storage.visible_cases(audience).await?.into_iter().collect();
    let mut out = Pushed::default();
    let mut batch = Vec::new();
    let mut acks = Vec::new();
    for doc in push {
        match check_and_stage(hub, who, &visible, doc).await? {
            Ok((changes, ack)) => {
                out.hashes.extend(doc.heads.iter().copied());
                if let Some(changes) = changes {
                    out.hashes.extend(changes.changes.iter().map(|(h, _)| Hash(*h)));
                    batch.push(changes);
                }
                if ack {
                    acks.push(DocHeads { id: doc.id.clone(), heads: doc.heads.clone() });
                }
            }
            Err(reason) => {
                // Logged without content: which document, which case, why.
                tracing::warn!(worker = %who.subject, doc = %doc.id, case = %doc.case_id, ?reason, "push refused");
                out.rejected.push(Rejection { id: doc.id.clone(), reason });
            }
        }
    }
    // All accepted documents are committed together: an acknowledgement is only sent for what
    // is durably stored.
    if !batch.is_empty() {
        storage.append(batch).await?;
    }
    out.acks = acks;
    Ok(out)
}

type Staged = (Option<NewChanges>, bool);

/// Checks one pushed document; `Ok(Err(reason))` refuses it without failing the exchange.
async fn check_and_stage(
    hub: &Hub,
    who: &Identity,
    visible: &HashSet<String>,
    push: &PushDoc,
) -> Result<Result<Staged, RejectReason>, HubError> {
    let storage = hub.storage.as_ref();
    if push.kind == RecordKind::CaseSummary {
        // Only the case system writes case summaries; a device never has local changes to one,
        // so an acknowledgement of what the server already holds is all it can get.
        let mut doc = load_doc(storage, &push.id).await?;
        return Ok(if holds_all(&mut doc, &push.heads) {
            Ok((None, true))
        } else {
            Err(RejectReason::ReadOnly)
        });
    }
    let allowed = visible.contains(&push.case_id)
        || (who.role == Role::Worker
            && storage.ever_allocated(&who.subject, &push.case_id).await?);
    if !allowed {
        return Ok(Err(RejectReason::NotAllocated));
    }
    if let Some(existing) = storage.doc_info(&push.id).await? {
        if existing.case_id != push.case_id || existing.kind != push.kind {
            return Ok(Err(RejectReason::CaseMismatch));
        }
    }
    let mut doc = load_doc(storage, &push.id).await?;
    let before = doc.get_heads();
    if fieldbook_core::document::load_incremental_checked(&mut doc, &push.changes).is_err() {
        return Ok(Err(RejectReason::Malformed));
    }
    // The changes that are not ancestors of what was stored: exactly the new ones.
    let new: Vec<_> = doc.get_changes(&before);
    if new.is_empty() && before.is_empty() {
        return Ok(Err(RejectReason::Malformed));
    }
    // The actor's worker compared normalised: a device opened by an older build may have spelt
    // the worker id as the person typed it ("Amara"), the token's subject is normalised.
    if !new
        .iter()
        .all(|c| parse_actor(c.actor_id()).is_some_and(|(w, _)| same_worker(&w, &who.subject)))
    {
        return Ok(Err(RejectReason::WrongAuthor));
    }
    let ack = holds_all(&mut doc, &push.heads);
    match RecordDoc::from_doc(doc) {
        Ok(record) => {
            let meta = record.meta();
            if meta.id != push.id || meta.kind != push.kind {
                return Ok(Err(RejectReason::Malformed));
            }
            if meta.case_id != push.case_id {
                return Ok(Err(RejectReason::CaseMismatch));
            }
        }
        Err(_) => return Ok(Err(RejectReason::Malformed)),
    }
    let staged = (!new.is_empty()).then(|| NewChanges {
        doc: DocInfo { id: push.id.clone(), case_id: push.case_id.clone(), kind: push.kind },
        changes: new.iter().map(|c| (c.hash().0, c.raw_bytes().to_vec())).collect(),
    });
    Ok(Ok((staged, ack)))
}

fn holds_all(doc: &mut AutoCommit, heads: &[Hash]) -> bool {
    heads.iter().all(|h| doc.get_change_by_hash(&ChangeHash(h.0)).is_some())
}
