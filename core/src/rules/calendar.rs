//! The England and Wales bank-holiday calendar (DOMAIN.md §1).
//!
//! Holidays come from the rules (fixed dates with substitute days, Easter, the May and August
//! Mondays) plus the days moved or added by proclamation, which no rule predicts. GOV.UK's official
//! list covers only a few years ahead, so the calendar knows how far it is confirmed: dates after
//! [`BankHolidayCalendar::known_until`] are still computed by rule, and callers flag due dates
//! there *calendar unconfirmed*. An official list received at run time is authoritative for every
//! calendar year it covers and replaces the rule-based holidays of those years entirely.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// The shipped calendar was checked against GOV.UK's official England and Wales list, which at the
/// time of shipping ran to the end of 2028. Later dates are computed by rule but unconfirmed: a
/// holiday may yet be proclaimed (as in 2022 and 2023). Move this only after re-checking the list.
pub const SHIPPED_KNOWN_UNTIL: NaiveDate = date(2028, 12, 31);

/// Years whose holidays are computed once, at construction, so that `is_working_day` is a map
/// lookup. Other years are computed by rule on each call (correct, only slower). The rule plus the
/// proclamations below match the official record from 1990; before 1978 there was no early May
/// holiday and before 1974 no New Year's Day holiday, so the rule is wrong for those years.
const FIRST_PRECOMPUTED_YEAR: i32 = 1990;
const LAST_PRECOMPUTED_YEAR: i32 = 2100;

/// A holiday's title: the rules' titles are static; the official list's are owned.
type Title = Cow<'static, str>;

const fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(y, m, d) {
        Some(d) => d,
        None => NaiveDate::MIN,
    }
}

/// A day proclaimed a bank holiday, possibly in place of the rule-based day it moved.
struct Proclamation {
    replaces: Option<NaiveDate>,
    date: NaiveDate,
    title: &'static str,
}

const fn added(date: NaiveDate, title: &'static str) -> Proclamation {
    Proclamation { replaces: None, date, title }
}

const fn moved(from: NaiveDate, date: NaiveDate, title: &'static str) -> Proclamation {
    Proclamation { replaces: Some(from), date, title }
}

/// DOMAIN.md §1's exceptions by proclamation, exactly; titles as GOV.UK gives them where it has.
const PROCLAMATIONS: &[Proclamation] = &[
    moved(date(1995, 5, 1), date(1995, 5, 8), "Early May bank holiday (VE Day)"),
    added(date(1999, 12, 31), "Millennium celebrations"),
    moved(date(2002, 5, 27), date(2002, 6, 3), "Spring bank holiday"),
    added(date(2002, 6, 4), "Golden Jubilee bank holiday"),
    added(date(2011, 4, 29), "Royal wedding bank holiday"),
    moved(date(2012, 5, 28), date(2012, 6, 4), "Spring bank holiday"),
    added(date(2012, 6, 5), "Diamond Jubilee bank holiday"),
    moved(date(2020, 5, 4), date(2020, 5, 8), "Early May bank holiday (VE day)"),
    moved(date(2022, 5, 30), date(2022, 6, 2), "Spring bank holiday"),
    added(date(2022, 6, 3), "Platinum Jubilee bank holiday"),
    added(date(2022, 9, 19), "Bank Holiday for the State Funeral of Queen Elizabeth II"),
    added(date(2023, 5, 8), "Bank holiday for the coronation of King Charles III"),
];

/// One event of GOV.UK's `bank-holidays.json` (`england-and-wales.events[]`). The official shape
/// also has `notes` and `bunting`; they are accepted and ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolidayEvent {
    pub date: NaiveDate,
    pub title: String,
}

/// The official events applied to a calendar, in a shape a store can persist and re-apply with
/// [`BankHolidayCalendar::with_overrides`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CalendarOverrides {
    pub events: Vec<HolidayEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("the official bank-holiday list has no events")]
    Empty,
    #[error("the official bank-holiday list has an unreadable date: {0:?}")]
    InvalidDate(String),
    #[error("the official bank-holiday list could not be read: {0}")]
    Malformed(String),
}

