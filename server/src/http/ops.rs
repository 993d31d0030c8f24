//! Operational routes without authentication: they carry nothing about workers, cases or
//! records (`/metrics` is in `metrics`).

use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;

/// The liveness answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Health {
    /// Always `ok` while the server answers.
    status: &'static str,
}

/// Liveness: the server answers.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    security(()),
    responses((status = 200, description = "The server is up", body = Health))
)]
pub(super) async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    security(()),
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json"))
)]
pub(super) async fn openapi_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], super::openapi::document_json())
}
