//! The figures the oversight pages show, computed from projections only and by the core's rules
//! (`fieldbook_core::rules`), so that a manager's numbers are the tablets' numbers. Pure
//! functions: the day they are computed for is an argument. What each figure means, and the rule
//! it comes from, is `docs/oversight.md`.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Duration, NaiveDate};
use fieldbook_core::records::{
    ChildProtectionPlan, LookedAfterEpisode, RecordKind, RecordStatus, VisitKind,
};
use fieldbook_core::rules::days::working_days_between;
use fieldbook_core::rules::timescales::{
    assessment_due, cp_visit_due, looked_after_review_due, looked_after_visit_due,
    review_conference_due, Due, TimescaleId,
};
use serde::Serialize;

use super::projection::{rules, CaseView, DocFacts};
use super::rows::{board_case, board_doc, BoardCase, BoardDoc, BoardFacts, TeamCase};
use crate::storage::ProjectedDoc;

/// The timescales that are statutory visits.
pub fn is_visit(t: TimescaleId) -> bool {
    use TimescaleId::*;
    matches!(t, T6 | T7Visit | L1 | L2 | L3 | P1)
}

/// The timescales of an assessment (DOMAIN.md §2 T2, T2a).
pub fn is_assessment(t: TimescaleId) -> bool {
    matches!(t, TimescaleId::T2 | TimescaleId::T2aInitial | TimescaleId::T2aCore)
}

/// One overdue item: what the worklist of the case's devices shows as overdue on the day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct OverdueItem {
    pub case_id: String,
    pub timescale: TimescaleId,
    pub due: NaiveDate,
}

/// One worker's row of the team caseload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WorkerRow {
    pub worker: String,
    pub children: usize,
    pub visits_overdue: usize,
    /// Visits due from today to six days ahead.
    pub visits_due_this_week: usize,
    /// Open assessments, each with its working days left (negative: overdue by that many).
    pub assessments_open: Vec<(String, i64)>,
    pub awaiting_authorisation: usize,
}

/// The team caseload for `today`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TeamFigures {
    pub workers: Vec<WorkerRow>,
    pub overdue: Vec<OverdueItem>,
}

fn overdue_on(d: &Due, today: NaiveDate) -> bool {
    d.due < today
}

/// The team page: `cases` are the team's cases, `submitted` the team's records awaiting
/// authorisation (their projection rows: only the case and status columns are read).
pub fn team(cases: &[TeamCase<'_>], submitted: &[ProjectedDoc], today: NaiveDate) -> TeamFigures {
    let (cal, _) = rules();
    let mut rows: BTreeMap<String, WorkerRow> = BTreeMap::new();
    let mut overdue = Vec::new();
    let week_end = today + Duration::days(6);
    for case in cases {
        let worker = case.worker.unwrap_or_default();
        let row = match rows.get_mut(worker) {
            Some(row) => row,
            None => rows
                .entry(worker.to_string())
                .or_insert_with(|| WorkerRow { worker: worker.to_string(), ..Default::default() }),
        };
        row.children += 1;
        for d in &case.due {
            if overdue_on(d, today) {
                overdue.push(OverdueItem {
                    case_id: case.case_id.to_string(),
                    timescale: d.timescale,
                    due: d.due,
                });
            }
            if is_visit(d.timescale) {
                if overdue_on(d, today) {
                    row.visits_overdue += 1;
                } else if d.due <= week_end {
                    row.visits_due_this_week += 1;
                }
            }
            if is_assessment(d.timescale) {
                row.assessments_open
                    .push((case.case_id.to_string(), working_days_between(cal, today, d.due)));
            }
        }
    }
    let case_worker: HashMap<&str, &str> =
        cases.iter().map(|c| (c.case_id, c.worker.unwrap_or(""))).collect();
    for doc in submitted.iter().filter(|d| d.status == RecordStatus::Submitted) {
        if let Some(worker) = case_worker.get(doc.case_id.as_str()) {
            if let Some(row) = rows.get_mut(*worker) {
                row.awaiting_authorisation += 1;
            }
        }
    }
    overdue.sort();
    TeamFigures { workers: rows.into_values().collect(), overdue }
}

/// A record awaiting authorisation, with its age in working days since it was submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueItem {
    pub doc: DocFacts,
    pub child_name: String,
    pub worker: String,
    pub age_working_days: i64,
}