/// Easter Sunday in the Gregorian calendar (the anonymous Gregorian computus, Meeus/Jones/Butcher).
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    // Month is 3 or 4 and day 1..=31 by construction, so both are positive.
    NaiveDate::from_ymd_opt(year, month.unsigned_abs(), day.unsigned_abs())
        .unwrap_or(NaiveDate::MIN)
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

fn first_monday(year: i32, month: u32) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Mon, 1).unwrap_or(NaiveDate::MIN)
}

fn last_monday(year: i32, month: u32) -> NaiveDate {
    // Every month has four Mondays; a fifth, when there is one, is the last.
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Mon, 5)
        .or_else(|| NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Mon, 4))
        .unwrap_or(NaiveDate::MIN)
}

/// The holidays of `year` by rule, with DOMAIN.md's proclaimed exceptions applied.
fn holidays_by_rule(year: i32) -> BTreeMap<NaiveDate, &'static str> {
    let easter = easter_sunday(year);
    let mut days = BTreeMap::new();
    if let Some(good_friday) = easter.checked_sub_days(chrono::Days::new(2)) {
        days.insert(good_friday, "Good Friday");
    }
    if let Some(easter_monday) = easter.succ_opt() {
        days.insert(easter_monday, "Easter Monday");
    }
    days.insert(first_monday(year, 5), "Early May bank holiday");
    days.insert(last_monday(year, 5), "Spring bank holiday");
    days.insert(last_monday(year, 8), "Summer bank holiday");

    let fixed = [
        (date(year, 1, 1), "New Year’s Day", "New Year’s Day (substitute day)"),
        (date(year, 12, 25), "Christmas Day", "Christmas Day (substitute day)"),
        (date(year, 12, 26), "Boxing Day", "Boxing Day (substitute day)"),
    ];
    // Fixed days on weekdays go in first, so that a substitute skips them: when Christmas is a
    // Sunday, Boxing Day is Monday the 26th and Christmas's substitute is Tuesday the 27th.
    for (day, title, _) in fixed {
        if !is_weekend(day) {
            days.insert(day, title);
        }
    }
    // In date order, so Christmas on a Saturday takes Monday the 27th and Boxing Day Tuesday.
    for (day, _, substitute_title) in fixed {
        if is_weekend(day) {
            let mut substitute = day;
            while is_weekend(substitute) || days.contains_key(&substitute) {
                match substitute.succ_opt() {
                    Some(next) => substitute = next,
                    None => break,
                }
            }
            days.insert(substitute, substitute_title);
        }
    }

    for p in PROCLAMATIONS.iter().filter(|p| p.date.year() == year) {
        if let Some(replaced) = p.replaces {
            days.remove(&replaced);
        }
        days.insert(p.date, p.title);
    }
    days
}

fn year_range(year: i32) -> std::ops::RangeInclusive<NaiveDate> {
    date(year, 1, 1)..=date(year, 12, 31)
}

/// The England and Wales bank holidays, with how far they are confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankHolidayCalendar {
    /// Every holiday of the precomputed years and of each year an official list covered.
    holidays: BTreeMap<NaiveDate, Title>,
    /// Years whose holidays came from an official list rather than the rules.
    official_years: BTreeSet<i32>,
    known_until: NaiveDate,
}

impl BankHolidayCalendar {
    /// The shipped calendar: rules plus proclamations, confirmed through [`SHIPPED_KNOWN_UNTIL`].
    pub fn england_and_wales() -> Self {
        let holidays = (FIRST_PRECOMPUTED_YEAR..=LAST_PRECOMPUTED_YEAR)
            .flat_map(holidays_by_rule)
            .map(|(day, title)| (day, Cow::Borrowed(title)))
            .collect();
        Self { holidays, official_years: BTreeSet::new(), known_until: SHIPPED_KNOWN_UNTIL }
    }

    /// The shipped calendar with persisted official events re-applied (none: the shipped one).
    pub fn with_overrides(overrides: &CalendarOverrides) -> Result<Self, CalendarError> {
        let mut calendar = Self::england_and_wales();
        if !overrides.events.is_empty() {
            calendar.apply_official_events(&overrides.events)?;
        }
        Ok(calendar)
    }

    /// The shipped calendar updated with a GOV.UK `bank-holidays.json` document.
    pub fn from_official_json(json: &str) -> Result<Self, CalendarError> {
        let events = Self::events_from_official_json(json)?;
        let mut calendar = Self::england_and_wales();
        calendar.apply_official_events(&events)?;
        Ok(calendar)
    }

