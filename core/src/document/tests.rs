#![allow(clippy::unwrap_used, clippy::expect_used)]

use automerge::ReadDoc as _;
use chrono::Utc;

use super::*;
use crate::records::{Visit, VisitKind};
use crate::terms::fields;

fn author() -> Author {
    Author::new("w1", "tablet-1")
}

#[test]
fn an_unchanged_body_writes_nothing_even_with_sub_second_times() {
    // Visit::new stamps recorded_at with nanoseconds: it must read back equal.
    let body = RecordBody::Visit(Visit::new(VisitKind::ChildInNeed, Utc::now()));
    let mut doc =
        RecordDoc::create(&author(), "r1".into(), "c1".into(), &body, Utc::now()).unwrap();
    let heads = doc.heads();
    assert_eq!(doc.body(), &body);
    assert!(doc.update_body(&author(), &body, Utc::now()).unwrap().is_empty());
    assert_eq!(doc.heads(), heads);
}

#[test]
fn text_edits_are_splices_not_rewrites() {
    let mut v = Visit::new(VisitKind::ChildInNeed, Utc::now());
    v.observations = "a".repeat(2000);
    let mut doc = RecordDoc::create(
        &author(),
        "r1".into(),
        "c1".into(),
        &RecordBody::Visit(v.clone()),
        Utc::now(),
    )
    .unwrap();
    let before = doc.heads();
    v.observations.insert_str(1000, "inserted words");
    assert_eq!(
        doc.update_body(&author(), &RecordBody::Visit(v.clone()), Utc::now()).unwrap(),
        ["observations"]
    );
    // The change carries the inserted words, not the whole 2,000 characters again.
    let change = doc.save_after(&before);
    assert!(change.len() < 300, "change of {} bytes", change.len());
    assert_eq!(doc.body(), &RecordBody::Visit(v));
}

#[test]
fn a_newer_schema_is_refused_and_damaged_bytes_are_an_error() {
    let body = RecordBody::Visit(Visit::new(VisitKind::ChildInNeed, Utc::now()));
    let mut doc =
        RecordDoc::create(&author(), "r1".into(), "c1".into(), &body, Utc::now()).unwrap();
    let mut meta = doc.meta().clone();
    meta.schema_version = SCHEMA_VERSION + 1;
    doc.update_meta(&author(), meta, "future", Utc::now()).unwrap();
    let bytes = doc.save();
    assert!(matches!(
        RecordDoc::load(&[&bytes], author().actor()),
        Err(Error::UnsupportedSchema { found: 2, supported: 1 })
    ));
    assert!(RecordDoc::load(&[b"not automerge"], author().actor()).is_err());
    assert!(matches!(RecordDoc::load(&[], author().actor()), Err(Error::CorruptDocument { .. })));
}

#[test]
fn applying_a_change_that_only_deletes_refreshes_the_body() {
    // Regression (found by the three-store property test): a deletion-only change adds no
    // operation to the op set, and a count of added operations missed it.
    let mut v = Visit::new(VisitKind::ChildInNeed, Utc::now());
    v.analysis = "she said".into();
    let body = RecordBody::Visit(v.clone());
    let mut a = RecordDoc::create(&author(), "r1".into(), "c1".into(), &body, Utc::now()).unwrap();
    let mut b = RecordDoc::load(&[&a.save()], Author::new("w2", "tablet-2").actor()).unwrap();
    let before = b.heads();
    v.analysis = "se said".into();
    b.update_body(&Author::new("w2", "tablet-2"), &RecordBody::Visit(v.clone()), Utc::now())
        .unwrap();
    assert!(a.apply(&b.save_after(&before)).unwrap());
    assert_eq!(a.body(), &RecordBody::Visit(v));
}

#[test]
fn pasting_a_long_report_into_a_field_is_one_splice() {
    // Automerge's own diff took minutes on this; the bounded diff makes it one insertion.
    let mut v = Visit::new(VisitKind::ChildInNeed, Utc::now());
    v.observations = "Short note. ".repeat(100);
    let mut doc = RecordDoc::create(
        &author(),
        "r1".into(),
        "c1".into(),
        &RecordBody::Visit(v.clone()),
        Utc::now(),
    )
    .unwrap();
    let before = doc.heads();
    let pasted: String = (0..300_000u32).map(|i| char::from(b'a' + (i * 7 % 26) as u8)).collect();
    v.observations.insert_str(600, &pasted);
    doc.update_body(&author(), &RecordBody::Visit(v.clone()), Utc::now()).unwrap();
    assert_eq!(doc.body(), &RecordBody::Visit(v.clone()));
    // Then a small edit of the long text is again a small change.
    let middle = doc.heads();
    v.observations.insert_str(150_000, " an inserted remark ");
    doc.update_body(&author(), &RecordBody::Visit(v.clone()), Utc::now()).unwrap();
    assert!(doc.save_after(&middle).len() < 400);
    assert!(doc.save_after(&before).len() > 1000);
    assert_eq!(doc.body(), &RecordBody::Visit(v));
}

