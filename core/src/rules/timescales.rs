//! Statutory and local timescales (DOMAIN.md §2): when each thing is due for a case, computed
//! offline from the case summary and the visits recorded. Pure functions: no clock, no storage.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::calendar::BankHolidayCalendar;
use super::days::{add_calendar_months, add_weeks, add_working_days, Interval};
use super::effective::{applies, in_force, RuleId};
use super::settings::{LocalSettings, VisitCounting};
use crate::records::{
    CaseSummary, ChildInNeedEpisode, ChildProtectionPlan, LookedAfterEpisode,
    LookedAfterVisitRegime, PrivateFostering, VisitKind,
};

/// Which timescale an item comes from, as numbered in DOMAIN.md §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TimescaleId {
    T1,
    T2,
    T2aInitial,
    T2aCore,
    T3,
    T4,
    T5,
    T6,
    T7Visit,
    T7Review,
    L1,
    L2,
    L3,
    L4,
    P1,
    /// Not a timescale: the case has neither a consistent identifier nor a reason it is absent.
    ConsistentIdentifier,
    /// Not a timescale: an FGDM meeting was accepted and must be held before proceedings.
    FgdmMeeting,
}

impl TimescaleId {
    pub fn label(self) -> &'static str {
        match self {
            Self::T1 => "Decision on the referral",
            Self::T2 => "Assessment authorised",
            Self::T2aInitial => "Initial assessment",
            Self::T2aCore => "Core assessment",
            Self::T3 => "Initial child protection conference",
            Self::T4 => "Core group meeting",
            Self::T5 => "Review child protection conference",
            Self::T6 => "Child protection visit",
            Self::T7Visit => "Child in need visit",
            Self::T7Review => "Child in need review",
            Self::L1 => "Visit after a new placement",
            Self::L2 => "Looked after child visit",
            Self::L3 => "Looked after child visit (placed at home or with a connected person)",
            Self::L4 => "Looked after review",
            Self::P1 => "Private fostering visit",
            Self::ConsistentIdentifier => "Consistent identifier to record",
            Self::FgdmMeeting => "FGDM meeting to arrange",
        }
    }

    pub fn source(self) -> &'static str {
        match self {
            Self::T1 | Self::T2 | Self::T3 | Self::T5 => "Working Together to Safeguard Children",
            Self::T2aInitial | Self::T2aCore => {
                "Working Together 2010 / Framework for Assessment 2000"
            }
            Self::T4 => "Working Together 2010; local procedures",
            Self::T6 | Self::T7Visit | Self::T7Review => "Local procedures",
            Self::L1 | Self::L2 | Self::L3 => {
                "Care Planning, Placement and Case Review (England) Regulations 2010, reg 28"
            }
            Self::L4 => {
                "Care Planning, Placement and Case Review (England) Regulations 2010, reg 33"
            }
            Self::P1 => "Children (Private Arrangements for Fostering) Regulations 2005, reg 8",
            Self::ConsistentIdentifier => "Children Act 2004 s16LC",
            Self::FgdmMeeting => "Children Act 1989 s31ZA",
        }
    }
}

/// A computed due date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Due {
    pub timescale: TimescaleId,
    /// The event the timescale runs from.
    pub from: NaiveDate,
    pub due: NaiveDate,
    /// False when a working-day count reaches beyond the known bank-holiday calendar.
    pub calendar_confirmed: bool,
}

/// A visit as the rules see it (from a projection row or the case summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitFact {
    pub date: NaiveDate,
    pub kind: VisitKind,
    pub child_seen: bool,
}

/// Everything known about a case that its timescales depend on.
#[derive(Debug, Clone)]
pub struct CaseFacts<'a> {
    pub summary: &'a CaseSummary,
    pub visits: &'a [VisitFact],
    /// Authorisation dates of assessments recorded on the device.
    pub assessments_authorised: &'a [NaiveDate],
}

