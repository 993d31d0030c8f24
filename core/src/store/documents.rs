//! Keeping documents on disk: a compacted snapshot plus the incremental chunks appended by each
//! write since, compacted once the chunks outgrow the snapshot. Every failure is reported; a
//! document whose write failed is dropped from the cache so the next read comes from disk.

use automerge::ChangeHash;
use rusqlite::{params, OptionalExtension, Transaction};

use super::{projection, Store};
use crate::document::RecordDoc;
use crate::error::{Error, Result};
use crate::records::RecordKind;

/// Compact when there are more chunks than this, or they hold more bytes than the snapshot.
const MAX_CHUNKS: i64 = 64;

/// Heads as stored: sorted 32-byte hashes, concatenated.
pub(crate) fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    let mut sorted = heads.to_vec();
    sorted.sort();
    sorted.iter().flat_map(|h| h.0).collect()
}

pub(crate) fn decode_heads(bytes: &[u8]) -> Result<Vec<ChangeHash>> {
    if !bytes.len().is_multiple_of(32) {
        return Err(Error::CorruptDocument { reason: "stored heads are not whole hashes".into() });
    }
    bytes
        .chunks(32)
        .map(|c| {
            ChangeHash::try_from(c)
                .map_err(|_| Error::CorruptDocument { reason: "stored heads unreadable".into() })
        })
        .collect()
}

impl Store {
    /// Takes a document out of the cache (loading it from disk if needed). The caller puts it
    /// back with `cache.put` once its changes are committed.
    pub(super) fn take_doc(&mut self, id: &str) -> Result<RecordDoc> {
        if let Some(doc) = self.cache.pop(id) {
            return Ok(doc);
        }
        let (doc, listed) = self.load_doc(id)?;
        if listed {
            return self.first_load_of_listed(id, doc);
        }
        Ok(doc)
    }

