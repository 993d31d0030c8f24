//! Several servers on one PostgreSQL: three `fieldbook-server` processes (the shipped binary) on
//! one schema, devices sending each request to an instance chosen at random, one instance
//! SIGKILLed mid-sync and restarted each round. Seeded schedules (the seed is in every failure
//! message) must converge with nothing lost or duplicated, and no device may ever be handed a
//! cursor that skips a change: checked on the wire, exchange by exchange, against the database.
//!
//! Needs `FIELDBOOK_TEST_POSTGRES_URL` (`scripts/postgres.sh start`); without it the tests fail
//! saying so. `FIELDBOOK_LONG=1` runs more and longer schedules (figures in docs/reliability.md,
//! printed with --nocapture).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fieldbook_core::protocol::decode;
use fieldbook_core::protocol::{Hash, SyncRequest, SyncResponse};
use fieldbook_core::records::{Record, RecordBody, RecordKind};
use fieldbook_server::storage::postgres::PostgresStorage;
use fieldbook_server::storage::{Audience, DocInfo, NewChanges, Storage};
use fieldbook_tests::multi_env::{
    join_all, split_chunks, start_fleet, url_with_schema, Exchange, Rng, RoutedDevice,
};
use fieldbook_tests::sync_env::{postgres_url, SyncEnv};
use fieldbook_tests::{realistic_visit, visit_body, Scratch};

const DECODE_LIMIT: usize = 256 << 20;

fn long() -> bool {
    std::env::var_os("FIELDBOOK_LONG").is_some_and(|v| v == "1")
}

async fn storage_in(schema: &str) -> PostgresStorage {
    PostgresStorage::connect_with_schema(&postgres_url(), Some(schema)).await.unwrap()
}

fn change(doc: &str, n: u8) -> NewChanges {
    NewChanges {
        doc: DocInfo { id: doc.into(), case_id: "case-1".into(), kind: RecordKind::Visit },
        changes: vec![(Hash([n; 32]), format!("change-{n}").into_bytes())],
        heads: None,
        signatures: Vec::new(),
    }
}

/// The classic failure of several writers on one sequence: instance A takes number 11, instance
/// B takes 12 and commits first, a reader sees 12 and sets its cursor there, then 11 commits
/// and is never fetched. Here A is held between taking its number and committing while B
/// appends and a reader reads the head and the feed: whatever the reader is told is the head,
/// every change at or below it must already be visible to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_holding_its_number_holds_back_every_cursor() {
    let schema = format!("multi_hold_{}", std::process::id());
    let a = storage_in(&schema).await;
    let b = storage_in(&schema).await; // another server: its own pool and connections
    let cases = vec!["case-1".to_string()];
    a.append(vec![change("doc-1", 1)]).await.unwrap();

    let (held_tx, held_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let writer_a = tokio::spawn({
        let a = a.clone();
        async move {
            a.append_pausing(vec![change("doc-1", 2)], async move {
                held_tx.send(()).unwrap();
                release_rx.await.unwrap();
            })
            .await
            .unwrap()
        }
    });
    held_rx.await.unwrap(); // A has its number and its rows, uncommitted
    let mut writer_b = tokio::spawn({
        let b = b.clone();
        async move { b.append(vec![change("doc-2", 3)]).await.unwrap() }
    });
    // B either queues behind A (as it must) or, were writers not serialised, commits at once.
    let b_done_early = loop {
        tokio::select! {
            biased;
            done = &mut writer_b => { done.unwrap(); break true; }
            waiting = b.writers_waiting() => {
                if waiting.unwrap() > 0 { break false; }
            }
        }
        tokio::task::yield_now().await;
    };
    let head = b.head().await.unwrap();
    let seen: HashSet<u64> =
        b.feed(0, &cases, u64::MAX, 1000).await.unwrap().iter().map(|c| c.seq).collect();
    release_tx.send(()).unwrap();
    let seq_a = writer_a.await.unwrap();
    if !b_done_early {
        writer_b.await.unwrap();
    }
    let all = b.feed(0, &cases, u64::MAX, 1000).await.unwrap();
    assert_eq!(all.len(), 3, "every change stored once");
    for c in &all {
        assert!(
            c.seq > head || seen.contains(&c.seq),
            "head {head} was readable while change {} (held by writer A, seq {seq_a}) was not",
            c.seq
        );
    }
    assert!(!b_done_early, "a second writer committed while the first held its number");
}

