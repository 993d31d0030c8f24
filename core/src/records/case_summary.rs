//! The case summary: who the child is and which episodes are open. It comes from the council's
//! case system and is read-only on the device; the statutory timescales are computed from it.
//!
//! Fields added after the first schema (the consistent identifier, the allocation's role, the
//! pre-proceedings episode, the core assessment) are all optional: a summary written before them,
//! as an Automerge document or as the device's stored JSON, reads with them absent.

use autosurgeon::{Hydrate, Reconcile};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::identifier::{ConsistentIdentifier, PractitionerRole};
use super::vocab::{LookedAfterVisitRegime, Sex};
use crate::codes::{
    AbuseCategory, ClosureReason, LegalStatus, PlacementType, PrimaryNeed, ReferralSource,
};
use crate::terms::fields::{iso, iso_list, opt_iso};

#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaseSummary {
    /// The council's id for the child: letters and digits only (C8; CIN rule 1580).
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9]+$"))]
    pub local_child_id: String,
    pub name: String,
    #[autosurgeon(with = "opt_iso")]
    pub date_of_birth: Option<NaiveDate>,
    pub sex: Option<Sex>,
    pub ethnicity: String,
    #[autosurgeon(missing = "Vec::new")]
    pub disabilities: Vec<String>,
    pub address: String,
    pub legal_status: Option<LegalStatus>,
    pub allocated_worker: String,
    pub team: String,
    pub child_in_need: Option<ChildInNeedEpisode>,
    pub child_protection: Option<ChildProtectionPlan>,
    pub looked_after: Option<LookedAfterEpisode>,
    pub private_fostering: Option<PrivateFostering>,
    /// The last visit known to the case system (visits recorded on this device are added to it).
    #[autosurgeon(with = "opt_iso")]
    pub last_visit_date: Option<NaiveDate>,
    /// The last date the child was seen, as known to the case system.
    #[autosurgeon(with = "opt_iso")]
    pub last_seen_date: Option<NaiveDate>,
    /// The child's consistent identifier (Children Act 2004 s16LA-16LC), with its scheme.
    #[serde(default)]
    #[autosurgeon(missing = "Default::default")]
    pub consistent_identifier: Option<ConsistentIdentifier>,
    /// Why the child has no consistent identifier (recorded instead of one).
    #[serde(default)]
    #[autosurgeon(missing = "Default::default")]
    pub consistent_identifier_absent_reason: Option<String>,
    /// The role of the allocated worker; absent in summaries written before roles were recorded,
    /// when only social workers held cases.
    #[serde(default)]
    #[autosurgeon(missing = "Default::default")]
    pub allocated_role: Option<PractitionerRole>,
    /// The social worker supervising a lead practitioner who is not one (Working Together 2023).
    #[serde(default)]
    #[autosurgeon(missing = "Default::default")]
    pub supervising_social_worker: Option<String>,
    /// The pre-proceedings episode (Children Act 1989 s31ZA; CIN census 2026-27 module 5).
    #[serde(default)]
    #[autosurgeon(missing = "Default::default")]
    pub pre_proceedings: Option<PreProceedings>,
}

/// A child in need episode: from referral to closure.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChildInNeedEpisode {
    /// Receipt of the referral (T1 and T2 run from it).
    #[autosurgeon(with = "iso")]
    pub referral_date: NaiveDate,
    pub referral_source: Option<ReferralSource>,
    pub primary_need: Option<PrimaryNeed>,
    /// When the decision on the referral was made (T1 met).
    #[autosurgeon(with = "opt_iso")]
    pub referral_decision_date: Option<NaiveDate>,
    /// When the assessment was authorised (T2 met), as known to the case system.
    #[autosurgeon(with = "opt_iso")]
    pub assessment_authorised_date: Option<NaiveDate>,
    /// The start of a core assessment (T2a, before 2013-04-15: 35 working days).
    #[serde(default)]
    #[autosurgeon(with = "opt_iso", missing = "Default::default")]
    pub core_assessment_start_date: Option<NaiveDate>,
    /// When the core assessment was completed (T2a met).
    #[serde(default)]
    #[autosurgeon(with = "opt_iso", missing = "Default::default")]
    pub core_assessment_completed_date: Option<NaiveDate>,
    /// A strategy discussion starts the 15 working days to an initial conference (T3).
    #[autosurgeon(with = "opt_iso")]
    pub strategy_discussion_date: Option<NaiveDate>,
    /// The s47 enquiry concluded that no conference is required: T3 does not apply.
    #[autosurgeon(missing = "Default::default")]
    pub conference_not_required: bool,
    #[autosurgeon(with = "opt_iso")]
    pub initial_conference_date: Option<NaiveDate>,
    /// Child in need plan reviews (T7).
    #[autosurgeon(with = "iso_list")]
    pub review_dates: Vec<NaiveDate>,
    #[autosurgeon(with = "opt_iso")]
    pub closure_date: Option<NaiveDate>,
    pub closure_reason: Option<ClosureReason>,
}

