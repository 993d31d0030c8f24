//! `decide`, one rule at a time, without storage or HTTP.
#![allow(clippy::unwrap_used)]

use chrono::Utc;
use fieldbook_core::document::authorship::parse_actor;
use fieldbook_core::document::{Author, RecordDoc};
use fieldbook_core::protocol::{to_hashes, KeyPair};
use fieldbook_core::records::{
    case_summary_id, new_record_id, CaseSummary, RecordBody, Visit, VisitKind,
};

use super::*;

fn visit_doc(worker: &str, id: &str, case: &str) -> RecordDoc {
    let body = RecordBody::Visit(Visit::new(VisitKind::ChildProtection, Utc::now()));
    RecordDoc::create(&Author::new(worker, "tab"), id.into(), case.into(), &body, Utc::now())
        .unwrap()
}

/// Each test worker's device key.
fn key(worker: &str) -> KeyPair {
    KeyPair::from_seed(&[worker.as_bytes()[0]; 32])
}

fn registration(worker: &str) -> KeyRegistration {
    KeyRegistration {
        key: key(worker).public().0,
        worker: worker.into(),
        device: "tab".into(),
        registered_at: "2026-12-01T09:00:00Z".into(),
        token: "-".into(),
        revoked_at: None,
        revoked_by: None,
    }
}

/// The changes after `before`, each signed by its author's key.
fn signed(doc: &mut RecordDoc, before: &[automerge::ChangeHash]) -> Vec<ChangeSignature> {
    doc.change_authors_after(before)
        .into_iter()
        .map(|(h, actor)| {
            let (worker, _) = parse_actor(&actor).unwrap();
            key(&worker).sign_change(Hash(h.0), None)
        })
        .collect()
}

fn push_of(doc: &mut RecordDoc, kind: RecordKind, case: &str) -> PushDoc {
    push_after(doc, kind, case, &[])
}

/// The push of a document's changes after `before`, each signed by its author's key.
fn push_after(
    doc: &mut RecordDoc,
    kind: RecordKind,
    case: &str,
    before: &[automerge::ChangeHash],
) -> PushDoc {
    PushDoc {
        id: doc.id().to_string(),
        kind,
        case_id: case.into(),
        heads: to_hashes(&doc.heads()),
        changes: doc.save_after(before),
        signatures: signed(doc, before),
        listing: None,
    }
}

/// Both test workers' keys are registered.
fn input(push: PushDoc, stored: Stored) -> PushInput {
    let keys = ["amara", "ben"].map(|w| (key(w).public().0, registration(w))).into();
    PushInput { push, case_allowed: true, stored, keys, server_key: server().public().0 }
}

/// The server's own signing key.
fn server() -> KeyPair {
    KeyPair::from_seed(&[7; 32])
}

fn absent() -> Stored {
    Stored::Absent { hidden: false }
}

fn refused(decision: Result<Decision, HubError>) -> RejectReason {
    match decision.unwrap() {
        Decision::Refuse(reason) => reason,
        other => panic!("accepted: {other:?}"),
    }
}

