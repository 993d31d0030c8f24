//! A deterministic simulation of Fieldbook's sync (issue #12): devices with real encrypted
//! stores and real sync clients, the real server (axum router, hub, SQLite storage) in the same
//! process, and a seeded scheduler deciding every step: edits, syncs, lost, duplicated and
//! reordered requests, app kills (between steps and in the middle of a sync), server restarts,
//! restores from older backups and re-allocations. After the schedule every device syncs until
//! quiet and the invariants are checked (`world`).
//!
//! A schedule is a function of its seed: the scheduler draws every decision from `rng`, time
//! comes from `clock`, and one request is in flight at a time. (Record ids and Automerge actors
//! are random UUIDs drawn by the core, so the bytes differ between runs of one seed, not the
//! decisions.)

pub mod clock;
pub mod rng;
pub mod server;
pub mod transport;
mod world;

use std::sync::{Arc, Mutex};

use transport::Network;

/// The environment variable with the number of schedules to run.
pub const SCHEDULES_VAR: &str = "FIELDBOOK_SIM_SCHEDULES";
/// The environment variable that replays one schedule.
pub const SEED_VAR: &str = "FIELDBOOK_SIM_SEED";
/// CI's number of schedules.
pub const DEFAULT_SCHEDULES: u64 = 10_000;
/// The seed schedule seeds are derived from (`rng::schedule_seed`).
pub const BASE_SEED: u64 = 0x000f_1e1d_b00c;

/// How the world is built.
#[derive(Debug, Clone, Copy, Default)]
pub struct Config {
    /// Breaks the server on purpose (`transport::Fault::ForgetPush`): the proof that the
    /// invariants catch a lost acknowledged change.
    pub sabotage: bool,
    /// Schedule shapes of earlier versions of the simulation (none by default).
    pub legacy: Legacy,
}

/// The ways earlier versions of the scheduler stepped around bugs while they were open. Every
/// bug they avoided is fixed, so CI's schedules take none of them (the default); each
/// regression seed of tests/tests/simulation.rs replays with the shape that found its bug, so
/// that it replays the same schedule (`Legacy::CI_BEFORE` with one step-around taken off).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Legacy {
    /// Every device syncs before the server is restored, and documents the restored server
    /// lacks are not edited again (around bug 1).
    pub sync_before_restore: bool,
    /// Only backups taken after the last re-allocation and the last late work on a re-allocated
    /// case are restored (around bugs 2, 3 and 6).
    pub restore_only_after_reallocations: bool,
    /// No backup is restored that lacks a record several workers wrote in (around bug 5).
    pub restore_only_without_co_authored: bool,
    /// Every device syncs once with the restored server before anything new is written (around
    /// bugs 4, 7 and 8).
    pub sync_after_restore: bool,
    /// A restored server keeps its backup's allocations until the case system next re-allocates;
    /// off, the case system sends every allocation again at once after a restore (what
    /// docs/council-backend.md asks of operators): work written on a case allocated after the
    /// backup was otherwise refused as a case the worker never had (`not_allocated`) and lost.
    pub keep_backup_allocations: bool,
}

impl Legacy {
    /// CI's schedules before bugs 6 and 8 were fixed: every step-around taken.
    pub const CI_BEFORE: Legacy = Legacy {
        sync_before_restore: true,
        restore_only_after_reallocations: true,
        restore_only_without_co_authored: true,
        sync_after_restore: true,
        keep_backup_allocations: true,
    };
}

/// What the schedules did, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub schedules: u64,
    pub steps: u64,
    pub edits: u64,
    pub edits_checked: u64,
    pub syncs: u64,
    pub faults: u64,
    pub kills: u64,
    pub restarts: u64,
    pub restores: u64,
    pub reallocations: u64,
    /// Edits acknowledged after their case was re-allocated away from the worker.
    pub late_work: u64,
    pub heal_rounds: usize,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.schedules += o.schedules;
        self.steps += o.steps;
        self.edits += o.edits;
        self.edits_checked += o.edits_checked;
        self.syncs += o.syncs;
        self.faults += o.faults;
        self.kills += o.kills;
        self.restarts += o.restarts;
        self.restores += o.restores;
        self.reallocations += o.reallocations;
        self.late_work += o.late_work;
        self.heal_rounds += o.heal_rounds;
    }
}

