//! Store benchmark: Fieldbook's record operations beside the same operations on plain SQLite JSON
//! rows, measured in the same run on the same encrypted database settings, reported as ratios.
//!
//! Run: `cargo bench -p fieldbook-core --bench store` (prints a Markdown table for
//! docs/benchmarks.md). `FIELDBOOK_BENCH_QUICK=1` runs a few iterations only (used by CI to keep
//! the benchmark compiling and running).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use fieldbook_core::records::{
    new_id, AgencyContact, AgencyKind, ChildView, PersonPresent, PersonRole, RecordBody,
    ViewsMethod, Visit, VisitKind,
};
use fieldbook_core::Store;
use rusqlite::{params, Connection};

const KEY: [u8; 32] = [42; 32];

fn prose(seed: usize, len: usize) -> String {
    const WORDS: &[&str] = &[
        "the", "child", "said", "that", "school", "was", "better", "this", "week", "and", "she",
        "had", "made", "a", "friend", "mum", "appeared", "tired", "kitchen", "clean", "food",
    ];
    let mut out = String::new();
    let mut i = seed;
    while out.len() < len {
        out.push_str(WORDS[i % WORDS.len()]);
        out.push(' ');
        i = i.wrapping_mul(31).wrapping_add(7);
    }
    out.truncate(len);
    out
}

/// A visit with five text fields of 200-2,000 characters (~4,000 characters in all).
fn visit(seed: usize) -> Visit {
    let mut v = Visit::new(
        VisitKind::ChildProtection,
        Utc.with_ymd_and_hms(2026, 3, 26, 10, 0, 0).unwrap(),
    );
    v.child_seen = Some(true);
    v.seen_alone = Some(true);
    v.people_present =
        vec![PersonPresent { id: new_id(), name: "Mother".into(), role: PersonRole::Parent }];
    v.child_views = vec![ChildView {
        id: new_id(),
        method: ViewsMethod::OwnWords,
        text: prose(seed, 400),
        linked_ref: None,
    }];
    v.observations = prose(seed + 1, 2000);
    v.analysis = prose(seed + 2, 800);
    v.risks = prose(seed + 3, 500);
    v.agencies_contacted = vec![AgencyContact {
        id: new_id(),
        agency: AgencyKind::School,
        organisation: "School".into(),
        date: None,
        summary: prose(seed + 4, 300),
    }];
    v
}

/// The baseline: one JSON row per record in an encrypted SQLite table, same pragmas.
struct PlainRows {
    conn: Connection,
}

