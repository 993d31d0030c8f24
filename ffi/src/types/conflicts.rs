//! A record's conflicts as the app shows them (each value, who wrote it and when) and how the
//! worker resolves one. Values are typed (`FieldValue`), never JSON text.

use fieldbook_core::document as core;

use crate::errors::RecordError;

/// A field's value as the document holds it. Dates are `Text` in ISO form; codes are `Text`.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum FieldValue {
    Null,
    Bool {
        value: bool,
    },
    Int {
        value: i64,
    },
    Float {
        value: f64,
    },
    Text {
        value: String,
    },
    /// A nested value (a text object, a list, a map), named by its type: choose it by id.
    Object {
        kind: String,
    },
}

impl From<&serde_json::Value> for FieldValue {
    fn from(v: &serde_json::Value) -> Self {
        use serde_json::Value as J;
        match v {
            J::Null => Self::Null,
            J::Bool(b) => Self::Bool { value: *b },
            J::Number(n) => match n.as_i64() {
                Some(i) => Self::Int { value: i },
                None => Self::Float { value: n.as_f64().unwrap_or(f64::NAN) },
            },
            // The core names an object value by its type in angle brackets (`<text>`, `<map>`).
            J::String(s) if s.starts_with('<') && s.ends_with('>') && s.len() > 2 => {
                Self::Object { kind: s[1..s.len() - 1].to_string() }
            }
            J::String(s) => Self::Text { value: s.clone() },
            other => Self::Object { kind: if other.is_array() { "list" } else { "map" }.into() },
        }
    }
}

impl FieldValue {
    fn into_json(self) -> Result<serde_json::Value, RecordError> {
        Ok(match self {
            Self::Null => serde_json::Value::Null,
            Self::Bool { value } => value.into(),
            Self::Int { value } => value.into(),
            Self::Float { value } => serde_json::Number::from_f64(value)
                .map(serde_json::Value::Number)
                .ok_or_else(|| RecordError::InvalidInput {
                    field: "value".into(),
                    reason: "not a finite number".into(),
                })?,
            Self::Text { value } => value.into(),
            Self::Object { .. } => {
                return Err(RecordError::InvalidInput {
                    field: "value".into(),
                    reason: "an object is kept by choosing it, not written".into(),
                })
            }
        })
    }
}

/// One of a field's concurrent values.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ConflictValue {
    /// Pass to `Resolution::Choose` to keep this value.
    pub id: String,
    pub value: FieldValue,
    pub worker: String,
    pub device: String,
    /// When it was written, by the writing device's clock (advisory), Unix ms.
    pub at_ms: Option<i64>,
    /// The value the record shows until the conflict is resolved.
    pub shown: bool,
}

/// A field two people set differently at the same time.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct FieldConflict {
    /// The field as a path from the record's fields: `child_seen`, `agencies_consulted[1].date`.
    pub path: String,
    /// The top-level field it is in (`agencies_consulted`), for the screen to point at.
    pub field: String,
    /// Every value, the one shown first.
    pub values: Vec<ConflictValue>,
}

impl From<core::FieldConflict> for FieldConflict {
    fn from(c: core::FieldConflict) -> Self {
        let field = c.path.split(['.', '[']).next().unwrap_or_default().to_string();
        let values = c
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| ConflictValue {
                id: v.id.clone(),
                value: (&v.value).into(),
                worker: v.worker.clone(),
                device: v.device.clone(),
                at_ms: v.at.map(|t| t.timestamp_millis()),
                shown: i == 0,
            })
            .collect();
        Self { path: c.path, field, values }
    }
}

/// How the worker resolves a conflict.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum Resolution {
    /// Keep one of the values (its `ConflictValue::id`).
    Choose { value_id: String },
    /// Write a new value (text for a text field replaces its text).
    Write { value: FieldValue },
}

impl Resolution {
    pub(crate) fn into_core(self) -> Result<core::Resolution, RecordError> {
        Ok(match self {
            Self::Choose { value_id } => core::Resolution::Choose { value_id },
            Self::Write { value } => core::Resolution::Write { value: value.into_json()? },
        })
    }
}
