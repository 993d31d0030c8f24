//! An assessment (single assessment or section 47 enquiry).

use autosurgeon::{Hydrate, Reconcile};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::parts::{AgencyContact, ChildView};
use super::vocab::{AssessmentKind, AssessmentOutcome};
use crate::codes::{AssessmentFactor, ClosureReason};
use crate::terms::fields::{iso, opt_iso, text};

#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Assessment {
    pub kind: AssessmentKind,
    /// The referral date the 45 working days run from (T2).
    #[autosurgeon(with = "iso")]
    pub start_date: NaiveDate,
    #[autosurgeon(with = "opt_iso")]
    pub authorisation_date: Option<NaiveDate>,
    pub child_seen: Option<bool>,
    /// Why the child was not seen (C1), when `child_seen` is `Some(false)`. Named as on a visit.
    /// Added after the first release: a document written before it has no such key and reads as
    /// empty text (`fields::text` hydrates a missing key as ""), and JSON without it reads the
    /// same way, so old records load unchanged and only a new submit asks for the reason.
    #[autosurgeon(with = "text")]
    #[serde(default)]
    pub child_not_seen_reason: String,
    #[autosurgeon(with = "opt_iso")]
    pub child_seen_date: Option<NaiveDate>,
    #[autosurgeon(missing = "Vec::new")]
    pub child_views: Vec<ChildView>,
    #[autosurgeon(missing = "Vec::new")]
    pub agencies_consulted: Vec<AgencyContact>,
    /// Why no agency was consulted (C4), when none was.
    #[autosurgeon(with = "text")]
    pub no_agency_reason: String,
    #[autosurgeon(with = "text")]
    pub family_history: String,
    #[autosurgeon(with = "text")]
    pub analysis: String,
    /// Factors identified at the end of the assessment (C6). A list, not a set, so that a
    /// duplicate added on two devices is visible and refused rather than silently merged.
    #[autosurgeon(missing = "Vec::new")]
    pub factors: Vec<AssessmentFactor>,
    pub outcome: Option<AssessmentOutcome>,
    #[autosurgeon(with = "text")]
    pub outcome_detail: String,
    /// Why the assessment was authorised after 45 working days (T2; CIN 8670Q).
    #[autosurgeon(with = "text")]
    pub delay_reason: String,
    /// Closing the case at the end of the assessment (C7).
    #[autosurgeon(with = "opt_iso")]
    pub closure_date: Option<NaiveDate>,
    pub closure_reason: Option<ClosureReason>,
}

impl Assessment {
    pub fn new(kind: AssessmentKind, start_date: NaiveDate) -> Self {
        Self {
            kind,
            start_date,
            authorisation_date: None,
            child_seen: None,
            child_not_seen_reason: String::new(),
            child_seen_date: None,
            child_views: Vec::new(),
            agencies_consulted: Vec::new(),
            no_agency_reason: String::new(),
            family_history: String::new(),
            analysis: String::new(),
            factors: Vec::new(),
            outcome: None,
            outcome_detail: String::new(),
            delay_reason: String::new(),
            closure_date: None,
            closure_reason: None,
        }
    }
}
