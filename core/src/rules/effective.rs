//! The dates between which each rule applies (DOMAIN.md: rules change; 2013 replaced initial and
//! core assessments, 2015 added reg 28(3A), the 2026 Act adds duties whose commencement is not yet
//! known). The worklist and the checks pick a rule by the date of the event it runs from, never by
//! today. `docs/rules.md` lists the same table; a test keeps the two in step.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::settings::Commencements;

/// Every rule the core applies, as numbered in DOMAIN.md §2-3 and `docs/rules.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RuleId {
    T1,
    T2,
    /// Initial assessment, 7 working days (Framework for Assessment 2000).
    T2aInitial7,
    /// Initial assessment, 10 working days (Working Together 2010).
    T2aInitial10,
    T2aCore,
    T3,
    T4,
    T5,
    T6,
    T7,
    L1,
    L2,
    /// Long-term foster placements: visits up to 6 months apart.
    L2Reg28_3A,
    L3,
    L4,
    P1,
    C1,
    C2,
    C3,
    C4,
    C5,
    C6,
    C7,
    C8,
    /// A letter before proceedings records whether an FGDM meeting was offered, or why not.
    C9,
    /// A consistent identifier given is valid for its scheme.
    C10,
    /// Who may hold a case.
    A1,
    /// The worklist's "Consistent identifier to record".
    R1,
    /// The worklist's "FGDM meeting to arrange".
    R2,
}

/// When a rule starts to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// As far back as records go.
    Always,
    /// On and after this date.
    From(NaiveDate),
    /// On and after the commencement date the rules document sets; never while it is absent.
    Commencement(Duty),
}

/// A duty whose commencement date is a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duty {
    ConsistentIdentifier,
    FamilyGroupDecisionMaking,
}

impl Duty {
    pub fn commencement(self, c: &Commencements) -> Option<NaiveDate> {
        match self {
            Self::ConsistentIdentifier => c.consistent_identifier,
            Self::FamilyGroupDecisionMaking => c.family_group_decision_making,
        }
    }
}

/// One row of the rule table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleInfo {
    pub id: RuleId,
    /// The event whose date selects the rule.
    pub event: &'static str,
    pub source: &'static str,
    pub start: Start,
    /// The last day the rule applied, if it has been replaced.
    pub until: Option<NaiveDate>,
}

const fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(y, m, d) {
        Some(d) => d,
        None => NaiveDate::MIN,
    }
}

/// Working Together 2013 (single assessment, 45 working days) applied from this date.
pub const SINGLE_ASSESSMENT_FROM: NaiveDate = date(2013, 4, 15);
/// Working Together 2010 set the initial assessment at 10 working days; before it, the 2000
/// Framework for Assessment set 7. The 2010 edition was published in March 2010.
pub const WT2010_FROM: NaiveDate = date(2010, 3, 26);
/// CPPCR reg 28(3A) (SI 2015/495) from this date.
pub const REG_28_3A_FROM: NaiveDate = date(2015, 4, 1);
/// The CIN census 2026-27 (module 5, pre-proceedings) covers the year from this date.
pub const CIN_2026_27_FROM: NaiveDate = date(2026, 4, 1);

const WT: &str = "Working Together to Safeguard Children";
const CPPCR_28: &str =
    "Care Planning, Placement and Case Review (England) Regulations 2010, reg 28";

