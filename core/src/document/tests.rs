#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;

use super::*;
use crate::records::{Visit, VisitKind};

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
