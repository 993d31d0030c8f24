//! Resolving a conflict: the worker picks one of a field's concurrent values, or writes a new one.
//!
//! Either way the resolution is one new Automerge write at the field, made after (causally
//! following) every value it saw, so it supersedes them all and the conflict is gone on every
//! device once the change syncs. A value written concurrently with the resolution is a new
//! conflict, shown again: nothing is hidden. Lifecycle metadata (`meta.*`) is never resolved by
//! hand (its steps have their own rules), nor is a case summary (read-only on the device).

use automerge::{transaction::Transactable, AutoCommit, ObjId, ObjType, Prop, ReadDoc, Value};
use automerge::{ScalarValue, ROOT};
use chrono::{DateTime, Utc};

use super::{changed_fields, fields_of, hydrate_body, Author, RecordDoc};
use crate::error::{Error, Result};
use crate::records::{Amendment, RecordKind, RecordStatus};

/// How a conflicted field is resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// Keep one of the values, named by its `ConflictValue::id`.
    Choose { value_id: String },
    /// Write a new value: a scalar as JSON (`true`, `"2026-03-27"`, `null`); a string for a text
    /// field replaces its text.
    Write { value: serde_json::Value },
}

impl RecordDoc {
    /// Resolves the conflict at `path` (a `FieldConflict::path`) as one change by `author`.
    /// Returns the body fields whose value changed (empty when the value kept is the one shown).
    /// An error leaves the document as it was.
    pub fn resolve_conflict(
        &mut self,
        author: &Author,
        path: &str,
        resolution: &Resolution,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        if self.meta.kind == RecordKind::CaseSummary {
            return Err(Error::InvalidInput {
                field: "id",
                reason: "a case summary is read-only on the device".into(),
            });
        }
        let props = parse_path(path)?;
        if let Err(e) = write_resolution(&mut self.doc, &props, resolution) {
            self.doc.rollback();
            return Err(e);
        }
        let body = match hydrate_body(&self.doc, self.meta.kind) {
            Ok(body) => body,
            Err(_) => {
                self.doc.rollback();
                return Err(Error::InvalidInput {
                    field: "value",
                    reason: format!("does not fit the field {path}"),
                });
            }
        };
        let new_fields = fields_of(serde_json::to_value(&body)?);
        let old_fields = match self.body_json.take() {
            Some(fields) => fields,
            None => fields_of(serde_json::to_value(&self.body)?),
        };
        let fields = changed_fields(&old_fields, &new_fields);
        self.body = body;
        self.body_json = Some(new_fields);
        // The history names the field resolved even when the value kept was the one shown.
        let top = match props.first() {
            Some(Prop::Map(k)) => k.clone(),
            _ => path.to_string(),
        };
        let labels = if fields.is_empty() { vec![top] } else { fields.clone() };
        if self.meta.status == RecordStatus::Authorised {
            let mut meta = self.meta.clone();
            meta.amendments.push(Amendment {
                id: crate::records::new_id(),
                by: author.worker.clone(),
                at: now,
                fields: labels.clone(),
            });
            self.write_meta(meta)?;
        }
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        self.commit(author, &labels, now);
        Ok(fields)
    }
}

fn bad_path(reason: &str) -> Error {
    Error::InvalidInput { field: "path", reason: reason.into() }
}

/// `actions[2].owner` -> [Map("actions"), Seq(2), Map("owner")], from the body.
fn parse_path(path: &str) -> Result<Vec<Prop>> {
    if path == "meta" || path.starts_with("meta.") {
        return Err(bad_path("lifecycle metadata is not resolved by hand"));
    }
    let mut props = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if name.is_empty() {
            return Err(bad_path("an empty field name"));
        }
        props.push(Prop::Map(name.to_string()));
        while let Some(inner) = rest.strip_prefix('[') {
            let (index, after) = inner.split_once(']').ok_or_else(|| bad_path("unclosed ["))?;
            let index = index.parse::<usize>().map_err(|_| bad_path("not a list index"))?;
            props.push(Prop::Seq(index));
            rest = after;
        }
        if !rest.is_empty() {
            return Err(bad_path("unexpected text after an index"));
        }
    }
    Ok(props)
}

