//! Counting days (DOMAIN.md §1): working days on the bank-holiday calendar under the day-count
//! setting; days and weeks of 7 days; calendar months clamped to the month's end. Dates are Europe/
//! London local dates; callers convert before calling.

use chrono::{Days, Months, NaiveDate};
use serde::{Deserialize, Serialize};

use super::calendar::BankHolidayCalendar;

/// How "within N working days of X" is counted (a council setting, `day_count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayCount {
    /// The plain reading, and the default: X is day 0 and the deadline is the Nth working day
    /// after X, whether or not X is itself a working day.
    #[default]
    ExclusiveStart,
    /// The DfE CIN census validator's reading: X counts as day 1, so deadlines fall one working day
    /// earlier. When X is not a working day (a referral received on a Saturday), the next working
    /// day is day 1, which gives the same deadline as the exclusive reading.
    InclusiveStart,
}

/// The working day `n` working days from `start` under `day_count`. `n = 0` gives `start` itself
/// under either setting ("within 0 days" is the day itself). Saturates at chrono's last date.
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
            match date.succ_opt() {
                Some(next) => date = next,
                None => return NaiveDate::MAX,
            }
        }
        counted = 1;
    }
    while counted < n {
        match date.succ_opt() {
            Some(next) => date = next,
            None => return NaiveDate::MAX,
        }
        if cal.is_working_day(date) {
            counted += 1;
        }
    }
    date
}

/// The number of working days after `from` up to and including `to`; negative when `to` is
/// before `from` (then: working days after `to` up to and including `from`, negated). This is the
/// inverse of [`add_working_days`] with [`DayCount::ExclusiveStart`].
pub fn working_days_between(cal: &BankHolidayCalendar, from: NaiveDate, to: NaiveDate) -> i64 {
    let (earlier, later, sign) = if to >= from { (from, to, 1) } else { (to, from, -1) };
    let working = earlier
        .iter_days()
        .skip(1)
        .take_while(|day| *day <= later)
        .filter(|day| cal.is_working_day(*day))
        .count();
    sign * i64::try_from(working).unwrap_or(i64::MAX)
}

/// `date` plus `n` calendar days (saturating at chrono's last date).
pub fn add_days(date: NaiveDate, n: u32) -> NaiveDate {
    date.checked_add_days(Days::new(u64::from(n))).unwrap_or(NaiveDate::MAX)
}

/// `date` plus `n` weeks of 7 days.
pub fn add_weeks(date: NaiveDate, n: u32) -> NaiveDate {
    date.checked_add_days(Days::new(u64::from(n) * 7)).unwrap_or(NaiveDate::MAX)
}

/// `date` plus `n` calendar months, clamped to the end of a shorter month: 31 January + 1 month
/// is 28 February (29th in a leap year).
pub fn add_calendar_months(date: NaiveDate, n: u32) -> NaiveDate {
    date.checked_add_months(Months::new(n)).unwrap_or(NaiveDate::MAX)
}

/// A local interval setting, e.g. `{"working_days": 10}` or `{"months": 3}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    WorkingDays(u32),
    Days(u32),
    Weeks(u32),
    Months(u32),
}

impl Interval {
    /// `date` plus this interval. Only working days use the calendar and the day-count setting;
    /// days, weeks and months are plain calendar arithmetic.
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

    const EXCLUSIVE: DayCount = DayCount::ExclusiveStart;
    const INCLUSIVE: DayCount = DayCount::InclusiveStart;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn cal() -> BankHolidayCalendar {
        BankHolidayCalendar::england_and_wales()
    }

    #[test]
    fn strategy_discussion_worked_example() {
        // Thu 17 Dec 2026 is day 0. Dec 18, 21, 22, 23, 24 are days 1-5; Christmas (Fri 25th) and
        // the Boxing Day substitute (Mon 28th) are skipped; Dec 29, 30, 31 are 6-8; New Year
        // (Fri 1 Jan 2027) is skipped; Jan 4-8 are 9-13, Mon 11th is 14, Tue 12th is 15.
        let c = cal();
        assert_eq!(add_working_days(&c, d(2026, 12, 17), 15, EXCLUSIVE), d(2027, 1, 12));
        assert_eq!(add_working_days(&c, d(2026, 12, 17), 15, INCLUSIVE), d(2027, 1, 11));
    }

