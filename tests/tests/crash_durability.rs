//! Crash durability: a writer process records, edits and syncs on an encrypted store and is
//! SIGKILLed at random moments, many times. After every kill the store opens, passes SQLite's
//! and SQLCipher's integrity checks, and holds every write the writer had been told was done.
//!
//! `FIELDBOOK_LONG=1` runs 300 kills instead of 25 (the figure in docs/reliability.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use fieldbook_core::records::RecordBody;
use fieldbook_tests::open_at;
use fieldbook_tests::sync_env::{token_of, SyncEnv};

/// A small deterministic generator: the schedule is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_writers_never_lose_an_acknowledged_write() {
    let kills = if std::env::var_os("FIELDBOOK_LONG").is_some() { 300 } else { 25 };
    let env = SyncEnv::start().await;
    env.upsert_case("case-1", "LC1", "amara", "north").await;
    let path = env.scratch.path("crash.db");
    let exe = env!("CARGO_BIN_EXE_fieldbook-crash-writer");
    let mut rng = Lcg(20261122);
    // Acknowledged writes: the `ack-n` of each created record, the `edit-n`s of each record.
    let mut created: HashMap<String, usize> = HashMap::new();
    let mut edits: Vec<(String, usize)> = Vec::new();
    let (mut syncs, mut killed_mid_write) = (0, 0);

    for round in 0..kills {
        // Numbers never repeat across rounds: a write committed but killed before its line was
        // printed must not be mistaken for a later one.
        let start = (round + 1) * 100_000;
        let mut child = Command::new(exe)
            .args([path.to_str().unwrap(), "case-1", &start.to_string(), &env.url])
            .arg(token_of("amara"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            let mut reader = BufReader::new(stdout);
            loop {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => return lines,
                    // Only whole lines: a line cut by the kill was never fully acknowledged.
                    Ok(_) if line.ends_with('\n') => lines.push(line),
                    Ok(_) => return lines,
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(30 + rng.next(400))).await;
        child.kill().unwrap();
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        if !lines.is_empty() {
            killed_mid_write += 1;
        }
        for line in lines {
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.as_slice() {
                ["created", id, n] => {
                    created.insert(id.to_string(), n.parse().unwrap());
                }
                ["edited", id, n] => edits.push((id.to_string(), n.parse().unwrap())),
                ["synced", _] => syncs += 1,
                other => panic!("unexpected output {other:?}"),
            }
        }

        // The app starts again after the kill: everything acknowledged is there, intact.
        let mut store = open_at(&path, "amara", "tablet-crash");
        assert_eq!(store.integrity_check().unwrap(), Vec::<String>::new(), "after kill {round}");
        for (id, n) in &created {
            let RecordBody::Visit(v) = store.record(id).unwrap().body else { panic!() };
            assert!(v.observations.starts_with(&format!("ack-{n}")), "create {n} lost");
        }
        let mut by_record: HashMap<&str, String> = HashMap::new();
        for (id, n) in &edits {
            let text = by_record.entry(id).or_insert_with(|| {
                let RecordBody::Visit(v) = store.record(id).unwrap().body else { panic!() };
                v.observations
            });
            assert!(text.contains(&format!(" edit-{n}")), "edit {n} of {id} lost");
        }
    }
    let writes = created.len() + edits.len();
    assert!(writes > kills, "the writer hardly ran: {writes} writes");
    assert!(syncs > 0, "no sync ran between kills");
    println!(
        "crash durability: {kills} kills ({killed_mid_write} after writing), {writes} acknowledged \
         writes checked after every kill, {syncs} syncs"
    );
}
