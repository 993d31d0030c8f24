//! Counting days (DOMAIN.md §1): working days on the bank-holiday calendar, with the day-count
//! setting; weeks of 7 days; calendar months clamped to the month's end.

use chrono::{Datelike, Duration, Months, NaiveDate};
use serde::{Deserialize, Serialize};

use super::calendar::BankHolidayCalendar;

/// How "within N working days of X" is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayCount {
    /// X is day 0; the deadline is the Nth working day after X (the plain reading; default).
    #[default]
    ExclusiveStart,
    /// X is day 1 (the DfE CIN census validator's reading): deadlines one working day earlier.
    /// When X is not a working day, the next working day is day 1.
    InclusiveStart,
}

/// The N-th working day from `start` under `day_count`. `n = 0` gives `start`.
pub fn add_working_days(
    cal: &BankHolidayCalendar,
    start: NaiveDate,
    n: u32,
    day_count: DayCount,
) -> NaiveDate {
    if n == 0 {
        return start;
    }
    let mut date = start;
    let mut counted = 0;
    if day_count == DayCount::InclusiveStart {
        while !cal.is_working_day(date) {
            date += Duration::days(1);
        }
        counted = 1;
    }
    while counted < n {
        date += Duration::days(1);
        if cal.is_working_day(date) {
            counted += 1;
        }
    }
    date
}

/// Working days after `from` up to and including `to`; negative when `to` is before `from`.
pub fn working_days_between(cal: &BankHolidayCalendar, from: NaiveDate, to: NaiveDate) -> i64 {
    let (lo, hi, sign) = if to >= from { (from, to, 1) } else { (to, from, -1) };
    let mut n = 0;
    let mut d = lo;
    while d < hi {
        d += Duration::days(1);
        if cal.is_working_day(d) {
            n += 1;
        }
    }
    sign * n
}

pub fn add_days(date: NaiveDate, n: u32) -> NaiveDate {
    date + Duration::days(i64::from(n))
}

pub fn add_weeks(date: NaiveDate, n: u32) -> NaiveDate {
    date + Duration::weeks(i64::from(n))
}

/// Calendar months, clamped to the end of a shorter month (31 Jan + 1 month = 28/29 Feb).
pub fn add_calendar_months(date: NaiveDate, n: u32) -> NaiveDate {
    date.checked_add_months(Months::new(n)).unwrap_or_else(|| {
        // Only beyond chrono's range (year 262,000): stay put rather than panic.
        NaiveDate::from_ymd_opt(date.year(), date.month(), date.day()).unwrap_or(date)
    })
}

/// A local interval setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    WorkingDays(u32),
    Days(u32),
    Weeks(u32),
    Months(u32),
}

impl Interval {
    /// `date` plus this interval. Only working days use the day-count setting.
    pub fn add(
        &self,
        cal: &BankHolidayCalendar,
        date: NaiveDate,
        day_count: DayCount,
    ) -> NaiveDate {
        match *self {
            Self::WorkingDays(n) => add_working_days(cal, date, n, day_count),
            Self::Days(n) => add_days(date, n),
            Self::Weeks(n) => add_weeks(date, n),
            Self::Months(n) => add_calendar_months(date, n),
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

    fn cal() -> BankHolidayCalendar {
        BankHolidayCalendar::england_and_wales()
    }

    #[test]
    fn the_two_worked_examples_in_both_settings() {
        let c = cal();
        assert_eq!(
            add_working_days(&c, d(2026, 12, 17), 15, DayCount::ExclusiveStart),
            d(2027, 1, 12)
        );
        assert_eq!(
            add_working_days(&c, d(2026, 3, 26), 45, DayCount::ExclusiveStart),
            d(2026, 6, 3)
        );
        assert_eq!(
            add_working_days(&c, d(2026, 12, 17), 15, DayCount::InclusiveStart),
            d(2027, 1, 11)
        );
        assert_eq!(
            add_working_days(&c, d(2026, 3, 26), 45, DayCount::InclusiveStart),
            d(2026, 6, 2)
        );
    }

    #[test]
    fn across_christmas_easter_and_proclaimed_holidays() {
        let c = cal();
        let ex = DayCount::ExclusiveStart;
        // 24th, then Christmas (Fri) and the Boxing Day substitute (Mon 28th) are skipped.
        assert_eq!(add_working_days(&c, d(2026, 12, 23), 3, ex), d(2026, 12, 30));
        assert_eq!(add_working_days(&c, d(2026, 4, 2), 1, ex), d(2026, 4, 7));
        // State funeral, Monday 19 September 2022.
        assert_eq!(add_working_days(&c, d(2022, 9, 14), 3, ex), d(2022, 9, 20));
        // Coronation, Monday 8 May 2023.
        assert_eq!(add_working_days(&c, d(2023, 5, 4), 2, ex), d(2023, 5, 9));
        // Inclusive start on a Saturday: Monday is day 1.
        assert_eq!(
            add_working_days(&c, d(2026, 3, 28), 1, DayCount::InclusiveStart),
            d(2026, 3, 30)
        );
    }

    #[test]
    fn counting_between_dates() {
        let c = cal();
        assert_eq!(working_days_between(&c, d(2026, 3, 26), d(2026, 6, 3)), 45);
        assert_eq!(working_days_between(&c, d(2026, 6, 3), d(2026, 3, 26)), -45);
        assert_eq!(working_days_between(&c, d(2026, 3, 26), d(2026, 3, 26)), 0);
    }

    #[test]
    fn months_clamp_and_intervals() {
        assert_eq!(add_calendar_months(d(2026, 1, 31), 1), d(2026, 2, 28));
        assert_eq!(add_calendar_months(d(2028, 1, 31), 1), d(2028, 2, 29));
        assert_eq!(add_calendar_months(d(2026, 8, 31), 6), d(2027, 2, 28));
        let c = cal();
        assert_eq!(
            Interval::Weeks(6).add(&c, d(2026, 3, 1), DayCount::InclusiveStart),
            d(2026, 4, 12)
        );
        assert_eq!(
            Interval::Days(7).add(&c, d(2026, 3, 26), DayCount::ExclusiveStart),
            d(2026, 4, 2)
        );
        assert_eq!(
            Interval::WorkingDays(10).add(&c, d(2026, 3, 26), DayCount::ExclusiveStart),
            d(2026, 4, 13)
        );
        let json = serde_json::to_string(&Interval::WorkingDays(10)).unwrap();
        assert_eq!(json, r#"{"working_days":10}"#);
    }
}