    /// Reads the England and Wales events out of a GOV.UK `bank-holidays.json` document
    /// (`{"england-and-wales": {"division": ..., "events": [...]}, "scotland": ..., ...}`).
    pub fn events_from_official_json(json: &str) -> Result<Vec<HolidayEvent>, CalendarError> {
        // Dates are read as text first so that a bad one gets its own error, naming it.
        #[derive(Deserialize)]
        struct RawEvent {
            date: String,
            title: String,
        }
        #[derive(Deserialize)]
        struct Division {
            events: Vec<RawEvent>,
        }
        #[derive(Deserialize)]
        struct Document {
            #[serde(rename = "england-and-wales")]
            england_and_wales: Division,
        }
        let document: Document =
            serde_json::from_str(json).map_err(|e| CalendarError::Malformed(e.to_string()))?;
        if document.england_and_wales.events.is_empty() {
            return Err(CalendarError::Empty);
        }
        document
            .england_and_wales
            .events
            .into_iter()
            .map(|raw| {
                let date = NaiveDate::parse_from_str(raw.date.trim(), "%Y-%m-%d")
                    .map_err(|_| CalendarError::InvalidDate(raw.date.clone()))?;
                Ok(HolidayEvent { date, title: raw.title.trim().to_string() })
            })
            .collect()
    }

    /// Applies an official list. For every calendar year it covers, its events replace that
    /// year's holidays entirely (so a newly proclaimed day appears and a moved one moves); the
    /// confirmed range extends to the end of the last year covered and never shrinks.
    pub fn apply_official_events(&mut self, events: &[HolidayEvent]) -> Result<(), CalendarError> {
        if events.is_empty() {
            return Err(CalendarError::Empty);
        }
        let years: BTreeSet<i32> = events.iter().map(|e| e.date.year()).collect();
        for &year in &years {
            let replaced: Vec<NaiveDate> =
                self.holidays.range(year_range(year)).map(|(day, _)| *day).collect();
            for day in replaced {
                self.holidays.remove(&day);
            }
            self.official_years.insert(year);
        }
        for event in events {
            self.holidays.insert(event.date, Cow::Owned(event.title.clone()));
        }
        if let Some(&last_year) = years.last() {
            self.known_until = self.known_until.max(date(last_year, 12, 31));
        }
        Ok(())
    }

    /// The official events applied so far (every holiday of every officially covered year), to
    /// persist and later re-apply with [`Self::with_overrides`].
    pub fn overrides(&self) -> CalendarOverrides {
        let events = self
            .official_years
            .iter()
            .flat_map(|&year| self.holidays.range(year_range(year)))
            .map(|(day, title)| HolidayEvent { date: *day, title: title.to_string() })
            .collect();
        CalendarOverrides { events }
    }

    /// Whether `year` is held in the map (precomputed or official) rather than computed on demand.
    fn holds_year(&self, year: i32) -> bool {
        (FIRST_PRECOMPUTED_YEAR..=LAST_PRECOMPUTED_YEAR).contains(&year)
            || self.official_years.contains(&year)
    }

    pub fn holiday_title(&self, date: NaiveDate) -> Option<&str> {
        if self.holds_year(date.year()) {
            self.holidays.get(&date).map(|title| title.as_ref())
        } else {
            holidays_by_rule(date.year()).get(&date).copied()
        }
    }

    pub fn is_bank_holiday(&self, date: NaiveDate) -> bool {
        self.holiday_title(date).is_some()
    }

