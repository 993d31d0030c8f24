//! The case system's JSON API: upsert a case with its allocation; read merged records. Only the
//! `integration` role (the case system) may call it: the export carries record content, the
//! children's own words included (`docs/roles.md`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use fieldbook_core::protocol::ErrorBody;
use serde::Deserialize;

use super::errors::{ApiError, ApiJson, ApiPath, ApiQuery, IncompleteBody};
use super::AppState;
use crate::auth::{Identity, Role};
use crate::hub::{CaseUpsert, ExportPage};

/// The largest export page, and the default.
pub const MAX_EXPORT_LIMIT: u32 = 500;
const DEFAULT_EXPORT_LIMIT: u32 = 100;

fn integration_only(who: &Identity) -> Result<(), ApiError> {
    if who.role == Role::Integration {
        Ok(())
    } else {
        tracing::warn!(subject = %who.subject, role = ?who.role, "case system API refused");
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only the case system may use this endpoint",
        ))
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct CasePath {
    /// The case system's id for the case.
    #[param(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    case_id: String,
}

/// Create or update a case summary and its allocation. Re-allocation purges the case from the
/// previous worker's devices on their next sync and delivers it to the new worker's.
#[utoipa::path(
    put,
    path = "/api/v1/cases/{case_id}",
    tag = "case system",
    params(CasePath),
    request_body = CaseUpsert,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Stored; devices receive it on their next sync"),
        (status = 400, description = "Malformed JSON, or an invalid id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not the case system (`integration` role)", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 415, description = "Not `application/json`", body = ErrorBody),
        (status = 422, description = "JSON that does not fit `CaseUpsert` (`ErrorBody`), or a summary that breaks C7-C10 or A1 (`incomplete`, each failed check named)", body = IncompleteBody),
        (status = 500, description = "Server failure", body = ErrorBody),
    )
)]
pub(super) async fn upsert_case(
    State(state): State<AppState>,
    who: Identity,
    ApiPath(path): ApiPath<CasePath>,
    body: Result<ApiJson<CaseUpsert>, ApiError>,
) -> Response {
    // The role is checked before the body, so a refused caller learns nothing about the shape.
    if let Err(refused) = integration_only(&who) {
        return refused.into_response();
    }
    let upsert = match body {
        Ok(ApiJson(upsert)) => upsert,
        Err(e) => return e.into_response(),
    };
    match state.hub.upsert_case_by(&path.case_id, upsert, &who.subject).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ExportQuery {
    /// `next_cursor` of the previous page; 0 to start. A feed position is a 63-bit number.
    #[serde(default)]
    #[param(minimum = 0)]
    cursor: i64,
    /// Records per page.
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 500, default = 100)]
    limit: u32,
}

fn default_limit() -> u32 {
    DEFAULT_EXPORT_LIMIT
}

/// Merged records changed after `cursor`, each once per change, oldest first. Store
/// `next_cursor` once a page is processed; call again while `more`.
#[utoipa::path(
    get,
    path = "/api/v1/records",
    tag = "case system",
    params(ExportQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of records", body = ExportPage),
        (status = 400, description = "A query parameter out of range or not a number", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not the case system (`integration` role)", body = ErrorBody),
        (status = 500, description = "Server failure", body = ErrorBody),
    )
)]
pub(super) async fn export(
    State(state): State<AppState>,
    who: Identity,
    query: Result<ApiQuery<ExportQuery>, ApiError>,
) -> Response {
    if let Err(refused) = integration_only(&who) {
        return refused.into_response();
    }
    let q = match query {
        Ok(ApiQuery(q)) => q,
        Err(e) => return e.into_response(),
    };
    // The bounds the document states, enforced: a limit out of range is refused, not clamped.
    if !(1..=MAX_EXPORT_LIMIT).contains(&q.limit) {
        let message = format!("limit must be between 1 and {MAX_EXPORT_LIMIT}");
        return ApiError::new(StatusCode::BAD_REQUEST, "invalid", message).into_response();
    }
    let Ok(cursor) = u64::try_from(q.cursor) else {
        let message = "cursor must not be negative";
        return ApiError::new(StatusCode::BAD_REQUEST, "invalid", message).into_response();
    };
    match state.hub.export(cursor, q.limit as usize).await {
        Ok(page) => Json(page).into_response(),
        Err(e) => e.into_response(),
    }
}