/// What the database holds for a device's audience: (seq, change hash), in sequence order.
async fn feed_of(storage: &PostgresStorage, audience: &Audience) -> Vec<(u64, Hash)> {
    let cases = storage.visible_cases(audience).await.unwrap();
    storage
        .feed(0, &cases, u64::MAX, 1_000_000)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.seq, c.hash))
        .collect()
}

fn hashes_of(changes: &[u8]) -> Vec<Hash> {
    split_chunks(changes)
        .expect("the changes are a sequence of chunks")
        .into_iter()
        .map(|chunk| Hash::from(automerge::Change::from_bytes(chunk).unwrap().hash()))
        .collect()
}

/// Checks one device's exchanges against the database: after each response, every change with a
/// sequence number at or below the cursor it handed over was delivered in that response or an
/// earlier one (or was the device's own). Returns (responses checked, changes checked).
fn check_cursors(
    seed: u64,
    name: &str,
    exchanges: &[Exchange],
    stored: &[(u64, Hash)],
) -> (usize, usize) {
    let mut own = HashSet::new();
    for e in exchanges {
        let request: SyncRequest = decode(&e.request, DECODE_LIMIT).unwrap();
        for doc in &request.push {
            own.extend(hashes_of(&doc.changes));
        }
    }
    let mut delivered = HashSet::new();
    let (mut responses, mut checked) = (0, 0);
    let mut cursors = Vec::new();
    for e in exchanges {
        let Some(response) = e.response.as_ref().filter(|r| r.status == 200) else { continue };
        let response: SyncResponse = decode(&response.body, DECODE_LIMIT).unwrap();
        for doc in &response.docs {
            delivered.extend(hashes_of(&doc.changes));
        }
        let cursor = response.next_cursor;
        cursors.push(cursor);
        responses += 1;
        for (seq, hash) in stored.iter().take_while(|(seq, _)| *seq <= cursor) {
            if own.contains(hash) {
                continue;
            }
            checked += 1;
            assert!(
                delivered.contains(hash),
                "seed {seed}: {name} was handed cursor {cursor} (cursors so far {cursors:?}, from \
                 instance {}) without change {seq}: it will never be fetched",
                e.instance
            );
        }
    }
    (responses, checked)
}

#[derive(Debug, Default)]
struct Figures {
    syncs: usize,
    failed_syncs: usize,
    requests: usize,
    failed_requests: usize,
    kills: usize,
    created: usize,
    edits: usize,
    responses_checked: usize,
    changes_checked: usize,
}

