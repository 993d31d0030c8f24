//! What a device receives: allocation changes, the feed of changes to visible cases since its
//! cursor, and the repair answers, within the response budget.
//!
//! Read, decide, read what the decision needs: `read` fetches the inputs of the exchange once
//! (the head, the cursor's tag, the feed rows, the allocation events), `window` decides the
//! cursor to hand back and the cases allocated and revoked (a plain function), then the changes
//! of newly allocated cases and the repair answers are read and `Docs` groups them.

use std::collections::{BTreeMap, HashMap, HashSet};

use fieldbook_core::protocol::{
    DocChanges, Hash, Listing, SyncRequest, SyncResponse, PROTOCOL_VERSION,
};

use super::{Hub, HubError, MAX_FEED_ROWS, RESPONSE_BUDGET_CAP};
use fieldbook_core::document::chunks::starts_history;

use crate::oversight::projection::{listing, parse_docs};
use crate::storage::{
    AllocationChange, AllocationEvent, Audience, ProjectionScope, Storage, StoredChange,
};

/// What the feed half of an exchange reads from storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FeedInputs {
    /// The feed's head, read before the feed: everything up to it is either in this response
    /// or after the cursor handed back, so nothing committed meanwhile can be skipped.
    pub head: u64,
    /// The device's cursor names an entry this server does not have (restored from a backup).
    pub resync: bool,
    /// Where the feed starts: the device's cursor, or 0 on a resync.
    pub cursor: u64,
    pub feed: Vec<StoredChange>,
    pub events: Vec<AllocationEvent>,
}

async fn read(
    storage: &dyn Storage,
    audience: &Audience,
    request: &SyncRequest,
    visible: &[String],
    budget: u64,
) -> Result<FeedInputs, HubError> {
    let head = storage.head().await?;
    // A cursor whose entry is not what the device was told it was: this server lost history
    // (restored from a backup). Start the device's feed again from the beginning; it answers
    // with its heads (`check`) so that everything lost comes back.
    let resync = request.cursor > 0
        && !storage.seq_tag(request.cursor).await?.is_some_and(|t| t.accepts(request.cursor_tag));
    let cursor = if resync { 0 } else { request.cursor };
    let feed = storage.feed(cursor, visible, budget, MAX_FEED_ROWS).await?;
    let events = storage.allocation_events(audience, cursor).await?;
    Ok(FeedInputs { head, resync, cursor, feed, events })
}

/// Whether the visible cases, read once at the start of the exchange, disagree with the
/// allocation events read since: a case whose latest event is an allocation but that is not
/// visible, or the reverse. Then an allocation was committed in between, and the visible cases
/// are read again (a revoked case's changes must never be sent, a new one never skipped).
pub(super) fn stale(visible: &HashSet<&String>, events: &[AllocationEvent]) -> bool {
    let mut latest: HashMap<&String, &AllocationChange> = HashMap::new();
    for event in events {
        latest.insert(&event.case_id, &event.change);
    }
    latest.into_iter().any(|(case, change)| match change {
        AllocationChange::Allocated => !visible.contains(case),
        AllocationChange::Revoked => visible.contains(case),
    })
}

/// The part of the feed one response covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Window {
    pub next_cursor: u64,
    /// The feed was cut at its budget or row bound: the device asks again.
    pub cut: bool,
    /// Cases newly visible (sent in full: the device's cursor says nothing about them).
    pub allocated: Vec<String>,
    /// Cases no longer visible (the device purges them).
    pub revoked: Vec<String>,
}

/// Decides the window of one response: where the cursor goes, and which allocation events up
/// to it the device hears of.
pub(super) fn window(inputs: &FeedInputs, visible: &HashSet<&String>, budget: u64) -> Window {
    let feed_bytes: u64 = inputs.feed.iter().map(|c| c.bytes.len() as u64).sum();
    let cut = feed_bytes >= budget || inputs.feed.len() >= MAX_FEED_ROWS;
    let next_cursor = match (cut, inputs.feed.last()) {
        (true, Some(last)) => last.seq,
        _ => inputs.head.max(inputs.feed.last().map_or(0, |c| c.seq)).max(inputs.cursor),
    };
    let mut allocated: Vec<String> = Vec::new();
    let mut revoked: Vec<String> = Vec::new();
    for event in &inputs.events {
        if event.seq > next_cursor {
            break;
        }
        match event.change {
            AllocationChange::Allocated if visible.contains(&event.case_id) => {
                revoked.retain(|c| c != &event.case_id);
                allocated.push(event.case_id.clone());
            }
            AllocationChange::Revoked if !visible.contains(&event.case_id) => {
                allocated.retain(|c| c != &event.case_id);
                revoked.push(event.case_id.clone());
            }
            _ => {}
        }
    }
    Window { next_cursor, cut, allocated, revoked }
}

