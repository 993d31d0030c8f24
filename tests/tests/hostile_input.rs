//! Hostile input at the server: changes forged under another worker's name, deeply nested
//! bodies, and a bounded fuzz of random and mutated sync bodies. The server answers each with a
//! 4xx (or a refusal inside a 200), never a 5xx, and stays healthy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fieldbook_core::protocol::{
    decode, encode, PushDoc, RejectReason, SyncRequest, SyncResponse, PROTOCOL_VERSION,
};
use fieldbook_tests::sync_env::{token_of, SyncEnv};
use fieldbook_tests::{open_at, realistic_visit, visit_body};
use proptest::prelude::*;
use reqwest::Method;

fn sync_request(push: Vec<PushDoc>) -> SyncRequest {
    SyncRequest {
        version: PROTOCOL_VERSION,
        device: "hostile".into(),
        cursor: 0,
        cursor_tag: 0,
        push,
        check: vec![],
        response_budget: 1 << 20,
        device_key: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_authored_by_another_worker_are_refused() {
    let env = SyncEnv::start().await;
    env.upsert_case("case-a", "LCA", "amara", "north").await;
    // A store that signs its changes as ben, pushed with amara's token into amara's case.
    let mut forged = open_at(&env.scratch.path("forged.db"), "ben", "tablet-b");
    let id = forged.create_record("case-a", &visit_body(realistic_visit(1))).unwrap();
    let changes = forged.changes_since(&id, &[]).unwrap();
    let push = PushDoc {
        id: id.clone(),
        kind: changes.kind,
        case_id: "case-a".into(),
        heads: fieldbook_core::protocol::to_hashes(&forged.heads(&id).unwrap()),
        changes: changes.changes,
        signatures: Vec::new(),
        listing: None,
    };
    let body = encode(&sync_request(vec![push]));
    let (status, bytes) =
        env.call(Method::POST, "/v1/sync", Some(&token_of("amara")), Some(body)).await;
    assert_eq!(status, 200);
    let response: SyncResponse = decode(&bytes, 1 << 26).unwrap();
    assert_eq!(response.rejected.len(), 1);
    assert_eq!(response.rejected[0].reason, RejectReason::WrongAuthor);
    assert!(response.acks.is_empty());
    assert!(env.export_all().await.iter().all(|r| r.meta.id != id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_bodies_are_refused_without_harm() {
    let env = SyncEnv::start().await;
    let cbor = vec![0x81u8; 200_000]; // an array in an array in an array ...
    let (status, _) =
        env.call(Method::POST, "/v1/sync", Some(&token_of("amara")), Some(cbor)).await;
    assert_eq!(status, 400);
    let json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    let (status, _) = env
        .call(Method::PUT, "/api/v1/cases/case-a", Some(&token_of("case-system")), Some(json))
        .await;
    assert!((400..500).contains(&status), "{status}");
    let (status, _) = env.call(Method::GET, "/health", None, None).await;
    assert_eq!(status, 200);
}

/// Random bytes, and valid requests with random bytes flipped, truncated or extended: a short
/// fuzz over real HTTP (the cargo-fuzz targets in `fuzz/` run the decoders much longer).
#[test]
fn random_and_mutated_sync_bodies_never_break_the_server() {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let env = runtime.block_on(async {
        let env = SyncEnv::start().await;
        env.upsert_case("case-a", "LCA", "amara", "north").await;
        env
    });
    let mut store = open_at(&env.scratch.path("seed.db"), "amara", "tablet");
    let id = store.create_record("case-a", &visit_body(realistic_visit(1))).unwrap();
    let changes = store.changes_since(&id, &[]).unwrap();
    let valid = encode(&sync_request(vec![PushDoc {
        id,
        kind: changes.kind,
        case_id: "case-a".into(),
        heads: vec![],
        changes: changes.changes,
        signatures: Vec::new(),
        listing: None,
    }]));
    let strategy = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2048),
        (
            prop::collection::vec((any::<usize>(), any::<u8>()), 1..16),
            any::<usize>(),
            prop::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(move |(flips, cut, tail)| {
                let mut body = valid.clone();
                for (at, byte) in flips {
                    let at = at % body.len();
                    body[at] = byte;
                }
                body.truncate(cut % (body.len() + 1));
                body.extend(tail);
                body
            }),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 300,
        ..ProptestConfig::default()
    });
    runner
        .run(&strategy, |body| {
            let (status, _) = runtime.block_on(env.call(
                Method::POST,
                "/v1/sync",
                Some(&token_of("amara")),
                Some(body),
            ));
            prop_assert!(status == 200 || (400..500).contains(&status), "status {}", status);
            Ok(())
        })
        .unwrap();
    let (status, _) = runtime.block_on(env.call(Method::GET, "/health", None, None));
    assert_eq!(status, 200);
}