/// The authorisation queue: the team's submitted records, oldest first.
pub fn queue(cases: &[CaseView], submitted: &[DocFacts], today: NaiveDate) -> Vec<QueueItem> {
    let (cal, _) = rules();
    let by_case: BTreeMap<&str, &CaseView> =
        cases.iter().map(|c| (c.facts.case_id.as_str(), c)).collect();
    let mut out: Vec<QueueItem> = submitted
        .iter()
        .filter(|d| d.status == RecordStatus::Submitted && d.kind != RecordKind::CaseSummary)
        .filter_map(|d| {
            let case = by_case.get(d.case_id.as_str())?;
            let since = d.submitted_on.unwrap_or(d.recorded_on);
            Some(QueueItem {
                doc: d.clone(),
                child_name: case.facts.summary.name.clone(),
                worker: case.worker.clone().unwrap_or_default(),
                age_working_days: working_days_between(cal, since, today).max(0),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.age_working_days
            .cmp(&a.age_working_days)
            .then(a.doc.submitted_on.cmp(&b.doc.submitted_on))
            .then(a.doc.id.cmp(&b.doc.id))
    });
    out
}

/// Met out of counted, for one figure and month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Ratio {
    pub met: u32,
    pub total: u32,
}

impl Ratio {
    fn count(&mut self, met: bool) {
        self.total += 1;
        self.met += u32::from(met);
    }

    /// The share met, in percent (none counted: `None`, never a made-up 0 or 100).
    pub fn percent(&self) -> Option<f64> {
        (self.total > 0).then(|| f64::from(self.met) * 100.0 / f64::from(self.total))
    }
}

/// The board's figures, each by month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    AssessmentsIn45Days,
    CpVisitsInInterval,
    LacVisitsInReg28,
    ReviewsOnTime,
    ChildrenSeenAlone,
    ViewsRecorded,
}

impl Figure {
    pub const ALL: [Figure; 6] = [
        Figure::AssessmentsIn45Days,
        Figure::CpVisitsInInterval,
        Figure::LacVisitsInReg28,
        Figure::ReviewsOnTime,
        Figure::ChildrenSeenAlone,
        Figure::ViewsRecorded,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Self::AssessmentsIn45Days => "Assessments authorised within 45 working days",
            Self::CpVisitsInInterval => "Child protection visits within their interval",
            Self::LacVisitsInReg28 => "Looked after children visits within reg 28",
            Self::ReviewsOnTime => "Reviews on time",
            Self::ChildrenSeenAlone => "Children seen alone",
            Self::ViewsRecorded => "Child's views recorded",
        }
    }

    pub fn slug(self) -> &'static str {
        match self {
            Self::AssessmentsIn45Days => "assessments_in_45_days",
            Self::CpVisitsInInterval => "cp_visits_in_interval",
            Self::LacVisitsInReg28 => "lac_visits_in_reg_28",
            Self::ReviewsOnTime => "reviews_on_time",
            Self::ChildrenSeenAlone => "children_seen_alone",
            Self::ViewsRecorded => "views_recorded",
        }
    }
}

/// A month as (year, month).
pub type Month = (i32, u32);

pub fn month_of(d: NaiveDate) -> Month {
    (d.year(), d.month())
}

/// The twelve months ending with the month of `today`, oldest first.
pub fn last_twelve_months(today: NaiveDate) -> Vec<Month> {
    let (mut y, mut m) = month_of(today);
    let mut out = Vec::with_capacity(12);
    for _ in 0..12 {
        out.push((y, m));
        if m == 1 {
            y -= 1;
            m = 12;
        } else {
            m -= 1;
        }
    }
    out.reverse();
    out
}

