//! The board's figures folded over the rows as storage reads them (`oversight::board_fold`, what
//! the page uses) equal the figures computed after collecting every row (`projected_cases`,
//! `projected_docs`, `rows::board_*`, `figures::board_of`), on generated councils, on both
//! backends. The PostgreSQL half needs `FIELDBOOK_TEST_POSTGRES_URL` (as
//! `storage_conformance.rs`) and fails without it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, NaiveDate};
use fieldbook_core::codes::AbuseCategory;
use fieldbook_core::records::{
    CaseSummary, ChildProtectionPlan, LookedAfterEpisode, LookedAfterVisitRegime, RecordKind,
    RecordStatus, VisitKind,
};
use fieldbook_server::oversight::board_fold;
use fieldbook_server::oversight::figures::{board_of, Figure};
use fieldbook_server::oversight::projection::{case_facts, DocFacts};
use fieldbook_server::oversight::rows;
use fieldbook_server::storage::key::default_key_file;
use fieldbook_server::storage::postgres::PostgresStorage;
use fieldbook_server::storage::sqlite_file::open_with_key_file;
use fieldbook_server::storage::{
    fold_projections, Allocation, CaseRow, DocRow, ProjectedCase, ProjectedDoc, ProjectionScope,
    ProjectionVisitor, Storage, StorageError,
};

/// A small deterministic generator (xorshift64), so that a failure is reproducible by its seed.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn date(&mut self) -> NaiveDate {
        d(2025, 5, 1) + Duration::days(self.below(420) as i64)
    }
    fn opt_bool(&mut self) -> Option<bool> {
        match self.below(5) {
            0 => None,
            1 | 2 => Some(false),
            _ => Some(true),
        }
    }
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn record(g: &mut Gen, id: String, case_id: &str) -> DocFacts {
    let kind = match g.below(6) {
        0 => RecordKind::Assessment,
        1 => RecordKind::CaseNote,
        _ => RecordKind::Visit,
    };
    let on = g.date();
    let visit_kind = match g.below(4) {
        0 => VisitKind::ChildInNeed,
        1 => VisitKind::LookedAfter,
        _ => VisitKind::ChildProtection,
    };
    DocFacts {
        id,
        case_id: case_id.into(),
        kind,
        status: if g.chance(20) { RecordStatus::Submitted } else { RecordStatus::Authorised },
        created_by: "w".into(),
        recorded_on: on + Duration::days(g.below(3) as i64),
        submitted_by: Some("w".into()),
        submitted_on: Some(on),
        occurred_on: (!g.chance(5)).then_some(on),
        visit_kind: (kind == RecordKind::Visit).then_some(visit_kind),
        child_seen: g.opt_bool(),
        seen_alone: g.opt_bool(),
        views_recorded: g.opt_bool(),
        authorised_on: (kind == RecordKind::Assessment && g.chance(80))
            .then(|| on + Duration::days(g.below(90) as i64)),
        decision: None,
        decided_by: None,
        decided_on: None,
        amendments: 0,
        summary: None,
        created_at: None,
        heads: Vec::new(),
    }
}

fn summary(g: &mut Gen, case: usize) -> CaseSummary {
    let mut s = CaseSummary::new(format!("L{case}"), format!("Child {case}"));
    if g.chance(60) {
        let start = g.date();
        let reviews = (0..g.below(3)).map(|_| g.date()).collect();
        s.child_protection = Some(ChildProtectionPlan {
            start_date: start,
            category: Some(AbuseCategory::Neglect),
            initial_conference_date: start,
            core_group_dates: vec![],
            review_conference_dates: reviews,
            end_date: None,
        });
    }
    if g.chance(40) {
        let start = g.date();
        s.looked_after = Some(LookedAfterEpisode {
            start_date: start,
            legal_status: None,
            placement_type: None,
            placement_start: start + Duration::days(g.below(30) as i64),
            visit_regime: LookedAfterVisitRegime::Standard,
            intended_until_18: g.chance(20),
            long_term_foster: g.chance(20),
            child_agrees_fewer_visits: false,
            review_dates: (0..g.below(3)).map(|_| g.date()).collect(),
            end_date: None,
        });
    }
    s
}

/// A generated council: most cases allocated (some not), a few records of cases with no
/// projection, every kind of record.
async fn populate(s: &dyn Storage, seed: u64, children: usize) {
    let mut g = Gen(seed);
    let mut docs = Vec::new();
    let mut cases = Vec::new();
    for c in 0..children {
        let case_id = format!("case-{seed}-{c}");
        if !g.chance(10) {
            let worker = format!("w{}", g.below(12));
            s.allocate(Allocation { case_id: case_id.clone(), worker, team: "north".into() })
                .await
                .unwrap();
        }
        let mut facts: Vec<DocFacts> =
            (0..g.below(9)).map(|i| record(&mut g, format!("{case_id}-r{i}"), &case_id)).collect();
        let mut summary_doc = record(&mut g, format!("{case_id}-summary"), &case_id);
        summary_doc.kind = RecordKind::CaseSummary;
        summary_doc.visit_kind = None;
        summary_doc.summary = Some(summary(&mut g, c));
        facts.push(summary_doc);
        let row = case_facts(&facts).unwrap();
        // A few records whose case has no projection: counted on their own, not per case.
        let orphan = g.chance(5);
        if !orphan {
            cases.push(ProjectedCase {
                case_id: case_id.clone(),
                data: serde_json::to_string(&row).unwrap(),
                allocation: None,
            });
        }
        docs.extend(facts.into_iter().map(|f| ProjectedDoc {
            id: f.id.clone(),
            case_id: f.case_id.clone(),
            kind: f.kind,
            status: f.status,
            data: serde_json::to_string(&f).unwrap(),
        }));
    }
    s.put_projections(docs, cases).await.unwrap();
}