/// A schedule that broke an invariant (or panicked): its seed, why, and every step it took.
#[derive(Debug, Clone)]
pub struct Failure {
    pub seed: u64,
    pub message: String,
    pub trace: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "simulated schedule {} failed: {}", self.seed, self.message)?;
        writeln!(
            f,
            "replay: {SEED_VAR}={} cargo test --workspace --features fieldbook-ffi/test-hooks \
             --test simulation -- --nocapture simulated_schedules",
            self.seed
        )?;
        writeln!(f, "trace:")?;
        for line in &self.trace {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// Runs the schedule of `seed` on `runtime`.
pub fn run_schedule(
    runtime: &tokio::runtime::Runtime,
    seed: u64,
    config: Config,
) -> Result<Stats, Failure> {
    let net = Arc::new(Network::default());
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(async {
            let mut world = world::World::new(seed, config, net.clone()).await?;
            let result = world.run().await;
            let mut stats = world.stats;
            stats.schedules = 1;
            result.map(|()| stats)
        })
    }));
    let message = match outcome {
        Ok(Ok(stats)) => return Ok(stats),
        Ok(Err(message)) => message,
        Err(panic) => panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .map_or_else(|| "panicked".into(), |m| format!("panicked: {m}")),
    };
    Err(Failure { seed, message, trace: net.take_trace() })
}

/// A runtime for one schedule thread: one thread drives the schedule, as the app's does.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Runs schedules `0..count` (seeds from `base`) on `threads` threads; stops at the first
/// failure, and returns the stats and the failure with the lowest schedule number found.
pub fn run_many(base: u64, count: u64, threads: usize, config: Config) -> (Stats, Option<Failure>) {
    let next = Arc::new(Mutex::new(0u64));
    let failed: Arc<Mutex<Option<(u64, Failure)>>> = Arc::new(Mutex::new(None));
    let total = Arc::new(Mutex::new(Stats::default()));
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            let (next, failed, total) = (next.clone(), failed.clone(), total.clone());
            scope.spawn(move || {
                let runtime = runtime();
                let mut mine = Stats::default();
                loop {
                    let i = {
                        let mut n = next.lock().unwrap();
                        if *n >= count || failed.lock().unwrap().is_some() {
                            break;
                        }
                        *n += 1;
                        *n - 1
                    };
                    match run_schedule(&runtime, rng::schedule_seed(base, i), config) {
                        Ok(stats) => mine.add(&stats),
                        Err(failure) => {
                            let mut f = failed.lock().unwrap();
                            if f.as_ref().is_none_or(|(j, _)| i < *j) {
                                *f = Some((i, failure));
                            }
                        }
                    }
                }
                total.lock().unwrap().add(&mine);
            });
        }
    });
    let stats = *total.lock().unwrap();
    let failure = failed.lock().unwrap().take().map(|(_, f)| f);
    (stats, failure)
}

/// `FIELDBOOK_SIM_SCHEDULES`, or CI's default.
pub fn schedules_from_env() -> u64 {
    std::env::var(SCHEDULES_VAR).ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_SCHEDULES)
}

/// The environment variable that replays a schedule in an earlier shape: a comma-separated
/// list of the step-arounds to take (`sync_before_restore`, `restore_only_after_reallocations`,
/// `restore_only_without_co_authored`, `sync_after_restore`, `keep_backup_allocations`: see
/// `Legacy`); `ci_before` takes all
/// of them, and `-name` takes one off again (`ci_before,-sync_after_restore`).
pub const LEGACY_VAR: &str = "FIELDBOOK_SIM_LEGACY";

/// The configuration `FIELDBOOK_SIM_LEGACY` asks for (the default without it).
pub fn config_from_env() -> Config {
    let shape = std::env::var(LEGACY_VAR).unwrap_or_default();
    let has = |word: &str| shape.split(',').any(|b| b.trim() == word);
    let on = |name: &str| (has("ci_before") || has(name)) && !has(&format!("-{name}"));
    Config {
        sabotage: false,
        legacy: Legacy {
            sync_before_restore: on("sync_before_restore"),
            restore_only_after_reallocations: on("restore_only_after_reallocations"),
            restore_only_without_co_authored: on("restore_only_without_co_authored"),
            sync_after_restore: on("sync_after_restore"),
            keep_backup_allocations: on("keep_backup_allocations"),
        },
    }
}

/// `FIELDBOOK_SIM_SEED`, when one schedule is to be replayed.
pub fn seed_from_env() -> Option<u64> {
    std::env::var(SEED_VAR).ok().and_then(|v| v.parse().ok())
}