/// The board view: each figure by month, and the caseload of every worker.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BoardFigures {
    pub months: Vec<Month>,
    /// Figure -> the ratio of each month of `months`.
    pub by_figure: BTreeMap<Figure, Vec<Ratio>>,
    /// Worker -> children allocated.
    pub caseloads: BTreeMap<String, usize>,
}

impl BoardFigures {
    /// Caseload distribution: (label, workers) for each band of children allocated.
    pub fn caseload_bands(&self) -> Vec<(&'static str, usize)> {
        const BANDS: [(&str, usize, usize); 5] = [
            ("1-10", 1, 10),
            ("11-15", 11, 15),
            ("16-20", 16, 20),
            ("21-25", 21, 25),
            ("26+", 26, usize::MAX),
        ];
        BANDS
            .iter()
            .map(|(label, lo, hi)| {
                (*label, self.caseloads.values().filter(|n| (*lo..=*hi).contains(*n)).count())
            })
            .collect()
    }
}

/// Visits of a case of one kind with the child seen, by date.
fn seen_visit_dates(docs: &[&BoardFacts], kind: VisitKind) -> Vec<NaiveDate> {
    let mut v: Vec<NaiveDate> = docs
        .iter()
        .filter(|d| d.visit_kind == Some(kind) && d.child_seen == Some(true))
        .filter_map(|d| d.occurred_on)
        .collect();
    v.sort();
    v
}

/// The board figures for the twelve months to `today` over the whole council, from fully
/// decoded projections (as `board_of`).
pub fn board(cases: &[CaseView], docs: &[DocFacts], today: NaiveDate) -> BoardFigures {
    let cases: Vec<BoardCase<'_>> = cases.iter().map(board_case).collect();
    let docs: Vec<BoardDoc<'_>> = docs.iter().map(board_doc).collect();
    board_of(&cases, &docs, today)
}

/// The board's counting, shared by `board_of` (every row collected first) and the page's fold
/// over the rows as storage reads them (`board_fold`): each figure's ratio by month, and the
/// caseloads. What is counted for a record is `record`; for a case, from its episodes and the
/// dates of its visits, `case`.
#[derive(Debug)]
pub(super) struct Tally {
    index: BTreeMap<Month, usize>,
    months: Vec<Month>,
    by_figure: BTreeMap<Figure, Vec<Ratio>>,
    caseloads: BTreeMap<String, usize>,
}

impl Tally {
    pub(super) fn new(today: NaiveDate) -> Self {
        let months = last_twelve_months(today);
        let index = months.iter().enumerate().map(|(i, m)| (*m, i)).collect();
        let by_figure =
            Figure::ALL.iter().map(|f| (*f, vec![Ratio::default(); months.len()])).collect();
        Self { index, months, by_figure, caseloads: BTreeMap::new() }
    }

    fn count(&mut self, figure: Figure, date: NaiveDate, met: bool) {
        if let (Some(i), Some(row)) =
            (self.index.get(&month_of(date)), self.by_figure.get_mut(&figure))
        {
            if let Some(r) = row.get_mut(*i) {
                r.count(met);
            }
        }
    }

    /// What one record counts for on its own (assessments, and the child seen alone and their
    /// views on a visit).
    pub(super) fn record(&mut self, kind: RecordKind, d: &BoardFacts) {
        let (cal, settings) = rules();
        match kind {
            // T2: authorised by the 45th working day from its start (the core's `assessment_due`,
            // the date `decide_on` checks lateness against).
            RecordKind::Assessment => {
                if let Some(on) = d.authorised_on {
                    let start = d.occurred_on.unwrap_or(d.recorded_on);
                    self.count(
                        Figure::AssessmentsIn45Days,
                        on,
                        on <= assessment_due(cal, settings, start).due,
                    );
                }
            }
            RecordKind::Visit if d.child_seen == Some(true) => {
                let (Some(on), Some(kind)) = (d.occurred_on, d.visit_kind) else { return };
                // C2: seen alone is asked on the visits that require it.
                if kind.requires_seen_alone() {
                    self.count(Figure::ChildrenSeenAlone, on, d.seen_alone == Some(true));
                }
                self.count(Figure::ViewsRecorded, on, d.views_recorded == Some(true));
            }
            _ => {}
        }
    }

