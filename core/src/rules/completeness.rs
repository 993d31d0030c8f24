//! Completeness checks (DOMAIN.md §3, C1-C8) run before a record can be submitted or authorised.
//! Every check that fails is reported, each naming the field, so the app can point the worker at
//! exactly what is missing.

// The items live below the records and the error type (`crate::terms`); re-exported here, where
// the checks that produce them are.
pub use crate::terms::missing::{CheckId, MissingItem};

use super::effective::{in_force, RuleId};
use crate::codes::AssessmentFactor;
use crate::document::authorship::same_worker;
use crate::records::{
    Assessment, CaseSummary, ChildInNeedEpisode, OversightDecision, PreProceedings, Visit,
    VisitKind,
};

fn item(check: CheckId, field: &str, message: &str) -> MissingItem {
    MissingItem { check, field: field.to_string(), message: message.to_string() }
}

fn blank(s: &str) -> bool {
    s.trim().is_empty()
}

/// C1, the same on visits and assessments: child seen, or not seen with a reason.
fn check_child_seen(out: &mut Vec<MissingItem>, seen: Option<bool>, not_seen_reason: &str) {
    match seen {
        None => out.push(item(CheckId::C1, "child_seen", "record whether the child was seen")),
        Some(false) if blank(not_seen_reason) => out.push(item(
            CheckId::C1,
            "child_not_seen_reason",
            "give the reason the child was not seen",
        )),
        _ => {}
    }
}

/// C1-C3 for a visit.
pub fn check_visit(visit: &Visit) -> Vec<MissingItem> {
    let mut out = Vec::new();
    check_child_seen(&mut out, visit.child_seen, &visit.child_not_seen_reason);
    // Seen alone can only be asked of a visit where the child was seen.
    if visit.kind.requires_seen_alone() && visit.child_seen == Some(true) {
        match (visit.seen_alone, visit.not_seen_alone_reason) {
            (None, _) => {
                out.push(item(CheckId::C2, "seen_alone", "record whether the child was seen alone"))
            }
            (Some(false), None) => out.push(item(
                CheckId::C2,
                "not_seen_alone_reason",
                "give the reason the child was not seen alone",
            )),
            (Some(false), Some(reason))
                if visit.kind == VisitKind::LookedAfter && !reason.is_reg29() =>
            {
                out.push(item(
                    CheckId::C2,
                    "not_seen_alone_reason",
                    "on a looked after child visit the reason must be one of reg 29's",
                ))
            }
            (Some(false), Some(reason))
                if !reason.is_reg29() && blank(&visit.not_seen_alone_detail) =>
            {
                out.push(item(
                    CheckId::C2,
                    "not_seen_alone_detail",
                    "describe why the child was not seen alone",
                ))
            }
            _ => {}
        }
    }
    // The child's views are required whenever the child was seen; a child not seen may still have
    // views recorded (through an advocate), but their absence is then explained by C1's reason.
    if visit.child_seen == Some(true) && !has_views(&visit.child_views) {
        out.push(item(CheckId::C3, "child_views", "record the child's views"));
    }
    out
}

fn has_views(views: &[crate::records::ChildView]) -> bool {
    views.iter().any(|v| !blank(&v.text) || v.linked_ref.as_deref().is_some_and(|r| !blank(r)))
}

/// C1, C3, C4, C6 and C7 for an assessment, plus its analysis.
pub fn check_assessment(a: &Assessment) -> Vec<MissingItem> {
    let mut out = Vec::new();
    check_child_seen(&mut out, a.child_seen, &a.child_not_seen_reason);
    if !has_views(&a.child_views) {
        out.push(item(CheckId::C3, "child_views", "record the child's views"));
    }
    if a.agencies_consulted.is_empty() && blank(&a.no_agency_reason) {
        out.push(item(
            CheckId::C4,
            "agencies_consulted",
            "record at least one agency consulted, or why none was",
        ));
    }
    if blank(&a.analysis) {
        out.push(item(CheckId::C4, "analysis", "write the analysis"));
    }
    out.extend(check_factors(&a.factors));
    if a.closure_date.is_some() && a.closure_reason.is_none() {
        out.push(item(CheckId::C7, "closure_reason", "a closure date needs a closure reason"));
    }
    if a.closure_reason.is_some() && a.closure_date.is_none() {
        out.push(item(CheckId::C7, "closure_date", "a closure reason needs a closure date"));
    }
    out
}

