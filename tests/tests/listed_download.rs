//! A new tablet's caseload is listed without loading its records (issue #13): the server sends
//! each whole document with its list row, the tablet stores the bytes and the row, and loads a
//! record only when it is opened. The lists, the worklist and every record opened are the same
//! as on the tablet that wrote them; a record edited on two tablets at once (its history is not
//! one line) is loaded on receipt, as before.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::NaiveDate;
use fieldbook_core::records::RecordBody;
use fieldbook_tests::sync_env::{token_of, FixedToken, SyncEnv};
use fieldbook_tests::{realistic_visit, visit_body};

fn append(store: &mut fieldbook_core::Store, id: &str, text: &str) {
    let mut record = store.record(id).unwrap();
    if let RecordBody::Visit(v) = &mut record.body {
        v.observations.push_str(text);
    }
    store.update_record(id, &record.body).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_tablet_lists_its_caseload_without_loading_a_record() {
    let env = SyncEnv::start().await;
    env.upsert_case("case-1", "L1", "amara", "north").await;
    let mut first = env.device("amara", "tab-1");
    let mut second = env.device("amara", "tab-2");
    let ids: Vec<String> = (0..8)
        .map(|i| first.store.create_record("case-1", &visit_body(realistic_visit(i))).unwrap())
        .collect();
    for id in &ids[..4] {
        append(&mut first.store, id, " Seen again later.");
    }
    assert!(first.sync().await.failure.is_none());
    // Both tablets edit the first record before either syncs: its history is no longer a line.
    assert!(second.sync().await.failure.is_none());
    append(&mut first.store, &ids[0], " From the first tablet.");
    append(&mut second.store, &ids[0], " From the second tablet.");
    assert!(first.sync().await.failure.is_none());
    assert!(second.sync().await.failure.is_none());
    assert!(first.sync().await.failure.is_none());

    let mut new = env.device("amara", "tab-new");
    let report = new.sync().await;
    assert!(report.failure.is_none() && report.rejected.is_empty(), "{report:?}");
    assert_eq!(
        new.store.documents_loaded(),
        1,
        "only the record edited on two tablets at once was loaded to be received"
    );
    let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    assert_eq!(
        new.store.case_records("case-1").unwrap(),
        first.store.case_records("case-1").unwrap()
    );
    assert_eq!(new.store.worklist(today).unwrap(), first.store.worklist(today).unwrap());
    assert_eq!(new.store.documents_loaded(), 1, "listing loads nothing");

    // The same over many small responses: every page's documents are listed, not only the
    // first page's (the row goes beside a document sent from its first change).
    let mut paged = env.device("amara", "tab-paged");
    paged.client = fieldbook_core::sync::SyncClient::new(
        paged.transport.clone(),
        std::sync::Arc::new(FixedToken(token_of("amara"))),
        "tab-paged",
    )
    .with_response_budget(8_000)
    .with_max_exchanges(100);
    let report = paged.sync().await;
    assert!(report.failure.is_none() && report.rejected.is_empty(), "{report:?}");
    assert!(report.requests >= 4, "{} requests: the download was paged", report.requests);
    // A record whose later edits fall on a later page than its first change is sent whole with
    // its first change, and its later changes, sent again on their own page, are known from
    // their signatures without loading it.
    assert_eq!(paged.store.documents_loaded(), 1, "listed on every page");
    assert_eq!(
        paged.store.case_records("case-1").unwrap(),
        first.store.case_records("case-1").unwrap()
    );

    // Opened, every record is the one the first tablet holds, and its row is unchanged.
    for id in &ids {
        assert_eq!(new.store.record(id).unwrap(), first.store.record(id).unwrap());
    }
    assert_eq!(
        new.store.case_records("case-1").unwrap(),
        first.store.case_records("case-1").unwrap()
    );
    // Edited and synced, a record that arrived listed goes back to the server as any other.
    append(&mut new.store, &ids[5], " From the new tablet.");
    let report = new.sync().await;
    assert_eq!(report.acknowledged, 1, "{report:?}");
    assert!(first.sync().await.failure.is_none());
    assert_eq!(first.store.record(&ids[5]).unwrap(), new.store.record(&ids[5]).unwrap());
}
