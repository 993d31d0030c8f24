//! A visit as the visit screen edits it.

use fieldbook_core::records::{self as core, RecordBody};

use super::{instant, mirror_enum, wrong_kind};
use crate::errors::RecordError;

/// The kind of visit (it decides the statutory rules that apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum VisitKind {
    ChildInNeed,
    ChildProtection,
    LookedAfter,
    PrivateFostering,
    Assessment,
    Section47,
    Other,
}

mirror_enum!(VisitKind <=> core::VisitKind {
    ChildInNeed, ChildProtection, LookedAfter, PrivateFostering, Assessment, Section47, Other
});

/// How the child's views were gathered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ViewsMethod {
    OwnWords,
    Play,
    Observation,
    Advocate,
    Interpreter,
    LinkedStatement,
}

mirror_enum!(ViewsMethod <=> core::ViewsMethod {
    OwnWords, Play, Observation, Advocate, Interpreter, LinkedStatement
});

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ChildView {
    /// Empty for a new view: the core gives it an id.
    pub id: String,
    pub method: ViewsMethod,
    pub text: String,
}

/// The parts of a visit a visit screen edits. Fields the app does not show (people present,
/// actions, agencies) are kept as they are on update: nothing is dropped by round-tripping.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VisitFields {
    pub kind: VisitKind,
    /// When the visit happened (Unix ms): timescales count from this, never from the clock.
    pub started_at_ms: i64,
    pub location: String,
    pub child_seen: Option<bool>,
    pub child_not_seen_reason: String,
    pub seen_alone: Option<bool>,
    pub bedroom_seen: Option<bool>,
    pub child_views: Vec<ChildView>,
    pub observations: String,
    pub analysis: String,
    pub risks: String,
}

impl VisitFields {
    /// Writes these fields over `visit`, keeping everything else it holds.
    pub(crate) fn apply_to(self, visit: &mut core::Visit) -> Result<(), RecordError> {
        visit.kind = self.kind.into();
        visit.started_at = instant(self.started_at_ms, "started_at_ms")?;
        visit.location = self.location;
        visit.child_seen = self.child_seen;
        visit.child_not_seen_reason = self.child_not_seen_reason;
        visit.seen_alone = self.seen_alone;
        visit.bedroom_seen = self.bedroom_seen;
        visit.observations = self.observations;
        visit.analysis = self.analysis;
        visit.risks = self.risks;
        visit.child_views = merge_views(std::mem::take(&mut visit.child_views), self.child_views);
        Ok(())
    }

    pub(crate) fn from_visit(v: &core::Visit) -> Self {
        Self {
            kind: v.kind.into(),
            started_at_ms: v.started_at.timestamp_millis(),
            location: v.location.clone(),
            child_seen: v.child_seen,
            child_not_seen_reason: v.child_not_seen_reason.clone(),
            seen_alone: v.seen_alone,
            bedroom_seen: v.bedroom_seen,
            child_views: views_of(&v.child_views),
            observations: v.observations.clone(),
            analysis: v.analysis.clone(),
            risks: v.risks.clone(),
        }
    }
}

/// The app's child views over the stored ones: a view keeps what the app does not carry (its
/// linked statement's reference) by its id; a view with no id is new and gets one.
pub(crate) fn merge_views(
    previous: Vec<core::ChildView>,
    views: Vec<ChildView>,
) -> Vec<core::ChildView> {
    views
        .into_iter()
        .map(|v| {
            let old = previous.iter().find(|p| !v.id.is_empty() && p.id == v.id);
            core::ChildView {
                id: if v.id.is_empty() { core::new_id() } else { v.id },
                method: v.method.into(),
                text: v.text,
                linked_ref: old.and_then(|o| o.linked_ref.clone()),
            }
        })
        .collect()
}

pub(crate) fn views_of(views: &[core::ChildView]) -> Vec<ChildView> {
    views
        .iter()
        .map(|c| ChildView { id: c.id.clone(), method: c.method.into(), text: c.text.clone() })
        .collect()
}

/// The visit in `body`, or `WrongKind` when the record is something else.
pub(crate) fn visit_of(body: RecordBody) -> Result<core::Visit, RecordError> {
    match body {
        RecordBody::Visit(v) => Ok(v),
        other => Err(wrong_kind(other.kind(), core::RecordKind::Visit)),
    }
}