/// C6: at least one factor; 21 only alone; no retired codes; no duplicates.
pub fn check_factors(factors: &[AssessmentFactor]) -> Vec<MissingItem> {
    let mut out = Vec::new();
    if factors.is_empty() {
        out.push(item(CheckId::C6, "factors", "record at least one factor (or 21, no factors)"));
        return out;
    }
    if factors.contains(&AssessmentFactor::NoFactorsIdentified) && factors.len() > 1 {
        out.push(item(CheckId::C6, "factors", "factor 21 (no factors identified) must be alone"));
    }
    for f in factors.iter().filter(|f| f.is_retired()) {
        out.push(MissingItem {
            check: CheckId::C6,
            field: "factors".into(),
            message: format!("factor {} is retired", f.code()),
        });
    }
    let mut seen = std::collections::HashSet::new();
    for f in factors {
        if !seen.insert(f) {
            out.push(MissingItem {
                check: CheckId::C6,
                field: "factors".into(),
                message: format!("factor {} is recorded twice", f.code()),
            });
        }
    }
    out
}

/// C5: a manager's oversight decision.
pub fn check_oversight(
    decision: OversightDecision,
    rationale: &str,
    manager: &str,
    author: &str,
) -> Vec<MissingItem> {
    let mut out = Vec::new();
    if blank(rationale) {
        out.push(item(CheckId::C5, "rationale", "write the rationale for the decision"));
    }
    // Compared normalised: "MGR" must not authorise the record "mgr" wrote (ids written by an
    // older build, or another implementation, may not be normalised yet).
    if same_worker(manager, author) && decision != OversightDecision::ReturnForWork {
        out.push(item(CheckId::C5, "manager", "a record cannot be authorised by its author"));
    }
    out
}

/// T2: an assessment authorised after its due date needs a reason for the delay.
pub fn check_assessment_delay(a: &Assessment, late: bool) -> Vec<MissingItem> {
    if late && blank(&a.delay_reason) {
        vec![item(CheckId::T2, "delay_reason", "authorised after 45 working days: give the reason")]
    } else {
        Vec::new()
    }
}

/// C7 for a child in need episode: closure needs a reason; RC8/RC9 need an assessment.
pub fn check_episode_closure(
    episode: &ChildInNeedEpisode,
    has_assessment: bool,
) -> Vec<MissingItem> {
    let mut out = Vec::new();
    if episode.closure_date.is_some() && episode.closure_reason.is_none() {
        out.push(item(CheckId::C7, "closure_reason", "a closure date needs a closure reason"));
    }
    if let Some(reason) = episode.closure_reason {
        if reason.requires_assessment() && !has_assessment {
            out.push(MissingItem {
                check: CheckId::C7,
                field: "closure_reason".into(),
                message: format!("closure reason {} needs an assessment", reason.code()),
            });
        }
    }
    out
}

/// C9 for a pre-proceedings episode: a letter before proceedings sent on or after the rule's start
/// records whether an FGDM meeting was offered, and if not, why (the best-interests reason); an
/// acceptance needs an offer, and a meeting held needs an acceptance.
pub fn check_pre_proceedings(pp: &PreProceedings) -> Vec<MissingItem> {
    let mut out = Vec::new();
    let letter_in_scope = pp.letter_sent_date.is_some_and(|d| in_force(RuleId::C9, d));
    let reason_given = pp.fgdm_not_offered_reason.as_deref().is_some_and(|r| !blank(r));
    match pp.fgdm_offered {
        None if letter_in_scope => out.push(item(
            CheckId::C9,
            "pre_proceedings.fgdm_offered",
            "a letter before proceedings needs the FGDM offer recorded: offered, or the reason not",
        )),
        Some(false) if !reason_given && letter_in_scope => out.push(item(
            CheckId::C9,
            "pre_proceedings.fgdm_not_offered_reason",
            "an FGDM meeting not offered needs the reason (not in the child's best interests)",
        )),
        _ => {}
    }
    if pp.fgdm_accepted == Some(true) && pp.fgdm_offered != Some(true) {
        out.push(item(
            CheckId::C9,
            "pre_proceedings.fgdm_accepted",
            "an FGDM offer can only be accepted once it is made",
        ));
    }
    if pp.fgdm_held_date.is_some() && pp.fgdm_accepted != Some(true) {
        out.push(item(
            CheckId::C9,
            "pre_proceedings.fgdm_held_date",
            "an FGDM meeting held needs the offer recorded as accepted",
        ));
    }
    out
}

