//! The core's errors. One enum, rich enough to branch on; the FFI layer maps it to one small error
//! per API surface (see `ffi/`), and decides what is logged. Record contents never appear in an
//! error message: messages name fields, ids and codes only.

use crate::records::{RecordKind, RecordStatus};
use crate::terms::missing::MissingItem;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The key does not open this database (or the file is not a Fieldbook store).
    #[error("the store could not be opened with this key (wrong key, or not a Fieldbook store)")]
    WrongKey,
    #[error("the database key must be exactly 32 bytes, got {0}")]
    InvalidKeyLength(usize),
    /// The store was written by a newer Fieldbook.
    #[error("the store has schema version {found}; this build supports up to {supported}")]
    StoreTooNew { found: i64, supported: i64 },
    #[error("no record {id}")]
    NotFound { id: String },
    #[error("the record is a {found}, not a {expected}")]
    KindMismatch { expected: RecordKind, found: RecordKind },
    #[error("a {status} record cannot be {action}")]
    InvalidTransition { status: RecordStatus, action: &'static str },
    /// Completeness checks failed: every missing item is named.
    #[error("the record is not complete: {}", describe(.0))]
    Incomplete(Vec<MissingItem>),
    #[error("{field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
    #[error("the document has schema version {found}; this build supports up to {supported}")]
    UnsupportedSchema { found: u64, supported: u64 },
    #[error("the document is damaged: {reason}")]
    CorruptDocument { reason: String },
    /// A received change whose signature is missing, does not verify, or is by a key not
    /// registered to its author (issue #16): the document is refused, nothing of it applied.
    #[error("document {doc}: change {change}: {reason}")]
    Signature { doc: String, change: String, reason: String },
    /// The server answered under another key than the one this device pinned on its first
    /// sync (trust on first use): nothing of the answer is applied.
    #[error("the server's key {presented} is not the key {pinned} this device pinned")]
    ServerKeyChanged { pinned: String, presented: String },
    #[error("the document belongs to case {found}, expected {expected}")]
    CaseMismatch { expected: String, found: String },
    /// The device's storage is full (or the database reached its size limit). Nothing was
    /// written; everything written before is intact. Retry once space is freed.
    #[error("the device's storage is full: nothing was written")]
    StorageFull,
    /// A record larger than the limits (`crate::limits`): refused before anything is written.
    #[error("{what} is too large: {size} bytes, the limit is {limit}")]
    TooLarge { what: &'static str, size: usize, limit: usize },
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    // The document errors are boxed: they are large and rare, and every `Result` carries the enum.
    #[error("document error: {0}")]
    Automerge(Box<automerge::AutomergeError>),
    #[error("document write error: {0}")]
    Reconcile(Box<autosurgeon::ReconcileError>),
    #[error("document read error: {0}")]
    Hydrate(Box<autosurgeon::HydrateError>),
    #[error("encoding error: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => Self::StorageFull,
            _ => Self::Sqlite(e),
        }
    }
}

macro_rules! boxed_from {
    ($($variant:ident($ty:ty)),+) => {$(
        impl From<$ty> for Error {
            fn from(e: $ty) -> Self {
                Self::$variant(Box::new(e))
            }
        }
    )+};
}
boxed_from!(
    Automerge(automerge::AutomergeError),
    Reconcile(autosurgeon::ReconcileError),
    Hydrate(autosurgeon::HydrateError)
);

fn describe(items: &[MissingItem]) -> String {
    items.iter().map(|m| format!("{} {}", m.check, m.field)).collect::<Vec<_>>().join(", ")
}

impl Error {
    /// True when the error is the caller's input, not the device's storage.
    pub fn is_validation(&self) -> bool {
        matches!(
            self,
            Self::Incomplete(_)
                | Self::InvalidInput { .. }
                | Self::KindMismatch { .. }
                | Self::InvalidTransition { .. }
        )
    }
}
