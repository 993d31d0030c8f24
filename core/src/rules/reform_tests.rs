//! The worklist's rules chosen by the date of the event (T2/T2a, reg 28(3A)), the T2a core
//! assessment, and the 2026 Act's items: the consistent identifier to record and the FGDM meeting
//! to arrange, each only from its commencement.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, NaiveDate, Utc};

use super::calendar::BankHolidayCalendar;
use super::settings::{Commencements, LocalSettings};
use super::status::DueStatus;
use super::timescales::*;
use super::worklist::{build, WorklistItem};
use crate::records::*;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn cal() -> BankHolidayCalendar {
    BankHolidayCalendar::england_and_wales()
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2027-10-01T09:00:00Z").unwrap().with_timezone(&Utc)
}

fn commenced() -> LocalSettings {
    LocalSettings {
        commencement: Commencements {
            consistent_identifier: Some(d(2027, 9, 1)),
            family_group_decision_making: Some(d(2027, 4, 6)),
        },
        ..LocalSettings::default()
    }
}

fn worklist(s: &LocalSettings, summary: &CaseSummary, today: NaiveDate) -> Vec<WorklistItem> {
    let facts = CaseFacts { summary, visits: &[], assessments_authorised: &[] };
    build(&cal(), s, &[("case-1".to_string(), facts)], today, Some(now()), now())
}

fn ids(items: &[WorklistItem]) -> Vec<TimescaleId> {
    items.iter().map(|i| i.timescale).collect()
}

#[test]
fn t2_or_t2a_by_the_referral_date_at_the_2013_boundary() {
    let s = LocalSettings::default();
    // Sun 14 Apr 2013: the last day of initial assessments (10 working days: Fri 26 Apr).
    let before = assessment_due(&cal(), &s, d(2013, 4, 14));
    assert_eq!((before.timescale, before.due), (TimescaleId::T2aInitial, d(2013, 4, 26)));
    let from = assessment_due(&cal(), &s, d(2013, 4, 15));
    assert_eq!(from.timescale, TimescaleId::T2);
    // Thu 25 Mar 2010 (2000 framework, 7 working days): Fri 26, Mon 29, Tue 30, Wed 31, Thu 1
    // Apr, (Good Friday 2 and Easter Monday 5 Apr), Tue 6, Wed 7 Apr is the 7th.
    assert_eq!(assessment_due(&cal(), &s, d(2010, 3, 25)).due, d(2010, 4, 7));
    // Fri 26 Mar 2010 (Working Together 2010, 10 working days): Mon 29 .. Thu 1 (4), Tue 6 ..
    // Fri 9 (8), Mon 12 (9), Tue 13 (10).
    assert_eq!(assessment_due(&cal(), &s, d(2010, 3, 26)).due, d(2010, 4, 13));
}

#[test]
fn t2a_core_assessment_reaches_the_worklist_when_started_before_2013_04_15() {
    let mut summary = CaseSummary::new("LC1", "Child");
    let mut cin = ChildInNeedEpisode::new(d(2013, 3, 1));
    cin.referral_decision_date = Some(d(2013, 3, 1));
    cin.assessment_authorised_date = Some(d(2013, 3, 12));
    // Fri 12 Apr 2013 + 35 working days (6 May and 27 May holidays): Tue 4 Jun 2013.
    cin.core_assessment_start_date = Some(d(2013, 4, 12));
    summary.child_in_need = Some(cin.clone());
    let list = worklist(&LocalSettings::default(), &summary, d(2013, 6, 4));
    let core: Vec<_> = list.iter().filter(|i| i.timescale == TimescaleId::T2aCore).collect();
    assert_eq!(core.len(), 1, "{list:?}");
    assert_eq!((core[0].from, core[0].due), (d(2013, 4, 12), d(2013, 6, 4)));
    assert_eq!(core[0].status, DueStatus::DueToday);
    assert_eq!(core[0].label, "Core assessment");
    // Completed: gone.
    cin.core_assessment_completed_date = Some(d(2013, 6, 1));
    summary.child_in_need = Some(cin.clone());
    assert!(!ids(&worklist(&LocalSettings::default(), &summary, d(2013, 6, 4)))
        .contains(&TimescaleId::T2aCore));
    // Started on 15 Apr 2013, when core assessments had been replaced: no T2a item.
    cin.core_assessment_completed_date = None;
    cin.core_assessment_start_date = Some(d(2013, 4, 15));
    summary.child_in_need = Some(cin);
    assert!(!ids(&worklist(&LocalSettings::default(), &summary, d(2013, 6, 4)))
        .contains(&TimescaleId::T2aCore));
}

