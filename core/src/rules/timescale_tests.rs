//! Worked dates for every timescale of DOMAIN.md §2. Each expected date was counted by hand on the
//! England and Wales calendar and checked with an independent script.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::NaiveDate;

use super::calendar::BankHolidayCalendar;
use super::days::{DayCount, Interval};
use super::settings::{LocalSettings, VisitCounting};
use super::status::DueStatus;
use super::timescales::*;
use crate::records::*;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn cal() -> BankHolidayCalendar {
    BankHolidayCalendar::england_and_wales()
}

fn exclusive() -> LocalSettings {
    LocalSettings::default()
}

fn inclusive() -> LocalSettings {
    LocalSettings { day_count: DayCount::InclusiveStart, ..LocalSettings::default() }
}

fn plan(icpc: NaiveDate) -> ChildProtectionPlan {
    ChildProtectionPlan {
        start_date: icpc,
        category: None,
        initial_conference_date: icpc,
        core_group_dates: vec![],
        review_conference_dates: vec![],
        end_date: None,
    }
}

fn looked_after(
    start: NaiveDate,
    placement: NaiveDate,
    regime: LookedAfterVisitRegime,
) -> LookedAfterEpisode {
    LookedAfterEpisode {
        start_date: start,
        legal_status: None,
        placement_type: None,
        placement_start: placement,
        visit_regime: regime,
        intended_until_18: false,
        long_term_foster: false,
        child_agrees_fewer_visits: false,
        review_dates: vec![],
        end_date: None,
    }
}

fn episode(referral: NaiveDate) -> ChildInNeedEpisode {
    ChildInNeedEpisode {
        referral_date: referral,
        referral_source: None,
        primary_need: None,
        referral_decision_date: None,
        assessment_authorised_date: None,
        core_assessment_start_date: None,
        core_assessment_completed_date: None,
        strategy_discussion_date: None,
        conference_not_required: false,
        initial_conference_date: None,
        review_dates: vec![],
        closure_date: None,
        closure_reason: None,
    }
}

#[test]
fn t1_decision_one_working_day_across_christmas_and_proclaimed_holidays() {
    // Thu 24 Dec 2026: Fri 25th Christmas, Mon 28th substitute for Boxing Day.
    assert_eq!(referral_decision_due(&cal(), &exclusive(), d(2026, 12, 24)).due, d(2026, 12, 29));
    // Fri 16 Sep 2022: Mon 19th was the state funeral.
    assert_eq!(referral_decision_due(&cal(), &exclusive(), d(2022, 9, 16)).due, d(2022, 9, 20));
    // Fri 5 May 2023: Mon 8th was the coronation.
    assert_eq!(referral_decision_due(&cal(), &exclusive(), d(2023, 5, 5)).due, d(2023, 5, 9));
    // Wed 1 Jun 2022: Thu 2nd and Fri 3rd were the platinum jubilee.
    assert_eq!(referral_decision_due(&cal(), &exclusive(), d(2022, 6, 1)).due, d(2022, 6, 6));
    // Inclusive start: the day of receipt is day 1.
    assert_eq!(referral_decision_due(&cal(), &inclusive(), d(2026, 3, 26)).due, d(2026, 3, 26));
}

#[test]
fn t2_assessment_45_working_days_the_worked_example() {
    let due = assessment_due(&cal(), &exclusive(), d(2026, 3, 26));
    assert_eq!((due.timescale, due.due), (TimescaleId::T2, d(2026, 6, 3)));
    assert!(due.calendar_confirmed);
    assert_eq!(assessment_due(&cal(), &inclusive(), d(2026, 3, 26)).due, d(2026, 6, 2));
}

#[test]
fn t2a_before_2013_initial_and_core_assessments() {
    // Under Working Together 2010: initial assessment in 10 working days (7 May 2012 holiday).
    let due = assessment_due(&cal(), &exclusive(), d(2012, 5, 1));
    assert_eq!((due.timescale, due.due), (TimescaleId::T2aInitial, d(2012, 5, 16)));
    // Under the 2000 framework: 7 working days.
    assert_eq!(assessment_due(&cal(), &exclusive(), d(2009, 6, 1)).due, d(2009, 6, 10));
    // Core assessment: 35 working days from its start (2012-05-16 -> across the jubilee).
    let core = core_assessment_due(&cal(), &exclusive(), d(2012, 5, 16));
    assert_eq!(core.timescale, TimescaleId::T2aCore);
    assert_eq!(core.due, d(2012, 7, 6));
}

#[test]
fn t3_initial_conference_the_worked_example_in_both_settings() {
    let due = initial_conference_due(&cal(), &exclusive(), d(2026, 12, 17));
    assert_eq!(due.due, d(2027, 1, 12));
    assert_eq!(initial_conference_due(&cal(), &inclusive(), d(2026, 12, 17)).due, d(2027, 1, 11));
}

#[test]
fn t3_beyond_the_known_calendar_is_flagged_unconfirmed() {
    let due = initial_conference_due(&cal(), &exclusive(), d(2028, 12, 20));
    assert_eq!(due.due, d(2029, 1, 15));
    assert!(!due.calendar_confirmed);
}

