//! Sync benchmark, both halves reported as ratios against a baseline measured in the same run.
//!
//! 1. A device holding 2,000 records syncs 100 changed records with a real server on loopback:
//!    requests, bytes on the wire (request and response bodies) and time, beside automerge's own
//!    per-document sync protocol carrying the same changes for the same 100 documents (sync
//!    states kept from an earlier sync, its best case).
//! 2. Server throughput: 200 simulated devices, each with its own encrypted store and worker,
//!    edit a record and sync at the same time; syncs per second and p50/p99 latency, beside the
//!    same devices syncing with nothing to exchange (idle syncs).
//!
//! Run: `cargo bench -p fieldbook-tests --bench sync` (prints Markdown for docs/benchmarks.md).
//! `FIELDBOOK_BENCH_QUICK=1` shrinks every size so CI only checks that it runs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::print_stderr)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::sync::{Message, State as AmSyncState, SyncDoc};
use automerge::{AutoCommit, ChangeHash};
use fieldbook_core::records::RecordBody;
use fieldbook_core::sync::transport::{HttpResponse, HttpTransport, Transport, TransportError};
use fieldbook_core::sync::SyncClient;
use fieldbook_core::Store;
use fieldbook_server::hub::documents_loaded;
use fieldbook_server::serve::{app_state, open_storage, Backend, RunningServer};
use fieldbook_server::storage::postgres::PostgresStorage;
use fieldbook_server::storage::{sqlite::SqliteStorage, Storage};
use fieldbook_tests::sync_env::FixedToken;
use fieldbook_tests::{realistic_visit, summary, visit_body, Scratch};

struct Sizes {
    records: usize,
    changed: usize,
    repeats: usize,
    devices: usize,
    device_records: usize,
    rounds: usize,
}

fn sizes() -> Sizes {
    if std::env::var_os("FIELDBOOK_BENCH_QUICK").is_some() {
        Sizes { records: 60, changed: 10, repeats: 1, devices: 8, device_records: 2, rounds: 1 }
    } else {
        Sizes {
            records: 2000,
            changed: 100,
            repeats: 5,
            devices: 200,
            device_records: 5,
            rounds: 5,
        }
    }
}

/// HTTP with every request and body byte counted.
#[derive(Clone)]
struct Counting {
    inner: HttpTransport,
    requests: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl Transport for Counting {
    async fn post(&self, body: Vec<u8>, token: String) -> Result<HttpResponse, TransportError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        let response = self.inner.post(body, token).await?;
        self.bytes.fetch_add(response.body.len() as u64, Ordering::Relaxed);
        Ok(response)
    }
}

struct Device {
    store: Store,
    /// The case this device's worker holds (throughput benchmark).
    case: String,
    client: SyncClient<Counting>,
    requests: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl Device {
    fn counters(&self) -> (u64, u64) {
        (self.requests.load(Ordering::Relaxed), self.bytes.load(Ordering::Relaxed))
    }
}

struct Server {
    _server: RunningServer,
    url: String,
    http: reqwest::Client,
    scratch: Scratch,
}

/// Which storage the benchmark's server runs on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Backing {
    Sqlite,
    /// The cluster named by `FIELDBOOK_TEST_POSTGRES_URL`, in a schema of its own.
    Postgres,
}

impl Backing {
    fn name(self) -> &'static str {
        match self {
            Backing::Sqlite => "SQLite",
            Backing::Postgres => "PostgreSQL",
        }
    }
}

/// The backends to measure: SQLite always, PostgreSQL when a cluster is given.
fn backends() -> Vec<Backing> {
    let mut out = vec![Backing::Sqlite];
    if std::env::var_os("FIELDBOOK_TEST_POSTGRES_URL").is_some() {
        out.push(Backing::Postgres);
    }
    out
}

impl Server {
    /// A server on the embedded SQLite backend with static tokens `tok-w{i}` for workers
    /// `w{i}` and `tok-cms` for the case system.
    async fn start(workers: usize) -> Self {
        Self::start_on(workers, Backing::Sqlite).await
    }

    async fn start_on(workers: usize, backend: Backing) -> Self {
        Self::start_with(workers, backend, false).await
    }

