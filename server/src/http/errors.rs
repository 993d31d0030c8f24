//! Every error the HTTP surface answers is an `ErrorBody` `{error, message}`: JSON on the case
//! system's API and the operational routes, CBOR on `/v1/sync` (`docs/PROTOCOL.md`, "Error
//! bodies"). axum's own rejections (a body over the limit, JSON that does not parse or does not
//! fit the type, a missing content type, a bad query string, an unknown route or method) answer
//! `text/plain` or nothing at all; the extractors here put them in the documented shape.

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fieldbook_core::protocol::{encode, ErrorBody, CONTENT_TYPE};
use fieldbook_core::rules::completeness::MissingItem;
use serde::de::DeserializeOwned;

/// An error answered as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    pub message: String,
    /// The checks a case summary failed (422 `incomplete`); empty for every other error.
    pub items: Vec<MissingItem>,
}

/// A 422 answer: the `ErrorBody` fields and, for `incomplete`, each failed check, named by its id
/// and field (never the value that failed it). A body that does not fit the type is a plain
/// `ErrorBody`, which this schema also describes (`items` absent).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct IncompleteBody {
    pub error: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<MissingItem>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        Self { status, error, message: message.into(), items: Vec::new() }
    }

    pub fn with_items(mut self, items: Vec<MissingItem>) -> Self {
        self.items = items;
        self
    }

    fn body(&self) -> ErrorBody {
        ErrorBody { error: self.error.into(), message: self.message.clone() }
    }

    /// The same error as CBOR, for the sync endpoint.
    pub fn into_cbor(self) -> Response {
        let body = encode(&self.body());
        (self.status, [(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.items.is_empty() {
            return (self.status, Json(self.body())).into_response();
        }
        let body =
            IncompleteBody { error: self.error.into(), message: self.message, items: self.items };
        (self.status, Json(body)).into_response()
    }
}

/// The code of a rejection with this status.
fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        StatusCode::BAD_REQUEST => "malformed",
        _ if status.is_server_error() => "internal",
        _ => "invalid",
    }
}

// The rejections' texts name the problem (a line and column, a missing field, the type
// expected); serde's can quote a fragment of the body back to its sender, never to the logs.
impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        Self::new(e.status(), code_of(e.status()), e.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        Self::new(e.status(), code_of(e.status()), e.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        Self::new(e.status(), code_of(e.status()), e.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(e: BytesRejection) -> Self {
        Self::new(e.status(), code_of(e.status()), e.body_text())
    }
}

/// `Json<T>` whose rejection is an `ApiError` (400 syntax, 413 too large, 415 content type,
/// 422 does not fit the type).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(Json::<T>::from_request(req, state).await?.0))
    }
}

/// `Query<T>` whose rejection is an `ApiError` (400).
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let q = axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(q.0))
    }
}

/// `Path<T>` whose rejection is an `ApiError` (400).
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let p = axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(p.0))
    }
}

/// Any route the server does not have.
pub(super) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// A method a route does not have (axum adds the `Allow` header).
pub(super) async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed")
}