fn write_resolution(doc: &mut AutoCommit, props: &[Prop], resolution: &Resolution) -> Result<()> {
    let (last, parents) = props.split_last().ok_or_else(|| bad_path("empty"))?;
    let mut obj = match doc.get(ROOT, "body")? {
        Some((Value::Object(_), id)) => id,
        _ => return Err(bad_path("the record has no body")),
    };
    for prop in parents {
        obj = match doc.get(&obj, prop.clone())? {
            Some((Value::Object(ObjType::Map | ObjType::List | ObjType::Table), id)) => id,
            _ => return Err(bad_path("no such field")),
        };
    }
    let values: Vec<(Value<'static>, ObjId)> =
        doc.get_all(&obj, last.clone())?.into_iter().map(|(v, id)| (v.into_owned(), id)).collect();
    if values.len() < 2 {
        return Err(bad_path("the field has no conflict to resolve"));
    }
    match resolution {
        Resolution::Choose { value_id } => {
            let (value, id) = values
                .iter()
                .find(|(_, id)| id.to_string() == *value_id)
                .ok_or_else(|| Error::InvalidInput {
                    field: "value_id",
                    reason: "not one of the field's values".into(),
                })?;
            match value {
                Value::Scalar(s) => doc.put(&obj, last.clone(), s.as_ref().clone())?,
                Value::Object(kind) => {
                    let copy = doc.put_object(&obj, last.clone(), *kind)?;
                    copy_object(doc, id, &copy)?;
                }
            }
        }
        Resolution::Write { value } => {
            // The shown value (Automerge's winner) is the last of `get_all`: it says whether the
            // field is text (an object) or a scalar.
            let text_field = matches!(values.last(), Some((Value::Object(ObjType::Text), _)));
            match (value, text_field) {
                (serde_json::Value::String(s), true) => {
                    let text = doc.put_object(&obj, last.clone(), ObjType::Text)?;
                    doc.splice_text(&text, 0, 0, s)?;
                }
                (v, _) => {
                    let uint = values.iter().any(|(v, _)| {
                        matches!(v, Value::Scalar(s) if matches!(s.as_ref(), ScalarValue::Uint(_)))
                    });
                    doc.put(&obj, last.clone(), scalar(v, uint)?)?;
                }
            }
        }
    }
    Ok(())
}

fn scalar(value: &serde_json::Value, uint: bool) -> Result<ScalarValue> {
    use serde_json::Value as J;
    Ok(match value {
        J::Null => ScalarValue::Null,
        J::Bool(b) => ScalarValue::Boolean(*b),
        J::String(s) => ScalarValue::Str(s.as_str().into()),
        J::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) if uint => ScalarValue::Uint(u),
            (_, Some(i), _) => ScalarValue::Int(i),
            (Some(u), None, _) => ScalarValue::Uint(u),
            (_, _, Some(f)) => ScalarValue::F64(f),
            _ => return Err(bad_value()),
        },
        J::Array(_) | J::Object(_) => return Err(bad_value()),
    })
}

fn bad_value() -> Error {
    Error::InvalidInput { field: "value", reason: "a new value must be a single value".into() }
}

/// Copies the object `from` into the new, empty object `to` of the same type (choosing a value
/// that is an object writes a copy of it, which supersedes every concurrent one).
fn copy_object(doc: &mut AutoCommit, from: &ObjId, to: &ObjId) -> Result<()> {
    match doc.object_type(from)? {
        ObjType::Map | ObjType::Table => {
            let keys: Vec<String> = doc.keys(from).collect();
            for key in keys {
                match doc.get(from, key.as_str())?.map(|(v, id)| (v.into_owned(), id)) {
                    Some((Value::Scalar(s), _)) => doc.put(to, key.as_str(), s.into_owned())?,
                    Some((Value::Object(kind), id)) => {
                        let child = doc.put_object(to, key.as_str(), kind)?;
                        copy_object(doc, &id, &child)?;
                    }
                    None => {}
                }
            }
        }
        ObjType::List => {
            for i in 0..doc.length(from) {
                match doc.get(from, i)?.map(|(v, id)| (v.into_owned(), id)) {
                    Some((Value::Scalar(s), _)) => doc.insert(to, i, s.into_owned())?,
                    Some((Value::Object(kind), id)) => {
                        let child = doc.insert_object(to, i, kind)?;
                        copy_object(doc, &id, &child)?;
                    }
                    None => {}
                }
            }
        }
        ObjType::Text => {
            let text = doc.text(from)?;
            doc.splice_text(to, 0, 0, &text)?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
