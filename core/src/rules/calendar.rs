//! The England and Wales bank-holiday calendar (DOMAIN.md §1).
//!
//! Holidays come from the rules (fixed dates, Easter, Mondays, substitute days) plus the days moved
//! or added by proclamation, which no rule predicts. The official list covers only a few years
//! ahead, so the calendar knows how far it is confirmed: dates beyond `known_until` are still
//! computed by rule, and callers flag them *calendar unconfirmed*. Official updates received at run
//! time replace the rule-based holidays for every year they cover.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// The shipped calendar is confirmed (checked against the official list) through this date.
pub const SHIPPED_KNOWN_UNTIL: (i32, u32, u32) = (2028, 12, 31);

/// Years for which holidays are precomputed; outside them days are computed on demand.
const FIRST_YEAR: i32 = 1970;
const LAST_YEAR: i32 = 2100;

type Ymd = (i32, u32, u32);

/// A change by proclamation: the rule-based day it replaced (if any), the days proclaimed, the title.
type Proclamation = (Option<Ymd>, &'static [Ymd], &'static str);

/// Days moved or added by proclamation.
const PROCLAIMED: &[Proclamation] = &[
    (Some((1995, 5, 1)), &[(1995, 5, 8)], "Early May bank holiday (VE Day)"),
    (None, &[(1999, 12, 31)], "Millennium Celebrations"),
    (Some((2002, 5, 27)), &[(2002, 6, 3), (2002, 6, 4)], "Golden Jubilee"),
    (None, &[(2011, 4, 29)], "Royal wedding"),
    (Some((2012, 5, 28)), &[(2012, 6, 4), (2012, 6, 5)], "Diamond Jubilee"),
    (Some((2020, 5, 4)), &[(2020, 5, 8)], "Early May bank holiday (VE day)"),
    (Some((2022, 5, 30)), &[(2022, 6, 2), (2022, 6, 3)], "Platinum Jubilee"),
    (None, &[(2022, 9, 19)], "Bank Holiday for the State Funeral of Queen Elizabeth II"),
    (None, &[(2023, 5, 8)], "Bank holiday for the coronation of King Charles III"),
];

/// One event of the official list (GOV.UK `bank-holidays.json`, `england-and-wales.events[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolidayEvent {
    pub date: NaiveDate,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("the official list has no events")]
    Empty,
    #[error("the official list could not be read: {0}")]
    Malformed(String),
}

/// The England and Wales bank holidays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankHolidayCalendar {
    holidays: BTreeMap<NaiveDate, String>,
    /// Years whose holidays came from an official list rather than the rules.
    official_years: BTreeSet<i32>,
    known_until: NaiveDate,
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
}

/// Easter Sunday (Gregorian), by the anonymous Gregorian algorithm.
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    ymd(year, month as u32, day as u32)
}

fn first_monday(year: i32, month: u32) -> NaiveDate {
    let mut d = ymd(year, month, 1);
    while d.weekday() != Weekday::Mon {
        d += Duration::days(1);
    }
    d
}

