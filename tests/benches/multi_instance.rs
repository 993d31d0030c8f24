//! Several servers on one PostgreSQL: throughput with 1 and with 3 `fieldbook-server` processes
//! (the shipped binary) on one database, and where the serial point is.
//!
//! 1. Devices (each its own worker, case and encrypted store, all in this process: the clients
//!    are a process apart from the servers) edit one record and sync at the same moment, spread
//!    over the instances; syncs per second and p50/p99 latency, beside the same devices syncing
//!    with nothing to exchange (idle syncs), for 1 and for 3 instances.
//! 2. The storage alone: appends of one realistic change by 1, 3 and 12 concurrent writers, each
//!    with its own connection pool (as separate servers have): the writers' lock is the serial
//!    point, so appends per second do not grow with writers.
//!
//! Needs `FIELDBOOK_TEST_POSTGRES_URL` (`scripts/postgres.sh start`) and the `fieldbook-server`
//! binary of the same profile (`cargo build --release --bin fieldbook-server` before
//! `cargo bench -p fieldbook-tests --bench multi_instance`; `FIELDBOOK_SERVER_BIN` names another).
//! Prints Markdown for docs/benchmarks.md. `FIELDBOOK_BENCH_QUICK=1` shrinks every size so CI
//! only checks that it runs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldbook_core::records::{RecordBody, RecordKind};
use fieldbook_core::sync::transport::{
    HttpResponse, HttpTransport, RetryPolicy, Transport, TransportError,
};
use fieldbook_core::sync::SyncClient;
use fieldbook_core::Store;
use fieldbook_server::storage::postgres::PostgresStorage;
use fieldbook_server::storage::{DocInfo, NewChanges, Storage};
use fieldbook_tests::multi_env::{join_all, server_exe, url_with_schema, Instance};
use fieldbook_tests::sync_env::{postgres_url, FixedToken};
use fieldbook_tests::{prose, realistic_visit, summary, visit_body, Scratch};

struct Sizes {
    devices: usize,
    device_records: usize,
    rounds: usize,
    appends: usize,
}

fn sizes() -> Sizes {
    if std::env::var_os("FIELDBOOK_BENCH_QUICK").is_some() {
        Sizes { devices: 6, device_records: 1, rounds: 1, appends: 12 }
    } else {
        Sizes { devices: 60, device_records: 3, rounds: 5, appends: 600 }
    }
}

struct Device {
    store: Store,
    record: String,
    client: SyncClient<Counting>,
    bytes: Arc<AtomicU64>,
}

/// HTTP with the body bytes of both directions counted.
#[derive(Clone)]
struct Counting {
    inner: HttpTransport,
    bytes: Arc<AtomicU64>,
}

