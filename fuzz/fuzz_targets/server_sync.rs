//! Any bytes as the body of `POST /v1/sync` from an authenticated worker, through the whole
//! router (limits, decoding, access checks, push, feed): the answer is a 200 or a 4xx, never a
//! panic or a 5xx.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::Request;
use fieldbook_server::serve::app_state;
use fieldbook_server::storage::sqlite::SqliteStorage;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

struct Harness {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("fieldbook-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let tokens = dir.join("tokens.json");
        let body = r#"{"tokens":[{"token":"tok-amara","subject":"amara","role":"worker","team":"north"}]}"#;
        std::fs::write(&tokens, body).expect("tokens");
        let auth = serde_json::from_value(serde_json::json!({
            "audience": "fieldbook", "static_tokens": tokens
        }))
        .expect("auth config");
        let storage = std::sync::Arc::new(SqliteStorage::in_memory().expect("storage"));
        let state = app_state(storage, &auth).expect("state");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        Harness { runtime, router: fieldbook_server::http::router(state) }
    })
}

fuzz_target!(|data: &[u8]| {
    // As in load_document: the core turns automerge's panics on malformed input into errors on
    // purpose, which libfuzzer-sys's abort-on-any-panic hook would report as crashes. A panic
    // that escapes still aborts the run through libfuzzer-sys's own wrapper.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let h = harness();
    let request = Request::post("/v1/sync")
        .header("authorization", "Bearer tok-amara")
        .header("content-type", fieldbook_core::protocol::CONTENT_TYPE)
        .body(Body::from(data.to_vec()))
        .expect("request");
    let response = h.runtime.block_on(h.router.clone().oneshot(request)).expect("infallible");
    let status = response.status().as_u16();
    assert!(status == 200 || (400..500).contains(&status), "status {status}");
});
