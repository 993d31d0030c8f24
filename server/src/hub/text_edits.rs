//! Pushes that only edit text: most autosaves type into a visit's observations, and such a change
//! cannot alter anything the server derives from a record except its heads, so the hub need not
//! hydrate the whole record again to validate it and refresh its projection.
//!
//! Why that holds. A record the hub holds hot was validated when it was last written (it
//! hydrated as its kind, under its id and case), and the facts kept beside it were derived from
//! it. A change whose every operation inserts a character into, or deletes an element from, a
//! text object the document already holds creates no object, sets no map key, and moves no list
//! element outside text. Hydration reads text objects only where the schema has a text field
//! (`terms::fields::text`; a `String` field refuses a text object), and any characters hydrate
//! there, so the record still hydrates, as the same kind, with the same metadata. The facts
//! (`oversight::projection::DocFacts`) hold no text (a case summary's does: summaries never take
//! this path), so only their heads move. Anything else — a scalar set, an object made, a mark,
//! an edit of an object the document lacks — goes through the full hydration as before.
//!
//! Automerge still applies every change (`load_incremental_checked`) before anything is
//! accepted: an operation that does not fit the document is refused as malformed either way.

use std::collections::HashMap;

use automerge::legacy::{ObjectId, OpType};
use automerge::{AutoCommit, Change, ObjType, ScalarValue};

/// Whether every operation of `changes` edits text of an object `doc` already holds, as a text
/// object: an insertion of a string element, or a deletion.
pub(super) fn only_edit_text(doc: &AutoCommit, changes: &[Change]) -> bool {
    // Which of the objects named so far are text objects of the document.
    let mut text: HashMap<ObjectId, bool> = HashMap::new();
    for change in changes {
        for op in change.decode().operations {
            let is_edit = matches!(
                (&op.action, op.insert),
                (OpType::Put(ScalarValue::Str(_)), true) | (OpType::Delete, false)
            );
            if !is_edit {
                return false;
            }
            let held = *text.entry(op.obj).or_insert_with_key(|obj| match obj {
                ObjectId::Root => false,
                ObjectId::Id(_) => matches!(doc.import(&obj.to_string()), Ok((_, ObjType::Text))),
            });
            if !held {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use automerge::marks::{ExpandMark, Mark};
    use automerge::transaction::Transactable;
    use automerge::{ReadDoc, ROOT};

    use super::*;

    /// A document with a text object and a scalar, and a copy that will make the next change.
    fn pair() -> (AutoCommit, AutoCommit, automerge::ObjId) {
        let mut doc = AutoCommit::new();
        let text = doc.put_object(ROOT, "observations", ObjType::Text).unwrap();
        doc.splice_text(&text, 0, 0, "The child was settled.").unwrap();
        doc.put(ROOT, "location", "home").unwrap();
        let copy = doc.fork();
        (doc, copy, text)
    }

    /// The changes `edit` makes to `copy` that `doc` lacks.
    fn made(
        doc: &mut AutoCommit,
        copy: &mut AutoCommit,
        edit: impl FnOnce(&mut AutoCommit),
    ) -> Vec<Change> {
        let before = doc.get_heads();
        edit(copy);
        copy.get_changes(&before)
    }

    #[test]
    fn typing_and_deleting_in_a_text_field_is_a_text_edit() {
        let (mut doc, mut copy, text) = pair();
        let changes = made(&mut doc, &mut copy, |c| {
            c.splice_text(&text, 22, 0, " She showed me her room.").unwrap();
            c.commit();
            c.splice_text(&text, 0, 4, "").unwrap();
        });
        assert_eq!(changes.len(), 2);
        assert!(only_edit_text(&doc, &changes));
        assert!(only_edit_text(&doc, &[]), "nothing new: nothing to derive again");
    }

    type Edit = dyn FnOnce(&mut AutoCommit, &automerge::ObjId);

    #[test]
    fn anything_but_text_edits_of_held_text_is_not() {
        let cases: Vec<(&str, Box<Edit>)> = vec![
            ("a scalar set", Box::new(|c, _| c.put(ROOT, "location", "school").unwrap())),
            ("a key deleted", Box::new(|c, _| c.delete(ROOT, "location").unwrap())),
            (
                "an object made",
                Box::new(|c, _| {
                    c.put_object(ROOT, "observations", ObjType::Text).unwrap();
                }),
            ),
            (
                "a mark",
                Box::new(|c, t| {
                    let mark = Mark::new("bold".into(), true, 0, 3);
                    c.mark(t, mark, ExpandMark::None).unwrap();
                }),
            ),
            (
                "text typed, then a scalar set",
                Box::new(|c, t| {
                    c.splice_text(t, 0, 0, "x").unwrap();
                    c.put(ROOT, "location", "school").unwrap();
                }),
            ),
        ];
        for (what, edit) in cases {
            let (mut doc, mut copy, text) = pair();
            let changes = made(&mut doc, &mut copy, |c| edit(c, &text));
            assert!(!changes.is_empty(), "{what}");
            assert!(!only_edit_text(&doc, &changes), "{what}");
        }
    }

    #[test]
    fn an_edit_of_text_the_document_lacks_is_not() {
        // The copy makes a text object of its own and types in it: the second change alone
        // edits text, but of an object the stored document does not hold.
        let (mut doc, mut copy, _) = pair();
        let new_text = copy.put_object(ROOT, "analysis", ObjType::Text).unwrap();
        copy.commit();
        let made_text = copy.get_changes(&doc.get_heads());
        let typed = made(&mut doc, &mut copy, |c| c.splice_text(&new_text, 0, 0, "x").unwrap());
        let only_typing: Vec<Change> =
            typed.into_iter().filter(|c| !made_text.iter().any(|m| m.hash() == c.hash())).collect();
        assert_eq!(only_typing.len(), 1);
        assert!(!only_edit_text(&doc, &only_typing));
        doc.apply_changes(made_text).unwrap();
        assert!(only_edit_text(&doc, &only_typing), "held once the object is");
        assert_eq!(doc.length(&new_text), 0);
    }
}
