//! draft -> submitted -> authorised, with completeness checks that name what is missing, and
//! amendments after authorisation kept and flagged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::NaiveDate;
use fieldbook_core::codes::AssessmentFactor;
use fieldbook_core::records::{
    Assessment, AssessmentKind, ChildView, OversightDecision, RecordBody, RecordStatus,
    ViewsMethod, VisitKind,
};
use fieldbook_core::rules::completeness::CheckId;
use fieldbook_core::Error;
use fieldbook_tests::{realistic_visit, send, visit_body, Scratch};

fn missing(err: Error) -> Vec<(CheckId, String)> {
    match err {
        Error::Incomplete(items) => items.into_iter().map(|m| (m.check, m.field)).collect(),
        other => panic!("expected Incomplete, got {other:?}"),
    }
}

#[test]
fn a_visit_with_the_child_not_seen_and_no_reason_cannot_be_submitted() {
    let scratch = Scratch::new();
    let mut store = scratch.store("w", "w1", "tablet-1");
    let mut v = realistic_visit(1);
    v.kind = VisitKind::ChildInNeed;
    v.child_seen = Some(false);
    v.child_not_seen_reason.clear();
    let id = store.create_record("case-1", &visit_body(v.clone())).unwrap();
    let err = store.submit(&id).unwrap_err();
    assert!(err.to_string().contains("child_not_seen_reason"), "{err}");
    assert_eq!(missing(err), vec![(CheckId::C1, "child_not_seen_reason".to_string())]);
    assert_eq!(store.record(&id).unwrap().meta.status, RecordStatus::Draft);
    // Nothing typed was lost by the refusal.
    assert_eq!(store.record(&id).unwrap().body, visit_body(v.clone()));
    v.child_not_seen_reason = "No one answered the door".into();
    store.update_record(&id, &visit_body(v)).unwrap();
    store.submit(&id).unwrap();
    assert_eq!(store.record(&id).unwrap().meta.status, RecordStatus::Submitted);
}

fn assessment(start: NaiveDate) -> Assessment {
    let mut a = Assessment::new(AssessmentKind::Single, start);
    a.child_seen = Some(true);
    a.child_views = vec![ChildView {
        id: "v".into(),
        method: ViewsMethod::Play,
        text: "Drew her family".into(),
        linked_ref: None,
    }];
    a.no_agency_reason = "No agencies involved".into();
    a.analysis = "Needs are met".into();
    a.factors = vec![AssessmentFactor::NoFactorsIdentified, AssessmentFactor::DomesticAbuseParent];
    a
}

#[test]
fn an_assessment_with_factor_21_and_another_cannot_be_submitted() {
    let scratch = Scratch::new();
    let mut store = scratch.store("w", "w1", "tablet-1");
    let id = store
        .create_record(
            "case-1",
            &RecordBody::Assessment(assessment(NaiveDate::from_ymd_opt(2026, 3, 2).unwrap())),
        )
        .unwrap();
    let err = store.submit(&id).unwrap_err();
    let message = err.to_string();
    assert_eq!(missing(err), vec![(CheckId::C6, "factors".to_string())]);
    assert!(message.contains("C6 factors"), "{message}");
    let items = match store.submit(&id).unwrap_err() {
        Error::Incomplete(items) => items,
        other => panic!("{other:?}"),
    };
    assert!(items[0].message.contains("21"));
}

