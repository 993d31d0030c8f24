//! Every record kind across the mobile API, typed: assessments and case notes as whole values,
//! the case summary read-only with what is due, any record in full, conflicts listed with who and
//! when and resolved by choosing or writing a value, and record observers told the kind of each
//! record that changed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use chrono::{NaiveDate, TimeZone, Utc};
use fieldbook_core::codes::AbuseCategory;
use fieldbook_core::records::{self as core, RecordBody};
use fieldbook_core::Store;
use fieldbook_ffi::records::code_list;
use fieldbook_ffi::types::*;
use fieldbook_ffi::{FieldbookStore, RecordChange, RecordError};

const KEY: [u8; 32] = [7; 32];

fn open(path: &str, device: &str) -> Arc<FieldbookStore> {
    FieldbookStore::open(path.into(), KEY.to_vec(), "amara".into(), device.into(), None, None)
        .unwrap()
}

fn core_store(path: &str, worker: &str, device: &str) -> Store {
    Store::open_with_key_bytes(path, &KEY, worker, device).unwrap()
}

fn assessment() -> AssessmentFields {
    AssessmentFields {
        kind: AssessmentKind::Single,
        start_date: "2026-03-02".into(),
        authorisation_date: None,
        child_seen: Some(true),
        child_not_seen_reason: String::new(),
        child_seen_date: Some("2026-03-04".into()),
        child_views: vec![ChildView {
            id: String::new(),
            method: ViewsMethod::Play,
            text: "Drew her family".into(),
        }],
        agencies_consulted: vec![AgencyContact {
            id: String::new(),
            agency: AgencyKind::School,
            organisation: "Hill Primary".into(),
            date: Some("2026-03-05".into()),
            summary: "Attendance good".into(),
        }],
        no_agency_reason: String::new(),
        family_history: "Moved in 2024.".into(),
        analysis: "Needs met.".into(),
        factors: vec!["1B".into(), "21".into()],
        outcome: Some(AssessmentOutcome::ChildInNeedPlan),
        outcome_detail: String::new(),
        delay_reason: String::new(),
        closure_date: None,
        closure_reason: None,
    }
}

#[derive(Default)]
struct Log(Mutex<Vec<RecordChange>>);

impl fieldbook_ffi::RecordObserver for Log {
    fn on_records_changed(&self, changes: Vec<RecordChange>) {
        self.0.lock().unwrap().extend(changes);
    }
    fn on_delivery_changed(&self, _changes: Vec<RecordChange>) {}
}

impl Log {
    fn kinds(&self) -> Vec<(String, RecordKind)> {
        self.0.lock().unwrap().iter().map(|c| (c.id.clone(), c.kind)).collect()
    }
}

