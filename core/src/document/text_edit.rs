//! Turning a whole-string edit into splices, in bounded time.
//!
//! autosurgeon's text reconcile (automerge's `update_text`) runs a Myers diff, whose cost grows with the length of
//! the text times the size of the change: pasting a long report into a short field took minutes
//! and froze the app. Here every changed text field is diffed first with `similar` under a
//! deadline (past it, `similar` returns a coarser but correct diff) and the result is applied as
//! splices; the reconcile that follows then finds the texts equal and does no work. The splices
//! are as small as the diff, so a colleague's concurrent edits elsewhere in the text are kept.

use std::time::{Duration, Instant};

use automerge::{transaction::Transactable, AutoCommit, ObjId, ObjType, ReadDoc, ROOT};
use serde_json::Value as Json;
use similar::{Algorithm, DiffOp};

use crate::error::Result;
use crate::records::RecordBody;

/// The most time one text field's diff may take before falling back to a coarser one.
const DIFF_DEADLINE: Duration = Duration::from_millis(50);

/// Applies the text changes from `old` to `new` to the document's body as splices.
pub(super) fn splice_text_changes(
    doc: &mut AutoCommit,
    old: &RecordBody,
    new: &RecordBody,
) -> Result<()> {
    let (old, new) = (serde_json::to_value(old)?, serde_json::to_value(new)?);
    let Some((_, body)) = doc.get(ROOT, "body")? else {
        return Ok(());
    };
    walk(doc, &body, &old["fields"], &new["fields"])
}

/// Follows the fields that exist in both versions at the same place: map keys, and list items
/// when the list kept its length (otherwise the reconcile works out the list itself).
fn walk(doc: &mut AutoCommit, obj: &ObjId, old: &Json, new: &Json) -> Result<()> {
    match (old, new) {
        (Json::Object(o), Json::Object(n)) => {
            for (key, nv) in n {
                match o.get(key) {
                    Some(ov) if ov != nv => {
                        if let Some((kind, id)) = object_at(doc, obj, key.as_str())? {
                            step(doc, kind, &id, ov, nv)?;
                        }
                    }
                    _ => {}
                }
            }
        }
        (Json::Array(o), Json::Array(n)) if o.len() == n.len() => {
            for (i, (ov, nv)) in o.iter().zip(n).enumerate() {
                if ov != nv {
                    if let Some((kind, id)) = object_at(doc, obj, i)? {
                        step(doc, kind, &id, ov, nv)?;
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// The object (map, list, text) at `prop` of `obj`, if that is an object.
fn object_at(
    doc: &AutoCommit,
    obj: &ObjId,
    prop: impl Into<automerge::Prop>,
) -> Result<Option<(ObjType, ObjId)>> {
    Ok(match doc.get(obj, prop)? {
        Some((automerge::Value::Object(kind), id)) => Some((kind, id)),
        _ => None,
    })
}

fn step(doc: &mut AutoCommit, kind: ObjType, id: &ObjId, old: &Json, new: &Json) -> Result<()> {
    match (kind, old, new) {
        (ObjType::Text, Json::String(o), Json::String(n)) => {
            // Only when the document holds what the body says it holds (it always should).
            if doc.text(id)? == *o {
                splice_diff(doc, id, o, n)?;
            }
            Ok(())
        }
        (ObjType::Map | ObjType::List, _, _) => walk(doc, id, old, new),
        _ => Ok(()),
    }
}

/// Diffs by Unicode code point (automerge's text index) and splices, last change first so
/// that earlier positions stay valid.
fn splice_diff(doc: &mut AutoCommit, text: &ObjId, old: &str, new: &str) -> Result<()> {
    let o: Vec<char> = old.chars().collect();
    let n: Vec<char> = new.chars().collect();
    let deadline = Instant::now() + DIFF_DEADLINE;
    let ops = similar::capture_diff_slices_deadline(Algorithm::Myers, &o, &n, Some(deadline));
    for op in ops.iter().rev() {
        let (at, delete, insert) = match *op {
            DiffOp::Equal { .. } => continue,
            DiffOp::Delete { old_index, old_len, .. } => (old_index, old_len, 0..0),
            DiffOp::Insert { old_index, new_index, new_len } => {
                (old_index, 0, new_index..new_index + new_len)
            }
            DiffOp::Replace { old_index, old_len, new_index, new_len } => {
                (old_index, old_len, new_index..new_index + new_len)
            }
        };
        let inserted: String = n[insert].iter().collect();
        doc.splice_text(text, at, delete as isize, &inserted)?;
    }
    Ok(())
}