    #[test]
    fn referral_assessment_worked_example() {
        // Thu 26 Mar 2026 + 45 weekdays is Thu 28 May (9 weeks). Four holidays fall in between
        // (Good Friday 3 Apr, Easter Monday 6 Apr, early May 4 May, spring 25 May), adding four
        // working days: Fri 29 May, Mon 1, Tue 2, Wed 3 June.
        let c = cal();
        assert_eq!(add_working_days(&c, d(2026, 3, 26), 45, EXCLUSIVE), d(2026, 6, 3));
        assert_eq!(add_working_days(&c, d(2026, 3, 26), 45, INCLUSIVE), d(2026, 6, 2));
        assert_eq!(working_days_between(&c, d(2026, 3, 26), d(2026, 6, 3)), 45);
    }

    #[test]
    fn across_christmas_and_easter() {
        let c = cal();
        // Wed 23 Dec 2026: Thu 24th is day 1; Fri 25th, the weekend and Mon 28th are skipped;
        // Tue 29th is day 2 and Wed 30th day 3. Thu 31st is day 4.
        assert_eq!(add_working_days(&c, d(2026, 12, 23), 3, EXCLUSIVE), d(2026, 12, 30));
        assert_eq!(add_working_days(&c, d(2026, 12, 23), 4, EXCLUSIVE), d(2026, 12, 31));
        // Thu 2 Apr 2026: Good Friday, the weekend and Easter Monday are skipped.
        assert_eq!(add_working_days(&c, d(2026, 4, 2), 1, EXCLUSIVE), d(2026, 4, 7));
    }

    #[test]
    fn proclaimed_holidays_are_skipped() {
        let c = cal();
        // Wed 14 Sep 2022: Thu 15th, Fri 16th, then the state funeral (Mon 19th), Tue 20th.
        assert_eq!(add_working_days(&c, d(2022, 9, 14), 3, EXCLUSIVE), d(2022, 9, 20));
        // Thu 4 May 2023: Fri 5th, then the coronation (Mon 8th), Tue 9th.
        assert_eq!(add_working_days(&c, d(2023, 5, 4), 2, EXCLUSIVE), d(2023, 5, 9));
        // Fri 28 Apr 2023 over both May Mondays (early May 1st, coronation 8th): Tue 2nd is day
        // 1, ..., Fri 5th day 4, Tue 9th day 5, Wed 10th day 6.
        assert_eq!(add_working_days(&c, d(2023, 4, 28), 6, EXCLUSIVE), d(2023, 5, 10));
        // 2022's spring holiday moved from Mon 30 May to 2-3 June.
        assert_eq!(add_working_days(&c, d(2022, 5, 27), 1, EXCLUSIVE), d(2022, 5, 30));
        assert_eq!(add_working_days(&c, d(2022, 6, 1), 1, EXCLUSIVE), d(2022, 6, 6));
    }

    #[test]
    fn inclusive_start_on_a_day_that_is_not_a_working_day() {
        let c = cal();
        // Sat 28 Mar 2026: Monday 30th is day 1, so the deadline matches the exclusive reading.
        assert_eq!(add_working_days(&c, d(2026, 3, 28), 1, INCLUSIVE), d(2026, 3, 30));
        assert_eq!(add_working_days(&c, d(2026, 3, 28), 2, INCLUSIVE), d(2026, 3, 31));
        assert_eq!(add_working_days(&c, d(2026, 3, 28), 2, EXCLUSIVE), d(2026, 3, 31));
        // Good Friday 2026: Tuesday 7 April is day 1.
        assert_eq!(add_working_days(&c, d(2026, 4, 3), 1, INCLUSIVE), d(2026, 4, 7));
        // On a working day, "within 1 working day" inclusive is the day itself.
        assert_eq!(add_working_days(&c, d(2026, 3, 26), 1, INCLUSIVE), d(2026, 3, 26));
        assert_eq!(add_working_days(&c, d(2026, 3, 26), 1, EXCLUSIVE), d(2026, 3, 27));
    }

    #[test]
    fn zero_working_days_is_the_start() {
        let c = cal();
        assert_eq!(add_working_days(&c, d(2026, 3, 28), 0, EXCLUSIVE), d(2026, 3, 28));
        assert_eq!(add_working_days(&c, d(2026, 3, 28), 0, INCLUSIVE), d(2026, 3, 28));
    }

