//! The worklist: every open timescale across the worker's cases, with its status for a given day,
//! and the open actions that have no statutory date (a consistent identifier to record, an FGDM
//! meeting to arrange).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::BankHolidayCalendar;
use super::effective::{applies, RuleId};
use super::settings::LocalSettings;
use super::status::{due_status, is_stale, DueStatus};
use super::timescales::{open_items, CaseFacts, TimescaleId};
use crate::records::CaseSummary;

/// One line of the worklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorklistItem {
    pub case_id: String,
    pub child_name: String,
    pub timescale: TimescaleId,
    pub label: String,
    pub from: NaiveDate,
    /// The due date; for an action with no statutory date (status `ToDo`), the date it became
    /// open, the same as `from`.
    pub due: NaiveDate,
    pub status: DueStatus,
    /// The due date lies beyond the known bank-holiday calendar.
    pub calendar_unconfirmed: bool,
    /// The device has not synced for long enough that the server may know of newer events.
    pub stale: bool,
}

/// An open action with no statutory date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenAction {
    pub timescale: TimescaleId,
    /// When it became open.
    pub from: NaiveDate,
}

/// The undated actions open on a case on `today`, each only where its duty is in force for the
/// event it runs from (DOMAIN.md §7; `docs/rules.md` R1, R2).
pub fn open_actions(s: &LocalSettings, summary: &CaseSummary, today: NaiveDate) -> Vec<OpenAction> {
    let mut out = Vec::new();
    // R1: information processed about the child carries the consistent identifier (s16LC) once
    // the duty is in force; a case with neither the identifier nor a reason it is absent is flagged.
    let reason_given = summary
        .consistent_identifier_absent_reason
        .as_deref()
        .is_some_and(|r| !r.trim().is_empty());
    if summary.consistent_identifier.is_none() && !reason_given {
        if let Some(since) = s.commencement.consistent_identifier {
            if applies(RuleId::R1, today, &s.commencement) {
                out.push(OpenAction { timescale: TimescaleId::ConsistentIdentifier, from: since });
            }
        }
    }
    // R2: an accepted FGDM offer means the meeting must be held before the application (s31ZA),
    // by the date of the letter that made the offer (else the start of pre-proceedings).
    if let Some(pp) = summary.pre_proceedings.as_ref().filter(|p| p.end_date.is_none()) {
        let event = pp.letter_sent_date.unwrap_or(pp.start_date);
        if pp.fgdm_accepted == Some(true)
            && pp.fgdm_held_date.is_none()
            && applies(RuleId::R2, event, &s.commencement)
        {
            out.push(OpenAction { timescale: TimescaleId::FgdmMeeting, from: event });
        }
    }
    out
}

/// The worklist for `today`: dated items most urgent first, then the undated actions.
pub fn build(
    cal: &BankHolidayCalendar,
    settings: &LocalSettings,
    cases: &[(String, CaseFacts<'_>)],
    today: NaiveDate,
    last_sync: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<WorklistItem> {
    let stale = is_stale(last_sync, now, Duration::hours(i64::from(settings.stale_after_hours)));
    let mut items: Vec<WorklistItem> = cases
        .iter()
        .flat_map(|(case_id, facts)| {
            let dated = open_items(cal, settings, facts).into_iter().map(move |d| WorklistItem {
                case_id: case_id.clone(),
                child_name: facts.summary.name.clone(),
                timescale: d.timescale,
                label: d.timescale.label().to_string(),
                from: d.from,
                due: d.due,
                status: due_status(d.due, today, None),
                calendar_unconfirmed: !d.calendar_confirmed,
                stale,
            });
            let undated = open_actions(settings, facts.summary, today).into_iter().map(move |a| {
                WorklistItem {
                    case_id: case_id.clone(),
                    child_name: facts.summary.name.clone(),
                    timescale: a.timescale,
                    label: a.timescale.label().to_string(),
                    from: a.from,
                    due: a.from,
                    status: DueStatus::ToDo,
                    calendar_unconfirmed: false,
                    stale,
                }
            });
            dated.chain(undated)
        })
        .collect();
    items.sort_by(|a, b| {
        (a.status == DueStatus::ToDo)
            .cmp(&(b.status == DueStatus::ToDo))
            .then(a.due.cmp(&b.due))
            .then(a.case_id.cmp(&b.case_id))
            .then(a.timescale.cmp(&b.timescale))
    });
    items
}
