//! Concurrent writes to the same scalar field. Automerge keeps every concurrently written value and
//! picks a deterministic winner; Fieldbook shows all of them, with their authors, so that the
//! loser is never silently hidden from the worker.

use automerge::{AutoCommit, ObjId, ObjType, ReadDoc, Value, ROOT};
use chrono::{TimeZone, Utc};

use super::authorship::parse_actor;
use crate::error::Result;
pub use crate::terms::conflict::{ConflictValue, FieldConflict};

/// Every conflicted field of the document's body (and lifecycle metadata).
pub fn find(doc: &AutoCommit) -> Result<Vec<FieldConflict>> {
    let mut out = Vec::new();
    for root_key in ["body", "meta"] {
        if let Some((Value::Object(_), obj)) = doc.get(ROOT, root_key)? {
            let prefix = if root_key == "body" { String::new() } else { "meta.".to_string() };
            walk(doc, &obj, &prefix, &mut out)?;
        }
    }
    Ok(out)
}

fn walk(doc: &AutoCommit, obj: &ObjId, path: &str, out: &mut Vec<FieldConflict>) -> Result<()> {
    match doc.object_type(obj)? {
        ObjType::Map | ObjType::Table => {
            for key in doc.keys(obj) {
                let child_path = format!("{path}{key}");
                visit(doc, obj, automerge::Prop::Map(key), &child_path, out)?;
            }
        }
        ObjType::List => {
            for i in 0..doc.length(obj) {
                let child_path = format!("{}[{i}]", path.trim_end_matches('.'));
                visit(doc, obj, automerge::Prop::Seq(i), &child_path, out)?;
            }
        }
        ObjType::Text => {}
    }
    Ok(())
}

fn visit(
    doc: &AutoCommit,
    obj: &ObjId,
    prop: automerge::Prop,
    path: &str,
    out: &mut Vec<FieldConflict>,
) -> Result<()> {
    let all = doc.get_all(obj, prop)?;
    if all.len() > 1 {
        // get_all lists values in ascending op order; the winner (the one `get` returns) is last.
        let values =
            all.iter()
                .rev()
                .map(|(value, id)| {
                    let (worker, device) = match id {
                        automerge::ObjId::Id(_, actor, _) => parse_actor(actor)
                            .unwrap_or_else(|| (String::new(), actor.to_hex_string())),
                        automerge::ObjId::Root => (String::new(), String::new()),
                    };
                    ConflictValue {
                        id: id.to_string(),
                        value: to_json(value),
                        worker,
                        device,
                        at: None,
                    }
                })
                .collect();
        out.push(FieldConflict { path: path.to_string(), values });
    }
    if let Some((Value::Object(kind), child)) = all.last().map(|(v, id)| (v.clone(), id.clone())) {
        if kind != ObjType::Text {
            walk(doc, &child, &format!("{path}."), out)?;
        }
    }
    Ok(())
}

/// Fills each value's `at` from the change that wrote it. Separate from `find` because reading
/// the change list needs the document mutably, and the conflict count of a projection does not
/// need times.
pub fn add_times(doc: &mut AutoCommit, conflicts: &mut [FieldConflict]) {
    if conflicts.is_empty() {
        return;
    }
    // (actor hex, first op, last op, seconds) of every change: an op id `counter@actor` belongs to
    // the change of that actor whose op range holds the counter.
    let changes: Vec<(String, u64, u64, i64)> = doc
        .get_changes_meta(&[])
        .into_iter()
        .map(|c| (c.actor.to_hex_string(), c.start_op, c.max_op, c.timestamp))
        .collect();
    for value in conflicts.iter_mut().flat_map(|c| c.values.iter_mut()) {
        let Some((counter, actor)) = value.id.split_once('@') else { continue };
        let Ok(counter) = counter.parse::<u64>() else { continue };
        value.at = changes
            .iter()
            .find(|(a, start, max, _)| a == actor && (*start..=*max).contains(&counter))
            .and_then(|(_, _, _, secs)| Utc.timestamp_opt(*secs, 0).single())
            .filter(|t| t.timestamp() != 0);
    }
}

pub(crate) fn to_json(value: &Value<'_>) -> serde_json::Value {
    match value {
        Value::Object(kind) => serde_json::Value::String(format!("<{kind}>")),
        Value::Scalar(s) => match s.as_ref() {
            automerge::ScalarValue::Str(s) => serde_json::Value::String(s.to_string()),
            automerge::ScalarValue::Int(i) => serde_json::Value::from(*i),
            automerge::ScalarValue::Uint(u) => serde_json::Value::from(*u),
            automerge::ScalarValue::F64(f) => serde_json::Value::from(*f),
            automerge::ScalarValue::Boolean(b) => serde_json::Value::Bool(*b),
            automerge::ScalarValue::Null => serde_json::Value::Null,
            other => serde_json::Value::String(other.to_string()),
        },
    }
}