/// Found by `fuzz/load_document`: a malformed document that made automerge panic. Loading
/// damaged bytes must be an error, never a crash.
#[test]
fn fuzz_regression_malformed_document_is_an_error() {
    let bytes = [133u8, 111, 74, 131, 13, 10, 0, 144, 3, 9, 0, 0, 0, 1, 35, 1, 50, 214, 74];
    if let Ok(doc) = load_raw(&bytes) {
        let _ = RecordDoc::from_doc(doc);
    }
}

/// A visit with five text fields, two of them inside list items, as the benchmark uses.
fn visit_with_text() -> Visit {
    use crate::records::{AgencyContact, AgencyKind, ChildView, ViewsMethod};
    let mut v = Visit::new(VisitKind::ChildInNeed, Utc::now());
    v.observations = "seen in the kitchen ".repeat(50);
    v.analysis = "mum appeared tired ".repeat(30);
    v.risks = "none known ".repeat(20);
    v.child_views = vec![ChildView {
        id: crate::records::new_id(),
        method: ViewsMethod::OwnWords,
        text: "school is better ".repeat(20),
        linked_ref: None,
    }];
    v.agencies_contacted = vec![AgencyContact {
        id: crate::records::new_id(),
        agency: AgencyKind::School,
        organisation: "School".into(),
        date: None,
        summary: "spoke to the head ".repeat(10),
    }];
    v
}

fn text_fields_reconciled_by(edit: impl FnOnce()) -> usize {
    let before = fields::text::RECONCILED.with(|n| n.get());
    edit();
    fields::text::RECONCILED.with(|n| n.get()) - before
}

#[test]
fn an_edit_reads_and_diffs_only_the_fields_it_changed() {
    let mut v = visit_with_text();
    let mut doc = RecordDoc::create(
        &author(),
        "r1".into(),
        "c1".into(),
        &RecordBody::Visit(v.clone()),
        Utc::now(),
    )
    .unwrap();
    // Typing in one top-level text field: spliced, and no text field is reconciled (a whole-body
    // reconcile read back and diffed all seven text fields, the two empty ones included).
    v.observations.push_str("and she had made a friend.");
    let touched = text_fields_reconciled_by(|| {
        let fields = doc.update_body(&author(), &RecordBody::Visit(v.clone()), Utc::now());
        assert_eq!(fields.unwrap(), ["observations"]);
    });
    assert_eq!(touched, 0);
    // A scalar answer: no text field is touched either.
    v.child_seen = Some(true);
    let touched = text_fields_reconciled_by(|| {
        let fields = doc.update_body(&author(), &RecordBody::Visit(v.clone()), Utc::now());
        assert_eq!(fields.unwrap(), ["child_seen"]);
    });
    assert_eq!(touched, 0);
    // Text inside a list item: that list is reconciled (its one text), nothing else.
    v.child_views[0].text.push_str("she said so herself.");
    let touched = text_fields_reconciled_by(|| {
        let fields = doc.update_body(&author(), &RecordBody::Visit(v.clone()), Utc::now());
        assert_eq!(fields.unwrap(), ["child_views"]);
    });
    assert_eq!(touched, 1);
    assert_eq!(doc.body(), &RecordBody::Visit(v.clone()));
    // What was written reads back from the saved bytes.
    let loaded = RecordDoc::load(&[&doc.save()], author().actor()).unwrap();
    assert_eq!(loaded.body(), &RecordBody::Visit(v));
}

