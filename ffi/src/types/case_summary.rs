//! The case summary, read-only on the device: who the child is, the open episodes with their
//! legal status and placement, and what is due. DfE codes come with their labels.

use fieldbook_core::codes::{
    AbuseCategory, AssessmentFactor, ClosureReason, LegalStatus, PlacementType, PrimaryNeed,
    ReferralSource,
};
use fieldbook_core::records::{self as core, PractitionerRole};

use super::{iso, mirror_enum, opt_iso, WorklistEntry};

/// An official code with the label to show.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Coded {
    pub code: String,
    pub label: String,
}

macro_rules! coded {
    ($v:expr) => {
        Coded { code: $v.code().to_string(), label: $v.label().to_string() }
    };
}

/// The code lists an app shows in its pickers (`code_list`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CodeList {
    AssessmentFactor,
    ClosureReason,
    LegalStatus,
    PlacementType,
    AbuseCategory,
    ReferralSource,
    PrimaryNeed,
    PractitionerRole,
}

/// Every code of `list`, in its official order, with its label.
pub(crate) fn codes_of(list: CodeList) -> Vec<Coded> {
    fn all<T: Copy>(items: &[T], f: impl Fn(T) -> Coded) -> Vec<Coded> {
        items.iter().map(|i| f(*i)).collect()
    }
    match list {
        CodeList::AssessmentFactor => all(AssessmentFactor::ALL, |c| coded!(c)),
        CodeList::ClosureReason => all(ClosureReason::ALL, |c| coded!(c)),
        CodeList::LegalStatus => all(LegalStatus::ALL, |c| coded!(c)),
        CodeList::PlacementType => all(PlacementType::ALL, |c| coded!(c)),
        CodeList::AbuseCategory => all(AbuseCategory::ALL, |c| coded!(c)),
        CodeList::ReferralSource => all(ReferralSource::ALL, |c| coded!(c)),
        CodeList::PrimaryNeed => all(PrimaryNeed::ALL, |c| coded!(c)),
        CodeList::PractitionerRole => all(PractitionerRole::ALL, |c| coded!(c)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Sex {
    Male,
    Female,
    Unknown,
}

mirror_enum!(Sex <=> core::Sex { Male, Female, Unknown });

/// A child in need episode, from referral to closure. Dates are `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ChildInNeedEpisode {
    pub referral_date: String,
    pub referral_source: Option<Coded>,
    pub primary_need: Option<Coded>,
    pub referral_decision_date: Option<String>,
    pub assessment_authorised_date: Option<String>,
    pub strategy_discussion_date: Option<String>,
    pub conference_not_required: bool,
    pub initial_conference_date: Option<String>,
    pub review_dates: Vec<String>,
    pub closure_date: Option<String>,
    pub closure_reason: Option<Coded>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ChildProtectionPlan {
    pub start_date: String,
    pub category: Option<Coded>,
    pub initial_conference_date: String,
    pub core_group_dates: Vec<String>,
    pub review_conference_dates: Vec<String>,
    pub end_date: Option<String>,
}

/// A period of being looked after, with its legal status and current placement.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LookedAfterEpisode {
    pub start_date: String,
    pub legal_status: Option<Coded>,
    pub placement_type: Option<Coded>,
    pub placement_start: String,
    /// The visiting regime's code (`standard`, `care_order_at_home`, ..) and label.
    pub visit_regime: Coded,
    pub review_dates: Vec<String>,
    pub end_date: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PrivateFostering {
    pub start_date: String,
    pub end_date: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PreProceedings {
    pub start_date: String,
    pub letter_sent_date: Option<String>,
    pub fgdm_offered: Option<bool>,
    pub fgdm_accepted: Option<bool>,
    pub fgdm_held_date: Option<String>,
    pub end_date: Option<String>,
}

/// The child's case as the council's case system sent it, and what is due on it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CaseSummary {
    pub case_id: String,
    pub local_child_id: String,
    pub name: String,
    pub date_of_birth: Option<String>,
    pub sex: Option<Sex>,
    pub legal_status: Option<Coded>,
    pub allocated_worker: String,
    pub allocated_role: Option<Coded>,
    pub team: String,
    pub child_in_need: Option<ChildInNeedEpisode>,
    pub child_protection: Option<ChildProtectionPlan>,
    pub looked_after: Option<LookedAfterEpisode>,
    pub private_fostering: Option<PrivateFostering>,
    pub pre_proceedings: Option<PreProceedings>,
    pub last_visit_date: Option<String>,
    pub last_seen_date: Option<String>,
    /// The case's worklist entries on the day asked for.
    pub due: Vec<WorklistEntry>,
}

fn dates(d: &[chrono::NaiveDate]) -> Vec<String> {
    d.iter().map(iso).collect()
}

impl CaseSummary {
    pub(crate) fn from_core(
        case_id: String,
        s: &core::CaseSummary,
        due: Vec<WorklistEntry>,
    ) -> Self {
        Self {
            case_id,
            local_child_id: s.local_child_id.clone(),
            name: s.name.clone(),
            date_of_birth: opt_iso(&s.date_of_birth),
            sex: s.sex.map(Into::into),
            legal_status: s.legal_status.map(|c| coded!(c)),
            allocated_worker: s.allocated_worker.clone(),
            allocated_role: s.allocated_role.map(|c| coded!(c)),
            team: s.team.clone(),
            child_in_need: s.child_in_need.as_ref().map(|e| ChildInNeedEpisode {
                referral_date: iso(&e.referral_date),
                referral_source: e.referral_source.map(|c| coded!(c)),
                primary_need: e.primary_need.map(|c| coded!(c)),
                referral_decision_date: opt_iso(&e.referral_decision_date),
                assessment_authorised_date: opt_iso(&e.assessment_authorised_date),
                strategy_discussion_date: opt_iso(&e.strategy_discussion_date),
                conference_not_required: e.conference_not_required,
                initial_conference_date: opt_iso(&e.initial_conference_date),
                review_dates: dates(&e.review_dates),
                closure_date: opt_iso(&e.closure_date),
                closure_reason: e.closure_reason.map(|c| coded!(c)),
            }),
            child_protection: s.child_protection.as_ref().map(|p| ChildProtectionPlan {
                start_date: iso(&p.start_date),
                category: p.category.map(|c| coded!(c)),
                initial_conference_date: iso(&p.initial_conference_date),
                core_group_dates: dates(&p.core_group_dates),
                review_conference_dates: dates(&p.review_conference_dates),
                end_date: opt_iso(&p.end_date),
            }),
            looked_after: s.looked_after.as_ref().map(|l| LookedAfterEpisode {
                start_date: iso(&l.start_date),
                legal_status: l.legal_status.map(|c| coded!(c)),
                placement_type: l.placement_type.map(|c| coded!(c)),
                placement_start: iso(&l.placement_start),
                visit_regime: coded!(l.visit_regime),
                review_dates: dates(&l.review_dates),
                end_date: opt_iso(&l.end_date),
            }),
            private_fostering: s.private_fostering.as_ref().map(|p| PrivateFostering {
                start_date: iso(&p.start_date),
                end_date: opt_iso(&p.end_date),
            }),
            pre_proceedings: s.pre_proceedings.as_ref().map(|p| PreProceedings {
                start_date: iso(&p.start_date),
                letter_sent_date: opt_iso(&p.letter_sent_date),
                fgdm_offered: p.fgdm_offered,
                fgdm_accepted: p.fgdm_accepted,
                fgdm_held_date: opt_iso(&p.fgdm_held_date),
                end_date: opt_iso(&p.end_date),
            }),
            last_visit_date: opt_iso(&s.last_visit_date),
            last_seen_date: opt_iso(&s.last_seen_date),
            due,
        }
    }
}
