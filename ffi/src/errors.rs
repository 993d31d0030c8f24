//! One error enum per concern, each with variants a caller can branch on. Messages never carry
//! record content (the core's errors name fields, ids and codes only).

use fieldbook_core::sync::SyncFailure;
use fieldbook_core::Error as CoreError;

use crate::guard::FromPanic;
use crate::types::{MissingItem, RecordKind};

/// Opening the store.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum OpenError {
    /// The key does not open this database: never a new empty database in its place.
    #[error("the store could not be opened with this key")]
    WrongKey,
    #[error("the key must be 32 bytes, got {length}")]
    InvalidKey { length: u32 },
    #[error("the store was written by a newer Fieldbook")]
    StoreTooNew,
    #[error("the sync client could not be set up: {detail}")]
    SyncSetup { detail: String },
    #[error("storage error: {detail}")]
    Storage { detail: String },
    #[error("{detail}")]
    Internal { detail: String },
}

/// Reading and writing records.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum RecordError {
    #[error("no record {id}")]
    NotFound { id: String },
    /// Submit or authorise refused: every missing item is named.
    #[error("the record is not complete ({} item(s) missing)", missing.len())]
    Incomplete { missing: Vec<MissingItem> },
    #[error("{field}: {reason}")]
    InvalidInput { field: String, reason: String },
    /// The record is of another kind than the call is for (`assessment(id)` of a visit).
    #[error("the record is a {found:?}, not a {expected:?}")]
    WrongKind { expected: RecordKind, found: RecordKind },
    #[error("not allowed in this state: {reason}")]
    InvalidTransition { reason: String },
    #[error("the record is too large ({size} bytes; the limit is {limit})")]
    TooLarge { size: u64, limit: u64 },
    /// Nothing was written; retry once space is freed.
    #[error("the device's storage is full")]
    StorageFull,
    #[error("storage error: {detail}")]
    Storage { detail: String },
    #[error("{detail}")]
    Internal { detail: String },
}

/// Syncing with the council's server.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum SyncError {
    #[error("this store was opened without a server")]
    NotConfigured,
    #[error("offline")]
    Offline,
    #[error("no access token")]
    NoToken,
    #[error("the server refused the access token")]
    Unauthorized,
    #[error("the server refused this device: {detail}")]
    Forbidden { detail: String },
    #[error("the server failed (HTTP {status})")]
    Server { status: u16 },
    #[error("the server's answer was not understood: {detail}")]
    Protocol { detail: String },
    #[error("the device's store failed: {detail}")]
    Store { detail: String },
    /// The server answered under another key than the one this device pinned on its first
    /// sync: nothing was applied.
    #[error("the server's key {presented} is not the key {pinned} this device pinned")]
    ServerKeyChanged { pinned: String, presented: String },
    #[error("{detail}")]
    Internal { detail: String },
}

impl FromPanic for OpenError {
    fn from_panic(message: String) -> Self {
        Self::Internal { detail: message }
    }
}

impl FromPanic for RecordError {
    fn from_panic(message: String) -> Self {
        Self::Internal { detail: message }
    }
}

impl FromPanic for SyncError {
    fn from_panic(message: String) -> Self {
        Self::Internal { detail: message }
    }
}

impl From<CoreError> for OpenError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::WrongKey => Self::WrongKey,
            CoreError::InvalidKeyLength(n) => Self::InvalidKey { length: n as u32 },
            CoreError::StoreTooNew { .. } => Self::StoreTooNew,
            other => Self::Storage { detail: other.to_string() },
        }
    }
}

impl From<CoreError> for RecordError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound { id } => Self::NotFound { id },
            CoreError::Incomplete(items) => {
                Self::Incomplete { missing: items.into_iter().map(Into::into).collect() }
            }
            CoreError::InvalidInput { field, reason } => {
                Self::InvalidInput { field: field.to_string(), reason }
            }
            CoreError::KindMismatch { expected, found } => {
                Self::WrongKind { expected: expected.into(), found: found.into() }
            }
            e @ CoreError::InvalidTransition { .. } => {
                Self::InvalidTransition { reason: e.to_string() }
            }
            CoreError::TooLarge { size, limit, .. } => {
                Self::TooLarge { size: size as u64, limit: limit as u64 }
            }
            CoreError::StorageFull => Self::StorageFull,
            other => Self::Storage { detail: other.to_string() },
        }
    }
}

impl From<SyncFailure> for SyncError {
    fn from(f: SyncFailure) -> Self {
        match f {
            SyncFailure::Offline => Self::Offline,
            SyncFailure::NoToken => Self::NoToken,
            SyncFailure::Unauthorized => Self::Unauthorized,
            SyncFailure::Forbidden { message } => Self::Forbidden { detail: message },
            SyncFailure::Server { status } => Self::Server { status },
            SyncFailure::Protocol { message } => Self::Protocol { detail: message },
            SyncFailure::Store { message } => Self::Store { detail: message },
            SyncFailure::ServerKeyChanged { pinned, presented } => {
                Self::ServerKeyChanged { pinned, presented }
            }
        }
    }
}