#[test]
fn assessments_and_case_notes_round_trip_typed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db").to_string_lossy().into_owned();
    let store = open(&path, "t");
    let log = Arc::new(Log::default());
    let _handle = store.observe_records(log.clone());

    let id = store.create_assessment("case-1".into(), assessment()).unwrap();
    let mut a = store.assessment(id.clone()).unwrap();
    assert!(!a.child_views[0].id.is_empty() && !a.agencies_consulted[0].id.is_empty());
    let mut expected = assessment();
    expected.child_views[0].id = a.child_views[0].id.clone();
    expected.agencies_consulted[0].id = a.agencies_consulted[0].id.clone();
    assert_eq!(a, expected);
    a.delay_reason = "Waited for the school's report.".into();
    a.factors.push("11A".into());
    assert_eq!(
        store.update_assessment(id.clone(), a.clone()).unwrap(),
        ["delay_reason".to_string(), "factors".to_string()]
    );
    assert_eq!(store.assessment(id.clone()).unwrap(), a);
    // An unknown DfE code is refused by name, and nothing is written.
    let mut bad = a.clone();
    bad.factors.push("99Z".into());
    match store.update_assessment(id.clone(), bad) {
        Err(RecordError::InvalidInput { field, reason }) => {
            assert_eq!(field, "factors");
            assert!(reason.contains("99Z"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.assessment(id.clone()).unwrap(), a);
    assert!(matches!(
        store.visit(id.clone()),
        Err(RecordError::WrongKind { expected: RecordKind::Visit, found: RecordKind::Assessment })
    ));

    let note = CaseNoteFields {
        category: CaseNoteCategory::PhoneCall,
        occurred_at_ms: 1_774_519_200_000,
        text: "Mother called about school.".into(),
    };
    let nid = store.create_case_note("case-1".into(), note.clone()).unwrap();
    assert_eq!(store.case_note(nid.clone()).unwrap(), note);
    let mut edited = note.clone();
    edited.text.push_str(" Called back.");
    assert_eq!(store.update_case_note(nid.clone(), edited.clone()).unwrap(), ["text".to_string()]);
    assert!(matches!(store.assessment(nid.clone()), Err(RecordError::WrongKind { .. })));

    match store.record(id.clone()).unwrap() {
        RecordInfo {
            kind: RecordKind::Assessment,
            content: RecordContent::Assessment { fields },
            conflicts,
            ..
        } => {
            assert_eq!(fields, a);
            assert!(conflicts.is_empty());
        }
        other => panic!("{other:?}"),
    }
    match store.record(nid.clone()).unwrap().content {
        RecordContent::CaseNote { fields } => assert_eq!(fields, edited),
        other => panic!("{other:?}"),
    }
    // A case note needs nothing more to submit; a manager authorises it with a rationale.
    store.submit(nid.clone()).unwrap();
    let history = store.history(nid.clone()).unwrap();
    assert_eq!(history.last().unwrap().fields, ["submitted".to_string()]);
    assert!(history.iter().all(|h| h.change.len() == 64), "{history:?}");

    // Observers were told each record with its kind: created, edited, submitted.
    let kinds = log.kinds();
    assert_eq!(
        kinds,
        [
            (id.clone(), RecordKind::Assessment),
            (id.clone(), RecordKind::Assessment),
            (nid.clone(), RecordKind::CaseNote),
            (nid.clone(), RecordKind::CaseNote),
            (nid.clone(), RecordKind::CaseNote),
        ]
    );
    let factors = code_list(CodeList::AssessmentFactor);
    assert_eq!(factors.len(), 44);
    assert!(factors.iter().any(|c| c.code == "1B" && c.label.contains("parent")));
}

/// Whole values in: what the app's types do not carry (people present, actions, a linked
/// statement's reference) survives an update through them.
#[test]
fn an_update_keeps_what_the_type_does_not_carry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db").to_string_lossy().into_owned();
    let started = Utc.with_ymd_and_hms(2026, 3, 26, 10, 0, 0).unwrap();
    let view = core::ChildView {
        id: core::new_id(),
        method: core::ViewsMethod::LinkedStatement,
        text: "From the app".into(),
        linked_ref: Some("momo-123".into()),
    };
    let (vid, aid) = {
        let mut s = core_store(&path, "amara", "t");
        let mut v = core::Visit::new(core::VisitKind::ChildInNeed, started);
        v.people_present.push(core::PersonPresent {
            id: core::new_id(),
            name: "Mother".into(),
            role: core::PersonRole::Parent,
        });
        v.actions.push(core::Action {
            id: core::new_id(),
            description: "Book GP".into(),
            owner: "amara".into(),
            due: None,
            done: false,
        });
        v.child_views.push(view.clone());
        let vid = s.create_record("case-1", &RecordBody::Visit(v)).unwrap();
        let mut a = core::Assessment::new(
            core::AssessmentKind::Single,
            NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
        );
        a.child_views.push(view.clone());
        let aid = s.create_record("case-1", &RecordBody::Assessment(a)).unwrap();
        (vid, aid)
    };
    {
        let store = open(&path, "t");
        let mut v = store.visit(vid.clone()).unwrap();
        v.observations = "Warm home.".into();
        v.child_views[0].text = "From the app, read back".into();
        store.update_visit(vid.clone(), v).unwrap();
        let mut a = store.assessment(aid.clone()).unwrap();
        a.analysis = "Needs met.".into();
        store.update_assessment(aid.clone(), a).unwrap();
    }
    let mut s = core_store(&path, "amara", "t");
    let RecordBody::Visit(v) = s.record(&vid).unwrap().body else { panic!("not a visit") };
    assert_eq!(v.people_present.len(), 1);
    assert_eq!(v.actions[0].description, "Book GP");
    assert_eq!(v.child_views[0].linked_ref.as_deref(), Some("momo-123"));
    assert_eq!(v.observations, "Warm home.");
    let RecordBody::Assessment(a) = s.record(&aid).unwrap().body else { panic!("not one") };
    assert_eq!(a.child_views[0].linked_ref.as_deref(), Some("momo-123"));
    assert_eq!(a.analysis, "Needs met.");
}

#[test]
fn the_case_summary_is_typed_with_what_is_due() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db").to_string_lossy().into_owned();
    let sid = {
        let mut s = core_store(&path, "amara", "t");
        let mut summary = core::CaseSummary::new("LC1", "A child");
        summary.allocated_worker = "amara".into();
        let conference = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        summary.child_protection = Some(core::ChildProtectionPlan {
            start_date: conference,
            category: Some(AbuseCategory::Neglect),
            initial_conference_date: conference,
            core_group_dates: Vec::new(),
            review_conference_dates: Vec::new(),
            end_date: None,
        });
        s.put_case_summary("case-1", &summary).unwrap()
    };
    let store = open(&path, "t");
    let summary = store.case_summary("case-1".into(), "2026-03-20".into()).unwrap();
    assert_eq!((summary.local_child_id.as_str(), summary.name.as_str()), ("LC1", "A child"));
    let plan = summary.child_protection.unwrap();
    assert_eq!(plan.start_date, "2026-03-02");
    let category = plan.category.unwrap();
    assert_eq!(category.code, AbuseCategory::Neglect.code());
    assert_eq!(category.label, AbuseCategory::Neglect.label());
    assert!(!summary.due.is_empty(), "a plan has statutory visits and a core group due");
    assert!(summary.due.iter().all(|d| d.case_id == "case-1"));
    assert!(matches!(
        store.case_summary("case-x".into(), "2026-03-20".into()),
        Err(RecordError::NotFound { .. })
    ));
    assert!(matches!(
        store.record(sid).unwrap().content,
        RecordContent::CaseSummary { summary } if summary.local_child_id == "LC1"
    ));
}

