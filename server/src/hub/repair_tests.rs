//! `triage`, the repair's decision per checked document, without storage or HTTP.
#![allow(clippy::unwrap_used)]

use fieldbook_core::records::RecordKind;

use super::*;

fn check(id: &str, case: &str) -> DocHeads {
    DocHeads { id: id.into(), case_id: case.into(), heads: vec![Hash([1; 32])] }
}

fn stored(id: &str, case: &str) -> Option<DocInfo> {
    Some(DocInfo { id: id.into(), case_id: case.into(), kind: RecordKind::Visit })
}

fn cases(names: &[&str]) -> Vec<String> {
    names.iter().map(|c| c.to_string()).collect()
}

/// Simulation bug 2: the case was re-allocated to Carol after the backup, the restored server
/// has Amara's allocation and no revocation for Carol. Carol's check of a document she holds
/// in that case revokes the case, whether the server stores the document or not.
#[test]
fn a_checked_document_in_a_case_the_caller_may_not_see_revokes_its_case() {
    let visible = cases(&["case-b"]);
    let visible: HashSet<&String> = visible.iter().collect();
    assert_eq!(
        triage(&check("d1", "case-a"), stored("d1", "case-a"), &visible),
        Triage::Revoke("case-a".into())
    );
    // Not stored (created after the backup): the same answer, so no existence oracle.
    assert_eq!(triage(&check("d2", "case-a"), None, &visible), Triage::Revoke("case-a".into()));
}

#[test]
fn a_checked_document_in_a_visible_case_is_compared_or_asked_for() {
    let visible = cases(&["case-a"]);
    let visible: HashSet<&String> = visible.iter().collect();
    assert_eq!(
        triage(&check("d1", "case-a"), stored("d1", "case-a"), &visible),
        Triage::Compare(stored("d1", "case-a").unwrap())
    );
    // Unknown to the server: asked for in full.
    assert_eq!(triage(&check("d2", "case-a"), None, &visible), Triage::SendAll);
    // Named in a visible case but stored in one the caller may not see: exactly as unknown
    // (nothing revoked, nothing of the hidden case said).
    assert_eq!(triage(&check("d3", "case-a"), stored("d3", "case-z"), &visible), Triage::SendAll);
}

#[test]
fn a_check_without_a_case_is_answered_as_before() {
    let visible = cases(&["case-a"]);
    let visible: HashSet<&String> = visible.iter().collect();
    assert_eq!(triage(&check("d1", ""), stored("d1", "case-z"), &visible), Triage::SendAll);
    assert_eq!(triage(&check("d2", ""), None, &visible), Triage::SendAll);
    assert_eq!(
        triage(&check("d1", ""), stored("d1", "case-a"), &visible),
        Triage::Compare(stored("d1", "case-a").unwrap())
    );
}
