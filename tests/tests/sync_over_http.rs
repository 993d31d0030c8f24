//! Devices and a real server on loopback: convergence, one round trip, lost responses, access
//! control on every endpoint, re-allocation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fieldbook_core::protocol::{encode, PushDoc, RejectReason, SyncRequest, PROTOCOL_VERSION};
use fieldbook_core::records::{RecordBody, Visit};
use fieldbook_core::store::Delivery;
use fieldbook_core::sync::SyncFailure;
use fieldbook_tests::sync_env::{summary_for, token_of, Device, Fault, SyncEnv};
use fieldbook_tests::{realistic_visit, visit_body};

fn visit_of(device: &mut Device, id: &str) -> Visit {
    match device.store.record(id).unwrap().body {
        RecordBody::Visit(v) => v,
        other => panic!("{other:?}"),
    }
}

/// Every device and the server's export hold the same records.
async fn assert_all_identical(env: &SyncEnv, devices: &mut [&mut Device], case_id: &str) {
    let exported = env.export_all().await;
    let server: Vec<_> = exported.iter().filter(|r| r.meta.case_id == case_id).collect();
    for d in devices.iter_mut() {
        let rows = d.store.case_records(case_id).unwrap();
        assert_eq!(rows.len() + 1, server.len(), "records on device vs server (+ the summary)");
        for record in &server {
            assert_eq!(
                &&d.store.record(&record.meta.id).unwrap(),
                record,
                "record {} differs",
                record.meta.id
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_devices_edit_offline_and_converge_with_the_server() {
    three_devices_converge(SyncEnv::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_devices_converge_on_the_postgres_backend() {
    three_devices_converge(SyncEnv::start_postgres("three_devices").await).await;
}

async fn three_devices_converge(env: SyncEnv) {
    env.upsert_case("case-1", "LC1", "amara", "north").await;
    let mut tab1 = env.device("amara", "tablet-1");
    let mut tab2 = env.device("amara", "tablet-2");
    let mut manager = env.device("mina", "laptop");
    for d in [&mut tab1, &mut tab2, &mut manager] {
        assert!(d.sync().await.failure.is_none());
        assert_eq!(d.store.cases().unwrap().len(), 1, "the case summary arrived");
    }
    let id = tab1.store.create_record("case-1", &visit_body(realistic_visit(1))).unwrap();
    assert_eq!(tab1.store.delivery(&id).unwrap(), Delivery::OnDeviceOnly);
    tab1.sync().await;
    assert!(matches!(tab1.store.delivery(&id).unwrap(), Delivery::Received { .. }));
    tab2.sync().await;
    manager.sync().await;

    // All three offline, editing the same visit.
    let mut v = visit_of(&mut tab1, &id);
    v.observations = format!("Tablet one was here. {}", v.observations);
    tab1.store.update_record(&id, &visit_body(v)).unwrap();
    let mut v = visit_of(&mut tab2, &id);
    v.risks.push_str(" Tablet two adds a risk.");
    tab2.store.update_record(&id, &visit_body(v)).unwrap();
    let mut v = visit_of(&mut manager, &id);
    v.analysis.push_str(" Manager's note on the analysis.");
    manager.store.update_record(&id, &visit_body(v)).unwrap();
    let extra = tab2.store.create_record("case-1", &visit_body(realistic_visit(2))).unwrap();

    // Online in turn, then once more each.
    for _ in 0..2 {
        for d in [&mut manager, &mut tab2, &mut tab1] {
            let report = d.sync().await;
            assert!(report.failure.is_none(), "{:?}", report.failure);
            assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        }
    }
    let v = visit_of(&mut tab1, &id);
    assert!(v.observations.starts_with("Tablet one was here."));
    assert!(v.risks.ends_with("Tablet two adds a risk."));
    assert!(v.analysis.ends_with("Manager's note on the analysis."));
    assert!(tab1.store.record(&extra).is_ok());
    assert_all_identical(&env, &mut [&mut tab1, &mut tab2, &mut manager], "case-1").await;
    assert_eq!(tab1.store.pending_count().unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_sync_and_a_sync_of_n_records_are_one_round_trip_each() {
    let env = SyncEnv::start().await;
    env.upsert_case("case-1", "LC1", "amara", "north").await;
    let mut tab = env.device("amara", "tablet-1");
    tab.sync().await;
    let before = tab.requests();
    let report = tab.sync().await;
    assert_eq!((report.requests, tab.requests() - before), (1, 1), "idle sync");
    for i in 0..25 {
        tab.store.create_record("case-1", &visit_body(realistic_visit(i))).unwrap();
    }
    let before = tab.requests();
    let report = tab.sync().await;
    assert_eq!((report.requests, tab.requests() - before), (1, 1), "25 records in one exchange");
    assert_eq!((report.pushed, report.acknowledged), (25, 25));
    // Another device pulls all 25 (+ the summary) in one round trip too.
    let mut other = env.device("amara", "tablet-2");
    let report = other.sync().await;
    assert_eq!(report.requests, 1);
    assert_eq!(report.pulled, 26);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_response_budget_pages_with_more() {
    let env = SyncEnv::start().await;
    env.upsert_case("case-1", "LC1", "amara", "north").await;
    let mut tab = env.device("amara", "tablet-1");
    tab.sync().await;
    for i in 0..10 {
        tab.store.create_record("case-1", &visit_body(realistic_visit(i))).unwrap();
    }
    tab.sync().await;
    let mut small = env.device("amara", "tablet-2");
    small.client = fieldbook_core::sync::SyncClient::new(
        small.transport.clone(),
        std::sync::Arc::new(fieldbook_tests::sync_env::FixedToken(token_of("amara"))),
        "tablet-2",
    )
    .with_response_budget(4_000)
    .with_max_exchanges(100);
    let report = small.sync().await;
    assert!(report.requests > 2, "paged: {} requests", report.requests);
    assert!(!report.more);
    assert_eq!(small.store.case_records("case-1").unwrap().len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_backlog_is_pushed_in_bounded_requests() {
    let env = SyncEnv::start().await;
    env.upsert_case("case-1", "LC1", "amara", "north").await;
    let mut tab = env.device("amara", "tablet-1");
    tab.client = fieldbook_core::sync::SyncClient::new(
        tab.transport.clone(),
        std::sync::Arc::new(fieldbook_tests::sync_env::FixedToken(token_of("amara"))),
        "tablet-1",
    )
    .with_push_budget(20_000)
    .with_max_exchanges(100);
    tab.sync().await;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(tab.store.create_record("case-1", &visit_body(realistic_visit(i))).unwrap());
    }
    let report = tab.sync().await;
    assert!(report.failure.is_none(), "{:?}", report.failure);
    // Each visit is several kilobytes: 20 kB per request takes a few requests, not one.
    assert!(report.requests >= 3, "bounded pushes: {} requests", report.requests);
    assert_eq!((report.pushed, report.acknowledged), (12, 12));
    assert!(!report.more);
    assert_eq!(tab.store.pending_count().unwrap(), 0);
    let exported = env.export_all().await;
    for id in &ids {
        assert_eq!(exported.iter().filter(|r| &r.meta.id == id).count(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_response_is_retried_without_loss_or_duplicates() {
    let env = SyncEnv::start().await;
    env.upsert_case("case-1", "LC1", "amara", "north").await;
    let mut tab = env.device("amara", "tablet-1");
    tab.sync().await;
    let id = tab.store.create_record("case-1", &visit_body(realistic_visit(3))).unwrap();
    // The server commits, the response is lost, the client retries within the same sync.
    tab.inject(Fault::LoseResponse);
    let report = tab.sync().await;
    assert!(report.failure.is_none(), "{:?}", report.failure);
    assert_eq!(report.requests, 2);
    assert!(matches!(tab.store.delivery(&id).unwrap(), Delivery::Received { .. }));
    // Lost twice more, then offline: the sync gives up, and the next one delivers.
    let mut v = visit_of(&mut tab, &id);
    v.analysis.push_str(" more");
    tab.store.update_record(&id, &visit_body(v)).unwrap();
    for f in [Fault::LoseResponse, Fault::LoseResponse, Fault::Offline] {
        tab.inject(f);
    }
    let report = tab.sync().await;
    assert_eq!(report.failure, Some(SyncFailure::Offline));
    assert_eq!(tab.client.status().state, fieldbook_core::sync::SyncState::Offline);
    assert!(tab.sync().await.failure.is_none());
    let exported = env.export_all().await;
    let copies: Vec<_> = exported.iter().filter(|r| r.meta.id == id).collect();
    assert_eq!(copies.len(), 1, "one record, not duplicated");
    assert_eq!(copies[0], &tab.store.record(&id).unwrap());
    assert_eq!(tab.store.history(&id).unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_cannot_reach_another_workers_case_through_any_endpoint() {
    let env = SyncEnv::start().await;
    env.upsert_case("case-a", "LCA", "amara", "north").await;
    env.upsert_case("case-c", "LCC", "carol", "south").await;
    let mut carol = env.device("carol", "tablet-c");
    carol.sync().await;
    let secret = carol.store.create_record("case-c", &visit_body(realistic_visit(5))).unwrap();
    carol.sync().await;

    // Sync: amara's device never receives case-c, and cannot push into it.
    let mut amara = env.device("amara", "tablet-a");
    let report = amara.sync().await;
    assert!(report.failure.is_none());
    assert!(amara.store.cases().unwrap().iter().all(|c| c.case_id == "case-a"));
    assert!(amara.store.record(&secret).is_err());
    let forged = amara.store.create_record("case-c", &visit_body(realistic_visit(6))).unwrap();
    let report = amara.sync().await;
    assert_eq!(report.rejected, vec![(forged.clone(), RejectReason::NotAllocated)]);
    assert!(env.export_all().await.iter().all(|r| r.meta.id != forged));

    // A hand-made request pushing carol's document id: refused, and the answer holds no record.
    let changes = carol.store.changes_since(&secret, &[]).unwrap();
    let request = SyncRequest {
        version: PROTOCOL_VERSION,
        device: "tablet-a".into(),
        cursor: 0,
        cursor_tag: 0,
        push: vec![PushDoc {
            id: secret.clone(),
            kind: changes.kind,
            case_id: "case-c".into(),
            heads: vec![],
            changes: changes.changes.clone(),
            signatures: Vec::new(),
            listing: None,
        }],
        check: vec![fieldbook_core::protocol::DocHeads {
            id: secret.clone(),
            case_id: String::new(),
            heads: vec![],
        }],
        response_budget: 1 << 20,
        device_key: None,
    };
    let (status, body) = env
        .call(reqwest::Method::POST, "/v1/sync", Some(&token_of("amara")), Some(encode(&request)))
        .await;
    assert_eq!(status, 200);
    let response: fieldbook_core::protocol::SyncResponse =
        fieldbook_core::protocol::decode(&body, 1 << 26).unwrap();
    assert_eq!(response.rejected.len(), 1);
    assert!(response.docs.iter().all(|d| d.case_id == "case-a"), "only amara's case comes back");
    // The repair path answers as it does for an id the server does not know (send it in
    // full), so it does not reveal carol's document (tests/tests/namespaced_ids.rs).
    assert_eq!(response.send_all, vec![secret.clone()]);

    // The case system API is closed to workers and managers; a bad token gets 401.
    let summary = serde_json::to_vec(&serde_json::json!({
        "summary": summary_for("LCC", "amara", "north"), "allocated_worker": "amara", "team": "north"
    }))
    .unwrap();
    for token in ["amara", "mina"] {
        let t = token_of(token);
        let (status, _) = env
            .call(reqwest::Method::PUT, "/api/v1/cases/case-c", Some(&t), Some(summary.clone()))
            .await;
        assert_eq!(status, 403, "{token} PUT case");
        let (status, body) =
            env.call(reqwest::Method::GET, "/api/v1/records?cursor=0", Some(&t), None).await;
        assert_eq!(status, 403, "{token} export");
        assert!(!String::from_utf8_lossy(&body).contains("case-c"));
    }
    for path in ["/v1/sync", "/api/v1/records"] {
        let (status, _) =
            env.call(reqwest::Method::POST, path, Some("not-a-token"), Some(vec![])).await;
        assert!(status == 401 || status == 405, "{path}: {status}");
        let (status, _) = env.call(reqwest::Method::GET, "/api/v1/records", None, None).await;
        assert_eq!(status, 401);
    }
    // The case system itself cannot sync as a device.
    let (status, _) = env
        .call(
            reqwest::Method::POST,
            "/v1/sync",
            Some(&token_of("case-system")),
            Some(encode(&request)),
        )
        .await;
    assert_eq!(status, 403);
    // Carol's record is untouched.
    let exported = env.export_all().await;
    assert_eq!(
        exported.iter().find(|r| r.meta.id == secret).unwrap(),
        &carol.store.record(&secret).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_allocation_purges_the_old_device_and_delivers_to_the_new() {
    let env = SyncEnv::start().await;
    env.upsert_case("case-1", "LC1", "amara", "north").await;
    let mut amara = env.device("amara", "tablet-a");
    let mut ben = env.device("ben", "tablet-b");
    amara.sync().await;
    ben.sync().await;
    assert!(ben.store.cases().unwrap().is_empty());
    let id = amara.store.create_record("case-1", &visit_body(realistic_visit(8))).unwrap();
    amara.sync().await;

    env.upsert_case("case-1", "LC1", "ben", "north").await;
    let report = amara.sync().await;
    assert_eq!(report.purged_cases, vec!["case-1".to_string()]);
    assert!(amara.store.cases().unwrap().is_empty());
    assert!(amara.store.case_records("case-1").unwrap().is_empty());
    assert!(amara.store.record(&id).is_err());
    let report = ben.sync().await;
    assert_eq!(report.allocated_cases, vec!["case-1".to_string()]);
    assert_eq!(
        ben.store.record(&id).unwrap(),
        env.export_all().await.into_iter().find(|r| r.meta.id == id).unwrap()
    );
}
