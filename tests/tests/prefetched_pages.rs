//! A paged pull asks for the next page while the device applies the one before (issue #13,
//! `Session::next_pull`): the server builds page N+1 while the tablet commits page N. The early
//! request's answer is used only when the request the store then reports is the same one; an
//! edit made meanwhile, or an early request that fails, means the request is posted as usual.
//!
//! The test holds the shared store after the first response, as the app would, so that the
//! first page cannot be applied until the second request was sent: without the early request
//! the sync would wait on the store forever (the timeout turns that into a failure).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fieldbook_core::protocol::{decode, limits, SyncRequest};
use fieldbook_core::sync::transport::{HttpResponse, HttpTransport, Transport, TransportError};
use fieldbook_core::sync::{SyncClient, SyncReport};
use fieldbook_core::Store;
use fieldbook_tests::sync_env::{token_of, FixedToken, SyncEnv};
use fieldbook_tests::{realistic_visit, visit_body};
use tokio::sync::OwnedMutexGuard;

type Shared = Arc<tokio::sync::Mutex<Store>>;
/// What the second request does with the held store: `Some` fails that request.
type AtSecond = Box<dyn Fn(&mut Store) -> Option<TransportError> + Send + Sync>;

/// What the second request found: the cursor it asked from, and the store's cursor then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    asked_from: u64,
    committed: u64,
}

/// Real HTTP, and a hook: after the first response the store is held (as an app would hold
/// it); the second request records what it finds, runs `at_second` on the held store (an
/// app's edit, or a failure to inject) and lets go.
struct Holding {
    inner: HttpTransport,
    store: Shared,
    posts: Arc<AtomicU32>,
    held: Mutex<Option<OwnedMutexGuard<Store>>>,
    seen: Arc<Mutex<Option<Seen>>>,
    at_second: AtSecond,
}

impl Transport for Holding {
    async fn post(&self, body: Vec<u8>, token: String) -> Result<HttpResponse, TransportError> {
        let n = self.posts.fetch_add(1, Ordering::SeqCst) + 1;
        if n == 2 {
            let held = self.held.lock().unwrap().take();
            let mut held = held.expect("the store is held from the first response on");
            let request: SyncRequest = decode(&body, limits::MAX_REQUEST_BYTES).unwrap();
            let committed = held.sync_cursor().unwrap().0;
            *self.seen.lock().unwrap() = Some(Seen { asked_from: request.cursor, committed });
            let fault = (self.at_second)(&mut held);
            drop(held);
            if let Some(fault) = fault {
                return Err(fault);
            }
        }
        let response = self.inner.post(body, token).await;
        if n == 1 {
            *self.held.lock().unwrap() = Some(self.store.clone().lock_owned().await);
        }
        response
    }
}

struct Run {
    report: SyncReport,
    posts: u32,
    seen: Option<Seen>,
    store: Shared,
}

/// A caseload of `n` realistic visits written on one tablet, and a second tablet's first sync
/// in pages of 8 KB through `Holding`.
async fn download(
    env: &SyncEnv,
    tab: &str,
    at_second: impl Fn(&mut Store) -> Option<TransportError> + Send + Sync + 'static,
) -> Run {
    let device = env.device("amara", tab);
    let store: Shared = Arc::new(tokio::sync::Mutex::new(device.store));
    let posts = Arc::new(AtomicU32::new(0));
    let seen = Arc::new(Mutex::new(None));
    let transport = Holding {
        inner: HttpTransport::new(&env.url, Duration::from_secs(5), Duration::from_secs(30))
            .unwrap(),
        store: store.clone(),
        posts: posts.clone(),
        held: Mutex::new(None),
        seen: seen.clone(),
        at_second: Box::new(at_second),
    };
    let client = SyncClient::new(transport, Arc::new(FixedToken(token_of("amara"))), tab)
        .with_response_budget(8_000)
        .with_max_exchanges(100);
    let report = tokio::time::timeout(Duration::from_secs(60), client.sync_shared(&store))
        .await
        .expect("the second page was not asked for before the first was applied");
    let posts = posts.load(Ordering::SeqCst);
    let seen = *seen.lock().unwrap();
    Run { report, posts, seen, store }
}

async fn caseload(env: &SyncEnv) -> fieldbook_tests::sync_env::Device {
    env.upsert_case("case-1", "L1", "amara", "north").await;
    let mut writer = env.device("amara", "tab-writer");
    for i in 0..6 {
        writer.store.create_record("case-1", &visit_body(realistic_visit(i))).unwrap();
    }
    assert!(writer.sync().await.failure.is_none());
    writer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_page_is_asked_for_while_the_page_before_is_applied() {
    let env = SyncEnv::start().await;
    let writer = caseload(&env).await;
    let run = download(&env, "tab-new", |_| None).await;
    assert!(run.report.failure.is_none() && run.report.refused.is_empty(), "{:?}", run.report);
    let seen = run.seen.expect("a second request");
    assert!(seen.asked_from > 0, "the second request asks from the first page's cursor");
    assert_eq!(seen.committed, 0, "sent before the first page was committed");
    assert!(run.posts >= 3, "{} requests: the download was paged", run.posts);
    assert_eq!(run.report.requests, run.posts, "every early answer was used: none sent twice");
    let store = run.store.lock().await;
    assert_eq!(store.case_records("case-1").unwrap(), writer.store.case_records("case-1").unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_answer_is_not_taken_for_a_request_that_changed_meanwhile() {
    let env = SyncEnv::start().await;
    let mut writer = caseload(&env).await;
    // The worker writes a visit while the first page waits to be applied: the next request
    // pushes it, so it is not the one sent early.
    let run = download(&env, "tab-new", |store| {
        store.create_record("case-1", &visit_body(realistic_visit(99))).unwrap();
        None
    })
    .await;
    assert!(run.report.failure.is_none(), "{:?}", run.report);
    assert_eq!(run.report.acknowledged, 1, "the visit written meanwhile was pushed and taken");
    assert_eq!(run.report.requests, run.posts, "the unused early request is counted");
    let store = run.store.lock().await;
    assert_eq!(store.pending_count().unwrap(), 0);
    assert!(writer.sync().await.failure.is_none());
    // The same rows (in the list's order of dates, records of one date may come in either
    // order: the new visit was written on this tablet).
    let sorted = |mut rows: Vec<fieldbook_core::RecordRow>| {
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        rows
    };
    let here = sorted(store.case_records("case-1").unwrap());
    assert_eq!(here, sorted(writer.store.case_records("case-1").unwrap()));
    assert_eq!(here.len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_request_that_fails_is_posted_again() {
    let env = SyncEnv::start().await;
    let writer = caseload(&env).await;
    let offline = download(&env, "tab-offline", |_| {
        Some(TransportError::Offline("injected: no signal".into()))
    })
    .await;
    let lost = download(&env, "tab-lost", |_| {
        Some(TransportError::Interrupted("injected: the connection broke".into()))
    })
    .await;
    for run in [offline, lost] {
        assert!(run.report.failure.is_none(), "{:?}", run.report);
        assert_eq!(run.report.requests, run.posts);
        let store = run.store.lock().await;
        assert_eq!(
            store.case_records("case-1").unwrap(),
            writer.store.case_records("case-1").unwrap(),
            "the failed early request was posted again as usual"
        );
    }
}
