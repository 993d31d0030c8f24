//! Revoked cases on the device, and the late work they may still hold.
//!
//! A case re-allocated away is removed from the device at the next sync, but a document of it
//! whose changes the server has not acknowledged is the worker's late work, which the server
//! keeps (the case was theirs): deleting it would lose what they typed. That happened when the
//! push in the very response that revoked the case was left unacknowledged (a server restored
//! from a backup lacked earlier changes of the document, so the repair would have asked for it
//! whole: simulation bug 8). So a revocation removes the case (its row, so it is no longer
//! listed, and its summary) and every document of it the server holds as it is here, and keeps
//! the others, hidden from the case's lists, until the server acknowledges them (or refuses
//! them: then nothing will ever take them) — each later exchange sweeps again. A case
//! allocated back before that is simply held again.

use std::collections::HashSet;

use rusqlite::{params, Transaction};

use super::Store;
use crate::error::Result;
use crate::records::RecordKind;

/// Marks a case revoked by the server and removes its row (the case is no longer listed). Its
/// documents go in `sweep`.
pub(super) fn revoke(tx: &Transaction<'_>, case_id: &str) -> Result<()> {
    tx.execute("INSERT OR IGNORE INTO revoked_cases (case_id) VALUES (?1)", [case_id])?;
    tx.execute("DELETE FROM cases WHERE case_id = ?1", [case_id])?;
    Ok(())
}

