//! Issue #10, point 1: a compressed Automerge change chunk (type 2) of about 1 MB that inflates
//! to 1 GiB. automerge 0.12 inflates it with an unbounded `read_to_end` before any check (the
//! server went from 0.86 to 3.2 GB); the core now walks chunk headers first and refuses it. Shown
//! by behaviour: the answer, the process's peak memory across the request (the server runs in
//! this process), and normal syncing afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fieldbook_core::document::chunks::{self, ChunkError, Source};
use fieldbook_core::protocol::{
    decode, encode, limits, DocChanges, PushDoc, RejectReason, SyncRequest, SyncResponse,
    PROTOCOL_VERSION,
};
use fieldbook_core::records::{new_id, RecordBody, RecordKind};
use fieldbook_core::sync::transport::{HttpResponse, HttpTransport, Transport, TransportError};
use fieldbook_core::sync::SyncClient;
use fieldbook_tests::deflate_bomb::{compressed_change_chunk, peak_rss_kib, reset_peak_rss};
use fieldbook_tests::sync_env::{token_of, FixedToken, SyncEnv};
use fieldbook_tests::{realistic_visit, visit_body};
use reqwest::Method;

/// The peak may rise this much while a bomb is handled: the request and response buffers and
/// the other tests of this file, far below the gigabytes inflating it takes.
const PEAK_GROWTH_KIB: u64 = 256 * 1024;

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
async fn a_push_that_inflates_to_1_gib_is_refused_with_bounded_memory_and_sync_goes_on() {
    let env = SyncEnv::start().await;
    env.upsert_case("case-a", "LCA", "amara", "north").await;
    let bomb = compressed_change_chunk(1024);
    assert!(bomb.len() < limits::MAX_DOC_CHANGE_BYTES, "{} bytes", bomb.len());
    // The pre-parser's decision, from the header alone.
    assert_eq!(
        chunks::check(&bomb, Source::Changes),
        Err(ChunkError::Refused { chunk_type: 2, at: 0, origin: Source::Changes })
    );
    let push = PushDoc {
        id: new_id(),
        kind: RecordKind::Visit,
        case_id: "case-a".into(),
        heads: vec![],
        changes: bomb,
        signatures: Vec::new(),
        listing: None,
    };
    let body = encode(&sync_request(vec![push]));
    assert!(body.len() < limits::MAX_REQUEST_BYTES);

    reset_peak_rss();
    let before = peak_rss_kib();
    let (status, bytes) =
        env.call(Method::POST, "/v1/sync", Some(&token_of("amara")), Some(body)).await;
    let grown = peak_rss_kib().saturating_sub(before);
    assert_eq!(status, 200);
    let response: SyncResponse = decode(&bytes, limits::MAX_RESPONSE_BYTES).unwrap();
    assert_eq!(response.rejected.len(), 1);
    assert_eq!(response.rejected[0].reason, RejectReason::Malformed);
    assert!(grown < PEAK_GROWTH_KIB, "peak memory grew {grown} KiB handling the push");

    // The server goes on syncing normally.
    let mut device = env.device("amara", "tablet");
    let id = device.store.create_record("case-a", &visit_body(realistic_visit(1))).unwrap();
    let report = device.sync().await;
    assert_eq!(report.failure, None);
    assert_eq!(report.acknowledged, 1);
    assert!(env.export_all().await.iter().any(|r| r.meta.id == id));
    let (status, _) = env.call(Method::GET, "/health", None, None).await;
    assert_eq!(status, 200);
}

/// A server (here: the real one, with the bomb added to its answer on the way) that sends the
/// chunk as the changes of a new document and of the device's own record.
#[derive(Debug, Clone)]
struct InjectingTransport {
    inner: HttpTransport,
    inject: Arc<AtomicBool>,
    hostile: String,
    own: String,
}

impl Transport for InjectingTransport {
    async fn post(&self, body: Vec<u8>, token: String) -> Result<HttpResponse, TransportError> {
        let mut response = self.inner.post(body, token).await?;
        if response.status == 200 && self.inject.swap(false, Ordering::SeqCst) {
            let mut decoded: SyncResponse =
                decode(&response.body, limits::MAX_RESPONSE_BYTES).unwrap();
            for id in [self.hostile.clone(), self.own.clone()] {
                decoded.docs.push(DocChanges {
                    id,
                    kind: RecordKind::Visit,
                    case_id: "case-a".into(),
                    heads: Vec::new(),
                    changes: compressed_change_chunk(1024),
                    signatures: Vec::new(),
                    listing: None,
                });
            }
            response.body = encode(&decoded);
        }
        Ok(response)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_refuses_the_chunk_in_a_response_and_loses_nothing() {
    let env = SyncEnv::start().await;
    env.upsert_case("case-a", "LCA", "amara", "north").await;
    let mut store = env.scratch.store("amara-tablet", "amara", "tablet");
    let body = visit_body(realistic_visit(2));
    let id = store.create_record("case-a", &body).unwrap();
    let inject = Arc::new(AtomicBool::new(true));
    let hostile = new_id();
    let transport = InjectingTransport {
        inner: HttpTransport::new(&env.url, Duration::from_secs(5), Duration::from_secs(30))
            .unwrap(),
        inject: inject.clone(),
        hostile: hostile.clone(),
        own: id.clone(),
    };
    let client = SyncClient::new(transport, Arc::new(FixedToken(token_of("amara"))), "tablet");

    reset_peak_rss();
    let before = peak_rss_kib();
    let report = client.sync(&mut store).await;
    let grown = peak_rss_kib().saturating_sub(before);
    assert!(!inject.load(Ordering::SeqCst), "the bomb was not sent");
    assert!(grown < PEAK_GROWTH_KIB, "peak memory grew {grown} KiB handling the response");
    // The push went through; both bombs were refused, document by document.
    assert_eq!(report.failure, None);
    assert_eq!(report.acknowledged, 1);
    assert!(matches!(store.record(&hostile), Err(fieldbook_core::Error::NotFound { .. })));
    assert_eq!(store.record(&id).unwrap().body, body);
    assert!(store.unacknowledged().unwrap().is_empty());

    // The refusal is the pre-parser's typed error, not automerge's after inflating.
    let refused = store
        .receive(&[DocChanges {
            id: new_id(),
            kind: RecordKind::Visit,
            case_id: "case-a".into(),
            heads: Vec::new(),
            changes: compressed_change_chunk(1024),
            signatures: Vec::new(),
            listing: None,
        }])
        .unwrap();
    let expected = fieldbook_core::Error::from(ChunkError::Refused {
        chunk_type: 2,
        at: 0,
        origin: Source::Changes,
    });
    assert_eq!(refused.rejected.len(), 1);
    assert_eq!(refused.rejected[0].1, expected.to_string());

    // Nothing is lost and sync goes on: an edit reaches the server.
    let mut edited = realistic_visit(3);
    edited.analysis = "edited after the hostile response".into();
    store.update_record(&id, &RecordBody::Visit(edited.clone())).unwrap();
    let report = client.sync(&mut store).await;
    assert_eq!(report.failure, None);
    assert_eq!(report.acknowledged, 1);
    let exported = env.export_all().await;
    let on_server = exported.iter().find(|r| r.meta.id == id).unwrap();
    assert_eq!(on_server.body, RecordBody::Visit(edited));
}
