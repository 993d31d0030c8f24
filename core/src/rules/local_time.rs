//! Turning an instant into a date (DOMAIN.md §1: "dates are Europe/London local dates").
//!
//! Records keep instants in UTC (a visit's `started_at`, an oversight decision's `at`), while
//! every statutory rule counts local calendar days. A visit at 00:30 BST on 4 June happened on
//! 4 June, though in UTC it is still 3 June. [`local_date`] is the one place an instant becomes a
//! date, in the core, the server and the command line, so that no caller can get it wrong on its
//! own. The zone is the IANA `Europe/London` (from `chrono-tz`'s bundled tz database): GMT in
//! winter, BST (UTC+1) from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday
//! of October.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

/// The zone the statutory rules count days in.
pub const ZONE: Tz = chrono_tz::Europe::London;

/// The Europe/London calendar date of `instant`.
pub fn local_date(instant: DateTime<Utc>) -> NaiveDate {
    instant.with_timezone(&ZONE).date_naive()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use chrono::{Datelike, Duration, TimeZone, Weekday};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn half_past_midnight_bst_is_the_next_day() {
        // 2026-06-03T23:30Z is 00:30 BST on 4 June.
        assert_eq!(local_date(utc("2026-06-03T23:30:00Z")), day(2026, 6, 4));
        assert_eq!(local_date(utc("2026-06-03T22:59:59Z")), day(2026, 6, 3));
        assert_eq!(local_date(utc("2026-06-03T23:00:00Z")), day(2026, 6, 4));
    }

    #[test]
    fn half_past_eleven_gmt_is_the_same_day() {
        assert_eq!(local_date(utc("2026-12-01T23:30:00Z")), day(2026, 12, 1));
        assert_eq!(local_date(utc("2026-12-01T23:59:59Z")), day(2026, 12, 1));
        assert_eq!(local_date(utc("2026-12-02T00:00:00Z")), day(2026, 12, 2));
    }

    #[test]
    fn spring_forward_last_sunday_of_march() {
        // Clocks go forward at 01:00 UTC on Sunday 29 March 2026.
        let change = utc("2026-03-29T01:00:00Z");
        assert_eq!(local_date(change - Duration::seconds(1)), day(2026, 3, 29));
        assert_eq!(local_date(change), day(2026, 3, 29));
        // The evening before is still GMT: 23:30 UTC on the 28th is the 28th.
        assert_eq!(local_date(utc("2026-03-28T23:30:00Z")), day(2026, 3, 28));
        // The evening after is BST: 23:30 UTC on the 29th is 00:30 on the 30th.
        assert_eq!(local_date(utc("2026-03-29T23:30:00Z")), day(2026, 3, 30));
        assert_eq!(local_date(utc("2026-03-29T22:59:59Z")), day(2026, 3, 29));
    }

    #[test]
    fn fall_back_last_sunday_of_october() {
        // Clocks go back at 01:00 UTC on Sunday 25 October 2026.
        let change = utc("2026-10-25T01:00:00Z");
        assert_eq!(local_date(change - Duration::seconds(1)), day(2026, 10, 25));
        assert_eq!(local_date(change), day(2026, 10, 25));
        // The evening before is still BST: 23:30 UTC on the 24th is 00:30 on the 25th.
        assert_eq!(local_date(utc("2026-10-24T23:30:00Z")), day(2026, 10, 25));
        assert_eq!(local_date(utc("2026-10-24T22:59:59Z")), day(2026, 10, 24));
        // The evening after is GMT: 23:30 UTC on the 25th is the 25th.
        assert_eq!(local_date(utc("2026-10-25T23:30:00Z")), day(2026, 10, 25));
    }

    /// The last Sunday of `month`, computed by hand (not from the tz database).
    fn last_sunday(year: i32, month: u32) -> NaiveDate {
        let mut d = day(year, month, 31);
        while d.weekday() != Weekday::Sun {
            d = d.pred_opt().unwrap();
        }
        d
    }

    /// Every hour of 2019-2031, and the minute either side of each hour, against the UK rule
    /// (Summer Time Order 2002: BST from 01:00 GMT on the last Sunday of March to 01:00 GMT on
    /// the last Sunday of October) worked out independently of the tz database.
    #[test]
    fn agrees_with_the_last_sunday_rule_for_every_hour_of_thirteen_years() {
        let mut checked = 0;
        for year in 2019..=2031 {
            let bst_start =
                Utc.from_utc_datetime(&last_sunday(year, 3).and_hms_opt(1, 0, 0).unwrap());
            let bst_end =
                Utc.from_utc_datetime(&last_sunday(year, 10).and_hms_opt(1, 0, 0).unwrap());
            let mut t = Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).unwrap();
            let end = Utc.with_ymd_and_hms(year + 1, 1, 1, 0, 0, 0).unwrap();
            while t < end {
                for probe in [t - Duration::minutes(1), t, t + Duration::minutes(30)] {
                    let offset = if probe >= bst_start && probe < bst_end { 1 } else { 0 };
                    let expected = (probe + Duration::hours(offset)).date_naive();
                    assert_eq!(local_date(probe), expected, "at {probe}");
                    checked += 1;
                }
                t += Duration::hours(1);
            }
        }
        assert_eq!(checked, 3 * 24 * (13 * 365 + 3));
    }
}
