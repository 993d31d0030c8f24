//! A whole document's changes read without loading it: each change's hash and author, and
//! whether they form one line of history. A new tablet downloading a caseload stores records
//! this way (`store::exchange`): the signatures are checked against these hashes, and the
//! server's list row is taken for the document only when its heads are exactly this line's
//! head. A line has no concurrent changes, so no field of the document can be in conflict.
//!
//! Only each change's header is read (`chunks::change_header`: its hash, computed and checked
//! against the chunk's checksum as automerge does, its dependencies and its author), after the
//! same walk of the chunk headers as any received bytes (`chunks::change_chunks`). Its
//! operations are not decoded here: a signature that verifies binds them to their author, and
//! automerge checks them when the record is first loaded.

use std::collections::HashMap;

use automerge::{ActorId, ChangeHash};

use super::chunks;

/// The changes of a document that form one line: every change but the first builds on exactly
/// the one before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Each change's hash and author, oldest first.
    pub authors: Vec<(ChangeHash, ActorId)>,
    /// The newest change: the document's only head.
    pub head: ChangeHash,
}

/// Reads `bytes` (concatenated change chunks) as a whole document's history. `None` when the
/// changes are not one line — concurrent edits, a change missing, a change listed twice — or
/// do not parse: then the document must be loaded, and loading it reports what is wrong the
/// way every received document's damage is reported (a checksum, a missing dependency).
pub fn line_of(bytes: &[u8]) -> Option<Line> {
    let parts = chunks::change_chunks(bytes).ok()?;
    let mut next: HashMap<ChangeHash, ChangeHash> = HashMap::with_capacity(parts.len());
    let mut authors: HashMap<ChangeHash, ActorId> = HashMap::with_capacity(parts.len());
    let mut first = None;
    for part in parts {
        let change = chunks::change_header(part).ok()?;
        let hash = change.hash;
        if authors.insert(hash, change.actor).is_some() {
            return None;
        }
        match change.deps.as_slice() {
            [] if first.is_none() => first = Some(hash),
            [dep] => {
                // Two changes building on the same one are concurrent.
                if next.insert(*dep, hash).is_some() {
                    return None;
                }
            }
            _ => return None,
        }
    }
    let mut at = first?;
    // Walk the line from its first change; it must reach every change received.
    let mut order = Vec::with_capacity(authors.len());
    loop {
        // Each change is taken once, so the walk ends.
        let actor = authors.remove(&at)?;
        order.push((at, actor));
        match next.get(&at) {
            Some(n) => at = *n,
            None => break,
        }
    }
    if !authors.is_empty() {
        return None;
    }
    Some(Line { authors: order, head: at })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use automerge::{transaction::Transactable, AutoCommit, ReadDoc, ROOT};

    use super::*;

    fn edit(doc: &mut AutoCommit, key: &str, value: &str) {
        doc.put(ROOT, key, value).unwrap();
        doc.commit();
    }

    #[test]
    fn a_line_of_changes_is_read_with_its_head_and_authors() {
        let mut doc = AutoCommit::new().with_actor(ActorId::from(b"w1-tab".as_slice()));
        for n in 0..4 {
            edit(&mut doc, "note", &format!("draft {n}"));
        }
        let line = line_of(&doc.save_after(&[])).expect("one line");
        assert_eq!(vec![line.head], doc.get_heads());
        let hashes: Vec<ChangeHash> = line.authors.iter().map(|(h, _)| *h).collect();
        let expected: Vec<ChangeHash> = doc.get_changes(&[]).iter().map(|c| c.hash()).collect();
        assert_eq!(hashes, expected, "oldest first");
        assert!(line.authors.iter().all(|(_, a)| a.to_bytes() == b"w1-tab"));
    }

    #[test]
    fn concurrent_changes_are_not_a_line() {
        let mut a = AutoCommit::new().with_actor(ActorId::from(b"a".as_slice()));
        edit(&mut a, "note", "base");
        let mut b = a.fork().with_actor(ActorId::from(b"b".as_slice()));
        edit(&mut a, "note", "from a");
        edit(&mut b, "note", "from b");
        a.merge(&mut b).unwrap();
        assert_eq!(a.get_all(ROOT, "note").unwrap().len(), 2, "a conflict");
        assert_eq!(line_of(&a.save_after(&[])), None);
        // Resolved by a later edit, the history is still not a line: the document is loaded.
        edit(&mut a, "note", "resolved");
        assert_eq!(line_of(&a.save_after(&[])), None);
    }

    #[test]
    fn a_gap_or_a_repeat_is_not_a_line() {
        let mut doc = AutoCommit::new();
        for n in 0..3 {
            edit(&mut doc, "note", &format!("draft {n}"));
        }
        let changes = doc.get_changes(&[]);
        let raw: Vec<Vec<u8>> = changes.iter().map(|c| c.raw_bytes().to_vec()).collect();
        // The middle change missing.
        assert_eq!(line_of(&[raw[0].clone(), raw[2].clone()].concat()), None);
        // The first missing: no change without dependencies.
        assert_eq!(line_of(&[raw[1].clone(), raw[2].clone()].concat()), None);
        // A change twice.
        assert_eq!(line_of(&[raw[0].clone(), raw[1].clone(), raw[1].clone()].concat()), None);
        // In another order, still the same line.
        let line = line_of(&[raw[2].clone(), raw[0].clone(), raw[1].clone()].concat());
        assert_eq!(line.map(|l| l.head), Some(changes[2].hash()));
    }

    #[test]
    fn damaged_bytes_are_not_a_line() {
        let mut doc = AutoCommit::new();
        edit(&mut doc, "note", "x");
        let bytes = doc.save_after(&[]);
        assert_eq!(line_of(&bytes[..bytes.len() - 1]), None, "cut short");
        assert_eq!(line_of(b"not automerge at all"), None);
    }
}
