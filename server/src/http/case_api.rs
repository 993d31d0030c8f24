//! The case system's JSON API: upsert a case with its allocation; read merged records.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::{json_error, AppState};
use crate::auth::{Identity, Role};
use crate::hub::CaseUpsert;

fn integration_only(who: &Identity) -> Option<Response> {
    if matches!(who.role, Role::Integration | Role::Admin) {
        None
    } else {
        tracing::warn!(subject = %who.subject, role = ?who.role, "case system API refused");
        Some(json_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only the case system may use this endpoint",
        ))
    }
}

pub(super) async fn upsert_case(
    State(state): State<AppState>,
    who: Identity,
    Path(case_id): Path<String>,
    body: Result<Json<CaseUpsert>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Some(refused) = integration_only(&who) {
        return refused;
    }
    let Json(upsert) = match body {
        Ok(b) => b,
        Err(e) => return json_error(e.status(), "invalid", e.body_text()),
    };
    match state.hub.upsert_case(&case_id, upsert).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct ExportQuery {
    #[serde(default)]
    cursor: u64,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    100
}

pub(super) async fn export(
    State(state): State<AppState>,
    who: Identity,
    Query(q): Query<ExportQuery>,
) -> Response {
    if let Some(refused) = integration_only(&who) {
        return refused;
    }
    match state.hub.export(q.cursor, q.limit).await {
        Ok(page) => Json(page).into_response(),
        Err(e) => e.into_response(),
    }
}
