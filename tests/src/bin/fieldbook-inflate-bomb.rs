//! Measures what the chunk of issue #10 costs a server: a compressed Automerge change chunk of
//! about 1 MB that inflates to 1 GiB, pushed over loopback HTTP to a server in this process.
//! Prints the answer, the time and the process's peak memory (`VmHWM`) before and after; run
//! under `/usr/bin/time -v` for the outside view (docs/reliability.md, "Hostile device").
//!
//! `cargo run --release -p fieldbook-tests --bin fieldbook-inflate-bomb`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Instant;

use fieldbook_core::protocol::{decode, encode, limits, PushDoc, SyncRequest, SyncResponse};
use fieldbook_core::records::{new_id, RecordKind};
use fieldbook_tests::deflate_bomb::{compressed_change_chunk, peak_rss_kib};
use fieldbook_tests::sync_env::{token_of, SyncEnv};
use reqwest::Method;

fn request(changes: Vec<u8>) -> Vec<u8> {
    encode(&SyncRequest {
        version: fieldbook_core::protocol::PROTOCOL_VERSION,
        device: "bomb".into(),
        cursor: 0,
        cursor_tag: 0,
        push: vec![PushDoc {
            id: new_id(),
            kind: RecordKind::Visit,
            case_id: "case-a".into(),
            heads: vec![],
            changes,
            signatures: Vec::new(),
            listing: None,
        }],
        check: vec![],
        response_budget: 1 << 20,
        device_key: None,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let env = SyncEnv::start().await;
    env.upsert_case("case-a", "LCA", "amara", "north").await;
    let bomb = compressed_change_chunk(1024);
    println!("chunk: {} bytes on the wire, inflating to {} bytes", bomb.len(), 1u64 << 30);
    let body = request(bomb.clone());
    let before = peak_rss_kib();
    let started = Instant::now();
    let (status, bytes) =
        env.call(Method::POST, "/v1/sync", Some(&token_of("amara")), Some(body)).await;
    let elapsed = started.elapsed();
    let response: SyncResponse = decode(&bytes, limits::MAX_RESPONSE_BYTES).unwrap();
    let reasons: Vec<_> = response.rejected.iter().map(|r| r.reason).collect();
    println!(
        "one push: HTTP {status}, rejected {reasons:?}, {:.3} s, peak RSS {} MiB before, {} MiB after",
        elapsed.as_secs_f64(),
        before / 1024,
        peak_rss_kib() / 1024
    );

    // Two at once, and /health asked while they are handled.
    let token = token_of("amara");
    let started = Instant::now();
    let (a, b, health) = tokio::join!(
        env.call(Method::POST, "/v1/sync", Some(&token), Some(request(bomb.clone()))),
        env.call(Method::POST, "/v1/sync", Some(&token), Some(request(bomb.clone()))),
        async {
            tokio::task::yield_now().await;
            let t = Instant::now();
            let (status, _) = env.call(Method::GET, "/health", None, None).await;
            (status, t.elapsed())
        }
    );
    println!(
        "two pushes at once: HTTP {} and {}, {:.3} s; /health during them: HTTP {} in {:.3} s; peak RSS {} MiB",
        a.0,
        b.0,
        started.elapsed().as_secs_f64(),
        health.0,
        health.1.as_secs_f64(),
        peak_rss_kib() / 1024
    );
}