pub use super::effective::{REG_28_3A_FROM, SINGLE_ASSESSMENT_FROM, WT2010_FROM};

fn working(
    cal: &BankHolidayCalendar,
    s: &LocalSettings,
    timescale: TimescaleId,
    from: NaiveDate,
    n: u32,
) -> Due {
    let due = add_working_days(cal, from, n, s.day_count);
    Due { timescale, from, due, calendar_confirmed: cal.is_confirmed(due) }
}

fn by_interval(
    cal: &BankHolidayCalendar,
    s: &LocalSettings,
    timescale: TimescaleId,
    from: NaiveDate,
    interval: Interval,
) -> Due {
    let due = interval.add(cal, from, s.day_count);
    let confirmed = !matches!(interval, Interval::WorkingDays(_)) || cal.is_confirmed(due);
    Due { timescale, from, due, calendar_confirmed: confirmed }
}

fn calendar(timescale: TimescaleId, from: NaiveDate, due: NaiveDate) -> Due {
    Due { timescale, from, due, calendar_confirmed: true }
}

/// T1: the decision on a referral, 1 working day after receipt.
pub fn referral_decision_due(
    cal: &BankHolidayCalendar,
    s: &LocalSettings,
    received: NaiveDate,
) -> Due {
    working(cal, s, TimescaleId::T1, received, 1)
}

/// T2 (from 2013-04-15): the assessment, 45 working days from the referral. Before, T2a's
/// initial assessment (10 working days; 7 under the 2000 framework). Chosen by the referral date.
pub fn assessment_due(cal: &BankHolidayCalendar, s: &LocalSettings, referral: NaiveDate) -> Due {
    if in_force(RuleId::T2, referral) {
        working(cal, s, TimescaleId::T2, referral, 45)
    } else if in_force(RuleId::T2aInitial10, referral) {
        working(cal, s, TimescaleId::T2aInitial, referral, 10)
    } else {
        working(cal, s, TimescaleId::T2aInitial, referral, 7)
    }
}

/// T2a: a core assessment, 35 working days from its start (before 2013).
pub fn core_assessment_due(
    cal: &BankHolidayCalendar,
    s: &LocalSettings,
    started: NaiveDate,
) -> Due {
    working(cal, s, TimescaleId::T2aCore, started, 35)
}

/// T3: the initial child protection conference, 15 working days from the strategy discussion.
pub fn initial_conference_due(
    cal: &BankHolidayCalendar,
    s: &LocalSettings,
    strategy: NaiveDate,
) -> Due {
    working(cal, s, TimescaleId::T3, strategy, 15)
}

/// T4: the first core group 10 working days from the initial conference; later ones at the
/// local interval from the last.
pub fn core_group_due(
    cal: &BankHolidayCalendar,
    s: &LocalSettings,
    plan: &ChildProtectionPlan,
) -> Due {
    match latest(&plan.core_group_dates, plan.initial_conference_date) {
        Some(last) => by_interval(cal, s, TimescaleId::T4, last, s.core_group_interval),
        None => working(cal, s, TimescaleId::T4, plan.initial_conference_date, 10),
    }
}

/// T5: the first review conference within 3 months of the initial one, then at most 6 months apart.
pub fn review_conference_due(plan: &ChildProtectionPlan) -> Due {
    match latest(&plan.review_conference_dates, plan.initial_conference_date) {
        Some(last) => calendar(TimescaleId::T5, last, add_calendar_months(last, 6)),
        None => calendar(
            TimescaleId::T5,
            plan.initial_conference_date,
            add_calendar_months(plan.initial_conference_date, 3),
        ),
    }
}

/// T6: the next visit to a child on a child protection plan.
pub fn cp_visit_due(
    cal: &BankHolidayCalendar,
    s: &LocalSettings,
    plan: &ChildProtectionPlan,
    last_visit: Option<NaiveDate>,
) -> Due {
    let from = last_visit.filter(|d| *d >= plan.start_date).unwrap_or(plan.start_date);
    by_interval(cal, s, TimescaleId::T6, from, s.cp_visit_interval)
}