    #[test]
    fn counting_working_days_between_dates() {
        let c = cal();
        assert_eq!(working_days_between(&c, d(2026, 12, 17), d(2027, 1, 12)), 15);
        assert_eq!(working_days_between(&c, d(2026, 6, 3), d(2026, 3, 26)), -45);
        assert_eq!(working_days_between(&c, d(2026, 3, 26), d(2026, 3, 26)), 0);
        assert_eq!(working_days_between(&c, d(2026, 3, 27), d(2026, 3, 30)), 1); // Fri to Mon
        assert_eq!(working_days_between(&c, d(2026, 3, 28), d(2026, 3, 29)), 0);
        // Sat to Sun
    }

    #[test]
    fn counting_between_inverts_adding() {
        let c = cal();
        let mut start = d(2026, 1, 1);
        while start <= d(2027, 12, 31) {
            for n in [1, 3, 10, 15, 20, 45] {
                let due = add_working_days(&c, start, n, EXCLUSIVE);
                assert_eq!(working_days_between(&c, start, due), i64::from(n), "{start} + {n}");
                assert!(c.is_working_day(due));
                // Inclusive: one working day earlier, unless the start is not a working day.
                let inclusive = add_working_days(&c, start, n, INCLUSIVE);
                let expected = if c.is_working_day(start) {
                    add_working_days(&c, start, n - 1, EXCLUSIVE)
                } else {
                    due
                };
                assert_eq!(inclusive, expected, "{start} + {n} inclusive");
            }
            start = start.succ_opt().unwrap();
        }
    }

    #[test]
    fn days_weeks_and_clamped_months() {
        assert_eq!(add_days(d(2026, 3, 26), 7), d(2026, 4, 2));
        assert_eq!(add_weeks(d(2026, 3, 1), 6), d(2026, 4, 12));
        assert_eq!(add_calendar_months(d(2026, 1, 31), 1), d(2026, 2, 28));
        assert_eq!(add_calendar_months(d(2028, 1, 31), 1), d(2028, 2, 29));
        assert_eq!(add_calendar_months(d(2026, 3, 31), 1), d(2026, 4, 30));
        assert_eq!(add_calendar_months(d(2026, 8, 31), 6), d(2027, 2, 28));
        assert_eq!(add_calendar_months(d(2024, 2, 29), 12), d(2025, 2, 28));
        assert_eq!(add_calendar_months(d(2026, 5, 15), 12), d(2027, 5, 15));
        assert_eq!(add_calendar_months(d(2026, 5, 15), 0), d(2026, 5, 15));
    }

    #[test]
    fn intervals_use_the_day_count_only_for_working_days() {
        let c = cal();
        let from = d(2026, 3, 26);
        assert_eq!(Interval::WorkingDays(10).add(&c, from, EXCLUSIVE), d(2026, 4, 13));
        assert_eq!(Interval::WorkingDays(10).add(&c, from, INCLUSIVE), d(2026, 4, 10));
        for day_count in [EXCLUSIVE, INCLUSIVE] {
            assert_eq!(Interval::Days(7).add(&c, from, day_count), d(2026, 4, 2));
            assert_eq!(Interval::Weeks(6).add(&c, from, day_count), d(2026, 5, 7));
            assert_eq!(Interval::Months(3).add(&c, from, day_count), d(2026, 6, 26));
        }
    }

    #[test]
    fn serde_shapes() {
        assert_eq!(
            serde_json::to_string(&Interval::WorkingDays(10)).unwrap(),
            r#"{"working_days":10}"#
        );
        for interval in
            [Interval::WorkingDays(10), Interval::Days(3), Interval::Weeks(6), Interval::Months(3)]
        {
            let json = serde_json::to_string(&interval).unwrap();
            assert_eq!(serde_json::from_str::<Interval>(&json).unwrap(), interval);
        }
        assert_eq!(
            serde_json::from_str::<Interval>(r#"{"months": 6}"#).unwrap(),
            Interval::Months(6)
        );
        assert_eq!(
            serde_json::to_string(&DayCount::ExclusiveStart).unwrap(),
            r#""exclusive_start""#
        );
        assert_eq!(
            serde_json::from_str::<DayCount>(r#""inclusive_start""#).unwrap(),
            DayCount::InclusiveStart
        );
        assert_eq!(DayCount::default(), DayCount::ExclusiveStart);
    }
}
