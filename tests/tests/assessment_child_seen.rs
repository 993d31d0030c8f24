//! C1 on assessments: "child seen: yes, or no with a reason" (DOMAIN.md §3). An assessment with
//! the child not seen and no reason cannot be submitted; an assessment written before the reason
//! field existed still loads, and asks for the reason only when it is submitted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automerge::{transaction::Transactable, ReadDoc, ROOT};
use chrono::NaiveDate;
use fieldbook_core::codes::AssessmentFactor;
use fieldbook_core::document::{load_raw, Author, RecordDoc};
use fieldbook_core::records::{
    Assessment, AssessmentKind, ChildView, RecordBody, RecordStatus, ViewsMethod,
};
use fieldbook_core::rules::completeness::CheckId;
use fieldbook_core::{DocumentChanges, Error};
use fieldbook_tests::{at, Scratch};

fn missing(err: Error) -> Vec<(CheckId, String)> {
    match err {
        Error::Incomplete(items) => items.into_iter().map(|m| (m.check, m.field)).collect(),
        other => panic!("expected Incomplete, got {other:?}"),
    }
}

fn not_seen_assessment() -> Assessment {
    let mut a =
        Assessment::new(AssessmentKind::Single, NaiveDate::from_ymd_opt(2026, 3, 2).unwrap());
    a.child_seen = Some(false);
    // Views gathered through an advocate, so C3 is met and only C1 is at stake.
    a.child_views = vec![ChildView {
        id: "v".into(),
        method: ViewsMethod::Advocate,
        text: "Wants to stay at her school".into(),
        linked_ref: None,
    }];
    a.no_agency_reason = "No agencies involved".into();
    a.analysis = "Needs are met".into();
    a.factors = vec![AssessmentFactor::Neglect];
    a
}

#[test]
fn an_assessment_with_the_child_not_seen_and_no_reason_cannot_be_submitted() {
    let scratch = Scratch::new();
    let mut store = scratch.store("w", "w1", "tablet-1");
    let mut a = not_seen_assessment();
    let id = store.create_record("case-1", &RecordBody::Assessment(a.clone())).unwrap();
    assert_eq!(
        missing(store.submit(&id).unwrap_err()),
        vec![(CheckId::C1, "child_not_seen_reason".to_string())]
    );
    a.child_not_seen_reason = "   ".into();
    store.update_record(&id, &RecordBody::Assessment(a.clone())).unwrap();
    assert_eq!(
        missing(store.submit(&id).unwrap_err()),
        vec![(CheckId::C1, "child_not_seen_reason".to_string())]
    );
    assert_eq!(store.record(&id).unwrap().meta.status, RecordStatus::Draft);
    a.child_not_seen_reason = "Child in hospital throughout the assessment".into();
    store.update_record(&id, &RecordBody::Assessment(a.clone())).unwrap();
    store.submit(&id).unwrap();
    let record = store.record(&id).unwrap();
    assert_eq!(record.meta.status, RecordStatus::Submitted);
    assert_eq!(record.body, RecordBody::Assessment(a));
}

/// An assessment document as the first schema wrote it: the same layout, without the
/// `child_not_seen_reason` key (built with today's code, then that key removed with raw
/// Automerge operations, so the stored document has no trace of the field).
fn old_schema_assessment(id: &str, body: &Assessment) -> Vec<u8> {
    let author = Author::new("w1", "old-tablet");
    let mut doc = RecordDoc::create(
        &author,
        id.into(),
        "case-1".into(),
        &RecordBody::Assessment(body.clone()),
        at(2026, 3, 10, 9),
    )
    .unwrap();
    let mut raw = load_raw(&doc.save()).unwrap().with_actor(author.actor());
    let (_, body_obj) = raw.get(ROOT, "body").unwrap().unwrap();
    raw.delete(&body_obj, "child_not_seen_reason").unwrap();
    raw.commit();
    assert!(raw.get(&body_obj, "child_not_seen_reason").unwrap().is_none());
    raw.save_after(&[])
}

#[test]
fn an_assessment_written_before_the_reason_field_loads_and_is_checked_on_submit() {
    let scratch = Scratch::new();
    let mut store = scratch.store("w", "w1", "tablet-1");
    let old = not_seen_assessment();
    let changes = old_schema_assessment("old-assessment", &old);
    let report = store
        .import(&[DocumentChanges {
            id: "old-assessment".into(),
            kind: fieldbook_core::records::RecordKind::Assessment,
            case_id: "case-1".into(),
            heads: Vec::new(),
            signatures: fieldbook_tests::sign_all(&changes),
            changes,
            listing: None,
        }])
        .unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    // It loads, the missing field read as empty, everything else as written.
    let record = store.record("old-assessment").unwrap();
    assert_eq!(record.body, RecordBody::Assessment(old.clone()));
    assert!(record.conflicts.is_empty());
    // Submitting it now asks for the reason (it passed with none before).
    assert_eq!(
        missing(store.submit("old-assessment").unwrap_err()),
        vec![(CheckId::C1, "child_not_seen_reason".to_string())]
    );
    // Adding the reason writes the new field into the old document, and then it submits.
    let mut fixed = old;
    fixed.child_not_seen_reason = "Child missing from home during the assessment".into();
    let changed =
        store.update_record("old-assessment", &RecordBody::Assessment(fixed.clone())).unwrap();
    assert_eq!(changed, ["child_not_seen_reason"]);
    store.submit("old-assessment").unwrap();
    assert_eq!(store.record("old-assessment").unwrap().body, RecordBody::Assessment(fixed));
}

#[test]
fn assessment_json_without_the_reason_still_reads() {
    // The app sends non-visit records as JSON; an app built before the field omits it.
    let mut json = serde_json::to_value(RecordBody::Assessment(not_seen_assessment())).unwrap();
    json["fields"].as_object_mut().unwrap().remove("child_not_seen_reason").unwrap();
    let body: RecordBody = serde_json::from_value(json).unwrap();
    assert_eq!(body, RecordBody::Assessment(not_seen_assessment()));
}