/// L1-L3: the next statutory visit to a looked after child, by the placement's regime.
pub fn looked_after_visit_due(la: &LookedAfterEpisode, last_visit: Option<NaiveDate>) -> Due {
    let placement = la.placement_start;
    let last = last_visit.filter(|d| *d >= placement);
    let Some(last) = last else {
        // L1 (and reg 28(4) for a care order at home): within one week of the placement.
        return calendar(TimescaleId::L1, placement, add_weeks(placement, 1));
    };
    let first_review = la.review_dates.iter().copied().filter(|d| *d >= la.start_date).min();
    let before_first_review = first_review.is_none_or(|r| last < r);
    match la.visit_regime {
        LookedAfterVisitRegime::Standard => {
            let first_year_ends = add_calendar_months(placement, 12);
            let due = if last < first_year_ends {
                // reg 28(3)(a): in the first year of the placement, at most 6 weeks apart.
                add_weeks(last, 6)
            } else if la.long_term_foster
                && la.child_agrees_fewer_visits
                && in_force(RuleId::L2Reg28_3A, last)
            {
                add_calendar_months(last, 6)
            } else if la.intended_until_18 {
                add_calendar_months(last, 3)
            } else {
                add_weeks(last, 6)
            };
            calendar(TimescaleId::L2, last, due)
        }
        LookedAfterVisitRegime::ParentBeforeAssessment => {
            let weeks = if before_first_review { 1 } else { 6 };
            calendar(TimescaleId::L3, last, add_weeks(last, weeks))
        }
        LookedAfterVisitRegime::TemporaryConnectedPerson
        | LookedAfterVisitRegime::InterimCareOrderAtHome => {
            let weeks = if before_first_review { 1 } else { 4 };
            calendar(TimescaleId::L3, last, add_weeks(last, weeks))
        }
        LookedAfterVisitRegime::CareOrderAtHome => {
            calendar(TimescaleId::L3, last, add_weeks(last, 6))
        }
    }
}

/// L4: the first review within 20 working days of becoming looked after, the second within 3
/// months of the first, then at most 6 months apart.
pub fn looked_after_review_due(
    cal: &BankHolidayCalendar,
    s: &LocalSettings,
    la: &LookedAfterEpisode,
) -> Due {
    let mut reviews: Vec<NaiveDate> =
        la.review_dates.iter().copied().filter(|d| *d >= la.start_date).collect();
    reviews.sort();
    match reviews.as_slice() {
        [] => working(cal, s, TimescaleId::L4, la.start_date, 20),
        [first] => calendar(TimescaleId::L4, *first, add_calendar_months(*first, 3)),
        [.., last] => calendar(TimescaleId::L4, *last, add_calendar_months(*last, 6)),
    }
}

/// P1: private fostering visits at most 6 weeks apart in the first year, then 12 weeks.
pub fn private_fostering_visit_due(pf: &PrivateFostering, last_visit: Option<NaiveDate>) -> Due {
    let from = last_visit.filter(|d| *d >= pf.start_date).unwrap_or(pf.start_date);
    let weeks = if from < add_calendar_months(pf.start_date, 12) { 6 } else { 12 };
    calendar(TimescaleId::P1, from, add_weeks(from, weeks))
}

/// T7: the next child in need visit and review.
pub fn cin_visit_due(
    cal: &BankHolidayCalendar,
    s: &LocalSettings,
    episode: &ChildInNeedEpisode,
    last_visit: Option<NaiveDate>,
) -> Due {
    let from = last_visit.filter(|d| *d >= episode.referral_date).unwrap_or(episode.referral_date);
    by_interval(cal, s, TimescaleId::T7Visit, from, s.cin_visit_interval)
}

