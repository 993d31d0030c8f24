//! Restores from backups, the classic way offline-first systems lose data: a server restored from
//! an older backup must get every device's changes back, and a device restored from an older
//! backup must get back what it had, both without any client reset.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use fieldbook_core::records::RecordBody;
use fieldbook_tests::sync_env::{Device, ServerProcess, SyncEnv};
use fieldbook_tests::{realistic_visit, visit_body, Scratch};

/// Copies a SQLite database as a crash image: the main file and its WAL (taken while nothing
/// writes, so they are consistent).
fn copy_db(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
    let (wal_from, wal_to) = (wal(from), wal(to));
    if wal_from.exists() {
        std::fs::copy(&wal_from, &wal_to).unwrap();
    } else {
        let _ = std::fs::remove_file(&wal_to);
    }
    let _ = std::fs::remove_file(shm(to));
}

fn wal(p: &Path) -> std::path::PathBuf {
    p.with_extension("db-wal")
}

fn shm(p: &Path) -> std::path::PathBuf {
    p.with_extension("db-shm")
}

fn append_to_observations(d: &mut Device, id: &str, words: &str) {
    let mut record = d.store.record(id).unwrap();
    if let RecordBody::Visit(v) = &mut record.body {
        v.observations.push_str(words);
    }
    d.store.update_record(id, &record.body).unwrap();
}

async fn sync_ok(d: &mut Device) {
    let report = d.sync().await;
    assert!(report.failure.is_none(), "{:?}", report.failure);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
}

/// Every device and the server hold the same records, each once.
async fn assert_converged(env: &SyncEnv, devices: &mut [&mut Device], expected: &[&String]) {
    let exported = env.export_all().await;
    for id in expected {
        assert_eq!(exported.iter().filter(|r| &&r.meta.id == id).count(), 1, "record {id}");
    }
    for d in devices.iter_mut() {
        assert_eq!(d.store.pending_count().unwrap(), 0);
        assert_eq!(d.store.case_records("case-1").unwrap().len() + 1, exported.len());
        for r in &exported {
            assert_eq!(&d.store.record(&r.meta.id).unwrap(), r);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restored_from_an_older_backup_gets_every_change_back() {
    let scratch = Scratch::new();
    let db = scratch.path("server.db");
    let backup = scratch.path("backup.db");
    let exe = Path::new(env!("CARGO_BIN_EXE_fieldbook-test-server"));
    let mut server = ServerProcess::start(exe, &db.to_string_lossy(), &scratch);
    let env = SyncEnv::attach(scratch, server.url());
    env.upsert_case("case-1", "LC1", "amara", "north").await;
    let mut a = env.device("amara", "tablet-a");
    let mut b = env.device("amara", "tablet-b");
    let r1 = a.store.create_record("case-1", &visit_body(realistic_visit(1))).unwrap();
    sync_ok(&mut a).await;
    sync_ok(&mut b).await;

    // The nightly backup.
    server.kill();
    copy_db(&db, &backup);
    server.restart();

    // A day's work after the backup, all acknowledged by the server.
    let r2 = a.store.create_record("case-1", &visit_body(realistic_visit(2))).unwrap();
    append_to_observations(&mut a, &r1, " Added after the backup by tablet A.");
    sync_ok(&mut a).await;
    let r3 = b.store.create_record("case-1", &visit_body(realistic_visit(3))).unwrap();
    sync_ok(&mut b).await;
    append_to_observations(&mut b, &r2, " Tablet B's note on A's record.");
    sync_ok(&mut b).await;
    sync_ok(&mut a).await;
    assert_eq!(a.store.pending_count().unwrap(), 0, "everything acknowledged");

    // The server's disk fails; it is restored from last night's backup.
    server.kill();
    copy_db(&backup, &db);
    server.restart();
    let lost = env.export_all().await;
    assert!(lost.iter().all(|r| r.meta.id != r2 && r.meta.id != r3), "the restore lost r2, r3");

    // The manager's laptop syncs first: its new records take the feed numbers the devices'
    // cursors point at, so a device trusting its cursor would skip them.
    let mut m = env.device("mina", "laptop");
    let mut from_manager = Vec::new();
    for i in 0..6 {
        from_manager
            .push(m.store.create_record("case-1", &visit_body(realistic_visit(10 + i))).unwrap());
    }
    sync_ok(&mut m).await;

    // The devices sync as usual: no reset, nothing typed again.
    let report = a.sync().await;
    assert!(report.resynced, "tablet A's cursor is unknown to the restored server");
    sync_ok(&mut b).await;
    sync_ok(&mut a).await;
    sync_ok(&mut m).await;
    let mut c = env.device("amara", "tablet-c");
    sync_ok(&mut c).await;
    let mut expected = vec![&r1, &r2, &r3];
    expected.extend(from_manager.iter());
    assert_converged(&env, &mut [&mut a, &mut b, &mut c, &mut m], &expected).await;
    let record = c.store.record(&r2).unwrap();
    match record.body {
        RecordBody::Visit(v) => {
            assert!(v.observations.ends_with(" Tablet B's note on A's record."))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_restored_from_an_older_backup_gets_its_records_back() {
    let env = SyncEnv::start().await;
    env.upsert_case("case-1", "LC1", "amara", "north").await;
    let path = env.scratch.path("amara-tablet-a.db");
    let backup = env.scratch.path("tablet-backup.db");
    let mut a = env.device("amara", "tablet-a");
    let r1 = a.store.create_record("case-1", &visit_body(realistic_visit(1))).unwrap();
    sync_ok(&mut a).await;
    drop(a);
    copy_db(&path, &backup);

    let mut a = env.device("amara", "tablet-a");
    let r2 = a.store.create_record("case-1", &visit_body(realistic_visit(2))).unwrap();
    append_to_observations(&mut a, &r1, " Written after the tablet's backup.");
    sync_ok(&mut a).await;
    drop(a);

    // The tablet is replaced and restored from its backup: r2 and the edit are gone from it.
    copy_db(&backup, &path);
    let mut a = env.device("amara", "tablet-a");
    assert!(a.store.record(&r2).is_err());
    sync_ok(&mut a).await;
    sync_ok(&mut a).await;
    let mut b = env.device("amara", "tablet-b");
    sync_ok(&mut b).await;
    assert_converged(&env, &mut [&mut a, &mut b], &[&r1, &r2]).await;
    match a.store.record(&r1).unwrap().body {
        RecordBody::Visit(v) => {
            assert!(v.observations.ends_with(" Written after the tablet's backup."))
        }
        other => panic!("{other:?}"),
    }
}
