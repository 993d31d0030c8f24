//! The repair exchange: a device sends the heads of documents (`check`); the server sends what
//! the device lacks and names in `send_all` what it lacks itself, so that the device pushes those
//! documents in full (after a server restore from backup, say).
//!
//! A document in a case the caller may not see is answered exactly as an id the server does not
//! know: listed in `send_all`, nothing sent (the hub's no-existence-oracle rule). The device's
//! push that follows is then refused as any push into such a case is.
//!
//! A checked document names the case the device holds it in. When the caller may not see that
//! case, the answer revokes it, so the device purges it: a server restored from a backup older
//! than an allocation has no revocation in its history for the worker who had the case, and
//! her device would otherwise keep a case the server no longer lets her see (simulation bug 2,
//! `regression_seed_2`). The revocation depends only on the case the caller named and on what
//! the caller may see, never on what is stored, so it is no existence oracle either.

use std::collections::HashSet;

use automerge::ChangeHash;
use fieldbook_core::protocol::{to_change_hashes, DocHeads, Hash};

use super::feed::Docs;
use super::{doc_from_changes, stored_changes, Hub, HubError, Job};
use crate::storage::DocInfo;

/// What the repair answers for one checked document, before any Automerge work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Triage {
    /// The device holds it in a case the caller may not see: revoke that case.
    Revoke(String),
    /// Unknown, or stored in a case the caller may not see: the same answer, send it in full.
    SendAll,
    /// Stored in a case the caller sees: compare the heads.
    Compare(DocInfo),
}

/// Decides what to do with `check`, given what is stored of the document (`stored`) and the
/// cases the caller may see.
pub(super) fn triage(
    check: &DocHeads,
    stored: Option<DocInfo>,
    visible: &HashSet<&String>,
) -> Triage {
    if !check.case_id.is_empty() && !visible.contains(&check.case_id) {
        return Triage::Revoke(check.case_id.clone());
    }
    match stored {
        Some(info) if visible.contains(&info.case_id) => Triage::Compare(info),
        _ => Triage::SendAll,
    }
}

/// What the repair adds to a response.
#[derive(Debug, Default)]
pub(super) struct Answer {
    pub send_all: Vec<String>,
    /// Cases of checked documents the caller may not see (each once).
    pub revoked: Vec<String>,
}

/// Answers `checks` for a caller who sees `visible`: adds to `docs`, returns the rest.
pub(super) async fn answer(
    hub: &Hub,
    visible: &HashSet<&String>,
    checks: &[DocHeads],
    docs: &mut Docs,
) -> Result<Answer, HubError> {
    let storage = hub.storage.as_ref();
    let mut out = Answer::default();
    for check in checks {
        // The case named is decided first: nothing stored is read for a case not the caller's.
        let stored = if check.case_id.is_empty() || visible.contains(&check.case_id) {
            storage.doc_info(&check.id).await?
        } else {
            None
        };
        let info = match triage(check, stored, visible) {
            Triage::Revoke(case) => {
                if !out.revoked.contains(&case) {
                    out.revoked.push(case);
                }
                continue;
            }
            Triage::SendAll => {
                out.send_all.push(check.id.clone());
                continue;
            }
            Triage::Compare(info) => info,
        };
        let stored = stored_changes(storage, &check.id).await?;
        let (id, theirs) = (check.id.clone(), check.heads.clone());
        let diff = hub.pool.run(Job::Repair, move || compare(&id, &stored, &theirs)).await??;
        if diff.server_lacks {
            out.send_all.push(check.id.clone());
        }
        if let Some(changes) = diff.device_lacks {
            docs.set_full(info, changes);
        }
    }
    Ok(out)
}

/// How one document's heads on the device compare with the server's copy.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Diff {
    /// The device has changes the server lacks: it should push the document in full.
    pub server_lacks: bool,
    /// The changes the device lacks (everything after the heads both have), if any.
    pub device_lacks: Option<Vec<u8>>,
}

/// Compares the device's heads `theirs` with the stored document. Automerge work: in the pool.
pub(super) fn compare(id: &str, stored: &[u8], theirs: &[Hash]) -> Result<Diff, HubError> {
    let mut doc = doc_from_changes(id, stored)?;
    let theirs = to_change_hashes(theirs);
    let known: Vec<ChangeHash> =
        theirs.iter().copied().filter(|h| doc.get_change_meta_by_hash(h).is_some()).collect();
    let server_lacks = known.len() < theirs.len();
    let mut sorted_known = known.clone();
    sorted_known.sort();
    let mut ours = doc.get_heads();
    ours.sort();
    let device_lacks = (sorted_known != ours).then(|| doc.save_after(&known));
    Ok(Diff { server_lacks, device_lacks })
}

#[cfg(test)]
#[path = "repair_tests.rs"]
mod triage_tests;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use fieldbook_core::protocol::to_hashes;

    use super::*;

    fn doc_with(changes: &[&str]) -> automerge::AutoCommit {
        use automerge::transaction::Transactable;
        let mut doc = automerge::AutoCommit::new();
        for (i, value) in changes.iter().enumerate() {
            doc.put(automerge::ROOT, format!("k{i}"), *value).unwrap();
            doc.commit();
        }
        doc
    }

    #[test]
    fn equal_heads_need_nothing() {
        let mut doc = doc_with(&["a", "b"]);
        let diff = compare("d", &doc.save_after(&[]), &to_hashes(&doc.get_heads())).unwrap();
        assert_eq!(diff, Diff { server_lacks: false, device_lacks: None });
    }

    #[test]
    fn a_device_behind_gets_what_it_lacks_and_one_ahead_is_asked_for_all() {
        let mut doc = doc_with(&["a"]);
        let old_heads = doc.get_heads();
        let mut server = doc.fork();
        automerge::transaction::Transactable::put(&mut server, automerge::ROOT, "k9", "z").unwrap();
        server.commit();
        let diff = compare("d", &server.save_after(&[]), &to_hashes(&old_heads)).unwrap();
        assert!(!diff.server_lacks);
        let mut device = doc.fork();
        device.load_incremental(&diff.device_lacks.unwrap()).unwrap();
        assert_eq!(device.get_heads(), server.get_heads());

        // The device has a change the server never got.
        let mut ahead = server.fork();
        automerge::transaction::Transactable::put(&mut ahead, automerge::ROOT, "k8", "y").unwrap();
        ahead.commit();
        let diff = compare("d", &server.save_after(&[]), &to_hashes(&ahead.get_heads())).unwrap();
        assert!(diff.server_lacks);
    }

    #[test]
    fn a_damaged_stored_document_is_an_error() {
        assert!(matches!(compare("d", b"\x85not automerge", &[]), Err(HubError::Corrupt(_))));
    }
}