    /// `start_on`; with `own_threads`, the server (its storage, HTTP and pool) runs on a runtime
    /// of its own (`server_runtime`), as a separate process would, so that a device's blocking
    /// store work (a durable commit) never holds a thread the server's requests need.
    async fn start_with(workers: usize, backend: Backing, own_threads: bool) -> Self {
        let scratch = Scratch::new();
        let mut tokens: Vec<serde_json::Value> = (0..workers)
            .map(|i| {
                serde_json::json!({"token": format!("tok-w{i}"), "subject": format!("w{i}"),
                                   "role": "worker", "team": "north"})
            })
            .collect();
        tokens.push(serde_json::json!({"token": "tok-cms", "subject": "case-system",
                                       "role": "integration", "team": "ops"}));
        let path = scratch.path("tokens.json");
        std::fs::write(&path, serde_json::json!({ "tokens": tokens }).to_string()).unwrap();
        let auth = serde_json::from_value(serde_json::json!({
            "audience": "fieldbook", "jwt": [], "static_tokens": path
        }))
        .unwrap();
        // Encrypted with a key file, as the binaries open it; FIELDBOOK_BENCH_SERVER_PLAINTEXT=1
        // measures the same server without SQLCipher (docs/benchmarks.md).
        let db = scratch.path("server.db");
        let start = async move {
            let storage: Arc<dyn Storage> = if backend == Backing::Postgres {
                let url = std::env::var("FIELDBOOK_TEST_POSTGRES_URL").unwrap();
                let schema = format!("bench_sync_{}_{workers}", std::process::id());
                Arc::new(PostgresStorage::connect_with_schema(&url, Some(&schema)).await.unwrap())
            } else if std::env::var_os("FIELDBOOK_BENCH_SERVER_PLAINTEXT").is_some() {
                Arc::new(SqliteStorage::open(&db, None).unwrap())
            } else {
                open_storage(&Backend::sqlite(db)).await.unwrap()
            };
            RunningServer::start("127.0.0.1:0".parse().unwrap(), app_state(storage, &auth).unwrap())
                .await
                .unwrap()
        };
        let server =
            if own_threads { server_runtime().spawn(start).await.unwrap() } else { start.await };
        let url = server.url();
        Self { _server: server, url, http: reqwest::Client::new(), scratch }
    }

    async fn allocate(&self, case_id: &str, worker: &str) {
        let local_id = case_id.replace('-', "").to_uppercase();
        let mut s = summary(&local_id, &format!("Child {local_id}"));
        s.allocated_worker = worker.into();
        s.team = "north".into();
        let status = self
            .http
            .put(format!("{}/api/v1/cases/{case_id}", self.url))
            .bearer_auth("tok-cms")
            .json(&serde_json::json!({"summary": s, "allocated_worker": worker, "team": "north"}))
            .send()
            .await
            .unwrap();
        assert_eq!(status.status().as_u16(), 204, "{}", status.text().await.unwrap());
    }

    fn device(&self, worker: &str) -> Device {
        self.device_as(worker, &format!("tab-{worker}"))
    }

    /// Another tablet `tab` of `worker`, with its own store.
    fn device_as(&self, worker: &str, tab: &str) -> Device {
        let tab = tab.to_string();
        let store = self.scratch.store(&format!("dev-{tab}"), worker, &tab);
        let requests = Arc::new(AtomicU64::new(0));
        let bytes = Arc::new(AtomicU64::new(0));
        let transport = Counting {
            // Long: the profile runs this under valgrind (docs/benchmarks.md).
            inner: HttpTransport::new(&self.url, Duration::from_secs(60), Duration::from_secs(900))
                .unwrap(),
            requests: requests.clone(),
            bytes: bytes.clone(),
        };
        let client = SyncClient::new(transport, Arc::new(FixedToken(format!("tok-{worker}"))), tab)
            .with_max_exchanges(1000);
        Device { store, case: String::new(), client, requests, bytes }
    }
}

/// The runtime of a server started with its own threads: two workers, as many as the machine
/// has cores, kept for the whole run (a runtime may not be dropped inside another).
fn server_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("bench-server")
            .enable_all()
            .build()
            .unwrap()
    })
}

