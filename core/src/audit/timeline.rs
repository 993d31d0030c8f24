//! The human-readable part of a bundle: for each record, every change in causal order with who
//! made it (the worker and device its Automerge actor names, and for a change the server signed
//! on someone's behalf, whom it acted for), when (the device's clock: advisory), which steps
//! and fields its message names, and what it changed as a diff of the record before and after
//! it. The version first submitted for oversight is shown whole; each later change is marked as
//! an amendment.
//!
//! Derived only from the change bytes (and the signatures' `acting`), so the verifier rebuilds
//! it and fails a bundle whose timeline says anything the changes do not.

use std::collections::{BTreeMap, HashMap};

use automerge::{AutoCommit, ChangeHash};
use chrono::{TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::document::authorship::{parse_actor, ChangeMessage};
use crate::document::RecordDoc;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordTimeline {
    pub record: String,
    /// The record's fields and metadata (`meta.*`) as first submitted for oversight; `None` while
    /// it was never submitted.
    pub submitted_version: Option<BTreeMap<String, Value>>,
    pub entries: Vec<TimelineEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// The change hash, hex.
    pub change: String,
    /// RFC 3339, the device's clock when the change was made (advisory: a device's clock can be
    /// wrong; the server's receipts carry its own).
    pub at: Option<String>,
    /// The worker and device the change's actor names.
    pub worker: String,
    pub device: String,
    /// For a change the server made and signed on someone's behalf: `manager:<subject>` or
    /// `integration:<subject>`.
    pub acting: Option<String>,
    /// What the change's message says it did: `created`, `submitted`, `authorised`, or the
    /// fields edited.
    pub steps: Vec<String>,
    /// Made after the record was first submitted: an amendment of the submitted version.
    pub amendment: bool,
    /// Every field whose value differs between the record before and after the change.
    pub diff: Vec<FieldDiff>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDiff {
    /// A body field (`observations`), or a metadata field (`meta.status`).
    pub field: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {record}: its changes do not load as a Fieldbook record ({reason})")]
pub struct TimelineError {
    pub record: String,
    pub reason: String,
}

/// The timeline of one record from its change chunks (any order) and the `acting` of the
/// changes the server signed on someone's behalf (by hash).
pub fn build(
    record: &str,
    changes: &[Vec<u8>],
    acting: &HashMap<[u8; 32], String>,
) -> Result<RecordTimeline, TimelineError> {
    let fail = |reason: String| TimelineError { record: record.to_string(), reason };
    let all: Vec<u8> = changes.concat();
    let doc = RecordDoc::from_changes(&all, automerge::ActorId::random())
        .map_err(|e| fail(e.to_string()))?;
    let mut doc = doc.into_doc();
    let ordered = doc.get_changes(&[]);
    let mut entries = Vec::with_capacity(ordered.len());
    let mut submitted_version = None;
    for change in &ordered {
        let before = fields_at(&mut doc, change.deps()).map_err(fail)?;
        let after = fields_at(&mut doc, &[change.hash()]).map_err(fail)?;
        let was_submitted = before.as_ref().is_some_and(|b| status_of(b) != "draft");
        let after = after.ok_or_else(|| fail("a change leaves no record".into()))?;
        if submitted_version.is_none() && status_of(&after) != "draft" {
            submitted_version = Some(after.clone());
        }
        let message = change.message().and_then(ChangeMessage::decode);
        let (worker, device) = match (&message, parse_actor(change.actor_id())) {
            (Some(m), _) => (m.worker.clone(), m.device.clone()),
            (None, Some(wd)) => wd,
            (None, None) => (String::new(), change.actor_id().to_hex_string()),
        };
        entries.push(TimelineEntry {
            change: hex::encode(change.hash().0),
            at: Utc
                .timestamp_opt(change.timestamp(), 0)
                .single()
                .filter(|_| change.timestamp() != 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            worker,
            device,
            acting: acting.get(&change.hash().0).cloned(),
            steps: message.map(|m| m.fields).unwrap_or_default(),
            amendment: was_submitted,
            diff: diff(before.as_ref(), &after),
        });
    }
    Ok(RecordTimeline { record: record.to_string(), submitted_version, entries })
}

fn status_of(fields: &BTreeMap<String, Value>) -> &str {
    fields.get("meta.status").and_then(Value::as_str).unwrap_or("draft")
}

/// The record's fields (body fields by name, metadata as `meta.<name>`) as of `heads`; `None`
/// before the record existed (no heads).
fn fields_at(
    doc: &mut AutoCommit,
    heads: &[ChangeHash],
) -> Result<Option<BTreeMap<String, Value>>, String> {
    if heads.is_empty() {
        return Ok(None);
    }
    let fork = doc.fork_at(heads).map_err(|e| e.to_string())?;
    let record = RecordDoc::from_doc(fork).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    if let Value::Object(meta) = json(record.meta()) {
        for (k, v) in meta {
            out.insert(format!("meta.{k}"), v);
        }
    }
    if let Value::Object(mut body) = json(record.body()) {
        if let Some(Value::Object(fields)) = body.remove("fields") {
            out.extend(fields);
        }
    }
    // An empty field is absent: `before`/`after` are never `Some(null)`, which JSON could not
    // tell from `None`.
    out.retain(|_, v| !v.is_null());
    Ok(Some(out))
}

/// A record part as JSON (plain data: cannot fail; `Null` if it ever did).
fn json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn diff(
    before: Option<&BTreeMap<String, Value>>,
    after: &BTreeMap<String, Value>,
) -> Vec<FieldDiff> {
    let empty = BTreeMap::new();
    let before = before.unwrap_or(&empty);
    let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let (b, a) = (before.get(name), after.get(name));
            (b != a).then(|| FieldDiff {
                field: name.clone(),
                before: b.cloned(),
                after: a.cloned(),
            })
        })
        .collect()
}
