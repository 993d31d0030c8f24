//! Network faults between devices and the server, through a real proxy on loopback: requests and
//! responses dropped, delayed, truncated, duplicated, replayed out of order, connections cut
//! mid-body. With several devices and random schedules, everything converges once the network
//! heals, with zero lost and zero duplicated records or edits.
//!
//! `FIELDBOOK_LONG=1` runs 100 schedules instead of 12 (the figure in docs/reliability.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::HashMap;

use fieldbook_core::records::RecordBody;
use fieldbook_tests::fault_proxy::{FaultProxy, NetFault};
use fieldbook_tests::sync_env::{Device, SyncEnv};
use fieldbook_tests::{realistic_visit, visit_body};

struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

fn observations(d: &mut Device, id: &str) -> String {
    match d.store.record(id).unwrap().body {
        RecordBody::Visit(v) => v.observations,
        other => panic!("{other:?}"),
    }
}

/// One schedule; returns the number of faults injected.
async fn run_schedule(seed: u64) -> u64 {
    let env = SyncEnv::start().await;
    env.upsert_case("case-1", "LC1", "amara", "north").await;
    let proxy = FaultProxy::start(env.server.as_ref().unwrap().addr).await;
    let mut devices = [
        env.device_via("amara", "tablet-a", &proxy.url()),
        env.device_via("amara", "tablet-b", &proxy.url()),
        env.device_via("mina", "laptop", &proxy.url()),
    ];
    for d in devices.iter_mut() {
        assert!(d.sync().await.failure.is_none());
    }
    let mut rng = Lcg(seed);
    // Every record created, with the markers its observations must hold exactly once.
    let mut expected: HashMap<String, Vec<String>> = HashMap::new();
    for step in 0..14 {
        let d = &mut devices[rng.next(3) as usize];
        let marker = format!("[m{seed}-{step}]");
        let own: Vec<String> =
            d.store.case_records("case-1").unwrap().into_iter().map(|r| r.id).collect();
        if own.is_empty() || rng.next(3) == 0 {
            let mut v = realistic_visit(step);
            v.observations = marker.clone();
            let id = d.store.create_record("case-1", &visit_body(v)).unwrap();
            expected.insert(id, vec![marker]);
        } else {
            let id = own[rng.next(own.len() as u64) as usize].clone();
            let mut record = d.store.record(&id).unwrap();
            if let RecordBody::Visit(v) = &mut record.body {
                v.observations.push_str(&format!(" {marker}"));
            }
            d.store.update_record(&id, &record.body).unwrap();
            expected.get_mut(&id).unwrap().push(marker);
        }
        for _ in 0..rng.next(3) {
            proxy.push(NetFault::KINDS[rng.next(NetFault::KINDS.len() as u64) as usize]);
        }
        // The sync may fail under the faults: it must never lose or duplicate anything.
        let _ = d.sync().await;
    }

    proxy.heal();
    for _ in 0..3 {
        for d in devices.iter_mut() {
            let report = d.sync().await;
            assert!(report.failure.is_none(), "seed {seed}: {:?}", report.failure);
        }
    }
    let exported = env.export_all().await;
    let visits: Vec<_> =
        exported.iter().filter(|r| matches!(r.body, RecordBody::Visit(_))).collect();
    assert_eq!(visits.len(), expected.len(), "seed {seed}: records lost or duplicated");
    for (id, markers) in &expected {
        let server = visits
            .iter()
            .find(|r| &r.meta.id == id)
            .unwrap_or_else(|| panic!("seed {seed}: {id} lost"));
        let RecordBody::Visit(v) = &server.body else { panic!() };
        for m in markers {
            assert_eq!(v.observations.matches(m.as_str()).count(), 1, "seed {seed}: {m} in {id}");
        }
        for d in devices.iter_mut() {
            assert_eq!(&d.store.record(id).unwrap(), *server, "seed {seed}: {id} differs");
            assert_eq!(observations(d, id), v.observations);
        }
    }
    for d in devices.iter_mut() {
        assert_eq!(d.store.pending_count().unwrap(), 0, "seed {seed}");
    }
    proxy.injected()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_fault_schedules_converge_without_loss_or_duplicates() {
    let schedules = if std::env::var_os("FIELDBOOK_LONG").is_some() { 100 } else { 12 };
    let mut faults = 0;
    for seed in 0..schedules {
        faults += run_schedule(1000 + seed).await;
    }
    assert!(faults > schedules, "faults were injected: {faults}");
    println!(
        "network faults: {schedules} schedules, {faults} faults injected, 0 lost, 0 duplicated"
    );
}
