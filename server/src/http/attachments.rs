//! The attachment channel (docs/PROTOCOL.md, "Attachments"): resumable chunked uploads named by
//! SHA-256, an upload's status, and the fetch of an attachment when a device opens it. Every
//! input is bounded before it is read: the query first (the announced size against the server's
//! cap), the caller's right to the record next, the body last and at most `MAX_CHUNK_BYTES`.
//! Errors are JSON `ErrorBody`s; an unknown record or hash and one the caller may not see are the
//! same `404 not_found`, byte for byte.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fieldbook_core::attachments::{UploadStatus, MAX_CHUNK_BYTES};
use fieldbook_core::protocol::ErrorBody;
use serde::Deserialize;

use super::errors::{ApiError, ApiPath, ApiQuery};
use super::AppState;
use crate::auth::Identity;
use crate::hub::attachments::{AttachmentRefusal, UploadTarget};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct HashPath {
    /// SHA-256 of the attachment's bytes, 64 lowercase hex characters.
    #[param(pattern = "^[0-9a-f]{64}$")]
    hash: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct StatusQuery {
    /// The record that refers to the attachment (its case decides who may upload).
    record: String,
    /// The attachment's size, when the device is about to send it: over the server's cap it is
    /// refused here (413), before any chunk is sent.
    #[param(minimum = 1)]
    size: Option<u64>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ChunkQuery {
    /// The record that refers to the attachment.
    record: String,
    /// Where this chunk starts: what the status said was received.
    #[param(minimum = 0)]
    offset: u64,
    /// The attachment's whole size.
    #[param(minimum = 1)]
    size: u64,
}

fn refusal(e: AttachmentRefusal) -> Response {
    match e {
        AttachmentRefusal::NotFound => not_found(),
        AttachmentRefusal::Forbidden(_) => {
            ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string()).into_response()
        }
        AttachmentRefusal::Invalid(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid", e.to_string()).into_response()
        }
        AttachmentRefusal::TooLarge { .. } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string()).into_response()
        }
        AttachmentRefusal::HashMismatch => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "hash_mismatch", e.to_string())
                .into_response()
        }
        AttachmentRefusal::Hub(e) => super::hub_error(&e).into_response(),
    }
}

/// The one answer for an attachment or record that is unknown or not the caller's.
fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such attachment").into_response()
}

/// Fetch an attachment's bytes (a device opening it; the case system following the export
/// feed's link). Only for a case the caller may see now.
#[utoipa::path(
    get,
    path = "/v1/attachments/{hash}",
    tag = "attachments",
    params(HashPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The role may not read attachments (operator)", body = ErrorBody),
        (status = 404, description = "No such attachment in a case the caller may see", body = ErrorBody),
        (status = 500, description = "Server failure", body = ErrorBody),
    )
)]
pub(super) async fn fetch(
    State(state): State<AppState>,
    who: Identity,
    path: Result<ApiPath<HashPath>, ApiError>,
) -> Response {
    let Ok(ApiPath(path)) = path else { return not_found() };
    match state.hub.attachment(&who, &path.hash).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
        Err(e) => refusal(e),
    }
}

/// The upload a status or chunk request names: the caller may write the record's case (the
/// hub decides, with no existence oracle), and the announced size is within the server's cap.
async fn upload_target(
    state: &AppState,
    who: &Identity,
    hash: &str,
    record: &str,
    size: Option<u64>,
) -> Result<UploadTarget, Response> {
    let target = state.hub.upload_target(who, hash, record).await.map_err(refusal)?;
    match size.filter(|size| *size > state.max_attachment_bytes) {
        Some(size) => {
            Err(refusal(AttachmentRefusal::TooLarge { size, limit: state.max_attachment_bytes }))
        }
        None => Ok(target),
    }
}

/// How many bytes of an upload the server holds, to resume it.
#[utoipa::path(
    get,
    path = "/v1/attachments/{hash}/status",
    tag = "attachments",
    params(HashPath, StatusQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What the server holds", body = UploadStatus),
        (status = 400, description = "Not a SHA-256 name, or a query that does not parse", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The role may not upload", body = ErrorBody),
        (status = 404, description = "No such record in a case the caller may write", body = ErrorBody),
        (status = 413, description = "The announced size is over the server's cap", body = ErrorBody),
        (status = 500, description = "Server failure", body = ErrorBody),
    )
)]
pub(super) async fn status(
    State(state): State<AppState>,
    who: Identity,
    path: Result<ApiPath<HashPath>, ApiError>,
    query: Result<ApiQuery<StatusQuery>, ApiError>,
) -> Response {
    let (path, query) = match (path, query) {
        (Ok(ApiPath(p)), Ok(ApiQuery(q))) => (p, q),
        (Err(e), _) | (_, Err(e)) => return e.into_response(),
    };
    let target = match upload_target(&state, &who, &path.hash, &query.record, query.size).await {
        Ok(t) => t,
        Err(refused) => return refused,
    };
    match state.hub.upload_status(&target).await {
        Ok(status) => Json(status).into_response(),
        Err(e) => refusal(e),
    }
}

/// Send one chunk of an attachment, at the offset the server holds. Idempotent: a chunk the
/// server already has, or an attachment it already holds for the case, stores nothing.
#[utoipa::path(
    put,
    path = "/v1/attachments/{hash}",
    tag = "attachments",
    params(HashPath, ChunkQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What the server holds now", body = UploadStatus),
        (status = 400, description = "Not a SHA-256 name, a chunk past the size, or a query that does not parse", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The role may not upload", body = ErrorBody),
        (status = 404, description = "No such record in a case the caller may write, or the record does not refer to the attachment", body = ErrorBody),
        (status = 413, description = "The attachment is over the server's cap, or the chunk over 1 MiB", body = ErrorBody),
        (status = 422, description = "The bytes do not hash to the name: nothing stored", body = ErrorBody),
        (status = 500, description = "Server failure", body = ErrorBody),
    )
)]
pub(super) async fn put_chunk(
    State(state): State<AppState>,
    who: Identity,
    path: Result<ApiPath<HashPath>, ApiError>,
    query: Result<ApiQuery<ChunkQuery>, ApiError>,
    body: Body,
) -> Response {
    let (path, query) = match (path, query) {
        (Ok(ApiPath(p)), Ok(ApiQuery(q))) => (p, q),
        (Err(e), _) | (_, Err(e)) => return e.into_response(),
    };
    let target =
        match upload_target(&state, &who, &path.hash, &query.record, Some(query.size)).await {
            Ok(t) => t,
            Err(refused) => return refused,
        };
    let bytes = match axum::body::to_bytes(body, MAX_CHUNK_BYTES).await {
        Ok(b) => b.to_vec(),
        Err(_) => {
            let message = format!("a chunk is at most {MAX_CHUNK_BYTES} bytes");
            return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
                .into_response();
        }
    };
    match state.hub.upload_chunk(&target, query.offset, query.size, bytes).await {
        Ok(status) => Json(status).into_response(),
        Err(e) => refusal(e),
    }
}
