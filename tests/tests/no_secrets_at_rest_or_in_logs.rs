//! A realistic session with planted strings as record content, every log line captured at TRACE
//! level (devices, sync client and server in one process): no log line holds a planted string or
//! a token, and no device or server file (database, WAL, shared memory, anything SQLite left
//! behind, the server's key file) holds a planted string.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use fieldbook_core::records::{CaseNote, CaseNoteCategory, RecordBody};
use fieldbook_server::storage::sqlite::SqliteStorage;
use fieldbook_tests::sync_env::{summary_for, token_of, Fault, SyncEnv, PEOPLE};
use fieldbook_tests::{planted_in_files, realistic_visit, visit_body};

const PLANTED: &[&str] = &[
    "PLANTED-CHILD-WORDS-c41d",
    "PLANTED-OBSERVATION-e02f",
    "PLANTED-RISK-77aa",
    "PLANTED-NOTE-9b1c",
    "PLANTED-NAME-Quillon",
];

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The process's one global subscriber, installed by whichever test starts first and before
/// anything (such as the suite-wide capture a scratch directory turns on) installs another:
/// the tests here run in parallel, and a second global install fails. Both tests' lines land in
/// the one buffer, and neither may log planted content.
fn captured_logs() -> Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .try_init()
            .expect("no other global subscriber was installed before this test's");
        logs
    })
    .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_content_never_reaches_logs_or_the_disk_in_clear() {
    let logs = captured_logs();

    let env = SyncEnv::start().await;
    env.upsert_case("case-1", "LC1", "amara", "north").await;
    // The child's name is content too: it comes from the case system.
    let mut summary = summary_for("LC2", "amara", "north");
    summary.name = PLANTED[4].into();
    let status = env.put_case(&token_of("case-system"), "case-2", &summary, "amara", "north").await;
    assert_eq!(status, 204);
    let mut a = env.device("amara", "tablet-a");
    let mut b = env.device("amara", "tablet-b");
    let mut carol = env.device("carol", "tablet-c");
    a.sync().await;
    b.sync().await;

    let mut v = realistic_visit(1);
    v.child_views[0].text = PLANTED[0].into();
    v.observations = format!("{} {}", PLANTED[1], v.observations);
    v.risks = PLANTED[2].into();
    let id = a.store.create_record("case-1", &visit_body(v)).unwrap();
    let note = CaseNote {
        category: CaseNoteCategory::PhoneCall,
        occurred_at: chrono::Utc::now(),
        text: PLANTED[3].into(),
        attachments: Vec::new(),
    };
    a.store.create_record("case-2", &RecordBody::CaseNote(note)).unwrap();
    // Submitting an incomplete record fails; its error is logged by apps: no content in it.
    let err = a.store.submit(&id).err().map(|e| e.to_string()).unwrap_or_default();
    tracing::error!(error = %err, "submit failed (as an app would log it)");
    a.inject(Fault::LoseResponse);
    a.sync().await;
    b.sync().await;
    // Concurrent edits and a conflict.
    for (d, seen) in [(&mut a, true), (&mut b, false)] {
        let mut r = d.store.record(&id).unwrap();
        if let RecordBody::Visit(v) = &mut r.body {
            v.bedroom_seen = Some(seen);
            v.analysis.push_str(PLANTED[2]);
        }
        d.store.update_record(&id, &r.body).unwrap();
    }
    a.sync().await;
    b.sync().await;
    a.sync().await;
    // Carol pushes into amara's case: refused and logged, without content.
    let mut forged = realistic_visit(3);
    forged.observations = PLANTED[1].into();
    carol.store.create_record("case-1", &visit_body(forged)).unwrap();
    carol.sync().await;
    // Re-allocation: purge on amara's tablets.
    env.upsert_case("case-2", "LC2", "ben", "north").await;
    a.sync().await;
    let _ = env.export_all().await;
    // A bad token and a failing request.
    let _ = env.call(reqwest::Method::GET, "/api/v1/records", Some("tok-wrong"), None).await;
    drop((a, b, carol));

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.lines().count() > 20, "the session logged: {} lines", text.lines().count());
    for planted in PLANTED {
        assert!(!text.contains(planted), "a log line holds {planted}");
    }
    for (token, ..) in PEOPLE {
        assert!(!text.contains(token), "a log line holds the token {token}");
    }

    // At rest: every file the devices' and the server's SQLite left in the directory (database,
    // WAL, shared memory, temporary files) and the server's key file beside its database.
    let (scanned, found) =
        planted_in_files(env.scratch.dir.path(), PLANTED, |name| !name.ends_with(".json"));
    assert_eq!(found, Vec::<(String, String)>::new(), "planted strings in clear");
    let devices = scanned.iter().filter(|n| n.starts_with("amara-") && n.ends_with(".db")).count();
    assert!(devices >= 2, "device databases scanned: {scanned:?}");
    for server_file in ["server.db", "server.db-wal", "server.db.key"] {
        assert!(scanned.iter().any(|n| n == server_file), "{server_file} scanned: {scanned:?}");
    }
}

/// The scan above would see plain text: the same session's content on a server whose database
/// is not encrypted is found in the server's files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scan_finds_planted_content_in_a_plaintext_server_database() {
    let _ = captured_logs();
    let scratch = fieldbook_tests::Scratch::new();
    let storage = Arc::new(SqliteStorage::open(&scratch.path("server.db"), None).unwrap());
    let env = SyncEnv::start_with(scratch, storage).await;
    let mut summary = summary_for("LC2", "amara", "north");
    summary.name = PLANTED[4].into();
    let status = env.put_case(&token_of("case-system"), "case-2", &summary, "amara", "north").await;
    assert_eq!(status, 204);
    let mut a = env.device("amara", "tablet-a");
    a.sync().await;
    let mut v = realistic_visit(1);
    v.child_views[0].text = PLANTED[0].into();
    a.store.create_record("case-2", &visit_body(v)).unwrap();
    let report = a.sync().await;
    assert!(report.failure.is_none(), "{:?}", report.failure);

    let (scanned, found) =
        planted_in_files(env.scratch.dir.path(), PLANTED, |name| name.starts_with("server.db"));
    assert!(scanned.iter().any(|n| n == "server.db"), "{scanned:?}");
    for planted in [PLANTED[0], PLANTED[4]] {
        assert!(found.iter().any(|(_, p)| p == planted), "{planted} not found in {found:?}");
    }
}
