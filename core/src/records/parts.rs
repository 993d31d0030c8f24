//! Parts shared by several record kinds: people present, the child's views, actions and agency
//! contacts. Each list item carries its own id (`#[key]`), so that two devices adding or editing
//! items of the same list offline merge item by item instead of overwriting each other.

use autosurgeon::{Hydrate, Reconcile};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::vocab::{AgencyKind, PersonRole, ViewsMethod};
use crate::terms::fields::{opt_iso, text};

/// A new id for a list item (the same form as a record's, `ids::new_record_id`).
pub fn new_id() -> String {
    super::ids::new_record_id()
}

/// 16 random bytes from the OS's secure generator (a v4 UUID's), e.g. to build a desktop key.
pub fn new_id_bytes() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}

/// Someone present at a visit.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonPresent {
    #[key]
    pub id: String,
    pub name: String,
    pub role: PersonRole,
}

/// One entry of the child's views (C3): what the child said or showed, and how it was obtained.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChildView {
    #[key]
    pub id: String,
    pub method: ViewsMethod,
    /// The child's words or the worker's account of them.
    #[autosurgeon(with = "text")]
    pub text: String,
    /// For a linked statement: the reference in the other app.
    pub linked_ref: Option<String>,
}

/// An action agreed at a visit.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Action {
    #[key]
    pub id: String,
    #[autosurgeon(with = "text")]
    pub description: String,
    pub owner: String,
    #[autosurgeon(with = "opt_iso")]
    pub due: Option<NaiveDate>,
    pub done: bool,
}

/// An agency contacted during a visit or consulted for an assessment (C4).
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgencyContact {
    #[key]
    pub id: String,
    pub agency: AgencyKind,
    pub organisation: String,
    #[autosurgeon(with = "opt_iso")]
    pub date: Option<NaiveDate>,
    #[autosurgeon(with = "text")]
    pub summary: String,
}
