//! The HTTP surface: the device sync endpoint (CBOR), the case system's JSON API, and operations
//! (health, metrics, OpenAPI). Every route that returns case data authenticates the caller and
//! checks its role (`docs/roles.md`); the hub checks which cases it may see. The OpenAPI
//! document is generated from the handlers' own annotations and types (`openapi`), and the
//! router is built from the same list, so neither can name a route the other lacks.

mod attachments;
mod case_api;
pub mod devices;
pub mod errors;
pub mod metrics;
pub mod openapi;
mod ops;
mod sync;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef};
use axum::response::{IntoResponse, Response};
use axum::Router;
use fieldbook_core::protocol::limits;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Authenticator;
use crate::hub::{Hub, HubError};
use crate::oversight::routes as oversight;
use errors::ApiError;
use metrics::Metrics;

pub use case_api::MAX_EXPORT_LIMIT;

/// Shared state of every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub hub: Hub,
    pub auth: Arc<Authenticator>,
    pub metrics: Arc<Metrics>,
    /// The largest attachment accepted (`--max-attachment-bytes`); 413 beyond it.
    pub max_attachment_bytes: u64,
    /// The oversight pages' sign-in sessions.
    pub sessions: Arc<crate::oversight::session::Sessions>,
    /// Sign-in through the council's identity provider, when configured (`--oidc-issuer`);
    /// without it the sign-in page is the development token form.
    pub oidc: Option<Arc<crate::oversight::oidc::Oidc>>,
}

impl FromRef<AppState> for Arc<Authenticator> {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

/// Every route, each registered together with its OpenAPI operation.
fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(sync::sync))
        .routes(routes!(case_api::upsert_case))
        .routes(routes!(case_api::export))
        .routes(routes!(devices::revoke))
        .routes(routes!(attachments::fetch, attachments::put_chunk))
        .routes(routes!(attachments::status))
        .routes(routes!(ops::health))
        .routes(routes!(metrics::render))
        .routes(routes!(ops::openapi_json))
        .routes(routes!(oversight::home))
        .routes(routes!(oversight::sign_in_form, oversight::sign_in))
        .routes(routes!(oversight::callback))
        .routes(routes!(oversight::sign_out))
        .routes(routes!(oversight::team_page))
        .routes(routes!(oversight::worker_page))
        .routes(routes!(oversight::queue_page))
        .routes(routes!(oversight::child_page))
        .routes(routes!(oversight::record_page))
        .routes(routes!(oversight::decide))
        .routes(routes!(oversight::board_page))
        .routes(routes!(oversight::annex_csv))
        .routes(routes!(oversight::annex_xlsx))
        .routes(routes!(oversight::timeliness_csv))
        .routes(routes!(oversight::annex_json))
        .routes(routes!(oversight::timeliness_json))
}

pub fn router(state: AppState) -> Router {
    let (routes, _) = api_router().split_for_parts();
    routes
        .fallback(errors::not_found)
        .method_not_allowed_fallback(errors::method_not_allowed)
        // Checked before any decoding: a body over the limit is refused with 413.
        .layer(DefaultBodyLimit::max(limits::MAX_REQUEST_BYTES))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .with_state(state)
}

/// What the caller is told of a hub error.
pub(crate) fn hub_error(e: &HubError) -> ApiError {
    ApiError::from(e)
}

impl IntoResponse for HubError {
    fn into_response(self) -> Response {
        hub_error(&self).into_response()
    }
}
