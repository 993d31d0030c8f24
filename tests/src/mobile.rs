//! What the tests that drive the mobile API (`fieldbook_ffi`) against a real server share: a
//! token provider with one fixed token, and a child protection visit's fields.

use fieldbook_ffi::types::{VisitFields, VisitKind};
use fieldbook_ffi::TokenProvider;

/// Hands the app's store one fixed bearer token.
#[derive(Debug)]
pub struct Token(pub String);

impl TokenProvider for Token {
    fn access_token(&self, _refresh: bool) -> Option<String> {
        Some(self.0.clone())
    }
}

/// A child protection visit, child seen alone, with `observations`.
pub fn visit_fields(observations: &str) -> VisitFields {
    VisitFields {
        kind: VisitKind::ChildProtection,
        started_at_ms: 1_774_519_200_000,
        location: "Family home".into(),
        child_seen: Some(true),
        child_not_seen_reason: String::new(),
        seen_alone: Some(true),
        bedroom_seen: None,
        child_views: Vec::new(),
        observations: observations.into(),
        analysis: String::new(),
        risks: String::new(),
    }
}
