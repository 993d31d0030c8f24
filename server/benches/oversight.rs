//! The oversight pages' cost against the bare SQL query that reads the same rows, in the same
//! run (issue #15; docs/benchmarks.md, "Oversight pages"). The team page for 50 workers, 1,000
//! children and 50,000 records, and the board view over 20,000 children, with
//! `FIELDBOOK_BENCH_FULL=1`; a tenth of that by default, so that `cargo test --benches` stays
//! quick. The projections are written directly (the page reads projections only; how they are
//! derived from documents is measured by the sync benchmarks), in a plain SQLite file so that a
//! second connection can run the bare query.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use fieldbook_core::codes::AbuseCategory;
use fieldbook_core::records::{
    CaseSummary, ChildInNeedEpisode, ChildProtectionPlan, RecordKind, RecordStatus, VisitKind,
};
use fieldbook_server::auth::{Identity, Role};
use fieldbook_server::oversight::projection::{case_facts, DocFacts};
use fieldbook_server::oversight::routes::{render_board, render_team};
use fieldbook_server::oversight::session::PageCaller;
use fieldbook_server::oversight::{board, board_fold, figures, rows, team};
use fieldbook_server::storage::sqlite::SqliteStorage;
use fieldbook_server::storage::{
    fold_projections, Allocation, CaseRow, DocRow, ProjectedCase, ProjectedDoc, ProjectionScope,
    ProjectionVisitor, Storage,
};

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn facts(id: String, case_id: &str, i: usize) -> DocFacts {
    let kind = match i % 10 {
        0 => RecordKind::Assessment,
        1 => RecordKind::CaseNote,
        _ => RecordKind::Visit,
    };
    let on = d(2026, 1, 1) + chrono::Duration::days((i % 150) as i64);
    DocFacts {
        id,
        case_id: case_id.into(),
        kind,
        status: if i.is_multiple_of(17) {
            RecordStatus::Submitted
        } else {
            RecordStatus::Authorised
        },
        created_by: "w".into(),
        recorded_on: on,
        submitted_by: Some("w".into()),
        submitted_on: Some(on),
        occurred_on: Some(on),
        visit_kind: (kind == RecordKind::Visit).then_some(VisitKind::ChildProtection),
        child_seen: Some(!i.is_multiple_of(4)),
        seen_alone: Some(!i.is_multiple_of(3)),
        views_recorded: Some(!i.is_multiple_of(5)),
        authorised_on: (kind == RecordKind::Assessment).then_some(on + chrono::Duration::days(40)),
        decision: None,
        decided_by: None,
        decided_on: None,
        amendments: 0,
        summary: None,
        created_at: None,
        heads: Vec::new(),
    }
}

fn summary(case: usize, worker: &str, team: &str) -> CaseSummary {
    let mut s = CaseSummary::new(format!("L{case}"), format!("Child {case}"));
    s.allocated_worker = worker.into();
    s.team = team.into();
    let mut cin = ChildInNeedEpisode::new(d(2025, 11, 3));
    cin.referral_decision_date = Some(d(2025, 11, 4));
    cin.assessment_authorised_date = Some(d(2025, 12, 19));
    s.child_in_need = Some(cin);
    s.child_protection = Some(ChildProtectionPlan {
        start_date: d(2026, 1, 5),
        category: Some(AbuseCategory::Neglect),
        initial_conference_date: d(2026, 1, 5),
        core_group_dates: vec![d(2026, 1, 19)],
        review_conference_dates: vec![d(2026, 4, 1)],
        end_date: None,
    });
    s
}

/// Children in `teams` teams of `workers` each, `records` records per child.
async fn populate(
    s: &SqliteStorage,
    children: usize,
    workers: usize,
    teams: usize,
    records: usize,
) {
    let mut docs = Vec::new();
    let mut cases = Vec::new();
    for c in 0..children {
        let team = format!("team{}", c % teams);
        let worker = format!("w{}-{}", c % teams, (c / teams) % workers);
        let case_id = format!("case-{c}");
        s.allocate(Allocation {
            case_id: case_id.clone(),
            worker: worker.clone(),
            team: team.clone(),
        })
        .await
        .unwrap();
        let mut case_docs: Vec<DocFacts> =
            (0..records - 1).map(|i| facts(format!("{case_id}-r{i}"), &case_id, i)).collect();
        let mut summary_doc = facts(format!("{case_id}-summary"), &case_id, 1);
        summary_doc.kind = RecordKind::CaseSummary;
        summary_doc.summary = Some(summary(c, &worker, &team));
        case_docs.push(summary_doc);
        let row = case_facts(&case_docs).unwrap();
        cases.push(ProjectedCase {
            case_id: case_id.clone(),
            data: serde_json::to_string(&row).unwrap(),
            allocation: None,
        });
        for f in case_docs {
            docs.push(ProjectedDoc {
                id: f.id.clone(),
                case_id: f.case_id.clone(),
                kind: f.kind,
                status: f.status,
                data: serde_json::to_string(&f).unwrap(),
            });
        }
        if docs.len() > 20_000 {
            s.put_projections(std::mem::take(&mut docs), std::mem::take(&mut cases)).await.unwrap();
        }
    }
    s.put_projections(docs, cases).await.unwrap();
}

