//! A council's local policies: the settings DOMAIN.md names, with its defaults. The server sends
//! them down in a rules document; until then the defaults apply.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::days::{DayCount, Interval};

/// Which visits restart a visit interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitCounting {
    /// Only visits at which the child was seen (the default).
    #[default]
    ChildSeen,
    /// Every visit, seen or not.
    AnyVisit,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LocalSettings {
    /// How "within N working days of X" is counted (default: X is day 0).
    pub day_count: DayCount,
    /// T6: visits to a child on a child protection plan (default every 10 working days).
    pub cp_visit_interval: Interval,
    /// T4: core groups after the first (local procedures; default every 6 weeks).
    pub core_group_interval: Interval,
    /// T7: child in need visits (default every 20 working days).
    pub cin_visit_interval: Interval,
    /// T7: child in need plan reviews (default every 3 months).
    pub cin_review_interval: Interval,
    /// Which visits restart an interval.
    pub visit_counting: VisitCounting,
    /// After this many hours without a sync the worklist is flagged stale: the server may know
    /// of newer events (a visit by a colleague, a new conference date).
    pub stale_after_hours: u32,
    /// When the duties of the Children's Wellbeing and Schools Act 2026 come into force: set by
    /// the rules document, because commencement regulations had not been made when this was
    /// written. Absent: not in force.
    pub commencement: Commencements,
}

/// Commencement dates of duties not yet in force when this was written (absent: not in force).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Commencements {
    /// Children Act 2004 s16LC: including the consistent identifier in information about a child.
    pub consistent_identifier: Option<NaiveDate>,
    /// Children Act 1989 s31ZA: offering (and holding, if accepted) a family group
    /// decision-making meeting before applying for a care or supervision order.
    pub family_group_decision_making: Option<NaiveDate>,
}

impl Default for LocalSettings {
    fn default() -> Self {
        Self {
            day_count: DayCount::ExclusiveStart,
            cp_visit_interval: Interval::WorkingDays(10),
            core_group_interval: Interval::Weeks(6),
            cin_visit_interval: Interval::WorkingDays(20),
            cin_review_interval: Interval::Months(3),
            visit_counting: VisitCounting::ChildSeen,
            stale_after_hours: 72,
            commencement: Commencements::default(),
        }
    }
}
