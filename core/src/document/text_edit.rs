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
use serde_json::{Map, Value as Json};
use similar::{Algorithm, DiffOp};

use crate::error::Result;

/// The most time one text field's diff may take before falling back to a coarser one.
const DIFF_DEADLINE: Duration = Duration::from_millis(50);

/// Applies the text changes of the `changed` top-level fields, from `old` to `new` (the body's
/// fields as JSON), as splices. Returns those of them that are text fields written in full here,
/// which the reconcile that follows need not visit; the others (a list or map holding text, a
/// text whose document value differed from `old`) are left for it.
pub(super) fn splice_text_changes(
    doc: &mut AutoCommit,
    old: &Map<String, Json>,
    new: &Map<String, Json>,
    changed: &[String],
) -> Result<Vec<String>> {
    let Some((_, body)) = doc.get(ROOT, "body")? else {
        return Ok(Vec::new());
    };
    let mut written = Vec::new();
    for key in changed {
        let (Some(ov), Some(nv)) = (old.get(key), new.get(key)) else {
            continue;
        };
        if let Some((kind, id)) = object_at(doc, &body, key.as_str())? {
            if step(doc, kind, &id, ov, nv)? && kind == ObjType::Text {
                written.push(key.clone());
            }
        }
    }
    Ok(written)
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

/// Splices the texts under `id`; true when `id` is a text now holding `new`.
fn step(doc: &mut AutoCommit, kind: ObjType, id: &ObjId, old: &Json, new: &Json) -> Result<bool> {
    match (kind, old, new) {
        (ObjType::Text, Json::String(o), Json::String(n)) => {
            // Only when the document holds what the body says it holds. It always does: `body`
            // is hydrated from the document and rewritten with it on every edit and every
            // applied change (`RecordDoc`), so the text is not read back in full on every
            // autosave; its length (kept by automerge's index) guards against a mismatch.
            if doc.length(id) == o.chars().count() {
                splice_diff(doc, id, o, n)?;
                return Ok(true);
            }
            Ok(false)
        }
        (ObjType::Map | ObjType::List, _, _) => walk(doc, id, old, new).map(|()| false),
        _ => Ok(false),
    }
}

/// Diffs by Unicode code point (automerge's text index) and splices, first change first.
///
/// The common prefix and suffix are trimmed first (on `char` boundaries, which are automerge's
/// text positions: its default `TextEncoding` counts code points), so an autosave that types a
/// sentence into a 2,000-character field collects and diffs only the few changed characters,
/// not both whole texts.
///
/// Positions come from the lengths of the operations in order, not from their `old_index` /
/// `new_index`: `similar`'s Myers diff can report an insertion that follows an equal run at that
/// run's start (found by the convergence property test once the reconcile after the splices no
/// longer rewrote their mistakes; regression test below).
pub(super) fn splice_diff(doc: &mut AutoCommit, text: &ObjId, old: &str, new: &str) -> Result<()> {
    let (prefix, old_mid, new_mid) = changed_middle(old, new);
    if old_mid.is_empty() || new_mid.is_empty() {
        // A pure insertion or deletion (typing, a paste, a cut): one splice, no diff at all.
        if !(old_mid.is_empty() && new_mid.is_empty()) {
            let delete = old_mid.chars().count();
            doc.splice_text(text, prefix, delete as isize, new_mid)?;
        }
        return Ok(());
    }
    let o: Vec<char> = old_mid.chars().collect();
    let n: Vec<char> = new_mid.chars().collect();
    let deadline = Instant::now() + DIFF_DEADLINE;
    let ops = similar::capture_diff_slices_deadline(Algorithm::Myers, &o, &n, Some(deadline));
    // `at`: the position in the document's text (already-applied changes included);
    // `from`: how much of the new middle has been accounted for.
    let (mut at, mut from) = (prefix, 0usize);
    for op in &ops {
        let (delete, insert) = match *op {
            DiffOp::Equal { len, .. } => {
                at += len;
                from += len;
                continue;
            }
            DiffOp::Delete { old_len, .. } => (old_len, 0),
            DiffOp::Insert { new_len, .. } => (0, new_len),
            DiffOp::Replace { old_len, new_len, .. } => (old_len, new_len),
        };
        let inserted: String = n.get(from..from + insert).unwrap_or_default().iter().collect();
        doc.splice_text(text, at, delete as isize, &inserted)?;
        at += insert;
        from += insert;
    }
    Ok(())
}

/// The length in code points of the common prefix of `old` and `new`, and what lies between the
/// common prefix and the common suffix in each (never overlapping: "aa" -> "aaa" is a prefix of
/// 2 and an insertion of one "a", not a prefix and suffix that share a character).
pub(super) fn changed_middle<'a>(old: &'a str, new: &'a str) -> (usize, &'a str, &'a str) {
    let (mut chars, mut bytes) = (0usize, 0usize);
    for (a, b) in old.chars().zip(new.chars()) {
        if a != b {
            break;
        }
        chars += 1;
        bytes += a.len_utf8();
    }
    let (old_rest, new_rest) = (&old[bytes..], &new[bytes..]);
    let mut suffix = 0usize;
    for (a, b) in old_rest.chars().rev().zip(new_rest.chars().rev()) {
        if a != b {
            break;
        }
        suffix += a.len_utf8();
    }
    (chars, &old_rest[..old_rest.len() - suffix], &new_rest[..new_rest.len() - suffix])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn splices_turn_the_old_text_into_the_new_one() {
        // similar reports the insertion of " aja" in "ejotyd nsx" -> "ejoty aja nsx" at the
        // wrong place; applied as given, the text read "ejotyaja  nsx".
        let base: String = (0..600u32)
            .map(|i| if i % 7 == 3 { ' ' } else { char::from(b'a' + (i * 5 % 26) as u8) })
            .collect();
        for seed in 0..200usize {
            let mut doc = AutoCommit::new();
            let text = doc.put_object(ROOT, "t", ObjType::Text).unwrap();
            doc.splice_text(&text, 0, 0, &base).unwrap();
            let mut new = base.clone();
            let at = (seed * 37) % 590;
            let del = seed % 8;
            new.replace_range(at..at + del, &" aja".repeat(seed % 4));
            splice_diff(&mut doc, &text, &base, &new).unwrap();
            assert_eq!(doc.text(&text).unwrap(), new, "seed {seed}");
        }
    }
}
