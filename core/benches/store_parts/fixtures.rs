//! What every section of the store benchmark shares: the realistic visit, the plain-JSON-row
//! baseline and the bare-automerge floor (both in an encrypted database with the store's own
//! PRAGMAs), and the timing helpers.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use fieldbook_core::records::{
    new_id, AgencyContact, AgencyKind, ChildView, PersonPresent, PersonRole, ViewsMethod, Visit,
    VisitKind,
};
use rusqlite::{params, Connection, TransactionBehavior};

pub const KEY: [u8; 32] = [42; 32];

pub fn prose(seed: usize, len: usize) -> String {
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

/// A visit with five text fields of 300-2,000 characters (~4,000 characters in all).
pub fn visit(seed: usize) -> Visit {
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

/// A connection keyed and configured exactly as `Store::open` configures its own (SQLCipher raw
/// key, WAL, `synchronous = FULL`, foreign keys, secure delete, temp store in memory).
pub fn open_encrypted(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA key = \"x'{}'\";
         PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
         PRAGMA secure_delete = ON; PRAGMA temp_store = MEMORY;",
        hex(&KEY)
    ))
    .unwrap();
    conn
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One durable transaction (IMMEDIATE, committed), as the store makes per write.
pub fn durably<T>(conn: &mut Connection, f: impl FnOnce(&rusqlite::Transaction<'_>) -> T) -> T {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
    let out = f(&tx);
    tx.commit().unwrap();
    out
}

/// The old baseline: one JSON row per record.
pub struct PlainRows {
    pub conn: Connection,
}

impl PlainRows {
    pub fn open(path: &Path) -> Self {
        let conn = open_encrypted(path);
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS rows (id TEXT PRIMARY KEY, case_id TEXT NOT NULL,
                 json TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS rows_case ON rows(case_id);
             CREATE TABLE IF NOT EXISTS cases (case_id TEXT PRIMARY KEY, json TEXT NOT NULL);",
        )
        .unwrap();
        Self { conn }
    }

    pub fn insert(&mut self, case_id: &str, v: &Visit) -> String {
        let id = new_id();
        let json = serde_json::to_string(v).unwrap();
        durably(&mut self.conn, |tx| {
            tx.execute(
                "INSERT INTO rows (id, case_id, json) VALUES (?1, ?2, ?3)",
                params![id, case_id, json],
            )
            .unwrap()
        });
        id
    }

    pub fn update(&mut self, id: &str, v: &Visit) {
        let json = serde_json::to_string(v).unwrap();
        durably(&mut self.conn, |tx| {
            tx.execute("UPDATE rows SET json = ?2 WHERE id = ?1", params![id, json]).unwrap()
        });
    }

    pub fn read(&self, id: &str) -> Visit {
        let mut stmt = self.conn.prepare_cached("SELECT json FROM rows WHERE id = ?1").unwrap();
        let json: String = stmt.query_row([id], |r| r.get(0)).unwrap();
        serde_json::from_str(&json).unwrap()
    }

    /// Listing a case as a plain app would: read the rows and decode them.
    pub fn list(&self, case_id: &str) -> Vec<Visit> {
        let mut stmt =
            self.conn.prepare_cached("SELECT id, json FROM rows WHERE case_id = ?1").unwrap();
        let rows = stmt.query_map([case_id], |r| r.get::<_, String>(1)).unwrap();
        rows.map(|json| serde_json::from_str(&json.unwrap()).unwrap()).collect()
    }

    pub fn bytes(&self) -> (f64, f64) {
        self.conn
            .query_row("SELECT sum(length(json)), count(*) FROM rows", [], |r| {
                Ok((r.get::<_, i64>(0)? as f64, r.get::<_, i64>(1)? as f64))
            })
            .unwrap()
    }
}

/// Several operations timed in turn, one sample of each per round, so that a machine whose load
/// changes during the run (this one is shared) weighs on each of them alike. Sorted samples of
/// each, in the order given.
pub fn interleaved(n: usize, ops: &mut [&mut dyn FnMut(usize)]) -> Vec<Vec<Duration>> {
    let mut out = vec![Vec::with_capacity(n); ops.len()];
    for i in 0..n {
        for (k, op) in ops.iter_mut().enumerate() {
            let start = Instant::now();
            op(i);
            out[k].push(start.elapsed());
        }
    }
    for s in &mut out {
        s.sort();
    }
    out
}

pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn fmt(d: Duration) -> String {
    if d.as_micros() >= 1000 {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    }
}

pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}
