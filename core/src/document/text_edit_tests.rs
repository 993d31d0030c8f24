//! Property tests of the minimal text edit (`text_edit`): any old text becomes any new one, in
//! multi-byte Unicode too, with operations only for what changed, and two devices editing apart
//! still merge keeping both edits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automerge::{transaction::Transactable, AutoCommit, ObjType, ReadDoc, ROOT};
use chrono::Utc;
use proptest::prelude::*;

use super::text_edit::{changed_middle, splice_diff};
use super::{Author, RecordDoc};
use crate::records::{RecordBody, Visit, VisitKind};

/// Pieces that make texts hard to index: ASCII, precomposed and combining accents, a ZWJ emoji
/// sequence, a flag (two regional indicators), CJK, a four-byte emoji and whitespace.
const PIECES: &[&str] =
    &["a", "b", " ", "é", "e\u{301}", "👩\u{200d}👧", "🇬🇧", "漢", "😀", "\n", "ab", "\u{301}"];

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(PIECES), 0..max).prop_map(|p| p.concat())
}

/// A text and a replacement of one char range of it: (old, start, end, replacement), in chars.
fn edit() -> impl Strategy<Value = (String, usize, usize, String)> {
    (text(40), any::<prop::sample::Index>(), any::<prop::sample::Index>(), text(8)).prop_map(
        |(old, a, b, with)| {
            let n = old.chars().count();
            let (a, b) = (a.index(n + 1), b.index(n + 1));
            (old, a.min(b), a.max(b), with)
        },
    )
}

fn replace_chars(s: &str, start: usize, end: usize, with: &str) -> String {
    let head: String = s.chars().take(start).collect();
    let tail: String = s.chars().skip(end).collect();
    format!("{head}{with}{tail}")
}

fn text_doc(old: &str) -> (AutoCommit, automerge::ObjId) {
    let mut doc = AutoCommit::new();
    let t = doc.put_object(ROOT, "t", ObjType::Text).unwrap();
    doc.splice_text(&t, 0, 0, old).unwrap();
    doc.commit();
    (doc, t)
}

/// Operations in the document's last change.
fn last_change_ops(doc: &mut AutoCommit) -> u64 {
    let heads = doc.get_heads();
    let meta = doc.get_change_meta_by_hash(&heads[0]).unwrap();
    meta.max_op - meta.start_op + 1
}

fn visit_with(observations: &str) -> Visit {
    let mut v = Visit::new(VisitKind::ChildInNeed, "2026-01-05T10:00:00Z".parse().unwrap());
    v.observations = observations.to_string();
    v
}

fn observations(doc: &RecordDoc) -> String {
    match doc.body() {
        RecordBody::Visit(v) => v.observations.clone(),
        other => panic!("not a visit: {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn any_text_becomes_any_other(old in text(40), new in text(40)) {
        let (mut doc, t) = text_doc(&old);
        splice_diff(&mut doc, &t, &old, &new).unwrap();
        prop_assert_eq!(doc.text(&t).unwrap(), new);
    }

    #[test]
    fn the_middle_is_what_lies_between_the_common_ends(old in text(40), new in text(40)) {
        let (prefix, old_mid, new_mid) = changed_middle(&old, &new);
        let head: String = old.chars().take(prefix).collect();
        prop_assert!(old.starts_with(&head) && new.starts_with(&head));
        let old_tail = &old[head.len() + old_mid.len()..];
        let new_tail = &new[head.len() + new_mid.len()..];
        prop_assert_eq!(old_tail, new_tail);
        // Maximal: the middles neither start nor end with the same character.
        if let (Some(a), Some(b)) = (old_mid.chars().next(), new_mid.chars().next()) {
            prop_assert_ne!(a, b);
        }
        if let (Some(a), Some(b)) = (old_mid.chars().next_back(), new_mid.chars().next_back()) {
            prop_assert_ne!(a, b);
        }
    }

    #[test]
    fn an_edit_of_one_range_writes_no_more_than_that_range((old, start, end, with) in edit()) {
        let new = replace_chars(&old, start, end, &with);
        let (mut doc, t) = text_doc(&old);
        let before = doc.get_heads();
        splice_diff(&mut doc, &t, &old, &new).unwrap();
        doc.commit();
        prop_assert_eq!(doc.text(&t).unwrap(), new.clone());
        if old == new {
            prop_assert_eq!(doc.get_heads(), before);
        } else {
            // One operation per inserted or deleted code point at most, however long the text.
            let bound = (end - start + with.chars().count()) as u64;
            prop_assert!(last_change_ops(&mut doc) <= bound);
        }
    }

    #[test]
    fn two_devices_editing_apart_merge_keeping_both(
        (left, a_start, a_end, a_with) in edit(),
        (right, b_start, b_end, b_with) in edit(),
    ) {
        // Alice edits before a separator that neither text holds, Bob after it: however the
        // trimming slides an edit along a run of equal characters, it cannot cross the separator,
        // so the merge has one right answer. (Edits at the same place interleave as automerge
        // decides, which the convergence tests cover.)
        let old = format!("{left}#{right}");
        let new_a = format!("{}#{right}", replace_chars(&left, a_start, a_end, &a_with));
        let new_b = format!("{left}#{}", replace_chars(&right, b_start, b_end, &b_with));
        let expected = format!(
            "{}#{}",
            replace_chars(&left, a_start, a_end, &a_with),
            replace_chars(&right, b_start, b_end, &b_with)
        );
        let (alice, bob) = (Author::new("w1", "tablet-1"), Author::new("w2", "phone-1"));
        let now = Utc::now();
        let body = RecordBody::Visit(visit_with(&old));
        let mut a = RecordDoc::create(&alice, "r1".into(), "c1".into(), &body, now).unwrap();
        let base = a.heads();
        let mut b = RecordDoc::load(&[&a.save()], bob.actor()).unwrap();
        a.update_body(&alice, &RecordBody::Visit(visit_with(&new_a)), now).unwrap();
        b.update_body(&bob, &RecordBody::Visit(visit_with(&new_b)), now).unwrap();
        prop_assert_eq!(observations(&a), new_a);
        prop_assert_eq!(observations(&b), new_b);
        let from_b = b.save_after(&base);
        let from_a = a.save_after(&base);
        a.apply(&from_b).unwrap();
        b.apply(&from_a).unwrap();
        prop_assert_eq!(observations(&a), expected.clone());
        prop_assert_eq!(observations(&b), expected);
    }
}