/// The rule table.
pub const RULES: &[RuleInfo] = &[
    rule(RuleId::T1, "referral received", WT, Start::Always, None),
    rule(RuleId::T2, "referral received", WT, Start::From(SINGLE_ASSESSMENT_FROM), None),
    rule(
        RuleId::T2aInitial7,
        "referral received",
        "Framework for the Assessment of Children in Need 2000",
        Start::Always,
        Some(date(2010, 3, 25)),
    ),
    rule(
        RuleId::T2aInitial10,
        "referral received",
        "Working Together 2010",
        Start::From(WT2010_FROM),
        Some(date(2013, 4, 14)),
    ),
    rule(
        RuleId::T2aCore,
        "core assessment started",
        "Working Together 2010; Framework for Assessment 2000",
        Start::Always,
        Some(date(2013, 4, 14)),
    ),
    rule(RuleId::T3, "strategy discussion", WT, Start::Always, None),
    rule(RuleId::T4, "initial conference", "Working Together 2010; local", Start::Always, None),
    rule(RuleId::T5, "initial or last review conference", WT, Start::Always, None),
    rule(RuleId::T6, "plan start or last visit", "local procedures", Start::Always, None),
    rule(RuleId::T7, "last visit or review", "local procedures", Start::Always, None),
    rule(RuleId::L1, "placement start", CPPCR_28, Start::Always, None),
    rule(RuleId::L2, "last visit", CPPCR_28, Start::Always, None),
    rule(
        RuleId::L2Reg28_3A,
        "last visit",
        "CPPCR reg 28(3A), inserted by SI 2015/495",
        Start::From(REG_28_3A_FROM),
        None,
    ),
    rule(RuleId::L3, "last visit", CPPCR_28, Start::Always, None),
    rule(RuleId::L4, "became looked after or last review", "CPPCR reg 33", Start::Always, None),
    rule(RuleId::P1, "arrangement start or last visit", "SI 2005/1533 reg 8", Start::Always, None),
    rule(RuleId::C1, "record submitted", "Ofsted ILACS Annex A", Start::Always, None),
    rule(RuleId::C2, "record submitted", "CPPCR reg 29", Start::Always, None),
    rule(RuleId::C3, "record submitted", WT, Start::Always, None),
    rule(RuleId::C4, "record submitted", WT, Start::Always, None),
    rule(RuleId::C5, "record authorised", WT, Start::Always, None),
    rule(RuleId::C6, "record submitted", "CIN census rules", Start::Always, None),
    rule(RuleId::C7, "case summary saved", "CIN census rules 8805, 8825Q", Start::Always, None),
    rule(RuleId::C8, "case summary saved", "CIN census rule 1580", Start::Always, None),
    rule(
        RuleId::C9,
        "letter before proceedings sent",
        "CIN census 2026-27 rule 9007; Children Act 1989 s31ZA",
        Start::From(CIN_2026_27_FROM),
        None,
    ),
    rule(
        RuleId::C10,
        "case summary saved",
        "Children Act 2004 s16LA-16LC; NHS number and DfE UPN check characters",
        Start::Always,
        None,
    ),
    rule(
        RuleId::A1,
        "case allocated",
        "Working Together 2023; Families First Partnership programme guide 2025",
        Start::Always,
        None,
    ),
    rule(
        RuleId::R1,
        "the day the worklist is built",
        "Children Act 2004 s16LC (Children's Wellbeing and Schools Act 2026 s4)",
        Start::Commencement(Duty::ConsistentIdentifier),
        None,
    ),
    rule(
        RuleId::R2,
        "letter before proceedings sent (else pre-proceedings start)",
        "Children Act 1989 s31ZA (Children's Wellbeing and Schools Act 2026 s1)",
        Start::Commencement(Duty::FamilyGroupDecisionMaking),
        None,
    ),
];

const fn rule(
    id: RuleId,
    event: &'static str,
    source: &'static str,
    start: Start,
    until: Option<NaiveDate>,
) -> RuleInfo {
    RuleInfo { id, event, source, start, until }
}

/// The table's row for a rule.
pub fn info(id: RuleId) -> Option<&'static RuleInfo> {
    RULES.iter().find(|r| r.id == id)
}

/// Whether `id` applies to an event on `on`.
pub fn applies(id: RuleId, on: NaiveDate, commencements: &Commencements) -> bool {
    let Some(rule) = info(id) else { return false };
    let started = match rule.start {
        Start::Always => true,
        Start::From(from) => on >= from,
        Start::Commencement(duty) => duty.commencement(commencements).is_some_and(|c| on >= c),
    };
    started && rule.until.is_none_or(|until| on <= until)
}

