#![allow(clippy::unwrap_used, clippy::expect_used)]

use automerge::{transaction::Transactable, ObjType, ReadDoc, ROOT};
use chrono::{TimeZone, Utc};

use super::*;
use crate::document::FieldConflict;
use crate::records::{RecordBody, Visit, VisitKind};

fn at(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 26, h, 0, 0).unwrap()
}

fn visit(doc: &RecordDoc) -> Visit {
    match doc.body() {
        RecordBody::Visit(v) => v.clone(),
        other => panic!("{other:?}"),
    }
}

/// Two devices set `location` (and `child_seen`) differently offline; `a` has both edits after.
fn conflicted() -> (RecordDoc, RecordDoc, Author, Author) {
    let (amara, ben) = (Author::new("amara", "tablet-a"), Author::new("ben", "tablet-b"));
    let v = Visit::new(VisitKind::ChildInNeed, at(9));
    let mut a =
        RecordDoc::create(&amara, "r1".into(), "c1".into(), &RecordBody::Visit(v.clone()), at(9))
            .unwrap();
    let mut b = RecordDoc::load(&[&a.save()], ben.actor()).unwrap();
    let base = a.heads();
    let mut va = v.clone();
    va.location = "Family home".into();
    va.child_seen = Some(true);
    a.update_body(&amara, &RecordBody::Visit(va), at(10)).unwrap();
    let mut vb = v;
    vb.location = "School".into();
    vb.child_seen = Some(false);
    b.update_body(&ben, &RecordBody::Visit(vb), at(11)).unwrap();
    assert!(a.apply(&b.save_after(&base)).unwrap());
    (a, b, amara, ben)
}

fn conflict<'a>(all: &'a [FieldConflict], path: &str) -> &'a FieldConflict {
    all.iter().find(|c| c.path == path).unwrap_or_else(|| panic!("no conflict at {path}: {all:?}"))
}

#[test]
fn conflicts_name_each_value_with_who_and_when() {
    let (mut a, ..) = conflicted();
    let all = a.conflicts_with_times().unwrap();
    let location = conflict(&all, "location");
    let mut seen: Vec<(String, String, Option<DateTime<Utc>>)> = location
        .values
        .iter()
        .map(|v| (v.value.as_str().unwrap().to_string(), v.worker.clone(), v.at))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("Family home".to_string(), "amara".to_string(), Some(at(10))),
            ("School".to_string(), "ben".to_string(), Some(at(11))),
        ]
    );
    assert!(location.values.iter().all(|v| v.id.contains('@')), "{location:?}");
    // `find` alone has no times (the projection's count does not need them).
    assert!(a.conflicts().unwrap().iter().flat_map(|c| &c.values).all(|v| v.at.is_none()));
}

#[test]
fn choosing_the_value_not_shown_keeps_it_everywhere() {
    let (mut a, mut b, amara, _) = conflicted();
    let all = a.conflicts_with_times().unwrap();
    let location = conflict(&all, "location");
    let shown = visit(&a).location;
    let other = location.values.iter().find(|v| v.value != shown.as_str()).unwrap();
    let wanted = other.value.as_str().unwrap().to_string();
    let before = a.heads();
    let changed = a
        .resolve_conflict(
            &amara,
            "location",
            &Resolution::Choose { value_id: other.id.clone() },
            at(12),
        )
        .unwrap();
    assert_eq!(changed, ["location"]);
    assert_eq!(visit(&a).location, wanted);
    let left: Vec<String> = a.conflicts().unwrap().into_iter().map(|c| c.path).collect();
    assert_eq!(left, ["child_seen"], "only the other conflict is left");
    // The resolution syncs: the other device converges with no conflict at the field.
    b.apply(&a.save_after(&[])).unwrap();
    assert_eq!(visit(&b).location, wanted);
    assert!(b.conflicts().unwrap().iter().all(|c| c.path != "location"));
    let last = a.history().pop().unwrap();
    assert_eq!((last.worker.as_str(), last.fields), ("amara", vec!["location".to_string()]));
    assert_ne!(a.heads(), before);
}

