//! POST /v1/sync: one exchange with a device, CBOR both ways.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use fieldbook_core::protocol::{
    decode, encode, limits, DecodeError, ErrorBody, SyncRequest, CONTENT_TYPE,
};

use super::AppState;
use crate::auth::Identity;

fn cbor(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

fn cbor_error(status: StatusCode, error: &str, message: String) -> Response {
    cbor(status, encode(&ErrorBody { error: error.into(), message }))
}

pub(super) async fn sync(State(state): State<AppState>, who: Identity, body: Bytes) -> Response {
    let started = std::time::Instant::now();
    let request: SyncRequest = match decode(&body, limits::MAX_REQUEST_BYTES) {
        Ok(r) => r,
        Err(e @ DecodeError::TooLarge { .. }) => {
            return cbor_error(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
        }
        Err(e @ DecodeError::UnsupportedVersion(_)) => {
            return cbor_error(StatusCode::BAD_REQUEST, "unsupported_version", e.to_string())
        }
        Err(e) => return cbor_error(StatusCode::BAD_REQUEST, "malformed", e.to_string()),
    };
    let pushed = request.push.len();
    match state.hub.sync(&who, request).await {
        Ok(response) => {
            let bytes = encode(&response);
            state.metrics.record_sync(
                started.elapsed(),
                body.len(),
                bytes.len(),
                pushed,
                response.docs.len(),
            );
            tracing::info!(
                worker = %who.subject,
                pushed,
                sent = response.docs.len(),
                rejected = response.rejected.len(),
                more = response.more,
                "sync"
            );
            cbor(StatusCode::OK, bytes)
        }
        Err(e) => {
            let response = e.into_response();
            let status = response.status();
            cbor_error(
                status,
                "sync_failed",
                status.canonical_reason().unwrap_or("error").to_string(),
            )
        }
    }
}
