//! A visit to a child: who was there, whether the child was seen (and seen alone), the child's own
//! words, observations, analysis, risks and actions.

use autosurgeon::{Hydrate, Reconcile};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::attachment::AttachmentRef;
use super::parts::{Action, AgencyContact, ChildView, PersonPresent};
use super::vocab::{NotSeenAloneReason, VisitKind};
use crate::terms::fields::{iso, opt_iso, text};

#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Visit {
    pub kind: VisitKind,
    /// When the visit happened. Statutory timescales count from this, never from a device clock.
    #[autosurgeon(with = "iso")]
    pub started_at: DateTime<Utc>,
    #[autosurgeon(with = "opt_iso")]
    pub ended_at: Option<DateTime<Utc>>,
    /// When it was recorded (the second of the two times inspections ask for).
    #[autosurgeon(with = "iso")]
    pub recorded_at: DateTime<Utc>,
    pub location: String,
    #[autosurgeon(missing = "Vec::new")]
    pub people_present: Vec<PersonPresent>,
    /// `None` until the worker answers.
    pub child_seen: Option<bool>,
    #[autosurgeon(with = "text")]
    pub child_not_seen_reason: String,
    pub seen_alone: Option<bool>,
    pub not_seen_alone_reason: Option<NotSeenAloneReason>,
    #[autosurgeon(with = "text")]
    pub not_seen_alone_detail: String,
    pub bedroom_seen: Option<bool>,
    #[autosurgeon(missing = "Vec::new")]
    pub child_views: Vec<ChildView>,
    #[autosurgeon(with = "text")]
    pub observations: String,
    #[autosurgeon(with = "text")]
    pub analysis: String,
    #[autosurgeon(with = "text")]
    pub risks: String,
    #[autosurgeon(missing = "Vec::new")]
    pub actions: Vec<Action>,
    #[autosurgeon(missing = "Vec::new")]
    pub agencies_contacted: Vec<AgencyContact>,
    /// Photos, signature images, audio (references only: the bytes sync on their own channel).
    /// Added after the first release: a document or JSON without it reads as an empty list.
    #[autosurgeon(missing = "Vec::new")]
    #[serde(default)]
    pub attachments: Vec<AttachmentRef>,
}

impl Visit {
    /// An empty visit of `kind` that happened at `started_at`, recorded now.
    pub fn new(kind: VisitKind, started_at: DateTime<Utc>) -> Self {
        Self {
            kind,
            started_at,
            ended_at: None,
            recorded_at: Utc::now(),
            location: String::new(),
            people_present: Vec::new(),
            child_seen: None,
            child_not_seen_reason: String::new(),
            seen_alone: None,
            not_seen_alone_reason: None,
            not_seen_alone_detail: String::new(),
            bedroom_seen: None,
            child_views: Vec::new(),
            observations: String::new(),
            analysis: String::new(),
            risks: String::new(),
            actions: Vec::new(),
            agencies_contacted: Vec::new(),
            attachments: Vec::new(),
        }
    }
}
