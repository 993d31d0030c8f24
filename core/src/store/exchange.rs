//! Merging without a server: export the changes a peer lacks, import a peer's changes. This is the
//! primitive the sync protocol is built on, and how the tests prove convergence between stores.

use std::collections::BTreeMap;

use automerge::ChangeHash;
use rusqlite::{params, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

use super::documents::{
    decode_heads, encode_heads, insert_document, insert_listed, persist_changes,
};
use super::signing::{check_received, check_signatures, put_signatures, verify_kept, Trust};
use super::{projection, Store};
use crate::document::line::line_of;
use crate::document::RecordDoc;
use crate::error::{Error, Result};
use crate::protocol::signing::verify_all;
use crate::protocol::{ChangeSignature, Hash, ListRow, Listing};
use crate::records::RecordKind;

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
                listing: None,
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
        // Every kept signature in one batch; only if the batch fails, each document's alone,
        // to refuse just the documents whose signatures fail (their staged copies are dropped,
        // as on any refusal: the next read loads the untouched copy from disk).
        let all: Vec<&ChangeSignature> = staged.iter().flat_map(|s| s.sigs()).collect();
        if verify_all(&all).is_err() {
            staged.retain(|s| match verify_kept(s.id(), s.sigs()) {
                Ok(()) => true,
                Err(e) => {
                    report.rejected.push((s.id().to_string(), e.to_string()));
                    false
                }
            });
        }
        (staged, report)
    }

    /// After the commit: the staged documents go back to the cache and into the report.
    pub(super) fn cache_staged(&mut self, staged: Vec<Staged>, report: &mut ImportReport) {
        for staged in staged {
            match staged {
                Staged::Loaded { doc, before, .. } => {
                    let id = doc.id().to_string();
                    if before.is_none() {
                        report.created.push(id.clone())
                    } else {
                        report.updated.push(id.clone())
                    }
                    self.cache.put(id, *doc);
                }
                // Never loaded, so nothing to cache.
                Staged::Listed(listed) => report.created.push(listed.id),
            }
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
            if let (Some(listing), Some(trust)) = (&dc.listing, trust) {
                if let Some(listed) = stage_listed(dc, listing, trust)? {
                    return Ok(Some(Staged::Listed(Box::new(listed))));
                }
            }
            // Loaded into Automerge to be received: counted as a load (`documents_loaded`).
            self.loads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut doc = RecordDoc::from_changes(&dc.changes, self.author.actor())?;
            check_identity(&doc, dc)?;
            let sigs = check_received(&mut doc, &[], &dc.signatures, trust)?;
            let received = Some(dc.changes.clone());
            let doc = Box::new(doc);
            return Ok(Some(Staged::Loaded { doc, before: None, received, sigs }));
        }
        if self.holds_every_change(dc)? {
            return Ok(None);
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
                Ok(sigs) => {
                    let doc = Box::new(doc);
                    Ok(Some(Staged::Loaded { doc, before: Some(before), received: None, sigs }))
                }
                Err(e) => Err(e),
            },
            // The document is dropped: the next read reloads the untouched copy from disk.
            Err(e) => Err(e),
        }
    }

    /// Whether every change of `dc` is one this store already holds, told without loading the
    /// document: one signature per change chunk, each for a change whose signature is stored
    /// (a change and its signature are written in one transaction, and removed together). The
    /// server resends changes a device holds (a document sent whole on one page and its changes
    /// again on the next, a retried exchange); answering those from the signatures avoids a load
    /// that would find nothing new. A change whose hash is not held, one unsigned, or an
    /// identity other than the one held means "load" (and the checks that follow it).
    fn holds_every_change(&self, dc: &DocumentChanges) -> Result<bool> {
        let Ok(chunks) = crate::document::chunks::change_chunks(&dc.changes) else {
            return Ok(false);
        };
        if chunks.is_empty() || chunks.len() != dc.signatures.len() {
            return Ok(false);
        }
        // Announced as something else than the document held: loaded, and refused by the
        // identity check, as before.
        let (kind, case_id): (String, String) = self
            .conn
            .prepare_cached("SELECT kind, case_id FROM documents WHERE id = ?1")?
            .query_row([&dc.id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if kind != dc.kind.code() || case_id != dc.case_id {
            return Ok(false);
        }
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM change_signatures WHERE doc_id = ?1 AND hash = ?2")?;
        let mut hashes = std::collections::HashSet::with_capacity(chunks.len());
        for sig in &dc.signatures {
            if !hashes.insert(sig.hash) || !stmt.exists(params![dc.id, sig.hash.0.as_slice()])? {
                return Ok(false);
            }
        }
        Ok(true)
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

/// A received document ready to be written.
pub(super) enum Staged {
    /// Changed in memory: its heads before (`None`: new to the store), for a new one the bytes it
    /// was received as (stored as they are: see `insert_document`), and the signatures of its
    /// new changes.
    Loaded {
        doc: Box<RecordDoc>,
        before: Option<Vec<ChangeHash>>,
        received: Option<Vec<u8>>,
        sigs: Vec<ChangeSignature>,
    },
    /// New to the store, and stored without loading it (`stage_listed`).
    Listed(Box<Listed>),
}

impl Staged {
    pub(super) fn id(&self) -> &str {
        match self {
            Staged::Loaded { doc, .. } => doc.id(),
            Staged::Listed(listed) => &listed.id,
        }
    }

    /// The signatures of its new changes, to verify before it is written.
    fn sigs(&self) -> &[ChangeSignature] {
        match self {
            Staged::Loaded { sigs, .. } => sigs,
            Staged::Listed(listed) => &listed.sigs,
        }
    }
}

/// A whole document from the server, to be stored as received and listed from the server's
/// row: its identity as announced, its one head, its bytes, the row and its checked signatures.
pub(super) struct Listed {
    id: String,
    kind: RecordKind,
    case_id: String,
    head: ChangeHash,
    bytes: Vec<u8>,
    row: ListRow,
    sigs: Vec<ChangeSignature>,
}

/// A new document from the server that can be stored without loading it: its changes are one
/// line (so no field is in conflict) whose head is exactly the one the server's list row was
/// derived at, and every change carries a signature that verifies by the same rules as a loaded
/// document's (`check_signatures` here, the signatures themselves in `stage_all`). `None`: the
/// document must be loaded (concurrent edits, a row of other heads, a change missing or damaged:
/// the load reports it); an error: a signature fails those rules. Its identity is the one the
/// server announced; the first load checks the document says the same
/// (`documents::first_load_of_listed`).
fn stage_listed(dc: &DocumentChanges, listing: &Listing, trust: &Trust) -> Result<Option<Listed>> {
    let Some(line) = line_of(&dc.changes) else { return Ok(None) };
    if listing.heads != [Hash::from(line.head)] {
        return Ok(None);
    }
    let sigs = check_signatures(&dc.id, line.authors, &dc.signatures, Some(trust))?;
    Ok(Some(Listed {
        id: dc.id.clone(),
        kind: dc.kind,
        case_id: dc.case_id.clone(),
        head: line.head,
        bytes: dc.changes.clone(),
        row: listing.row.clone(),
        sigs,
    }))
}

/// Writes staged documents inside the caller's transaction.
pub(super) fn write_staged(tx: &Transaction<'_>, staged: &mut [Staged], now: &str) -> Result<()> {
    for staged in staged.iter_mut() {
        match staged {
            Staged::Loaded { doc, before, received, sigs } => {
                match before {
                    None => insert_document(tx, doc, received.as_deref(), now)?,
                    Some(before) => persist_changes(tx, doc, before, true, now)?,
                }
                put_signatures(tx, doc.id(), sigs)?;
            }
            Staged::Listed(l) => {
                insert_listed(tx, &l.id, l.kind, &l.case_id, &[l.head], &l.bytes, now)?;
                projection::write_row(tx, &l.id, l.kind, &l.case_id, &l.row, Some(0), now)?;
                put_signatures(tx, &l.id, &l.sigs)?;
            }
        }
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
