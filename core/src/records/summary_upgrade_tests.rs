//! Summaries written before the consistent identifier, the allocation's role, the pre-proceedings
//! episode and the core assessment existed still load, with those fields absent: as an Automerge
//! document (what devices and the server hold) and as JSON (the device's stored projection, the
//! export feed's consumers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automerge::{transaction::Transactable, AutoCommit, ObjType, ReadDoc, ROOT};
use chrono::{NaiveDate, TimeZone, Utc};

use super::*;
use crate::document::{load_raw, Author, RecordDoc};

const NEW_SUMMARY_FIELDS: &[&str] = &[
    "consistent_identifier",
    "consistent_identifier_absent_reason",
    "allocated_role",
    "supervising_social_worker",
    "pre_proceedings",
];
const NEW_EPISODE_FIELDS: &[&str] =
    &["core_assessment_start_date", "core_assessment_completed_date"];

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn map_at(doc: &AutoCommit, obj: &automerge::ObjId, key: &str) -> automerge::ObjId {
    match doc.get(obj, key).unwrap() {
        Some((automerge::Value::Object(ObjType::Map), id)) => id,
        other => panic!("{key} is not a map: {other:?}"),
    }
}

/// A summary document as the first schema wrote it: the same layout without the keys added
/// since (deleted from a current one, so nothing else differs).
fn first_schema_document() -> AutoCommit {
    let mut summary = CaseSummary::new("LC1", "A child");
    summary.child_in_need = Some(ChildInNeedEpisode::new(d(2026, 3, 26)));
    let author = Author::new("case-system", "server");
    let at = Utc.with_ymd_and_hms(2026, 3, 26, 9, 0, 0).unwrap();
    let mut doc = RecordDoc::create(
        &author,
        "summary-1".into(),
        "case-1".into(),
        &RecordBody::CaseSummary(summary),
        at,
    )
    .unwrap();
    let mut raw = load_raw(&doc.save()).unwrap();
    let body = map_at(&raw, &ROOT, "body");
    for key in NEW_SUMMARY_FIELDS {
        raw.delete(&body, *key).unwrap();
    }
    let episode = map_at(&raw, &body, "child_in_need");
    for key in NEW_EPISODE_FIELDS {
        raw.delete(&episode, *key).unwrap();
    }
    raw.commit();
    for key in NEW_SUMMARY_FIELDS {
        assert!(raw.get(&body, *key).unwrap().is_none(), "{key} removed");
    }
    raw
}

#[test]
fn a_first_schema_automerge_summary_loads_with_the_new_fields_absent() {
    let raw = first_schema_document();
    let doc = RecordDoc::from_doc(raw).expect("an old summary loads");
    let RecordBody::CaseSummary(s) = doc.body() else { panic!("not a summary") };
    assert_eq!(s.local_child_id, "LC1");
    assert_eq!(s.consistent_identifier, None);
    assert_eq!(s.consistent_identifier_absent_reason, None);
    assert_eq!(s.allocated_role, None);
    assert_eq!(s.supervising_social_worker, None);
    assert_eq!(s.pre_proceedings, None);
    let ep = s.child_in_need.as_ref().unwrap();
    assert_eq!(ep.referral_date, d(2026, 3, 26));
    assert_eq!(ep.core_assessment_start_date, None);
}

#[test]
fn an_old_summary_updated_with_the_new_fields_keeps_them() {
    let raw = first_schema_document();
    let mut doc = RecordDoc::from_doc(raw).unwrap();
    let RecordBody::CaseSummary(mut s) = doc.body().clone() else { panic!("not a summary") };
    s.consistent_identifier = Some(ConsistentIdentifier::nhs_number("9434765919"));
    s.allocated_role = Some(PractitionerRole::FamilyHelpLeadPractitioner);
    s.supervising_social_worker = Some("sam".into());
    let mut pp = PreProceedings::new(d(2026, 9, 1));
    pp.letter_sent_date = Some(d(2026, 9, 14));
    pp.fgdm_offered = Some(true);
    pp.fgdm_accepted = Some(true);
    s.pre_proceedings = Some(pp);
    let author = Author::new("case-system", "server");
    let at = Utc.with_ymd_and_hms(2026, 9, 15, 9, 0, 0).unwrap();
    doc.update_body(&author, &RecordBody::CaseSummary(s.clone()), at).unwrap();
    let reloaded = RecordDoc::load(&[&doc.save()], author.actor()).unwrap();
    assert_eq!(reloaded.body(), &RecordBody::CaseSummary(s));
}

#[test]
fn a_first_schema_json_summary_loads_with_the_new_fields_absent() {
    // The device's stored projection (`cases.summary_json`) as the first schema wrote it.
    let old = r#"{
        "local_child_id": "LC1", "name": "A child", "date_of_birth": "2015-06-01", "sex": "f",
        "ethnicity": "", "disabilities": [], "address": "", "legal_status": null,
        "allocated_worker": "amara", "team": "north",
        "child_in_need": {
            "referral_date": "2012-11-05", "referral_source": "2A", "primary_need": "N1",
            "referral_decision_date": "2012-11-06", "assessment_authorised_date": null,
            "strategy_discussion_date": null, "conference_not_required": false,
            "initial_conference_date": null, "review_dates": [], "closure_date": null,
            "closure_reason": null
        },
        "child_protection": null, "looked_after": null, "private_fostering": null,
        "last_visit_date": null, "last_seen_date": null
    }"#;
    let s: CaseSummary = serde_json::from_str(old).expect("an old JSON summary loads");
    assert_eq!(s.allocated_worker, "amara");
    assert_eq!(s.consistent_identifier, None);
    assert_eq!(s.allocated_role, None);
    assert_eq!(s.pre_proceedings, None);
    assert_eq!(s.child_in_need.unwrap().core_assessment_start_date, None);
    // And as a record body (the export feed's shape).
    let body = format!(r#"{{"kind": "case_summary", "fields": {old}}}"#);
    let body: RecordBody = serde_json::from_str(&body).unwrap();
    assert_eq!(body.kind(), RecordKind::CaseSummary);
}
