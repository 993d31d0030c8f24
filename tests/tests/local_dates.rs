//! Dates are Europe/London local dates (DOMAIN.md §1): an instant recorded in UTC becomes a date
//! in London time wherever the store derives one — the date a visit or case note happened on, the
//! date an assessment was authorised, and whether that authorisation was late. Checked at 00:30
//! BST, at 23:30 GMT and on both sides of both clock changes of 2026.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, NaiveDate, Utc};
use fieldbook_core::codes::AssessmentFactor;
use fieldbook_core::records::{
    Assessment, AssessmentKind, CaseNote, CaseNoteCategory, ChildProtectionPlan, ChildView,
    RecordBody, RecordStatus, ViewsMethod, VisitKind,
};
use fieldbook_core::rules::completeness::CheckId;
use fieldbook_core::rules::timescales::TimescaleId;
use fieldbook_core::{Error, Store};
use fieldbook_tests::{realistic_visit, send, summary, visit_body, Scratch};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn clock_at(store: &mut Store, instant: &str) {
    let t = utc(instant);
    store.set_clock(Box::new(move || t));
}

/// A child protection visit at `instant` with the child seen.
fn cp_visit(store: &mut Store, case_id: &str, instant: &str) -> String {
    let mut v = realistic_visit(1);
    v.kind = VisitKind::ChildProtection;
    v.started_at = utc(instant);
    store.create_record(case_id, &visit_body(v)).unwrap()
}

fn on_cp_plan(store: &mut Store, case_id: &str, start: NaiveDate) {
    let mut s = summary("LC1", "A child");
    s.child_protection = Some(ChildProtectionPlan {
        start_date: start,
        category: None,
        initial_conference_date: start,
        core_group_dates: vec![],
        review_conference_dates: vec![],
        end_date: None,
    });
    store.put_case_summary(case_id, &s).unwrap();
}

#[test]
fn a_cp_visit_at_half_past_midnight_bst_counts_as_the_next_day() {
    let scratch = Scratch::new();
    let mut store = scratch.store("w", "w1", "tablet-1");
    on_cp_plan(&mut store, "case-1", day(2026, 5, 1));
    // 2026-06-03T23:30Z is 00:30 BST on Thursday 4 June.
    let id = cp_visit(&mut store, "case-1", "2026-06-03T23:30:00Z");
    assert_eq!(store.record_row(&id).unwrap().occurred_on, Some(day(2026, 6, 4)));
    let t6: Vec<_> = store
        .worklist(day(2026, 6, 4))
        .unwrap()
        .into_iter()
        .filter(|i| i.timescale == TimescaleId::T6)
        .collect();
    assert_eq!(t6.len(), 1, "{t6:?}");
    assert_eq!(t6[0].from, day(2026, 6, 4));
    // Ten working days after Thursday 4 June (no bank holiday in June 2026): Thursday 18 June.
    // Counted from the UTC date it would be Wednesday 17 June, a day early.
    assert_eq!(t6[0].due, day(2026, 6, 18));
}

#[test]
fn at_half_past_eleven_gmt_a_visit_stays_on_its_day() {
    let scratch = Scratch::new();
    let mut store = scratch.store("w", "w1", "tablet-1");
    on_cp_plan(&mut store, "case-1", day(2026, 11, 2));
    let id = cp_visit(&mut store, "case-1", "2026-12-01T23:30:00Z");
    assert_eq!(store.record_row(&id).unwrap().occurred_on, Some(day(2026, 12, 1)));
    let t6 = store
        .worklist(day(2026, 12, 2))
        .unwrap()
        .into_iter()
        .find(|i| i.timescale == TimescaleId::T6)
        .unwrap();
    assert_eq!(t6.from, day(2026, 12, 1));
    // Tuesday 1 December + 10 working days: Tuesday 15 December.
    assert_eq!(t6.due, day(2026, 12, 15));
}