#[test]
fn reg_28_3a_by_the_date_of_the_last_visit() {
    let mut la = LookedAfterEpisode {
        start_date: d(2013, 1, 7),
        legal_status: None,
        placement_type: None,
        placement_start: d(2013, 1, 7),
        visit_regime: LookedAfterVisitRegime::Standard,
        intended_until_18: false,
        long_term_foster: true,
        child_agrees_fewer_visits: true,
        review_dates: vec![d(2013, 2, 1)],
        end_date: None,
    };
    // Last visit Tue 31 Mar 2015, a day before reg 28(3A): 6 weeks.
    assert_eq!(looked_after_visit_due(&la, Some(d(2015, 3, 31))).due, d(2015, 5, 12));
    // Wed 1 Apr 2015: up to 6 months.
    assert_eq!(looked_after_visit_due(&la, Some(d(2015, 4, 1))).due, d(2015, 10, 1));
    la.child_agrees_fewer_visits = false;
    assert_eq!(looked_after_visit_due(&la, Some(d(2015, 4, 1))).due, d(2015, 5, 13));
}

#[test]
fn the_worklist_flags_a_case_with_neither_identifier_nor_reason_once_the_duty_commences() {
    let mut summary = CaseSummary::new("LC1", "Child");
    // Not in force (no commencement in the rules document): nothing.
    assert!(worklist(&LocalSettings::default(), &summary, d(2027, 10, 1)).is_empty());
    // In force from 1 Sep 2027: not the day before, flagged from the day.
    assert!(worklist(&commenced(), &summary, d(2027, 8, 31)).is_empty());
    let list = worklist(&commenced(), &summary, d(2027, 9, 1));
    assert_eq!(ids(&list), vec![TimescaleId::ConsistentIdentifier]);
    assert_eq!(list[0].label, "Consistent identifier to record");
    assert_eq!(list[0].status, DueStatus::ToDo);
    assert_eq!((list[0].from, list[0].due), (d(2027, 9, 1), d(2027, 9, 1)));
    // A reason it is absent, or the identifier: not flagged. A blank reason is no reason.
    summary.consistent_identifier_absent_reason = Some(" ".into());
    assert_eq!(worklist(&commenced(), &summary, d(2027, 10, 1)).len(), 1);
    summary.consistent_identifier_absent_reason = Some("child not registered with a GP".into());
    assert!(worklist(&commenced(), &summary, d(2027, 10, 1)).is_empty());
    summary.consistent_identifier_absent_reason = None;
    summary.consistent_identifier = Some(ConsistentIdentifier::nhs_number("9434765919"));
    assert!(worklist(&commenced(), &summary, d(2027, 10, 1)).is_empty());
}

#[test]
fn fgdm_flow_the_meeting_to_arrange_after_an_accepted_offer_until_held() {
    let mut summary = CaseSummary::new("LC1", "Child");
    summary.consistent_identifier = Some(ConsistentIdentifier::upn("H801200001001"));
    let mut pp = PreProceedings::new(d(2027, 5, 3));
    summary.pre_proceedings = Some(pp.clone());
    let today = d(2027, 6, 1);
    assert!(worklist(&commenced(), &summary, today).is_empty(), "no offer yet");
    // Letter before proceedings on Mon 10 May 2027 offers a meeting; not yet answered.
    pp.letter_sent_date = Some(d(2027, 5, 10));
    pp.fgdm_offered = Some(true);
    summary.pre_proceedings = Some(pp.clone());
    assert!(worklist(&commenced(), &summary, today).is_empty());
    // Accepted: the meeting is to arrange, from the letter's date.
    pp.fgdm_accepted = Some(true);
    summary.pre_proceedings = Some(pp.clone());
    let list = worklist(&commenced(), &summary, today);
    assert_eq!(ids(&list), vec![TimescaleId::FgdmMeeting]);
    assert_eq!(list[0].label, "FGDM meeting to arrange");
    assert_eq!((list[0].from, list[0].status), (d(2027, 5, 10), DueStatus::ToDo));
    // Before the s31ZA duty commences (a letter of Mon 5 Apr 2027, commencement 6 Apr): nothing.
    let mut early = pp.clone();
    early.letter_sent_date = Some(d(2027, 4, 5));
    summary.pre_proceedings = Some(early);
    assert!(worklist(&commenced(), &summary, today).is_empty());
    assert!(worklist(&LocalSettings::default(), &summary, today).is_empty());
    // Held: gone.
    pp.fgdm_held_date = Some(d(2027, 5, 28));
    summary.pre_proceedings = Some(pp.clone());
    assert!(worklist(&commenced(), &summary, today).is_empty());
    // Declined: nothing to arrange.
    pp.fgdm_held_date = None;
    pp.fgdm_accepted = Some(false);
    summary.pre_proceedings = Some(pp);
    assert!(worklist(&commenced(), &summary, today).is_empty());
}

#[test]
fn undated_actions_follow_the_dated_items() {
    let mut summary = CaseSummary::new("LC1", "Child");
    summary.child_in_need = Some(ChildInNeedEpisode::new(d(2027, 9, 20)));
    let list = worklist(&commenced(), &summary, d(2027, 10, 1));
    // T1 (overdue), T2 (upcoming), then the identifier, though it opened on 1 Sep.
    assert_eq!(
        ids(&list),
        vec![TimescaleId::T1, TimescaleId::T2, TimescaleId::ConsistentIdentifier]
    );
}
