//! A full disk during a write or a sync gives a typed error and loses nothing once space
//! returns; a record too large for the limits is refused before anything is written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fieldbook_core::records::RecordBody;
use fieldbook_core::sync::SyncFailure;
use fieldbook_core::Error;
use fieldbook_tests::sync_env::SyncEnv;
use fieldbook_tests::{open_at, prose, realistic_visit, visit_body, Scratch};

#[test]
fn writes_on_a_full_disk_fail_cleanly_and_succeed_once_space_returns() {
    let scratch = Scratch::new();
    let path = scratch.path("full.db");
    let mut store = open_at(&path, "amara", "tablet");
    let mut acknowledged = Vec::new();
    for i in 0..3 {
        acknowledged.push(store.create_record("case-1", &visit_body(realistic_visit(i))).unwrap());
    }
    let before = store.record(&acknowledged[0]).unwrap();

    store.limit_size_for_tests(Some(2)).unwrap();
    // Creating until the disk is full: the failing write is a typed error, not a panic.
    let mut refused = None;
    for i in 10..200 {
        match store.create_record("case-1", &visit_body(realistic_visit(i))) {
            Ok(id) => acknowledged.push(id),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    assert!(matches!(refused, Some(Error::StorageFull)), "{refused:?}");
    // An edit on the full disk fails too, and leaves the record as it was.
    let mut big = before.clone();
    if let RecordBody::Visit(v) = &mut big.body {
        v.analysis = prose(7, 200_000);
    }
    assert!(matches!(store.update_record(&acknowledged[0], &big.body), Err(Error::StorageFull)));
    assert_eq!(store.record(&acknowledged[0]).unwrap(), before, "memory never runs ahead of disk");
    assert_eq!(store.integrity_check().unwrap(), Vec::<String>::new());

    // Space returns: the same writes now succeed, and everything acknowledged is there.
    store.limit_size_for_tests(None).unwrap();
    store.update_record(&acknowledged[0], &big.body).unwrap();
    let late = store.create_record("case-1", &visit_body(realistic_visit(500))).unwrap();
    drop(store);
    let mut store = open_at(&path, "amara", "tablet");
    for id in acknowledged.iter().chain([&late]) {
        assert!(store.record(id).is_ok(), "{id} lost");
    }
    assert_eq!(store.record(&acknowledged[0]).unwrap().body, big.body);
    assert_eq!(store.integrity_check().unwrap(), Vec::<String>::new());
}

#[test]
fn a_record_too_large_is_refused_before_anything_is_written() {
    let scratch = Scratch::new();
    let mut store = open_at(&scratch.path("big.db"), "amara", "tablet");
    let id = store.create_record("case-1", &visit_body(realistic_visit(1))).unwrap();
    let mut v = realistic_visit(2);
    v.observations = "x".repeat(fieldbook_core::limits::MAX_RECORD_BYTES + 1);
    let err = store.create_record("case-1", &visit_body(v.clone())).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    assert!(err.to_string().contains("too large"), "{err}");
    assert_eq!(store.case_records("case-1").unwrap().len(), 1, "nothing was written");
    let err = store.update_record(&id, &visit_body(v)).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }));
    assert_eq!(store.history(&id).unwrap().len(), 1, "no change recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_on_a_full_disk_fails_cleanly_and_completes_once_space_returns() {
    let env = SyncEnv::start().await;
    env.upsert_case("case-1", "LC1", "amara", "north").await;
    let mut a = env.device("amara", "tablet-a");
    let mut b = env.device("amara", "tablet-b");
    a.sync().await;
    b.sync().await;
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(a.store.create_record("case-1", &visit_body(realistic_visit(i))).unwrap());
    }
    assert!(a.sync().await.failure.is_none());

    // Tablet B's disk is full when the 30 records arrive.
    let cursor = b.store.sync_cursor().unwrap();
    b.store.limit_size_for_tests(Some(1)).unwrap();
    let report = b.sync().await;
    assert!(matches!(report.failure, Some(SyncFailure::Store { .. })), "{:?}", report.failure);
    assert_eq!(b.store.sync_cursor().unwrap(), cursor, "the cursor did not move past what failed");
    assert_eq!(b.store.integrity_check().unwrap(), Vec::<String>::new());

    b.store.limit_size_for_tests(None).unwrap();
    let report = b.sync().await;
    assert!(report.failure.is_none(), "{:?}", report.failure);
    for id in &ids {
        assert_eq!(b.store.record(id).unwrap(), a.store.record(id).unwrap());
    }
}
