//! Every error the HTTP surface answers is an `ErrorBody` `{error, message}`: JSON on the case
//! system's API and the operational routes, CBOR on `/v1/sync` (`docs/PROTOCOL.md`, "Error
//! bodies"). An error of the hub also keeps its `kind` (the `HubError` variant) and `reason`
//! (`ApiError::from(&HubError)`), so a caller can tell "this role may not sync" from "that input
//! is invalid" from "the storage failed" without parsing the message. axum's own rejections (a body over the limit, JSON that does not parse or does not
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

use crate::hub::HubError;
use crate::storage::StorageError;

/// An error answered as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    pub message: String,
    /// The checks a case summary failed (422 `incomplete`); empty for every other error.
    pub items: Vec<MissingItem>,
    /// The hub's kind of error and its reason (`ErrorBody::kind`, `ErrorBody::reason`).
    pub kind: Option<&'static str>,
    pub reason: Option<String>,
}

/// A 422 answer: the `ErrorBody` fields and, for `incomplete`, each failed check, named by its id
/// and field (never the value that failed it). A body that does not fit the type is a plain
/// `ErrorBody`, which this schema also describes (`items` absent).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct IncompleteBody {
    pub error: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<MissingItem>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        Self { status, error, message: message.into(), items: Vec::new(), kind: None, reason: None }
    }

    /// The hub's kind of error and its reason.
    pub fn with_kind(mut self, kind: &'static str, reason: impl Into<String>) -> Self {
        self.kind = Some(kind);
        self.reason = Some(reason.into());
        self
    }

    pub fn with_items(mut self, items: Vec<MissingItem>) -> Self {
        self.items = items;
        self
    }

    fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.error.into(),
            message: self.message.clone(),
            kind: self.kind.map(String::from),
            reason: self.reason.clone(),
        }
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
        let body = IncompleteBody {
            error: self.error.into(),
            message: self.message,
            kind: self.kind.map(String::from),
            reason: self.reason,
            items: self.items,
        };
        (self.status, Json(body)).into_response()
    }
}

/// A hub error as the caller sees it: the status, the stable code, and the error's kind and
/// reason. A refusal keeps its reason (the action refused, the invalid input, the failed
/// checks); a server failure names only what failed (`storage` and which storage step,
/// `corrupt`, `job`), its detail going to the log, not to the caller.
impl From<&HubError> for ApiError {
    fn from(e: &HubError) -> Self {
        match e {
            HubError::Forbidden(action) => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string())
                    .with_kind("forbidden", *action)
            }
            HubError::Invalid(why) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid", e.to_string())
                    .with_kind("invalid", why.clone())
            }
            // The items name checks and fields, never record content.
            HubError::Unprocessable(items) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "incomplete", e.to_string())
                    .with_items(items.clone())
                    .with_kind("unprocessable", format!("{} item(s)", items.len()))
            }
            HubError::Storage(inner) => internal(e).with_kind("storage", storage_reason(inner)),
            HubError::Corrupt(_) => {
                internal(e).with_kind("corrupt", "a stored document is damaged")
            }
            HubError::Job(_) => internal(e).with_kind("job", "an automerge job failed"),
            HubError::KeyLimit { limit } => {
                ApiError::new(StatusCode::FORBIDDEN, "key_limit", e.to_string())
                    .with_kind("key_limit", limit.to_string())
            }
        }
    }
}

fn internal(e: &HubError) -> ApiError {
    // The detail goes to the log (no record content is in it), not to the caller.
    tracing::error!(error = %e, "request failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the server could not complete the request",
    )
}

/// Which storage step failed, as a stable code (the error's text stays in the log).
fn storage_reason(e: &StorageError) -> &'static str {
    match e {
        StorageError::Sqlite(_) => "sqlite",
        StorageError::Postgres(_) => "postgres",
        StorageError::Pool(_) => "pool",
        StorageError::Corrupt(_) => "corrupt",
        StorageError::Task(_) => "task",
        StorageError::SchemaTooNew { .. } => "schema_too_new",
        StorageError::WrongKey
        | StorageError::NeedsKey
        | StorageError::KeyFileMissing { .. }
        | StorageError::KeyFile { .. }
        | StorageError::Key(_) => "key",
        StorageError::File { .. } => "file",
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The body a hub error is answered with, as CBOR (`/v1/sync`) and as JSON (elsewhere).
    async fn bodies(e: &HubError) -> (StatusCode, ErrorBody, serde_json::Value) {
        let cbor = ApiError::from(e).into_cbor();
        let status = cbor.status();
        let bytes = axum::body::to_bytes(cbor.into_body(), 1 << 20).await.unwrap();
        let from_cbor: ErrorBody = fieldbook_core::protocol::decode(&bytes, 1 << 20).unwrap();
        let json = ApiError::from(e).into_response();
        let bytes = axum::body::to_bytes(json.into_body(), 1 << 20).await.unwrap();
        (status, from_cbor, serde_json::from_slice(&bytes).unwrap())
    }

    /// Each `HubError` variant keeps its kind and its reason to the response (they were
    /// flattened to a status and a message), in both encodings; a server failure's detail
    /// stays out of it.
    #[tokio::test]
    async fn every_hub_error_keeps_its_kind_and_reason() {
        use fieldbook_core::rules::completeness::{CheckId, MissingItem};
        let item = MissingItem { check: CheckId::C1, field: "dob".into(), message: "m".into() };
        let rows: Vec<(HubError, u16, &str, &str, &str)> = vec![
            (HubError::Forbidden("sync a device"), 403, "forbidden", "forbidden", "sync a device"),
            (HubError::Invalid("no team".into()), 400, "invalid", "invalid", "no team"),
            (HubError::Unprocessable(vec![item]), 422, "incomplete", "unprocessable", "1 item(s)"),
            (
                HubError::Storage(StorageError::Task("secret detail".into())),
                500,
                "internal",
                "storage",
                "task",
            ),
            (
                HubError::Storage(StorageError::Pool("secret detail".into())),
                500,
                "internal",
                "storage",
                "pool",
            ),
            (
                HubError::Corrupt("secret detail".into()),
                500,
                "internal",
                "corrupt",
                "a stored document is damaged",
            ),
            (
                HubError::Job("secret detail".into()),
                500,
                "internal",
                "job",
                "an automerge job failed",
            ),
        ];
        for (e, status, error, kind, reason) in rows {
            let (got, cbor, json) = bodies(&e).await;
            assert_eq!(got.as_u16(), status, "{e}");
            assert_eq!(cbor.error, error, "{e}");
            assert_eq!(cbor.kind.as_deref(), Some(kind), "{e}");
            assert_eq!(cbor.reason.as_deref(), Some(reason), "{e}");
            assert_eq!(json["error"], error, "{e}");
            assert_eq!(json["kind"], kind, "{e}");
            assert_eq!(json["reason"], reason, "{e}");
            assert!(!json.to_string().contains("secret detail"), "{e}: {json}");
        }
    }

    /// An error that is not the hub's has no kind or reason, and none on the wire.
    #[tokio::test]
    async fn other_errors_have_no_kind() {
        let response = ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint");
        let bytes =
            axum::body::to_bytes(response.into_response().into_body(), 1 << 20).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json, serde_json::json!({"error": "not_found", "message": "no such endpoint"}));
    }
}
