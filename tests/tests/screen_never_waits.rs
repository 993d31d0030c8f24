//! The screen never waits for the network: while a sync's response is held on the wire, the
//! app opens records, creates and updates a visit and computes the worklist, and every call
//! returns; the sync then completes, and what was written meanwhile is delivered by the next.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use fieldbook_ffi::types::Delivery;
use fieldbook_ffi::FieldbookStore;
use fieldbook_tests::fault_proxy::HoldingProxy;
use fieldbook_tests::mobile::{visit_fields as fields, Token};
use fieldbook_tests::sync_env::{token_of, SyncEnv};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_calls_return_while_a_sync_response_is_held() {
    let env = SyncEnv::start().await;
    env.upsert_case("case-1", "LC1", "amara", "north").await;
    let addr = env.url.trim_start_matches("http://").parse().unwrap();
    let (proxy, mut seen) = HoldingProxy::start(addr).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tablet.db").to_string_lossy().into_owned();
    let store = FieldbookStore::open(
        path,
        vec![7; 32],
        "amara".into(),
        "tablet".into(),
        Some(proxy.url()),
        Some(Arc::new(Token(token_of("amara")))),
    )
    .unwrap();
    let before =
        app(&store, |s| s.create_visit("case-1".into(), fields("Before the sync.")).unwrap()).await;

    // The sync pushes `before`; the server answers, and the proxy holds the answer.
    let syncing = tokio::spawn({
        let store = store.clone();
        async move { store.sync().await }
    });
    seen.recv().await.expect("the proxy saw the sync request");

    // The app's calls, from a thread of their own as the app makes them. A deadlock here (the
    // store locked across the exchange) fails the test after a generous guard instead of hanging.
    let calls = tokio::task::spawn_blocking({
        let store = store.clone();
        let before = before.clone();
        move || {
            let opened = store.visit(before.clone()).unwrap();
            assert_eq!(opened.observations, "Before the sync.");
            assert_eq!(store.case_records("case-1".into()).unwrap().len(), 1);
            store.cases().unwrap();
            let during = store.create_visit("case-1".into(), fields("During the sync.")).unwrap();
            let mut edited = store.visit(during.clone()).unwrap();
            edited.observations.push_str(" Edited.");
            assert_eq!(store.update_visit(during.clone(), edited).unwrap(), vec!["observations"]);
            let mut again = store.visit(before.clone()).unwrap();
            again.analysis = "Updated while the sync was on the wire.".into();
            store.update_visit(before.clone(), again).unwrap();
            store.worklist("2026-03-27".into()).unwrap();
            during
        }
    });
    let during = tokio::time::timeout(Duration::from_secs(120), calls)
        .await
        .expect("the app's calls waited for the network")
        .unwrap();
    // Order: every call returned while the response was still held.
    assert!(!syncing.is_finished(), "the sync finished before the barrier was released");

    proxy.release();
    let report = syncing.await.unwrap().expect("the sync completes once released");
    assert_eq!(report.pushed, 1);
    assert_eq!(report.acknowledged, 1);
    // Edited meanwhile: `before` was acknowledged at the heads pushed, so it is still pending,
    // like the visit created during the exchange. Nothing written meanwhile is lost.
    let (b, d) = (before.clone(), during.clone());
    let deliveries = app(&store, move |s| (s.delivery(b).unwrap(), s.delivery(d).unwrap())).await;
    assert_eq!(deliveries, (Delivery::OnDeviceOnly, Delivery::OnDeviceOnly));

    let second = store.sync().await.expect("the second sync");
    assert_eq!(second.acknowledged, 2, "both records written meanwhile are delivered");
    let (b, d) = (before.clone(), during.clone());
    let (deliveries, local) = app(&store, move |s| {
        let deliveries = (s.delivery(b.clone()).unwrap(), s.delivery(d.clone()).unwrap());
        (deliveries, [(b.clone(), s.visit(b).unwrap()), (d.clone(), s.visit(d).unwrap())])
    })
    .await;
    assert!(matches!(deliveries.0, Delivery::Received { .. }));
    assert!(matches!(deliveries.1, Delivery::Received { .. }));
    let server = env.export_all().await;
    for (id, local) in local {
        let record = server.iter().find(|r| r.meta.id == id).expect("on the server");
        let fieldbook_core::records::RecordBody::Visit(v) = &record.body else {
            panic!("record {id} is not a visit on the server")
        };
        let on_server =
            (&v.location, &v.observations, v.child_seen, v.started_at.timestamp_millis());
        let here = (&local.location, &local.observations, local.child_seen, local.started_at_ms);
        assert_eq!(on_server, here, "record {id}");
    }
}

/// Runs the app's calls off the runtime, on a thread of their own, as the app makes them.
async fn app<T: Send + 'static>(
    store: &Arc<FieldbookStore>,
    f: impl FnOnce(&FieldbookStore) -> T + Send + 'static,
) -> T {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store)).await.unwrap()
}

/// A store failure reading which records are pending is the sync's error: it was read as "none
/// pending", which told the app nothing of the records it could not account for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_reading_the_pending_records_is_the_syncs_error() {
    let env = SyncEnv::start().await;
    env.upsert_case("case-1", "LC1", "amara", "north").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tablet.db").to_string_lossy().into_owned();
    let key = vec![7u8; 32];
    let store = FieldbookStore::open(
        path.clone(),
        key.clone(),
        "amara".into(),
        "tablet".into(),
        Some(env.url.clone()),
        Some(Arc::new(Token(token_of("amara")))),
    )
    .unwrap();
    app(&store, |s| s.create_visit("case-1".into(), fields("Pending.")).unwrap()).await;
    // The pending list's rows become unreadable (the documents, and the sync, are untouched).
    let raw = rusqlite::Connection::open(&path).unwrap();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    raw.execute_batch(&format!("PRAGMA key = \"x'{hex}'\";")).unwrap();
    raw.execute_batch("UPDATE records SET status = 'unheard-of';").unwrap();
    drop(raw);
    match store.sync().await {
        Err(fieldbook_ffi::SyncError::Store { .. }) => {}
        other => panic!("expected the store's error, got {other:?}"),
    }
}
