//! Documents stored as listed (issue #13): a whole document from the server with its list row
//! is stored without loading it, with the same signature checks as a loaded one; the row is
//! used only at exactly the document's heads; the first load checks the document is what it was
//! announced as and derives its row again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::DateTime;

use crate::document::RecordDoc;
use crate::error::Error;
use crate::protocol::{DocChanges, Hash, KeyPair, KeyRecord, ListRow, Listing};
use crate::records::{ChildView, RecordBody, RecordStatus, ViewsMethod, Visit, VisitKind};
use crate::store::ExchangePlan;
use crate::Store;

fn store(dir: &tempfile::TempDir, name: &str, worker: &str) -> Store {
    Store::open(dir.path().join(name), &[3u8; 32], worker, name).unwrap()
}

fn visit(n: i64) -> RecordBody {
    let instant = DateTime::from_timestamp(1_780_000_000 + n * 86_400, 0).unwrap();
    let mut v = Visit::new(VisitKind::ChildProtection, instant);
    v.observations = format!("Visit {n}: the child was seen in the kitchen.");
    v.child_seen = Some(true);
    v.seen_alone = Some(true);
    v.child_views = vec![ChildView {
        id: crate::records::new_id(),
        method: ViewsMethod::OwnWords,
        text: "I like my new school.".into(),
        linked_ref: None,
    }];
    RecordBody::Visit(v)
}

fn server() -> KeyPair {
    KeyPair::from_seed(&[9; 32])
}

fn pull(from: &Store, docs: Vec<DocChanges>) -> ExchangePlan {
    let key =
        KeyRecord::signed(&server(), from.public_key(), "amara", "t", "2026-12-01T09:00:00Z", None);
    let server_key = Some(server().public());
    ExchangePlan { docs, keys: vec![key], verify: true, server_key, ..ExchangePlan::default() }
}

/// The whole document `id` of `from`, with the list row the server would send beside it.
fn with_listing(from: &mut Store, id: &str) -> DocChanges {
    let mut dc = from.changes_since(id, &[]).unwrap();
    let mut doc = RecordDoc::from_changes(&dc.changes, automerge::ActorId::random()).unwrap();
    let mut heads: Vec<Hash> = doc.heads().into_iter().map(Hash::from).collect();
    heads.sort_unstable();
    dc.listing = Some(Listing { heads, row: ListRow::of(&doc) });
    dc
}

/// A store's rows of case-1, without the acknowledgement (the sender's are not acknowledged).
fn rows(store: &Store) -> Vec<crate::store::RecordRow> {
    let mut rows = store.case_records("case-1").unwrap();
    rows.iter_mut().for_each(|r| r.acknowledged = false);
    rows
}

fn edited(store: &mut Store, id: &str, text: &str) {
    let mut record = store.record(id).unwrap();
    if let RecordBody::Visit(v) = &mut record.body {
        v.observations.push_str(text);
    }
    store.update_record(id, &record.body).unwrap();
}

#[test]
fn a_listed_document_is_stored_unloaded_listed_from_its_row_and_opened_as_it_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = store(&dir, "a", "amara");
    let mut b = store(&dir, "b", "amara");
    let id = a.create_record("case-1", &visit(1)).unwrap();
    edited(&mut a, &id, " Seen again.");
    a.submit(&id).unwrap();
    let dc = with_listing(&mut a, &id);

    let applied = b.apply_exchange(&pull(&a, vec![dc])).unwrap();
    assert_eq!(applied.import.created, vec![id.clone()]);
    assert_eq!(b.documents_loaded(), 0, "stored without loading it");
    assert_eq!(rows(&b), rows(&a));
    assert_eq!(b.record_row(&id).unwrap().status, RecordStatus::Submitted);

    // Opened: the same record, loaded once; its row derived again and no longer listed.
    assert_eq!(b.record(&id).unwrap(), a.record(&id).unwrap());
    assert_eq!(b.documents_loaded(), 1);
    assert_eq!(rows(&b), rows(&a));
    let listed: bool = b
        .conn
        .query_row("SELECT listed FROM documents WHERE id = ?1", [&id], |r| r.get(0))
        .unwrap();
    assert!(!listed);
    // Its signatures were kept: b relays a's changes under a's key.
    let relayed = b.changes_since(&id, &[]).unwrap();
    assert_eq!(relayed.signatures.len(), 3);
    assert!(relayed.signatures.iter().all(|s| s.key == a.public_key()));
}

#[test]
fn a_listed_document_passes_the_same_signature_checks_as_a_loaded_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = store(&dir, "a", "amara");
    let mut b = store(&dir, "b", "amara");
    let id = a.create_record("case-1", &visit(1)).unwrap();
    let good = with_listing(&mut a, &id);

    let mut unsigned = good.clone();
    unsigned.signatures.clear();
    let applied = b.apply_exchange(&pull(&a, vec![unsigned])).unwrap();
    assert!(applied.import.rejected[0].1.contains("unsigned"), "{applied:?}");

    let mut forged = good.clone();
    forged.signatures[0].sig.0[7] ^= 1;
    let applied = b.apply_exchange(&pull(&a, vec![forged])).unwrap();
    assert!(applied.import.rejected[0].1.contains("bad signature"), "{applied:?}");

    let mut plan = pull(&a, vec![good]);
    plan.keys = vec![KeyRecord::signed(
        &server(),
        a.public_key(),
        "ben",
        "t",
        "2026-12-01T09:00:00Z",
        None,
    )];
    let applied = b.apply_exchange(&plan).unwrap();
    assert!(applied.import.rejected[0].1.contains("another worker"), "{applied:?}");
    assert!(b.case_records("case-1").unwrap().is_empty(), "nothing of a refused document is kept");
    assert_eq!(b.documents_loaded(), 0);
}

