//! The operators' device-key API (issue #16): revoke a lost or stolen tablet's signing key.
//! Later pushes signed by it are refused (`revoked_key`); what it signed before stays valid and
//! attributable. Who revoked it and when come from the operator's token and the server's clock,
//! never from the request; the revocation is a key event signed by the server's key
//! (docs/PROTOCOL.md, "Revocation"). The same as `fieldbook-server revoke-device`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use fieldbook_core::protocol::{ErrorBody, PublicKey};
use serde::{Deserialize, Serialize};

use super::errors::{ApiError, ApiPath};
use super::AppState;
use crate::auth::{Identity, Role};
use crate::hub::signing::RevokeError;
use crate::storage::signing::KeyRegistration;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct KeyPath {
    /// The device's Ed25519 public key, 64 lowercase hexadecimal characters.
    #[param(pattern = "^[0-9a-f]{64}$")]
    key: String,
}

/// A device key as revoked: whose it was and who revoked it when.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RevokedKey {
    /// 64 hexadecimal characters.
    pub key: String,
    pub worker: String,
    pub device: String,
    /// RFC 3339.
    pub registered_at: String,
    /// RFC 3339, the server's clock.
    pub revoked_at: String,
    /// The revoking operator (the token's subject).
    pub revoked_by: String,
}

impl RevokedKey {
    fn of(reg: KeyRegistration) -> Self {
        RevokedKey {
            key: hex::encode(reg.key),
            worker: reg.worker,
            device: reg.device,
            registered_at: reg.registered_at,
            revoked_at: reg.revoked_at.unwrap_or_default(),
            revoked_by: reg.revoked_by.unwrap_or_default(),
        }
    }
}

fn parse_key(hex_key: &str) -> Result<PublicKey, ApiError> {
    let mut key = [0u8; 32];
    if hex_key.len() != 64 || hex::decode_to_slice(hex_key, &mut key).is_err() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            "the key must be 64 hexadecimal characters",
        ));
    }
    Ok(PublicKey(key))
}

impl From<RevokeError> for ApiError {
    fn from(e: RevokeError) -> Self {
        match e {
            RevokeError::UnknownKey => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_key", e.to_string())
            }
            RevokeError::AlreadyRevoked => {
                ApiError::new(StatusCode::CONFLICT, "already_revoked", e.to_string())
            }
            RevokeError::Hub(inner) => ApiError::from(&inner),
        }
    }
}

/// Revoke a device's signing key (a lost or stolen tablet). Later pushes signed by it are
/// refused with `revoked_key`; changes it signed before stay valid. Operators only.
#[utoipa::path(
    post,
    path = "/api/v1/devices/keys/{key}/revoke",
    tag = "operations",
    params(KeyPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Revoked; the signed revocation is logged", body = RevokedKey),
        (status = 400, description = "Not a key (64 hexadecimal characters)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an operator", body = ErrorBody),
        (status = 404, description = "No device key registered under it (`unknown_key`)", body = ErrorBody),
        (status = 409, description = "Revoked already (`already_revoked`)", body = ErrorBody),
        (status = 500, description = "Server failure", body = ErrorBody),
    )
)]
pub(super) async fn revoke(
    State(state): State<AppState>,
    who: Identity,
    path: Result<ApiPath<KeyPath>, ApiError>,
) -> Response {
    // The role first: a refused caller learns nothing, not even whether the key exists.
    if who.role != Role::Operator {
        tracing::warn!(subject = %who.subject, role = ?who.role, "device key revocation refused");
        return ApiError::new(StatusCode::FORBIDDEN, "forbidden", "only an operator may revoke")
            .into_response();
    }
    let key = match path.and_then(|ApiPath(p)| parse_key(&p.key)) {
        Ok(key) => key,
        Err(e) => return e.into_response(),
    };
    match state.hub.revoke_device_key(key, &who.subject).await {
        Ok(reg) => Json(RevokedKey::of(reg)).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
