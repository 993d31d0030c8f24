//! The board's figures from a fixture whose answers were worked out by hand (in the comments:
//! the due date of each event by the rule, counted on the calendar of England and Wales with the
//! default local settings: CP visits every 10 working days, day 0 the event).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::NaiveDate;
use fieldbook_core::codes::AbuseCategory;
use fieldbook_core::records::{
    CaseSummary, ChildProtectionPlan, LookedAfterEpisode, LookedAfterVisitRegime, RecordKind,
    RecordStatus, VisitKind,
};

use crate::oversight::export::{timeliness_csv, timeliness_rows};
use crate::oversight::figures::{board, queue, Figure, Ratio};
use crate::oversight::projection::{CaseFactsRow, CaseView, DocFacts};

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn case(id: &str, worker: &str, summary: CaseSummary) -> CaseView {
    CaseView {
        facts: CaseFactsRow {
            case_id: id.into(),
            summary,
            due: vec![],
            last_seen: None,
            last_seen_alone: None,
            last_statutory_visit: None,
        },
        worker: Some(worker.into()),
        team: Some("north".into()),
    }
}

fn doc(id: &str, case_id: &str, kind: RecordKind) -> DocFacts {
    DocFacts {
        id: id.into(),
        case_id: case_id.into(),
        kind,
        status: RecordStatus::Draft,
        created_by: "w1".into(),
        recorded_on: d(2026, 1, 1),
        submitted_by: None,
        submitted_on: None,
        occurred_on: None,
        visit_kind: None,
        child_seen: None,
        seen_alone: None,
        views_recorded: None,
        authorised_on: None,
        decision: None,
        decided_by: None,
        decided_on: None,
        amendments: 0,
        summary: None,
        created_at: None,
        heads: Vec::new(),
    }
}

fn visit(
    id: &str,
    case_id: &str,
    kind: VisitKind,
    on: NaiveDate,
    alone: bool,
    views: bool,
) -> DocFacts {
    DocFacts {
        occurred_on: Some(on),
        visit_kind: Some(kind),
        child_seen: Some(true),
        seen_alone: Some(alone),
        views_recorded: Some(views),
        ..doc(id, case_id, RecordKind::Visit)
    }
}

fn assessment(id: &str, start: NaiveDate, authorised: Option<NaiveDate>) -> DocFacts {
    DocFacts {
        occurred_on: Some(start),
        authorised_on: authorised,
        ..doc(id, "z", RecordKind::Assessment)
    }
}

fn fixture() -> (Vec<CaseView>, Vec<DocFacts>) {
    let mut x = CaseSummary::new("X1", "Child X");
    x.child_protection = Some(ChildProtectionPlan {
        start_date: d(2026, 3, 2),
        category: Some(AbuseCategory::Neglect),
        initial_conference_date: d(2026, 3, 2),
        core_group_dates: vec![],
        review_conference_dates: vec![d(2026, 6, 1)],
        end_date: None,
    });
    let mut y = CaseSummary::new("Y1", "Child Y");
    y.looked_after = Some(LookedAfterEpisode {
        start_date: d(2026, 1, 5),
        legal_status: None,
        placement_type: None,
        placement_start: d(2026, 1, 5),
        visit_regime: LookedAfterVisitRegime::Standard,
        intended_until_18: false,
        long_term_foster: false,
        child_agrees_fewer_visits: false,
        review_dates: vec![d(2026, 1, 30), d(2026, 5, 15)],
        end_date: None,
    });
    let mut cases = vec![
        case("x", "w1", x),
        case("y", "w1", y),
        case("z", "w2", CaseSummary::new("Z1", "Child Z")),
    ];
    for i in 0..11 {
        cases.push(case(&format!("w3-{i}"), "w3", CaseSummary::new(format!("W{i}"), "Child")));
    }
    let cp = VisitKind::ChildProtection;
    let la = VisitKind::LookedAfter;
    let docs = vec![
        // T6 from the plan's start (Mon 2 Mar): due Mon 16 Mar; 9 Mar met.
        visit("x1", "x", cp, d(2026, 3, 9), true, true),
        // From 9 Mar: due 23 Mar; 20 Mar met.
        visit("x2", "x", cp, d(2026, 3, 20), false, true),
        // From Fri 20 Mar: ten working days, skipping Good Friday and Easter Monday, is Tue 7 Apr;
        // 10 Apr is late.
        visit("x3", "x", cp, d(2026, 4, 10), true, false),
        // L1: within a week of the placement (5 Jan): due 12 Jan; 9 Jan met.
        visit("y1", "y", la, d(2026, 1, 9), true, true),
        // reg 28(3)(a), first year: 6 weeks from 9 Jan is 20 Feb; 1 Mar is late.
        visit("y2", "y", la, d(2026, 3, 1), true, true),
        // 6 weeks from 1 Mar is 12 Apr; 5 Apr met.
        visit("y3", "y", la, d(2026, 4, 5), true, true),
        // T2: 45 working days from Mon 2 Feb (Easter skipped) is Wed 8 Apr; authorised 1 Apr: met.
        assessment("z1", d(2026, 2, 2), Some(d(2026, 4, 1))),
        // From Mon 2 Mar, skipping Easter and the early May bank holiday (4 May): Thu 7 May;
        // authorised 20 May: late.
        assessment("z2", d(2026, 3, 2), Some(d(2026, 5, 20))),
        // Open: not counted.
        assessment("z3", d(2026, 5, 1), None),
        // Authorised outside the twelve months: not counted.
        assessment("z4", d(2024, 11, 1), Some(d(2025, 1, 10))),
    ];
    (cases, docs)
}

