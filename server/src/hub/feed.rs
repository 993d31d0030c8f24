//! What a device receives: allocation changes, the feed of changes to visible cases since its
//! cursor, and the repair answers, within the response budget.

use std::collections::{BTreeMap, HashSet};

use fieldbook_core::protocol::{DocChanges, Hash, SyncRequest, SyncResponse, PROTOCOL_VERSION};

use super::{Hub, HubError, MAX_FEED_ROWS, RESPONSE_BUDGET_CAP};
use crate::storage::{AllocationChange, Audience, StoredChange};

pub(super) async fn assemble(
    hub: &Hub,
    audience: &Audience,
    request: &SyncRequest,
    pushed: &HashSet<Hash>,
) -> Result<SyncResponse, HubError> {
    let storage = hub.storage.as_ref();
    let budget = request.response_budget.clamp(1, RESPONSE_BUDGET_CAP);
    // Read the head before the feed: everything up to it is either in this response or after the
    // cursor we hand back, so nothing committed meanwhile can be skipped.
    let head = storage.head().await?;
    // A cursor whose entry is not what the device was told it was: this server lost history
    // (restored from a backup). Start the device's feed again from the beginning; it answers
    // with its heads (`check`) so that everything lost comes back.
    let resync =
        request.cursor > 0 && storage.seq_tag(request.cursor).await? != Some(request.cursor_tag);
    let cursor = if resync { 0 } else { request.cursor };
    if resync {
        tracing::warn!(device = %request.device, "unknown sync cursor: resync from the beginning");
    }
    let visible: Vec<String> = storage.visible_cases(audience).await?;
    let visible_set: HashSet<&String> = visible.iter().collect();
    let feed = storage.feed(cursor, &visible, budget, MAX_FEED_ROWS).await?;
    let feed_bytes: u64 = feed.iter().map(|c| c.bytes.len() as u64).sum();
    let cut = feed_bytes >= budget || feed.len() >= MAX_FEED_ROWS;
    let next_cursor = match (cut, feed.last()) {
        (true, Some(last)) => last.seq,
        _ => head.max(feed.last().map_or(0, |c| c.seq)).max(cursor),
    };

    let mut docs = Docs::default();
    for change in feed {
        if !pushed.contains(&Hash(change.hash)) {
            docs.add(change);
        }
    }

    // Allocation events up to the new cursor: newly visible cases come in full (the device's
    // cursor says nothing about them), revoked ones are purged.
    let mut allocated = Vec::new();
    let mut revoked = Vec::new();
    for event in storage.allocation_events(audience, cursor).await? {
        if event.seq > next_cursor {
            break;
        }
        match event.change {
            AllocationChange::Allocated if visible_set.contains(&event.case_id) => {
                for change in storage.case_changes(&event.case_id).await? {
                    docs.add(change);
                }
                revoked.retain(|c| c != &event.case_id);
                allocated.push(event.case_id);
            }
            AllocationChange::Revoked if !visible_set.contains(&event.case_id) => {
                allocated.retain(|c| c != &event.case_id);
                revoked.push(event.case_id);
            }
            _ => {}
        }
    }

    // Repair: the device's heads of documents; what it lacks comes back, what the server lacks
    // is named so that the device sends those documents in full.
    let mut send_all = Vec::new();
    super::repair::answer(hub, &visible_set, &request.check, &mut docs, &mut send_all).await?;

    let next_cursor_tag = match next_cursor {
        0 => 0,
        n => storage.seq_tag(n).await?.unwrap_or(0),
    };
    Ok(SyncResponse {
        version: PROTOCOL_VERSION,
        acks: Vec::new(),
        rejected: Vec::new(),
        docs: docs.into_vec(),
        allocated,
        revoked,
        send_all,
        next_cursor,
        next_cursor_tag,
        resync,
        more: cut,
    })
}

/// Changes grouped per document, each change once, in feed order.
#[derive(Default)]
pub(super) struct Docs {
    by_id: BTreeMap<String, (DocChanges, u64)>,
    seen: HashSet<(String, [u8; 32])>,
    order: u64,
}

impl Docs {
    fn add(&mut self, change: StoredChange) {
        if !self.seen.insert((change.doc.id.clone(), change.hash)) {
            return;
        }
        self.order += 1;
        let order = self.order;
        let entry = self.by_id.entry(change.doc.id.clone()).or_insert_with(|| {
            (
                DocChanges {
                    id: change.doc.id.clone(),
                    kind: change.doc.kind,
                    case_id: change.doc.case_id.clone(),
                    heads: Vec::new(),
                    changes: Vec::new(),
                },
                order,
            )
        });
        entry.0.changes.extend_from_slice(&change.bytes);
    }

    /// Replaces what is queued for a document with `changes` (a repair answer covers it all).
    pub(super) fn set_full(&mut self, info: crate::storage::DocInfo, changes: Vec<u8>) {
        self.order += 1;
        let order = self.order;
        let entry = self.by_id.entry(info.id.clone()).or_insert_with(|| {
            (
                DocChanges {
                    id: info.id,
                    kind: info.kind,
                    case_id: info.case_id,
                    heads: Vec::new(),
                    changes: Vec::new(),
                },
                order,
            )
        });
        entry.0.changes = changes;
    }

    fn into_vec(self) -> Vec<DocChanges> {
        let mut docs: Vec<(DocChanges, u64)> = self.by_id.into_values().collect();
        docs.sort_by_key(|(_, order)| *order);
        docs.into_iter().map(|(d, _)| d).filter(|d| !d.changes.is_empty()).collect()
    }
}