#[test]
fn a_manager_authorises_and_later_edits_are_amendments() {
    let scratch = Scratch::new();
    let mut worker = scratch.store("w", "w1", "tablet-1");
    let mut manager = scratch.store("m", "m1", "laptop-m");
    let mut a = assessment(NaiveDate::from_ymd_opt(2026, 3, 2).unwrap());
    a.factors = vec![AssessmentFactor::DomesticAbuseParent];
    let id = worker.create_record("case-1", &RecordBody::Assessment(a.clone())).unwrap();
    worker.submit(&id).unwrap();

    // The author cannot authorise their own work, and a rationale is required (C5).
    let own = worker.authorise(&id, "looks fine").unwrap_err();
    assert_eq!(missing(own), vec![(CheckId::C5, "manager".to_string())]);
    send(&mut worker, &mut manager);
    let blank = manager.authorise(&id, "  ").unwrap_err();
    assert_eq!(missing(blank), vec![(CheckId::C5, "rationale".to_string())]);
    manager.authorise(&id, "Analysis supports the plan").unwrap();
    let meta = manager.record(&id).unwrap().meta;
    assert_eq!(meta.status, RecordStatus::Authorised);
    let oversight = meta.oversight.unwrap();
    assert_eq!(oversight.manager, "m1");
    assert_eq!(oversight.decision, OversightDecision::Authorise);

    // The worker edits after authorisation: kept, and flagged as an amendment.
    send(&mut manager, &mut worker);
    a.analysis.push_str(" Father now engaging.");
    worker.update_record(&id, &RecordBody::Assessment(a.clone())).unwrap();
    let record = worker.record(&id).unwrap();
    assert_eq!(record.body, RecordBody::Assessment(a));
    assert_eq!(record.meta.status, RecordStatus::Authorised);
    assert_eq!(record.meta.amendments.len(), 1);
    assert_eq!(record.meta.amendments[0].fields, ["analysis"]);
    assert!(worker.record_row(&id).unwrap().amended);
    // Another submission of an authorised record is refused with a typed error.
    assert!(matches!(worker.submit(&id), Err(Error::InvalidTransition { .. })));
}

#[test]
fn an_assessment_authorised_after_45_working_days_needs_a_delay_reason() {
    let scratch = Scratch::new();
    let mut worker = scratch.store("w", "w1", "tablet-1");
    let mut manager = scratch.store("m", "m1", "laptop-m");
    // Referral on 2026-01-05: due 45 working days later, well before the clock's 2026-03-26.
    let mut a = assessment(NaiveDate::from_ymd_opt(2026, 1, 5).unwrap());
    a.factors = vec![AssessmentFactor::Neglect];
    let id = worker.create_record("case-1", &RecordBody::Assessment(a.clone())).unwrap();
    worker.submit(&id).unwrap();
    send(&mut worker, &mut manager);
    let err = manager.authorise(&id, "Agreed").unwrap_err();
    assert_eq!(missing(err), vec![(CheckId::T2, "delay_reason".to_string())]);
    // Returning it for work needs no delay reason and puts it back to draft.
    manager.decide(&id, OversightDecision::ReturnForWork, "Add the delay reason").unwrap();
    send(&mut manager, &mut worker);
    assert_eq!(worker.record(&id).unwrap().meta.status, RecordStatus::Draft);
    a.delay_reason = "Waiting for the police disclosure".into();
    worker.update_record(&id, &RecordBody::Assessment(a)).unwrap();
    worker.submit(&id).unwrap();
    send(&mut worker, &mut manager);
    manager.authorise(&id, "Agreed").unwrap();
}

#[test]
fn an_edit_of_the_wrong_kind_is_a_typed_error() {
    let scratch = Scratch::new();
    let mut store = scratch.store("w", "w1", "tablet-1");
    let id = store.create_record("case-1", &visit_body(realistic_visit(1))).unwrap();
    let err = store
        .update_record(
            &id,
            &RecordBody::Assessment(assessment(NaiveDate::from_ymd_opt(2026, 1, 5).unwrap())),
        )
        .unwrap_err();
    assert!(matches!(err, Error::KindMismatch { .. }));
    assert!(matches!(store.record("nope"), Err(Error::NotFound { .. })));
    assert!(matches!(
        store.create_record(" ", &visit_body(realistic_visit(1))),
        Err(Error::InvalidInput { .. })
    ));
}