/// The median of `runs` timings of `f`.
async fn median<F, Fut>(runs: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f().await;
        times.push(start.elapsed());
    }
    times.sort();
    times[runs / 2]
}

/// Reads every column of the rows a query returns, as the page's storage call does.
fn bare(conn: &rusqlite::Connection, sql: &str, arg: &str) -> usize {
    let mut stmt = conn.prepare_cached(sql).unwrap();
    let mut rows = stmt.query([arg]).unwrap();
    let mut n = 0;
    while let Some(r) = rows.next().unwrap() {
        let cols = r.as_ref().column_count();
        let mut bytes = 0;
        for i in 0..cols {
            bytes += r.get::<_, Option<String>>(i).unwrap().map_or(0, |s| s.len());
        }
        std::hint::black_box(bytes);
        n += 1;
    }
    n
}

const TEAM_CASES: &str = "SELECT x.case_id, x.data, a.worker, a.team FROM oversight_cases x
    LEFT JOIN allocations a ON a.case_id = x.case_id
    WHERE x.case_id IN (SELECT case_id FROM allocations WHERE team = ?1) ORDER BY x.case_id";
const TEAM_SUBMITTED: &str =
    "SELECT x.id, x.case_id, x.kind, x.status, x.data FROM oversight_docs x
    WHERE x.case_id IN (SELECT case_id FROM allocations WHERE team = ?1) AND x.status = 'submitted'
    ORDER BY x.id";
const ALL_CASES: &str = "SELECT x.case_id, x.data, a.worker, a.team FROM oversight_cases x
    LEFT JOIN allocations a ON a.case_id = x.case_id WHERE ?1 = ?1 ORDER BY x.case_id";
const ALL_DOCS: &str =
    "SELECT x.id, x.case_id, x.kind, x.status, x.data FROM oversight_docs x WHERE ?1 = ?1 ORDER BY x.id";

/// Where a page's time goes, each step timed alone (median of `runs`): the storage read, the
/// decoding of the projections, the figures, the HTML (and SVG).
async fn breakdown(
    s: &SqliteStorage,
    c: &PageCaller,
    team_name: Option<&str>,
    today: NaiveDate,
    runs: usize,
) -> String {
    let scope = team_name.map_or(ProjectionScope::All, |t| ProjectionScope::Team(t.into()));
    let status = team_name.map(|_| RecordStatus::Submitted);
    let read = median(runs, || async {
        std::hint::black_box(s.projected_cases(&scope).await.unwrap().len());
        std::hint::black_box(s.projected_docs(&scope, status).await.unwrap().len());
    })
    .await;
    let (case_rows, doc_rows) =
        (s.projected_cases(&scope).await.unwrap(), s.projected_docs(&scope, status).await.unwrap());
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    match team_name {
        Some(t) => {
            let decode = median(runs, || async {
                std::hint::black_box(rows::team_cases(&case_rows).unwrap().len());
            })
            .await;
            let cases = rows::team_cases(&case_rows).unwrap();
            let fig = median(runs, || async {
                std::hint::black_box(figures::team(&cases, &doc_rows, today).workers.len());
            })
            .await;
            let f = figures::team(&cases, &doc_rows, today);
            let html = median(runs, || async {
                std::hint::black_box(team::team_page(c, t, today, &f).into_string().len());
            })
            .await;
            format!(
                "read {:.1} ms, decode {:.1} ms, figures {:.1} ms, html {:.1} ms",
                ms(read),
                ms(decode),
                ms(fig),
                ms(html)
            )
        }
        None => {
            // The board reads by visiting (`Storage::visit_projections`): the read alone is a
            // visit that only touches each row; the fold adds decoding and counting.
            let visit = median(runs, || async {
                let n = fold_projections(s, &scope, Touch::default()).await.unwrap();
                std::hint::black_box(n.0);
            })
            .await;
            let fold = median(runs, || async {
                std::hint::black_box(
                    board_fold::board_figures(s, today).await.unwrap().months.len(),
                );
            })
            .await;
            let f = board_fold::board_figures(s, today).await.unwrap();
            let html = median(runs, || async {
                std::hint::black_box(board::board_page(c, today, &f).unwrap().into_string().len());
            })
            .await;
            format!(
                "collecting read {:.1} ms (not used by the page); visit alone {:.1} ms, \
                 visit with decoding and figures {:.1} ms, html and charts {:.1} ms",
                ms(read),
                ms(visit),
                ms(fold),
                ms(html)
            )
        }
    }
}

