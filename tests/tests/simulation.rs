//! The deterministic simulation (issue #12, `fieldbook_tests::sim`): many seeded schedules of
//! edits, syncs, network faults, app kills, server restarts, restores and re-allocations, each
//! healed and checked. A failure prints its seed, the command that replays it, and its trace.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use fieldbook_tests::sim::{self, Config, Legacy};

/// The shape of schedule that found a bug: CI's schedules of the time (`Legacy::CI_BEFORE`) with
/// the step-around `off` taken off, so that its seed replays the schedule that found it.
fn before(off: fn(&mut Legacy)) -> Config {
    let mut legacy = Legacy::CI_BEFORE;
    off(&mut legacy);
    Config { legacy, ..Config::default() }
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).min(4)
}

/// Replays a schedule that walks into a known bug until it fails (at most 20 times: record
/// ids and actors are random, and some of these bugs strike only when re-pushed changes take
/// particular sequence numbers, which follow the order of the ids).
fn replay_until_it_fails(seed: u64, config: Config) {
    let runtime = sim::runtime();
    for _ in 0..20 {
        if let Err(failure) = sim::run_schedule(&runtime, seed, config) {
            panic!("{failure}");
        }
    }
}

/// CI's run: `FIELDBOOK_SIM_SCHEDULES` schedules (10,000 by default), or the one schedule of
/// `FIELDBOOK_SIM_SEED`.
#[test]
fn simulated_schedules() {
    if let Some(seed) = sim::seed_from_env() {
        let runtime = sim::runtime();
        match sim::run_schedule(&runtime, seed, sim::config_from_env()) {
            Ok(stats) => eprintln!("schedule {seed} passed: {stats:?}"),
            Err(failure) => panic!("{failure}"),
        }
        return;
    }
    let count = sim::schedules_from_env();
    let started = std::time::Instant::now();
    let (stats, failure) = sim::run_many(sim::BASE_SEED, count, threads(), sim::config_from_env());
    eprintln!("simulation: {stats:?} in {:.1} s", started.elapsed().as_secs_f64());
    if let Some(failure) = failure {
        panic!("{failure}");
    }
    assert_eq!(stats.schedules, count, "every schedule ran");
    assert!(stats.edits_checked > 0 && stats.faults > 0 && stats.restores > 0, "{stats:?}");
}

/// The simulation catches a broken server: one that sometimes acknowledges a push without
/// storing it (`Fault::ForgetPush`). Some schedule must fail with the lost edit named, and its
/// seed must fail again when replayed.
#[test]
fn a_server_that_forgets_acknowledged_changes_is_caught() {
    let sabotage = Config { sabotage: true, ..Config::default() };
    let (stats, failure) = sim::run_many(sim::BASE_SEED, 200, threads(), sabotage);
    let failure = failure.unwrap_or_else(|| panic!("no schedule caught the sabotage: {stats:?}"));
    eprintln!("sabotage caught after {} schedules:\n{failure}", stats.schedules + 1);
    assert!(failure.message.contains("times on the server"), "{}", failure.message);
    let again = sim::run_schedule(&sim::runtime(), failure.seed, sabotage)
        .expect_err("the seed fails again when replayed");
    assert!(again.message.contains("times on the server"), "{}", again.message);
    assert_eq!(
        sim::run_schedule(&sim::runtime(), failure.seed, Config::default())
            .err()
            .map(|f| f.message),
        None,
        "the same schedule passes on an honest server"
    );
}

/// Found by the simulation, fixed in `server/src/hub/push.rs`: Amara's tablet creates visit X
/// after the server's last backup and X is acknowledged; the server is restored from the backup
/// (X is gone) and the tablet appends to X. The tablet pushes only the changes after the
/// acknowledged heads. The hub used to load them into an empty document, find no record and
/// refuse the push as `Malformed`; refused documents are not offered again in the same `sync()`,
/// so X never reached the server, and a re-allocation purged the only copy. Now changes whose
/// dependencies the server lacks are left unacknowledged, and the repair has the tablet send X
/// whole. Replays in the shape that found it (CI's schedules then, without `Legacy::sync_before_restore`):
/// `FIELDBOOK_SIM_LEGACY=ci_before,-sync_before_restore FIELDBOOK_SIM_SEED=17920376766012528947`.
#[test]
fn regression_seed_1() {
    let config = before(|l| l.sync_before_restore = false);
    replay_until_it_fails(17920376766012528947, config);
}

