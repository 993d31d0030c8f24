//! Attachment benchmark (docs/benchmarks.md, "Attachments"), every figure beside a baseline
//! measured in the same run:
//!
//! 1. Device storage of a 5 MB photo: written to and read back from the SQLCipher store
//!    (`Store::attach`, `attachment_bytes`: 256 KiB chunk rows, encrypted page by page, the
//!    record's reference written too), beside a file of AES-256-GCM-sealed 256 KiB chunks
//!    written with fsync and read back (the alternative weighed in docs/decisions.md).
//! 2. Over HTTP on loopback: the photo's upload (status, then 256 KiB chunks, hash verified,
//!    stored in the encrypted server database) and its fetch on a second device (checked and
//!    stored encrypted on it), beside one plain HTTP PUT and one GET of the same bytes to a
//!    server that keeps them in memory.
//!
//! Run: `cargo bench --workspace --features fieldbook-ffi/test-hooks --profile dev --bench
//! attachments` (the dev profile builds dependencies at opt-level 2). `FIELDBOOK_BENCH_QUICK=1`
//! shrinks the photo so CI only checks that it runs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::{Read, Write};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use axum::routing::put;
use chrono::Utc;
use fieldbook_core::attachments::client::AttachmentClient;
use fieldbook_core::records::{RecordBody, Visit, VisitKind};
use fieldbook_tests::sync_env::{token_of, FixedToken, SyncEnv};
use fieldbook_tests::Scratch;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

const CHUNK: usize = 256 * 1024;

