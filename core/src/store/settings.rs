//! Settings kept in the store: the council's local rules, bank-holiday calendar updates, and the
//! time of the last successful sync.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, OptionalExtension};

use super::Store;
use crate::error::{Error, Result};
use crate::records::VisitKind;
use crate::rules::calendar::{BankHolidayCalendar, HolidayEvent};
use crate::rules::settings::LocalSettings;
use crate::rules::timescales::{CaseFacts, VisitFact};
use crate::rules::worklist::{self, WorklistItem};
use crate::terms::fields::IsoString;

const LOCAL_SETTINGS: &str = "local_settings";
const CALENDAR_EVENTS: &str = "calendar_events";
const LAST_SYNC: &str = "last_sync_at";

impl Store {
    pub(super) fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    pub(super) fn put_setting(&mut self, key: &str, value: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = ?2",
            )?
            .execute(params![key, value])?;
        Ok(())
    }

    /// The council's local settings (defaults until the server sends some).
    pub fn local_settings(&self) -> Result<LocalSettings> {
        Ok(match self.setting(LOCAL_SETTINGS)? {
            Some(json) => serde_json::from_str(&json)?,
            None => LocalSettings::default(),
        })
    }

    pub fn set_local_settings(&mut self, settings: &LocalSettings) -> Result<()> {
        self.put_setting(LOCAL_SETTINGS, &serde_json::to_string(settings)?)
    }

    /// The bank-holiday calendar: the shipped one with any official updates applied.
    pub fn calendar(&self) -> Result<BankHolidayCalendar> {
        let mut cal = BankHolidayCalendar::england_and_wales();
        if let Some(json) = self.setting(CALENDAR_EVENTS)? {
            let events: Vec<HolidayEvent> = serde_json::from_str(&json)?;
            cal.apply_official_events(&events)
                .map_err(|e| Error::InvalidInput { field: "calendar", reason: e.to_string() })?;
        }
        Ok(cal)
    }

    /// Applies an official bank-holiday list (as the server relays it) and keeps it.
    pub fn update_calendar(&mut self, events: &[HolidayEvent]) -> Result<()> {
        let mut cal = BankHolidayCalendar::england_and_wales();
        let mut all: Vec<HolidayEvent> = match self.setting(CALENDAR_EVENTS)? {
            Some(json) => serde_json::from_str(&json)?,
            None => Vec::new(),
        };
        all.retain(|old| {
            !events
                .iter()
                .any(|new| new.date.format("%Y").to_string() == old.date.format("%Y").to_string())
        });
        all.extend(events.iter().cloned());
        all.sort_by_key(|e| e.date);
        // Validate before keeping: a bad list is refused and the old calendar stays.
        cal.apply_official_events(&all)
            .map_err(|e| Error::InvalidInput { field: "calendar", reason: e.to_string() })?;
        self.put_setting(CALENDAR_EVENTS, &serde_json::to_string(&all)?)
    }

    pub fn last_sync_at(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self
            .setting(LAST_SYNC)?
            .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
            .map(|t| t.with_timezone(&Utc)))
    }

    pub fn set_last_sync_at(&mut self, at: DateTime<Utc>) -> Result<()> {
        self.put_setting(LAST_SYNC, &at.to_rfc3339())
    }

    /// The worklist for `today` across every case on the device, from projections only.
    pub fn worklist(&self, today: NaiveDate) -> Result<Vec<WorklistItem>> {
        let cal = self.calendar()?;
        let settings = self.local_settings()?;
        let cases = self.cases()?;
        let mut visits_stmt = self.conn.prepare_cached(
            "SELECT occurred_on, visit_kind, child_seen FROM records
             WHERE case_id = ?1 AND kind = 'visit' AND occurred_on IS NOT NULL",
        )?;
        let mut assessments_stmt = self.conn.prepare_cached(
            "SELECT authorised_on FROM records
             WHERE case_id = ?1 AND kind = 'assessment' AND authorised_on IS NOT NULL",
        )?;
        let mut facts = Vec::with_capacity(cases.len());
        for case in &cases {
            let mut visits = Vec::new();
            let rows = visits_stmt.query_map([&case.case_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<bool>>(2)?))
            })?;
            for row in rows {
                let (date, kind, seen) = row?;
                visits.push(VisitFact {
                    date: parse_date(&date)?,
                    kind: VisitKind::from_code(&kind).map_err(|e| corrupt(e.to_string()))?,
                    child_seen: seen.unwrap_or(false),
                });
            }
            let mut authorised = Vec::new();
            for row in assessments_stmt.query_map([&case.case_id], |r| r.get::<_, String>(0))? {
                authorised.push(parse_date(&row?)?);
            }
            facts.push((case.case_id.clone(), visits, authorised));
        }
        let case_facts: Vec<(String, CaseFacts<'_>)> = cases
            .iter()
            .zip(&facts)
            .map(|(case, (id, visits, authorised))| {
                (
                    id.clone(),
                    CaseFacts {
                        summary: &case.summary,
                        visits,
                        assessments_authorised: authorised,
                    },
                )
            })
            .collect();
        Ok(worklist::build(&cal, &settings, &case_facts, today, self.last_sync_at()?, self.now()))
    }
}

fn corrupt(reason: String) -> Error {
    Error::CorruptDocument { reason }
}

fn parse_date(s: &str) -> Result<NaiveDate> {
    NaiveDate::from_iso(s).ok_or_else(|| corrupt(format!("projection date {s:?} is not a date")))
}