    /// Not a Saturday, a Sunday, Christmas Day, Good Friday or a bank holiday. Christmas Day and
    /// Good Friday are named separately because in England and Wales they are common-law holidays
    /// rather than bank holidays under the 1971 Act: they are never working days, even if an
    /// official list somehow omitted them.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if is_weekend(date) || self.is_bank_holiday(date) {
            return false;
        }
        let is_christmas_day = date.month() == 12 && date.day() == 25;
        // Good Friday falls between 20 March and 23 April; only then is Easter worth computing.
        let may_be_good_friday = matches!(date.month(), 3 | 4) && date.weekday() == Weekday::Fri;
        let is_good_friday = may_be_good_friday
            && easter_sunday(date.year()).checked_sub_days(chrono::Days::new(2)) == Some(date);
        !is_christmas_day && !is_good_friday
    }

    /// Whether `date` lies within the confirmed calendar; callers flag a due date beyond it as
    /// *calendar unconfirmed*.
    pub fn is_confirmed(&self, date: NaiveDate) -> bool {
        date <= self.known_until
    }

    pub fn known_until(&self) -> NaiveDate {
        self.known_until
    }

    /// The year's holidays in date order, with their titles.
    pub fn holidays_in(&self, year: i32) -> Vec<(NaiveDate, String)> {
        if self.holds_year(year) {
            self.holidays
                .range(year_range(year))
                .map(|(day, title)| (*day, title.to_string()))
                .collect()
        } else {
            holidays_by_rule(year)
                .into_iter()
                .map(|(day, title)| (day, title.to_string()))
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn parse_dates(text: &str) -> Vec<NaiveDate> {
        text.split_whitespace().map(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()).collect()
    }

    fn dates_in(cal: &BankHolidayCalendar, year: i32) -> Vec<NaiveDate> {
        cal.holidays_in(year).into_iter().map(|(day, _)| day).collect()
    }

    /// GOV.UK's England and Wales list for 2012-2028 (as published; 2012-2017 from its archive).
    const OFFICIAL_2012_TO_2028: &str = "
        2012-01-02 2012-04-06 2012-04-09 2012-05-07 2012-06-04 2012-06-05 2012-08-27 2012-12-25
        2012-12-26 2013-01-01 2013-03-29 2013-04-01 2013-05-06 2013-05-27 2013-08-26 2013-12-25
        2013-12-26 2014-01-01 2014-04-18 2014-04-21 2014-05-05 2014-05-26 2014-08-25 2014-12-25
        2014-12-26 2015-01-01 2015-04-03 2015-04-06 2015-05-04 2015-05-25 2015-08-31 2015-12-25
        2015-12-28 2016-01-01 2016-03-25 2016-03-28 2016-05-02 2016-05-30 2016-08-29 2016-12-26
        2016-12-27 2017-01-02 2017-04-14 2017-04-17 2017-05-01 2017-05-29 2017-08-28 2017-12-25
        2017-12-26 2018-01-01 2018-03-30 2018-04-02 2018-05-07 2018-05-28 2018-08-27 2018-12-25
        2018-12-26 2019-01-01 2019-04-19 2019-04-22 2019-05-06 2019-05-27 2019-08-26 2019-12-25
        2019-12-26 2020-01-01 2020-04-10 2020-04-13 2020-05-08 2020-05-25 2020-08-31 2020-12-25
        2020-12-28 2021-01-01 2021-04-02 2021-04-05 2021-05-03 2021-05-31 2021-08-30 2021-12-27
        2021-12-28 2022-01-03 2022-04-15 2022-04-18 2022-05-02 2022-06-02 2022-06-03 2022-08-29
        2022-09-19 2022-12-26 2022-12-27 2023-01-02 2023-04-07 2023-04-10 2023-05-01 2023-05-08
        2023-05-29 2023-08-28 2023-12-25 2023-12-26 2024-01-01 2024-03-29 2024-04-01 2024-05-06
        2024-05-27 2024-08-26 2024-12-25 2024-12-26 2025-01-01 2025-04-18 2025-04-21 2025-05-05
        2025-05-26 2025-08-25 2025-12-25 2025-12-26 2026-01-01 2026-04-03 2026-04-06 2026-05-04
        2026-05-25 2026-08-31 2026-12-25 2026-12-28 2027-01-01 2027-03-26 2027-03-29 2027-05-03
        2027-05-31 2027-08-30 2027-12-27 2027-12-28 2028-01-03 2028-04-14 2028-04-17 2028-05-01
        2028-05-29 2028-08-28 2028-12-25 2028-12-26";

    #[test]
    fn rule_based_holidays_2025_to_2027_match_the_official_dates() {
        let cal = BankHolidayCalendar::england_and_wales();
        let expected = [
            (
                2025,
                "2025-01-01 2025-04-18 2025-04-21 2025-05-05 \
                    2025-05-26 2025-08-25 2025-12-25 2025-12-26",
            ),
            (
                2026,
                "2026-01-01 2026-04-03 2026-04-06 2026-05-04 \
                    2026-05-25 2026-08-31 2026-12-25 2026-12-28",
            ),
            (
                2027,
                "2027-01-01 2027-03-26 2027-03-29 2027-05-03 \
                    2027-05-31 2027-08-30 2027-12-27 2027-12-28",
            ),
        ];
        for (year, official) in expected {
            assert_eq!(dates_in(&cal, year), parse_dates(official), "{year}");
        }
    }

    #[test]
    fn shipped_calendar_matches_the_official_list_2012_to_2028() {
        let cal = BankHolidayCalendar::england_and_wales();
        let official = parse_dates(OFFICIAL_2012_TO_2028);
        let shipped: Vec<NaiveDate> = (2012..=2028).flat_map(|y| dates_in(&cal, y)).collect();
        assert_eq!(shipped, official);
    }

    #[test]
    fn substitute_days() {
        let cal = BankHolidayCalendar::england_and_wales();
        // Christmas 2021 on a Saturday, Boxing Day on Sunday; New Year 2022 on a Saturday.
        assert_eq!(cal.holiday_title(d(2021, 12, 27)), Some("Christmas Day (substitute day)"));
        assert_eq!(cal.holiday_title(d(2021, 12, 28)), Some("Boxing Day (substitute day)"));
        assert_eq!(cal.holiday_title(d(2022, 1, 3)), Some("New Year’s Day (substitute day)"));
        assert!(cal.is_working_day(d(2022, 1, 4)));
        // The same again in 2027.
        assert!(cal.is_bank_holiday(d(2027, 12, 27)));
        assert!(cal.is_bank_holiday(d(2027, 12, 28)));
        assert!(cal.is_working_day(d(2027, 12, 29)));
        // Christmas 2022 on a Sunday: Boxing Day keeps Monday, Christmas's substitute is Tuesday.
        assert_eq!(cal.holiday_title(d(2022, 12, 26)), Some("Boxing Day"));
        assert_eq!(cal.holiday_title(d(2022, 12, 27)), Some("Christmas Day (substitute day)"));
        // New Year 2023 on a Sunday: Monday 2nd.
        assert!(cal.is_bank_holiday(d(2023, 1, 2)));
        // Christmas Day on a Saturday is not itself a bank holiday, but never a working day.
        assert!(!cal.is_bank_holiday(d(2021, 12, 25)));
        assert!(!cal.is_working_day(d(2021, 12, 25)));
    }

    #[test]
    fn proclaimed_exceptions_and_the_days_they_replaced() {
        let cal = BankHolidayCalendar::england_and_wales();
        let proclaimed = "1995-05-08 1999-12-31 2002-06-03 2002-06-04 2011-04-29 2012-06-04 \
                          2012-06-05 2020-05-08 2022-06-02 2022-06-03 2022-09-19 2023-05-08";
        for day in parse_dates(proclaimed) {
            assert!(cal.is_bank_holiday(day), "{day} was proclaimed a holiday");
            assert!(!cal.is_working_day(day));
        }
        for day in [d(1995, 5, 1), d(2002, 5, 27), d(2012, 5, 28), d(2020, 5, 4), d(2022, 5, 30)] {
            assert!(!cal.is_bank_holiday(day), "{day}'s holiday was moved");
            assert!(cal.is_working_day(day), "{day} is a working day");
        }
        // The coronation was added: 2023 kept its early May holiday too.
        assert!(cal.is_bank_holiday(d(2023, 5, 1)));
        assert_eq!(
            cal.holiday_title(d(2022, 9, 19)),
            Some("Bank Holiday for the State Funeral of Queen Elizabeth II")
        );
        // Millennium: 1999 also had both Christmas substitutes, and 2000-01-03 for New Year.
        assert_eq!(dates_in(&cal, 1999).len(), 9);
        assert!(cal.is_bank_holiday(d(2000, 1, 3)));
    }

    #[test]
    fn working_days() {
        let cal = BankHolidayCalendar::england_and_wales();
        assert!(cal.is_working_day(d(2026, 3, 26))); // a Thursday
        assert!(!cal.is_working_day(d(2026, 3, 28))); // Saturday
        assert!(!cal.is_working_day(d(2026, 3, 29))); // Sunday
        assert!(!cal.is_working_day(d(2026, 4, 3))); // Good Friday
        assert!(!cal.is_working_day(d(2026, 12, 25)));
        assert!(cal.is_working_day(d(2026, 12, 24)));
        assert_eq!(cal.holiday_title(d(2026, 12, 28)), Some("Boxing Day (substitute day)"));
        assert_eq!(cal.holiday_title(d(2026, 12, 24)), None);
    }

    #[test]
    fn years_outside_the_precomputed_range_are_computed_by_rule() {
        let cal = BankHolidayCalendar::england_and_wales();
        // 2150: Easter Sunday 12 April (dateutil agrees), so Good Friday 10th, Monday 13th.
        assert_eq!(easter_sunday(2150), d(2150, 4, 12));
        assert_eq!(cal.holiday_title(d(2150, 4, 10)), Some("Good Friday"));
        assert!(!cal.is_working_day(d(2150, 4, 13)));
        assert!(cal.is_working_day(d(2150, 4, 14)));
        assert_eq!(dates_in(&cal, 2150).len(), 8);
        assert!(cal.is_bank_holiday(d(1985, 1, 1)));
    }

    #[test]
    fn easter_dates() {
        assert_eq!(easter_sunday(2024), d(2024, 3, 31));
        assert_eq!(easter_sunday(2026), d(2026, 4, 5));
        assert_eq!(easter_sunday(2027), d(2027, 3, 28));
        assert_eq!(easter_sunday(2038), d(2038, 4, 25)); // the latest possible
        assert_eq!(easter_sunday(2285), d(2285, 3, 22)); // the earliest possible
    }

    #[test]
    fn known_until_is_the_end_of_2028() {
        let cal = BankHolidayCalendar::england_and_wales();
        assert_eq!(cal.known_until(), d(2028, 12, 31));
        assert!(cal.is_confirmed(d(2028, 12, 31)));
        assert!(!cal.is_confirmed(d(2029, 1, 1)));
        // Beyond it, still computed by rule: New Year 2029 is a Monday.
        assert!(cal.is_bank_holiday(d(2029, 1, 1)));
    }

    fn official_2029_with_a_proclamation() -> Vec<HolidayEvent> {
        // The rule's 2029 (Easter 1 April), with spring moved to June and a day added.
        [
            (d(2029, 1, 1), "New Year’s Day"),
            (d(2029, 3, 30), "Good Friday"),
            (d(2029, 4, 2), "Easter Monday"),
            (d(2029, 5, 7), "Early May bank holiday"),
            (d(2029, 6, 4), "Spring bank holiday"),
            (d(2029, 6, 5), "A proclaimed bank holiday"),
            (d(2029, 8, 27), "Summer bank holiday"),
            (d(2029, 12, 25), "Christmas Day"),
            (d(2029, 12, 26), "Boxing Day"),
        ]
        .into_iter()
        .map(|(date, title)| HolidayEvent { date, title: title.to_string() })
        .collect()
    }

    #[test]
    fn official_events_replace_covered_years_and_extend_known_until() {
        let mut cal = BankHolidayCalendar::england_and_wales();
        assert!(cal.is_working_day(d(2029, 6, 5)));
        cal.apply_official_events(&official_2029_with_a_proclamation()).unwrap();
        assert_eq!(cal.holiday_title(d(2029, 6, 5)), Some("A proclaimed bank holiday"));
        assert!(!cal.is_working_day(d(2029, 6, 4)));
        // The official list is authoritative for 2029: the rule's spring Monday is gone.
        assert!(cal.is_working_day(d(2029, 5, 28)));
        assert_eq!(cal.known_until(), d(2029, 12, 31));
        assert!(cal.is_confirmed(d(2029, 12, 31)));
        assert!(!cal.is_confirmed(d(2030, 1, 1)));
        // Years the list does not cover keep their rule-based holidays.
        assert!(cal.is_bank_holiday(d(2030, 5, 27)));
        assert!(cal.is_bank_holiday(d(2028, 5, 29)));

        // A later list covering only an earlier year does not shrink the confirmed range.
        let only_2027 = vec![HolidayEvent { date: d(2027, 12, 27), title: "Christmas Day".into() }];
        cal.apply_official_events(&only_2027).unwrap();
        assert_eq!(cal.known_until(), d(2029, 12, 31));
        assert_eq!(dates_in(&cal, 2027), [d(2027, 12, 27)]);
        // Even so, Good Friday and Christmas Day stay non-working days.
        assert!(!cal.is_working_day(d(2027, 3, 26)));

        assert_eq!(cal.apply_official_events(&[]), Err(CalendarError::Empty));
    }

    #[test]
    fn official_events_for_a_year_outside_the_precomputed_range() {
        let mut cal = BankHolidayCalendar::england_and_wales();
        let events = vec![HolidayEvent { date: d(2150, 7, 1), title: "Far future".into() }];
        cal.apply_official_events(&events).unwrap();
        assert_eq!(cal.holidays_in(2150), [(d(2150, 7, 1), "Far future".to_string())]);
        assert!(cal.is_working_day(d(2150, 4, 13))); // Easter Monday, not in that list
        assert!(!cal.is_working_day(d(2150, 4, 10))); // Good Friday, always
        assert!(cal.is_confirmed(d(2150, 12, 31)));
    }

    #[test]
    fn overrides_round_trip_through_json() {
        let mut cal = BankHolidayCalendar::england_and_wales();
        assert_eq!(cal.overrides(), CalendarOverrides::default());
        cal.apply_official_events(&official_2029_with_a_proclamation()).unwrap();
        let overrides = cal.overrides();
        assert_eq!(overrides.events, official_2029_with_a_proclamation());
        let json = serde_json::to_string(&overrides).unwrap();
        let restored: CalendarOverrides = serde_json::from_str(&json).unwrap();
        assert_eq!(BankHolidayCalendar::with_overrides(&restored).unwrap(), cal);
        assert_eq!(
            BankHolidayCalendar::with_overrides(&CalendarOverrides::default()).unwrap(),
            BankHolidayCalendar::england_and_wales()
        );
    }

    #[test]
    fn parses_the_official_json_shape() {
        let json = r#"{
            "england-and-wales": {"division": "england-and-wales", "events": [
                {"title": "New Year’s Day", "date": "2029-01-01", "notes": "", "bunting": true},
                {"title": "Boxing Day", "date": "2029-12-26", "notes": "", "bunting": true},
                {"title": "Proclaimed", "date": "2029-06-05", "notes": "", "bunting": true}
            ]},
            "scotland": {"division": "scotland", "events": []},
            "northern-ireland": {"division": "northern-ireland", "events": []}
        }"#;
        let events = BankHolidayCalendar::events_from_official_json(json).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[0], HolidayEvent { date: d(2029, 1, 1), title: "New Year’s Day".into() });
        let cal = BankHolidayCalendar::from_official_json(json).unwrap();
        assert!(cal.is_bank_holiday(d(2029, 6, 5)));
        assert!(cal.is_confirmed(d(2029, 12, 31)));

        // A stored HolidayEvent accepts the official fields it does not keep.
        let one: HolidayEvent = serde_json::from_str(
            r#"{"title": "Boxing Day", "date": "2029-12-26", "notes": "", "bunting": true}"#,
        )
        .unwrap();
        assert_eq!(one.date, d(2029, 12, 26));
    }

    #[test]
    fn rejects_bad_official_json() {
        let bad_date =
            r#"{"england-and-wales": {"events": [{"date": "2029-13-01", "title": "x"}]}}"#;
        assert_eq!(
            BankHolidayCalendar::events_from_official_json(bad_date),
            Err(CalendarError::InvalidDate("2029-13-01".into()))
        );
        let empty = r#"{"england-and-wales": {"division": "england-and-wales", "events": []}}"#;
        assert_eq!(BankHolidayCalendar::from_official_json(empty), Err(CalendarError::Empty));
        let no_division = r#"{"scotland": {"events": []}}"#;
        assert!(matches!(
            BankHolidayCalendar::events_from_official_json(no_division),
            Err(CalendarError::Malformed(_))
        ));
        assert!(matches!(
            BankHolidayCalendar::events_from_official_json("not json"),
            Err(CalendarError::Malformed(_))
        ));
    }
}
