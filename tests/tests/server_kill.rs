//! The server SIGKILLed while devices are mid-exchange, then restarted on the same data: nothing
//! it acknowledged is lost, nothing is duplicated, and everything converges afterwards.
// The figures for docs/reliability.md are printed (run with --nocapture to see them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use fieldbook_core::records::{Record, RecordBody};
use fieldbook_core::store::Delivery;
use fieldbook_tests::sync_env::{Device, ServerProcess, SyncEnv};
use fieldbook_tests::{realistic_visit, visit_body, Scratch};

const ROUNDS: usize = 6;
const PAUSES_MS: [u64; ROUNDS] = [0, 1500, 5, 40, 1500, 0];

/// Every record the device says the council received, as the device holds it.
fn acknowledged(device: &mut Device) -> Vec<Record> {
    let rows = device.store.case_records("case-1").unwrap();
    let mut out = Vec::new();
    for row in rows {
        if matches!(device.store.delivery(&row.id).unwrap(), Delivery::Received { .. }) {
            out.push(device.store.record(&row.id).unwrap());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_exchange_loses_nothing_it_acknowledged() {
    let scratch = Scratch::new();
    let db = scratch.path("server.db").to_string_lossy().into_owned();
    let exe = Path::new(env!("CARGO_BIN_EXE_fieldbook-test-server"));
    let mut server = ServerProcess::start(exe, &db, &scratch);
    let env = SyncEnv::attach(scratch, server.url());
    env.upsert_case("case-1", "LC1", "amara", "north").await;
    let mut a = env.device("amara", "tablet-a");
    let mut b = env.device("amara", "tablet-b");
    let mut m = env.device("mina", "laptop");
    let mut created = 0;
    let mut interrupted = 0;
    let mut checked = 0;
    for (round, pause_ms) in PAUSES_MS.into_iter().enumerate() {
        for (i, d) in [&mut a, &mut b, &mut m].into_iter().enumerate() {
            for j in 0..3 {
                d.store
                    .create_record("case-1", &visit_body(realistic_visit(round * 10 + i * 3 + j)))
                    .unwrap();
                created += 1;
            }
            // And an edit of a record the device already holds, so pushes mix new and old.
            if let Some(row) = d.store.case_records("case-1").unwrap().first() {
                let mut record = d.store.record(&row.id).unwrap();
                if let RecordBody::Visit(v) = &mut record.body {
                    v.observations.push_str(&format!(" Round {round} on device {i}."));
                }
                d.store.update_record(&row.id, &record.body).unwrap();
            }
        }
        // Kill once a request is on the wire, after a pause: short ones land mid-exchange, long
        // ones after the exchanges completed (so that there are acknowledgements to check).
        let on_wire = a.transport.requests.clone();
        let before = on_wire.load(Ordering::SeqCst);
        let pause = Duration::from_millis(pause_ms);
        let killer = async {
            while on_wire.load(Ordering::SeqCst) == before {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            tokio::time::sleep(pause).await;
            server.kill();
        };
        let (ra, rb, rm, ()) = tokio::join!(a.sync(), b.sync(), m.sync(), killer);
        interrupted += [ra, rb, rm].iter().filter(|r| r.failure.is_some()).count();

        server.restart();
        // Everything a device was told was received is on the server, exactly as acknowledged.
        let exported: HashMap<String, Record> =
            env.export_all().await.into_iter().map(|r| (r.meta.id.clone(), r)).collect();
        for d in [&mut a, &mut b, &mut m] {
            for record in acknowledged(d) {
                assert_eq!(exported.get(&record.meta.id), Some(&record), "acknowledged, then lost");
                checked += 1;
            }
        }
    }
    assert!(interrupted > 0, "no kill landed mid-exchange: the test proved nothing");
    assert!(checked > 0, "no exchange completed before a kill: the test proved nothing");

    // The network heals: everything converges, nothing lost, nothing twice.
    for _ in 0..2 {
        for d in [&mut a, &mut b, &mut m] {
            let report = d.sync().await;
            assert!(report.failure.is_none(), "{:?}", report.failure);
        }
    }
    let exported = env.export_all().await;
    let visits = exported.iter().filter(|r| matches!(r.body, RecordBody::Visit(_))).count();
    assert_eq!(visits, created, "every record created reached the server, once");
    for d in [&mut a, &mut b, &mut m] {
        assert_eq!(d.store.pending_count().unwrap(), 0);
        for r in &exported {
            assert_eq!(&d.store.record(&r.meta.id).unwrap(), r);
        }
    }
    println!("server kills: {ROUNDS}, interrupted syncs: {interrupted}, acknowledged records checked: {checked}");
}
