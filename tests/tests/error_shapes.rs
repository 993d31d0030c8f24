//! Loose edges, closed: a sync body is exactly one CBOR message (trailing bytes refused), every
//! error the server answers is an `ErrorBody` in the documented encoding (CBOR on `/v1/sync`,
//! JSON elsewhere) with its content type, and the handlers accept exactly what the generated
//! OpenAPI schema says (`limit` 1..=500, `sex` nullable, `private_fostering` with its required
//! `start_date`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fieldbook_core::protocol::{
    decode, encode, limits, ErrorBody, SyncRequest, SyncResponse, CONTENT_TYPE, PROTOCOL_VERSION,
};
use fieldbook_tests::sync_env::{summary_for, token_of, SyncEnv};

fn sync_request() -> Vec<u8> {
    encode(&SyncRequest {
        version: PROTOCOL_VERSION,
        device: "edges".into(),
        cursor: 0,
        cursor_tag: 0,
        push: vec![],
        check: vec![],
        response_budget: 1 << 20,
        device_key: None,
    })
}

struct Answer {
    status: u16,
    content_type: String,
    allow: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    fn cbor_error(&self) -> ErrorBody {
        assert_eq!(self.content_type, CONTENT_TYPE, "status {}", self.status);
        ciborium::from_reader(self.body.as_slice()).unwrap()
    }

    fn json_error(&self) -> ErrorBody {
        assert_eq!(self.content_type, "application/json", "status {}", self.status);
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

async fn send(
    env: &SyncEnv,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Option<Vec<u8>>,
) -> Answer {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", env.url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send().await.unwrap();
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let content_type = header("content-type").unwrap_or_default();
    let allow = header("allow");
    let status = response.status().as_u16();
    Answer { status, content_type, allow, body: response.bytes().await.unwrap().to_vec() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_body_is_exactly_one_message_and_every_sync_error_is_cbor() {
    let env = SyncEnv::start().await;
    let amara = token_of("amara");
    let post = |token: Option<String>, body: Vec<u8>| {
        let env = &env;
        async move {
            let token = token.as_deref();
            send(env, reqwest::Method::POST, "/v1/sync", token, Some(CONTENT_TYPE), Some(body))
                .await
        }
    };
    let ok = post(Some(amara.clone()), sync_request()).await;
    assert_eq!(ok.status, 200);
    decode::<SyncResponse>(&ok.body, 1 << 26).unwrap();

    // One byte after a valid request: refused, not ignored.
    let mut trailing = sync_request();
    trailing.push(0x00);
    let answer = post(Some(amara.clone()), trailing).await;
    assert_eq!(answer.status, 400);
    let error = answer.cbor_error();
    assert_eq!(error.error, "malformed");
    assert!(error.message.contains("1 bytes follow"), "{}", error.message);

    // Over the body limit: axum's own rejection, answered as the protocol's error body.
    let answer = post(Some(amara.clone()), vec![0; limits::MAX_REQUEST_BYTES + 1]).await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.cbor_error().error, "too_large");

    let answer = post(None, sync_request()).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.cbor_error().error, "unauthorized");
    let answer = post(Some(token_of("case-system")), sync_request()).await;
    assert_eq!(answer.status, 403);
    let body = answer.cbor_error();
    assert_eq!(body.error, "forbidden");
    // The hub's kind and reason reach the device (issue #12), not only a status and a string.
    assert_eq!(body.kind.as_deref(), Some("forbidden"));
    assert_eq!(body.reason.as_deref(), Some("sync a device"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_json_error_is_an_error_body() {
    let env = SyncEnv::start().await;
    let cms = token_of("case-system");
    let put = |content_type: Option<&'static str>, body: Vec<u8>| {
        let (env, cms) = (&env, cms.clone());
        async move {
            let path = "/api/v1/cases/case-1";
            send(env, reqwest::Method::PUT, path, Some(&cms), content_type, Some(body)).await
        }
    };
    let json = Some("application/json");
    let upsert = |summary: serde_json::Value| {
        serde_json::to_vec(
            &serde_json::json!({"summary": summary, "allocated_worker": "amara", "team": "north"}),
        )
        .unwrap()
    };
    let summary = serde_json::to_value(summary_for("LC1", "amara", "north")).unwrap();

    // 400 malformed JSON, 415 without the JSON content type, 422 JSON of another shape, 413.
    for (content_type, body, status, code) in [
        (json, b"{\"summary\": ".to_vec(), 400, "malformed"),
        (None, upsert(summary.clone()), 415, "unsupported_media_type"),
        (Some("text/plain"), upsert(summary.clone()), 415, "unsupported_media_type"),
        (json, b"{\"summary\": 7}".to_vec(), 422, "invalid"),
        (json, vec![b' '; limits::MAX_REQUEST_BYTES + 1], 413, "too_large"),
    ] {
        let answer = put(content_type, body).await;
        assert_eq!(answer.status, status, "{code}");
        assert_eq!(answer.json_error().error, code);
    }

    // The schema and the handler agree: `sex` is nullable, `private_fostering` needs its start.
    let mut with = summary.clone();
    with["sex"] = serde_json::Value::Null;
    assert_eq!(put(json, upsert(with)).await.status, 204, "sex: null is in the schema");
    let mut with = summary.clone();
    with["private_fostering"] = serde_json::json!({});
    let answer = put(json, upsert(with)).await;
    assert_eq!(answer.status, 422, "private_fostering needs start_date");
    assert!(answer.json_error().message.contains("start_date"));
    let mut with = summary.clone();
    with["private_fostering"] = serde_json::json!({"start_date": "2026-01-05", "end_date": null});
    assert_eq!(put(json, upsert(with)).await.status, 204);

    // `limit` is 1..=500 in the schema and in the handler; numbers only.
    let get = |query: &'static str| {
        let (env, cms) = (&env, cms.clone());
        async move {
            let path = format!("/api/v1/records?{query}");
            send(env, reqwest::Method::GET, &path, Some(&cms), None, None).await
        }
    };
    for query in ["limit=501", "limit=0", "limit=-1", "cursor=-1", "cursor=x", "limit=1e3"] {
        let answer = get(query).await;
        assert_eq!(answer.status, 400, "{query}");
        assert!(["invalid", "malformed"].contains(&answer.json_error().error.as_str()), "{query}");
    }
    for query in ["limit=500", "limit=1", "cursor=0"] {
        assert_eq!(get(query).await.status, 200, "{query}");
    }
    let schema = fieldbook_server::http::openapi::document();
    let limit = schema["paths"]["/api/v1/records"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap()
        .clone();
    let bound = fieldbook_server::http::MAX_EXPORT_LIMIT;
    assert_eq!(limit["schema"]["maximum"], bound, "the schema states the handler's bound");
    assert_eq!(limit["schema"]["minimum"], 1);

    // Unknown routes and methods, and a missing token: the same shape.
    let answer = send(&env, reqwest::Method::GET, "/api/v1/nothing", None, None, None).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json_error().error, "not_found");
    let answer = send(&env, reqwest::Method::DELETE, "/api/v1/records", None, None, None).await;
    assert_eq!(answer.status, 405);
    assert_eq!(answer.allow.as_deref(), Some("GET,HEAD"));
    assert_eq!(answer.json_error().error, "method_not_allowed");
    let answer = send(&env, reqwest::Method::GET, "/api/v1/records", None, None, None).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json_error().error, "unauthorized");
    let answer = send(&env, reqwest::Method::GET, "/api/v1/records", Some("tok-ops"), None, None);
    let answer = answer.await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.json_error().error, "forbidden");
}