fn last_monday(year: i32, month: u32) -> NaiveDate {
    let next = if month == 12 { ymd(year + 1, 1, 1) } else { ymd(year, month + 1, 1) };
    let mut d = next - Duration::days(1);
    while d.weekday() != Weekday::Mon {
        d -= Duration::days(1);
    }
    d
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The holidays of `year` by rule, with the proclaimed exceptions applied.
fn rule_holidays(year: i32) -> BTreeMap<NaiveDate, String> {
    let mut out = BTreeMap::new();
    let easter = easter_sunday(year);
    out.insert(easter - Duration::days(2), "Good Friday".to_string());
    out.insert(easter + Duration::days(1), "Easter Monday".to_string());
    out.insert(first_monday(year, 5), "Early May bank holiday".to_string());
    out.insert(last_monday(year, 5), "Spring bank holiday".to_string());
    out.insert(last_monday(year, 8), "Summer bank holiday".to_string());
    // New Year's Day, Christmas Day and Boxing Day: on a weekend, the next weekday(s) not already
    // a holiday are substitute days. (A weekend Christmas is not a working day either way.)
    for (date, title) in [
        (ymd(year, 1, 1), "New Year’s Day"),
        (ymd(year, 12, 25), "Christmas Day"),
        (ymd(year, 12, 26), "Boxing Day"),
    ] {
        if is_weekend(date) {
            let mut sub = date;
            while is_weekend(sub) || out.contains_key(&sub) {
                sub += Duration::days(1);
            }
            out.insert(sub, format!("{title} (substitute day)"));
        } else {
            out.insert(date, title.to_string());
        }
    }
    for (replaced, added, title) in PROCLAIMED {
        if let Some((y, m, d)) = replaced {
            if *y == year {
                out.remove(&ymd(*y, *m, *d));
            }
        }
        for (y, m, d) in added.iter() {
            if *y == year {
                out.insert(ymd(*y, *m, *d), (*title).to_string());
            }
        }
    }
    out
}

impl BankHolidayCalendar {
    /// The shipped calendar: rules plus proclamations, confirmed through `SHIPPED_KNOWN_UNTIL`.
    pub fn england_and_wales() -> Self {
        let mut holidays = BTreeMap::new();
        for year in FIRST_YEAR..=LAST_YEAR {
            holidays.extend(rule_holidays(year));
        }
        let (y, m, d) = SHIPPED_KNOWN_UNTIL;
        Self { holidays, official_years: BTreeSet::new(), known_until: ymd(y, m, d) }
    }

    /// Applies an official list: for every year it covers it replaces the holidays entirely, and
    /// the confirmed range extends to the end of the last year covered (it never shrinks).
    pub fn apply_official_events(&mut self, events: &[HolidayEvent]) -> Result<(), CalendarError> {
        if events.is_empty() {
            return Err(CalendarError::Empty);
        }
        let years: BTreeSet<i32> = events.iter().map(|e| e.date.year()).collect();
        for year in &years {
            self.holidays.retain(|d, _| d.year() != *year);
            self.official_years.insert(*year);
        }
        for e in events {
            self.holidays.insert(e.date, e.title.clone());
        }
        if let Some(last) = years.iter().next_back() {
            self.known_until = self.known_until.max(ymd(*last, 12, 31));
        }
        Ok(())
    }

    /// Parses GOV.UK's `bank-holidays.json` and returns the England and Wales events.
    pub fn events_from_official_json(json: &str) -> Result<Vec<HolidayEvent>, CalendarError> {
        #[derive(Deserialize)]
        struct Division {
            events: Vec<HolidayEvent>,
        }
        #[derive(Deserialize)]
        struct Document {
            #[serde(rename = "england-and-wales")]
            england_and_wales: Division,
        }
        let doc: Document =
            serde_json::from_str(json).map_err(|e| CalendarError::Malformed(e.to_string()))?;
        if doc.england_and_wales.events.is_empty() {
            return Err(CalendarError::Empty);
        }
        Ok(doc.england_and_wales.events)
    }

    pub fn is_bank_holiday(&self, date: NaiveDate) -> bool {
        self.holiday_title(date).is_some()
    }

    pub fn holiday_title(&self, date: NaiveDate) -> Option<&str> {
        if (FIRST_YEAR..=LAST_YEAR).contains(&date.year())
            || self.official_years.contains(&date.year())
        {
            self.holidays.get(&date).map(String::as_str)
        } else if rule_holidays(date.year()).contains_key(&date) {
            // Far outside the precomputed range: rare, so computed on demand and not cached.
            Some("Bank holiday")
        } else {
            None
        }
    }

    /// Not a Saturday, a Sunday or a bank holiday (Christmas Day and Good Friday always are).
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !is_weekend(date) && !self.is_bank_holiday(date)
    }

    /// Whether `date` falls within the confirmed range of the calendar.
    pub fn is_confirmed(&self, date: NaiveDate) -> bool {
        date <= self.known_until
    }

    pub fn known_until(&self) -> NaiveDate {
        self.known_until
    }

    pub fn holidays_in(&self, year: i32) -> Vec<(NaiveDate, String)> {
        self.holidays
            .range(ymd(year, 1, 1)..=ymd(year, 12, 31))
            .map(|(d, t)| (*d, t.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn dates(cal: &BankHolidayCalendar, year: i32) -> Vec<NaiveDate> {
        cal.holidays_in(year).into_iter().map(|(d, _)| d).collect()
    }

    #[test]
    fn official_dates_2025_to_2027_by_rule() {
        let cal = BankHolidayCalendar::england_and_wales();
        assert_eq!(
            dates(&cal, 2025),
            [
                d(2025, 1, 1),
                d(2025, 4, 18),
                d(2025, 4, 21),
                d(2025, 5, 5),
                d(2025, 5, 26),
                d(2025, 8, 25),
                d(2025, 12, 25),
                d(2025, 12, 26)
            ]
        );
        assert_eq!(
            dates(&cal, 2026),
            [
                d(2026, 1, 1),
                d(2026, 4, 3),
                d(2026, 4, 6),
                d(2026, 5, 4),
                d(2026, 5, 25),
                d(2026, 8, 31),
                d(2026, 12, 25),
                d(2026, 12, 28)
            ]
        );
        assert_eq!(
            dates(&cal, 2027),
            [
                d(2027, 1, 1),
                d(2027, 3, 26),
                d(2027, 3, 29),
                d(2027, 5, 3),
                d(2027, 5, 31),
                d(2027, 8, 30),
                d(2027, 12, 27),
                d(2027, 12, 28)
            ]
        );
    }

    #[test]
    fn substitute_days() {
        let cal = BankHolidayCalendar::england_and_wales();
        // Christmas 2021 on Saturday, Boxing Day on Sunday; New Year 2022 on Saturday.
        assert!(cal.is_bank_holiday(d(2021, 12, 27)));
        assert!(cal.is_bank_holiday(d(2021, 12, 28)));
        assert!(cal.is_bank_holiday(d(2022, 1, 3)));
        // Christmas Day on a Saturday is still not a working day.
        assert!(!cal.is_working_day(d(2021, 12, 25)));
    }

    #[test]
    fn proclaimed_exceptions_and_the_dates_they_replaced() {
        let cal = BankHolidayCalendar::england_and_wales();
        for day in [
            d(1995, 5, 8),
            d(1999, 12, 31),
            d(2002, 6, 3),
            d(2002, 6, 4),
            d(2011, 4, 29),
            d(2012, 6, 4),
            d(2012, 6, 5),
            d(2020, 5, 8),
            d(2022, 6, 2),
            d(2022, 6, 3),
            d(2022, 9, 19),
            d(2023, 5, 8),
        ] {
            assert!(cal.is_bank_holiday(day), "{day} should be a holiday");
        }
        for day in [d(1995, 5, 1), d(2002, 5, 27), d(2012, 5, 28), d(2020, 5, 4), d(2022, 5, 30)] {
            assert!(cal.is_working_day(day), "{day} was moved and is a working day");
        }
        // 2023 kept its early May holiday as well as the coronation.
        assert!(cal.is_bank_holiday(d(2023, 5, 1)));
    }

    #[test]
    fn easter_dates() {
        assert_eq!(easter_sunday(2024), d(2024, 3, 31));
        assert_eq!(easter_sunday(2026), d(2026, 4, 5));
        assert_eq!(easter_sunday(2038), d(2038, 4, 25));
    }

    #[test]
    fn official_updates_replace_covered_years_and_extend_the_known_range() {
        let mut cal = BankHolidayCalendar::england_and_wales();
        assert!(!cal.is_confirmed(d(2029, 3, 1)));
        let events = vec![
            HolidayEvent { date: d(2029, 1, 1), title: "New Year’s Day".into() },
            HolidayEvent { date: d(2029, 6, 15), title: "A proclaimed day".into() },
        ];
        cal.apply_official_events(&events).unwrap();
        assert!(cal.is_bank_holiday(d(2029, 6, 15)));
        // The official list is authoritative for 2029: a rule-based day it omits is gone.
        assert!(!cal.is_bank_holiday(d(2029, 8, 27)));
        assert!(cal.is_confirmed(d(2029, 12, 31)));
        assert!(!cal.is_confirmed(d(2030, 1, 1)));
        assert_eq!(cal.apply_official_events(&[]), Err(CalendarError::Empty));
        // The known range never shrinks.
        cal.apply_official_events(&events[..1]).unwrap();
        assert!(cal.is_confirmed(d(2029, 12, 31)));
    }

    #[test]
    fn parses_the_official_json_shape() {
        let json = r#"{
            "england-and-wales": {"division": "england-and-wales", "events": [
                {"title": "New Year’s Day", "date": "2030-01-01", "notes": "", "bunting": true}
            ]},
            "scotland": {"division": "scotland", "events": []}
        }"#;
        let events = BankHolidayCalendar::events_from_official_json(json).unwrap();
        assert_eq!(events, [HolidayEvent { date: d(2030, 1, 1), title: "New Year’s Day".into() }]);
        assert!(matches!(
            BankHolidayCalendar::events_from_official_json(
                r#"{"england-and-wales": {"events": [{"date": "2030-13-01", "title": "x"}]}}"#
            ),
            Err(CalendarError::Malformed(_))
        ));
    }
}
