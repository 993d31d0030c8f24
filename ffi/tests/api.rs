//! The exported API called from Rust, as the bindings call it: typed errors, whole-value edits
//! that keep the fields the app does not show, and no panic escaping.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fieldbook_ffi::types::{ChildView, ViewsMethod, VisitFields, VisitKind};
use fieldbook_ffi::{FieldbookStore, OpenError, RecordError};

fn fields() -> VisitFields {
    VisitFields {
        kind: VisitKind::ChildProtection,
        started_at_ms: 1_774_519_200_000,
        location: "Family home".into(),
        child_seen: Some(true),
        child_not_seen_reason: String::new(),
        seen_alone: Some(true),
        bedroom_seen: None,
        child_views: vec![ChildView {
            id: String::new(),
            method: ViewsMethod::OwnWords,
            text: "I like school".into(),
        }],
        observations: "Warm home.".into(),
        analysis: String::new(),
        risks: String::new(),
    }
}

#[test]
fn typed_errors_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db").to_string_lossy().into_owned();
    let open = |key: Vec<u8>| {
        FieldbookStore::open(path.clone(), key, "amara".into(), "t".into(), None, None)
    };
    let store = open(vec![1; 32]).unwrap();
    let id = store.create_visit("case-1".into(), fields()).unwrap();
    let mut v = store.visit(id.clone()).unwrap();
    assert!(!v.child_views[0].id.is_empty(), "the core gave the view an id");
    v.observations.push_str(" Food in.");
    assert_eq!(
        store.update_visit(id.clone(), v.clone()).unwrap(),
        vec!["observations".to_string()]
    );
    assert_eq!(store.visit(id.clone()).unwrap(), v);
    assert!(matches!(store.visit("nope".into()), Err(RecordError::NotFound { .. })));
    assert!(matches!(store.worklist("tomorrow".into()), Err(RecordError::InvalidInput { .. })));
    let mut incomplete = fields();
    incomplete.child_seen = None;
    let bad = store.create_visit("case-1".into(), incomplete).unwrap();
    match store.submit(bad) {
        Err(RecordError::Incomplete { missing }) => {
            assert!(missing.iter().any(|m| m.field == "child_seen"), "{missing:?}")
        }
        other => panic!("{other:?}"),
    }
    drop(store);
    assert!(matches!(open(vec![2; 32]), Err(OpenError::WrongKey)));
    assert!(matches!(open(vec![1; 3]), Err(OpenError::InvalidKey { length: 3 })));
    assert!(matches!(
        tokio_free_sync_status(&open(vec![1; 32]).unwrap()),
        Err(fieldbook_ffi::SyncError::NotConfigured)
    ));
}

fn tokio_free_sync_status(
    s: &FieldbookStore,
) -> Result<fieldbook_ffi::types::SyncStatus, fieldbook_ffi::SyncError> {
    s.sync_status()
}

#[cfg(feature = "test-hooks")]
#[test]
fn a_panic_becomes_an_internal_error() {
    assert!(matches!(fieldbook_ffi::debug_panic_for_tests(), Err(RecordError::Internal { .. })));
}

struct Quiet;

impl fieldbook_ffi::RecordObserver for Quiet {
    fn on_records_changed(&self, _changes: Vec<fieldbook_ffi::RecordChange>) {}
    fn on_delivery_changed(&self, _changes: Vec<fieldbook_ffi::RecordChange>) {}
}

impl fieldbook_ffi::SyncStatusObserver for Quiet {
    fn on_status(&self, _status: fieldbook_ffi::types::SyncStatus) {}
}

struct Token;

impl fieldbook_ffi::TokenProvider for Token {
    fn access_token(&self, _refresh: bool) -> Option<String> {
        None
    }
}

/// A stopped or dropped handle removes its observer from the store, not only silences it.
#[test]
fn observers_are_removed_when_stopped_or_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db").to_string_lossy().into_owned();
    let store = FieldbookStore::open(
        path,
        vec![1; 32],
        "amara".into(),
        "t".into(),
        Some("http://127.0.0.1:9".into()),
        Some(std::sync::Arc::new(Token)),
    )
    .unwrap();
    let stopped = store.observe_records(std::sync::Arc::new(Quiet));
    let dropped = store.observe_records(std::sync::Arc::new(Quiet));
    let status = store.observe_sync(std::sync::Arc::new(Quiet)).unwrap();
    let status_dropped = store.observe_sync(std::sync::Arc::new(Quiet)).unwrap();
    assert_eq!((store.record_observer_count(), store.sync_observer_count()), (2, 2));
    stopped.stop();
    status.stop();
    assert_eq!((store.record_observer_count(), store.sync_observer_count()), (1, 1));
    drop(dropped);
    drop(status_dropped);
    assert_eq!((store.record_observer_count(), store.sync_observer_count()), (0, 0));
    drop(stopped);
    drop(status);
    assert_eq!((store.record_observer_count(), store.sync_observer_count()), (0, 0));
}

/// Receipts through the API: a record never pushed has none (typed), an unknown record is
/// `NotFound`. A receipt received from a server: tests/bindings (Python, Kotlin).
#[test]
fn a_record_never_pushed_has_no_receipt() {
    use fieldbook_ffi::ReceiptError;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db").to_string_lossy().into_owned();
    let store =
        FieldbookStore::open(path, vec![1; 32], "amara".into(), "t".into(), None, None).unwrap();
    let id = store.create_visit("case-1".into(), fields()).unwrap();
    assert_eq!(store.receipt(id.clone()).unwrap(), None);
    assert!(matches!(store.verify_receipt(id), Err(ReceiptError::NoReceipt { .. })));
    assert!(matches!(store.receipt("nope".into()), Err(ReceiptError::NotFound { .. })));
}
