//! Store benchmark: Fieldbook's record operations on the device beside two baselines measured in
//! the same run, on the same encrypted database settings: **the floor** (bare automerge doing the
//! same document work, plus one durable SQLite commit of its bytes) and the old baseline (a plain
//! JSON row per record). Every figure is reported as a ratio to its baseline.
//!
//! Run: `cargo bench -p fieldbook-core --bench store` (prints the Markdown tables of
//! docs/benchmarks.md, "Device"). `FIELDBOOK_BENCH_QUICK=1` runs a few iterations on small data
//! only (the test script uses it to keep the benchmark compiling and running).
//!
//! The memory figure is measured in a child process (this binary, re-run with
//! `FIELDBOOK_BENCH_MEMORY_CHILD` set) so that what the other sections allocated is not counted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "store_parts/fixtures.rs"]
mod fixtures;
#[path = "store_parts/memory.rs"]
mod memory;

use std::time::Duration;

use automerge::{transaction::Transactable, AutoCommit, ObjId, ReadDoc, ROOT};
use chrono::{NaiveDate, Utc};
use fieldbook_core::document::{Author, RecordDoc};
use fieldbook_core::records::{
    new_id, CaseSummary, ChildInNeedEpisode, RecordBody, RecordKind, RecordMeta, RecordStatus,
    SCHEMA_VERSION,
};
use fieldbook_core::rules::calendar::BankHolidayCalendar;
use fieldbook_core::rules::settings::LocalSettings;
use fieldbook_core::rules::timescales::{CaseFacts, VisitFact};
use fieldbook_core::rules::{local_date, worklist};
use fieldbook_core::Store;
use rusqlite::params;

use fixtures::*;