    /// One allocated child for the worker's caseload.
    pub(super) fn allocated(&mut self, worker: &str) {
        match self.caseloads.get_mut(worker) {
            Some(n) => *n += 1,
            None => {
                self.caseloads.insert(worker.to_string(), 1);
            }
        }
    }

    /// What a case counts for: its visits within their intervals and its reviews on time, from
    /// its episodes and the sorted dates of its visits with the child seen, of each kind.
    pub(super) fn case(
        &mut self,
        child_protection: Option<&ChildProtectionPlan>,
        looked_after: Option<&LookedAfterEpisode>,
        cp_visits: &[NaiveDate],
        la_visits: &[NaiveDate],
    ) {
        let (cal, settings) = rules();
        if let Some(plan) = child_protection {
            // T6: each visit within the interval from the one before (or the plan's start).
            let mut last = None;
            for on in cp_visits.iter().copied().filter(|d| *d >= plan.start_date) {
                self.count(
                    Figure::CpVisitsInInterval,
                    on,
                    on <= cp_visit_due(cal, settings, plan, last).due,
                );
                last = Some(on);
            }
            // T5: each review conference by the date the reviews before it made it due.
            let mut reviews: Vec<NaiveDate> = plan
                .review_conference_dates
                .iter()
                .copied()
                .filter(|d| *d >= plan.initial_conference_date)
                .collect();
            reviews.sort();
            for (i, on) in reviews.iter().enumerate() {
                let mut before = plan.clone();
                before.review_conference_dates = reviews[..i].to_vec();
                self.count(Figure::ReviewsOnTime, *on, *on <= review_conference_due(&before).due);
            }
        }
        if let Some(la) = looked_after {
            // L1-L3: each visit within the regime's interval from the one before.
            let mut last = None;
            for on in la_visits.iter().copied().filter(|d| *d >= la.placement_start) {
                self.count(
                    Figure::LacVisitsInReg28,
                    on,
                    on <= looked_after_visit_due(la, last).due,
                );
                last = Some(on);
            }
            // L4: each review by the date the reviews before it made it due.
            let mut reviews: Vec<NaiveDate> =
                la.review_dates.iter().copied().filter(|d| *d >= la.start_date).collect();
            reviews.sort();
            for (i, on) in reviews.iter().enumerate() {
                let mut before = la.clone();
                before.review_dates = reviews[..i].to_vec();
                self.count(
                    Figure::ReviewsOnTime,
                    *on,
                    *on <= looked_after_review_due(cal, settings, &before).due,
                );
            }
        }
    }

    pub(super) fn finish(self) -> BoardFigures {
        BoardFigures { months: self.months, by_figure: self.by_figure, caseloads: self.caseloads }
    }
}

/// The board figures for the twelve months to `today` over the whole council.
pub fn board_of(cases: &[BoardCase<'_>], docs: &[BoardDoc<'_>], today: NaiveDate) -> BoardFigures {
    let mut tally = Tally::new(today);
    let mut by_case: HashMap<&str, Vec<&BoardFacts>> = HashMap::with_capacity(cases.len());
    for doc in docs {
        by_case.entry(doc.case_id).or_default().push(&doc.facts);
        tally.record(doc.kind, &doc.facts);
    }
    let none = Vec::new();
    for case in cases {
        if let Some(w) = case.worker {
            tally.allocated(w);
        }
        let docs = by_case.get(case.case_id).unwrap_or(&none);
        tally.case(
            case.child_protection.as_ref(),
            case.looked_after.as_ref(),
            &seen_visit_dates(docs, VisitKind::ChildProtection),
            &seen_visit_dates(docs, VisitKind::LookedAfter),
        );
    }
    tally.finish()
}

#[cfg(test)]
#[path = "figures_tests.rs"]
mod tests;
