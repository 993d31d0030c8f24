//! Issue #10, point 1 (the server's half): all Automerge work runs on a bounded pool, so the
//! server keeps answering while heavy pushes are in flight. Shown by ordering, not by the clock:
//! a pool job is held on a gate while `/health`, the case API and another device's sync answer.
//!
//! The server runs on a runtime of its own with ONE async worker thread: if a held job ran on it
//! (Automerge work on the async side), nothing else would be answered and the guards below fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use fieldbook_core::protocol::{
    decode, encode, to_hashes, PushDoc, SyncRequest, SyncResponse, PROTOCOL_VERSION,
};
use fieldbook_server::hub::{Job, JobEvent, JobHook};
use fieldbook_server::serve::{app_state, RunningServer};
use fieldbook_server::storage::sqlite::SqliteStorage;
use fieldbook_tests::sync_env::{auth_config, summary_for, token_of, SyncEnv};
use fieldbook_tests::{realistic_visit, visit_body, Scratch};
use reqwest::Method;
use tokio::sync::mpsc;

/// Holds push jobs in the pool until opened, and reports every job event.
struct Gate {
    /// Hold push jobs that start while this is set.
    hold: AtomicBool,
    open: Mutex<bool>,
    opened: Condvar,
    running: AtomicUsize,
    most: AtomicUsize,
}

impl Gate {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            hold: AtomicBool::new(false),
            open: Mutex::new(false),
            opened: Condvar::new(),
            running: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
        })
    }

    fn hook(self: &Arc<Self>, events: mpsc::UnboundedSender<JobEvent>) -> JobHook {
        let gate = self.clone();
        Arc::new(move |event| {
            match event {
                JobEvent::Started(job) => {
                    let now = gate.running.fetch_add(1, Ordering::SeqCst) + 1;
                    gate.most.fetch_max(now, Ordering::SeqCst);
                    let _ = events.send(event);
                    if job == Job::Push && gate.hold.load(Ordering::SeqCst) {
                        // On a pool thread: blocking here holds this job, nothing else.
                        let mut open = gate.open.lock().unwrap();
                        while !*open {
                            open = gate.opened.wait(open).unwrap();
                        }
                    }
                }
                JobEvent::Finished(_) => {
                    gate.running.fetch_sub(1, Ordering::SeqCst);
                    let _ = events.send(event);
                }
                JobEvent::Queued(_) => {
                    let _ = events.send(event);
                }
            }
        })
    }

    fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

/// Opens the gate when dropped, also on a failed assertion: a job still held would keep the
/// server's runtime from shutting down, and the test from ending.
struct OpenOnDrop(Arc<Gate>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// A server with a pool of `jobs` on its own one-thread runtime, and the tests' clients.
struct Setup {
    env: SyncEnv,
    _server: RunningServer,
    _server_runtime: tokio::runtime::Runtime,
}

fn start(client: &tokio::runtime::Runtime, jobs: usize, hook: JobHook) -> Setup {
    let server_runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let scratch = Scratch::new();
    let storage = Arc::new(SqliteStorage::open(&scratch.path("server.db"), None).unwrap());
    let mut state = app_state(storage, &auth_config(&scratch)).unwrap();
    state.hub = state.hub.with_pool_size(jobs).with_job_hook(hook);
    assert_eq!(state.hub.pool_size(), jobs);
    let server = server_runtime
        .block_on(RunningServer::start("127.0.0.1:0".parse().unwrap(), state))
        .unwrap();
    let env = SyncEnv::attach(scratch, server.url());
    let setup = Setup { env, _server: server, _server_runtime: server_runtime };
    client.block_on(async {
        setup.env.upsert_case("case-a", "LCA", "amara", "north").await;
        setup.env.upsert_case("case-b", "LCB", "ben", "north").await;
    });
    setup
}

/// A raw exchange pushing one new visit of `worker` in `case`: (body, record id).
fn push_body(setup: &Setup, worker: &str, case: &str, n: usize) -> (Vec<u8>, String) {
    let mut store = setup.env.scratch.store(&format!("{worker}-raw-{n}"), worker, "raw");
    let id = store.create_record(case, &visit_body(realistic_visit(n))).unwrap();
    let changes = store.changes_since(&id, &[]).unwrap();
    let push = PushDoc {
        id: id.clone(),
        kind: changes.kind,
        case_id: case.into(),
        heads: to_hashes(&store.heads(&id).unwrap()),
        changes: changes.changes,
        signatures: changes.signatures,
        listing: None,
    };
    let body = encode(&SyncRequest {
        version: PROTOCOL_VERSION,
        device: format!("raw-{n}"),
        cursor: 0,
        cursor_tag: 0,
        push: vec![push],
        check: vec![],
        response_budget: 1 << 22,
        device_key: Some(store.public_key()),
    });
    (body, id)
}

/// A guard against a server that stopped answering (the failure this file is about): the
/// calls answer in milliseconds when the pool works, so the bound is only reached on a hang,
/// which it turns into a failure (a job run on the server's only async thread, say).
async fn answers<T>(what: &str, call: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(120), call)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer while a push is held in the pool"))
}