#[test]
fn t4_core_groups_first_across_easter_then_local_interval() {
    let mut p = plan(d(2026, 3, 26));
    // 10 working days skipping Good Friday 3 Apr and Easter Monday 6 Apr 2026.
    assert_eq!(core_group_due(&cal(), &exclusive(), &p).due, d(2026, 4, 13));
    p.core_group_dates = vec![d(2026, 4, 13)];
    // Then every 6 weeks by default.
    assert_eq!(core_group_due(&cal(), &exclusive(), &p).due, d(2026, 5, 25));
    let s = LocalSettings { core_group_interval: Interval::Weeks(4), ..LocalSettings::default() };
    assert_eq!(core_group_due(&cal(), &s, &p).due, d(2026, 5, 11));
}

#[test]
fn t5_review_conferences_3_then_6_months_clamped_to_month_end() {
    let mut p = plan(d(2026, 3, 26));
    assert_eq!(review_conference_due(&p).due, d(2026, 6, 26));
    p.review_conference_dates = vec![d(2026, 6, 20)];
    assert_eq!(review_conference_due(&p).due, d(2026, 12, 20));
    assert_eq!(review_conference_due(&plan(d(2026, 11, 30))).due, d(2027, 2, 28));
}

#[test]
fn t6_cp_visits_every_10_working_days_across_christmas() {
    let p = plan(d(2026, 12, 17));
    let due = cp_visit_due(&cal(), &exclusive(), &p, Some(d(2026, 12, 18)));
    assert_eq!(due.due, d(2027, 1, 6));
    // No visit yet: from the plan's start.
    assert_eq!(cp_visit_due(&cal(), &exclusive(), &p, None).from, d(2026, 12, 17));
    // A local setting of 15 working days.
    let s =
        LocalSettings { cp_visit_interval: Interval::WorkingDays(15), ..LocalSettings::default() };
    assert_eq!(cp_visit_due(&cal(), &s, &p, None).due, d(2027, 1, 12));
}

#[test]
fn t7_child_in_need_visits_and_reviews() {
    let e = episode(d(2026, 3, 26));
    assert_eq!(cin_visit_due(&cal(), &exclusive(), &e, None).due, d(2026, 4, 27));
    assert_eq!(cin_visit_due(&cal(), &exclusive(), &e, Some(d(2026, 6, 1))).due, d(2026, 6, 29));
}

#[test]
fn l1_new_placement_visit_within_a_week() {
    let la = looked_after(d(2026, 3, 20), d(2026, 3, 26), LookedAfterVisitRegime::Standard);
    let due = looked_after_visit_due(&la, None);
    assert_eq!((due.timescale, due.due), (TimescaleId::L1, d(2026, 4, 2)));
    // A visit before this placement started does not count.
    assert_eq!(looked_after_visit_due(&la, Some(d(2026, 3, 25))).timescale, TimescaleId::L1);
}

#[test]
fn l2_six_weeks_then_three_months_or_six_months_under_28_3a() {
    let first_year = looked_after(d(2026, 1, 10), d(2026, 1, 10), LookedAfterVisitRegime::Standard);
    let due = looked_after_visit_due(&first_year, Some(d(2026, 3, 1)));
    assert_eq!((due.timescale, due.due), (TimescaleId::L2, d(2026, 4, 12)));

    let mut settled =
        looked_after(d(2024, 1, 10), d(2024, 1, 10), LookedAfterVisitRegime::Standard);
    // After the first year, not intended until 18: still 6 weeks.
    assert_eq!(looked_after_visit_due(&settled, Some(d(2026, 3, 1))).due, d(2026, 4, 12));
    settled.intended_until_18 = true;
    assert_eq!(looked_after_visit_due(&settled, Some(d(2026, 3, 1))).due, d(2026, 6, 1));
    settled.long_term_foster = true;
    settled.child_agrees_fewer_visits = true;
    assert_eq!(looked_after_visit_due(&settled, Some(d(2026, 3, 1))).due, d(2026, 9, 1));
    // Reg 28(3A) did not exist before 1 April 2015.
    let mut old = settled.clone();
    old.placement_start = d(2012, 1, 10);
    assert_eq!(looked_after_visit_due(&old, Some(d(2014, 3, 1))).due, d(2014, 6, 1));
}

#[test]
fn l3_placed_at_home_or_with_connected_person() {
    let mut parent =
        looked_after(d(2026, 3, 1), d(2026, 3, 1), LookedAfterVisitRegime::ParentBeforeAssessment);
    assert_eq!(looked_after_visit_due(&parent, Some(d(2026, 3, 5))).due, d(2026, 3, 12));
    parent.review_dates = vec![d(2026, 3, 20)];
    let due = looked_after_visit_due(&parent, Some(d(2026, 3, 25)));
    assert_eq!((due.timescale, due.due), (TimescaleId::L3, d(2026, 5, 6)));

    let mut connected = looked_after(
        d(2026, 3, 1),
        d(2026, 3, 1),
        LookedAfterVisitRegime::TemporaryConnectedPerson,
    );
    assert_eq!(looked_after_visit_due(&connected, Some(d(2026, 3, 5))).due, d(2026, 3, 12));
    connected.review_dates = vec![d(2026, 3, 20)];
    assert_eq!(looked_after_visit_due(&connected, Some(d(2026, 3, 25))).due, d(2026, 4, 22));

    let home = looked_after(d(2026, 3, 1), d(2026, 3, 1), LookedAfterVisitRegime::CareOrderAtHome);
    assert_eq!(looked_after_visit_due(&home, None).due, d(2026, 3, 8));
    assert_eq!(looked_after_visit_due(&home, Some(d(2026, 3, 5))).due, d(2026, 4, 16));
}