pub(super) async fn assemble(
    hub: &Hub,
    audience: &Audience,
    mut visible: Vec<String>,
    request: &SyncRequest,
    pushed: &HashSet<Hash>,
) -> Result<SyncResponse, HubError> {
    let storage = hub.storage.as_ref();
    let budget = request.response_budget.clamp(1, RESPONSE_BUDGET_CAP);
    let mut inputs = read(storage, audience, request, &visible, budget).await?;
    if stale(&visible.iter().collect(), &inputs.events) {
        visible = storage.visible_cases(audience).await?;
        inputs = read(storage, audience, request, &visible, budget).await?;
    }
    if inputs.resync {
        tracing::warn!(device = %request.device, "unknown sync cursor: resync from the beginning");
    }
    let visible_set: HashSet<&String> = visible.iter().collect();
    let window = window(&inputs, &visible_set, budget);

    let mut docs = Docs::default();
    for change in inputs.feed {
        if !pushed.contains(&change.hash) {
            docs.add(change);
        }
    }
    // A newly allocated case's changes up to the device's cursor were never sent to it: they
    // come now, whole. Those after the cursor are in the feed (this page or the next ones: the
    // case is visible), so a new tablet's first download (cursor 0) gets each change once.
    for case in &window.allocated {
        if inputs.cursor == 0 {
            break;
        }
        for change in storage.case_changes(case).await? {
            if change.seq <= inputs.cursor {
                docs.add(change);
            }
        }
    }

    // Repair: the device's heads of documents; what it lacks comes back, what the server lacks
    // is named so that the device sends those documents in full.
    // Cases of checked documents the caller may no longer see are revoked (`repair`).
    let repair = super::repair::answer(hub, &visible_set, &request.check, &mut docs).await?;
    let mut revoked = window.revoked;
    for case in repair.revoked {
        if !revoked.contains(&case) {
            revoked.push(case);
        }
    }

    // The signatures of exactly the changes sent, and the registrations of their keys.
    // The list rows of documents sent from their first change (new to the device, unless it
    // wrote them itself: then it ignores the row), then the signatures of what is sent.
    let (mut docs, mut sent) = docs.into_parts();
    attach_listings(storage, &mut docs, &mut sent).await?;
    let keys = super::signing::attach(storage, &hub.key, &mut docs, &sent.hashes).await?;
    let next_cursor_tag = match window.next_cursor {
        0 => 0,
        n => storage.seq_tag(n).await?.map_or(0, |t| t.chained),
    };
    Ok(SyncResponse {
        version: PROTOCOL_VERSION,
        acks: Vec::new(),
        rejected: Vec::new(),
        docs,
        allocated: window.allocated,
        revoked,
        send_all: repair.send_all,
        next_cursor: window.next_cursor,
        next_cursor_tag,
        resync: inputs.resync,
        more: window.cut,
        receipts: Vec::new(),
        keys,
        server_key: None,
    })
}

/// Sets `listing` on the documents sent from their first change: the device's list row at the
/// heads the server's projection was derived at (`oversight::projection::listing`), read once
/// per case. The device takes it only when the changes sent are exactly the document at those
/// heads. A document whose later changes are not in this response (they fall on a later page)
/// is sent whole instead, so that it can be listed too: the device skips the later copies of
/// its changes without loading it (`store::exchange`, it holds their signatures).
async fn attach_listings(
    storage: &dyn Storage,
    docs: &mut [DocChanges],
    sent: &mut Sent,
) -> Result<(), HubError> {
    let mut cases: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, d) in docs.iter().enumerate() {
        if sent.from_start.contains(&d.id) {
            cases.entry(d.case_id.as_str()).or_default().push(i);
        }
    }
    let mut found: HashMap<String, Listing> = HashMap::new();
    for case in cases.keys() {
        let rows = storage.projected_docs(&ProjectionScope::Case(case.to_string()), None).await?;
        for facts in parse_docs(&rows)? {
            if let Some(l) = listing(&facts) {
                found.insert(facts.id, l);
            }
        }
    }
    for i in cases.into_values().flatten().collect::<Vec<_>>() {
        let Some(listing) = found.remove(&docs[i].id) else { continue };
        let to_heads = match sent.hashes.get(&docs[i].id) {
            Some(Some(hashes)) => listing.heads.iter().all(|h| hashes.contains(h)),
            _ => true, // sent whole
        };
        if !to_heads {
            docs[i].changes = storage.doc_changes(&docs[i].id).await?.concat();
            sent.hashes.insert(docs[i].id.clone(), None);
        }
        docs[i].listing = Some(listing);
    }
    Ok(())
}

