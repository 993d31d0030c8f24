//! Merging without a server: export the changes a peer lacks, import a peer's changes. This is the
//! primitive the sync protocol is built on, and how the tests prove convergence between stores.

use std::collections::BTreeMap;

use automerge::ChangeHash;
use rusqlite::{params, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

use super::documents::{decode_heads, encode_heads, insert_document, persist_changes};
use super::signing::{check_received, put_signatures, Trust};
use super::Store;
use crate::document::RecordDoc;
use crate::error::{Error, Result};
use crate::protocol::ChangeSignature;

/// The changes of one document: the protocol's type, under the name the store has always used.
pub type DocumentChanges = crate::protocol::DocChanges;

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Documents that were new to this store.
    pub created: Vec<String>,
    /// Documents that gained changes.
    pub updated: Vec<String>,
    /// Documents whose changes were all already here.
    pub unchanged: usize,
    /// Documents refused, with the reason (never record content).
    pub rejected: Vec<(String, String)>,
}

impl Store {
    /// The heads of every document in the store.
    pub fn all_heads(&self) -> Result<BTreeMap<String, Vec<ChangeHash>>> {
        let mut stmt = self.conn.prepare_cached("SELECT id, heads FROM documents")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (id, heads) = row?;
            out.insert(id, decode_heads(&heads)?);
        }
        Ok(out)
    }

    /// The changes of `id` made after `heads` (all of them for empty `heads`). Heads this store
    /// does not know are ignored, so the answer may repeat changes the peer has; applying a
    /// change twice is a no-op.
    pub fn changes_since(&mut self, id: &str, heads: &[ChangeHash]) -> Result<DocumentChanges> {
        self.with_doc(id, |doc| {
            let known: Vec<ChangeHash> = heads
                .iter()
                .filter(|h| crate::document::has_heads(doc, std::slice::from_ref(h)))
                .copied()
                .collect();
            let meta = doc.meta().clone();
            let hashes = doc.change_authors_after(&known);
            let changes = DocumentChanges {
                id: meta.id,
                kind: meta.kind,
                case_id: meta.case_id,
                heads: Vec::new(),
                changes: doc.changes_after(&known),
                signatures: Vec::new(),
            };
            Ok((changes, hashes))
        })
        .and_then(|(mut changes, hashes)| {
            changes.signatures = self.signatures_for(id, &hashes)?;
            Ok(changes)
        })
    }

    /// Every change a peer whose documents have `peer_heads` lacks.
    pub fn export_for(
        &mut self,
        peer_heads: &BTreeMap<String, Vec<ChangeHash>>,
    ) -> Result<Vec<DocumentChanges>> {
        let mine = self.all_heads()?;
        let mut out = Vec::new();
        for (id, heads) in mine {
            let theirs = peer_heads.get(&id).map(Vec::as_slice).unwrap_or(&[]);
            let mut sorted_theirs = theirs.to_vec();
            sorted_theirs.sort();
            if sorted_theirs == heads {
                continue;
            }
            out.push(self.changes_since(&id, theirs)?);
        }
        Ok(out)
    }

    /// Imports a peer's changes. Good documents are committed together in one transaction; a
    /// document that fails its checks (damaged, of another case than it claims, a newer schema, a
    /// change without a signature that verifies) is refused and reported without affecting the
    /// others.
    pub fn import(&mut self, batch: &[DocumentChanges]) -> Result<ImportReport> {
        // A peer is not the server: every change must carry a signature that verifies; the
        // binding of its key to the author is checked by the server on the next push.
        let (mut staged, mut report) = self.stage_all(batch, None);
        let now = self.now().to_rfc3339();
        // If the transaction fails, the staged documents are dropped (not returned to the cache),
        // so memory never holds changes the disk does not.
        self.write(|tx| write_staged(tx, &mut staged, &now))?;
        self.cache_staged(staged, &mut report);
        Ok(report)
    }

    /// Applies every document of `batch` in memory (nothing is written): the staged documents,
    /// and a report of the unchanged and refused ones. With `trust` (a pull from the server)
    /// every new change must be signed by its author's registered key or by the server.
    pub(super) fn stage_all(
        &mut self,
        batch: &[DocumentChanges],
        trust: Option<&Trust>,
    ) -> (Vec<Staged>, ImportReport) {
        let mut report = ImportReport::default();
        let mut staged = Vec::new();
        for dc in batch {
            match self.stage(dc, trust) {
                Ok(Some(staged_doc)) => staged.push(staged_doc),
                Ok(None) => report.unchanged += 1,
                Err(e) => report.rejected.push((dc.id.clone(), e.to_string())),
            }
        }
        (staged, report)
    }

    /// After the commit: the staged documents go back to the cache and into the report.
    pub(super) fn cache_staged(&mut self, staged: Vec<Staged>, report: &mut ImportReport) {
        for (doc, before, _, _) in staged {
            let id = doc.id().to_string();
            if before.is_none() {
                report.created.push(id.clone())
            } else {
                report.updated.push(id.clone())
            }
            self.cache.put(id, doc);
        }
    }

    /// Applies one document's changes in memory; `None` when nothing was new.
    fn stage(&mut self, dc: &DocumentChanges, trust: Option<&Trust>) -> Result<Option<Staged>> {
        // Only "no such row" means a new document: any other database error is an error, not
        // a reason to load the incoming changes as a fresh document over the stored one.
        let exists = self
            .conn
            .query_row("SELECT 1 FROM documents WHERE id = ?1", params![dc.id], |_| Ok(()))
            .optional()?
            .is_some();
        if !exists {
            let mut doc = RecordDoc::from_changes(&dc.changes, self.author.actor())?;
            check_identity(&doc, dc)?;
            let sigs = check_received(&mut doc, &[], &dc.signatures, trust)?;
            return Ok(Some((doc, None, Some(dc.changes.clone()), sigs)));
        }
        let mut doc = self.take_doc(&dc.id)?;
        let before = doc.heads();
        let result = doc.apply(&dc.changes).and_then(|_| check_identity(&doc, dc));
        match result {
            Ok(()) if doc.heads() == before => {
                self.cache.put(dc.id.clone(), doc);
                Ok(None)
            }
            // The document is dropped on a refusal, as below.
            Ok(()) => match check_received(&mut doc, &before, &dc.signatures, trust) {
                Ok(sigs) => Ok(Some((doc, Some(before), None, sigs))),
                Err(e) => Err(e),
            },
            // The document is dropped: the next read reloads the untouched copy from disk.
            Err(e) => Err(e),
        }
    }

    /// Records several acknowledgements in one transaction (one disk sync, not one per
    /// document). Unknown documents are skipped; returns how many were recorded.
    pub fn mark_acknowledged_all(&mut self, acks: &[(String, Vec<ChangeHash>)]) -> Result<usize> {
        let now = self.now().to_rfc3339();
        self.write(|tx| {
            write_acks(tx, acks.iter().map(|(id, h)| (id.as_str(), encode_heads(h))), &now)
        })
    }

    /// Records that the server holds `heads` of document `id` (the sync acknowledgement).
    pub fn mark_acknowledged(&mut self, id: &str, heads: &[ChangeHash]) -> Result<()> {
        let now = self.now().to_rfc3339();
        let n = self.conn.execute(
            "UPDATE documents SET acked_heads = ?2, acked_at = ?3 WHERE id = ?1",
            params![id, encode_heads(heads), now],
        )?;
        if n == 0 {
            return Err(Error::NotFound { id: id.into() });
        }
        Ok(())
    }
}