/// Removes the documents of revoked cases that nothing on this device needs any more: those the
/// server holds at the device's heads, the summaries, and those the server refused in this
/// response (`refused`). A revoked case that is listed again (allocated back) is no longer
/// revoked; one with no document left is forgotten. Returns the ids removed.
pub(super) fn sweep(tx: &Transaction<'_>, refused: &HashSet<&str>) -> Result<Vec<String>> {
    // Statements cached: this runs in every exchange.
    tx.prepare_cached("DELETE FROM revoked_cases WHERE case_id IN (SELECT case_id FROM cases)")?
        .execute([])?;
    let candidates: Vec<(String, String, bool)> = {
        let mut stmt = tx.prepare_cached(
            "SELECT d.id, d.kind, d.acked_heads IS NOT NULL AND d.acked_heads = d.heads
             FROM documents d JOIN revoked_cases r ON r.case_id = d.case_id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut removed = Vec::new();
    for (id, kind, acknowledged) in candidates {
        if acknowledged || kind == RecordKind::CaseSummary.code() || refused.contains(id.as_str()) {
            tx.execute("DELETE FROM documents WHERE id = ?1", params![id])?;
            removed.push(id);
        }
    }
    tx.prepare_cached(
        "DELETE FROM revoked_cases WHERE case_id NOT IN (SELECT case_id FROM documents)",
    )?
    .execute([])?;
    Ok(removed)
}

/// Removes a case and every document of it at once, late work included (`Store::purge_case`).
/// Returns the ids removed.
pub(super) fn remove_case(tx: &Transaction<'_>, case_id: &str) -> Result<Vec<String>> {
    let ids: Vec<String> = {
        let mut stmt = tx.prepare_cached("SELECT id FROM documents WHERE case_id = ?1")?;
        let rows = stmt.query_map([case_id], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    tx.execute("DELETE FROM revoked_cases WHERE case_id = ?1", [case_id])?;
    tx.execute("DELETE FROM cases WHERE case_id = ?1", [case_id])?;
    tx.execute("DELETE FROM documents WHERE case_id = ?1", [case_id])?;
    Ok(ids)
}

impl Store {
    /// Documents of cases re-allocated away that are kept only until the server acknowledges
    /// them (the worker's late work: see the module doc). Not listed with any case; each sync
    /// pushes them, and the one after their acknowledgement removes them.
    pub fn held_for_upload(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT d.id FROM documents d JOIN revoked_cases r ON r.case_id = d.case_id
             ORDER BY d.id",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::collections::HashSet;

    use chrono::DateTime;

    use crate::error::Error;
    use crate::protocol::{to_hashes, DocHeads};
    use crate::records::{CaseSummary, RecordBody, Visit, VisitKind};
    use crate::store::{ExchangePlan, Store};

    /// A worker's store holding case-1 (its summary) and one visit of theirs not yet sent.
    fn store_with_case(dir: &tempfile::TempDir, worker: &str) -> (Store, String) {
        let path = dir.path().join(format!("{worker}.db"));
        let mut store = Store::open(path, &[3u8; 32], worker, "tablet-1").unwrap();
        store.put_case_summary("case-1", &CaseSummary::new("L1", "Child L1")).unwrap();
        let instant = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let body = RecordBody::Visit(Visit::new(VisitKind::ChildProtection, instant));
        let id = store.create_record("case-1", &body).unwrap();
        (store, id)
    }

    fn ack(store: &Store, id: &str) -> DocHeads {
        DocHeads {
            id: id.into(),
            case_id: String::new(),
            heads: to_hashes(&store.heads(id).unwrap()),
        }
    }

    fn revoke(store: &mut Store) -> usize {
        let plan = ExchangePlan { purge: vec!["case-1".into()], ..ExchangePlan::default() };
        store.apply_exchange(&plan).unwrap().purged_docs
    }

    fn pending_ids(store: &mut Store) -> Vec<String> {
        let (pushes, _) = store.pending_pushes(&HashSet::new(), &HashSet::new(), 1 << 20).unwrap();
        pushes.into_iter().map(|p| p.id).collect()
    }

    /// What the server holds goes with the revocation, in the same response: a document
    /// received in it, and one of the device's own that the same response acknowledges.
    #[test]
    fn a_revocation_removes_what_the_server_holds_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, mine) = store_with_case(&dir, "w1");
        let (mut other, theirs) = store_with_case(&dir, "w2");
        let plan = ExchangePlan {
            acks: vec![ack(&store, &mine)],
            docs: vec![other.changes_since(&theirs, &[]).unwrap()],
            purge: vec!["case-1".into()],
            ..ExchangePlan::default()
        };
        assert_eq!(store.apply_exchange(&plan).unwrap().purged_docs, 3, "summary and visits");
        assert_eq!(store.kind_of(&theirs).unwrap(), None);
        assert!(matches!(store.heads(&mine), Err(Error::NotFound { .. })), "the cache kept none");
        assert!(store.cases().unwrap().is_empty());
        assert!(store.held_for_upload().unwrap().is_empty());
        assert!(store.all_heads().unwrap().is_empty());
    }

    /// Simulation bug 8: the response that revokes the case left the worker's push of it
    /// unacknowledged. The late work stays, unlisted, and is pushed until the server
    /// acknowledges it; the exchange after that removes it.
    #[test]
    fn late_work_the_server_has_not_acknowledged_is_kept_unlisted_until_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, mine) = store_with_case(&dir, "w1");
        assert_eq!(revoke(&mut store), 1, "the summary only");
        assert!(store.cases().unwrap().is_empty(), "the case is no longer listed");
        assert!(store.case_records("case-1").unwrap().is_empty());
        assert_eq!(store.held_for_upload().unwrap(), vec![mine.clone()]);
        assert_eq!(pending_ids(&mut store), vec![mine.clone()], "still pushed");
        // An app killed and reopened keeps it too.
        drop(store);
        let mut store =
            Store::open(dir.path().join("w1.db"), &[3u8; 32], "w1", "tablet-1").unwrap();
        assert_eq!(store.held_for_upload().unwrap(), vec![mine.clone()]);
        let plan = ExchangePlan { acks: vec![ack(&store, &mine)], ..ExchangePlan::default() };
        assert_eq!(store.apply_exchange(&plan).unwrap().purged_docs, 1);
        assert_eq!(store.kind_of(&mine).unwrap(), None);
        assert!(store.held_for_upload().unwrap().is_empty());
        assert!(store.all_heads().unwrap().is_empty());
    }

    /// Late work the server refuses (a manager's edit on a case that left the team) will never
    /// be taken: it goes.
    #[test]
    fn late_work_the_server_refuses_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, mine) = store_with_case(&dir, "w1");
        revoke(&mut store);
        let plan = ExchangePlan { refused: vec![mine.clone()], ..ExchangePlan::default() };
        assert_eq!(store.apply_exchange(&plan).unwrap().purged_docs, 1);
        assert!(store.all_heads().unwrap().is_empty());
    }

    /// A case allocated back while its late work waits is held again, listed with that work.
    #[test]
    fn a_case_allocated_back_is_held_again() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, mine) = store_with_case(&dir, "w1");
        let (mut server_side, _) = store_with_case(&dir, "w2");
        revoke(&mut store);
        let summary = server_side.case_summary_id("case-1").unwrap().unwrap();
        let plan = ExchangePlan {
            docs: vec![server_side.changes_since(&summary, &[]).unwrap()],
            ..ExchangePlan::default()
        };
        store.apply_exchange(&plan).unwrap();
        assert_eq!(store.cases().unwrap().len(), 1);
        assert!(store.held_for_upload().unwrap().is_empty());
        let listed: Vec<String> =
            store.case_records("case-1").unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(listed, vec![mine]);
    }

    /// `purge_case` removes unsent work too (it is the explicit, local removal).
    #[test]
    fn purge_case_removes_everything_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = store_with_case(&dir, "w1");
        assert_eq!(store.purge_case("case-1").unwrap(), 2);
        assert!(store.all_heads().unwrap().is_empty());
        assert!(store.held_for_upload().unwrap().is_empty());
    }
}