    /// The first load of a document stored as received and listed from the server's row
    /// (`exchange::stage_listed`): it must be what its row says (id, kind and case, as
    /// announced), and its row is derived again from it and the flag cleared, in one
    /// transaction. One that is not is removed with its row (it was never loaded, so it holds
    /// no work of this device) and refused. Its changes are one line, so it has no conflicts.
    fn first_load_of_listed(&mut self, id: &str, doc: RecordDoc) -> Result<RecordDoc> {
        let (kind, case_id): (String, String) = self.conn.query_row(
            "SELECT kind, case_id FROM documents WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let meta = doc.meta();
        if meta.id != id || meta.kind.code() != kind || meta.case_id != case_id {
            tracing::warn!(doc = %id, "a listed document is not what the server announced: removed");
            self.write(|tx| {
                tx.execute("DELETE FROM documents WHERE id = ?1", [id])?;
                Ok(())
            })?;
            return Err(Error::CorruptDocument {
                reason: format!("document {id} does not match its announced id, kind or case"),
            });
        }
        let now = self.now().to_rfc3339();
        let conflicts = doc.conflicts()?.len();
        self.write(|tx| {
            projection::upsert(tx, &doc, Some(conflicts), &now)?;
            tx.execute("UPDATE documents SET listed = 0 WHERE id = ?1", [id])?;
            Ok(())
        })?;
        Ok(doc)
    }

    /// Reads a document without keeping it out of the cache.
    pub(super) fn with_doc<T>(
        &mut self,
        id: &str,
        f: impl FnOnce(&mut RecordDoc) -> Result<T>,
    ) -> Result<T> {
        let mut doc = self.take_doc(id)?;
        let out = f(&mut doc);
        self.cache.put(id.to_string(), doc);
        out
    }

    /// Loads a document from disk, and says whether it is still as listed (never loaded).
    fn load_doc(&self, id: &str) -> Result<(RecordDoc, bool)> {
        self.loads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let found: Option<(Vec<u8>, bool)> = self
            .conn
            .prepare_cached(
                "SELECT s.data, d.listed FROM snapshots s JOIN documents d ON d.id = s.doc_id
                 WHERE s.doc_id = ?1",
            )?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let (snapshot, listed) = found.ok_or_else(|| Error::NotFound { id: id.to_string() })?;
        let mut stmt =
            self.conn.prepare_cached("SELECT data FROM chunks WHERE doc_id = ?1 ORDER BY seq")?;
        let chunks: Vec<Vec<u8>> =
            stmt.query_map([id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        let mut parts: Vec<&[u8]> = Vec::with_capacity(chunks.len() + 1);
        parts.push(&snapshot);
        parts.extend(chunks.iter().map(Vec::as_slice));
        Ok((RecordDoc::load(&parts, self.author.actor())?, listed))
    }

    /// Applies `edit` to a document and commits what it changed in one transaction. If the edit or
    /// the write fails, the in-memory document is discarded so that memory never runs ahead of disk.
    pub(super) fn edit_doc<T>(
        &mut self,
        id: &str,
        edit: impl FnOnce(&mut RecordDoc) -> Result<T>,
    ) -> Result<T> {
        let mut doc = self.take_doc(id)?;
        let before = doc.heads();
        let out = edit(&mut doc)?;
        if doc.heads() != before {
            let now = self.now();
            // Signed before the write, stored in the same transaction as the change.
            let sigs = self.sign_after(&mut doc, &before);
            self.write(|tx| {
                persist_changes(tx, &mut doc, &before, false, &now.to_rfc3339())?;
                super::signing::put_signatures(tx, doc.id(), &sigs)
            })?;
        }
        self.cache.put(id.to_string(), doc);
        Ok(out)
    }

    /// Inserts a new document and its projection in one transaction.
    pub(super) fn insert_doc(&mut self, mut doc: RecordDoc) -> Result<()> {
        let now = self.now().to_rfc3339();
        let sigs = self.sign_after(&mut doc, &[]);
        self.write(|tx| {
            insert_document(tx, &mut doc, None, &now)?;
            super::signing::put_signatures(tx, doc.id(), &sigs)
        })?;
        self.cache.put(doc.id().to_string(), doc);
        Ok(())
    }

    /// Rewrites every document's snapshot and drops its chunks.
    pub fn compact_all(&mut self) -> Result<usize> {
        let ids: Vec<String> = {
            let mut stmt = self.conn.prepare("SELECT id FROM documents WHERE chunk_count > 0")?;
            let ids = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            ids
        };
        for id in &ids {
            let mut doc = self.take_doc(id)?;
            self.write(|tx| compact(tx, &mut doc))?;
            self.cache.put(id.clone(), doc);
        }
        Ok(ids.len())
    }
}

/// Writes a new document. `received`: the change chunks it was received as (and loaded from),
/// stored as its first "snapshot" as they are: a snapshot may hold change chunks
/// (`chunks::Source::Snapshot`), and a download of a caseload then costs no `save` (a full
/// compaction, deflated) per record; the first compaction after later edits writes a real one.
pub(super) fn insert_document(
    tx: &Transaction<'_>,
    doc: &mut RecordDoc,
    received: Option<&[u8]>,
    now: &str,
) -> Result<()> {
    let snapshot = match received {
        Some(bytes) => bytes.to_vec(),
        None => doc.save(),
    };
    let heads = encode_heads(&doc.heads());
    let meta = doc.meta();
    tx.execute(
        "INSERT INTO documents (id, kind, case_id, heads, snapshot_bytes, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![meta.id, meta.kind.code(), meta.case_id, heads, snapshot.len() as i64, now],
    )?;
    tx.execute("INSERT INTO snapshots (doc_id, data) VALUES (?1, ?2)", params![meta.id, snapshot])?;
    projection::upsert(tx, doc, Some(doc.conflicts()?.len()), now)
}

/// Writes a new document received from the server as its bytes, unloaded (`listed`): its list
/// row is the server's, written beside it by the caller (`exchange::write_staged`).
pub(super) fn insert_listed(
    tx: &Transaction<'_>,
    id: &str,
    kind: RecordKind,
    case_id: &str,
    heads: &[ChangeHash],
    bytes: &[u8],
    now: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO documents (id, kind, case_id, heads, snapshot_bytes, updated_at, listed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1)",
    )?
    .execute(params![
        id,
        kind.code(),
        case_id,
        encode_heads(heads),
        bytes.len() as i64,
        now
    ])?;
    tx.prepare_cached("INSERT INTO snapshots (doc_id, data) VALUES (?1, ?2)")?
        .execute(params![id, bytes])?;
    Ok(())
}

/// Appends the changes made since `before` as a chunk, then compacts if the chunks have grown.
/// Conflicts are recounted when the changes came from elsewhere (`from_peer`) or the record
/// already had some: a local edit cannot create a conflict, and the walk is not free.
pub(super) fn persist_changes(
    tx: &Transaction<'_>,
    doc: &mut RecordDoc,
    before: &[ChangeHash],
    from_peer: bool,
    now: &str,
) -> Result<()> {
    let chunk = doc.save_after(before);
    let heads = encode_heads(&doc.heads());
    let id = doc.id().to_string();
    // Cached statements: this runs on every autosave, and parsing the SQL again each time cost
    // more instructions than the rows' own work (callgrind, docs/benchmarks.md).
    let (count, bytes, snapshot_len, had_conflicts): (i64, i64, i64, bool) = tx
        .prepare_cached(
            "SELECT d.chunk_count, d.chunk_bytes, d.snapshot_bytes, ifnull(r.conflicts, 0) > 0
             FROM documents d LEFT JOIN records r ON r.id = d.id WHERE d.id = ?1",
        )?
        .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    tx.prepare_cached("INSERT INTO chunks (doc_id, seq, data) VALUES (?1, ?2, ?3)")?
        .execute(params![id, count, chunk])?;
    tx.prepare_cached(
        "UPDATE documents SET heads = ?2, chunk_count = chunk_count + 1,
             chunk_bytes = chunk_bytes + ?3, updated_at = ?4 WHERE id = ?1",
    )?
    .execute(params![id, heads, chunk.len() as i64, now])?;
    if count + 1 > MAX_CHUNKS || bytes + chunk.len() as i64 > snapshot_len.max(4096) {
        compact(tx, doc)?;
    }
    let conflicts = if from_peer || had_conflicts { Some(doc.conflicts()?.len()) } else { None };
    projection::upsert(tx, doc, conflicts, now)
}

/// Replaces snapshot + chunks with one fresh snapshot.
pub(super) fn compact(tx: &Transaction<'_>, doc: &mut RecordDoc) -> Result<()> {
    let snapshot = doc.save();
    let id = doc.id().to_string();
    tx.execute("DELETE FROM chunks WHERE doc_id = ?1", [&id])?;
    tx.execute("UPDATE snapshots SET data = ?2 WHERE doc_id = ?1", params![id, snapshot])?;
    tx.execute(
        "UPDATE documents SET heads = ?2, snapshot_bytes = ?3, chunk_count = 0, chunk_bytes = 0
         WHERE id = ?1",
        params![id, encode_heads(&doc.heads()), snapshot.len() as i64],
    )?;
    Ok(())
}
