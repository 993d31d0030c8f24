//! What a sync costs in documents loaded (issue #13): an idle sync loads no document on either
//! side and carries under 1 KB of bodies both ways; a push of documents the server holds hot
//! rebuilds none of them from storage; and the hot copies stay correct with two servers on one
//! database, each with its own cache.
//!
//! The server's count (`fieldbook_server::hub::documents_loaded`) is per process, so this file
//! holds one test: no other test's server runs in this process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fieldbook_core::records::RecordBody;
use fieldbook_core::sync::transport::{HttpResponse, HttpTransport, Transport, TransportError};
use fieldbook_core::sync::{SyncClient, SyncReport};
use fieldbook_core::Store;
use fieldbook_server::hub::documents_loaded;
use fieldbook_server::serve::{open_storage, Backend};
use fieldbook_tests::sync_env::{token_of, FixedToken, SyncEnv};
use fieldbook_tests::{realistic_visit, visit_body, Scratch};

/// HTTP with the bodies of both directions counted.
#[derive(Clone)]
struct Counting {
    inner: HttpTransport,
    bytes: Arc<AtomicU64>,
}

impl Transport for Counting {
    async fn post(&self, body: Vec<u8>, token: String) -> Result<HttpResponse, TransportError> {
        self.bytes.fetch_add(body.len() as u64, Ordering::SeqCst);
        let response = self.inner.post(body, token).await?;
        self.bytes.fetch_add(response.body.len() as u64, Ordering::SeqCst);
        Ok(response)
    }
}

struct Tablet {
    store: Store,
    client: SyncClient<Counting>,
    bytes: Arc<AtomicU64>,
}

impl Tablet {
    fn new(scratch: &Scratch, url: &str, worker: &str, device: &str) -> Self {
        let bytes = Arc::new(AtomicU64::new(0));
        let inner =
            HttpTransport::new(url, Duration::from_secs(5), Duration::from_secs(30)).unwrap();
        let client = SyncClient::new(
            Counting { inner, bytes: bytes.clone() },
            Arc::new(FixedToken(token_of(worker))),
            device,
        );
        let store = scratch.store(&format!("{worker}-{device}"), worker, device);
        Self { store, client, bytes }
    }

    async fn sync(&mut self) -> SyncReport {
        let report = self.client.sync(&mut self.store).await;
        assert!(report.failure.is_none(), "{report:?}");
        report
    }

    fn edit(&mut self, id: &str, note: &str) {
        let mut record = self.store.record(id).unwrap();
        if let RecordBody::Visit(v) = &mut record.body {
            v.observations.push_str(note);
        }
        self.store.update_record(id, &record.body).unwrap();
    }

    fn observations(&mut self, id: &str) -> String {
        match self.store.record(id).unwrap().body {
            RecordBody::Visit(v) => v.observations,
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_syncs_and_hot_pushes_load_no_document() {
    // Two servers on one database, each with its own hub and cache (as two instances are).
    let scratch = Scratch::new();
    let storage = open_storage(&Backend::sqlite(scratch.path("server.db"))).await.unwrap();
    let one = SyncEnv::start_with(scratch, storage.clone()).await;
    let two = SyncEnv::start_with(Scratch::new(), storage).await;
    one.upsert_case("case-1", "L1", "amara", "north").await;

    let mut tablet = Tablet::new(&one.scratch, &one.url, "amara", "tab-1");
    let ids: Vec<String> = (0..5)
        .map(|i| tablet.store.create_record("case-1", &visit_body(realistic_visit(i))).unwrap())
        .collect();
    let server_before = documents_loaded();
    tablet.sync().await;
    assert_eq!(
        documents_loaded() - server_before,
        0,
        "new records are validated and projected from what was pushed, without a reload"
    );

    // An idle sync: no document loaded on either side, under 1 KB both ways.
    let (server_before, device_before) = (documents_loaded(), tablet.store.documents_loaded());
    let bytes_before = tablet.bytes.load(Ordering::SeqCst);
    let report = tablet.sync().await;
    assert_eq!((report.pushed, report.pulled), (0, 0), "{report:?}");
    assert_eq!(documents_loaded() - server_before, 0, "server: an idle sync loads nothing");
    assert_eq!(tablet.store.documents_loaded() - device_before, 0, "device: nor here");
    let idle_bytes = tablet.bytes.load(Ordering::SeqCst) - bytes_before;
    assert!(idle_bytes <= 1024, "an idle sync carried {idle_bytes} bytes of bodies");

    // Edits of records the server holds hot: pushed and acknowledged without a reload.
    for id in &ids[..3] {
        tablet.edit(id, " Seen again.");
    }
    let server_before = documents_loaded();
    let report = tablet.sync().await;
    assert_eq!(report.acknowledged, 3, "{report:?}");
    assert_eq!(documents_loaded() - server_before, 0, "the pushed documents were hot");

    // A second tablet edits the same record through the other server: that server has it cold
    // (its own cache is empty) and loads it once.
    let mut other = Tablet::new(&two.scratch, &two.url, "amara", "tab-2");
    other.sync().await;
    assert_eq!(other.store.case_records("case-1").unwrap().len(), 5);
    let server_before = documents_loaded();
    other.edit(&ids[0], " Second tablet.");
    assert_eq!(other.sync().await.acknowledged, 1);
    assert_eq!(documents_loaded() - server_before, 1, "cold on the second server: one load");

    // The first server's copy is now behind storage's heads: it must not be used. The first
    // tablet's next edit of it goes through the first server, which loads the stored document
    // (one load), and both tablets converge on both edits.
    tablet.edit(&ids[0], " First tablet.");
    let server_before = documents_loaded();
    assert_eq!(tablet.sync().await.acknowledged, 1);
    assert_eq!(documents_loaded() - server_before, 1, "a stale hot copy is reloaded");
    other.sync().await;
    tablet.sync().await;
    let (a, b) = (tablet.observations(&ids[0]), other.observations(&ids[0]));
    assert_eq!(a, b, "both tablets converged");
    assert!(a.contains("Second tablet.") && a.contains("First tablet."), "both edits kept");
    // And the first server, hot again, pushes the next edit without a reload.
    tablet.edit(&ids[0], " Third.");
    let server_before = documents_loaded();
    assert_eq!(tablet.sync().await.acknowledged, 1);
    assert_eq!(documents_loaded() - server_before, 0, "hot again after the reload");
}