async fn next_started(events: &mut mpsc::UnboundedReceiver<JobEvent>, job: Job) {
    while let Some(event) = events.recv().await {
        if event == JobEvent::Started(job) {
            return;
        }
    }
    panic!("the hook went away");
}

fn acked(bytes: &[u8], id: &str) -> bool {
    let response: SyncResponse = decode(bytes, 1 << 26).unwrap();
    response.rejected.is_empty() && response.acks.iter().any(|a| a.id == id)
}

#[test]
fn health_the_case_api_and_other_syncs_answer_while_a_push_is_held() {
    let client = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let gate = Gate::new();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let setup = start(&client, 2, gate.hook(events_tx));
    let _open = OpenOnDrop(gate.clone());
    let env = &setup.env;
    let (body, id) = push_body(&setup, "amara", "case-a", 1);
    client.block_on(async {
        let mut ben = env.device("ben", "tablet-b");
        assert!(ben.sync().await.failure.is_none());

        gate.hold.store(true, Ordering::SeqCst);
        let url = env.url.clone();
        let held = tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{url}/v1/sync"))
                .bearer_auth(token_of("amara"))
                .body(body)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        });
        // The push is now inside the pool, held.
        answers("the push reaching the pool", next_started(&mut events, Job::Push)).await;

        let (status, _) = answers("/health", env.call(Method::GET, "/health", None, None)).await;
        assert_eq!(status, 200);
        // The case API: its summary is Automerge work too, on the pool's other permit.
        let summary = summary_for("LCC", "ben", "north");
        let token = token_of("case-system");
        let put = env.put_case(&token, "case-c", &summary, "ben", "north");
        assert_eq!(answers("PUT /api/v1/cases", put).await, 204);
        // Another device's sync (nothing to push) answers, and brings the new case.
        let report = answers("ben's sync", ben.sync()).await;
        assert!(report.failure.is_none(), "{report:?}");
        assert!(ben.store.cases().unwrap().iter().any(|c| c.case_id == "case-c"));
        assert!(!held.is_finished(), "the held push finished before its release");

        gate.release();
        let bytes = answers("the held push", held).await.unwrap();
        assert!(acked(&bytes, &id), "the held push completes and is acknowledged");
        assert!(env.export_all().await.iter().any(|r| r.meta.id == id));
    });
}

#[test]
fn a_full_pool_leaves_the_async_side_answering() {
    const BOUND: usize = 2;
    let client = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let gate = Gate::new();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let setup = start(&client, BOUND, gate.hook(events_tx));
    let _open = OpenOnDrop(gate.clone());
    let env = &setup.env;
    let pushes: Vec<_> = (0..BOUND + 1).map(|n| push_body(&setup, "amara", "case-a", n)).collect();
    client.block_on(async {
        let mut ben = env.device("ben", "tablet-b");
        assert!(ben.sync().await.failure.is_none());
        gate.hold.store(true, Ordering::SeqCst);
        let mut tasks = Vec::new();
        for (body, id) in &pushes {
            let (url, body, id) = (env.url.clone(), body.clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                let bytes = reqwest::Client::new()
                    .post(format!("{url}/v1/sync"))
                    .bearer_auth(token_of("amara"))
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                (bytes, id)
            }));
        }
        // Every permit is taken by a held push, and one more push waits for a permit.
        answers("the pushes reaching the pool", async {
            let (mut started, mut queued) = (0, 0);
            while started < BOUND || queued < BOUND + 1 {
                match events.recv().await.unwrap() {
                    JobEvent::Started(Job::Push) => started += 1,
                    JobEvent::Queued(Job::Push) => queued += 1,
                    _ => {}
                }
            }
        })
        .await;
        let (status, _) = answers("/health", env.call(Method::GET, "/health", None, None)).await;
        assert_eq!(status, 200);
        let report = answers("ben's sync", ben.sync()).await;
        assert!(report.failure.is_none(), "{report:?}");
        // The case API needs the pool: it waits its turn instead of failing.
        let summary = summary_for("LCC", "ben", "north");
        let upsert =
            serde_json::json!({"summary": summary, "allocated_worker": "ben", "team": "north"});
        let url = env.url.clone();
        let put = tokio::spawn(async move {
            reqwest::Client::new()
                .put(format!("{url}/api/v1/cases/case-c"))
                .bearer_auth(token_of("case-system"))
                .json(&upsert)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
        assert_eq!(gate.running.load(Ordering::SeqCst), BOUND);

        gate.release();
        for task in tasks {
            let (bytes, id) = answers("a held push", task).await.unwrap();
            assert!(acked(&bytes, &id));
        }
        assert_eq!(answers("the queued upsert", put).await.unwrap(), 204);
        assert_eq!(
            gate.most.load(Ordering::SeqCst),
            BOUND,
            "never more jobs at once than the bound"
        );
        let ids: Vec<_> = env.export_all().await.into_iter().map(|r| r.meta.id).collect();
        assert!(pushes.iter().all(|(_, id)| ids.contains(id)));
    });
}