/// A visitor that only touches each row's text (the visit's own cost).
#[derive(Debug, Default)]
struct Touch(usize);

impl ProjectionVisitor for Touch {
    fn case(&mut self, row: CaseRow<'_>) -> fieldbook_server::storage::Result<()> {
        self.0 += row.case_id.len() + row.data.len() + row.worker.map_or(0, str::len);
        Ok(())
    }
    fn doc(&mut self, row: DocRow<'_>) -> fieldbook_server::storage::Result<()> {
        self.0 += row.id.len() + row.case_id.len() + row.data.len();
        Ok(())
    }
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
        self
    }
}

fn caller(role: Role, team: Option<&str>) -> PageCaller {
    PageCaller {
        who: Identity { subject: "bench".into(), role, team: team.map(String::from) },
        csrf: None,
        session: None,
    }
}

#[tokio::main]
async fn main() {
    let full = std::env::var("FIELDBOOK_BENCH_FULL").is_ok_and(|v| v == "1");
    let scale = if full { 1 } else { 10 };
    let today = d(2026, 6, 15);
    let runs = 7;
    let at: DateTime<Utc> = Utc::now();

    // The team page: one team of 50 workers, 1,000 children, 50 records each.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("team.db");
    let s = SqliteStorage::open(&path, None).unwrap();
    populate(&s, 1000 / scale, 50 / scale.min(5), 1, 50).await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    let c = caller(Role::Manager, Some("team0"));
    let page = median(runs, || async {
        std::hint::black_box(
            render_team(&s, &c, "team0", today).await.unwrap().into_string().len(),
        );
    })
    .await;
    let sql = median(runs, || async {
        std::hint::black_box(
            bare(&conn, TEAM_CASES, "team0") + bare(&conn, TEAM_SUBMITTED, "team0"),
        );
    })
    .await;
    let (cases, submitted) =
        (bare(&conn, TEAM_CASES, "team0"), bare(&conn, TEAM_SUBMITTED, "team0"));
    println!(
        "team page: {cases} children, {submitted} submitted of {} records: page {:.1} ms, bare SQL {:.1} ms, ratio {:.2}",
        cases * 50,
        page.as_secs_f64() * 1e3,
        sql.as_secs_f64() * 1e3,
        page.as_secs_f64() / sql.as_secs_f64()
    );
    println!("  team page steps: {}", breakdown(&s, &c, Some("team0"), today, runs).await);

    // The board view: 20,000 children in 40 teams, 5 records each.
    let path = dir.path().join("board.db");
    let s = SqliteStorage::open(&path, None).unwrap();
    populate(&s, 20_000 / scale, 25, 40, 5).await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    let c = caller(Role::Senior, None);
    let page = median(runs, || async {
        std::hint::black_box(render_board(&s, &c, today).await.unwrap().into_string().len());
    })
    .await;
    let sql = median(runs, || async {
        std::hint::black_box(bare(&conn, ALL_CASES, "") + bare(&conn, ALL_DOCS, ""));
    })
    .await;
    let (cases, docs) = (bare(&conn, ALL_CASES, ""), bare(&conn, ALL_DOCS, ""));
    println!(
        "board view: {cases} children, {docs} records: page {:.1} ms, bare SQL {:.1} ms, ratio {:.2}",
        page.as_secs_f64() * 1e3,
        sql.as_secs_f64() * 1e3,
        page.as_secs_f64() / sql.as_secs_f64()
    );
    println!("  board view steps: {}", breakdown(&s, &c, None, today, runs).await);
    println!("(full sizes: {full}; started {at})");
}
