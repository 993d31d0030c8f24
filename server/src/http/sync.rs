//! POST /v1/sync: one exchange with a device, CBOR both ways, errors included (`ErrorBody` as
//! CBOR, whatever went wrong: token, body size, decoding, the hub).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use fieldbook_core::protocol::{
    decode, encode, limits, DecodeError, ErrorBody, SyncRequest, CONTENT_TYPE,
};

use super::errors::ApiError;
use super::AppState;
use crate::auth::{AuthError, Identity};

/// A CBOR body in the OpenAPI document: bytes (`type: string, format: binary`), described in
/// docs/PROTOCOL.md. A JSON Schema cannot state CBOR's byte strings.
#[derive(Debug)]
pub(super) struct CborBytes;

impl utoipa::PartialSchema for CborBytes {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl utoipa::ToSchema for CborBytes {}

fn cbor(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

fn cbor_error(status: StatusCode, error: &'static str, message: String) -> Response {
    ApiError::new(status, error, message).into_cbor()
}

/// One sync exchange for a device: push what the server lacks, pull what changed since the
/// cursor. The request and response bodies are CBOR `SyncRequest` / `SyncResponse`
/// (docs/PROTOCOL.md); so is every error body.
#[utoipa::path(
    post,
    path = "/v1/sync",
    tag = "devices",
    request_body(
        content = inline(CborBytes),
        content_type = "application/vnd.fieldbook.sync+cbor",
        description = "A CBOR `SyncRequest` (docs/PROTOCOL.md)"
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A CBOR `SyncResponse`", content_type = "application/vnd.fieldbook.sync+cbor", body = inline(CborBytes)),
        (status = 400, description = "Not one valid CBOR `SyncRequest` (trailing bytes included), or another protocol version", content_type = "application/vnd.fieldbook.sync+cbor", body = ErrorBody),
        (status = 401, description = "No valid token", content_type = "application/vnd.fieldbook.sync+cbor", body = ErrorBody),
        (status = 403, description = "The role may not sync (only `worker` and `manager` do)", content_type = "application/vnd.fieldbook.sync+cbor", body = ErrorBody),
        (status = 413, description = "Body over 32 MiB (checked before decoding)", content_type = "application/vnd.fieldbook.sync+cbor", body = ErrorBody),
        (status = 500, description = "Server failure", content_type = "application/vnd.fieldbook.sync+cbor", body = ErrorBody),
    )
)]
pub(super) async fn sync(
    State(state): State<AppState>,
    headers: header::HeaderMap,
    who: Result<Identity, AuthError>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let who = match who {
        Ok(who) => who,
        Err(e) => {
            let mut response = cbor_error(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string());
            let challenge = header::HeaderValue::from_static("Bearer");
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
            return response;
        }
    };
    // The role before the body: a caller that may not sync learns nothing about what it sent.
    if let Err(e) = crate::hub::audience_of(&who) {
        return super::hub_error(&e).into_cbor();
    }
    let body = match body {
        Ok(body) => body,
        Err(e) => return ApiError::from(e).into_cbor(),
    };
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
    // The key registry names the token by a fingerprint, never the token (the extractor above
    // has already checked it).
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map_or_else(|| "-".to_string(), crate::hub::signing::token_fingerprint);
    match state.hub.sync_with_token(&who, &token, request).await {
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
            // The hub's error, in the hub's words (a refusal names the rule, never content).
            super::hub_error(&e).into_cbor()
        }
    }
}