/// One seeded schedule: `rounds` rounds of edits on every device, then every device syncs at
/// once while one instance, chosen at random, is SIGKILLed once a request to it is on the wire;
/// it restarts before the next round. Then the network heals and everything is checked.
async fn schedule(seed: u64, rounds: usize) -> Figures {
    let mut rng = Rng(seed);
    let schema = format!("multi_s{seed}_{}", std::process::id());
    let storage = storage_in(&schema).await; // creates and migrates the schema
    let scratch = Scratch::new();
    let url = url_with_schema(&postgres_url(), &schema);
    let mut fleet = start_fleet(&scratch, &url, 3);
    let urls: Vec<String> = fleet.iter().map(|i| i.url()).collect();
    let env = SyncEnv::attach(scratch, urls[0].clone());
    env.upsert_case("case-1", "LC1", "amara", "north").await;
    env.upsert_case("case-2", "LC2", "ben", "north").await;
    let started: Arc<Vec<AtomicU32>> = Arc::new((0..3).map(|_| AtomicU32::new(0)).collect());
    let people = [
        ("amara", "tablet-a", Audience::Worker("amara".into()), vec!["case-1"]),
        ("amara", "tablet-b", Audience::Worker("amara".into()), vec!["case-1"]),
        ("ben", "tablet", Audience::Worker("ben".into()), vec!["case-2"]),
        ("mina", "laptop", Audience::Team("north".into()), vec!["case-1", "case-2"]),
    ];
    let mut devices: Vec<RoutedDevice> = people
        .iter()
        .enumerate()
        .map(|(i, (worker, device, _, _))| {
            RoutedDevice::new(
                &env.scratch,
                worker,
                device,
                &urls,
                seed * 31 + i as u64,
                started.clone(),
            )
        })
        .collect();
    let mut f = Figures::default();
    for round in 0..rounds {
        for (i, d) in devices.iter_mut().enumerate() {
            let cases = &people[i].3;
            for _ in 0..1 + rng.below(2) {
                let case = cases[rng.below(cases.len())];
                let n = seed as usize * 1000 + round * 10 + i;
                d.store.create_record(case, &visit_body(realistic_visit(n))).unwrap();
                f.created += 1;
            }
            let rows = d.store.case_records(cases[rng.below(cases.len())]).unwrap();
            if !rows.is_empty() {
                let id = rows[rng.below(rows.len())].id.clone();
                let mut record = d.store.record(&id).unwrap();
                if let RecordBody::Visit(v) = &mut record.body {
                    v.observations.push_str(&format!(" Round {round}, device {i}."));
                    d.store.update_record(&id, &record.body).unwrap();
                    f.edits += 1;
                }
            }
        }
        let victim = rng.below(3);
        let pause = Duration::from_millis([0, 0, 3, 15, 60][rng.below(5)]);
        let before = started[victim].load(Ordering::SeqCst);
        let done = AtomicBool::new(false);
        let syncs = async {
            let reports = join_all(devices.iter_mut().map(|d| Box::pin(d.sync()))).await;
            done.store(true, Ordering::SeqCst);
            reports
        };
        let killer = async {
            // Once a request to the victim is on the wire (or every sync ended without one).
            while started[victim].load(Ordering::SeqCst) == before && !done.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            if !done.load(Ordering::SeqCst) {
                tokio::time::sleep(pause).await;
                fleet[victim].kill();
                true
            } else {
                false
            }
        };
        let (reports, killed) = tokio::join!(syncs, killer);
        f.syncs += reports.len();
        f.failed_syncs += reports.iter().filter(|r| r.failure.is_some()).count();
        if killed {
            f.kills += 1;
            fleet[victim].restart();
        }
    }

    // The network heals: every device syncs until nothing moves.
    for _ in 0..3 {
        for d in devices.iter_mut() {
            let report = d.sync().await;
            assert!(report.failure.is_none(), "seed {seed}: {:?}", report.failure);
        }
    }

    let exported: HashMap<String, Record> =
        env.export_all().await.into_iter().map(|r| (r.meta.id.clone(), r)).collect();
    let visits = exported.values().filter(|r| matches!(r.body, RecordBody::Visit(_))).count();
    assert_eq!(visits, f.created, "seed {seed}: every visit created reached the database, once");
    for (i, d) in devices.iter_mut().enumerate() {
        let (worker, device, audience, cases) = &people[i];
        assert_eq!(d.store.pending_count().unwrap(), 0, "seed {seed}: {worker}/{device} pending");
        let mine: Vec<&Record> =
            exported.values().filter(|r| cases.contains(&r.meta.case_id.as_str())).collect();
        for r in &mine {
            let held = d.store.record(&r.meta.id).unwrap();
            assert_eq!(&held, *r, "seed {seed}: {worker}/{device} converged");
        }
        let mut listed = HashSet::new();
        for case in cases {
            for row in d.store.case_records(case).unwrap() {
                assert!(
                    listed.insert(row.id.clone()),
                    "seed {seed}: {worker}/{device} lists twice"
                );
            }
        }
        let visits = mine.iter().filter(|r| matches!(r.body, RecordBody::Visit(_))).count();
        assert_eq!(listed.len(), visits, "seed {seed}: {worker}/{device} lists each visit once");

        let exchanges = d.exchanges();
        f.requests += exchanges.len();
        f.failed_requests += exchanges.iter().filter(|e| e.response.is_none()).count();
        let stored = feed_of(&storage, audience).await;
        let (responses, changes) =
            check_cursors(seed, &format!("{worker}/{device}"), &exchanges, &stored);
        f.responses_checked += responses;
        f.changes_checked += changes;
    }
    assert!(f.changes_checked > 0, "seed {seed}: no cursor was checked: the test proved nothing");
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_one_killed_converge_and_no_cursor_skips_a_change() {
    let (seeds, rounds) = if long() { (1..=12u64, 8) } else { (1..=2u64, 3) };
    let mut total = Figures::default();
    for seed in seeds.clone() {
        let f = schedule(seed, rounds).await;
        println!("seed {seed}: {f:?}");
        total.syncs += f.syncs;
        total.failed_syncs += f.failed_syncs;
        total.requests += f.requests;
        total.failed_requests += f.failed_requests;
        total.kills += f.kills;
        total.created += f.created;
        total.edits += f.edits;
        total.responses_checked += f.responses_checked;
        total.changes_checked += f.changes_checked;
    }
    assert!(total.kills > 0, "no instance was killed mid-sync: the test proved nothing");
    println!(
        "multi-instance: {} schedules x {rounds} rounds, 3 instances: {total:?}",
        seeds.count()
    );
}
