//! Visits and case notes written before attachments existed still load, with an empty
//! attachment list: as Automerge documents (what devices and the server hold) and as JSON.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automerge::{transaction::Transactable, ObjType, ReadDoc, ROOT};
use chrono::{TimeZone, Utc};

use super::*;
use crate::document::{load_raw, Author, RecordDoc};

fn without_attachments(body: RecordBody) -> automerge::AutoCommit {
    let author = Author::new("amara", "tablet");
    let at = Utc.with_ymd_and_hms(2026, 3, 26, 9, 0, 0).unwrap();
    let mut doc = RecordDoc::create(&author, new_record_id(), "case-1".into(), &body, at).unwrap();
    let mut raw = load_raw(&doc.save()).unwrap();
    let body = match raw.get(&ROOT, "body").unwrap() {
        Some((automerge::Value::Object(ObjType::Map), id)) => id,
        other => panic!("body is not a map: {other:?}"),
    };
    raw.delete(&body, "attachments").unwrap();
    raw.commit();
    assert!(raw.get(&body, "attachments").unwrap().is_none());
    raw
}

#[test]
fn an_old_visit_and_case_note_load_with_no_attachments() {
    let at = Utc.with_ymd_and_hms(2026, 3, 26, 9, 0, 0).unwrap();
    let mut visit = Visit::new(VisitKind::ChildInNeed, at);
    visit.location = "home".into();
    let doc = RecordDoc::from_doc(without_attachments(RecordBody::Visit(visit))).unwrap();
    let RecordBody::Visit(v) = doc.body() else { panic!("not a visit") };
    assert_eq!(v.location, "home");
    assert!(v.attachments.is_empty());

    let note = CaseNote {
        category: CaseNoteCategory::PhoneCall,
        occurred_at: at,
        text: "call".into(),
        attachments: Vec::new(),
    };
    let doc = RecordDoc::from_doc(without_attachments(RecordBody::CaseNote(note))).unwrap();
    let RecordBody::CaseNote(n) = doc.body() else { panic!("not a note") };
    assert_eq!(n.text, "call");
    assert!(n.attachments.is_empty());
}

#[test]
fn an_old_json_case_note_loads_with_no_attachments() {
    let old = r#"{"kind": "case_note", "fields":
        {"category": "phone_call", "occurred_at": "2026-03-26T09:00:00Z", "text": "call"}}"#;
    let body: RecordBody = serde_json::from_str(old).unwrap();
    assert!(body.attachments().is_empty());
}

#[test]
fn an_attachment_reference_survives_a_round_trip_through_the_document() {
    let at = Utc.with_ymd_and_hms(2026, 3, 26, 9, 0, 0).unwrap();
    let mut visit = Visit::new(VisitKind::ChildInNeed, at);
    visit.attachments.push(AttachmentRef {
        hash: "ab".repeat(32),
        media_type: "image/jpeg".into(),
        size: 5_000_000,
        caption: "the kitchen".into(),
        taken_at: at,
    });
    let author = Author::new("amara", "tablet");
    let mut doc = RecordDoc::create(
        &author,
        new_record_id(),
        "case-1".into(),
        &RecordBody::Visit(visit.clone()),
        at,
    )
    .unwrap();
    let reloaded = RecordDoc::load(&[&doc.save()], author.actor()).unwrap();
    assert_eq!(reloaded.body(), &RecordBody::Visit(visit));
}
