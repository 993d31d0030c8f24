//! Fixtures shared by the end-to-end tests: stores in a temporary directory with a fixed clock,
//! realistic records, and a full exchange between two stores.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod deflate_bomb;
pub mod fault_proxy;
pub mod log_capture;
pub mod mobile;
pub mod multi_env;
pub mod oidc_env;
pub mod sim;
pub mod sync_env;
pub mod tamper;

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use fieldbook_core::records::{
    new_id, Action, AgencyContact, AgencyKind, CaseSummary, ChildView, PersonPresent, PersonRole,
    RecordBody, ViewsMethod, Visit, VisitKind,
};
use fieldbook_core::{ImportReport, Store, StoreKey};

pub const KEY: StoreKey = [7u8; 32];

/// A fixed instant, so tests never depend on the wall clock.
pub fn at(y: i32, mo: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, 0, 0).unwrap()
}

/// A directory that lives as long as the test.
#[derive(Debug)]
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        log_capture::capture_logs_if_asked();
        Self { dir: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Opens `name.db` for `worker` on `device` with the test key and a fixed clock.
    pub fn store(&self, name: &str, worker: &str, device: &str) -> Store {
        open_at(&self.path(&format!("{name}.db")), worker, device)
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

pub fn open_at(path: &Path, worker: &str, device: &str) -> Store {
    let mut store = Store::open(path, &KEY, worker, device).unwrap();
    store.set_clock(Box::new(|| at(2026, 3, 26, 15)));
    store
}

/// The files directly in `dir` whose name `scan` accepts: their names, and the (file, planted
/// string) pairs found in clear in their bytes. For the checks that nothing is stored in clear.
pub fn planted_in_files(
    dir: &Path,
    planted: &[&str],
    scan: impl Fn(&str) -> bool,
) -> (Vec<String>, Vec<(String, String)>) {
    let mut scanned = Vec::new();
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !path.is_file() || !scan(&name) {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for p in planted {
            if bytes.windows(p.len()).any(|w| w == p.as_bytes()) {
                found.push((name.clone(), (*p).to_string()));
            }
        }
        scanned.push(name);
    }
    (scanned, found)
}

/// Marks every fixture text, so a log or a file holding record content in clear is found.
pub const PLANTED_PREFIX: &str = "PLANTED-PROSE-";

/// `len` characters of plausible prose, different for each `seed`. It opens with a planted
/// marker ([`PLANTED_PREFIX`]) when there is room, so the suite-wide log check
/// (`scripts/check-test-logs.sh`) catches any record text that reaches a log line.
pub fn prose(seed: usize, len: usize) -> String {
    const WORDS: &[&str] = &[
        "the",
        "child",
        "said",
        "that",
        "school",
        "was",
        "better",
        "this",
        "week",
        "and",
        "she",
        "had",
        "made",
        "a",
        "friend",
        "mum",
        "appeared",
        "tired",
        "kitchen",
        "clean",
        "food",
        "in",
        "fridge",
        "bedroom",
        "shared",
        "with",
        "brother",
        "discussed",
        "plan",
        "review",
    ];
    let mut out = String::with_capacity(len + 32);
    if len >= 32 {
        out.push_str(&format!("{PLANTED_PREFIX}{:04x} ", seed % 0x10000));
    }
    let mut i = seed;
    while out.len() < len {
        out.push_str(WORDS[i % WORDS.len()]);
        out.push(' ');
        i = i.wrapping_mul(31).wrapping_add(7);
    }
    out.truncate(len);
    out
}

/// A realistic visit: five text fields of 200-2,000 characters, people, actions, agencies.
pub fn realistic_visit(seed: usize) -> Visit {
    let mut v = Visit::new(VisitKind::ChildProtection, at(2026, 3, 26, 10));
    v.recorded_at = at(2026, 3, 26, 14);
    v.location = "Family home".into();
    v.people_present = vec![
        PersonPresent { id: new_id(), name: "Mother".into(), role: PersonRole::Parent },
        PersonPresent { id: new_id(), name: "Child".into(), role: PersonRole::Child },
    ];
    v.child_seen = Some(true);
    v.seen_alone = Some(true);
    v.bedroom_seen = Some(true);
    v.child_views = vec![ChildView {
        id: new_id(),
        method: ViewsMethod::OwnWords,
        text: prose(seed, 400),
        linked_ref: None,
    }];
    v.observations = prose(seed + 1, 2000);
    v.analysis = prose(seed + 2, 1200);
    v.risks = prose(seed + 3, 600);
    v.not_seen_alone_detail = prose(seed + 4, 200);
    v.actions = vec![Action {
        id: new_id(),
        description: "Arrange school meeting".into(),
        owner: "worker".into(),
        due: None,
        done: false,
    }];
    v.agencies_contacted = vec![AgencyContact {
        id: new_id(),
        agency: AgencyKind::School,
        organisation: "Primary school".into(),
        date: None,
        summary: prose(seed + 5, 300),
    }];
    v
}

pub fn visit_body(v: Visit) -> RecordBody {
    RecordBody::Visit(v)
}

pub fn summary(local_id: &str, name: &str) -> CaseSummary {
    let mut s = CaseSummary::new(local_id, name);
    s.allocated_worker = "w1".into();
    s.team = "team-a".into();
    s
}

/// Sends everything `from` has that `to` lacks.
pub fn send(from: &mut Store, to: &mut Store) -> ImportReport {
    let theirs = to.all_heads().unwrap();
    let changes = from.export_for(&theirs).unwrap();
    let report = to.import(&changes).unwrap();
    assert!(report.rejected.is_empty(), "rejected: {:?}", report.rejected);
    report
}

/// Both directions.
pub fn exchange(a: &mut Store, b: &mut Store) {
    send(a, b);
    send(b, a);
}

/// Signatures over every change of `changes` (saved Automerge bytes) by a fixed key: for the
/// tests that import a hand-made document (an older build's, another implementation's), since
/// `Store::import` requires a signature that verifies on every change.
pub fn sign_all(changes: &[u8]) -> Vec<fieldbook_core::protocol::ChangeSignature> {
    use fieldbook_core::document::{Author, RecordDoc};
    let key = fieldbook_core::protocol::KeyPair::from_seed(&[42; 32]);
    let mut doc = RecordDoc::from_changes(changes, Author::new("signer", "t").actor())
        .expect("the test's own document loads");
    doc.change_authors_after(&[])
        .into_iter()
        .map(|(h, _)| key.sign_change(fieldbook_core::protocol::Hash(h.0), None))
        .collect()
}
