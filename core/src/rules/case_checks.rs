//! The checks a case summary must pass before it is saved: the case system's `PUT` refuses a
//! summary that fails any of them, naming every item, so a device never receives one that breaks
//! them. C7 and C9 are in `completeness`; C10 (the consistent identifier) and A1 (who may hold a
//! case) are here.

use super::completeness::{
    check_case_summary, check_episode_closure, check_pre_proceedings, CheckId, MissingItem,
};
use crate::records::{CaseSummary, ChildInNeedEpisode, PractitionerRole};

fn item(check: CheckId, field: &str, message: impl Into<String>) -> MissingItem {
    MissingItem { check, field: field.to_string(), message: message.into() }
}

/// The case system's summary shows an assessment in the episode (for C7's RC8/RC9): one
/// authorised, or a core assessment started (before 2013).
pub fn episode_shows_assessment(episode: &ChildInNeedEpisode) -> bool {
    episode.assessment_authorised_date.is_some() || episode.core_assessment_start_date.is_some()
}

/// Every check of a summary about to be saved. `has_assessment` says whether an assessment is
/// known for the episode from elsewhere (a record on the server); the summary's own dates count
/// too.
pub fn check_summary_for_save(summary: &CaseSummary, has_assessment: bool) -> Vec<MissingItem> {
    let mut out = check_case_summary(summary);
    if let Some(episode) = &summary.child_in_need {
        let assessed = has_assessment || episode_shows_assessment(episode);
        out.extend(check_episode_closure(episode, assessed).into_iter().map(|mut m| {
            m.field = format!("child_in_need.{}", m.field);
            m
        }));
    }
    if let Some(pp) = &summary.pre_proceedings {
        out.extend(check_pre_proceedings(pp));
    }
    out.extend(check_identifier(summary));
    out.extend(check_allocation(summary));
    out
}

/// C10: an identifier given is valid for its scheme; the identifier and a reason for its absence
/// are not both given. (Neither given is not refused: the worklist flags it once the duty is in
/// force.)
pub fn check_identifier(summary: &CaseSummary) -> Vec<MissingItem> {
    let mut out = Vec::new();
    if let Some(id) = &summary.consistent_identifier {
        if let Err(e) = id.validate() {
            out.push(item(CheckId::C10, "consistent_identifier.value", e.to_string()));
        }
        if summary.consistent_identifier_absent_reason.is_some() {
            out.push(item(
                CheckId::C10,
                "consistent_identifier_absent_reason",
                "give the consistent identifier or the reason it is absent, not both",
            ));
        }
    }
    out
}