async fn fold_equals_collect(s: &dyn Storage) {
    let today = d(2026, 6, 15);
    for seed in [7, 1_234_567, 99_999_989] {
        s.clear_projections().await.unwrap();
        populate(s, seed, 400).await;
        let case_rows = s.projected_cases(&ProjectionScope::All).await.unwrap();
        let doc_rows = s.projected_docs(&ProjectionScope::All, None).await.unwrap();
        let collected = board_of(
            &rows::board_cases(&case_rows).unwrap(),
            &rows::board_docs(&doc_rows).unwrap(),
            today,
        );
        let folded = board_fold::board_figures(s, today).await.unwrap();
        assert_eq!(folded, collected, "seed {seed}");
        // The generated data reaches every figure (so equality is not of empty tables).
        for figure in Figure::ALL {
            let counted: u32 = folded.by_figure[&figure].iter().map(|r| r.total).sum();
            assert!(counted > 0, "seed {seed}: nothing counted for {figure:?}");
        }
        assert!(folded.caseloads.len() > 1, "seed {seed}");
    }
}

/// Collects what it is shown, to check the visit's order and columns against the reads.
#[derive(Debug, Default)]
struct Recorder {
    cases: Vec<(String, Option<String>, Option<String>, String)>,
    docs: Vec<ProjectedDoc>,
    fail_at_doc: Option<usize>,
}

impl ProjectionVisitor for Recorder {
    fn case(&mut self, row: CaseRow<'_>) -> Result<(), StorageError> {
        assert!(self.docs.is_empty(), "every case comes before the first record");
        self.cases.push((
            row.case_id.into(),
            row.worker.map(String::from),
            row.team.map(String::from),
            row.data.into(),
        ));
        Ok(())
    }
    fn doc(&mut self, row: DocRow<'_>) -> Result<(), StorageError> {
        if self.fail_at_doc == Some(self.docs.len()) {
            return Err(StorageError::Corrupt(format!("stopped at {}", row.id)));
        }
        self.docs.push(ProjectedDoc {
            id: row.id.into(),
            case_id: row.case_id.into(),
            kind: row.kind,
            status: row.status,
            data: row.data.into(),
        });
        Ok(())
    }
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

/// The visit shows the rows `projected_cases` and `projected_docs` return, in their order, and a
/// visitor's error ends the read with that error.
async fn visit_shows_the_rows_of_the_reads(s: &dyn Storage) {
    s.clear_projections().await.unwrap();
    populate(s, 42, 60).await;
    for scope in [ProjectionScope::All, ProjectionScope::Team("north".into())] {
        let seen = fold_projections(s, &scope, Recorder::default()).await.unwrap();
        let cases: Vec<_> = s
            .projected_cases(&scope)
            .await
            .unwrap()
            .into_iter()
            .map(|c| {
                let (w, t) = c.allocation.map(|a| (a.worker, a.team)).unzip();
                (c.case_id, w, t, c.data)
            })
            .collect();
        assert_eq!(seen.cases, cases, "{scope:?}");
        assert_eq!(seen.docs, s.projected_docs(&scope, None).await.unwrap(), "{scope:?}");
        assert!(!seen.docs.is_empty());
        // The council has unallocated cases; a team's cases are all allocated.
        let unallocated = seen.cases.iter().any(|c| c.1.is_none() && c.2.is_none());
        assert_eq!(unallocated, scope == ProjectionScope::All, "{scope:?}");
    }
    let stop = Recorder { fail_at_doc: Some(3), ..Default::default() };
    let err = fold_projections(s, &ProjectionScope::All, stop).await.unwrap_err();
    assert!(matches!(err, StorageError::Corrupt(m) if m.starts_with("stopped at")));
}

fn sqlite() -> (tempfile::TempDir, Box<dyn Storage>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let s = open_with_key_file(&path, &default_key_file(&path)).unwrap();
    (dir, Box::new(s))
}

async fn postgres(test: &str) -> Box<dyn Storage> {
    let url = std::env::var("FIELDBOOK_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "FIELDBOOK_TEST_POSTGRES_URL is not set: start a server with \
             `scripts/postgres.sh start` and export the URL it prints"
        )
    });
    let schema = format!("t_{test}_{}", std::process::id());
    Box::new(PostgresStorage::connect_with_schema(&url, Some(&schema)).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_fold_equals_collect() {
    let (_dir, s) = sqlite();
    fold_equals_collect(s.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_fold_equals_collect() {
    fold_equals_collect(postgres("fold_equals_collect").await.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_visit_shows_the_rows_of_the_reads() {
    let (_dir, s) = sqlite();
    visit_shows_the_rows_of_the_reads(s.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_visit_shows_the_rows_of_the_reads() {
    visit_shows_the_rows_of_the_reads(postgres("visit_rows").await.as_ref()).await;
}
