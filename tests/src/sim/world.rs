//! One schedule: the devices, the server, the case system and the scheduler's steps, with the
//! ledger of every edit and the invariants checked after each step and after healing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fieldbook_core::records::{
    CaseNote, CaseNoteCategory, RecordBody, RecordKind, Visit, VisitKind,
};
use fieldbook_core::sync::transport::RetryPolicy;
use fieldbook_core::sync::{SyncClient, SyncReport};
use fieldbook_core::{Error, Store};

use super::clock::VirtualClock;
use super::rng::SimRng;
use super::server::SimServer;
use super::transport::{Fault, Network, SimTransport};
use super::{Config, Stats};
use crate::sync_env::{token_of, FixedToken};
use crate::{at, realistic_visit, KEY, PLANTED_PREFIX};

/// Fails the schedule with a message (the caller adds the seed and the trace).
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// The workers a case can be allocated to: (worker, team).
const WORKERS: &[(&str, &str)] = &[("amara", "north"), ("ben", "north"), ("carol", "south")];
/// The manager of team north: sees every case allocated in the team.
const MANAGER: &str = "mina";

/// Where an edit stands in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
enum EditState {
    /// Made on the device, not yet acknowledged.
    Pending,
    /// The device was told the server holds it (at this step): it must never be lost.
    Acked(usize),
    /// Acknowledged, but the server was restored from a backup that lacks it: it must come back
    /// from a device, unless no device that may see its case still holds it.
    AtRisk,
    /// Gone for a reason the design accepts (named in the trace), so not required afterwards.
    Excused(&'static str),
}

#[derive(Debug, Clone)]
struct Edit {
    device: usize,
    case_id: String,
    record: String,
    marker: String,
    state: EditState,
}

struct SimDevice {
    name: String,
    worker: &'static str,
    path: PathBuf,
    store: Option<Store>,
    client: Option<SyncClient<SimTransport>>,
    transport: SimTransport,
    /// The cases the device may hold now: what it could see at its last complete sync, plus
    /// what became visible in syncs since that did not complete (it has not heard of a
    /// revocation until a sync completes).
    may_hold: BTreeSet<String>,
}

impl SimDevice {
    fn sees(&self, allocation: &(String, String)) -> bool {
        if self.worker == MANAGER {
            allocation.1 == "north"
        } else {
            allocation.0 == self.worker
        }
    }

    fn open(&mut self, clock: &VirtualClock) {
        let mut store = Store::open_with_key_bytes(&self.path, &KEY, self.worker, &self.name)
            .unwrap_or_else(|e| panic!("{} does not reopen: {e}", self.name));
        store.set_clock(clock.store_clock());
        // No pause between attempts: nothing in a schedule waits on the wall clock.
        let retry = RetryPolicy { attempts: 2, base: Duration::ZERO, max: Duration::ZERO };
        let client = SyncClient::new(
            self.transport.clone(),
            Arc::new(FixedToken(token_of(self.worker))),
            self.name.clone(),
        )
        .with_retry(retry);
        self.store = Some(store);
        self.client = Some(client);
    }

    /// The app is killed: store and sync client dropped, then the app starts again.
    fn kill(&mut self, clock: &VirtualClock) {
        self.client = None;
        self.store = None;
        self.open(clock);
    }

