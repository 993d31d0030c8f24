//! The worklist: every open timescale across the worker's cases, with its status for a given day.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::BankHolidayCalendar;
use super::settings::LocalSettings;
use super::status::{due_status, is_stale, DueStatus};
use super::timescales::{open_items, CaseFacts, TimescaleId};

/// One line of the worklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorklistItem {
    pub case_id: String,
    pub child_name: String,
    pub timescale: TimescaleId,
    pub label: String,
    pub from: NaiveDate,
    pub due: NaiveDate,
    pub status: DueStatus,
    /// The due date lies beyond the known bank-holiday calendar.
    pub calendar_unconfirmed: bool,
    /// The device has not synced for long enough that the server may know of newer events.
    pub stale: bool,
}

/// The worklist for `today`, most urgent first.
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
            open_items(cal, settings, facts).into_iter().map(move |d| WorklistItem {
                case_id: case_id.clone(),
                child_name: facts.summary.name.clone(),
                timescale: d.timescale,
                label: d.timescale.label().to_string(),
                from: d.from,
                due: d.due,
                status: due_status(d.due, today, None),
                calendar_unconfirmed: !d.calendar_confirmed,
                stale,
            })
        })
        .collect();
    items.sort_by(|a, b| {
        a.due.cmp(&b.due).then(a.case_id.cmp(&b.case_id)).then(a.timescale.cmp(&b.timescale))
    });
    items
}