fn ratios(list: &[(usize, u32, u32)]) -> Vec<Ratio> {
    let mut out = vec![Ratio::default(); 12];
    for (i, met, total) in list {
        out[*i] = Ratio { met: *met, total: *total };
    }
    out
}

#[test]
fn every_board_figure_matches_the_hand_computed_answer() {
    let (cases, docs) = fixture();
    let f = board(&cases, &docs, d(2026, 6, 15));
    assert_eq!(f.months.first(), Some(&(2025, 7)));
    assert_eq!(f.months.last(), Some(&(2026, 6)));
    // Month indexes: Jan 2026 = 6, Feb 7, Mar 8, Apr 9, May 10, Jun 11.
    let expected = [
        (Figure::AssessmentsIn45Days, ratios(&[(9, 1, 1), (10, 0, 1)])),
        (Figure::CpVisitsInInterval, ratios(&[(8, 2, 2), (9, 0, 1)])),
        (Figure::LacVisitsInReg28, ratios(&[(6, 1, 1), (8, 0, 1), (9, 1, 1)])),
        // T5: the first review within 3 months of the initial conference (by 2 Jun): 1 Jun met.
        // L4: the first within 20 working days of 5 Jan (by 2 Feb): 30 Jan met; the second
        // within 3 months of the first (by 30 Apr): 15 May late.
        (Figure::ReviewsOnTime, ratios(&[(6, 1, 1), (10, 0, 1), (11, 1, 1)])),
        // Seen alone where C2 asks it: March X 1 of 2 and Y 1; April X 1, Y 1; January Y 1.
        (Figure::ChildrenSeenAlone, ratios(&[(6, 1, 1), (8, 2, 3), (9, 2, 2)])),
        (Figure::ViewsRecorded, ratios(&[(6, 1, 1), (8, 3, 3), (9, 1, 2)])),
    ];
    for (figure, want) in expected {
        assert_eq!(f.by_figure[&figure], want, "{}", figure.title());
    }
    assert_eq!(f.caseloads["w1"], 2);
    assert_eq!(f.caseloads["w2"], 1);
    assert_eq!(f.caseloads["w3"], 11);
    assert_eq!(
        f.caseload_bands(),
        vec![("1-10", 2), ("11-15", 1), ("16-20", 0), ("21-25", 0), ("26+", 0)]
    );
    // The CSV carries the same numbers.
    let csv = timeliness_csv(&timeliness_rows(&f));
    assert!(csv.contains("2026-03,cp_visits_in_interval,2,2,100.0\r\n"), "{csv}");
    assert!(csv.contains("2026-03,children_seen_alone,2,3,66.7\r\n"), "{csv}");
    assert!(csv.contains("2026-02,reviews_on_time,0,0,\r\n"), "{csv}");
    assert_eq!(Ratio { met: 2, total: 3 }.percent().map(|p| (p * 10.0).round()), Some(667.0));
    assert_eq!(Ratio::default().percent(), None);
}