#[test]
fn writing_a_new_value_resolves_and_an_authorised_record_records_an_amendment() {
    let (mut a, _, amara, _) = conflicted();
    let mut meta = a.meta().clone();
    meta.status = RecordStatus::Authorised;
    a.update_meta(&amara, meta, "authorised", at(12)).unwrap();
    let changed = a
        .resolve_conflict(
            &amara,
            "location",
            &Resolution::Write { value: serde_json::json!("Grandmother's flat") },
            at(13),
        )
        .unwrap();
    assert_eq!(changed, ["location"]);
    assert_eq!(visit(&a).location, "Grandmother's flat");
    assert_eq!(a.meta().amendments.last().unwrap().fields, ["location"]);
    a.resolve_conflict(
        &amara,
        "child_seen",
        &Resolution::Write { value: serde_json::json!(true) },
        at(13),
    )
    .unwrap();
    assert_eq!(visit(&a).child_seen, Some(true));
    assert!(a.conflicts().unwrap().is_empty());
}

#[test]
fn a_refused_resolution_leaves_the_document_as_it_was() {
    let (mut a, _, amara, _) = conflicted();
    let heads = a.heads();
    let body = a.body().clone();
    let cases: [(&str, Resolution, &str); 5] = [
        ("child_seen", Resolution::Write { value: serde_json::json!("yes") }, "value"),
        ("location", Resolution::Choose { value_id: "1@00".into() }, "value_id"),
        ("observations", Resolution::Write { value: serde_json::json!("x") }, "path"),
        ("meta.status", Resolution::Write { value: serde_json::json!("draft") }, "path"),
        ("location[", Resolution::Write { value: serde_json::json!("x") }, "path"),
    ];
    for (path, resolution, field) in cases {
        match a.resolve_conflict(&amara, path, &resolution, at(12)) {
            Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field, "{path}"),
            other => panic!("{path}: {other:?}"),
        }
        assert_eq!(a.heads(), heads, "{path}: nothing written");
        assert_eq!(a.body(), &body);
    }
    assert_eq!(a.conflicts().unwrap().len(), 2);
    // The same document still resolves afterwards.
    a.resolve_conflict(&amara, "child_seen", &Resolution::Write { value: true.into() }, at(12))
        .unwrap();
}

#[test]
fn choosing_a_text_object_copies_its_text() {
    // Two devices that each wrote `observations` as a new text object (as another implementation
    // or an older build might): the values are objects, and choosing one copies its text.
    let (amara, ben) = (Author::new("amara", "tablet-a"), Author::new("ben", "tablet-b"));
    let v = Visit::new(VisitKind::ChildInNeed, at(9));
    let mut a =
        RecordDoc::create(&amara, "r1".into(), "c1".into(), &RecordBody::Visit(v), at(9)).unwrap();
    let mut b = RecordDoc::load(&[&a.save()], ben.actor()).unwrap();
    let base = a.heads();
    for (doc, words) in [(&mut a.doc, "Tidy home."), (&mut b.doc, "Cold house.")] {
        let (_, body) = doc.get(ROOT, "body").unwrap().unwrap();
        let text = doc.put_object(&body, "observations", ObjType::Text).unwrap();
        doc.splice_text(&text, 0, 0, words).unwrap();
        doc.commit();
    }
    let changes = b.save_after(&base);
    a.apply(&changes).unwrap();
    let all = a.conflicts_with_times().unwrap();
    let obs = conflict(&all, "observations");
    assert_eq!(obs.values.len(), 2);
    let shown = visit(&a).observations;
    let other_words = if shown == "Tidy home." { "Cold house." } else { "Tidy home." };
    // Values of text are shown by their type; the one not shown is the other device's.
    let other = obs.values.get(1).unwrap();
    a.resolve_conflict(
        &amara,
        "observations",
        &Resolution::Choose { value_id: other.id.clone() },
        at(12),
    )
    .unwrap();
    assert_eq!(visit(&a).observations, other_words);
    assert!(a.conflicts().unwrap().is_empty());
    // Still a text object: later edits merge as splices.
    let (_, body) = a.doc.get(ROOT, "body").unwrap().unwrap();
    assert!(matches!(
        a.doc.get(&body, "observations").unwrap(),
        Some((automerge::Value::Object(ObjType::Text), _))
    ));
}