fn photo(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9u32;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn mbps(bytes: usize, took: Duration) -> f64 {
    bytes as f64 / 1e6 / took.as_secs_f64()
}

fn sealed_file_round_trip(path: &std::path::Path, bytes: &[u8]) -> (Duration, Duration) {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).unwrap());
    let started = Instant::now();
    let mut file = std::fs::File::create(path).unwrap();
    for (i, chunk) in bytes.chunks(CHUNK).enumerate() {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&(i as u64).to_be_bytes());
        let mut sealed = chunk.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::empty(),
            &mut sealed,
        )
        .unwrap();
        file.write_all(&(sealed.len() as u32).to_be_bytes()).unwrap();
        file.write_all(&sealed).unwrap();
    }
    file.sync_all().unwrap();
    let wrote = started.elapsed();
    let started = Instant::now();
    let mut all = Vec::new();
    std::fs::File::open(path).unwrap().read_to_end(&mut all).unwrap();
    let mut out = Vec::with_capacity(bytes.len());
    let (mut at, mut i) = (0usize, 0u64);
    while at < all.len() {
        let len = u32::from_be_bytes(all[at..at + 4].try_into().unwrap()) as usize;
        let mut sealed = all[at + 4..at + 4 + len].to_vec();
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&i.to_be_bytes());
        let plain = key
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut sealed)
            .unwrap();
        out.extend_from_slice(plain);
        at += 4 + len;
        i += 1;
    }
    let read = started.elapsed();
    assert_eq!(out, bytes);
    (wrote, read)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::var_os("FIELDBOOK_BENCH_QUICK").is_some();
    let size = if quick { 300_000 } else { 5_000_000 };
    let bytes = photo(size);

    // 1. Device storage.
    let scratch = Scratch::new();
    let mut store = scratch.store("bench", "amara", "tablet");
    let id = store
        .create_record("case-a", &RecordBody::Visit(Visit::new(VisitKind::ChildInNeed, Utc::now())))
        .unwrap();
    let started = Instant::now();
    let reference = store.attach(&id, &bytes, "image/jpeg", "", Utc::now()).unwrap();
    let db_write = started.elapsed();
    let started = Instant::now();
    assert_eq!(store.attachment_bytes(&id, &reference.hash).unwrap().unwrap(), bytes);
    let db_read = started.elapsed();
    let (file_write, file_read) = sealed_file_round_trip(&scratch.path("sealed.bin"), &bytes);
    println!("## Attachments: device storage of a {:.1} MB photo\n", size as f64 / 1e6);
    println!("| where | write | read |\n|---|---|---|");
    println!(
        "| SQLCipher chunk rows (chosen) | {:.0} ms ({:.0} MB/s) | {:.0} ms ({:.0} MB/s) |",
        db_write.as_secs_f64() * 1e3,
        mbps(size, db_write),
        db_read.as_secs_f64() * 1e3,
        mbps(size, db_read)
    );
    println!(
        "| AES-256-GCM file, fsync | {:.0} ms ({:.0} MB/s) | {:.0} ms ({:.0} MB/s) |\n",
        file_write.as_secs_f64() * 1e3,
        mbps(size, file_write),
        file_read.as_secs_f64() * 1e3,
        mbps(size, file_read)
    );

    // 2. Over HTTP.
    let env = SyncEnv::start().await;
    env.upsert_case("case-a", "LA1", "amara", "north").await;
    let tablet = |worker: &str, device: &str| {
        let d = env.device(worker, device);
        let client = AttachmentClient::new(
            &env.url,
            Arc::new(FixedToken(token_of(worker))),
            Duration::from_secs(5),
            Duration::from_secs(60),
        )
        .unwrap();
        (tokio::sync::Mutex::new(d.store), d.client, client)
    };
    let (a_store, a_sync, a_client) = tablet("amara", "tablet");
    a_sync.sync_shared(&a_store).await;
    let id = {
        let mut s = a_store.lock().await;
        let id = s
            .create_record(
                "case-a",
                &RecordBody::Visit(Visit::new(VisitKind::ChildInNeed, Utc::now())),
            )
            .unwrap();
        s.attach(&id, &bytes, "image/jpeg", "", Utc::now()).unwrap();
        id
    };
    a_sync.sync_shared(&a_store).await;
    let started = Instant::now();
    let report = a_client.upload_pending(&a_store).await;
    let upload = started.elapsed();
    assert_eq!(report.uploaded.len(), 1, "{:?}", report.failed);
    let (b_store, b_sync, b_client) = tablet("mina", "tablet");
    b_sync.sync_shared(&b_store).await;
    let started = Instant::now();
    let got = b_client.open(&b_store, &id, &reference.hash).await.unwrap();
    let download = started.elapsed();
    assert_eq!(got, bytes);

    // The baseline: one plain PUT and one GET of the same bytes, kept in memory.
    let held: Arc<StdMutex<Vec<u8>>> = Arc::default();
    let (put_held, get_held) = (held.clone(), held.clone());
    let app = axum::Router::new().route(
        "/blob",
        put(move |body: axum::body::Bytes| async move {
            *put_held.lock().unwrap() = body.to_vec();
        })
        .get(move || async move { get_held.lock().unwrap().clone() })
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();
    let started = Instant::now();
    let status = http.put(format!("http://{addr}/blob")).body(bytes.clone()).send().await.unwrap();
    assert!(status.status().is_success());
    let plain_put = started.elapsed();
    let started = Instant::now();
    let back = http.get(format!("http://{addr}/blob")).send().await.unwrap().bytes().await.unwrap();
    let plain_get = started.elapsed();
    assert_eq!(back.len(), size);

    println!("## Attachments over HTTP on loopback ({:.1} MB photo)\n", size as f64 / 1e6);
    println!("| transfer | Fieldbook | plain HTTP | ratio |\n|---|---|---|---|");
    println!(
        "| upload | {:.0} ms ({:.0} MB/s, {} chunks) | {:.0} ms ({:.0} MB/s, one PUT) | {:.1}x |",
        upload.as_secs_f64() * 1e3,
        mbps(size, upload),
        size.div_ceil(CHUNK),
        plain_put.as_secs_f64() * 1e3,
        mbps(size, plain_put),
        upload.as_secs_f64() / plain_put.as_secs_f64()
    );
    println!(
        "| download (open on a second device) | {:.0} ms ({:.0} MB/s) | {:.0} ms ({:.0} MB/s, one GET) | {:.1}x |",
        download.as_secs_f64() * 1e3,
        mbps(size, download),
        plain_get.as_secs_f64() * 1e3,
        mbps(size, plain_get),
        download.as_secs_f64() / plain_get.as_secs_f64()
    );
}