/// A1: a case with an open child protection plan is held by a social worker (a lead child
/// protection practitioner is one); a Family Help lead practitioner is supervised by a named
/// social worker other than themselves. A summary without a role is a social worker's (roles
/// were recorded from Working Together 2023; before it only social workers held cases).
pub fn check_allocation(summary: &CaseSummary) -> Vec<MissingItem> {
    let mut out = Vec::new();
    let role = summary.allocated_role.unwrap_or(PractitionerRole::SocialWorker);
    let on_plan = summary.child_protection.as_ref().is_some_and(|p| p.end_date.is_none());
    if on_plan && !role.is_social_worker() {
        out.push(item(
            CheckId::A1,
            "allocated_role",
            format!(
                "a child protection case must be allocated to a social worker, not a {}",
                role.label().to_lowercase()
            ),
        ));
    }
    if role == PractitionerRole::FamilyHelpLeadPractitioner {
        match summary.supervising_social_worker.as_deref().map(str::trim) {
            None | Some("") => out.push(item(
                CheckId::A1,
                "supervising_social_worker",
                "a Family Help lead practitioner needs a supervising social worker",
            )),
            Some(s) if s == summary.allocated_worker.trim() => out.push(item(
                CheckId::A1,
                "supervising_social_worker",
                "the supervising social worker must be someone other than the lead practitioner",
            )),
            Some(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::codes::ClosureReason;
    use crate::records::{ChildProtectionPlan, ConsistentIdentifier, PreProceedings};
    use chrono::NaiveDate;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn checks(items: &[MissingItem]) -> Vec<(CheckId, &str)> {
        items.iter().map(|m| (m.check, m.field.as_str())).collect()
    }

    fn summary() -> CaseSummary {
        let mut s = CaseSummary::new("LC1", "A child");
        s.allocated_worker = "amara".into();
        s
    }

    fn plan() -> ChildProtectionPlan {
        ChildProtectionPlan {
            start_date: d(2026, 5, 1),
            category: None,
            initial_conference_date: d(2026, 5, 1),
            core_group_dates: vec![],
            review_conference_dates: vec![],
            end_date: None,
        }
    }

    #[test]
    fn c7_closure_on_save() {
        let mut s = summary();
        let mut ep = ChildInNeedEpisode::new(d(2026, 3, 26));
        ep.closure_date = Some(d(2026, 5, 1));
        s.child_in_need = Some(ep.clone());
        assert_eq!(
            checks(&check_summary_for_save(&s, false)),
            vec![(CheckId::C7, "child_in_need.closure_reason")]
        );
        ep.closure_reason = Some(ClosureReason::ClosedAfterAssessmentEarlyHelp);
        s.child_in_need = Some(ep.clone());
        let got = check_summary_for_save(&s, false);
        assert_eq!(checks(&got), vec![(CheckId::C7, "child_in_need.closure_reason")]);
        assert_eq!(got[0].message, "closure reason RC9 needs an assessment");
        // An assessment on the server, or one the summary itself shows, satisfies it.
        assert!(check_summary_for_save(&s, true).is_empty());
        ep.assessment_authorised_date = Some(d(2026, 4, 20));
        s.child_in_need = Some(ep);
        assert!(check_summary_for_save(&s, false).is_empty());
    }

    #[test]
    fn c10_identifier_valid_for_its_scheme() {
        let mut s = summary();
        s.consistent_identifier = Some(ConsistentIdentifier::nhs_number("9434765919"));
        assert!(check_summary_for_save(&s, false).is_empty());
        s.consistent_identifier = Some(ConsistentIdentifier::nhs_number("9434765918"));
        let got = check_summary_for_save(&s, false);
        assert_eq!(checks(&got), vec![(CheckId::C10, "consistent_identifier.value")]);
        assert_eq!(got[0].message, "the NHS number's check digit is wrong");
        assert!(!got[0].message.contains("943"), "the value itself is never echoed");
        s.consistent_identifier = Some(ConsistentIdentifier::upn("H801200001001"));
        s.consistent_identifier_absent_reason = Some("not known".into());
        assert_eq!(
            checks(&check_summary_for_save(&s, false)),
            vec![(CheckId::C10, "consistent_identifier_absent_reason")]
        );
        // Neither is allowed on save (the worklist flags it).
        s.consistent_identifier = None;
        s.consistent_identifier_absent_reason = None;
        assert!(check_summary_for_save(&s, false).is_empty());
    }

    #[test]
    fn a1_who_may_hold_a_case() {
        let mut s = summary();
        s.child_protection = Some(plan());
        // No role recorded: a social worker, as before roles were recorded.
        assert!(check_allocation(&s).is_empty());
        s.allocated_role = Some(PractitionerRole::LeadChildProtectionPractitioner);
        assert!(check_allocation(&s).is_empty());
        s.allocated_role = Some(PractitionerRole::FamilyHelpLeadPractitioner);
        s.supervising_social_worker = Some("sam".into());
        let got = check_allocation(&s);
        assert_eq!(checks(&got), vec![(CheckId::A1, "allocated_role")]);
        assert_eq!(
            got[0].message,
            "a child protection case must be allocated to a social worker, not a family help lead practitioner"
        );
        // The plan ended: a child in need case a lead practitioner may hold, supervised.
        s.child_protection.as_mut().unwrap().end_date = Some(d(2026, 9, 1));
        assert!(check_allocation(&s).is_empty());
        s.supervising_social_worker = None;
        assert_eq!(checks(&check_allocation(&s)), vec![(CheckId::A1, "supervising_social_worker")]);
        s.supervising_social_worker = Some(" amara ".into());
        assert_eq!(checks(&check_allocation(&s)), vec![(CheckId::A1, "supervising_social_worker")]);
    }

    #[test]
    fn c9_fgdm_flow() {
        let mut pp = PreProceedings::new(d(2026, 9, 1));
        assert!(check_pre_proceedings(&pp).is_empty(), "no letter yet");
        pp.letter_sent_date = Some(d(2026, 9, 14));
        assert_eq!(
            checks(&check_pre_proceedings(&pp)),
            vec![(CheckId::C9, "pre_proceedings.fgdm_offered")]
        );
        pp.fgdm_offered = Some(false);
        pp.fgdm_not_offered_reason = Some("  ".into());
        assert_eq!(
            checks(&check_pre_proceedings(&pp)),
            vec![(CheckId::C9, "pre_proceedings.fgdm_not_offered_reason")]
        );
        pp.fgdm_not_offered_reason = Some("not in the child's best interests: risk".into());
        assert!(check_pre_proceedings(&pp).is_empty());
        // Offered, accepted, held.
        pp.fgdm_offered = Some(true);
        pp.fgdm_not_offered_reason = None;
        pp.fgdm_held_date = Some(d(2026, 10, 1));
        assert_eq!(
            checks(&check_pre_proceedings(&pp)),
            vec![(CheckId::C9, "pre_proceedings.fgdm_held_date")]
        );
        pp.fgdm_accepted = Some(true);
        assert!(check_pre_proceedings(&pp).is_empty());
        // Accepted without an offer.
        pp.fgdm_offered = None;
        assert_eq!(
            checks(&check_pre_proceedings(&pp)),
            vec![
                (CheckId::C9, "pre_proceedings.fgdm_offered"),
                (CheckId::C9, "pre_proceedings.fgdm_accepted")
            ]
        );
        // A letter before the 2026-27 census year is not held to rule 9007.
        let mut old = PreProceedings::new(d(2025, 1, 6));
        old.letter_sent_date = Some(d(2026, 3, 31));
        assert!(check_pre_proceedings(&old).is_empty());
        old.letter_sent_date = Some(d(2026, 4, 1));
        assert_eq!(checks(&check_pre_proceedings(&old)).len(), 1);
    }
}
