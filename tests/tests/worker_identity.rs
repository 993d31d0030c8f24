//! One worker, one id: worker ids are normalised (trimmed, lower-cased) where they enter Fieldbook
//! and compared normalised, so "MGR" cannot authorise the record "mgr" wrote (C5: "by a manager
//! who is not the author"), and a token for "AMARA" is the same worker as one for "amara" for
//! allocation and access.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::NaiveDate;
use fieldbook_core::codes::AssessmentFactor;
use fieldbook_core::document::{Author, RecordDoc};
use fieldbook_core::records::{
    Assessment, AssessmentKind, ChildView, RecordBody, RecordKind, RecordStatus, ViewsMethod,
};
use fieldbook_core::rules::completeness::CheckId;
use fieldbook_core::sync::SyncClient;
use fieldbook_core::{DocumentChanges, Error};
use fieldbook_server::auth::{issue_hs256, Claims, Role};
use fieldbook_tests::sync_env::{token_of, Device, FixedToken, SyncEnv, TestTransport, JWT_SECRET};
use fieldbook_tests::{at, realistic_visit, send, visit_body, Scratch};

fn assessment() -> Assessment {
    let mut a =
        Assessment::new(AssessmentKind::Single, NaiveDate::from_ymd_opt(2026, 3, 2).unwrap());
    a.child_seen = Some(true);
    a.child_views = vec![ChildView {
        id: "v".into(),
        method: ViewsMethod::OwnWords,
        text: "Likes her new school".into(),
        linked_ref: None,
    }];
    a.no_agency_reason = "No agencies involved".into();
    a.analysis = "Needs are met".into();
    a.factors = vec![AssessmentFactor::Neglect];
    a
}

fn checks(err: Error) -> Vec<(CheckId, String)> {
    match err {
        Error::Incomplete(items) => items.into_iter().map(|m| (m.check, m.field)).collect(),
        other => panic!("expected Incomplete, got {other:?}"),
    }
}

#[test]
fn mgr_cannot_authorise_the_record_mgr_wrote() {
    let scratch = Scratch::new();
    // The same person signed in on two devices, their id spelt two ways.
    let mut as_author = scratch.store("author", "mgr", "tablet-1");
    let mut as_manager = scratch.store("manager", "MGR", "laptop");
    assert_eq!(as_manager.author().worker, "mgr");
    let id = as_author.create_record("case-1", &RecordBody::Assessment(assessment())).unwrap();
    as_author.submit(&id).unwrap();
    send(&mut as_author, &mut as_manager);
    assert_eq!(
        checks(as_manager.authorise(&id, "Analysis supports the plan").unwrap_err()),
        vec![(CheckId::C5, "manager".to_string())]
    );
    assert_eq!(as_manager.record(&id).unwrap().meta.status, RecordStatus::Submitted);
    // Another manager may.
    let mut other = scratch.store("other", "mina", "laptop-2");
    send(&mut as_author, &mut other);
    other.authorise(&id, "Analysis supports the plan").unwrap();
}

#[test]
fn an_author_id_written_unnormalised_is_still_compared_normalised() {
    // A record from an older build or another implementation: created_by spelt "MGR".
    let author = Author::new("mgr", "old-tablet");
    let mut doc = RecordDoc::create(
        &author,
        "old-record".into(),
        "case-1".into(),
        &RecordBody::Assessment(assessment()),
        at(2026, 3, 10, 9),
    )
    .unwrap();
    let mut meta = doc.meta().clone();
    meta.created_by = "MGR".into();
    meta.status = RecordStatus::Submitted;
    doc.update_meta(&author, meta, "submitted", at(2026, 3, 10, 10)).unwrap();
    let scratch = Scratch::new();
    let mut manager = scratch.store("manager", "mgr", "laptop");
    let report = manager
        .import(&[DocumentChanges {
            id: "old-record".into(),
            kind: RecordKind::Assessment,
            case_id: "case-1".into(),
            heads: Vec::new(),
            changes: doc.save_after(&[]),
            signatures: fieldbook_tests::sign_all(&doc.save_after(&[])),
            listing: None,
        }])
        .unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(manager.record("old-record").unwrap().meta.created_by, "MGR");
    assert_eq!(
        checks(manager.authorise("old-record", "Fine").unwrap_err()),
        vec![(CheckId::C5, "manager".to_string())]
    );
}

fn jwt(sub: &str) -> String {
    let claims = Claims {
        sub: sub.into(),
        role: Role::Worker,
        team: Some("north".into()),
        aud: "fieldbook".into(),
        exp: chrono::Utc::now().timestamp() + 600,
        iss: None,
        nbf: None,
    };
    issue_hs256(JWT_SECRET, &claims).unwrap()
}

/// A device whose store is opened for `worker` and whose requests carry `token`.
fn device_with(env: &SyncEnv, worker: &str, device: &str, token: String) -> Device {
    let store = env.scratch.store(&format!("{worker}-{device}"), worker, device);
    let transport = TestTransport::new(&env.url);
    let client = SyncClient::new(transport.clone(), Arc::new(FixedToken(token)), device);
    Device { store, client, transport }
}

fn case_ids(d: &Device) -> Vec<String> {
    d.store.cases().unwrap().into_iter().map(|c| c.case_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_for_amara_and_amara_in_capitals_are_one_worker() {
    let env = SyncEnv::start().await;
    // The case system allocates one case as "amara" and one as "AMARA".
    env.upsert_case("case-lower", "LC1", "amara", "north").await;
    env.upsert_case("case-upper", "LC2", "AMARA", "north").await;

    // A token from the identity provider for "AMARA", the device signed in as typed.
    let mut upper = device_with(&env, "AMARA", "tablet-u", jwt("AMARA"));
    // The development static token for "amara".
    let mut lower = device_with(&env, "amara", "tablet-l", token_of("amara"));
    for d in [&mut upper, &mut lower] {
        let report = d.sync().await;
        assert!(report.failure.is_none(), "{:?}", report.failure);
        let mut cases = case_ids(d);
        cases.sort();
        assert_eq!(cases, ["case-lower", "case-upper"], "both allocations reach both spellings");
    }

    // What "AMARA" writes is accepted as amara's own and reaches the other device.
    let id = upper.store.create_record("case-upper", &visit_body(realistic_visit(3))).unwrap();
    let report = upper.sync().await;
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(report.acknowledged, 1);
    lower.sync().await;
    assert_eq!(lower.store.record(&id).unwrap().meta.created_by, "amara");

    // Another worker's token, in any spelling, is still not amara.
    let mut ben = device_with(&env, "BEN", "tablet-b", jwt("BEN"));
    ben.sync().await;
    assert!(case_ids(&ben).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_account_is_disabled_in_every_spelling() {
    let env = SyncEnv::start().await;
    // The tests' server disables "dora".
    let (status, _) = env
        .call(reqwest::Method::GET, "/api/v1/records?cursor=0", Some(&jwt(" Dora ")), None)
        .await;
    assert_eq!(status, 401);
    let (status, _) =
        env.call(reqwest::Method::GET, "/api/v1/records?cursor=0", Some(&jwt("DORA")), None).await;
    assert_eq!(status, 401);
}