/// Appends a sentence to a visit's observations: a small edit of a large record.
fn edit(store: &mut Store, id: &str, n: usize) {
    let mut record = store.record(id).unwrap();
    if let RecordBody::Visit(v) = &mut record.body {
        v.observations.push_str(&format!(" Follow-up note {n}: the child was settled."));
    }
    store.update_record(id, &record.body).unwrap();
}

fn load(bytes: &[u8]) -> AutoCommit {
    let mut doc = AutoCommit::new();
    doc.load_incremental(bytes).unwrap();
    doc
}

/// Runs automerge's sync protocol between a device's copy and the server's copy until neither
/// has anything to send. Returns (device-to-server messages, i.e. requests; bytes both ways).
fn automerge_sync(
    device: &mut AutoCommit,
    device_state: &mut AmSyncState,
    server: &mut AutoCommit,
    server_state: &mut AmSyncState,
) -> (u64, u64) {
    let (mut requests, mut bytes) = (0, 0);
    loop {
        let up = device.sync().generate_sync_message(device_state);
        if let Some(m) = &up {
            let encoded = m.clone().encode();
            bytes += encoded.len() as u64;
            requests += 1;
            server
                .sync()
                .receive_sync_message(server_state, Message::decode(&encoded).unwrap())
                .unwrap();
        }
        let down = server.sync().generate_sync_message(server_state);
        if let Some(m) = &down {
            let encoded = m.clone().encode();
            bytes += encoded.len() as u64;
            device
                .sync()
                .receive_sync_message(device_state, Message::decode(&encoded).unwrap())
                .unwrap();
        }
        if up.is_none() && down.is_none() {
            return (requests, bytes);
        }
    }
}

