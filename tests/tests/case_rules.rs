//! The rules the case system's `PUT` enforces on a case summary (docs/rules.md): C7 closure, C9
//! FGDM offer, C10 consistent identifier, A1 who may hold a case, each refused with 422 naming
//! every item and never delivered to a device; the new fields travel to devices and every record
//! of the export feed carries the child's identifier.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::NaiveDate;
use fieldbook_core::codes::ClosureReason;
use fieldbook_core::records::{
    Assessment, AssessmentKind, CaseSummary, ChildInNeedEpisode, ChildProtectionPlan,
    ConsistentIdentifier, PractitionerRole, PreProceedings, RecordBody,
};
use fieldbook_tests::sync_env::{summary_for, token_of, SyncEnv};
use fieldbook_tests::{realistic_visit, visit_body};
use reqwest::Method;
use serde_json::{json, Value};

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

/// PUTs `body` for `case_id` as the case system: the status and the JSON answer (if any).
async fn put(env: &SyncEnv, case_id: &str, body: Value) -> (u16, Value) {
    let (status, bytes) = env
        .call(
            Method::PUT,
            &format!("/api/v1/cases/{case_id}"),
            Some(&token_of("case-system")),
            Some(serde_json::to_vec(&body).unwrap()),
        )
        .await;
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn upsert(summary: &CaseSummary, worker: &str) -> Value {
    json!({"summary": summary, "allocated_worker": worker, "team": "north"})
}

/// The (check, field) pairs of a 422 answer.
fn items(answer: &Value) -> Vec<(String, String)> {
    assert_eq!(answer["error"], "incomplete", "{answer}");
    answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["check"].as_str().unwrap().into(), i["field"].as_str().unwrap().into()))
        .collect()
}

fn pair(check: &str, field: &str) -> (String, String) {
    (check.to_string(), field.to_string())
}

