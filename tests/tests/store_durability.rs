//! What is acknowledged is on disk, encrypted, and only the right key opens it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fieldbook_core::records::{CaseNote, CaseNoteCategory, RecordBody};
use fieldbook_core::{Error, Store};
use fieldbook_tests::{at, open_at, realistic_visit, summary, visit_body, Scratch, KEY};

const PLANTED: &[&str] = &[
    "PLANTED-CHILD-WORDS-7f3a",
    "PLANTED-OBSERVATION-91bc",
    "PLANTED-CHILD-NAME-Zebedee",
    "PLANTED-NOTE-44d0",
];

#[test]
fn reopening_after_every_write_returns_exactly_what_was_acknowledged() {
    let scratch = Scratch::new();
    let path = scratch.path("worker.db");
    let mut expected: Vec<(String, RecordBody)> = Vec::new();
    for step in 0..12 {
        let mut store = open_at(&path, "w1", "tablet-1");
        // Everything acknowledged before is there, exactly.
        for (id, body) in &expected {
            assert_eq!(&store.record(id).unwrap().body, body, "step {step}: record {id}");
        }
        assert_eq!(store.case_records("case-1").unwrap().len(), expected.len());
        if step % 3 == 2 {
            // Edit an existing record.
            let (id, body) = expected.last_mut().unwrap();
            if let RecordBody::Visit(v) = body {
                v.analysis.push_str(&format!(" Update {step}."));
                v.location = format!("Location {step}");
            }
            store.update_record(id, body).unwrap();
        } else {
            let mut v = realistic_visit(step);
            v.observations = format!("Visit number {step}");
            let body = visit_body(v);
            let id = store.create_record("case-1", &body).unwrap();
            expected.push((id, body));
        }
        // Dropped without any shutdown step: only what was committed counts.
        drop(store);
    }
    let store = open_at(&path, "w1", "tablet-1");
    assert!(store.integrity_check().unwrap().is_empty());
}

#[test]
fn the_database_file_and_wal_contain_no_planted_strings() {
    let scratch = Scratch::new();
    let path = scratch.path("worker.db");
    {
        let mut store = open_at(&path, "w1", "tablet-1");
        store.put_case_summary("case-1", &summary("AB123", PLANTED[2])).unwrap();
        let mut v = realistic_visit(3);
        v.child_views[0].text = format!("She said {}", PLANTED[0]);
        v.observations = format!("Seen: {}", PLANTED[1]);
        let id = store.create_record("case-1", &visit_body(v.clone())).unwrap();
        v.analysis = format!("{} again", PLANTED[1]);
        store.update_record(&id, &visit_body(v)).unwrap();
        store
            .create_record(
                "case-1",
                &RecordBody::CaseNote(CaseNote {
                    category: CaseNoteCategory::PhoneCall,
                    occurred_at: at(2026, 3, 26, 9),
                    text: PLANTED[3].into(),
                    attachments: Vec::new(),
                }),
            )
            .unwrap();
        // Inspect the files while the store is open, WAL included.
        for file in std::fs::read_dir(scratch.dir.path()).unwrap() {
            let bytes = std::fs::read(file.unwrap().path()).unwrap();
            for planted in PLANTED {
                assert!(!contains(&bytes, planted.as_bytes()), "{planted} found in a file");
            }
        }
        assert!(store.integrity_check().unwrap().is_empty());
    }
    let bytes = std::fs::read(&path).unwrap();
    assert!(!contains(&bytes, b"SQLite format 3"), "the header is plaintext");
    for planted in PLANTED {
        assert!(!contains(&bytes, planted.as_bytes()), "{planted} found after close");
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_wrong_key_is_refused_and_the_database_is_untouched() {
    let scratch = Scratch::new();
    let path = scratch.path("worker.db");
    let id = {
        let mut store = open_at(&path, "w1", "tablet-1");
        store.create_record("case-1", &visit_body(realistic_visit(1))).unwrap()
    };
    let before = std::fs::read(&path).unwrap();
    let mut wrong = KEY;
    wrong[0] ^= 1;
    let err = Store::open(&path, &wrong, "w1", "tablet-1").unwrap_err();
    assert!(matches!(err, Error::WrongKey), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "a wrong key must not rewrite the file");
    let short = Store::open_with_key_bytes(&path, &[1u8; 16], "w1", "tablet-1").unwrap_err();
    assert!(matches!(short, Error::InvalidKeyLength(16)));
    // The right key still opens it, with the record intact.
    let mut store = open_at(&path, "w1", "tablet-1");
    assert!(store.record(&id).is_ok());
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let scratch = Scratch::new();
    let path = scratch.path("junk.db");
    std::fs::write(&path, vec![0xA5u8; 8192]).unwrap();
    let err = Store::open(&path, &KEY, "w1", "tablet-1").unwrap_err();
    assert!(matches!(err, Error::WrongKey), "{err:?}");
}

#[test]
fn compaction_keeps_every_change() {
    let scratch = Scratch::new();
    let path = scratch.path("worker.db");
    let mut store = open_at(&path, "w1", "tablet-1");
    let mut v = realistic_visit(9);
    let id = store.create_record("case-1", &visit_body(v.clone())).unwrap();
    for i in 0..150 {
        v.analysis.push_str(&format!(" word{i}"));
        store.update_record(&id, &visit_body(v.clone())).unwrap();
    }
    store.compact_all().unwrap();
    drop(store);
    let mut store = open_at(&path, "w1", "tablet-1");
    assert_eq!(store.record(&id).unwrap().body, visit_body(v));
    assert_eq!(store.history(&id).unwrap().len(), 151);
}