fn latest(dates: &[NaiveDate], not_before: NaiveDate) -> Option<NaiveDate> {
    dates.iter().copied().filter(|d| *d >= not_before).max()
}

/// The last visit of one of `kinds` that counts under the settings (the child seen, by default),
/// from the visits on the device and the case system's own record.
pub fn last_counted_visit(
    facts: &CaseFacts<'_>,
    s: &LocalSettings,
    kinds: &[VisitKind],
) -> Option<NaiveDate> {
    let on_device = facts
        .visits
        .iter()
        .filter(|v| kinds.contains(&v.kind))
        .filter(|v| v.child_seen || s.visit_counting == VisitCounting::AnyVisit)
        .map(|v| v.date)
        .max();
    let from_case_system = match s.visit_counting {
        VisitCounting::ChildSeen => facts.summary.last_seen_date,
        VisitCounting::AnyVisit => facts.summary.last_visit_date,
    };
    on_device.max(from_case_system)
}

/// Every open timescale of a case: the things not yet done, with their due dates.
pub fn open_items(cal: &BankHolidayCalendar, s: &LocalSettings, facts: &CaseFacts<'_>) -> Vec<Due> {
    let summary = facts.summary;
    let mut out = Vec::new();
    if let Some(cin) = summary.child_in_need.as_ref().filter(|e| e.closure_date.is_none()) {
        if cin.referral_decision_date.is_none() {
            out.push(referral_decision_due(cal, s, cin.referral_date));
        }
        let assessed = cin.assessment_authorised_date.is_some()
            || facts.assessments_authorised.iter().any(|d| *d >= cin.referral_date);
        if !assessed {
            out.push(assessment_due(cal, s, cin.referral_date));
        }
        // T2a: a core assessment started before 2013-04-15 and not yet completed. (After that
        // date there were no core assessments; a start recorded later has no timescale.)
        if let (Some(start), None) =
            (cin.core_assessment_start_date, cin.core_assessment_completed_date)
        {
            if applies(RuleId::T2aCore, start, &s.commencement) {
                out.push(core_assessment_due(cal, s, start));
            }
        }
        if let Some(strategy) = cin.strategy_discussion_date {
            if !cin.conference_not_required && cin.initial_conference_date.is_none() {
                out.push(initial_conference_due(cal, s, strategy));
            }
        }
        let on_other_plan = summary.child_protection.as_ref().is_some_and(|p| p.end_date.is_none())
            || summary.looked_after.as_ref().is_some_and(|l| l.end_date.is_none());
        if assessed && !on_other_plan {
            let last = last_counted_visit(facts, s, &[VisitKind::ChildInNeed]);
            out.push(cin_visit_due(cal, s, cin, last));
            let plan_start = cin.assessment_authorised_date.unwrap_or(cin.referral_date);
            let from = latest(&cin.review_dates, cin.referral_date).unwrap_or(plan_start);
            out.push(by_interval(cal, s, TimescaleId::T7Review, from, s.cin_review_interval));
        }
    }
    if let Some(plan) = summary.child_protection.as_ref().filter(|p| p.end_date.is_none()) {
        out.push(core_group_due(cal, s, plan));
        out.push(review_conference_due(plan));
        let last = last_counted_visit(facts, s, &[VisitKind::ChildProtection]);
        out.push(cp_visit_due(cal, s, plan, last));
    }
    if let Some(la) = summary.looked_after.as_ref().filter(|l| l.end_date.is_none()) {
        let last = last_counted_visit(facts, s, &[VisitKind::LookedAfter]);
        out.push(looked_after_visit_due(la, last));
        out.push(looked_after_review_due(cal, s, la));
    }
    if let Some(pf) = summary.private_fostering.as_ref().filter(|p| p.end_date.is_none()) {
        let last = last_counted_visit(facts, s, &[VisitKind::PrivateFostering]);
        out.push(private_fostering_visit_due(pf, last));
    }
    out
}