    fn store(&mut self) -> &mut Store {
        self.store.as_mut().expect("the device's app is running")
    }
}

/// A server backup: its number, the allocations it holds, the re-allocations and late work
/// acknowledged before it was taken, its step, and how many allocations the case system had
/// made by then.
type Backup = (usize, BTreeMap<String, (String, String)>, (u64, u64), usize, usize);

pub struct World {
    rng: SimRng,
    sabotage: SimRng,
    config: Config,
    _dir: tempfile::TempDir,
    net: Arc<Network>,
    server: SimServer,
    clock: VirtualClock,
    devices: Vec<SimDevice>,
    cases: Vec<String>,
    /// The allocation the case system last set, as the server holds it: case -> (worker, team).
    alloc: BTreeMap<String, (String, String)>,
    /// Server backups: (number, the allocations they hold, re-allocations and late work
    /// acknowledged before).
    backups: Vec<Backup>,
    /// Every allocation the case system made, in order: (case, worker, team).
    alloc_log: Vec<(String, String, String)>,
    edits: Vec<Edit>,
    /// Documents a restore took from the server: not edited again under
    /// `Legacy::sync_before_restore`.
    frozen: BTreeSet<String>,
    step: usize,
    pub stats: Stats,
}

impl World {
    pub async fn new(seed: u64, config: Config, net: Arc<Network>) -> Result<Self, String> {
        let mut rng = SimRng::new(seed);
        let dir =
            tempfile::Builder::new().prefix("fieldbook-sim-").tempdir_in(scratch_root()).unwrap();
        let server = SimServer::new(dir.path(), net.clone());
        let clock = VirtualClock::new(at(2026, 3, 2, 9));
        // Amara's tablet and Carol's (a worker of another team, who sees none of the cases at
        // first), then up to two of: Amara's second tablet, Ben's tablet, the manager's laptop.
        let mut people: Vec<(&'static str, &str)> =
            vec![("amara", "tablet-a"), ("carol", "tablet-c")];
        let mut optional = vec![("amara", "tablet-a2"), ("ben", "tablet-b"), (MANAGER, "laptop-m")];
        for _ in 0..rng.below(3) {
            let i = rng.below(optional.len());
            people.push(optional.remove(i));
        }
        let devices = people
            .into_iter()
            .map(|(worker, name)| {
                let transport = SimTransport::new(net.clone(), name);
                let mut d = SimDevice {
                    name: name.to_string(),
                    worker,
                    path: dir.path().join(format!("{name}.db")),
                    store: None,
                    client: None,
                    transport,
                    may_hold: BTreeSet::new(),
                };
                d.open(&clock);
                d
            })
            .collect();
        let mut world = Self {
            rng,
            sabotage: SimRng::new(!seed),
            config,
            _dir: dir,
            net,
            server,
            clock,
            devices,
            cases: Vec::new(),
            alloc: BTreeMap::new(),
            backups: Vec::new(),
            alloc_log: Vec::new(),
            edits: Vec::new(),
            frozen: BTreeSet::new(),
            step: 0,
            stats: Stats::default(),
        };
        let names: Vec<&str> = world.devices.iter().map(|d| d.name.as_str()).collect();
        world.note(format!("devices: {}", names.join(", ")));
        world.allocate("case-1", "amara", "north").await?;
        if world.rng.chance(50) {
            world.allocate("case-2", "ben", "north").await?;
        }
        Ok(world)
    }

    fn note(&self, line: String) {
        self.net.note(line);
    }

    /// Runs the schedule's steps, heals, and checks the invariants.
    pub async fn run(&mut self) -> Result<(), String> {
        let steps = self.rng.between(10, 30);
        for step in 1..=steps {
            self.step = step;
            self.clock.advance(self.rng.between(60, 4 * 3600) as i64);
            self.random_step().await?;
        }
        self.heal().await?;
        self.check_final().await
    }

    async fn random_step(&mut self) -> Result<(), String> {
        self.stats.steps += 1;
        let d = self.rng.below(self.devices.len());
        let roll = self.rng.below(100);
        match roll {
            0..=29 => self.edit(d),
            30..=62 => {
                let plan = self.fault_plan();
                self.sync(d, plan).await?;
            }
            63..=69 => {
                self.note(format!("{:>2}: kill the app on {}", self.step, self.devices[d].name));
                self.stats.kills += 1;
                self.devices[d].kill(&self.clock);
            }
            70..=74 => {
                self.note(format!("{:>2}: server restart", self.step));
                self.stats.restarts += 1;
                self.server.stop();
                if self.rng.chance(60) {
                    self.server.start();
                } else {
                    self.note("    (stays down for now)".into());
                }
            }
            75..=78 => {
                if !self.server.is_up() {
                    self.server.start();
                }
                let n = self.server.snapshot();
                self.note(format!("{:>2}: server backup {n}", self.step));
                let made = self.alloc_log.len();
                self.backups.push((
                    n,
                    self.alloc.clone(),
                    self.reallocation_marks(),
                    self.step,
                    made,
                ));
            }
            79..=81 if !self.backups.is_empty() => self.restore().await?,
            82..=88 => self.reallocate().await?,
            89..=95 if self.net.held_count() > 0 => {
                let i = self.rng.below(self.net.held_count());
                if let Some(held) = self.net.take_held(i) {
                    let status = self.net.deliver_held(held.clone()).await;
                    self.note(format!(
                        "{:>2}: a delayed request of {} reaches the server: {status:?}",
                        self.step, held.device
                    ));
                }
            }
            _ => {
                if !self.server.is_up() {
                    self.note(format!("{:>2}: server starts again", self.step));
                    self.server.start();
                } else {
                    self.edit(d);
                }
            }
        }
        self.check_holdings(d)
    }

    /// The faults of the next requests of one sync.
    fn fault_plan(&mut self) -> Vec<Fault> {
        let mut plan = Vec::new();
        for _ in 0..3 {
            let fault = if self.rng.chance(60) {
                Fault::Deliver
            } else {
                match self.rng.below(7) {
                    0 => Fault::LoseRequest,
                    1 => Fault::LoseResponse,
                    2 => Fault::Duplicate { answer_second: self.rng.chance(50) },
                    3 => Fault::Delay,
                    4 => Fault::DuplicateLater,
                    5 => Fault::KillAfterDelivery,
                    _ => Fault::LoseResponse,
                }
            };
            // The sabotage draws from its own stream, so that a sabotaged schedule is the honest
            // one with some requests forged.
            if self.config.sabotage && self.sabotage.chance(20) {
                plan.push(Fault::ForgetPush);
            } else {
                plan.push(fault);
            }
        }
        plan
    }

    fn edit(&mut self, d: usize) {
        let n = self.edits.len();
        let marker = format!("{PLANTED_PREFIX}e{n}.");
        let pick = self.rng.below(100);
        let case_pick = self.rng.below(2);
        let big = self.rng.chance(10);
        let record_pick = self.rng.next_u64() as usize;
        let now = self.clock.now();
        let step = self.step;
        let device = &mut self.devices[d];
        let name = device.name.clone();
        let store = device.store();
        let held: Vec<String> = store.cases().unwrap().into_iter().map(|c| c.case_id).collect();
        if held.is_empty() {
            self.net.note(format!("{step:>2}: {name} has no case to write in"));
            return;
        }
        let case_id = held[case_pick % held.len()].clone();
        let visits: Vec<String> = store
            .case_records(&case_id)
            .unwrap()
            .into_iter()
            .filter(|r| r.kind == RecordKind::Visit && !self.frozen.contains(&r.id))
            .map(|r| r.id)
            .collect();
        let (what, record) = if pick < 40 && !visits.is_empty() {
            let id = visits[record_pick % visits.len()].clone();
            let mut record = store.record(&id).unwrap();
            let RecordBody::Visit(v) = &mut record.body else { unreachable!("listed as a visit") };
            v.observations.push_str(&format!(" {marker}"));
            store.update_record(&id, &record.body).unwrap();
            ("appends to visit", id)
        } else if pick < 70 {
            let mut v = if big {
                realistic_visit(n)
            } else {
                let mut v = Visit::new(VisitKind::ChildProtection, now);
                v.location = "Family home".into();
                v
            };
            v.observations = format!("Seen at home. {marker}");
            ("creates visit", store.create_record(&case_id, &RecordBody::Visit(v)).unwrap())
        } else {
            let note = CaseNote {
                category: CaseNoteCategory::PhoneCall,
                occurred_at: now,
                text: format!("Called the school. {marker}"),
                attachments: Vec::new(),
            };
            ("creates note", store.create_record(&case_id, &RecordBody::CaseNote(note)).unwrap())
        };
        self.net.note(format!("{step:>2}: {name} {what} {record} on {case_id} (edit e{n})"));
        self.stats.edits += 1;
        self.edits.push(Edit { device: d, case_id, record, marker, state: EditState::Pending });
    }

    /// One `sync()` of device `d` with `plan` for its requests; None when the app was killed in
    /// the middle of it.
    async fn sync(&mut self, d: usize, plan: Vec<Fault>) -> Result<Option<SyncReport>, String> {
        self.stats.syncs += 1;
        self.stats.faults += plan.iter().filter(|f| **f != Fault::Deliver).count() as u64;
        let step = self.step;
        let device = &mut self.devices[d];
        self.net.note(format!("{step:>2}: {} syncs, faults {plan:?}", device.name));
        device.transport.plan.lock().unwrap().extend(plan);
        let killed = device.transport.killed.clone();
        let report = {
            let (Some(store), Some(client)) = (device.store.as_mut(), device.client.as_ref())
            else {
                unreachable!("the device's app is running")
            };
            tokio::select! {
                biased;
                report = client.sync(store) => Some(report),
                _ = killed.notified() => None,
            }
        };
        device.transport.plan.lock().unwrap().clear();
        let visible: BTreeSet<String> =
            self.alloc.iter().filter(|(_, a)| device.sees(a)).map(|(c, _)| c.clone()).collect();
        let Some(report) = report else {
            self.net.note(format!("    {} killed in the middle of the sync", device.name));
            self.stats.kills += 1;
            device.kill(&self.clock);
            // A sync that did not complete may have applied responses that allocated cases.
            device.may_hold.extend(visible);
            return Ok(None);
        };
        self.net.note(format!(
            "    {}: requests {}, pushed {}, acked {}, pulled {}, purged {:?}, allocated {:?}, \
             rejected {:?}, resynced {}, more {}, failure {:?}",
            device.name,
            report.requests,
            report.pushed,
            report.acknowledged,
            report.pulled,
            report.purged_cases,
            report.allocated_cases,
            report.rejected,
            report.resynced,
            report.more,
            report.failure
        ));
        if report.failure.is_none() && !report.more {
            device.may_hold = visible;
        } else {
            device.may_hold.extend(visible);
        }
        self.update_ledger(d)?;
        Ok(Some(report))
    }

    /// Marks the device's pending edits the server acknowledged, and those purged with their case.
    fn update_ledger(&mut self, d: usize) -> Result<(), String> {
        let step = self.step;
        let device = &mut self.devices[d];
        let sees_case: BTreeMap<String, bool> =
            self.alloc.iter().map(|(c, a)| (c.clone(), device.sees(a))).collect();
        let is_manager = device.worker == MANAGER;
        let store = device.store.as_mut().expect("running");
        for e in self.edits.iter_mut().filter(|e| e.device == d && e.state == EditState::Pending) {
            let late = !sees_case.get(&e.case_id).copied().unwrap_or(false);
            match store.record_row(&e.record) {
                Ok(row) if row.acknowledged => {
                    e.state = EditState::Acked(step);
                    self.stats.late_work += u64::from(late);
                }
                Ok(_) => {}
                Err(Error::NotFound { .. }) => {
                    ensure!(
                        !sees_case.get(&e.case_id).copied().unwrap_or(false),
                        "{} lost its own unacknowledged record {} on {}, a case it still sees",
                        device.name,
                        e.record,
                        e.case_id
                    );
                    // A worker's late work on a case re-allocated away is pushed before the purge
                    // (the server keeps it: the case was allocated to them); a manager's is
                    // refused and goes with the case.
                    e.state = if is_manager {
                        EditState::Excused("a manager's unsent edit on a case no longer visible")
                    } else {
                        self.stats.late_work += 1;
                        EditState::Acked(step)
                    };
                }
                Err(other) => return Err(format!("record_row({}): {other}", e.record)),
            }
        }
        Ok(())
    }

    /// The server is put back to an older backup: allocations made since are gone with it.
    async fn restore(&mut self) -> Result<(), String> {
        let (n, alloc, reallocations, taken, made) =
            self.backups[self.rng.below(self.backups.len())].clone();
        if self.config.legacy.sync_before_restore {
            // The shape that stepped around bug 1 (fixed): nothing is pending when the server's
            // disk fails.
            self.note(format!("{:>2}: every device syncs before the server fails", self.step));
            self.server.start();
            for d in 0..self.devices.len() {
                self.sync(d, Vec::new()).await?;
                self.check_holdings(d)?;
            }
        }
        if self.config.legacy.restore_only_after_reallocations
            && reallocations != self.reallocation_marks()
        {
            // The shape that stepped around bugs 2, 3 and 6 (fixed): only backups taken after
            // the last re-allocation and the last late work on a re-allocated case.
            self.note(format!(
                "{:>2}: (backup {n} predates a re-allocation: not restored)",
                self.step
            ));
            return Ok(());
        }
        if self.config.legacy.restore_only_without_co_authored && self.co_authored_since(taken) {
            // The shape that stepped around bug 5 (fixed): no backup is restored that lacks a
            // record several workers wrote in.
            self.note(format!(
                "{:>2}: (backup {n} lacks a record several workers wrote in: not restored)",
                self.step
            ));
            return Ok(());
        }
        self.note(format!("{:>2}: server restored from backup {n}", self.step));
        self.stats.restores += 1;
        self.server.restore(n);
        if self.config.legacy.keep_backup_allocations {
            self.alloc = alloc;
        } else {
            // What operators do after a restore (docs/council-backend.md, "Backups"): the case
            // system sends again, in order, the allocations it made since the backup was taken,
            // so that work written on a case allocated after the backup is not refused as a case
            // its worker never had, and lost with it.
            let since = self.alloc_log[made..].to_vec();
            self.note(format!(
                "    the case system sends its {} allocations since again",
                since.len()
            ));
            for (case, worker, team) in since {
                let status = self.server.upsert(&case, &worker, &team).await;
                ensure!(status == 204, "upsert of {case} answered {status}");
            }
        }
        let cases = self.cases.clone();
        let on_server = self.server.docs(&cases).await;
        if self.config.legacy.sync_before_restore {
            for device in &mut self.devices {
                let held = device.store().all_heads().unwrap();
                self.frozen.extend(held.into_keys().filter(|id| !on_server.contains_key(id)));
            }
        }
        if self.config.legacy.sync_after_restore {
            // The shape that stepped around bugs 4, 7 and 8 (fixed): every device syncs once
            // with the restored server before anything new is written.
            self.note("    every device syncs with the restored server".into());
            for d in 0..self.devices.len() {
                self.sync(d, Vec::new()).await?;
                self.check_holdings(d)?;
            }
        }
        for e in &mut self.edits {
            if matches!(e.state, EditState::Acked(_))
                && on_server
                    .get(&e.record)
                    .is_none_or(|doc| count(&doc.record.body, &e.marker) == 0)
            {
                e.state = EditState::AtRisk;
            }
        }
        self.excuse_lost().await
    }

    /// Whether a record the backup of step `taken` may lack (its creation was not acknowledged
    /// by then) has edits by more than one worker.
    fn co_authored_since(&self, taken: usize) -> bool {
        let mut in_backup: BTreeMap<&str, bool> = BTreeMap::new();
        let mut workers: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for e in &self.edits {
            let acked_before = matches!(e.state, EditState::Acked(s) if s <= taken);
            in_backup.entry(&e.record).or_insert(acked_before);
            workers.entry(&e.record).or_default().insert(self.devices[e.device].worker);
        }
        workers.iter().any(|(record, w)| w.len() > 1 && !in_backup[record])
    }

    fn reallocation_marks(&self) -> (u64, u64) {
        (self.stats.reallocations, self.stats.late_work)
    }

    /// The case system moves a case to another worker (and maybe team).
    async fn reallocate(&mut self) -> Result<(), String> {
        let case = self.cases[self.rng.below(self.cases.len())].clone();
        let current = self.alloc.get(&case).cloned();
        let others: Vec<&(&str, &str)> =
            WORKERS.iter().filter(|(w, _)| current.as_ref().is_none_or(|c| c.0 != *w)).collect();
        let (worker, team) = **self.rng.pick(&others);
        self.note(format!(
            "{:>2}: the case system re-allocates {case} to {worker} ({team})",
            self.step
        ));
        self.stats.reallocations += 1;
        self.allocate(&case, worker, team).await?;
        self.excuse_lost().await
    }

    async fn allocate(&mut self, case: &str, worker: &str, team: &str) -> Result<(), String> {
        if !self.server.is_up() {
            self.note("    the server is down: the case system tries again later".into());
            return Ok(());
        }
        let status = self.server.upsert(case, worker, team).await;
        ensure!(status == 204, "upsert of {case} answered {status}");
        if !self.cases.iter().any(|c| c == case) {
            self.cases.push(case.to_string());
        }
        self.alloc.insert(case.to_string(), (worker.to_string(), team.to_string()));
        self.alloc_log.push((case.to_string(), worker.to_string(), team.to_string()));
        Ok(())
    }

    /// Acknowledged edits a restore took from the server come back from the devices that hold
    /// them and may see their case; one that no such device holds any more is lost by design
    /// (the backup predates it, and the only copies left the devices with their case).
    async fn excuse_lost(&mut self) -> Result<(), String> {
        if !self.edits.iter().any(|e| e.state == EditState::AtRisk) || !self.server.is_up() {
            return Ok(());
        }
        let cases = self.cases.clone();
        let on_server = self.server.docs(&cases).await;
        for i in 0..self.edits.len() {
            if self.edits[i].state != EditState::AtRisk {
                continue;
            }
            let e = self.edits[i].clone();
            if on_server.get(&e.record).is_some_and(|doc| count(&doc.record.body, &e.marker) > 0) {
                self.edits[i].state = EditState::Acked(self.step);
                continue;
            }
            let alloc = self.alloc.get(&e.case_id).cloned();
            let mut held = false;
            for device in &mut self.devices {
                if alloc.as_ref().is_some_and(|a| device.sees(a)) {
                    if let Ok(r) = device.store().record(&e.record) {
                        held |= count(&r.body, &e.marker) > 0;
                    }
                }
            }
            if !held {
                self.note(format!(
                    "    e{i} is lost with the restore: no device that sees it holds it"
                ));
                self.edits[i].state = EditState::Excused("lost with a restore");
            }
        }
        Ok(())
    }

    /// The cases of every document the device holds: none outside those it may hold.
    fn check_holdings(&mut self, d: usize) -> Result<(), String> {
        let device = &mut self.devices[d];
        let may_hold = device.may_hold.clone();
        let store = device.store();
        let all: BTreeSet<String> = store.all_heads().unwrap().into_keys().collect();
        let mut known = BTreeSet::new();
        for case in store.cases().unwrap() {
            ensure!(
                may_hold.contains(&case.case_id),
                "{} holds case {} (may hold {may_hold:?})",
                device.name,
                case.case_id
            );
        }
        for case in &may_hold {
            known.insert(fieldbook_core::records::case_summary_id(case));
            known.extend(store.case_records(case).unwrap().into_iter().map(|r| r.id));
        }
        // Late work of a case re-allocated away, kept unlisted until the server acknowledges
        // it (bug 8): never a summary, never a document the server holds as it is here.
        let unacked: BTreeSet<String> =
            store.unacknowledged().unwrap().into_iter().map(|r| r.id).collect();
        for id in store.held_for_upload().unwrap() {
            ensure!(
                unacked.contains(&id),
                "{} keeps {id} of a revoked case although the server holds it",
                device.name
            );
            known.insert(id);
        }
        if let Some(id) = all.difference(&known).next() {
            let case = store.record_row(id).map(|r| r.case_id).unwrap_or_default();
            return Err(format!(
                "{} holds document {id} of case {case:?} (may hold {may_hold:?})",
                device.name
            ));
        }
        Ok(())
    }

    /// No more faults: delayed requests arrive, the server is up, and every device syncs until
    /// a whole round changes nothing.
    async fn heal(&mut self) -> Result<(), String> {
        self.step += 1;
        self.note(format!("{:>2}: heal", self.step));
        self.server.start();
        while let Some(held) = self.net.take_held(0) {
            let status = self.net.deliver_held(held.clone()).await;
            self.note(format!(
                "    a delayed request of {} reaches the server: {status:?}",
                held.device
            ));
        }
        for round in 0..8 {
            let mut quiet = true;
            for d in 0..self.devices.len() {
                let Some(report) = self.sync(d, Vec::new()).await? else {
                    return Err("a device was killed while healing".into());
                };
                let pending = self.devices[d].store().pending_count().unwrap();
                quiet &= report.failure.is_none()
                    && !report.more
                    && report.pushed == 0
                    && report.pulled == 0
                    && report.purged_cases.is_empty()
                    && pending == 0;
                self.check_holdings(d)?;
            }
            if quiet {
                self.stats.heal_rounds += round + 1;
                return Ok(());
            }
        }
        Err("the devices did not become quiet within 8 rounds of fault-free syncs".into())
    }

    /// Convergence, nothing acknowledged lost, nothing duplicated, access respected.
    async fn check_final(&mut self) -> Result<(), String> {
        let cases = self.cases.clone();
        for case in &cases {
            let held = self.server.allocation(case).await.map(|a| (a.worker, a.team));
            ensure!(
                held.as_ref() == self.alloc.get(case),
                "the server's allocation of {case} is {held:?}"
            );
        }
        let server = self.server.docs(&cases).await;
        for (i, e) in self.edits.iter().enumerate() {
            let on_server: usize =
                server.values().map(|doc| count(&doc.record.body, &e.marker)).sum();
            match &e.state {
                EditState::Excused(why) => {
                    ensure!(on_server <= 1, "e{i} ({why}) appears {on_server} times on the server");
                    continue;
                }
                EditState::Acked(_) | EditState::AtRisk | EditState::Pending => {}
            }
            let in_record =
                server.get(&e.record).map_or(0, |doc| count(&doc.record.body, &e.marker));
            ensure!(
                on_server == 1 && in_record == 1,
                "e{i} ({:?}, by {} in {} on {}) appears {on_server} times on the server, {in_record} in its record",
                e.state,
                self.devices[e.device].name,
                e.record,
                e.case_id
            );
            self.stats.edits_checked += 1;
        }
        for device in &mut self.devices {
            let visible: BTreeSet<String> =
                self.alloc.iter().filter(|(_, a)| device.sees(a)).map(|(c, _)| c.clone()).collect();
            let name = device.name.clone();
            let store = device.store();
            let held: BTreeSet<String> =
                store.cases().unwrap().into_iter().map(|c| c.case_id).collect();
            ensure!(held == visible, "{name} holds cases {held:?}, sees {visible:?}");
            let mut expected = 0;
            for (id, doc) in server.iter().filter(|(_, doc)| visible.contains(&doc.case_id)) {
                expected += 1;
                let mut heads = store.heads(id).map_err(|e| {
                    format!("{name} lacks {id} of {} held by the server: {e}", doc.case_id)
                })?;
                heads.sort();
                ensure!(heads == doc.heads, "{name} and the server differ on {id}");
                let record = store.record(id).unwrap();
                ensure!(record == doc.record, "{name}'s {id} reads differently from the server's");
            }
            let all = store.all_heads().unwrap().len();
            ensure!(
                all == expected,
                "{name} holds {all} documents, the server {expected} it may see"
            );
        }
        Ok(())
    }
}

/// How many times `marker` appears in a record's body.
fn count(body: &RecordBody, marker: &str) -> usize {
    serde_json::to_string(body).unwrap().matches(marker).count()
}

/// Where schedules keep their files: memory-backed when the machine has it.
fn scratch_root() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() && tempfile::tempdir_in(&shm).is_ok() {
        shm
    } else {
        std::env::temp_dir()
    }
}