/// C8: the local child id is letters and digits only.
pub fn check_case_summary(summary: &CaseSummary) -> Vec<MissingItem> {
    let id = &summary.local_child_id;
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        vec![item(
            CheckId::C8,
            "local_child_id",
            "the local child id must be letters and digits only",
        )]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::records::{ChildView, NotSeenAloneReason, ViewsMethod};
    use chrono::{NaiveDate, TimeZone, Utc};

    fn visit(kind: VisitKind) -> Visit {
        Visit::new(kind, Utc.with_ymd_and_hms(2026, 3, 26, 10, 0, 0).unwrap())
    }

    fn views(text: &str) -> Vec<ChildView> {
        vec![ChildView {
            id: "v1".into(),
            method: ViewsMethod::OwnWords,
            text: text.into(),
            linked_ref: None,
        }]
    }

    fn checks(items: &[MissingItem]) -> Vec<(CheckId, &str)> {
        items.iter().map(|m| (m.check, m.field.as_str())).collect()
    }

    #[test]
    fn c1_child_not_seen_needs_a_reason() {
        let mut v = visit(VisitKind::ChildInNeed);
        assert_eq!(checks(&check_visit(&v)), vec![(CheckId::C1, "child_seen")]);
        v.child_seen = Some(false);
        assert_eq!(checks(&check_visit(&v)), vec![(CheckId::C1, "child_not_seen_reason")]);
        v.child_not_seen_reason = "family not at home".into();
        assert!(check_visit(&v).is_empty());
    }

    #[test]
    fn c2_seen_alone_on_statutory_visits_with_reg29_reasons() {
        let mut v = visit(VisitKind::LookedAfter);
        v.child_seen = Some(true);
        v.child_views = views("I like my school");
        assert_eq!(checks(&check_visit(&v)), vec![(CheckId::C2, "seen_alone")]);
        v.seen_alone = Some(false);
        assert_eq!(checks(&check_visit(&v)), vec![(CheckId::C2, "not_seen_alone_reason")]);
        v.not_seen_alone_reason = Some(NotSeenAloneReason::Other);
        v.not_seen_alone_detail = "carer stayed".into();
        assert_eq!(checks(&check_visit(&v)), vec![(CheckId::C2, "not_seen_alone_reason")]);
        v.not_seen_alone_reason = Some(NotSeenAloneReason::ChildRefused);
        assert!(check_visit(&v).is_empty());
        // A child in need visit does not require seen alone.
        let mut cin = visit(VisitKind::ChildInNeed);
        cin.child_seen = Some(true);
        cin.child_views = views("ok");
        assert!(check_visit(&cin).is_empty());
        // On a child protection visit a non-reg-29 reason is accepted with a description.
        let mut cp = visit(VisitKind::ChildProtection);
        cp.child_seen = Some(true);
        cp.child_views = views("ok");
        cp.seen_alone = Some(false);
        cp.not_seen_alone_reason = Some(NotSeenAloneReason::Other);
        assert_eq!(checks(&check_visit(&cp)), vec![(CheckId::C2, "not_seen_alone_detail")]);
    }

    #[test]
    fn c3_views_required_when_seen() {
        let mut v = visit(VisitKind::ChildInNeed);
        v.child_seen = Some(true);
        assert_eq!(checks(&check_visit(&v)), vec![(CheckId::C3, "child_views")]);
        v.child_views = views("   ");
        assert_eq!(checks(&check_visit(&v)), vec![(CheckId::C3, "child_views")]);
        v.child_views[0].method = ViewsMethod::LinkedStatement;
        v.child_views[0].linked_ref = Some("momo-123".into());
        assert!(check_visit(&v).is_empty());
    }

    fn complete_assessment() -> Assessment {
        let mut a = Assessment::new(
            crate::records::AssessmentKind::Single,
            NaiveDate::from_ymd_opt(2026, 3, 26).unwrap(),
        );
        a.child_seen = Some(true);
        a.child_views = views("want to stay with nan");
        a.no_agency_reason = "none involved".into();
        a.analysis = "analysis".into();
        a.factors = vec![AssessmentFactor::Neglect];
        a
    }

    #[test]
    fn c4_c6_assessment_checks() {
        assert!(check_assessment(&complete_assessment()).is_empty());
        let mut a = complete_assessment();
        a.no_agency_reason.clear();
        a.factors = vec![AssessmentFactor::NoFactorsIdentified, AssessmentFactor::Neglect];
        let got = check_assessment(&a);
        assert_eq!(
            checks(&got),
            vec![(CheckId::C4, "agencies_consulted"), (CheckId::C6, "factors")]
        );
        assert!(got[1].message.contains("21"));
        a.factors = vec![
            AssessmentFactor::PhysicalAbuseRetired,
            AssessmentFactor::Gangs,
            AssessmentFactor::Gangs,
        ];
        let msgs: Vec<_> = check_factors(&a.factors).into_iter().map(|m| m.message).collect();
        assert_eq!(msgs, vec!["factor 18A is retired", "factor 13A is recorded twice"]);
        a.factors.clear();
        assert_eq!(checks(&check_factors(&a.factors)), vec![(CheckId::C6, "factors")]);
    }

    #[test]
    fn c1_assessment_child_not_seen_needs_a_reason() {
        let mut a = complete_assessment();
        a.child_seen = None;
        assert_eq!(checks(&check_assessment(&a)), vec![(CheckId::C1, "child_seen")]);
        a.child_seen = Some(false);
        assert_eq!(checks(&check_assessment(&a)), vec![(CheckId::C1, "child_not_seen_reason")]);
        a.child_not_seen_reason = " \n ".into();
        assert_eq!(checks(&check_assessment(&a)), vec![(CheckId::C1, "child_not_seen_reason")]);
        a.child_not_seen_reason = "child in hospital".into();
        assert!(check_assessment(&a).is_empty());
    }

    #[test]
    fn c5_compares_normalised_worker_ids() {
        for (manager, author) in [("MGR", "mgr"), ("mgr", "MGR"), (" mgr ", "mgr"), ("Mgr", "mGR")]
        {
            assert_eq!(
                checks(&check_oversight(OversightDecision::Authorise, "good", manager, author)),
                vec![(CheckId::C5, "manager")],
                "{manager:?} authorising {author:?}"
            );
            assert_eq!(
                checks(&check_oversight(OversightDecision::Close, "good", manager, author)),
                vec![(CheckId::C5, "manager")]
            );
            assert!(check_oversight(OversightDecision::ReturnForWork, "more", manager, author)
                .is_empty());
        }
        assert!(check_oversight(OversightDecision::Authorise, "good", "MGR", "mgr2").is_empty());
    }

    #[test]
    fn c5_c7_c8() {
        assert_eq!(
            checks(&check_oversight(OversightDecision::Authorise, " ", "mgr", "mgr")),
            vec![(CheckId::C5, "rationale"), (CheckId::C5, "manager")]
        );
        assert!(check_oversight(OversightDecision::Authorise, "good", "mgr", "worker").is_empty());
        let mut a = complete_assessment();
        a.closure_date = NaiveDate::from_ymd_opt(2026, 5, 1);
        assert_eq!(checks(&check_assessment(&a)), vec![(CheckId::C7, "closure_reason")]);
        let mut ep = ChildInNeedEpisode {
            closure_date: NaiveDate::from_ymd_opt(2026, 5, 1),
            closure_reason: Some(crate::codes::ClosureReason::ClosedAfterAssessmentNfa),
            ..ChildInNeedEpisode::new(NaiveDate::from_ymd_opt(2026, 3, 26).unwrap())
        };
        assert_eq!(
            checks(&check_episode_closure(&ep, false)),
            vec![(CheckId::C7, "closure_reason")]
        );
        assert!(check_episode_closure(&ep, true).is_empty());
        ep.closure_reason = None;
        assert_eq!(
            checks(&check_episode_closure(&ep, true)),
            vec![(CheckId::C7, "closure_reason")]
        );
        let mut s = CaseSummary::new("AB123", "A child");
        assert!(check_case_summary(&s).is_empty());
        s.local_child_id = "AB-123".into();
        assert_eq!(checks(&check_case_summary(&s)), vec![(CheckId::C8, "local_child_id")]);
    }
}
