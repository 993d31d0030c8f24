//! What a council's IT team runs: health, metrics without personal data, the OpenAPI document,
//! body limits checked before decoding, and a graceful shutdown that finishes the exchange in
//! flight and loses nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::Ordering;
use std::time::Duration;

use fieldbook_core::protocol::{limits, CONTENT_TYPE};
use fieldbook_server::serve::{open_storage, Backend};
use fieldbook_tests::sync_env::{token_of, SyncEnv};
use fieldbook_tests::{realistic_visit, visit_body, Scratch};
use reqwest::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_openapi_and_metrics_without_personal_data() {
    let env = SyncEnv::start().await;
    let (status, body) = env.call(Method::GET, "/health", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["status"], "ok");

    let (status, body) = env.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    let api: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(api["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/api/v1/cases/{case_id}", "/api/v1/records", "/v1/sync"] {
        assert!(api["paths"].get(path).is_some(), "OpenAPI documents {path}");
    }

    env.upsert_case("case-1", "LC1", "amara", "north").await;
    let mut tab = env.device("amara", "tablet-1");
    let mut visit = realistic_visit(1);
    visit.observations = "PLANTED-METRICS-CANARY in the kitchen".into();
    tab.store.create_record("case-1", &visit_body(visit)).unwrap();
    assert!(tab.sync().await.failure.is_none());

    let (status, body) = env.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    let value = |name: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("metric {name} missing:\n{text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(value("fieldbook_sync_duration_seconds_count") >= 1.0);
    assert!(value("fieldbook_sync_bytes_received_total") > 1000.0, "the pushed visit");
    assert!(value("fieldbook_sync_documents_pushed_total") >= 1.0);
    assert!(text.contains("fieldbook_http_requests_total{route=\"/v1/sync\",status=\"2xx\"}"));
    for secret in ["PLANTED-METRICS-CANARY", "amara", "case-1", "tok-amara", "tablet-1"] {
        assert!(!text.contains(secret), "metrics expose {secret}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_refused_before_decoding() {
    let env = SyncEnv::start().await;
    let too_big = vec![0u8; limits::MAX_REQUEST_BYTES + 1];
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{}/v1/sync", env.url))
        .bearer_auth(token_of("amara"))
        .header("content-type", CONTENT_TYPE)
        .body(too_big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    let response = http
        .put(format!("{}/api/v1/cases/case-1", env.url))
        .bearer_auth(token_of("case-system"))
        .header("content-type", "application/json")
        .body(too_big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    // A body that is not CBOR at all: a typed 400, not a crash.
    let response = http
        .post(format!("{}/v1/sync", env.url))
        .bearer_auth(token_of("amara"))
        .header("content-type", CONTENT_TYPE)
        .body(vec![0xff; 64])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_finishes_the_exchange_in_flight() {
    let scratch = Scratch::new();
    let db = scratch.path("server.db");
    let storage = open_storage(&Backend::sqlite(&db)).await.unwrap();
    let mut env = SyncEnv::start_with(scratch, storage).await;
    env.upsert_case("case-1", "LC1", "amara", "north").await;
    let mut tab = env.device("amara", "tablet-1");
    tab.sync().await;
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(tab.store.create_record("case-1", &visit_body(realistic_visit(i))).unwrap());
    }
    let on_wire = tab.transport.requests.clone();
    let before = on_wire.load(Ordering::SeqCst);
    let server = env.server.take().unwrap();
    let stopper = async move {
        while on_wire.load(Ordering::SeqCst) == before {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        // The request is on its way: stop now (SIGTERM does the same in the binary).
        tokio::time::sleep(Duration::from_millis(2)).await;
        server.stop().await.unwrap();
    };
    let (report, ()) = tokio::join!(tab.sync(), stopper);
    // The exchange in flight completed: every record acknowledged, nothing cut off.
    assert!(report.failure.is_none(), "{:?}", report.failure);
    assert_eq!(report.acknowledged, ids.len());

    // And it was durable: a new server on the same file holds all of it.
    let storage = open_storage(&Backend::sqlite(&db)).await.unwrap();
    let again = SyncEnv::start_with(Scratch::new(), storage).await;
    let exported = again.export_all().await;
    for id in &ids {
        assert_eq!(exported.iter().filter(|r| &r.meta.id == id).count(), 1);
    }
}
