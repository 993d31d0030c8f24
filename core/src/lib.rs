//! Fieldbook core: a social worker's case records as Automerge documents in an encrypted SQLite
//! store, with the statutory timescales and completeness rules computed offline.
//!
//! Layers, bottom up (see `ARCHITECTURE.md`; `core/tests/layers.rs` fails if a module imports
//! from a layer above it):
//! - [`codes`] and [`terms`]: the official code lists and the vocabulary every layer shares (field
//!   adapters, field conflicts, missing items).
//! - [`records`]: the typed records.
//! - [`error`] and [`limits`]: the core's error type and the size limits.
//! - [`document`]: one record as one Automerge document (whole-value edits, history, conflicts).
//! - [`rules`]: working days, statutory timescales, completeness checks. Pure functions.
//! - [`store`]: the encrypted SQLite store: durable writes, projections, queries, exchange.
//!
//! The core knows nothing of uniffi or HTTP servers.

pub mod attachments;
pub mod audit;
pub mod codes;
pub mod document;
pub mod error;
pub mod limits;
pub mod protocol;
pub mod records;
pub mod rules;
pub mod store;
#[cfg(feature = "sync-client")]
pub mod sync;
pub mod terms;

pub use document::{Author, ConflictValue, FieldConflict, HistoryEntry, Resolution};
pub use error::{Error, Result};
pub use store::{CaseRow, DocumentChanges, ImportReport, RecordRow, Store, StoreKey};