#[test]
fn the_queue_is_oldest_first_in_working_days() {
    let (cases, _) = fixture();
    let submitted = |id: &str, on: NaiveDate| DocFacts {
        status: RecordStatus::Submitted,
        submitted_on: Some(on),
        ..doc(id, "x", RecordKind::Visit)
    };
    // Thu 2 Apr to Wed 15 Apr: 7 working days (Easter skipped); Mon 13 Apr: 2.
    let docs = vec![submitted("newer", d(2026, 4, 13)), submitted("older", d(2026, 4, 2))];
    let q = queue(&cases, &docs, d(2026, 4, 15));
    let got: Vec<(&str, i64)> = q.iter().map(|i| (i.doc.id.as_str(), i.age_working_days)).collect();
    assert_eq!(got, [("older", 7), ("newer", 2)]);
    assert_eq!(q[0].worker, "w1");
}

/// The pages decode only what the figures read (`rows`): from the JSON the projections store,
/// the board's figures are those of the fully decoded fixture, and each record's and case's
/// view equals the one taken from the full decoding (so a field renamed or dropped fails here).
#[test]
fn the_pages_partial_decoding_gives_the_figures_of_the_full_one() {
    use crate::oversight::figures::{board_of, team};
    use crate::oversight::rows;
    use crate::storage::{Allocation, ProjectedCase, ProjectedDoc};

    let (cases, mut docs) = fixture();
    // A note carries nothing the board counts: the partial decoding leaves it out.
    let first_case = cases[0].facts.case_id.clone();
    docs.push(doc("note-1", &first_case, RecordKind::CaseNote));
    let today = d(2026, 6, 15);
    let case_rows: Vec<ProjectedCase> = cases
        .iter()
        .map(|c| ProjectedCase {
            case_id: c.facts.case_id.clone(),
            data: serde_json::to_string(&c.facts).unwrap(),
            allocation: Some(Allocation {
                case_id: c.facts.case_id.clone(),
                worker: c.worker.clone().unwrap(),
                team: "north".into(),
            }),
        })
        .collect();
    let doc_rows: Vec<ProjectedDoc> = docs
        .iter()
        .map(|f| ProjectedDoc {
            id: f.id.clone(),
            case_id: f.case_id.clone(),
            kind: f.kind,
            status: f.status,
            data: serde_json::to_string(f).unwrap(),
        })
        .collect();
    let lean_cases = rows::board_cases(&case_rows).unwrap();
    let lean_docs = rows::board_docs(&doc_rows).unwrap();
    assert_eq!(lean_cases, cases.iter().map(rows::board_case).collect::<Vec<_>>());
    let counted =
        docs.iter().filter(|d| matches!(d.kind, RecordKind::Visit | RecordKind::Assessment));
    assert_eq!(lean_docs, counted.map(rows::board_doc).collect::<Vec<_>>());
    assert!(lean_docs.len() < docs.len(), "the fixture has notes or summaries, left out");
    assert!(lean_cases.iter().any(|c| c.child_protection.is_some()));
    assert!(lean_cases.iter().any(|c| c.looked_after.is_some()));
    assert_eq!(board_of(&lean_cases, &lean_docs, today), board(&cases, &docs, today));

    // The team page: the due items of each case, the worker from the allocation.
    let mut with_due = cases.clone();
    with_due[0].facts.due = vec![fieldbook_core::rules::timescales::Due {
        timescale: fieldbook_core::rules::timescales::TimescaleId::T6,
        from: d(2026, 5, 1),
        due: d(2026, 5, 15),
        calendar_confirmed: true,
    }];
    let case_rows: Vec<ProjectedCase> = with_due
        .iter()
        .zip(case_rows)
        .map(|(c, r)| ProjectedCase { data: serde_json::to_string(&c.facts).unwrap(), ..r })
        .collect();
    let lean = rows::team_cases(&case_rows).unwrap();
    assert_eq!(lean, with_due.iter().map(rows::team_case).collect::<Vec<_>>());
    let f = team(&lean, &doc_rows, today);
    assert_eq!(f.overdue.len(), 1);
    assert_eq!(f.overdue[0].case_id, with_due[0].facts.case_id);
}
