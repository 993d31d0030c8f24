//! The deterministic simulation (issue #12, `fieldbook_tests::sim`): many seeded schedules of
//! edits, syncs, network faults, app kills, server restarts, restores and re-allocations, each
//! healed and checked. A failure prints its seed, the command that replays it, and its trace.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use fieldbook_tests::sim::{self, Config};

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).min(4)
}

/// CI's run: `FIELDBOOK_SIM_SCHEDULES` schedules (10,000 by default), or the one schedule of
/// `FIELDBOOK_SIM_SEED`.
#[test]
fn simulated_schedules() {
    if let Some(seed) = sim::seed_from_env() {
        let runtime = sim::runtime();
        match sim::run_schedule(&runtime, seed, Config::default()) {
            Ok(stats) => eprintln!("schedule {seed} passed: {stats:?}"),
            Err(failure) => panic!("{failure}"),
        }
        return;
    }
    let count = sim::schedules_from_env();
    let started = std::time::Instant::now();
    let (stats, failure) = sim::run_many(sim::BASE_SEED, count, threads(), Config::default());
    eprintln!("simulation: {stats:?} in {:.1} s", started.elapsed().as_secs_f64());
    if let Some(failure) = failure {
        panic!("{failure}");
    }
    assert_eq!(stats.schedules, count, "every schedule ran");
    assert!(stats.edits_checked > 0 && stats.faults > 0 && stats.restores > 0, "{stats:?}");
}
