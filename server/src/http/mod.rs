//! The HTTP surface: the device sync endpoint (CBOR), the case system's JSON API, and operations
//! (health, metrics, OpenAPI). Every route that returns case data authenticates the caller and
//! the hub checks what the caller may see.

mod case_api;
pub mod metrics;
mod sync;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use fieldbook_core::protocol::{limits, ErrorBody};

use crate::auth::Authenticator;
use crate::hub::{Hub, HubError};
use metrics::Metrics;

/// Shared state of every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub hub: Hub,
    pub auth: Arc<Authenticator>,
    pub metrics: Arc<Metrics>,
}

impl FromRef<AppState> for Arc<Authenticator> {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

pub const OPENAPI: &str = include_str!("openapi.json");

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/sync", post(sync::sync))
        .route("/api/v1/cases/{case_id}", put(case_api::upsert_case))
        .route("/api/v1/records", get(case_api::export))
        .route("/health", get(|| async { Json(serde_json::json!({"status": "ok"})) }))
        .route("/metrics", get(metrics::render))
        .route("/openapi.json", get(|| async { ([("content-type", "application/json")], OPENAPI) }))
        // Checked before any decoding: a body over the limit is refused with 413.
        .layer(DefaultBodyLimit::max(limits::MAX_REQUEST_BYTES))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .with_state(state)
}

/// An error as JSON, with its status.
pub(crate) fn json_error(status: StatusCode, error: &str, message: impl Into<String>) -> Response {
    (status, Json(ErrorBody { error: error.into(), message: message.into() })).into_response()
}

impl IntoResponse for HubError {
    fn into_response(self) -> Response {
        match &self {
            HubError::Forbidden(_) => {
                json_error(StatusCode::FORBIDDEN, "forbidden", self.to_string())
            }
            HubError::Invalid(_) => {
                json_error(StatusCode::BAD_REQUEST, "invalid", self.to_string())
            }
            HubError::Storage(_) | HubError::Corrupt(_) | HubError::Job(_) => {
                // The detail goes to the log (no record content is in it), not to the caller.
                tracing::error!(error = %self, "request failed");
                json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the server could not complete the request",
                )
            }
        }
    }
}
