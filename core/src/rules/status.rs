//! The status of a computed due item on a given day (DOMAIN.md §2: due, due today, overdue by N
//! days), and the two warnings that go with it: *calendar unconfirmed* and *stale*.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Where a due item stands on a given day. Day counts are calendar days, as a worker reads them
/// ("overdue by 3 days" means three days on the calendar, weekends included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DueStatus {
    /// Due in `days_left` (at least 1) calendar days.
    Upcoming {
        days_left: i64,
    },
    DueToday,
    /// Past due by `days_overdue` (at least 1) calendar days and not done.
    Overdue {
        days_overdue: i64,
    },
    /// Done; `late_by_days` is 0 when done on or before the due date, so late completions stay
    /// visible for oversight and returns.
    Done {
        late_by_days: i64,
    },
    /// An action with no statutory date (a consistent identifier to record, an FGDM meeting to
    /// arrange): open until done.
    ToDo,
}

impl DueStatus {
    pub fn is_overdue(&self) -> bool {
        matches!(self, Self::Overdue { .. })
    }

    pub fn is_done(&self) -> bool {
        matches!(self, Self::Done { .. })
    }
}

impl std::fmt::Display for DueStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Upcoming { days_left: 1 } => f.write_str("due tomorrow"),
            Self::Upcoming { days_left } => write!(f, "due in {days_left} days"),
            Self::DueToday => f.write_str("due today"),
            Self::Overdue { days_overdue: 1 } => f.write_str("overdue by 1 day"),
            Self::Overdue { days_overdue } => write!(f, "overdue by {days_overdue} days"),
            Self::Done { late_by_days: 0 } => f.write_str("done"),
            Self::Done { late_by_days: 1 } => f.write_str("done 1 day late"),
            Self::Done { late_by_days } => write!(f, "done {late_by_days} days late"),
            Self::ToDo => f.write_str("to do"),
        }
    }
}

/// The warnings shown beside a due item's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct StatusFlags {
    /// The due date lies beyond the confirmed bank-holiday calendar, so a holiday proclaimed later
    /// could still move it.
    pub calendar_unconfirmed: bool,
    /// The device has not synced for long enough that the server may know of newer events (a
    /// visit recorded elsewhere) that would change the item.
    pub stale: bool,
}

impl StatusFlags {
    pub fn any(&self) -> bool {
        self.calendar_unconfirmed || self.stale
    }
}

/// The status of an item due on `due`, seen on `today`, done on `done_on` if it has been.
pub fn due_status(due: NaiveDate, today: NaiveDate, done_on: Option<NaiveDate>) -> DueStatus {
    if let Some(done) = done_on {
        return DueStatus::Done { late_by_days: (done - due).num_days().max(0) };
    }
    match (due - today).num_days() {
        0 => DueStatus::DueToday,
        left if left > 0 => DueStatus::Upcoming { days_left: left },
        behind => DueStatus::Overdue { days_overdue: -behind },
    }
}

/// Never synced, or last synced more than `stale_after` before `now`: the server may know of newer
/// events. A last sync in the future (a clock moved back) counts as fresh rather than failing.
pub fn is_stale(
    last_sync: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    stale_after: Duration,
) -> bool {
    last_sync.is_none_or(|synced| now - synced > stale_after)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn open_items() {
        let due = d(2026, 3, 26);
        assert_eq!(due_status(due, d(2026, 3, 26), None), DueStatus::DueToday);
        assert_eq!(due_status(due, d(2026, 3, 20), None), DueStatus::Upcoming { days_left: 6 });
        assert_eq!(due_status(due, d(2026, 3, 25), None), DueStatus::Upcoming { days_left: 1 });
        // Calendar days, weekend included: Thursday to the next Thursday is 7.
        assert_eq!(due_status(due, d(2026, 4, 2), None), DueStatus::Overdue { days_overdue: 7 });
        assert_eq!(due_status(due, d(2026, 3, 27), None), DueStatus::Overdue { days_overdue: 1 });
        assert!(due_status(due, d(2026, 3, 27), None).is_overdue());
    }

    #[test]
    fn done_items() {
        let due = d(2026, 3, 26);
        assert_eq!(
            due_status(due, d(2026, 4, 2), Some(d(2026, 3, 25))),
            DueStatus::Done { late_by_days: 0 }
        );
        assert_eq!(
            due_status(due, d(2026, 4, 2), Some(d(2026, 3, 26))),
            DueStatus::Done { late_by_days: 0 }
        );
        assert_eq!(
            due_status(due, d(2026, 4, 2), Some(d(2026, 3, 30))),
            DueStatus::Done { late_by_days: 4 }
        );
        // Done is done whatever today is.
        assert!(due_status(due, d(2026, 1, 1), Some(d(2026, 1, 1))).is_done());
    }

    #[test]
    fn display() {
        assert_eq!(DueStatus::Upcoming { days_left: 3 }.to_string(), "due in 3 days");
        assert_eq!(DueStatus::Upcoming { days_left: 1 }.to_string(), "due tomorrow");
        assert_eq!(DueStatus::DueToday.to_string(), "due today");
        assert_eq!(DueStatus::Overdue { days_overdue: 1 }.to_string(), "overdue by 1 day");
        assert_eq!(DueStatus::Overdue { days_overdue: 7 }.to_string(), "overdue by 7 days");
        assert_eq!(DueStatus::Done { late_by_days: 0 }.to_string(), "done");
        assert_eq!(DueStatus::Done { late_by_days: 4 }.to_string(), "done 4 days late");
        assert_eq!(DueStatus::ToDo.to_string(), "to do");
    }

    #[test]
    fn serde_shapes() {
        assert_eq!(serde_json::to_string(&DueStatus::DueToday).unwrap(), r#""due_today""#);
        assert_eq!(
            serde_json::to_string(&DueStatus::Overdue { days_overdue: 3 }).unwrap(),
            r#"{"overdue":{"days_overdue":3}}"#
        );
        for status in [
            DueStatus::Upcoming { days_left: 2 },
            DueStatus::DueToday,
            DueStatus::Overdue { days_overdue: 3 },
            DueStatus::Done { late_by_days: 1 },
            DueStatus::ToDo,
        ] {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(serde_json::from_str::<DueStatus>(&json).unwrap(), status);
        }
        let flags = StatusFlags { calendar_unconfirmed: true, stale: false };
        assert_eq!(
            serde_json::to_string(&flags).unwrap(),
            r#"{"calendar_unconfirmed":true,"stale":false}"#
        );
        assert!(flags.any());
        assert!(!StatusFlags::default().any());
    }

    #[test]
    fn staleness() {
        let now = at("2026-03-26T12:00:00Z");
        let after = Duration::hours(72);
        assert!(is_stale(None, now, after), "never synced");
        assert!(!is_stale(Some(now - Duration::hours(71)), now, after));
        assert!(!is_stale(Some(now - after), now, after), "exactly the limit is still fresh");
        assert!(is_stale(Some(now - Duration::hours(73)), now, after));
        assert!(!is_stale(Some(at("2026-03-27T12:00:00Z")), now, after), "clock moved back");
    }
}