/// Whether a rule with fixed dates (no commencement setting) applies to an event on `on`.
pub fn in_force(id: RuleId, on: NaiveDate) -> bool {
    applies(id, on, &Commencements::default())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn boundaries() {
        let none = Commencements::default();
        assert!(!applies(RuleId::T2, d(2013, 4, 14), &none));
        assert!(applies(RuleId::T2, d(2013, 4, 15), &none));
        assert!(applies(RuleId::T2aCore, d(2013, 4, 14), &none));
        assert!(!applies(RuleId::T2aCore, d(2013, 4, 15), &none));
        assert!(applies(RuleId::T2aInitial10, d(2013, 4, 14), &none));
        assert!(!applies(RuleId::T2aInitial10, d(2010, 3, 25), &none));
        assert!(applies(RuleId::T2aInitial7, d(2010, 3, 25), &none));
        assert!(!applies(RuleId::T2aInitial7, d(2010, 3, 26), &none));
        assert!(!applies(RuleId::L2Reg28_3A, d(2015, 3, 31), &none));
        assert!(applies(RuleId::L2Reg28_3A, d(2015, 4, 1), &none));
        assert!(!applies(RuleId::C9, d(2026, 3, 31), &none));
        assert!(applies(RuleId::C9, d(2026, 4, 1), &none));
    }

    #[test]
    fn new_duties_apply_only_from_the_commencement_the_rules_document_sets() {
        let none = Commencements::default();
        assert!(!applies(RuleId::R1, d(2030, 1, 1), &none), "absent: not in force");
        assert!(!applies(RuleId::R2, d(2030, 1, 1), &none));
        let set = Commencements {
            consistent_identifier: Some(d(2027, 9, 1)),
            family_group_decision_making: Some(d(2027, 4, 6)),
        };
        assert!(!applies(RuleId::R1, d(2027, 8, 31), &set));
        assert!(applies(RuleId::R1, d(2027, 9, 1), &set));
        assert!(!applies(RuleId::R2, d(2027, 4, 5), &set));
        assert!(applies(RuleId::R2, d(2027, 4, 6), &set));
    }

    #[test]
    fn the_rules_document_sets_commencements_and_an_older_one_still_loads() {
        use crate::rules::settings::LocalSettings;
        let old: LocalSettings = serde_json::from_str(r#"{"stale_after_hours": 48}"#).unwrap();
        assert_eq!(old.commencement, Commencements::default());
        assert_eq!(old.stale_after_hours, 48);
        let new: LocalSettings = serde_json::from_str(
            r#"{"commencement": {"family_group_decision_making": "2027-04-06"}}"#,
        )
        .unwrap();
        assert_eq!(new.commencement.family_group_decision_making, Some(d(2027, 4, 6)));
        assert_eq!(new.commencement.consistent_identifier, None);
        assert!(applies(RuleId::R2, d(2027, 4, 6), &new.commencement));
        assert!(!applies(RuleId::R1, d(2027, 4, 6), &new.commencement));
    }

    #[test]
    fn every_rule_has_one_row_and_the_rules_document_lists_it_with_its_dates() {
        let doc = include_str!("../../../docs/rules.md");
        let mut seen = std::collections::HashSet::new();
        for r in RULES {
            assert!(seen.insert(r.id), "{:?} twice", r.id);
            let name = format!("{:?}", r.id);
            let row = doc
                .lines()
                .find(|l| l.starts_with(&format!("| {name} |")))
                .unwrap_or_else(|| panic!("docs/rules.md has no row for {name}"));
            let from = match r.start {
                Start::Always => "-".to_string(),
                Start::From(d) => d.to_string(),
                Start::Commencement(_) => "commencement".to_string(),
            };
            let until = r.until.map_or("-".to_string(), |d| d.to_string());
            assert!(
                row.contains(&format!("| {from} | {until} |")),
                "docs/rules.md row for {name} must give | {from} | {until} |: {row}"
            );
        }
    }
}
