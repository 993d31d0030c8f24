//! What a failed check reports: which check, which field, and a message for the worker. The
//! checks themselves are `crate::rules::completeness`; the error type carries these items, so they
//! sit below both.

use serde::{Deserialize, Serialize};

/// The check that failed, as numbered in DOMAIN.md §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CheckId {
    /// Child seen, or a reason why not.
    C1,
    /// Seen alone (or a reg 29 reason) on child protection, looked after and private fostering visits.
    C2,
    /// The child's views.
    C3,
    /// Agencies consulted, or a reason.
    C4,
    /// Management oversight: a decision with a rationale, by someone other than the author.
    C5,
    /// Assessment factors.
    C6,
    /// Closure: a reason, and an assessment for RC8/RC9.
    C7,
    /// Local child id: letters and digits only.
    C8,
    /// Pre-proceedings: a letter before proceedings records whether an FGDM meeting was offered,
    /// or the reason it was not (CIN census 2026-27 rule 9007; Children Act 1989 s31ZA).
    C9,
    /// A consistent identifier given is valid for its scheme (Children Act 2004 s16LA-16LC).
    C10,
    /// Who may hold a case: child protection work stays with social workers; a lead practitioner
    /// who is not one is supervised by one (Working Together 2023).
    A1,
    /// Assessment authorised after 45 working days needs a reason for the delay (T2, CIN 8670Q).
    T2,
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

/// One missing or invalid item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MissingItem {
    pub check: CheckId,
    /// The body field to fix.
    pub field: String,
    /// What is wrong, for the worker (never contains record content).
    pub message: String,
}