/// Found by the simulation, fixed in the hub's repair (`server/src/hub/repair.rs`,
/// `repair::triage_tests`): the case system re-allocates a case from Amara to Carol after the server's last backup;
/// Carol's tablet receives it. The server is restored from the backup, in which the case is
/// Amara's and Carol never had it. Carol's tablet resyncs from cursor 0: the restored history
/// holds no revocation for her (she was never allocated the case in it), so the tablet keeps
/// the case, although the server refuses its pushes into it (`NotAllocated`) and would not send
/// it to her. Now each checked document names its case, and the repair answer revokes the
/// cases of checked documents the caller may not see. Replays in the shape that found it (without `Legacy::restore_only_after_reallocations`)
/// (`FIELDBOOK_SIM_LEGACY=ci_before,-restore_only_after_reallocations FIELDBOOK_SIM_SEED=4743203892669329382`).
#[test]
fn regression_seed_2() {
    let config = before(|l| l.restore_only_after_reallocations = false);
    replay_until_it_fails(4743203892669329382, config);
}

/// Found by the simulation, fixed with signed changes (issue #16, `server/src/hub/push.rs`): Amara's
/// late visit on a case re-allocated to Carol reaches the server after its last backup, and
/// Carol's tablet receives it; Amara's tablets purge the case. The server is restored from the
/// backup, which lacks the visit. Carol's tablet holds the only copy and is asked for it in
/// full (`send_all`), but the hub refuses changes authored by someone else (`WrongAuthor`): the
/// visit never returned to the server, and Carol's tablet kept a document the server lacks. Now a
/// relayed change is accepted when it carries a valid signature by a registered, unrevoked key of
/// its author (Amara's), which Carol's tablet received with it. Replays in the shape that found it (without `Legacy::restore_only_after_reallocations`) (`FIELDBOOK_SIM_LEGACY=ci_before,-restore_only_after_reallocations FIELDBOOK_SIM_SEED=10459565959638315290`).
#[test]
fn regression_seed_3() {
    let config = before(|l| l.restore_only_after_reallocations = false);
    replay_until_it_fails(10459565959638315290, config);
}

/// Found by the simulation, fixed by the chained feed tags (server schema 6,
/// `storage::chain_tag`; docs/PROTOCOL.md, "Restores from backup"): every device synced, then the
/// server is restored from a backup. Amara's tablet resyncs and pushes its lost changes again;
/// they take new sequence numbers, and the change now at the manager's cursor is the very
/// change that was there before the restore, so the manager's laptop sees its tag match and
/// does not resync. Amara's next note takes a sequence number below the laptop's cursor: the
/// laptop never receives it (the trace ends with the laptop lacking the note). Now each tag
/// chains over the history up to its entry, so the laptop's tag no longer matches and it
/// resyncs. Replays in the shape that found it (without `Legacy::sync_after_restore`, the step-around
/// that hid it) (`FIELDBOOK_SIM_LEGACY=ci_before,-sync_after_restore FIELDBOOK_SIM_SEED=13273403386734652694`).
#[test]
fn regression_seed_4() {
    let config = before(|l| l.sync_after_restore = false);
    replay_until_it_fails(13273403386734652694, config);
}

/// Found by the simulation, fixed with signed changes as `regression_seed_3` (issue #16): the
/// manager's laptop creates a visit after the server's backup, Amara's tablet
/// appends to it, both acknowledged. The server is restored from the backup, which lacks the
/// visit. Both devices are asked for it in full and both were refused (`WrongAuthor`): each full
/// push holds the other worker's changes, now accepted with their authors' signatures. Replays
/// in the shape that found it (without `Legacy::restore_only_without_co_authored`) (`FIELDBOOK_SIM_LEGACY=ci_before,-restore_only_without_co_authored
/// FIELDBOOK_SIM_SEED=5259059535408653937`).
#[test]
fn regression_seed_5() {
    let config = before(|l| l.restore_only_without_co_authored = false);
    replay_until_it_fails(5259059535408653937, config);
}

/// Found by the simulation once the step-around of bug 4 was gone, fixed in the device's store
/// (`Store::apply_exchange`, `ExchangePlan::forget_acks`): tablet-b's visit, acknowledged after
/// the last backup, is lost by the restore. Tablet-b's next sync gets `resync` and commits the
/// restored server's cursor, then the app is killed before the repair that follows (`check`,
/// `send_all`, the whole push) completes. Its cursor is now valid, so the server never asks
/// again, and its acknowledged heads said the server held the visit: it was never pushed again
/// ("e2 ... appears 0 times on the server"). Now a resync forgets every acknowledgement in the
/// cursor's transaction, so the device pushes everything whole until the server acknowledges it.
/// Replays with `FIELDBOOK_SIM_LEGACY=ci_before,-sync_after_restore FIELDBOOK_SIM_SEED=15561500501578558290`.
#[test]
fn regression_seed_7() {
    let config = before(|l| l.sync_after_restore = false);
    replay_until_it_fails(15561500501578558290, config);
}