#[test]
fn l4_reviews_20_working_days_then_3_then_6_months() {
    let mut la = looked_after(d(2026, 3, 26), d(2026, 3, 26), LookedAfterVisitRegime::Standard);
    // 20 working days across Easter 2026.
    assert_eq!(looked_after_review_due(&cal(), &exclusive(), &la).due, d(2026, 4, 27));
    assert_eq!(looked_after_review_due(&cal(), &inclusive(), &la).due, d(2026, 4, 24));
    la.review_dates = vec![d(2026, 4, 20)];
    assert_eq!(looked_after_review_due(&cal(), &exclusive(), &la).due, d(2026, 7, 20));
    la.review_dates.push(d(2026, 7, 15));
    assert_eq!(looked_after_review_due(&cal(), &exclusive(), &la).due, d(2027, 1, 15));
}

#[test]
fn p1_private_fostering_six_then_twelve_weeks() {
    let pf = PrivateFostering { start_date: d(2026, 1, 5), end_date: None };
    assert_eq!(private_fostering_visit_due(&pf, Some(d(2026, 3, 1))).due, d(2026, 4, 12));
    let long = PrivateFostering { start_date: d(2024, 1, 5), end_date: None };
    assert_eq!(private_fostering_visit_due(&long, Some(d(2026, 3, 1))).due, d(2026, 5, 24));
}

#[test]
fn visits_count_only_when_the_child_was_seen_by_default() {
    let mut summary = CaseSummary::new("A1", "Child");
    summary.child_protection = Some(plan(d(2026, 3, 2)));
    let visits = [
        VisitFact { date: d(2026, 3, 10), kind: VisitKind::ChildProtection, child_seen: true },
        VisitFact { date: d(2026, 3, 20), kind: VisitKind::ChildProtection, child_seen: false },
    ];
    let facts = CaseFacts { summary: &summary, visits: &visits, assessments_authorised: &[] };
    let kinds = [VisitKind::ChildProtection];
    assert_eq!(last_counted_visit(&facts, &exclusive(), &kinds), Some(d(2026, 3, 10)));
    let any = LocalSettings { visit_counting: VisitCounting::AnyVisit, ..LocalSettings::default() };
    assert_eq!(last_counted_visit(&facts, &any, &kinds), Some(d(2026, 3, 20)));
}

#[test]
fn open_items_and_worklist_statuses() {
    let mut summary = CaseSummary::new("A1", "Child");
    let mut cin = episode(d(2026, 3, 26));
    cin.referral_decision_date = Some(d(2026, 3, 27));
    cin.strategy_discussion_date = Some(d(2026, 3, 27));
    summary.child_in_need = Some(cin);
    let facts = CaseFacts { summary: &summary, visits: &[], assessments_authorised: &[] };
    let items = open_items(&cal(), &exclusive(), &facts);
    let ids: Vec<TimescaleId> = items.iter().map(|i| i.timescale).collect();
    assert_eq!(ids, vec![TimescaleId::T2, TimescaleId::T3]);

    let cases = vec![("case-1".to_string(), facts.clone())];
    let now = chrono::DateTime::parse_from_rfc3339("2026-04-21T09:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    // T3 from Fri 27 Mar 2026 + 15 working days (Easter in between) = Tue 21 Apr 2026.
    let list = super::worklist::build(&cal(), &exclusive(), &cases, d(2026, 4, 21), Some(now), now);
    assert_eq!(list[0].timescale, TimescaleId::T3);
    assert_eq!(list[0].due, d(2026, 4, 21));
    assert_eq!(list[0].status, DueStatus::DueToday);
    assert!(!list[0].stale);
    let later = super::worklist::build(&cal(), &exclusive(), &cases, d(2026, 4, 24), None, now);
    assert_eq!(later[0].status, DueStatus::Overdue { days_overdue: 3 });
    assert!(later[0].stale, "never synced is stale");
    assert!(matches!(later[1].status, DueStatus::Upcoming { .. }));
    // Once the assessment is authorised on the device, T2 is done and child in need visits start.
    let authorised = [d(2026, 4, 1)];
    let facts = CaseFacts { summary: &summary, visits: &[], assessments_authorised: &authorised };
    let ids: Vec<TimescaleId> =
        open_items(&cal(), &exclusive(), &facts).iter().map(|i| i.timescale).collect();
    assert_eq!(ids, vec![TimescaleId::T3, TimescaleId::T7Visit, TimescaleId::T7Review]);
}