struct Row {
    name: String,
    fieldbook: Duration,
    floor: Option<(Duration, &'static str)>,
    plain: Duration,
}

fn main() {
    if memory::is_child() {
        memory::child();
        return;
    }
    let quick = std::env::var_os("FIELDBOOK_BENCH_QUICK").is_some();
    let n = if quick { 10 } else { 400 };
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("fieldbook.db");
    let mut store = Store::open(&store_path, &KEY, "bench", "bench-device").unwrap();
    let mut plain = PlainRows::open(&dir.path().join("plain.db"));
    let mut floor = open_encrypted(&dir.path().join("floor.db"));
    floor
        .execute_batch(
            "CREATE TABLE docs (id TEXT PRIMARY KEY, data BLOB NOT NULL);
             CREATE TABLE chunks (doc_id TEXT NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL,
                 PRIMARY KEY (doc_id, seq));",
        )
        .unwrap();
    let mut rows = Vec::new();

    // Autosave: a sentence appended to one text field of an open record, committed.
    let mut v = visit(7);
    let id = store.create_record("case-update", &RecordBody::Visit(v.clone())).unwrap();
    let body = RecordBody::Visit(visit(7));
    let author = Author::new("bench", "floor");
    let bytes = RecordDoc::create(&author, new_id(), "c".into(), &body, Utc::now()).unwrap().save();
    let mut doc = AutoCommit::load(&bytes).unwrap().with_actor(author.actor());
    let obs = object(&doc, &object(&doc, &ROOT, "body"), "observations");
    let mut heads = doc.get_heads();
    let mut pv = visit(7);
    let plain_id = plain.insert("case-update", &pv);
    let timed = interleaved(
        n,
        &mut [
            &mut |i| {
                v.observations.push_str(&format!(" Sentence {i}."));
                store.update_record(&id, &RecordBody::Visit(v.clone())).unwrap();
            },
            &mut |i| {
                let len = doc.length(&obs);
                doc.splice_text(&obs, len, 0, &format!(" Sentence {i}.")).unwrap();
                doc.commit();
                let chunk = doc.save_after(&heads);
                heads = doc.get_heads();
                durably(&mut floor, |tx| {
                    tx.execute(
                        "INSERT INTO chunks (doc_id, seq, data) VALUES ('d', ?1, ?2)",
                        params![i as i64, chunk],
                    )
                    .unwrap()
                });
            },
            &mut |i| {
                pv.observations.push_str(&format!(" Sentence {i}."));
                plain.update(&plain_id, &pv);
            },
        ],
    );
    let (autosave_fb, autosave_floor, autosave_plain) = (&timed[0], &timed[1], &timed[2]);
    for (p, label) in [(0.5, "p50"), (0.95, "p95")] {
        rows.push(Row {
            name: format!("autosave: one text field edited and committed, {label}"),
            fieldbook: pct(autosave_fb, p),
            floor: Some((pct(autosave_floor, p), if p > 0.9 { "≤ 1.5×" } else { "" })),
            plain: pct(autosave_plain, p),
        });
    }

    // Create: a new visit with its text, committed.
    let mut create_floor = |i: usize| {
        let id = new_id();
        let meta = RecordMeta {
            id: id.clone(),
            kind: RecordKind::Visit,
            case_id: "case-create".into(),
            schema_version: SCHEMA_VERSION,
            status: RecordStatus::Draft,
            created_by: author.worker.clone(),
            created_at: Utc::now(),
            submitted_by: None,
            submitted_at: None,
            oversight: None,
            amendments: Vec::new(),
        };
        // The cheapest way automerge has to build it: the whole root at once.
        let mut doc = AutoCommit::new().with_actor(author.actor());
        autosurgeon::reconcile(&mut doc, BareRecord { meta, body: visit(i) }).unwrap();
        doc.commit();
        let bytes = doc.save();
        durably(&mut floor, |tx| {
            tx.execute("INSERT INTO docs (id, data) VALUES (?1, ?2)", params![id, bytes]).unwrap()
        });
    };
    let timed = interleaved(
        n,
        &mut [
            &mut |i| {
                store.create_record("case-create", &RecordBody::Visit(visit(i))).unwrap();
            },
            &mut create_floor,
            &mut |i| {
                plain.insert("case-create", &visit(i));
            },
        ],
    );
    let (create_fb, create_floor, create_plain) = (&timed[0], &timed[1], &timed[2]);
    rows.push(Row {
        name: "create a visit (5 text fields, ~4,000 chars), median".into(),
        fieldbook: pct(create_fb, 0.5),
        floor: Some((pct(create_floor, 0.5), "≤ 1.3×")),
        plain: pct(create_plain, 0.5),
    });

    // Open a record cold: more records than the cache holds, opened round robin, so every
    // open loads from disk. Floor: the same rows read and `automerge::load`ed.
    let open_count = if quick { 120 } else { 200 };
    let mut open_ids = Vec::new();
    for i in 0..open_count {
        let id = store.create_record("case-open", &RecordBody::Visit(visit(i))).unwrap();
        open_ids.push((id.clone(), plain.insert("case-open", &visit(i))));
    }
    store.compact_all().unwrap();
    let reader = open_encrypted(&store_path);
    let timed = interleaved(
        n,
        &mut [
            &mut |i| {
                store.record(&open_ids[i % open_count].0).unwrap();
            },
            &mut |i| {
                let id = &open_ids[i % open_count].0;
                let mut snap =
                    reader.prepare_cached("SELECT data FROM snapshots WHERE doc_id = ?1").unwrap();
                let bytes: Vec<u8> = snap.query_row([id], |r| r.get(0)).unwrap();
                let mut chunks = reader
                    .prepare_cached("SELECT data FROM chunks WHERE doc_id = ?1 ORDER BY seq")
                    .unwrap();
                let rest: Vec<Vec<u8>> =
                    chunks.query_map([id], |r| r.get(0)).unwrap().map(|c| c.unwrap()).collect();
                let mut doc = AutoCommit::load(&bytes).unwrap();
                for c in rest {
                    doc.load_incremental(&c).unwrap();
                }
            },
            &mut |i| {
                plain.read(&open_ids[i % open_count].1);
            },
        ],
    );
    let (open_fb, open_floor, open_plain) = (&timed[0], &timed[1], &timed[2]);
    rows.push(Row {
        name: "open a record cold (not cached), median".into(),
        fieldbook: pct(open_fb, 0.5),
        floor: Some((pct(open_floor, 0.5), "≤ 2×")),
        plain: pct(open_plain, 0.5),
    });

    // List a case.
    let list_size = if quick { 50 } else { 500 };
    for i in 0..list_size {
        store.create_record("case-list", &RecordBody::Visit(visit(i))).unwrap();
        plain.insert("case-list", &visit(i));
    }
    let list_rounds = if quick { 3 } else { 31 };
    let timed = interleaved(
        list_rounds,
        &mut [
            &mut |_| assert_eq!(store.case_records("case-list").unwrap().len(), list_size),
            &mut |_| assert_eq!(plain.list("case-list").len(), list_size),
        ],
    );
    let (list_fb, list_plain) = (&timed[0], &timed[1]);
    rows.push(Row {
        name: format!("list a case of {list_size} records (target < 0.2× the JSON rows)"),
        fieldbook: pct(list_fb, 0.5),
        floor: None,
        plain: pct(list_plain, 0.5),
    });

    // The worklist over every case (5 visits each), against a plain app computing the same
    // worklist from JSON rows.
    let (cases, per_case) = if quick { (10, 2) } else { (100, 5) };
    for c in 0..cases {
        let case_id = format!("case-w{c:03}");
        let mut summary = CaseSummary::new(format!("LC{c}"), format!("Child {c}"));
        summary.allocated_worker = "bench".into();
        summary.team = "team-a".into();
        summary.child_in_need =
            Some(ChildInNeedEpisode::new(NaiveDate::from_ymd_opt(2026, 1, 5).unwrap()));
        store.put_case_summary(&case_id, &summary).unwrap();
        plain
            .conn
            .execute(
                "INSERT INTO cases (case_id, json) VALUES (?1, ?2)",
                params![case_id, serde_json::to_string(&summary).unwrap()],
            )
            .unwrap();
        for i in 0..per_case {
            store.create_record(&case_id, &RecordBody::Visit(visit(c * 10 + i))).unwrap();
            plain.insert(&case_id, &visit(c * 10 + i));
        }
    }
    let today = NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
    let timed = interleaved(
        list_rounds,
        &mut [&mut |_| assert!(!store.worklist(today).unwrap().is_empty()), &mut |_| {
            assert!(!plain_worklist(&plain, today).is_empty())
        }],
    );
    let (worklist_fb, worklist_plain) = (&timed[0], &timed[1]);
    rows.push(Row {
        name: format!("worklist over {cases} cases ({per_case} visits each) (target ≤ 0.5×)"),
        fieldbook: pct(worklist_fb, 0.5),
        floor: None,
        plain: pct(worklist_plain, 0.5),
    });

    // Bytes per record: the stored document (snapshot + chunks) against the JSON row.
    store.compact_all().unwrap();
    let stored = store.stored_bytes().unwrap();
    let n_fb = store.all_heads().unwrap().len() as f64;
    let (json_bytes, n_plain) = plain.bytes();
    drop(store);

    println!("| operation | Fieldbook | floor (bare automerge + one commit) | ratio to floor | target | JSON row | ratio to JSON row |");
    println!("|---|---:|---:|---:|---|---:|---:|");
    for r in rows {
        let (floor, to_floor, target) = match r.floor {
            Some((f, target)) => (fmt(f), format!("{:.2}×", ratio(r.fieldbook, f)), target),
            None => ("-".into(), "-".into(), ""),
        };
        println!(
            "| {} | {} | {floor} | {to_floor} | {target} | {} | {:.2}× |",
            r.name,
            fmt(r.fieldbook),
            fmt(r.plain),
            ratio(r.fieldbook, r.plain)
        );
    }
    println!();
    let (fb_per, plain_per) = (stored.documents as f64 / n_fb, json_bytes / n_plain);
    println!(
        "Bytes per record on disk: {fb_per:.0} B (document) against {plain_per:.0} B (JSON row), \
         {:.2}×; projection columns {:.0} B per record besides.",
        fb_per / plain_per,
        stored.projections as f64 / n_fb
    );
    println!();
    signing_cost(dir.path(), n);
    memory::run(dir.path(), quick);
}

/// What signing costs an autosave (issue #16): the same edit on two stores, one signing as the
/// product always does and one with signing turned off for the benchmark (feature
/// `test-hooks`), interleaved.
#[cfg(feature = "test-hooks")]
fn signing_cost(dir: &std::path::Path, n: usize) {
    let mut signed = Store::open(dir.join("signed.db"), &KEY, "bench", "signed").unwrap();
    let mut unsigned = Store::open(dir.join("unsigned.db"), &KEY, "bench", "unsigned").unwrap();
    unsigned.sign_changes_for_bench(false);
    let mut ids = Vec::new();
    let mut bodies = Vec::new();
    for store in [&mut signed, &mut unsigned] {
        let v = visit(7);
        ids.push(store.create_record("case-sign", &RecordBody::Visit(v.clone())).unwrap());
        bodies.push(v);
    }
    let (mut vs, mut vu) = (bodies[0].clone(), bodies[1].clone());
    let (ids_s, ids_u) = (ids[0].clone(), ids[1].clone());
    let timed = interleaved(
        n,
        &mut [
            &mut |i| {
                vs.observations.push_str(&format!(" Sentence {i}."));
                signed.update_record(&ids_s, &RecordBody::Visit(vs.clone())).unwrap();
            },
            &mut |i| {
                vu.observations.push_str(&format!(" Sentence {i}."));
                unsigned.update_record(&ids_u, &RecordBody::Visit(vu.clone())).unwrap();
            },
        ],
    );
    assert_eq!(signed.changes_since(&ids_s, &[]).unwrap().signatures.len(), n + 1);
    assert!(unsigned.changes_since(&ids_u, &[]).unwrap().signatures.is_empty());
    println!("### What signing costs an autosave ({n} edits, interleaved)\n");
    println!("| autosave | signed (the product) | unsigned (benchmark only) | ratio |");
    println!("|---|---:|---:|---:|");
    for (p, label) in [(0.5, "p50"), (0.95, "p95")] {
        let (a, b) = (pct(&timed[0], p), pct(&timed[1], p));
        println!(
            "| {label} | {:.3} ms | {:.3} ms | {:.2} |",
            a.as_secs_f64() * 1e3,
            b.as_secs_f64() * 1e3,
            a.as_secs_f64() / b.as_secs_f64()
        );
    }
    println!();
}

/// Without the benchmark switch (feature `test-hooks`) there is nothing to compare against.
#[cfg(not(feature = "test-hooks"))]
fn signing_cost(_dir: &std::path::Path, _n: usize) {
    println!("(signing cost: run with `--features test-hooks` to compare with signing off)\n");
}

/// The document `{meta, body}` as a bare automerge app would lay it out (the same layout).
#[derive(autosurgeon::Reconcile)]
struct BareRecord {
    meta: RecordMeta,
    body: fieldbook_core::records::Visit,
}

fn object(doc: &AutoCommit, parent: &ObjId, key: &str) -> ObjId {
    match doc.get(parent, key).unwrap() {
        Some((automerge::Value::Object(_), id)) => id,
        other => panic!("{key}: {other:?}"),
    }
}

/// What a plain app does for the worklist: every case row and its visit rows decoded from JSON,
/// then the same rules.
fn plain_worklist(plain: &PlainRows, today: NaiveDate) -> Vec<worklist::WorklistItem> {
    let cal = BankHolidayCalendar::england_and_wales();
    let settings = LocalSettings::default();
    let mut stmt = plain.conn.prepare_cached("SELECT case_id, json FROM cases").unwrap();
    let cases: Vec<(String, CaseSummary)> = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
        .map(|r| {
            let (id, json) = r.unwrap();
            (id, serde_json::from_str(&json).unwrap())
        })
        .collect();
    let visits: Vec<Vec<VisitFact>> = cases
        .iter()
        .map(|(id, _)| {
            plain
                .list(id)
                .iter()
                .map(|v| VisitFact {
                    date: local_date(v.started_at),
                    kind: v.kind,
                    child_seen: v.child_seen.unwrap_or(false),
                })
                .collect()
        })
        .collect();
    let facts: Vec<(String, CaseFacts<'_>)> = cases
        .iter()
        .zip(&visits)
        .map(|((id, summary), visits)| {
            (id.clone(), CaseFacts { summary, visits, assessments_authorised: &[] })
        })
        .collect();
    worklist::build(&cal, &settings, &facts, today, None, Utc::now())
}
