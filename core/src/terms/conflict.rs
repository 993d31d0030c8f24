//! What a field conflict is, as the records, the store and the FFI see it. How one is found in an
//! Automerge document is `crate::document::conflicts`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A field with more than one current value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldConflict {
    /// The field, as a path from the body: `child_seen`, `actions[2].owner`.
    pub path: String,
    /// Every value, the one the record shows (Automerge's winner) first.
    pub values: Vec<ConflictValue>,
}

/// One of the conflicting values and who wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConflictValue {
    /// Names this value for `Resolution::Choose`: the Automerge id of the operation that wrote it
    /// (`counter@actor`). Stable when more values arrive, unlike a position in `values`.
    #[serde(default)]
    pub id: String,
    /// The value as JSON (`true`, `"2026-03-26"`, `null`); an object or text as its type name.
    pub value: serde_json::Value,
    pub worker: String,
    pub device: String,
    /// When it was written, by the writing device's clock (advisory, like history's times).
    /// Filled by `add_times`; `None` from `find` alone.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}