impl Transport for Counting {
    async fn post(&self, body: Vec<u8>, token: String) -> Result<HttpResponse, TransportError> {
        self.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        let response = self.inner.post(body, token).await?;
        self.bytes.fetch_add(response.body.len() as u64, Ordering::Relaxed);
        Ok(response)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

struct Run {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

/// Every device syncs at once, `rounds` times (each after `before` ran on it); the figures of
/// all rounds together.
async fn burst(devices: &mut [Device], rounds: usize, before: impl Fn(&mut Device, usize)) -> Run {
    let mut latencies = Vec::new();
    let mut elapsed = Duration::ZERO;
    for round in 0..rounds {
        for d in devices.iter_mut() {
            before(d, round);
        }
        let t = Instant::now();
        let syncs = devices.iter_mut().map(|d| {
            Box::pin(async move {
                let t = Instant::now();
                let report = d.client.sync(&mut d.store).await;
                assert!(report.failure.is_none(), "{:?}", report.failure);
                t.elapsed()
            })
        });
        latencies.extend(join_all(syncs).await);
        elapsed += t.elapsed();
    }
    latencies.sort();
    Run {
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
    }
}

fn edit(d: &mut Device, round: usize) {
    let mut record = d.store.record(&d.record).unwrap();
    if let RecordBody::Visit(v) = &mut record.body {
        v.observations.push_str(&format!(" Follow-up note {round}: the child was settled."));
    }
    d.store.update_record(&d.record, &record.body).unwrap();
}

/// `n` instances on a fresh schema; the devices, spread over them, synced once.
async fn fleet(sz: &Sizes, n: usize, scratch: &Scratch) -> (Vec<Instance>, Vec<Device>) {
    let schema = format!("multi_bench{n}_{}", std::process::id());
    PostgresStorage::connect_with_schema(&postgres_url(), Some(&schema)).await.unwrap();
    let mut tokens: Vec<serde_json::Value> = (0..sz.devices)
        .map(|i| {
            serde_json::json!({"token": format!("tok-w{i}"), "subject": format!("w{i}"),
                               "role": "worker", "team": "north"})
        })
        .collect();
    tokens.push(serde_json::json!({"token": "tok-cms", "subject": "case-system",
                                   "role": "integration", "team": "ops"}));
    let tokens_path = scratch.path(&format!("tokens-{n}.json"));
    std::fs::write(&tokens_path, serde_json::json!({ "tokens": tokens }).to_string()).unwrap();
    let auth = scratch.path(&format!("auth-{n}.json"));
    std::fs::write(
        &auth,
        serde_json::json!({"audience": "fieldbook", "jwt": [], "static_tokens": tokens_path})
            .to_string(),
    )
    .unwrap();
    let exe = server_exe();
    let url = url_with_schema(&postgres_url(), &schema);
    let instances: Vec<Instance> = (0..n).map(|_| Instance::start(&exe, &url, &auth)).collect();
    let http = reqwest::Client::new();
    let mut devices = Vec::new();
    for i in 0..sz.devices {
        let (worker, case) = (format!("w{i}"), format!("case-{i}"));
        let base = instances[i % n].url();
        let mut s = summary(&format!("LC{i}"), &format!("Child {i}"));
        s.allocated_worker = worker.clone();
        s.team = "north".into();
        let status = http
            .put(format!("{base}/api/v1/cases/{case}"))
            .bearer_auth("tok-cms")
            .json(&serde_json::json!({"summary": s, "allocated_worker": worker, "team": "north"}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 204);
        let mut store = scratch.store(&format!("dev{n}-{worker}"), &worker, &format!("tab-{i}"));
        let mut record = String::new();
        for j in 0..sz.device_records {
            record = store.create_record(&case, &visit_body(realistic_visit(i * 10 + j))).unwrap();
        }
        let bytes = Arc::new(AtomicU64::new(0));
        let transport = Counting {
            inner: HttpTransport::new(&base, Duration::from_secs(10), Duration::from_secs(120))
                .unwrap(),
            bytes: bytes.clone(),
        };
        let client = SyncClient::new(
            transport,
            Arc::new(FixedToken(format!("tok-{worker}"))),
            format!("tab-{i}"),
        )
        .with_retry(RetryPolicy {
            attempts: 1,
            base: Duration::from_millis(1),
            max: Duration::from_millis(1),
        })
        .with_max_exchanges(1000);
        let mut d = Device { store, record, client, bytes };
        let report = d.client.sync(&mut d.store).await;
        assert!(report.failure.is_none(), "{:?}", report.failure);
        devices.push(d);
    }
    (instances, devices)
}

async fn instances_benchmark(sz: &Sizes) {
    let scratch = Scratch::new();
    let mut rows = Vec::new();
    let mut idle_costs = Vec::new();
    for n in [1usize, 3] {
        let (instances, mut devices) = fleet(sz, n, &scratch).await;
        let bytes_before: u64 = devices.iter().map(|d| d.bytes.load(Ordering::Relaxed)).sum();
        let cpu_before: Vec<Duration> = instances.iter().filter_map(Instance::cpu_time).collect();
        let idle = burst(&mut devices, sz.rounds, |_, _| {}).await;
        let bytes_after: u64 = devices.iter().map(|d| d.bytes.load(Ordering::Relaxed)).sum();
        let cpu_after: Vec<Duration> = instances.iter().filter_map(Instance::cpu_time).collect();
        let idle_syncs = (devices.len() * sz.rounds) as f64;
        let cpu: Duration =
            cpu_after.iter().sum::<Duration>().saturating_sub(cpu_before.iter().sum());
        idle_costs.push((
            n,
            (bytes_after - bytes_before) as f64 / idle_syncs,
            cpu.as_secs_f64() * 1e3 / idle_syncs,
        ));
        let pushed = burst(&mut devices, sz.rounds, edit).await;
        drop(instances);
        rows.push((n, idle, pushed));
    }
    println!("### {} devices syncing at once, spread over 1 and over 3 instances\n", sz.devices);
    println!("{} rounds each. Every instance is a `fieldbook-server` process on one PostgreSQL schema; the devices run in the benchmark's process. All share the machine's cores.\n", sz.rounds);
    println!("| instances | pushed: syncs/s | p50 | p99 | idle: syncs/s | p50 | p99 | pushed/idle throughput | p99 ratio |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (n, idle, pushed) in &rows {
        println!(
            "| {n} | {:.0} | {:.1} ms | {:.1} ms | {:.0} | {:.1} ms | {:.1} ms | {:.2} | {:.2} |",
            pushed.per_second,
            pushed.p50.as_secs_f64() * 1e3,
            pushed.p99.as_secs_f64() * 1e3,
            idle.per_second,
            idle.p50.as_secs_f64() * 1e3,
            idle.p99.as_secs_f64() * 1e3,
            pushed.per_second / idle.per_second,
            pushed.p99.as_secs_f64() / idle.p99.as_secs_f64(),
        );
    }
    println!("\nIdle syncs (nothing to exchange): request and response bodies (HTTP headers not counted) and the servers' CPU time (user + system, from `/proc`, all instances) per sync.\n");
    println!("| instances | body bytes per idle sync, both ways | server CPU per idle sync |");
    println!("|---:|---:|---:|");
    for (n, bytes, cpu_ms) in &idle_costs {
        println!("| {n} | {bytes:.0} | {cpu_ms:.2} ms |");
    }
    println!();
    let (one, three) = (&rows[0].2, &rows[1].2);
    println!(
        "3 instances / 1 instance, pushed syncs per second: {:.2}\n",
        three.per_second / one.per_second
    );
}

async fn storage_benchmark(sz: &Sizes) {
    let schema = format!("multi_bench_storage_{}", std::process::id());
    let bytes = prose(7, 4000).into_bytes();
    println!("### Appends to one PostgreSQL by concurrent writers\n");
    println!("{} appends of one {}-byte change (one document each), shared by the writers; every writer has its own pool, as separate servers do.\n", sz.appends, bytes.len());
    println!("| writers | appends/s | per append |");
    println!("|---:|---:|---:|");
    let mut base = 0u32;
    for writers in [1usize, 3, 12] {
        let mut pools = Vec::new();
        for _ in 0..writers {
            pools.push(
                PostgresStorage::connect_with_schema(&postgres_url(), Some(&schema)).await.unwrap(),
            );
        }
        let next = Arc::new(AtomicU32::new(base));
        let end = base + sz.appends as u32;
        let t = Instant::now();
        let mut tasks = Vec::new();
        for storage in pools {
            let (next, bytes) = (next.clone(), bytes.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if n >= end {
                        break;
                    }
                    let mut hash = [0u8; 32];
                    hash[..4].copy_from_slice(&n.to_be_bytes());
                    storage
                        .append(vec![NewChanges {
                            doc: DocInfo {
                                id: format!("doc-{n}"),
                                case_id: format!("case-{}", n % 50),
                                kind: RecordKind::Visit,
                            },
                            changes: vec![(fieldbook_core::protocol::Hash(hash), bytes.clone())],
                            heads: None,
                            signatures: Vec::new(),
                        }])
                        .await
                        .unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let elapsed = t.elapsed();
        base = end;
        println!(
            "| {writers} | {:.0} | {:.2} ms |",
            sz.appends as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1e3 / sz.appends as f64
        );
    }
    println!();
}

fn main() {
    let sz = sizes();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        instances_benchmark(&sz).await;
        storage_benchmark(&sz).await;
    });
}
