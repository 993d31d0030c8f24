//! The status of a due item on a given day, and whether the device's view may be stale.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DueStatus {
    Upcoming {
        days_left: i64,
    },
    DueToday,
    Overdue {
        days_overdue: i64,
    },
    /// Done; `late_by_days` is 0 when done on time.
    Done {
        late_by_days: i64,
    },
}

impl std::fmt::Display for DueStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Upcoming { days_left } => write!(f, "due in {days_left} day(s)"),
            Self::DueToday => f.write_str("due today"),
            Self::Overdue { days_overdue } => write!(f, "overdue by {days_overdue} day(s)"),
            Self::Done { late_by_days: 0 } => f.write_str("done"),
            Self::Done { late_by_days } => write!(f, "done {late_by_days} day(s) late"),
        }
    }
}

/// Days are calendar days: "overdue by 3 days" means three days on the calendar.
pub fn due_status(due: NaiveDate, today: NaiveDate, done_on: Option<NaiveDate>) -> DueStatus {
    if let Some(done) = done_on {
        return DueStatus::Done { late_by_days: (done - due).num_days().max(0) };
    }
    let left = (due - today).num_days();
    match left {
        0 => DueStatus::DueToday,
        n if n > 0 => DueStatus::Upcoming { days_left: n },
        n => DueStatus::Overdue { days_overdue: -n },
    }
}

/// Never synced, or not for longer than `stale_after`: the server may know newer events.
pub fn is_stale(
    last_sync: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    stale_after: Duration,
) -> bool {
    last_sync.is_none_or(|t| now - t > stale_after)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn statuses() {
        assert_eq!(due_status(d(2026, 3, 26), d(2026, 3, 26), None), DueStatus::DueToday);
        assert_eq!(
            due_status(d(2026, 3, 26), d(2026, 3, 20), None),
            DueStatus::Upcoming { days_left: 6 }
        );
        assert_eq!(
            due_status(d(2026, 3, 26), d(2026, 4, 2), None),
            DueStatus::Overdue { days_overdue: 7 }
        );
        assert_eq!(
            due_status(d(2026, 3, 26), d(2026, 4, 2), Some(d(2026, 3, 25))),
            DueStatus::Done { late_by_days: 0 }
        );
        assert_eq!(
            due_status(d(2026, 3, 26), d(2026, 4, 2), Some(d(2026, 3, 30))),
            DueStatus::Done { late_by_days: 4 }
        );
    }

    #[test]
    fn staleness() {
        let now = DateTime::parse_from_rfc3339("2026-03-26T12:00:00Z").unwrap().with_timezone(&Utc);
        assert!(is_stale(None, now, Duration::hours(72)));
        assert!(!is_stale(Some(now - Duration::hours(71)), now, Duration::hours(72)));
        assert!(is_stale(Some(now - Duration::hours(73)), now, Duration::hours(72)));
    }
}
