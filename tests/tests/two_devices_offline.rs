//! Alice and Bob edit the same visit offline and exchange changes in both orders.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fieldbook_core::records::RecordBody;
use fieldbook_core::Store;
use fieldbook_tests::{exchange, realistic_visit, send, visit_body, Scratch};

fn visit(store: &mut Store, id: &str) -> fieldbook_core::records::Visit {
    match store.record(id).unwrap().body {
        RecordBody::Visit(v) => v,
        other => panic!("not a visit: {other:?}"),
    }
}

/// Alice creates a visit and shares it with Bob; both go offline.
fn shared_visit(scratch: &Scratch) -> (Store, Store, String) {
    let mut alice = scratch.store("alice", "alice", "tablet-a");
    let mut bob = scratch.store("bob", "bob", "tablet-b");
    let mut v = realistic_visit(1);
    v.observations = "Mum was in the kitchen. The house was warm.".into();
    let id = alice.create_record("case-1", &visit_body(v)).unwrap();
    send(&mut alice, &mut bob);
    (alice, bob, id)
}

fn concurrent_edits(alice: &mut Store, bob: &mut Store, id: &str) {
    // Same text field: both type into the same paragraph.
    let mut a = visit(alice, id);
    a.observations = "Mum was in the kitchen cooking. The house was warm.".into();
    // Different fields.
    a.location = "Grandmother's flat".into();
    // Same scalar field, different values.
    a.bedroom_seen = Some(false);
    alice.update_record(id, &visit_body(a)).unwrap();

    let mut b = visit(bob, id);
    b.observations = "Mum was in the kitchen. The house was warm and tidy.".into();
    b.risks = "No new risks identified.".into();
    b.bedroom_seen = None;
    bob.update_record(id, &visit_body(b)).unwrap();
}

fn assert_converged(alice: &mut Store, bob: &mut Store, id: &str) {
    let (ra, rb) = (alice.record(id).unwrap(), bob.record(id).unwrap());
    assert_eq!(ra, rb, "the two devices disagree");
    assert_eq!(alice.heads(id).unwrap(), bob.heads(id).unwrap());
    let v = visit(alice, id);
    // Both text edits are kept.
    assert_eq!(v.observations, "Mum was in the kitchen cooking. The house was warm and tidy.");
    // Different fields both kept.
    assert_eq!(v.location, "Grandmother's flat");
    assert_eq!(v.risks, "No new risks identified.");
    // The scalar conflict is visible, with both values and both authors.
    let conflict = ra.conflicts.iter().find(|c| c.path == "bedroom_seen").expect("conflict shown");
    assert_eq!(conflict.values.len(), 2);
    let mut authors: Vec<&str> = conflict.values.iter().map(|c| c.worker.as_str()).collect();
    authors.sort();
    assert_eq!(authors, ["alice", "bob"]);
    let mut values: Vec<String> = conflict.values.iter().map(|c| c.value.to_string()).collect();
    values.sort();
    assert_eq!(values, ["false", "null"]);
    // The winner is the first value and is what the record shows.
    let shown = serde_json::to_value(v.bedroom_seen).unwrap();
    assert_eq!(conflict.values[0].value, shown);
    // The list row knows there is something to resolve.
    assert_eq!(alice.record_row(id).unwrap().conflicts, 1);
}

#[test]
fn alice_then_bob() {
    let scratch = Scratch::new();
    let (mut alice, mut bob, id) = shared_visit(&scratch);
    concurrent_edits(&mut alice, &mut bob, &id);
    send(&mut alice, &mut bob);
    send(&mut bob, &mut alice);
    assert_converged(&mut alice, &mut bob, &id);
}

#[test]
fn bob_then_alice() {
    let scratch = Scratch::new();
    let (mut alice, mut bob, id) = shared_visit(&scratch);
    concurrent_edits(&mut alice, &mut bob, &id);
    send(&mut bob, &mut alice);
    send(&mut alice, &mut bob);
    assert_converged(&mut alice, &mut bob, &id);
}

#[test]
fn converged_state_is_byte_identical_and_survives_reopen() {
    let scratch = Scratch::new();
    let (mut alice, mut bob, id) = shared_visit(&scratch);
    concurrent_edits(&mut alice, &mut bob, &id);
    exchange(&mut alice, &mut bob);
    // The same set of changes, byte for byte: Automerge state is a function of its change set.
    let changes = |store: &mut Store| {
        let all = store.changes_since(&id, &[]).unwrap();
        let mut doc = automerge::AutoCommit::load(&all.changes).unwrap();
        let mut raw: Vec<Vec<u8>> =
            doc.get_changes(&[]).iter().map(|c| c.raw_bytes().to_vec()).collect();
        raw.sort();
        (raw, serde_json::to_vec(&store.record(&id).unwrap()).unwrap())
    };
    let (changes_a, json_a) = changes(&mut alice);
    let (changes_b, json_b) = changes(&mut bob);
    assert_eq!(changes_a.len(), 3);
    assert!(changes_a == changes_b, "the two devices hold different change sets");
    assert!(json_a == json_b, "the two devices show different records");
    drop(alice);
    drop(bob);
    let mut alice = scratch.store("alice", "alice", "tablet-a");
    let mut bob = scratch.store("bob", "bob", "tablet-b");
    assert_converged(&mut alice, &mut bob, &id);
}

#[test]
fn resending_changes_is_a_no_op() {
    let scratch = Scratch::new();
    let (mut alice, mut bob, id) = shared_visit(&scratch);
    concurrent_edits(&mut alice, &mut bob, &id);
    let all = alice.changes_since(&id, &[]).unwrap();
    let first = bob.import(std::slice::from_ref(&all)).unwrap();
    assert_eq!(first.updated, vec![id.clone()]);
    let again = bob.import(&[all]).unwrap();
    assert_eq!(again.unchanged, 1);
    assert!(again.updated.is_empty());
}

#[test]
fn history_names_who_changed_which_field() {
    let scratch = Scratch::new();
    let (mut alice, mut bob, id) = shared_visit(&scratch);
    concurrent_edits(&mut alice, &mut bob, &id);
    exchange(&mut alice, &mut bob);
    let history = alice.history(&id).unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[0].worker, "alice");
    assert_eq!(history[0].fields, ["created"]);
    let by_bob = history.iter().find(|h| h.worker == "bob").unwrap();
    assert_eq!(by_bob.device, "tablet-b");
    assert_eq!(by_bob.fields, ["bedroom_seen", "observations", "risks"]);
    let by_alice = history.iter().rfind(|h| h.worker == "alice").unwrap();
    assert_eq!(by_alice.fields, ["bedroom_seen", "location", "observations"]);
    assert!(history.iter().all(|h| h.at.is_some()));
}

#[test]
fn a_change_moving_a_record_to_another_case_is_refused() {
    let scratch = Scratch::new();
    let (mut alice, mut bob, id) = shared_visit(&scratch);
    let mut forged = alice.changes_since(&id, &[]).unwrap();
    forged.case_id = "case-2".into();
    let report = bob.import(&[forged]).unwrap();
    assert_eq!(report.rejected.len(), 1);
    assert!(report.rejected[0].1.contains("case"));
    assert_eq!(bob.record(&id).unwrap().meta.case_id, "case-1");
}