impl PlainRows {
    fn open(path: &std::path::Path) -> Self {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA key = \"x'{}'\"; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS rows (id TEXT PRIMARY KEY, case_id TEXT NOT NULL, json TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS rows_case ON rows(case_id);",
            hex(&KEY)
        ))
        .unwrap();
        Self { conn }
    }

    fn insert(&self, case_id: &str, v: &Visit) -> String {
        let id = new_id();
        let json = serde_json::to_string(v).unwrap();
        self.conn
            .execute(
                "INSERT INTO rows (id, case_id, json) VALUES (?1, ?2, ?3)",
                params![id, case_id, json],
            )
            .unwrap();
        id
    }

    fn update(&self, id: &str, v: &Visit) {
        let json = serde_json::to_string(v).unwrap();
        self.conn.execute("UPDATE rows SET json = ?2 WHERE id = ?1", params![id, json]).unwrap();
    }

    /// Listing a case as a plain app would: read the rows and decode them.
    fn list(&self, case_id: &str) -> usize {
        let mut stmt =
            self.conn.prepare_cached("SELECT id, json FROM rows WHERE case_id = ?1").unwrap();
        let rows = stmt
            .query_map([case_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .unwrap();
        let mut n = 0;
        for row in rows {
            let (_, json) = row.unwrap();
            let _: Visit = serde_json::from_str(&json).unwrap();
            n += 1;
        }
        n
    }

    fn bytes(&self) -> i64 {
        self.conn.query_row("SELECT sum(length(json)) FROM rows", [], |r| r.get(0)).unwrap()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Median time per operation over `rounds` rounds of `per_round` operations.
fn measure(rounds: usize, per_round: usize, mut op: impl FnMut(usize)) -> Duration {
    let mut samples = Vec::with_capacity(rounds);
    let mut i = 0;
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..per_round {
            op(i);
            i += 1;
        }
        samples.push(start.elapsed() / per_round as u32);
    }
    samples.sort();
    samples[samples.len() / 2]
}

fn fmt(d: Duration) -> String {
    if d.as_micros() >= 1000 {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    }
}

fn main() {
    let quick = std::env::var_os("FIELDBOOK_BENCH_QUICK").is_some();
    let (rounds, per_round, list_size) = if quick { (3, 5, 50) } else { (7, 100, 500) };
    let dir = tempfile::tempdir().unwrap();
    let mut store =
        Store::open(dir.path().join("fieldbook.db"), &KEY, "bench", "bench-device").unwrap();
    let plain = PlainRows::open(&dir.path().join("plain.db"));
    let mut rows = Vec::new();

    // Create: a new visit with its text, committed.
    let create_fb = measure(rounds, per_round, |i| {
        store.create_record("case-create", &RecordBody::Visit(visit(i))).unwrap();
    });
    let create_plain = measure(rounds, per_round, |i| {
        plain.insert("case-create", &visit(i));
    });

    // Update: append a sentence to the observations of a loaded record, committed.
    let mut v = visit(7);
    let id = store.create_record("case-update", &RecordBody::Visit(v.clone())).unwrap();
    let plain_id = plain.insert("case-update", &v);
    let mut pv = v.clone();
    let update_fb = measure(rounds, per_round, |i| {
        v.observations.push_str(&format!(" Sentence {i}."));
        store.update_record(&id, &RecordBody::Visit(v.clone())).unwrap();
    });
    let update_plain = measure(rounds, per_round, |i| {
        pv.observations.push_str(&format!(" Sentence {i}."));
        plain.update(&plain_id, &pv);
    });

    // List a case of `list_size` records.
    for i in 0..list_size {
        store.create_record("case-list", &RecordBody::Visit(visit(i))).unwrap();
        plain.insert("case-list", &visit(i));
    }
    let list_rounds = if quick { 3 } else { 15 };
    let list_fb = measure(list_rounds, 1, |_| {
        assert_eq!(store.case_records("case-list").unwrap().len(), list_size);
    });
    let list_plain = measure(list_rounds, 1, |_| {
        assert_eq!(plain.list("case-list"), list_size);
    });

    // Bytes per record: the stored document (snapshot + chunks) against the JSON row.
    store.compact_all().unwrap();
    let stored = store.stored_bytes().unwrap();
    let n_fb = store.all_heads().unwrap().len() as f64;
    let json_bytes = plain.bytes() as f64;
    let n_plain: f64 =
        plain.conn.query_row("SELECT count(*) FROM rows", [], |r| r.get::<_, i64>(0)).unwrap()
            as f64;
    let fb_per = stored.documents as f64 / n_fb;
    let plain_per = json_bytes / n_plain;
    rows.push((
        "create a visit (5 text fields, ~4,000 chars)".to_string(),
        fmt(create_fb),
        fmt(create_plain),
        create_fb.as_secs_f64() / create_plain.as_secs_f64(),
    ));
    rows.push((
        "update a visit (append to one text field)".to_string(),
        fmt(update_fb),
        fmt(update_plain),
        update_fb.as_secs_f64() / update_plain.as_secs_f64(),
    ));
    rows.push((
        format!("list a case of {list_size} records"),
        fmt(list_fb),
        fmt(list_plain),
        list_fb.as_secs_f64() / list_plain.as_secs_f64(),
    ));
    rows.push((
        "bytes per record on disk (document vs JSON row)".to_string(),
        format!("{fb_per:.0} B"),
        format!("{plain_per:.0} B"),
        fb_per / plain_per,
    ));

    println!("| operation | Fieldbook | plain SQLite JSON rows | ratio |");
    println!("|---|---|---|---|");
    for (name, fb, plain, ratio) in rows {
        println!("| {name} | {fb} | {plain} | {ratio:.2}× |");
    }
    println!();
    println!(
        "Projection bytes per record: {:.0} B (list columns, not counted above).",
        stored.projections as f64 / n_fb
    );
}