/// Changes grouped per document, each change once, in feed order.
#[derive(Default)]
pub(super) struct Docs {
    by_id: BTreeMap<String, (DocChanges, u64)>,
    seen: HashSet<(String, Hash)>,
    order: u64,
    /// The hashes sent per document (`None`: the whole document, a repair answer).
    wanted: Wanted,
    /// Documents sent from their first change (`chunks::starts_history`) or whole.
    from_start: HashSet<String>,
}

/// What a response sends of each document.
pub(super) struct Sent {
    pub hashes: Wanted,
    pub from_start: HashSet<String>,
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
                    signatures: Vec::new(),
                    listing: None,
                },
                order,
            )
        });
        entry.0.changes.extend_from_slice(&change.bytes);
        if starts_history(&change.bytes) {
            self.from_start.insert(change.doc.id.clone());
        }
        if let Some(hashes) =
            self.wanted.entry(change.doc.id.clone()).or_insert_with(|| Some(HashSet::new()))
        {
            hashes.insert(change.hash);
        }
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
                    signatures: Vec::new(),
                    listing: None,
                },
                order,
            )
        });
        entry.0.changes = changes;
        self.from_start.insert(entry.0.id.clone());
        self.wanted.insert(entry.0.id.clone(), None);
    }

    /// The documents in feed order, and what is sent of each.
    fn into_parts(self) -> (Vec<DocChanges>, Sent) {
        let mut docs: Vec<(DocChanges, u64)> = self.by_id.into_values().collect();
        docs.sort_by_key(|(_, order)| *order);
        let docs = docs.into_iter().map(|(d, _)| d).filter(|d| !d.changes.is_empty()).collect();
        (docs, Sent { hashes: self.wanted, from_start: self.from_start })
    }
}

/// The change hashes sent of each document (`None`: all of them).
pub(super) type Wanted = HashMap<String, Option<HashSet<Hash>>>;

#[cfg(test)]
mod tests {
    use fieldbook_core::records::RecordKind;

    use super::*;
    use crate::storage::DocInfo;

    fn change(seq: u64, bytes: usize) -> StoredChange {
        StoredChange {
            seq,
            doc: DocInfo { id: format!("d{seq}"), case_id: "c1".into(), kind: RecordKind::Visit },
            hash: Hash([seq as u8; 32]),
            bytes: vec![0; bytes],
        }
    }

    fn event(seq: u64, case: &str, change: AllocationChange) -> AllocationEvent {
        AllocationEvent { seq, case_id: case.into(), change }
    }

    fn inputs(head: u64, feed: Vec<StoredChange>, events: Vec<AllocationEvent>) -> FeedInputs {
        FeedInputs { head, resync: false, cursor: 2, feed, events }
    }

    fn set(cases: &[&'static str]) -> Vec<String> {
        cases.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn the_window_goes_to_the_head_unless_the_budget_cuts_it() {
        use AllocationChange::*;
        let visible = set(&["c1", "c2"]);
        let visible: HashSet<&String> = visible.iter().collect();
        // Under budget: the cursor goes to the head (nothing up to it is skipped).
        let w = window(&inputs(9, vec![change(3, 10), change(5, 10)], vec![]), &visible, 100);
        assert_eq!((w.next_cursor, w.cut), (9, false));
        // At the budget: cut after the last change sent, and the device asks again.
        let w = window(&inputs(9, vec![change(3, 60), change(5, 60)], vec![]), &visible, 100);
        assert_eq!((w.next_cursor, w.cut), (5, true));
        // Nothing new: the cursor never goes back.
        let w = window(&FeedInputs { cursor: 12, ..inputs(9, vec![], vec![]) }, &visible, 100);
        assert_eq!(w.next_cursor, 12);
        // Allocation events up to the cursor only; a revocation of a case visible again is
        // not one.
        let events = vec![
            event(3, "c2", Allocated),
            event(4, "c3", Revoked),
            event(6, "c1", Revoked),
            event(7, "c4", Allocated),
        ];
        let w = window(&inputs(9, vec![change(3, 60), change(5, 60)], events), &visible, 100);
        assert_eq!((w.allocated, w.revoked), (set(&["c2"]), set(&["c3"])));
    }

    #[test]
    fn an_allocation_committed_after_the_visible_cases_were_read_makes_them_stale() {
        use AllocationChange::*;
        let visible = set(&["c1"]);
        let visible: HashSet<&String> = visible.iter().collect();
        assert!(!stale(&visible, &[event(3, "c1", Allocated), event(4, "c2", Revoked)]));
        assert!(stale(&visible, &[event(3, "c2", Allocated)]), "c2 allocated since");
        assert!(stale(&visible, &[event(3, "c1", Revoked)]), "c1 revoked since");
        assert!(!stale(&visible, &[event(3, "c2", Allocated), event(5, "c2", Revoked)]));
    }
}