/// Found by the simulation once the step-arounds of bugs 2 and 4 were gone, fixed in
/// `server/src/hub/push.rs` (bug 6 in docs/reliability.md §10). The case system re-allocates
/// case-1 twice after the server's backup (each re-allocation writes the case summary); every
/// device receives the newer summary. The server is restored from the backup, which holds the
/// older summary. Each device then holds summary changes the restored server lacks, is asked for
/// the summary in full (`send_all`), and was refused (`ReadOnly`: only the case system writes
/// summaries), so the devices and the server never agreed on `summary-case-1` ("laptop-m and the
/// server differ on summary-case-1"). Now a summary's missing changes are accepted when each
/// carries the server's own signature made for the case system
/// (`push_tests::a_summary_the_server_lost_comes_back_only_under_its_own_signature_for_the_case_system`).
/// Replays with `FIELDBOOK_SIM_LEGACY=ci_before,-restore_only_after_reallocations
/// FIELDBOOK_SIM_SEED=15794380346935448190`.
#[test]
fn regression_seed_6() {
    let config = before(|l| l.restore_only_after_reallocations = false);
    replay_until_it_fails(15794380346935448190, config);
}

/// Found by the simulation once the step-around of bug 4 was gone, fixed in the device's store
/// (`core/src/store/revocation.rs`; bug 8 in docs/reliability.md §10). Tablet-a's visit is held
/// by the restored server only in part (a change acknowledged after the backup is lost); tablet-a
/// appends to it offline, then the case is re-allocated to Carol. At the next sync the push is
/// left unacknowledged (the server lacks the earlier change, so the repair would ask for the
/// visit whole) and the response revokes the case: the purge removed the only copy of Amara's
/// late work ("e5 ... appears 0 times on the server"). Now a revocation keeps a document with
/// changes the server has not acknowledged, unlisted, until it is acknowledged
/// (`revocation::tests`). Replays with `FIELDBOOK_SIM_LEGACY=ci_before,-sync_after_restore
/// FIELDBOOK_SIM_SEED=17054291510515174565`.
#[test]
fn regression_seed_8() {
    let config = before(|l| l.sync_after_restore = false);
    replay_until_it_fails(17054291510515174565, config);
}

/// Found once every step-around was gone: Carol's visit, written on a case allocated to her
/// after the server's last backup; the server is restored and keeps the backup's allocations,
/// so her push is refused (`not_allocated`) and her tablet purges the case with the visit. The
/// case system is the authority on allocations and sends them again after a restore
/// (docs/council-backend.md, "Backups"), which the scheduler now does: the visit reaches the
/// server. Replays with `FIELDBOOK_SIM_SEED=11917423308695146163`.
#[test]
fn regression_seed_9() {
    replay_until_it_fails(11917423308695146163, Config::default());
}

/// Found once every step-around was gone: Ben's tablet holds the newer case summary (a
/// re-allocation to him after the server's backup); the server is restored, and his next sync
/// gets `resync`, commits the cursor and is killed before the repair. Its summary's
/// acknowledgement was kept (summaries were left out of `forget_acks`, since a restored server
/// refused them before bug 6's fix), so it was never pushed again ("tablet-b and the server
/// differ on summary-case-1"). Now a resync forgets the summaries' acknowledgements too.
/// Replays with `FIELDBOOK_SIM_SEED=5546174709239574637`.
#[test]
fn regression_seed_10() {
    replay_until_it_fails(5546174709239574637, Config::default());
}

/// Found with `regression_seed_9`'s fix in place: Carol writes on a case allocated to her after
/// the backup, the case then goes to Amara, and the server is restored. Sending only the current
/// allocations again left Carol a worker who never had the case, so her late work was refused
/// and purged. The case system sends again every allocation since the backup, in order
/// (docs/council-backend.md, "Backups"): her late work is kept. Replays with
/// `FIELDBOOK_SIM_SEED=15568344315324850692`.
#[test]
fn regression_seed_11() {
    replay_until_it_fails(15568344315324850692, Config::default());
}