struct AmPair {
    device: AutoCommit,
    device_state: AmSyncState,
    server: AutoCommit,
    server_state: AmSyncState,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn device_sync_benchmark(sz: &Sizes) {
    let server = Server::start(1).await;
    server.allocate("case-1", "w0").await;
    let mut dev = server.device("w0");
    let mut ids = Vec::with_capacity(sz.records);
    for i in 0..sz.records {
        ids.push(dev.store.create_record("case-1", &visit_body(realistic_visit(i))).unwrap());
    }
    let initial = dev.client.sync(&mut dev.store).await;
    assert!(initial.failure.is_none() && !initial.more, "{initial:?}");
    assert_eq!(dev.store.pending_count().unwrap(), 0);

    // The automerge baseline: for each document that will change, a device copy and a server
    // copy that have already synced once, so their sync states know each other's heads.
    let changed: Vec<String> =
        ids.iter().step_by(sz.records / sz.changed).take(sz.changed).cloned().collect();
    let mut pairs = Vec::new();
    for id in &changed {
        let all = dev.store.changes_since(id, &[]).unwrap().changes;
        let mut pair = AmPair {
            device: load(&all),
            device_state: AmSyncState::new(),
            server: load(&all),
            server_state: AmSyncState::new(),
        };
        automerge_sync(
            &mut pair.device,
            &mut pair.device_state,
            &mut pair.server,
            &mut pair.server_state,
        );
        pairs.push(pair);
    }

    let (mut fb_req, mut fb_bytes, mut fb_ms) = (Vec::new(), Vec::new(), Vec::new());
    let (mut am_req, mut am_bytes, mut am_ms) = (Vec::new(), Vec::new(), Vec::new());
    let mut loads = Vec::new();
    for rep in 0..sz.repeats {
        let before_heads: Vec<Vec<ChangeHash>> =
            changed.iter().map(|id| dev.store.heads(id).unwrap()).collect();
        for id in &changed {
            edit(&mut dev.store, id, rep);
        }
        // Fieldbook: one sync() of the device.
        let (r0, b0) = dev.counters();
        let (server_loads, device_loads) = (documents_loaded(), dev.store.documents_loaded());
        let t = Instant::now();
        let report = dev.client.sync(&mut dev.store).await;
        fb_ms.push(t.elapsed().as_secs_f64() * 1e3);
        loads
            .push((documents_loaded() - server_loads, dev.store.documents_loaded() - device_loads));
        assert!(report.failure.is_none(), "{report:?}");
        assert_eq!(report.acknowledged, sz.changed);
        let (r1, b1) = dev.counters();
        fb_req.push((r1 - r0) as f64);
        fb_bytes.push((b1 - b0) as f64);

        // Automerge: the same new changes reach each device copy, then its protocol runs per
        // document (in memory: no HTTP, no persistence, so its time is a lower bound).
        let mut news = Vec::new();
        for (id, heads) in changed.iter().zip(&before_heads) {
            news.push(dev.store.changes_since(id, heads).unwrap().changes);
        }
        for (pair, new) in pairs.iter_mut().zip(&news) {
            pair.device.load_incremental(new).unwrap();
        }
        let (mut requests, mut bytes) = (0, 0);
        let t = Instant::now();
        for pair in pairs.iter_mut() {
            let (r, b) = automerge_sync(
                &mut pair.device,
                &mut pair.device_state,
                &mut pair.server,
                &mut pair.server_state,
            );
            requests += r;
            bytes += b;
        }
        am_ms.push(t.elapsed().as_secs_f64() * 1e3);
        am_req.push(requests as f64);
        am_bytes.push(bytes as f64);
        for pair in pairs.iter_mut() {
            assert_eq!(pair.device.get_heads(), pair.server.get_heads(), "automerge converged");
        }
    }
    let (fr, fbb, fm) = (median(fb_req), median(fb_bytes), median(fb_ms));
    let (ar, ab, am) = (median(am_req), median(am_bytes), median(am_ms));
    println!("### A device with {} records syncs {} changed records\n", sz.records, sz.changed);
    println!("Median of {} runs. Fieldbook: one `sync()` over HTTP on loopback to a real server (SQLite), including the device's and the server's commits. Automerge: its sync protocol per document, in memory (no HTTP, no storage).\n", sz.repeats);
    println!("| | Fieldbook | automerge sync protocol | ratio |");
    println!("|---|---:|---:|---:|");
    println!("| requests (round trips) | {fr:.0} | {ar:.0} | {:.3} |", fr / ar);
    println!("| bytes on the wire (bodies, both ways) | {fbb:.0} | {ab:.0} | {:.2} |", fbb / ab);
    println!("| time | {fm:.1} ms | {am:.1} ms | {:.2} |", fm / am);
    println!();
    println!(
        "Documents loaded from storage per sync (server, device), each run: {loads:?} \
         (the first run's server loads are its cold cache)."
    );
    println!();
    caseload_download_benchmark(sz, &server, &mut dev.store, &ids).await;
    // Last: the unsigned changes it pushes would be refused by any device that pulled them.
    signing_cost(sz, &mut dev, &changed, fm, fbb).await;
}

/// What signing costs the push of the changed records (issue #16): the same edits and sync,
/// now with the device not signing and the server not checking (the benchmark-only switches of
/// the `test-hooks` features), beside the signed runs above (`signed_ms`, `signed_bytes`).
async fn signing_cost(
    sz: &Sizes,
    dev: &mut Device,
    changed: &[String],
    signed_ms: f64,
    signed_bytes: f64,
) {
    dev.store.sign_changes_for_bench(false);
    fieldbook_server::hub::bench::skip_signature_checks_for_bench(true);
    let (mut ms, mut bytes) = (Vec::new(), Vec::new());
    for rep in 0..sz.repeats {
        for id in changed {
            edit(&mut dev.store, id, 1000 + rep);
        }
        let (_, b0) = dev.counters();
        let t = Instant::now();
        let report = dev.client.sync(&mut dev.store).await;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(report.failure.is_none() && report.rejected.is_empty(), "{report:?}");
        assert_eq!(report.acknowledged, sz.changed);
        bytes.push((dev.counters().1 - b0) as f64);
    }
    dev.store.sign_changes_for_bench(true);
    fieldbook_server::hub::bench::skip_signature_checks_for_bench(false);
    let (um, ub) = (median(ms), median(bytes));
    println!("### What signing costs the push of {} changed records\n", sz.changed);
    println!("Median of {} runs each, same device and server: signed (the product: the device signs, the server checks every signature and stores it) and unsigned (the benchmark-only switches).\n", sz.repeats);
    println!("| | signed | unsigned | ratio |");
    println!("|---|---:|---:|---:|");
    println!("| time | {signed_ms:.1} ms | {um:.1} ms | {:.2} |", signed_ms / um);
    println!("| bytes on the wire | {signed_bytes:.0} | {ub:.0} | {:.2} |", signed_bytes / ub);
    println!();
}

/// Plain JSON rows: what a new device would download without Fieldbook's protocol.
async fn json_rows_server(
    rows: Arc<Vec<serde_json::Value>>,
) -> (String, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().route(
        "/rows",
        axum::routing::get(move || {
            let rows = rows.clone();
            async move { axum::Json(rows.as_ref().clone()) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (url, tokio::spawn(async move { axum::serve(listener, app).await.unwrap() }))
}

/// The JSON baseline's client: GET the rows, insert them into an encrypted database opened with
/// the store's PRAGMAs (SQLCipher raw key, WAL, `synchronous = FULL`), one transaction.
async fn download_json_rows(http: &reqwest::Client, url: &str, db: &std::path::Path) -> usize {
    let rows: Vec<serde_json::Value> =
        http.get(format!("{url}/rows")).send().await.unwrap().json().await.unwrap();
    let db = db.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", "42".repeat(32))).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
             PRAGMA secure_delete = ON; PRAGMA temp_store = MEMORY;
             CREATE TABLE IF NOT EXISTS rows (id TEXT PRIMARY KEY, case_id TEXT NOT NULL,
                                              json TEXT NOT NULL);",
        )
        .unwrap();
        let tx = conn.transaction().unwrap();
        for row in &rows {
            tx.execute(
                "INSERT OR REPLACE INTO rows (id, case_id, json) VALUES (?1, ?2, ?3)",
                rusqlite::params![
                    row["meta"]["id"].as_str().unwrap(),
                    row["meta"]["case_id"].as_str().unwrap(),
                    row.to_string()
                ],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        rows.len()
    })
    .await
    .unwrap()
}

/// A new tablet of the same worker downloads the caseload the first device built (every record
/// of the benchmark's case), beside the same records downloaded as plain JSON rows over the same
/// loopback HTTP into an encrypted database with the same durability, interleaved, same run.
async fn caseload_download_benchmark(sz: &Sizes, server: &Server, dev: &mut Store, ids: &[String]) {
    // The first tablet's records, as the JSON rows a plain app would serve.
    let rows: Vec<serde_json::Value> =
        ids.iter().map(|id| serde_json::to_value(dev.record(id).unwrap()).unwrap()).collect();
    let (json_url, json_server) = json_rows_server(Arc::new(rows)).await;
    let (mut fb_ms, mut json_ms) = (Vec::new(), Vec::new());
    let (mut listed_loads, mut received_loads) = (Vec::new(), Vec::new());
    for rep in 0..sz.repeats {
        // A second tablet of the same worker, with an empty store.
        let mut fresh = server.device_as("w0", &format!("tab-w0-new{rep}"));
        let t = Instant::now();
        let report = fresh.client.sync(&mut fresh.store).await;
        fb_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(report.failure.is_none(), "{report:?}");
        let loads = fresh.store.documents_loaded();
        received_loads.push(loads);
        assert_eq!(fresh.store.case_records("case-1").unwrap().len(), ids.len());
        listed_loads.push(fresh.store.documents_loaded() - loads);

        let db = server.scratch.path(&format!("json-rows-{rep}.db"));
        let t = Instant::now();
        let n = download_json_rows(&server.http, &json_url, &db).await;
        json_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(n, ids.len());
    }
    json_server.abort();
    let (fm, jm) = (median(fb_ms), median(json_ms));
    println!("### A new tablet downloads a caseload of {} records\n", ids.len());
    println!("Median of {} runs, interleaved. Fieldbook: the new tablet's first `sync()` (every exchange until the feed is done), committed to its encrypted store. Baseline: the same records as JSON rows from an axum route over the same loopback HTTP, inserted into a SQLCipher database with the store's PRAGMAs in one transaction.\n", sz.repeats);
    println!("| | Fieldbook | JSON rows | ratio |");
    println!("|---|---:|---:|---:|");
    println!("| time | {fm:.1} ms | {jm:.1} ms | {:.2} |", fm / jm);
    println!();
    println!("Documents loaded into Automerge by the download, each run: {received_loads:?}; then to list the caseload: {listed_loads:?}.\n");
}

/// CPU time (user + system) this process has used, from `/proc/self/stat` (clock ticks).
/// With `FIELDBOOK_BENCH_MARKS` set, prints on stderr when a timed round starts or ends, in
/// seconds since boot (`/proc/uptime`): a profile recorded with `perf record -k
/// CLOCK_MONOTONIC` is cut at these times (docs/benchmarks.md).
fn mark(what: &str, round: usize) {
    if std::env::var_os("FIELDBOOK_BENCH_MARKS").is_some() {
        let uptime = std::fs::read_to_string("/proc/uptime").unwrap_or_default();
        let at = uptime.split_whitespace().next().unwrap_or("?");
        eprintln!("mark {what} {round} {at}");
    }
}

/// CPU ticks of each thread named `bench-server` (the workers and blocking threads of
/// `server_runtime`) or `fieldbook-sqlite` (the embedded backend's connection), by thread id: the server's share of `process_cpu` when it runs on threads
/// of its own. Compared thread by thread (`server_cpu_since`), so a blocking thread that exits
/// (after 10 s idle) takes only what it did since, not its whole history, out of the sum.
fn server_threads() -> std::collections::HashMap<String, u64> {
    let mut out = std::collections::HashMap::new();
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        // The embedded backend's connection thread (`fieldbook-sqlite`) is the server's too.
        if head.ends_with("(bench-server") || head.ends_with("(fieldbook-sqlit") {
            out.insert(task.file_name().to_string_lossy().into_owned(), stat_ticks(rest));
        }
    }
    out
}

/// The server threads' CPU since `before` (`server_threads`).
fn server_cpu_since(before: &std::collections::HashMap<String, u64>) -> Duration {
    let ticks: u64 = server_threads()
        .iter()
        .map(|(tid, now)| now.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum();
    Duration::from_millis(ticks * 10)
}

/// utime + stime (fields 14 and 15) of a `stat` line, given what follows the command name.
fn stat_ticks(rest: &str) -> u64 {
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    field(14) + field(15)
}

fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    Duration::from_millis(stat_ticks(rest) * 10)
}

async fn throughput_benchmark(sz: &Sizes, backend: Backing) {
    let server = Server::start_with(sz.devices, backend, true).await;
    let mut devices = Vec::with_capacity(sz.devices);
    for i in 0..sz.devices {
        let worker = format!("w{i}");
        server.allocate(&format!("case-{i}"), &worker).await;
        let mut d = server.device(&worker);
        d.case = format!("case-{i}");
        for j in 0..sz.device_records {
            d.store
                .create_record(&format!("case-{i}"), &visit_body(realistic_visit(i * 10 + j)))
                .unwrap();
        }
        let report = d.client.sync(&mut d.store).await;
        assert!(report.failure.is_none(), "{report:?}");
        devices.push(d);
    }

    // Every device syncs at once, `rounds` times; `with_edit` makes each push one edited record.
    async fn rounds(
        devices: Vec<Device>,
        rounds: usize,
        with_edit: bool,
    ) -> (Vec<Device>, Vec<Duration>, Duration, (Duration, Duration)) {
        let mut devices = devices;
        let mut latencies = Vec::new();
        let mut wall = Duration::ZERO;
        let (mut cpu, mut server) = (Duration::ZERO, Duration::ZERO);
        for round in 0..rounds {
            // Every device edits first, then all sync at once: the round times the syncs, not
            // the edits (the autosave benchmark times those), which would otherwise run on the
            // same two threads as the other devices' syncs.
            if with_edit {
                for d in &mut devices {
                    let id = d.store.case_records(&d.case).unwrap()[0].id.clone();
                    edit(&mut d.store, &id, round);
                }
            }
            mark(if with_edit { "pushes" } else { "idle" }, round);
            let (start, cpu_before, server_before) =
                (Instant::now(), process_cpu(), server_threads());
            let tasks: Vec<_> = devices
                .into_iter()
                .map(|mut d| {
                    tokio::spawn(async move {
                        let t = Instant::now();
                        let report = d.client.sync(&mut d.store).await;
                        assert!(report.failure.is_none(), "{report:?}");
                        (d, t.elapsed())
                    })
                })
                .collect();
            let mut back = Vec::with_capacity(tasks.len());
            for t in tasks {
                let (d, latency) = t.await.unwrap();
                latencies.push(latency);
                back.push(d);
            }
            wall += start.elapsed();
            cpu += process_cpu() - cpu_before;
            server += server_cpu_since(&server_before);
            mark("end", round);
            devices = back;
        }
        latencies.sort();
        (devices, latencies, wall, (cpu, server))
    }
    let bytes_of = |devices: &[Device]| devices.iter().map(|d| d.counters().1).sum::<u64>();
    let loads_of = |devices: &[Device]| {
        devices.iter().map(|d| d.store.documents_loaded()).sum::<u64>() + documents_loaded()
    };
    let (idle_bytes, idle_loads) = (bytes_of(&devices), loads_of(&devices));
    let (devices, idle, idle_wall, (idle_cpu, idle_server)) =
        rounds(devices, sz.rounds, false).await;
    let idle_bytes = (bytes_of(&devices) - idle_bytes) as f64 / idle.len() as f64;
    let idle_loads = loads_of(&devices) - idle_loads;
    let busy_loads = documents_loaded();
    let (_devices, busy, busy_wall, (busy_cpu, busy_server)) =
        rounds(devices, sz.rounds, true).await;
    let busy_loads = documents_loaded() - busy_loads;
    let rate = |lat: &[Duration], wall: Duration| lat.len() as f64 / wall.as_secs_f64();
    let per_sync = |cpu: Duration, n: usize| cpu.as_secs_f64() * 1e3 / n as f64;
    let (busy_rate, idle_rate) = (rate(&busy, busy_wall), rate(&idle, idle_wall));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("### {} devices syncing concurrently ({})\n", sz.devices, backend.name());
    println!("{} rounds in which every device syncs at once (each pushing the record it edited before the round began); clients and server share the machine's 2 cores, the server on threads of its own. Baseline: the same devices syncing with nothing to exchange.\n", sz.rounds);
    println!("| | one edited record pushed | idle sync (baseline) | ratio |");
    println!("|---|---:|---:|---:|");
    println!(
        "| syncs per second | {busy_rate:.0} | {idle_rate:.0} | {:.2} |",
        busy_rate / idle_rate
    );
    let (bp50, ip50) = (ms(percentile(&busy, 0.5)), ms(percentile(&idle, 0.5)));
    let (bp99, ip99) = (ms(percentile(&busy, 0.99)), ms(percentile(&idle, 0.99)));
    println!("| p50 latency | {bp50:.1} ms | {ip50:.1} ms | {:.2} |", bp50 / ip50);
    println!("| p99 latency | {bp99:.1} ms | {ip99:.1} ms | {:.2} |", bp99 / ip99);
    println!();
    println!(
        "Idle syncs: {idle_bytes:.0} bytes of bodies per sync (both ways), {idle_loads} documents \
         loaded in all ({} syncs, server and devices), CPU per idle sync {:.2} ms (clients and \
         server; the server's threads {:.2} ms). Pushes: {busy_loads} documents loaded by the \
         server for {} pushed, CPU per pushed sync {:.2} ms (the server's threads {:.2} ms).",
        idle.len(),
        per_sync(idle_cpu, idle.len()),
        per_sync(idle_server, idle.len()),
        busy.len(),
        per_sync(busy_cpu, busy.len()),
        per_sync(busy_server, busy.len()),
    );
    println!();
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken from the command line.
    let sz = sizes();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        // FIELDBOOK_BENCH_ONLY=device: the one-device part alone (what the profile runs);
        // FIELDBOOK_BENCH_ONLY=devices: the many-device part alone.
        let only = std::env::var("FIELDBOOK_BENCH_ONLY").unwrap_or_default();
        if only != "devices" {
            device_sync_benchmark(&sz).await;
        }
        if only != "device" {
            for backend in backends() {
                throughput_benchmark(&sz, backend).await;
            }
        }
    });
}
