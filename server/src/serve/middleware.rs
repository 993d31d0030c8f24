//! What every request goes through before its route: a request id and a log span, and a deadline
//! for its body.
//!
//! The span carries the request id, the method and the route *template*
//! (`/api/v1/cases/{case_id}`), never the concrete path or query: every line logged while the
//! request is handled (an authentication failure, a refused push) carries them, and one line is
//! logged when it ends, with the status and the time taken. Headers (the bearer token) and bodies
//! (record content) are never logged. Ids of cases and documents are identifiers, not content:
//! they appear only where a decision about them is logged (a refused push names them).

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use fieldbook_core::protocol::{limits, ErrorBody};
use http_body_util::BodyExt;
use tracing::Instrument;

use super::options::ConnectionLimits;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// `app` with the request-id, log-span and body-deadline layers.
pub(super) fn wrap(app: Router, limits: ConnectionLimits) -> Router {
    // `Router::layer` runs after routing, so the route template is known; the last added runs
    // first: the span covers the body deadline's 408s too.
    app.layer(axum::middleware::from_fn_with_state(limits.body_timeout, read_body_within))
        .layer(axum::middleware::from_fn(trace_request))
}

/// A proxy's id is kept when it is short and plain (so it correlates with the proxy's logs and
/// cannot smuggle anything into ours); otherwise a fresh one is made.
fn request_id(request: &Request) -> HeaderValue {
    let given = request.headers().get(&REQUEST_ID).filter(|v| {
        let b = v.as_bytes();
        !b.is_empty()
            && b.len() <= 64
            && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
    });
    match given {
        Some(v) => v.clone(),
        None => HeaderValue::from_str(&uuid::Uuid::new_v4().simple().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
    }
}

async fn trace_request(mut request: Request, next: Next) -> Response {
    let id = request_id(&request);
    request.headers_mut().insert(REQUEST_ID, id.clone());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let span = tracing::info_span!(
        "request",
        request_id = id.to_str().unwrap_or("unknown"),
        method = %request.method(),
        route = %route,
    );
    let started = tokio::time::Instant::now();
    let mut response = async move {
        tracing::debug!("request started");
        next.run(request).await
    }
    .instrument(span.clone())
    .await;
    let status = response.status().as_u16();
    let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    span.in_scope(|| tracing::info!(status, millis, "request"));
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

/// Reads the whole body within `body_timeout` from the end of the headers, before the route sees
/// it. A per-read timeout would not do: a client trickling a byte every few seconds never trips
/// it. A declared length over the limit is refused at once, without waiting for the bytes.
async fn read_body_within(
    State(body_timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    // The sync endpoint answers every error in the protocol's CBOR body (docs/PROTOCOL.md).
    let cbor = request.uri().path() == SYNC_PATH;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits::MAX_REQUEST_BYTES as u64) {
        tracing::info!(declared, "declared body over the limit: refused before reading");
        return closing(
            cbor,
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the body is over the limit",
        );
    }
    let (parts, body) = request.into_parts();
    let limited = http_body_util::Limited::new(body, limits::MAX_REQUEST_BYTES);
    let bytes: Bytes = match tokio::time::timeout(body_timeout, limited.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return closing(
                cbor,
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the body is over the limit",
            )
        }
        Ok(Err(e)) => {
            // The client went away or sent a malformed chunked body: nobody may be listening.
            tracing::debug!(error = %e, "request body unreadable");
            return closing(
                cbor,
                StatusCode::BAD_REQUEST,
                "malformed",
                "the body could not be read",
            );
        }
        Err(_elapsed) => {
            tracing::info!(timeout = ?body_timeout, "slow client: body not received in time");
            return closing(
                cbor,
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                "the request body did not arrive in time",
            );
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// An error answer that also closes the connection: what is left of the body is not worth
/// reading, and the connection cannot carry another request before it is.
fn closing(cbor: bool, status: StatusCode, error: &str, message: &str) -> Response {
    let body = ErrorBody::new(error, message);
    if cbor {
        let bytes = fieldbook_core::protocol::encode(&body);
        let content_type = fieldbook_core::protocol::CONTENT_TYPE;
        return (
            status,
            [(header::CONNECTION, "close"), (header::CONTENT_TYPE, content_type)],
            bytes,
        )
            .into_response();
    }
    (status, [(header::CONNECTION, "close")], Json(body)).into_response()
}

/// The device sync route, whose errors are CBOR.
const SYNC_PATH: &str = "/v1/sync";