/// Two devices set the same fields differently offline; the device that has both shows each
/// value with who wrote it and when, and the worker resolves one by choosing, one by writing.
#[test]
fn conflicts_are_listed_and_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let a_path = dir.path().join("a.db").to_string_lossy().into_owned();
    let b_path = dir.path().join("b.db").to_string_lossy().into_owned();
    let id = {
        let mut a = core_store(&a_path, "amara", "tablet-a");
        let mut b = core_store(&b_path, "ben", "tablet-b");
        let started = Utc.with_ymd_and_hms(2026, 3, 26, 10, 0, 0).unwrap();
        let v = core::Visit::new(core::VisitKind::ChildInNeed, started);
        let id = a.create_record("case-1", &RecordBody::Visit(v.clone())).unwrap();
        b.import(&a.export_for(&b.all_heads().unwrap()).unwrap()).unwrap();
        let mut va = v.clone();
        va.location = "Family home".into();
        va.child_seen = Some(true);
        a.update_record(&id, &RecordBody::Visit(va)).unwrap();
        let mut vb = v;
        vb.location = "School".into();
        vb.child_seen = Some(false);
        b.update_record(&id, &RecordBody::Visit(vb)).unwrap();
        a.import(&b.export_for(&a.all_heads().unwrap()).unwrap()).unwrap();
        id
    };
    let store = open(&a_path, "tablet-a");
    let log = Arc::new(Log::default());
    let _handle = store.observe_records(log.clone());
    let conflicts = store.conflicts(id.clone()).unwrap();
    let location = conflicts.iter().find(|c| c.path == "location").unwrap();
    assert_eq!(location.field, "location");
    let mut who: Vec<(String, FieldValue)> =
        location.values.iter().map(|v| (v.worker.clone(), v.value.clone())).collect();
    who.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        who,
        [
            ("amara".to_string(), FieldValue::Text { value: "Family home".into() }),
            ("ben".to_string(), FieldValue::Text { value: "School".into() }),
        ]
    );
    assert!(location.values.iter().all(|v| v.at_ms.is_some()));
    assert_eq!(location.values.iter().filter(|v| v.shown).count(), 1);
    assert!(location.values[0].shown);
    assert_eq!(store.case_records("case-1".into()).unwrap()[0].conflicts, 2);

    let other = location.values.iter().find(|v| !v.shown).unwrap();
    let FieldValue::Text { value: wanted } = other.value.clone() else { panic!("text") };
    let changed = store
        .resolve_conflict(
            id.clone(),
            "location".into(),
            Resolution::Choose { value_id: other.id.clone() },
        )
        .unwrap();
    assert_eq!(changed, ["location".to_string()]);
    assert_eq!(store.visit(id.clone()).unwrap().location, wanted);

    // Writing an object is refused by name; a new value resolves the other conflict.
    assert!(matches!(
        store.resolve_conflict(
            id.clone(),
            "child_seen".into(),
            Resolution::Write { value: FieldValue::Object { kind: "map".into() } }
        ),
        Err(RecordError::InvalidInput { field, .. }) if field == "value"
    ));
    store
        .resolve_conflict(
            id.clone(),
            "child_seen".into(),
            Resolution::Write { value: FieldValue::Bool { value: true } },
        )
        .unwrap();
    assert_eq!(store.visit(id.clone()).unwrap().child_seen, Some(true));
    assert!(store.conflicts(id.clone()).unwrap().is_empty());
    assert!(store.record(id.clone()).unwrap().conflicts.is_empty());
    assert_eq!(store.case_records("case-1".into()).unwrap()[0].conflicts, 0);
    assert_eq!(log.kinds(), [(id.clone(), RecordKind::Visit), (id.clone(), RecordKind::Visit)]);
    assert!(matches!(
        store.resolve_conflict(
            id,
            "location".into(),
            Resolution::Write { value: FieldValue::Text { value: "x".into() } }
        ),
        Err(RecordError::InvalidInput { field, .. }) if field == "path"
    ));
}