#[test]
fn a_row_of_other_heads_is_ignored_and_the_document_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = store(&dir, "a", "amara");
    let mut b = store(&dir, "b", "amara");
    let id = a.create_record("case-1", &visit(1)).unwrap();
    // The server's row was derived before the last edit: it does not describe what is sent.
    let stale = with_listing(&mut a, &id).listing;
    a.submit(&id).unwrap();
    let mut dc = a.changes_since(&id, &[]).unwrap();
    dc.listing = stale;
    b.apply_exchange(&pull(&a, vec![dc])).unwrap();
    assert_eq!(b.documents_loaded(), 1, "loaded on receipt");
    assert_eq!(b.record_row(&id).unwrap().status, RecordStatus::Submitted, "its own row");
}

#[test]
fn a_row_that_lies_at_the_right_heads_is_corrected_when_the_record_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = store(&dir, "a", "amara");
    let mut b = store(&dir, "b", "amara");
    let id = a.create_record("case-1", &visit(1)).unwrap();
    let mut dc = with_listing(&mut a, &id);
    dc.listing.as_mut().unwrap().row.status = RecordStatus::Authorised;
    b.apply_exchange(&pull(&a, vec![dc])).unwrap();
    assert_eq!(b.record_row(&id).unwrap().status, RecordStatus::Authorised, "as the server said");
    b.record(&id).unwrap();
    assert_eq!(b.record_row(&id).unwrap().status, RecordStatus::Draft, "as the document says");
}

#[test]
fn a_document_announced_under_another_case_is_removed_when_first_opened() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = store(&dir, "a", "amara");
    let mut b = store(&dir, "b", "amara");
    let id = a.create_record("case-1", &visit(1)).unwrap();
    let mut dc = with_listing(&mut a, &id);
    dc.case_id = "case-2".into();
    b.apply_exchange(&pull(&a, vec![dc])).unwrap();
    assert_eq!(b.case_records("case-2").unwrap().len(), 1, "listed as announced");
    assert!(matches!(b.record(&id), Err(Error::CorruptDocument { .. })));
    assert!(b.case_records("case-2").unwrap().is_empty(), "removed with its row");
    assert!(matches!(b.record(&id), Err(Error::NotFound { .. })));
}

#[test]
fn concurrent_edits_are_received_by_loading_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = store(&dir, "a", "amara");
    let mut c = store(&dir, "c", "amara");
    let mut b = store(&dir, "b", "amara");
    let id = a.create_record("case-1", &visit(1)).unwrap();
    c.import(&[a.changes_since(&id, &[]).unwrap()]).unwrap();
    let mut record = a.record(&id).unwrap();
    if let RecordBody::Visit(v) = &mut record.body {
        v.kind = VisitKind::ChildInNeed;
    }
    a.update_record(&id, &record.body).unwrap();
    let mut record = c.record(&id).unwrap();
    if let RecordBody::Visit(v) = &mut record.body {
        v.kind = VisitKind::LookedAfter;
    }
    c.update_record(&id, &record.body).unwrap();
    a.import(&[c.changes_since(&id, &[]).unwrap()]).unwrap();
    assert_eq!(a.record_row(&id).unwrap().conflicts, 1, "the two answers conflict");
    let dc = with_listing(&mut a, &id);
    let mut plan = pull(&a, vec![dc]);
    plan.keys.push(KeyRecord::signed(
        &server(),
        c.public_key(),
        "amara",
        "t",
        "2026-12-01T09:00:00Z",
        None,
    ));
    b.apply_exchange(&plan).unwrap();
    assert_eq!(b.documents_loaded(), 1, "not one line: loaded");
    assert_eq!(rows(&b), rows(&a), "with its conflict counted");
}

#[test]
fn changes_sent_again_are_known_from_their_signatures_without_a_load() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = store(&dir, "a", "amara");
    let mut b = store(&dir, "b", "amara");
    let id = a.create_record("case-1", &visit(1)).unwrap();
    let dc = with_listing(&mut a, &id);
    b.apply_exchange(&pull(&a, vec![dc.clone()])).unwrap();
    let mut again = dc.clone();
    again.listing = None;
    let applied = b.apply_exchange(&pull(&a, vec![again.clone()])).unwrap();
    assert_eq!(applied.import.unchanged, 1);
    assert_eq!(b.documents_loaded(), 0, "nothing new, and nothing loaded to find that out");
    // A signature missing, or a change not held: loaded, as any document with news.
    let mut unsigned = again.clone();
    unsigned.signatures.clear();
    b.apply_exchange(&pull(&a, vec![unsigned])).unwrap();
    assert_eq!(b.documents_loaded(), 1);
    edited(&mut a, &id, " Seen again.");
    let newer = a.changes_since(&id, &[]).unwrap();
    let applied = b.apply_exchange(&pull(&a, vec![newer])).unwrap();
    assert_eq!(applied.import.updated, vec![id.clone()]);
    assert_eq!(b.record(&id).unwrap(), a.record(&id).unwrap());
}