/// A document changed in memory, its heads before (`None`: new to the store), for a new one the
/// bytes it was received as (stored as they are: see `insert_document`), and the signatures of
/// its new changes.
pub(super) type Staged =
    (RecordDoc, Option<Vec<ChangeHash>>, Option<Vec<u8>>, Vec<ChangeSignature>);

/// Writes staged documents inside the caller's transaction.
pub(super) fn write_staged(tx: &Transaction<'_>, staged: &mut [Staged], now: &str) -> Result<()> {
    for (doc, before, received, sigs) in staged.iter_mut() {
        match before {
            None => insert_document(tx, doc, received.as_deref(), now)?,
            Some(before) => persist_changes(tx, doc, before, true, now)?,
        }
        put_signatures(tx, doc.id(), sigs)?;
    }
    Ok(())
}

/// Records acknowledgements (`id`, encoded heads) inside the caller's transaction; unknown
/// documents are skipped. Returns how many were recorded.
pub(super) fn write_acks<'a>(
    tx: &Transaction<'_>,
    acks: impl IntoIterator<Item = (&'a str, Vec<u8>)>,
    now: &str,
) -> Result<usize> {
    let mut stmt =
        tx.prepare_cached("UPDATE documents SET acked_heads = ?2, acked_at = ?3 WHERE id = ?1")?;
    let mut n = 0;
    for (id, heads) in acks {
        n += stmt.execute(params![id, heads, now])?;
    }
    Ok(n)
}

/// A document must be what it claims: same id, kind and case as announced, and no change may move
/// a record to another case.
fn check_identity(doc: &RecordDoc, dc: &DocumentChanges) -> Result<()> {
    let meta = doc.meta();
    if meta.id != dc.id || meta.kind != dc.kind {
        return Err(Error::CorruptDocument {
            reason: format!("document {} does not match its announced id or kind", dc.id),
        });
    }
    if meta.case_id != dc.case_id {
        return Err(Error::CaseMismatch {
            expected: dc.case_id.clone(),
            found: meta.case_id.clone(),
        });
    }
    Ok(())
}