impl ChildInNeedEpisode {
    /// An episode with only its referral date; the rest is filled in by the case system.
    pub fn new(referral_date: NaiveDate) -> Self {
        Self {
            referral_date,
            referral_source: None,
            primary_need: None,
            referral_decision_date: None,
            assessment_authorised_date: None,
            core_assessment_start_date: None,
            core_assessment_completed_date: None,
            strategy_discussion_date: None,
            conference_not_required: false,
            initial_conference_date: None,
            review_dates: Vec::new(),
            closure_date: None,
            closure_reason: None,
        }
    }
}

/// A child protection plan.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChildProtectionPlan {
    #[autosurgeon(with = "iso")]
    pub start_date: NaiveDate,
    pub category: Option<AbuseCategory>,
    /// The initial conference that made the plan (T4 and T5 run from it).
    #[autosurgeon(with = "iso")]
    pub initial_conference_date: NaiveDate,
    /// Core group meetings held (T4).
    #[autosurgeon(with = "iso_list")]
    pub core_group_dates: Vec<NaiveDate>,
    /// Review conferences held (T5).
    #[autosurgeon(with = "iso_list")]
    pub review_conference_dates: Vec<NaiveDate>,
    #[autosurgeon(with = "opt_iso")]
    pub end_date: Option<NaiveDate>,
}

/// A period of being looked after, with the current placement.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LookedAfterEpisode {
    /// The date the child became looked after (L4 runs from it).
    #[autosurgeon(with = "iso")]
    pub start_date: NaiveDate,
    pub legal_status: Option<LegalStatus>,
    pub placement_type: Option<PlacementType>,
    /// The start of the current placement (L1, L2 run from it).
    #[autosurgeon(with = "iso")]
    pub placement_start: NaiveDate,
    pub visit_regime: LookedAfterVisitRegime,
    /// The placement is intended to last until the child is 18 (reg 28(3)(b)).
    pub intended_until_18: bool,
    /// Long-term foster placement approved (reg 28(3A)).
    pub long_term_foster: bool,
    /// The child, of sufficient age and understanding, agrees to visits up to 6 months apart.
    pub child_agrees_fewer_visits: bool,
    /// Looked after reviews held (L4).
    #[autosurgeon(with = "iso_list")]
    pub review_dates: Vec<NaiveDate>,
    #[autosurgeon(with = "opt_iso")]
    pub end_date: Option<NaiveDate>,
}

/// The pre-proceedings stage before an application for a care or supervision order: the letter
/// before proceedings and the family group decision-making (FGDM) meeting it must offer
/// (Children Act 1989 s31ZA; CIN census 2026-27 module 5, rules 9005, 9007, 9010Q).
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PreProceedings {
    #[autosurgeon(with = "iso")]
    pub start_date: NaiveDate,
    /// When the letter before proceedings was sent (absent: not sent).
    #[serde(default)]
    #[autosurgeon(with = "opt_iso", missing = "Default::default")]
    pub letter_sent_date: Option<NaiveDate>,
    /// Whether an FGDM meeting was offered (in the letter before proceedings).
    #[serde(default)]
    #[autosurgeon(missing = "Default::default")]
    pub fgdm_offered: Option<bool>,
    /// Why no FGDM meeting was offered: the authority considered it not in the child's best
    /// interests (s31ZA).
    #[serde(default)]
    #[autosurgeon(missing = "Default::default")]
    pub fgdm_not_offered_reason: Option<String>,
    /// Whether a parent or a person with parental responsibility accepted the offer.
    #[serde(default)]
    #[autosurgeon(missing = "Default::default")]
    pub fgdm_accepted: Option<bool>,
    /// When the FGDM meeting was held.
    #[serde(default)]
    #[autosurgeon(with = "opt_iso", missing = "Default::default")]
    pub fgdm_held_date: Option<NaiveDate>,
    #[serde(default)]
    #[autosurgeon(with = "opt_iso", missing = "Default::default")]
    pub end_date: Option<NaiveDate>,
}

impl PreProceedings {
    pub fn new(start_date: NaiveDate) -> Self {
        Self {
            start_date,
            letter_sent_date: None,
            fgdm_offered: None,
            fgdm_not_offered_reason: None,
            fgdm_accepted: None,
            fgdm_held_date: None,
            end_date: None,
        }
    }
}

/// A private fostering arrangement (P1).
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PrivateFostering {
    #[autosurgeon(with = "iso")]
    pub start_date: NaiveDate,
    #[autosurgeon(with = "opt_iso")]
    pub end_date: Option<NaiveDate>,
}

impl CaseSummary {
    /// A summary with only the identity filled in; episodes are added by the case system.
    pub fn new(local_child_id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            local_child_id: local_child_id.into(),
            name: name.into(),
            date_of_birth: None,
            sex: None,
            ethnicity: String::new(),
            disabilities: Vec::new(),
            address: String::new(),
            legal_status: None,
            allocated_worker: String::new(),
            team: String::new(),
            child_in_need: None,
            child_protection: None,
            looked_after: None,
            private_fostering: None,
            last_visit_date: None,
            last_seen_date: None,
            consistent_identifier: None,
            consistent_identifier_absent_reason: None,
            allocated_role: None,
            supervising_social_worker: None,
            pre_proceedings: None,
        }
    }
}