#[test]
fn a_new_visit_with_a_device_id_is_accepted_and_acknowledged() {
    let mut doc = visit_doc("amara", &new_record_id(), "case-a");
    let push = push_of(&mut doc, RecordKind::Visit, "case-a");
    match decide("amara", &input(push, absent())).unwrap() {
        Decision::Accept { changes, ack } => {
            assert!(ack);
            assert_eq!(changes.len(), 1);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_case_the_caller_may_not_write_is_refused_first() {
    // Even with an id that fits nothing: the case decides before the id.
    let mut doc = visit_doc("amara", "summary-case-b", "case-b");
    let push = push_of(&mut doc, RecordKind::Visit, "case-b");
    let input = PushInput { case_allowed: false, ..input(push, absent()) };
    assert_eq!(refused(decide("amara", &input)), RejectReason::NotAllocated);
}

#[test]
fn a_visit_under_a_summary_id_is_refused() {
    // The attack of issue #10: a visit named after the summary of a case not created yet.
    let mut doc = visit_doc("amara", &case_summary_id("case-future"), "case-a");
    let push = push_of(&mut doc, RecordKind::Visit, "case-a");
    assert_eq!(refused(decide("amara", &input(push, absent()))), RejectReason::InvalidId);
}

#[test]
fn devices_never_create_summaries() {
    let summary = CaseSummary::new("L1", "Child L1");
    let body = RecordBody::CaseSummary(summary);
    for id in [case_summary_id("case-a"), new_record_id()] {
        let mut doc =
            RecordDoc::create(&Author::new("amara", "tab"), id, "case-a".into(), &body, Utc::now())
                .unwrap();
        let push = push_of(&mut doc, RecordKind::CaseSummary, "case-a");
        assert_eq!(refused(decide("amara", &input(push, absent()))), RejectReason::ReadOnly);
    }
}

#[test]
fn a_summary_the_server_holds_is_acknowledged_without_change() {
    let body = RecordBody::CaseSummary(CaseSummary::new("L1", "Child L1"));
    let mut doc = RecordDoc::create(
        &Author::new("case-system", "server"),
        case_summary_id("case-a"),
        "case-a".into(),
        &body,
        Utc::now(),
    )
    .unwrap();
    let push = push_of(&mut doc, RecordKind::CaseSummary, "case-a");
    let info =
        DocInfo { id: push.id.clone(), case_id: "case-a".into(), kind: RecordKind::CaseSummary };
    let stored = Stored::Here { info, changes: doc.save_after(&[]) };
    assert_eq!(
        decide("amara", &input(push, stored)).unwrap(),
        Decision::Accept { changes: Vec::new(), ack: true }
    );
}

#[test]
fn the_documents_meta_must_name_the_pushed_id_kind_and_case() {
    let mut doc = visit_doc("amara", &new_record_id(), "case-a");
    let mut push = push_of(&mut doc, RecordKind::Visit, "case-a");
    push.id = new_record_id();
    assert_eq!(refused(decide("amara", &input(push, absent()))), RejectReason::Malformed);
    let push = push_of(&mut doc, RecordKind::CaseNote, "case-a");
    assert_eq!(refused(decide("amara", &input(push, absent()))), RejectReason::Malformed);
    let push = push_of(&mut doc, RecordKind::Visit, "case-b");
    assert_eq!(refused(decide("amara", &input(push, absent()))), RejectReason::CaseMismatch);
}

#[test]
fn changes_by_another_worker_are_refused_without_their_signature() {
    let mut doc = visit_doc("ben", &new_record_id(), "case-a");
    let mut push = push_of(&mut doc, RecordKind::Visit, "case-a");
    push.signatures.clear();
    assert_eq!(refused(decide("amara", &input(push, absent()))), RejectReason::WrongAuthor);
}

#[test]
fn a_visible_document_of_another_case_is_a_case_mismatch() {
    let mut doc = visit_doc("amara", &new_record_id(), "case-a");
    let push = push_of(&mut doc, RecordKind::Visit, "case-a");
    let info = DocInfo { id: push.id.clone(), case_id: "case-b".into(), kind: RecordKind::Visit };
    let stored = Stored::Here { info, changes: Vec::new() };
    assert_eq!(refused(decide("amara", &input(push, stored))), RejectReason::CaseMismatch);
}

/// A hidden document gives the answer no document gives, for every push that is refused anyway;
/// a valid new record under its id is refused rather than merged into it.
#[test]
fn a_hidden_document_is_answered_as_an_absent_one() {
    let id = new_record_id();
    let mut bens = visit_doc("ben", &id, "case-b");
    let empty = PushDoc {
        id: id.clone(),
        kind: RecordKind::Visit,
        case_id: "case-a".into(),
        heads: vec![],
        changes: vec![],
        signatures: Vec::new(),
        listing: None,
    };
    let replayed = push_of(&mut bens, RecordKind::Visit, "case-a");
    for push in [empty, replayed] {
        let hidden = decide("amara", &input(push.clone(), Stored::Absent { hidden: true }));
        let unknown = decide("amara", &input(push, absent()));
        assert_eq!(hidden.unwrap(), unknown.unwrap());
    }
    let mut own = visit_doc("amara", &id, "case-a");
    let push = push_of(&mut own, RecordKind::Visit, "case-a");
    let hidden = Stored::Absent { hidden: true };
    assert_eq!(refused(decide("amara", &input(push, hidden))), RejectReason::CaseMismatch);
}

#[test]
fn new_changes_to_a_stored_document_are_the_only_ones_staged() {
    let id = new_record_id();
    let mut doc = visit_doc("amara", &id, "case-a");
    let stored = doc.save_after(&[]);
    let before = doc.heads();
    let mut v = Visit::new(VisitKind::ChildProtection, Utc::now());
    v.location = "Family home".into();
    doc.update_body(&Author::new("amara", "tab"), &RecordBody::Visit(v), Utc::now()).unwrap();
    let push = push_after(&mut doc, RecordKind::Visit, "case-a", &before);
    let info = DocInfo { id, case_id: "case-a".into(), kind: RecordKind::Visit };
    match decide("amara", &input(push, Stored::Here { info, changes: stored })).unwrap() {
        Decision::Accept { changes, ack } => {
            assert!(ack);
            assert_eq!(changes.len(), 1, "only the edit, not the creation again");
        }
        other => panic!("{other:?}"),
    }
}

/// A server restored from a backup lost a document; the device pushes only the changes after
/// what was acknowledged. They are neither refused (a refusal would stop the device offering the
/// document again) nor acknowledged: it stays pending, and the repair asks for it whole.
#[test]
fn changes_building_on_changes_the_server_lost_are_left_pending_not_refused() {
    let id = new_record_id();
    let mut doc = visit_doc("amara", &id, "case-a");
    let acknowledged = doc.heads();
    let mut v = Visit::new(VisitKind::ChildProtection, Utc::now());
    v.location = "Family home".into();
    doc.update_body(&Author::new("amara", "tab"), &RecordBody::Visit(v), Utc::now()).unwrap();
    let push = push_after(&mut doc, RecordKind::Visit, "case-a", &acknowledged);
    for stored in [absent(), Stored::Absent { hidden: true }] {
        assert_eq!(
            decide("amara", &input(push.clone(), stored)).unwrap(),
            Decision::Accept { changes: Vec::new(), ack: false }
        );
    }
    // Sent whole, the same document is stored and acknowledged.
    let whole = push_of(&mut doc, RecordKind::Visit, "case-a");
    match decide("amara", &input(whole, absent())).unwrap() {
        Decision::Accept { changes, ack } => assert!(ack && changes.len() == 2),
        other => panic!("{other:?}"),
    }
}

/// Issue #16: every new change must carry a valid signature by a registered, unrevoked key of
/// its author.
#[test]
fn unsigned_badly_signed_and_revoked_key_changes_are_refused_with_their_reason() {
    let mut doc = visit_doc("amara", &new_record_id(), "case-a");
    let good = push_of(&mut doc, RecordKind::Visit, "case-a");

    let mut unsigned = good.clone();
    unsigned.signatures.clear();
    assert_eq!(refused(decide("amara", &input(unsigned, absent()))), RejectReason::Unsigned);

    let mut forged = good.clone();
    forged.signatures[0].sig.0[0] ^= 1;
    assert_eq!(refused(decide("amara", &input(forged, absent()))), RejectReason::BadSignature);

    let mut unregistered = good.clone();
    let stranger = KeyPair::from_seed(&[99; 32]);
    unregistered.signatures = vec![stranger.sign_change(unregistered.signatures[0].hash, None)];
    let verdict = decide("amara", &input(unregistered, absent()));
    assert_eq!(refused(verdict), RejectReason::BadSignature);

    let mut revoked = input(good.clone(), absent());
    revoked.keys.get_mut(&key("amara").public().0).unwrap().revoked_at =
        Some("2026-12-02T10:00:00Z".into());
    assert_eq!(refused(decide("amara", &revoked)), RejectReason::RevokedKey);

    assert!(matches!(
        decide("amara", &input(good, absent())).unwrap(),
        Decision::Accept { ack: true, .. }
    ));
}

/// Simulation bugs 3 and 5: a device relays another worker's change (the server lost it in a
/// restore). Signed by its author's registered key it is accepted; signed by the relaying
/// worker's own key it is still another worker's change: `WrongAuthor`.
#[test]
fn a_relayed_change_is_accepted_with_its_authors_signature_only() {
    let id = new_record_id();
    let mut doc = visit_doc("amara", &id, "case-a");
    let amaras = doc.save_after(&[]);
    // Ben's tablet holds the document and edits it.
    let mut doc = RecordDoc::from_changes(&amaras, Author::new("ben", "tab").actor()).unwrap();
    let before = doc.heads();
    let mut v = Visit::new(VisitKind::ChildProtection, Utc::now());
    v.location = "School".into();
    doc.update_body(&Author::new("ben", "tab"), &RecordBody::Visit(v), Utc::now()).unwrap();
    let relayed = push_after(&mut doc, RecordKind::Visit, "case-a", &before);
    let info = DocInfo { id, case_id: "case-a".into(), kind: RecordKind::Visit };
    let stored = || Stored::Here { info: info.clone(), changes: amaras.clone() };
    assert!(matches!(
        decide("amara", &input(relayed.clone(), stored())).unwrap(),
        Decision::Accept { ack: true, .. }
    ));
    let mut own_key = relayed;
    own_key.signatures = vec![key("amara").sign_change(own_key.signatures[0].hash, None)];
    assert_eq!(refused(decide("amara", &input(own_key, stored()))), RejectReason::WrongAuthor);
}

/// A case summary as the case system wrote it (through the server), and the same summary after
/// a later upsert changed it: the older one's bytes, and the newer document.
fn summaries() -> (Vec<u8>, RecordDoc) {
    let author = Author::new("case-system", "server");
    let body = RecordBody::CaseSummary(CaseSummary::new("L1", "Child L1"));
    let id = case_summary_id("case-a");
    let mut doc = RecordDoc::create(&author, id, "case-a".into(), &body, Utc::now()).unwrap();
    let older = doc.save_after(&[]);
    let mut newer = CaseSummary::new("L1", "Child L1");
    newer.allocated_worker = "carol".into();
    doc.update_body(&author, &RecordBody::CaseSummary(newer), Utc::now()).unwrap();
    (older, doc)
}

/// Simulation bug 6: a server restored from a backup holds an older case summary than the
/// devices, which are asked for it whole. The changes it lacks are accepted back when each
/// carries the server's own signature made for the case system; anything else stays read-only.
#[test]
fn a_summary_the_server_lost_comes_back_only_under_its_own_signature_for_the_case_system() {
    let (older, mut doc) = summaries();
    let info = DocInfo {
        id: doc.id().to_string(),
        case_id: "case-a".into(),
        kind: RecordKind::CaseSummary,
    };
    let stored = || Stored::Here { info: info.clone(), changes: older.clone() };
    let sign = |key: &KeyPair, acting: Option<&str>, doc: &mut RecordDoc| {
        let mut push = push_of(doc, RecordKind::CaseSummary, "case-a");
        push.signatures = doc
            .change_authors_after(&[])
            .into_iter()
            .map(|(h, _)| key.sign_change(Hash(h.0), acting))
            .collect();
        push
    };
    let relayed = sign(&server(), Some("integration:cms"), &mut doc);
    match decide("amara", &input(relayed.clone(), stored())).unwrap() {
        Decision::Accept { changes, ack } => assert!(ack && changes.len() == 1, "{changes:?}"),
        other => panic!("{other:?}"),
    }
    // What the server holds needs no signature: it is acknowledged as it is.
    let mut held = relayed.clone();
    let mut older_doc = RecordDoc::from_changes(&older, Author::new("x", "y").actor()).unwrap();
    held.heads = to_hashes(&older_doc.heads());
    held.changes = older_doc.save_after(&[]);
    held.signatures.clear();
    assert_eq!(
        decide("amara", &input(held, stored())).unwrap(),
        Decision::Accept { changes: Vec::new(), ack: true }
    );
    for push in [
        sign(&key("amara"), None, &mut doc),
        sign(&server(), Some("manager:m1"), &mut doc),
        sign(&server(), None, &mut doc),
        sign(&KeyPair::from_seed(&[8; 32]), Some("integration:cms"), &mut doc),
        {
            let mut forged = relayed.clone();
            forged.signatures.iter_mut().for_each(|s| s.sig.0[0] ^= 1);
            forged
        },
    ] {
        assert_eq!(refused(decide("amara", &input(push, stored()))), RejectReason::ReadOnly);
    }
}

/// A manager's decision, written by the server on the manager's behalf and signed by it,
/// relayed back by a worker's tablet after a restore lost it: accepted (the server wrote it).
/// The same change under the server's key without an acting identity is refused.
#[test]
fn a_change_the_server_wrote_for_a_manager_may_be_relayed_back() {
    let id = new_record_id();
    let mut doc = visit_doc("amara", &id, "case-a");
    let amaras = doc.save_after(&[]);
    // The server's copy, writing as the manager (as `oversight::decision` does).
    let mut doc = RecordDoc::from_changes(&amaras, Author::new("m1", "server").actor()).unwrap();
    let before = doc.heads();
    let mut v = Visit::new(VisitKind::ChildProtection, Utc::now());
    v.location = "Decided".into();
    doc.update_body(&Author::new("m1", "server"), &RecordBody::Visit(v), Utc::now()).unwrap();
    let push = |acting: Option<&str>, doc: &mut RecordDoc| PushDoc {
        id: id.clone(),
        kind: RecordKind::Visit,
        case_id: "case-a".into(),
        heads: to_hashes(&doc.heads()),
        changes: doc.save_after(&before),
        signatures: doc
            .change_authors_after(&before)
            .into_iter()
            .map(|(h, _)| server().sign_change(Hash(h.0), acting))
            .collect(),
        listing: None,
    };
    let info = DocInfo { id: id.clone(), case_id: "case-a".into(), kind: RecordKind::Visit };
    let stored = || Stored::Here { info: info.clone(), changes: amaras.clone() };
    match decide("amara", &input(push(Some("manager:m1"), &mut doc), stored())).unwrap() {
        Decision::Accept { changes, ack } => assert!(ack && changes.len() == 1),
        other => panic!("{other:?}"),
    }
    let unnamed = push(None, &mut doc);
    assert_eq!(refused(decide("amara", &input(unnamed, stored()))), RejectReason::WrongAuthor);
}

/// A stored visit with some observations, the push of `edit` made to it, and the hub's hot copy
/// of the stored document (loaded, with the facts derived from it).
fn hot_push(edit: impl FnOnce(&mut RecordDoc)) -> (PushInput, HotDoc, RecordDoc) {
    let id = new_record_id();
    let mut doc = visit_doc("amara", &id, "case-a");
    let mut v = Visit::new(VisitKind::ChildProtection, Utc::now());
    v.observations = "The child was settled.".into();
    doc.update_body(&Author::new("amara", "tab"), &RecordBody::Visit(v), Utc::now()).unwrap();
    let stored = doc.save_after(&[]);
    let mut hot = RecordDoc::from_doc(doc_from_changes(&id, &stored).unwrap()).unwrap();
    let facts = crate::oversight::projection::doc_facts(&mut hot);
    let hot = HotDoc { doc: hot.into_doc(), facts };
    let before = doc.heads();
    edit(&mut doc);
    let push = push_after(&mut doc, RecordKind::Visit, "case-a", &before);
    let info = DocInfo { id, case_id: "case-a".into(), kind: RecordKind::Visit };
    (input(push, Stored::Here { info, changes: Vec::new() }), hot, doc)
}

fn accepted(decided: Result<(Decision, Option<Loaded>), HubError>) -> Merged {
    match decided.unwrap() {
        (Decision::Accept { ack: true, .. }, Some(loaded)) => Merged::finish(loaded),
        (other, _) => panic!("{other:?}"),
    }
}

#[test]
fn typing_into_a_hot_document_keeps_its_facts_but_for_the_heads() {
    let (input, hot, mut device) = hot_push(|doc| {
        let mut v = match doc.body() {
            RecordBody::Visit(v) => v.clone(),
            other => panic!("{other:?}"),
        };
        v.observations.push_str(" She showed me her room.");
        doc.update_body(&Author::new("amara", "tab"), &RecordBody::Visit(v), Utc::now()).unwrap();
    });
    let loaded = decide_loaded("amara", &input, Some(hot)).unwrap().1.unwrap();
    assert!(matches!(loaded.checked, Checked::TextEdited(_)), "the device's own edit path");
    let merged = Merged::finish(loaded);
    // The facts derived from the whole merged record are the ones carried forward.
    let mut whole = RecordDoc::from_doc(merged.hot.doc.clone()).unwrap();
    assert_eq!(merged.hot.facts, crate::oversight::projection::doc_facts(&mut whole));
    assert_eq!(merged.hot.facts, crate::oversight::projection::doc_facts(&mut device));
    assert_eq!(merged.after, sorted(&device.heads()));
}

#[test]
fn other_changes_to_a_hot_document_are_hydrated_and_checked_as_before() {
    // A scalar field set: the facts are derived again, and they moved.
    let (input, hot, mut device) = hot_push(|doc| {
        let mut v = match doc.body() {
            RecordBody::Visit(v) => v.clone(),
            other => panic!("{other:?}"),
        };
        v.child_seen = Some(true);
        doc.update_body(&Author::new("amara", "tab"), &RecordBody::Visit(v), Utc::now()).unwrap();
    });
    let before = hot.facts.clone();
    let merged = accepted(decide_loaded("amara", &input, Some(hot)));
    assert_eq!(merged.hot.facts, crate::oversight::projection::doc_facts(&mut device));
    assert_ne!(merged.hot.facts.child_seen, before.child_seen);
    // The record moved to another case by its own change: refused, hot copy or not.
    let (input, hot, _) = hot_push(|doc| {
        let mut meta = doc.meta().clone();
        meta.case_id = "case-b".into();
        doc.update_meta(&Author::new("amara", "tab"), meta, "moved", Utc::now()).unwrap();
    });
    let (decision, _) = decide_loaded("amara", &input, Some(hot)).unwrap();
    assert_eq!(decision, Decision::Refuse(RejectReason::CaseMismatch));
}