fn device_summary(device: &fieldbook_tests::sync_env::Device, case_id: &str) -> CaseSummary {
    device.store.cases().unwrap().into_iter().find(|c| c.case_id == case_id).unwrap().summary
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c7_a_closure_breaking_the_rule_is_refused_with_422_and_never_reaches_a_device() {
    let env = SyncEnv::start().await;
    let mut summary = summary_for("LC1", "amara", "north");
    summary.child_in_need = Some(ChildInNeedEpisode::new(d(2026, 3, 26)));
    assert_eq!(put(&env, "case-1", upsert(&summary, "amara")).await.0, 204);
    let mut tab = env.device("amara", "tablet-1");
    assert!(tab.sync().await.failure.is_none());

    // A closure date without a reason, and an invalid local id: both named, nothing stored.
    let mut bad = summary.clone();
    bad.child_in_need.as_mut().unwrap().closure_date = Some(d(2026, 5, 1));
    bad.local_child_id = "LC-1".into();
    let (status, answer) = put(&env, "case-1", upsert(&bad, "amara")).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        items(&answer),
        vec![pair("C8", "local_child_id"), pair("C7", "child_in_need.closure_reason")]
    );
    // RC8 (closed after assessment) with no assessment anywhere.
    bad.local_child_id = "LC1".into();
    bad.child_in_need.as_mut().unwrap().closure_reason =
        Some(ClosureReason::ClosedAfterAssessmentNfa);
    let (status, answer) = put(&env, "case-1", upsert(&bad, "amara")).await;
    assert_eq!(status, 422);
    assert_eq!(items(&answer), vec![pair("C7", "child_in_need.closure_reason")]);
    assert_eq!(answer["items"][0]["message"], "closure reason RC8 needs an assessment");
    tab.sync().await;
    let held = device_summary(&tab, "case-1");
    assert_eq!(held.child_in_need.unwrap().closure_date, None, "the device kept the valid one");

    // Once an assessment recorded on the device has reached the server, RC8 is accepted.
    let assessment = Assessment::new(AssessmentKind::Single, d(2026, 3, 27));
    tab.store.create_record("case-1", &RecordBody::Assessment(assessment)).unwrap();
    assert!(tab.sync().await.failure.is_none());
    assert_eq!(put(&env, "case-1", upsert(&bad, "amara")).await.0, 204);
    tab.sync().await;
    let held = device_summary(&tab, "case-1");
    assert_eq!(
        held.child_in_need.unwrap().closure_reason,
        Some(ClosureReason::ClosedAfterAssessmentNfa)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a1_a_child_protection_case_allocated_to_a_lead_practitioner_is_refused() {
    let env = SyncEnv::start().await;
    let mut summary = summary_for("LC2", "ben", "north");
    summary.child_protection = Some(ChildProtectionPlan {
        start_date: d(2026, 5, 1),
        category: None,
        initial_conference_date: d(2026, 5, 1),
        core_group_dates: vec![],
        review_conference_dates: vec![],
        end_date: None,
    });
    let mut body = upsert(&summary, "ben");
    body["role"] = json!("family_help_lead_practitioner");
    body["supervising_social_worker"] = json!("amara");
    let (status, answer) = put(&env, "case-2", body.clone()).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(items(&answer), vec![pair("A1", "allocated_role")]);
    assert_eq!(
        answer["items"][0]["message"],
        "a child protection case must be allocated to a social worker, not a family help lead practitioner"
    );
    let mut ben = env.device("ben", "phone");
    ben.sync().await;
    assert!(ben.store.cases().unwrap().is_empty(), "a refused allocation delivers nothing");

    // A lead child protection practitioner is a social worker.
    body["role"] = json!("lead_child_protection_practitioner");
    assert_eq!(put(&env, "case-2", body.clone()).await.0, 204);

    // A child in need case may be held by a Family Help lead practitioner, supervised.
    summary.child_protection = None;
    summary.child_in_need = Some(ChildInNeedEpisode::new(d(2026, 6, 1)));
    let mut body = upsert(&summary, "ben");
    body["role"] = json!("family_help_lead_practitioner");
    let (status, answer) = put(&env, "case-2", body.clone()).await;
    assert_eq!(status, 422);
    assert_eq!(items(&answer), vec![pair("A1", "supervising_social_worker")]);
    body["supervising_social_worker"] = json!("amara");
    assert_eq!(put(&env, "case-2", body).await.0, 204);
    ben.sync().await;
    let held = device_summary(&ben, "case-2");
    assert_eq!(held.allocated_role, Some(PractitionerRole::FamilyHelpLeadPractitioner));
    assert_eq!(held.supervising_social_worker.as_deref(), Some("amara"));

    // An old PUT body without a role still works: the worker is a social worker.
    env.upsert_case("case-3", "LC3", "amara", "north").await;
    let mut amara = env.device("amara", "tablet");
    amara.sync().await;
    assert_eq!(
        device_summary(&amara, "case-3").allocated_role,
        Some(PractitionerRole::SocialWorker)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c9_and_c10_refused_and_the_identifier_reaches_the_device_and_every_exported_record() {
    let env = SyncEnv::start().await;
    let mut summary = summary_for("LC4", "amara", "north");
    // Invalid NHS number (wrong check digit) and a letter before proceedings without the offer.
    summary.consistent_identifier = Some(ConsistentIdentifier::nhs_number("943 476 5918"));
    let mut pp = PreProceedings::new(d(2026, 9, 1));
    pp.letter_sent_date = Some(d(2026, 9, 14));
    summary.pre_proceedings = Some(pp.clone());
    let (status, answer) = put(&env, "case-4", upsert(&summary, "amara")).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        items(&answer),
        vec![
            pair("C9", "pre_proceedings.fgdm_offered"),
            pair("C10", "consistent_identifier.value")
        ]
    );
    assert!(!answer.to_string().contains("5918"), "the value is not echoed: {answer}");

    // Not offered, with the best-interests reason; a valid NHS number written with spaces.
    pp.fgdm_offered = Some(false);
    pp.fgdm_not_offered_reason = Some("not in the child's best interests".into());
    summary.pre_proceedings = Some(pp);
    summary.consistent_identifier = Some(ConsistentIdentifier::nhs_number("943 476 5919"));
    assert_eq!(put(&env, "case-4", upsert(&summary, "amara")).await.0, 204);
    let mut tab = env.device("amara", "tablet-1");
    tab.sync().await;
    let held = device_summary(&tab, "case-4");
    assert_eq!(held.consistent_identifier, Some(ConsistentIdentifier::nhs_number("9434765919")));
    assert_eq!(held.pre_proceedings.unwrap().fgdm_offered, Some(false));

    // A case without an identifier records why.
    let mut other = summary_for("LC5", "amara", "north");
    other.consistent_identifier_absent_reason = Some("not yet registered".into());
    assert_eq!(put(&env, "case-5", upsert(&other, "amara")).await.0, 204);
    tab.sync().await;
    tab.store.create_record("case-4", &visit_body(realistic_visit(1))).unwrap();
    tab.store.create_record("case-5", &visit_body(realistic_visit(2))).unwrap();
    assert!(tab.sync().await.failure.is_none());

    let (status, page) = env
        .call(
            Method::GET,
            "/api/v1/records?cursor=0&limit=100",
            Some(&token_of("case-system")),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let page: Value = serde_json::from_slice(&page).unwrap();
    let records = page["records"].as_array().unwrap();
    assert_eq!(records.len(), 4, "two summaries and two visits");
    for r in records {
        let case = r["meta"]["case_id"].as_str().unwrap();
        let child = &r["child"];
        match case {
            "case-4" => {
                assert_eq!(child["local_child_id"], "LC4");
                assert_eq!(
                    child["consistent_identifier"],
                    json!({"scheme": "nhs_number", "value": "9434765919"})
                );
            }
            "case-5" => {
                assert_eq!(child["consistent_identifier"], Value::Null);
                assert_eq!(child["consistent_identifier_absent_reason"], "not yet registered");
            }
            other => panic!("unexpected case {other}"),
        }
    }
    // The record's own fields are where they were: old readers of the feed still parse it.
    assert_eq!(env.export_all().await.len(), 4);
}