#[test]
fn a_field_nobody_edited_is_left_as_the_document_holds_it() {
    // Another implementation wrote `analysis` as a plain string, not Text; Fieldbook reads it
    // (fields::text::hydrate). An edit of another field must not rewrite it, which a
    // whole-body reconcile did (turning it into a Text object: a change to a field nobody touched).
    let v = visit_with_text();
    let mut doc = RecordDoc::create(
        &author(),
        "r1".into(),
        "c1".into(),
        &RecordBody::Visit(v.clone()),
        Utc::now(),
    )
    .unwrap();
    let body = match doc.doc.get(ROOT, "body").unwrap() {
        Some((automerge::Value::Object(_), id)) => id,
        other => panic!("{other:?}"),
    };
    automerge::transaction::Transactable::put(&mut doc.doc, &body, "analysis", "scalar words")
        .unwrap();
    doc.doc.commit();
    let mut doc = RecordDoc::from_doc(doc.doc).unwrap();
    let mut v = match doc.body() {
        RecordBody::Visit(v) => v.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(v.analysis, "scalar words");
    let before = doc.heads();
    v.risks.push_str("a new risk.");
    doc.update_body(&author(), &RecordBody::Visit(v.clone()), Utc::now()).unwrap();
    assert!(matches!(
        doc.doc.get(&body, "analysis").unwrap(),
        Some((automerge::Value::Scalar(_), _))
    ));
    // The change holds operations on the risks text only.
    let risks = match doc.doc.get(&body, "risks").unwrap() {
        Some((automerge::Value::Object(_), id)) => id,
        other => panic!("{other:?}"),
    };
    let changes = doc.doc.get_changes(&before);
    assert_eq!(changes.len(), 1);
    let ops = changes[0].decode().operations;
    assert!(!ops.is_empty());
    let risks = risks.to_string();
    assert!(ops.iter().all(|op| op.obj.to_string() == risks), "{ops:?}");
    assert_eq!(doc.body(), &RecordBody::Visit(v));
}

#[test]
fn an_edit_after_applied_changes_diffs_against_the_applied_body() {
    // The JSON of the body kept from the last write must not outlive a change from elsewhere.
    let mut v = visit_with_text();
    let mut a = RecordDoc::create(
        &author(),
        "r1".into(),
        "c1".into(),
        &RecordBody::Visit(v.clone()),
        Utc::now(),
    )
    .unwrap();
    v.risks.push_str("first edit.");
    a.update_body(&author(), &RecordBody::Visit(v.clone()), Utc::now()).unwrap();
    let other = Author::new("w2", "tablet-2");
    let mut b = RecordDoc::load(&[&a.save()], other.actor()).unwrap();
    let before = b.heads();
    v.analysis.push_str("from the other tablet.");
    b.update_body(&other, &RecordBody::Visit(v.clone()), Utc::now()).unwrap();
    assert!(a.apply(&b.save_after(&before)).unwrap());
    v.observations.push_str("then here.");
    let fields = a.update_body(&author(), &RecordBody::Visit(v.clone()), Utc::now()).unwrap();
    assert_eq!(fields, ["observations"]);
    assert_eq!(a.body(), &RecordBody::Visit(v));
}

/// `changes_after` answers exactly what `save_after` does: from the kept bytes of the latest
/// changes when it has them all, from automerge otherwise (older heads, changes from a peer).
#[test]
fn changes_after_gives_the_bytes_save_after_gives() {
    let mut v = Visit::new(VisitKind::ChildInNeed, Utc::now());
    let mut doc = RecordDoc::create(
        &author(),
        "r1".into(),
        "c1".into(),
        &RecordBody::Visit(v.clone()),
        Utc::now(),
    )
    .unwrap();
    let created = doc.heads();
    let mut heads = vec![created.clone()];
    for i in 0..3 {
        let before = doc.heads();
        v.observations.push_str(&format!(" edit {i}"));
        doc.update_body(&author(), &RecordBody::Visit(v.clone()), Utc::now()).unwrap();
        // The store's write path: the chunk of each write.
        doc.save_after(&before);
        heads.push(doc.heads());
    }
    assert_eq!(doc.recent.len(), 3, "one kept change per write");
    for h in &heads {
        assert_eq!(doc.changes_after(h), doc.doc.save_after(h), "after {h:?}");
    }
    // From nothing: the creation's change was never saved alone, so automerge answers.
    assert_eq!(doc.changes_after(&[]), doc.doc.save_after(&[]));
    // The bytes load as the same document.
    let mut copy = RecordDoc::from_changes(&doc.changes_after(&[]), author().actor()).unwrap();
    let mut other = RecordDoc::from_changes(&doc.save_after(&[]), author().actor()).unwrap();
    assert_eq!(copy.heads(), other.heads());
    assert_eq!(copy.body(), other.body());
}
