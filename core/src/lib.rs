//! Fieldbook core: a social worker's case records as Automerge documents in an encrypted SQLite
//! store, with the statutory timescales and completeness rules computed offline.
//!
//! Layers, bottom up (see `ARCHITECTURE.md`):
//! - [`codes`] and [`records`]: the typed records and the official code lists.
//! - [`document`]: one record as one Automerge document (whole-value edits, history, conflicts).
//! - [`rules`]: working days, statutory timescales, completeness checks. Pure functions.
//! - [`store`]: the encrypted SQLite store: durable writes, projections, queries, exchange.
//!
//! The core knows nothing of uniffi or HTTP servers.

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

pub use document::{Author, ConflictValue, FieldConflict, HistoryEntry, Resolution};
pub use error::{Error, Result};
pub use store::{CaseRow, DocumentChanges, ImportReport, RecordRow, Store, StoreKey};
