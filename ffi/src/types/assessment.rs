//! An assessment (single assessment or section 47 enquiry) as the assessment screen edits it.
//! DfE codes (factors, closure reason) travel as their official codes: the lists change with the
//! census year, and `code_list()` gives the app every code with its label for its pickers.

use fieldbook_core::codes::{AssessmentFactor, ClosureReason};
use fieldbook_core::records::{self as core, RecordBody};

use super::visit::{merge_views, views_of, ChildView};
use super::{code, date, iso, mirror_enum, opt_date, opt_iso, wrong_kind};
use crate::errors::RecordError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AssessmentKind {
    Single,
    Section47,
}

mirror_enum!(AssessmentKind <=> core::AssessmentKind { Single, Section47 });

/// The decision at the end of an assessment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AssessmentOutcome {
    NoFurtherAction,
    EarlyHelp,
    ChildInNeedPlan,
    Section47,
    InitialConference,
    LegalPlanning,
    Other,
}

mirror_enum!(AssessmentOutcome <=> core::AssessmentOutcome {
    NoFurtherAction, EarlyHelp, ChildInNeedPlan, Section47, InitialConference, LegalPlanning, Other
});

/// The kind of agency contacted or consulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AgencyKind {
    School,
    Health,
    Gp,
    Police,
    Housing,
    Probation,
    EarlyHelp,
    SocialCare,
    Voluntary,
    Other,
}

mirror_enum!(AgencyKind <=> core::AgencyKind {
    School, Health, Gp, Police, Housing, Probation, EarlyHelp, SocialCare, Voluntary, Other
});

/// An agency consulted for an assessment (C4).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AgencyContact {
    /// Empty for a new contact: the core gives it an id.
    pub id: String,
    pub agency: AgencyKind,
    pub organisation: String,
    /// `YYYY-MM-DD`.
    pub date: Option<String>,
    pub summary: String,
}

/// Every field of an assessment. Whole values in: read it, change what the screen changed, save
/// it back; what the type does not carry (a child view's linked statement) is kept by id.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AssessmentFields {
    pub kind: AssessmentKind,
    /// The referral date the 45 working days run from (T2), `YYYY-MM-DD`.
    pub start_date: String,
    pub authorisation_date: Option<String>,
    pub child_seen: Option<bool>,
    /// Why the child was not seen (C1), when `child_seen` is false.
    pub child_not_seen_reason: String,
    pub child_seen_date: Option<String>,
    pub child_views: Vec<ChildView>,
    pub agencies_consulted: Vec<AgencyContact>,
    /// Why no agency was consulted (C4), when none was.
    pub no_agency_reason: String,
    pub family_history: String,
    pub analysis: String,
    /// Factors identified (C6), by their DfE codes (`1A`, `21`); `code_list(AssessmentFactor)`.
    pub factors: Vec<String>,
    pub outcome: Option<AssessmentOutcome>,
    pub outcome_detail: String,
    /// Why it was authorised after 45 working days (T2; CIN 8670Q).
    pub delay_reason: String,
    pub closure_date: Option<String>,
    /// The DfE closure reason code (`RC1`..), when the case closes at the end (C7).
    pub closure_reason: Option<String>,
}

impl AssessmentFields {
    /// A new assessment from these fields.
    pub(crate) fn into_new(self) -> Result<core::Assessment, RecordError> {
        let mut a = core::Assessment::new(self.kind.into(), date(&self.start_date, "start_date")?);
        self.apply_to(&mut a)?;
        Ok(a)
    }

    /// Writes these fields over `a`, keeping what the type does not carry.
    pub(crate) fn apply_to(self, a: &mut core::Assessment) -> Result<(), RecordError> {
        a.kind = self.kind.into();
        a.start_date = date(&self.start_date, "start_date")?;
        a.authorisation_date = opt_date(self.authorisation_date, "authorisation_date")?;
        a.child_seen = self.child_seen;
        a.child_not_seen_reason = self.child_not_seen_reason;
        a.child_seen_date = opt_date(self.child_seen_date, "child_seen_date")?;
        a.child_views = merge_views(std::mem::take(&mut a.child_views), self.child_views);
        a.agencies_consulted = self
            .agencies_consulted
            .into_iter()
            .map(|c| {
                Ok(core::AgencyContact {
                    id: if c.id.is_empty() { core::new_id() } else { c.id },
                    agency: c.agency.into(),
                    organisation: c.organisation,
                    date: opt_date(c.date, "agencies_consulted.date")?,
                    summary: c.summary,
                })
            })
            .collect::<Result<_, RecordError>>()?;
        a.no_agency_reason = self.no_agency_reason;
        a.family_history = self.family_history;
        a.analysis = self.analysis;
        a.factors = self
            .factors
            .iter()
            .map(|f| code(f, "factors", AssessmentFactor::from_code))
            .collect::<Result<_, _>>()?;
        a.outcome = self.outcome.map(Into::into);
        a.outcome_detail = self.outcome_detail;
        a.delay_reason = self.delay_reason;
        a.closure_date = opt_date(self.closure_date, "closure_date")?;
        a.closure_reason = self
            .closure_reason
            .map(|c| code(&c, "closure_reason", ClosureReason::from_code))
            .transpose()?;
        Ok(())
    }

    pub(crate) fn from_assessment(a: &core::Assessment) -> Self {
        Self {
            kind: a.kind.into(),
            start_date: iso(&a.start_date),
            authorisation_date: opt_iso(&a.authorisation_date),
            child_seen: a.child_seen,
            child_not_seen_reason: a.child_not_seen_reason.clone(),
            child_seen_date: opt_iso(&a.child_seen_date),
            child_views: views_of(&a.child_views),
            agencies_consulted: a
                .agencies_consulted
                .iter()
                .map(|c| AgencyContact {
                    id: c.id.clone(),
                    agency: c.agency.into(),
                    organisation: c.organisation.clone(),
                    date: opt_iso(&c.date),
                    summary: c.summary.clone(),
                })
                .collect(),
            no_agency_reason: a.no_agency_reason.clone(),
            family_history: a.family_history.clone(),
            analysis: a.analysis.clone(),
            factors: a.factors.iter().map(|f| f.code().to_string()).collect(),
            outcome: a.outcome.map(Into::into),
            outcome_detail: a.outcome_detail.clone(),
            delay_reason: a.delay_reason.clone(),
            closure_date: opt_iso(&a.closure_date),
            closure_reason: a.closure_reason.map(|c| c.code().to_string()),
        }
    }
}

pub(crate) fn assessment_of(body: RecordBody) -> Result<core::Assessment, RecordError> {
    match body {
        RecordBody::Assessment(a) => Ok(a),
        other => Err(wrong_kind(other.kind(), core::RecordKind::Assessment)),
    }
}