#[test]
fn visit_and_case_note_dates_across_both_clock_changes() {
    let scratch = Scratch::new();
    let mut store = scratch.store("w", "w1", "tablet-1");
    // (instant, London date): the evening before and after each change, and the second either
    // side of the change itself (01:00 UTC on the last Sunday of March and of October).
    let cases = [
        ("2026-03-28T23:30:00Z", day(2026, 3, 28)),
        ("2026-03-29T00:59:59Z", day(2026, 3, 29)),
        ("2026-03-29T01:00:00Z", day(2026, 3, 29)),
        ("2026-03-29T23:30:00Z", day(2026, 3, 30)),
        ("2026-10-24T23:30:00Z", day(2026, 10, 25)),
        ("2026-10-25T00:59:59Z", day(2026, 10, 25)),
        ("2026-10-25T01:00:00Z", day(2026, 10, 25)),
        ("2026-10-25T23:30:00Z", day(2026, 10, 25)),
        ("2026-10-25T23:59:59Z", day(2026, 10, 25)),
    ];
    for (instant, expected) in cases {
        let visit = cp_visit(&mut store, "case-1", instant);
        assert_eq!(
            store.record_row(&visit).unwrap().occurred_on,
            Some(expected),
            "visit {instant}"
        );
        let note = RecordBody::CaseNote(CaseNote {
            category: CaseNoteCategory::PhoneCall,
            occurred_at: utc(instant),
            text: "Phone call".into(),
            attachments: Vec::new(),
        });
        let note = store.create_record("case-1", &note).unwrap();
        assert_eq!(store.record_row(&note).unwrap().occurred_on, Some(expected), "note {instant}");
    }
}

fn assessment(referral: NaiveDate) -> Assessment {
    let mut a = Assessment::new(AssessmentKind::Single, referral);
    a.child_seen = Some(true);
    a.child_views = vec![ChildView {
        id: "v".into(),
        method: ViewsMethod::Play,
        text: "Drew her family".into(),
        linked_ref: None,
    }];
    a.no_agency_reason = "No agencies involved".into();
    a.analysis = "Needs are met".into();
    a.factors = vec![AssessmentFactor::Neglect];
    a
}

/// A submitted assessment referred on Thursday 26 March 2026: due Wednesday 3 June (DOMAIN.md §1's
/// worked example), on the manager's store.
fn submitted_assessment_due_3_june(scratch: &Scratch) -> (Store, Store, String, Assessment) {
    let mut worker = scratch.store("w", "w1", "tablet-1");
    let mut manager = scratch.store("m", "m1", "laptop-m");
    let a = assessment(day(2026, 3, 26));
    let id = worker.create_record("case-1", &RecordBody::Assessment(a.clone())).unwrap();
    worker.submit(&id).unwrap();
    send(&mut worker, &mut manager);
    (worker, manager, id, a)
}

#[test]
fn an_assessment_due_3_june_authorised_at_half_past_midnight_bst_on_4_june_is_late() {
    let scratch = Scratch::new();
    let (mut worker, mut manager, id, mut a) = submitted_assessment_due_3_june(&scratch);
    // 00:30 BST on 4 June: the day after the due date, though still 3 June in UTC.
    clock_at(&mut manager, "2026-06-03T23:30:00Z");
    match manager.authorise(&id, "Agreed").unwrap_err() {
        Error::Incomplete(items) => {
            let got: Vec<_> = items.iter().map(|m| (m.check, m.field.as_str())).collect();
            assert_eq!(got, vec![(CheckId::T2, "delay_reason")]);
        }
        other => panic!("expected Incomplete, got {other:?}"),
    }
    assert_eq!(manager.record(&id).unwrap().meta.status, RecordStatus::Submitted);
    // With the reason recorded it is authorised, and the projection dates it 4 June.
    manager
        .decide(&id, fieldbook_core::records::OversightDecision::ReturnForWork, "Add the reason")
        .unwrap();
    send(&mut manager, &mut worker);
    a.delay_reason = "Waiting for the police disclosure".into();
    worker.update_record(&id, &RecordBody::Assessment(a)).unwrap();
    worker.submit(&id).unwrap();
    send(&mut worker, &mut manager);
    manager.authorise(&id, "Agreed").unwrap();
    assert_eq!(manager.record_row(&id).unwrap().authorised_on, Some(day(2026, 6, 4)));
}

#[test]
fn an_assessment_authorised_at_half_past_eleven_bst_on_its_due_date_is_on_time() {
    let scratch = Scratch::new();
    let (_worker, mut manager, id, _a) = submitted_assessment_due_3_june(&scratch);
    // 23:30 BST on 3 June (22:30 UTC): the due date itself, so no delay reason is needed.
    clock_at(&mut manager, "2026-06-03T22:30:00Z");
    manager.authorise(&id, "Agreed").unwrap();
    assert_eq!(manager.record_row(&id).unwrap().authorised_on, Some(day(2026, 6, 3)));
}
