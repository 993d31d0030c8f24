//! One record as one Automerge document: create, load, read typed values, apply whole-value edits
//! as minimal changes, and read its history and conflicts.
//!
//! The document never talks to SQLite: `crate::store` decides when to save and what to keep.

pub mod authorship;
pub mod chunks;
pub mod conflicts;
pub mod history;
pub mod line;
mod partial;
pub mod resolve;
mod text_edit;

use automerge::{transaction::CommitOptions, ActorId, AutoCommit, ChangeHash, ROOT};
use autosurgeon::{hydrate_prop, reconcile_prop};
use chrono::{DateTime, Utc};

pub use authorship::Author;
pub use conflicts::{ConflictValue, FieldConflict};
pub use history::HistoryEntry;
pub use resolve::Resolution;

use crate::error::{Error, Result};
use crate::records::{
    Amendment, Record, RecordBody, RecordKind, RecordMeta, RecordStatus, SCHEMA_VERSION,
};

/// A loaded record document.
///
/// `meta` and `body` are the hydrated values of the document, kept beside it because every edit
/// compares against them and every projection reads them; they are refreshed whenever the
/// document changes (local edit or applied changes), never edited on their own.
///
/// `body_json` is `body`'s fields as JSON, kept from the write that serialised them so that the
/// next write serialises only its new body (an autosave every few seconds would otherwise pay for
/// the old one again); `None` until a write made it, and whenever `body` is re-hydrated.
#[derive(Debug)]
pub struct RecordDoc {
    doc: AutoCommit,
    meta: RecordMeta,
    body: RecordBody,
    body_json: Option<JsonFields>,
    /// The latest single changes this document wrote through `save_after` (hash, change
    /// chunk), newest last, at most `RECENT_CHANGES`: what the next push sends, handed back by
    /// `changes_after` instead of asking automerge to rebuild them from the op set (which cost
    /// more than the edit itself).
    recent: std::collections::VecDeque<(ChangeHash, Vec<u8>)>,
}

/// How many of its latest changes a document keeps the bytes of (`RecordDoc::changes_after`).
const RECENT_CHANGES: usize = 32;

/// A body's fields (`{"kind": .., "fields": {..}}` without the tag) as JSON values.
type JsonFields = serde_json::Map<String, serde_json::Value>;

impl RecordDoc {
    /// A new record with `body`, committed as one change by `author`.
    pub fn create(
        author: &Author,
        id: String,
        case_id: String,
        body: &RecordBody,
        now: DateTime<Utc>,
    ) -> Result<Self> {
        Self::create_with(author, id, case_id, body, now, None)
    }

    /// `create`, refusing a body over `limits::MAX_RECORD_BYTES` before any work: the store's
    /// path. The body is serialised once, for the size check, and kept for the first edit's diff.
    pub fn create_checked(
        author: &Author,
        id: String,
        case_id: String,
        body: &RecordBody,
        now: DateTime<Utc>,
    ) -> Result<Self> {
        let json = serde_json::to_value(body)?;
        crate::limits::check_record_json_size(&json)?;
        Self::create_with(author, id, case_id, body, now, Some(fields_of(json)))
    }

    fn create_with(
        author: &Author,
        id: String,
        case_id: String,
        body: &RecordBody,
        now: DateTime<Utc>,
        body_json: Option<JsonFields>,
    ) -> Result<Self> {
        let meta = RecordMeta {
            id,
            kind: body.kind(),
            case_id,
            schema_version: SCHEMA_VERSION,
            status: RecordStatus::Draft,
            created_by: author.worker.clone(),
            created_at: now,
            submitted_by: None,
            submitted_at: None,
            oversight: None,
            amendments: Vec::new(),
        };
        let mut doc = AutoCommit::new().with_actor(author.actor());
        // The whole document at once: autosurgeon writes an empty document's root in one step
        // (`init_root_from_hydrate`) instead of comparing each field with a document that has none.
        autosurgeon::reconcile(&mut doc, NewRecord { meta: &meta, body })?;
        let mut this =
            Self { doc, meta, body: body.clone(), body_json, recent: Default::default() };
        this.commit(author, &["created"], now);
        Ok(this)
    }

    /// Loads a saved document (snapshot followed by any incremental chunks), checking that it is a
    /// Fieldbook record this build understands. The snapshot is checked as `Source::Snapshot`,
    /// the chunks as changes (see `chunks`).
    pub fn load(chunks: &[&[u8]], actor: ActorId) -> Result<Self> {
        let (first, rest) = chunks
            .split_first()
            .ok_or(Error::CorruptDocument { reason: "no saved data".into() })?;
        let mut doc = load_raw(first)?.with_actor(actor);
        for chunk in rest {
            load_incremental_checked(&mut doc, chunk)?;
        }
        Self::from_doc(doc)
    }

    /// A document from changes received from elsewhere (a server response, a peer's export),
    /// which may hold change chunks only.
    pub fn from_changes(changes: &[u8], actor: ActorId) -> Result<Self> {
        chunks::check(changes, chunks::Source::Changes)?;
        let doc = unwind_to_error(|| Ok(AutoCommit::load(changes)?))?;
        Self::from_doc(doc.with_actor(actor))
    }

    /// Wraps a document received from elsewhere (a peer, the server) after checking it.
    pub fn from_doc(doc: AutoCommit) -> Result<Self> {
        let meta: RecordMeta = hydrate_prop(&doc, ROOT, "meta").map_err(|e| {
            Error::CorruptDocument { reason: format!("unreadable record metadata: {e}") }
        })?;
        if meta.schema_version > SCHEMA_VERSION {
            return Err(Error::UnsupportedSchema {
                found: meta.schema_version,
                supported: SCHEMA_VERSION,
            });
        }
        // Version 1 is the first schema: there is nothing to upgrade yet. An upgrade from version
        // N is a function here that rewrites the document and commits it as a change of its own.
        let body = hydrate_body(&doc, meta.kind)?;
        Ok(Self { doc, meta, body, body_json: None, recent: Default::default() })
    }

    pub fn meta(&self) -> &RecordMeta {
        &self.meta
    }

    /// The Automerge document back (the server keeps hot documents loaded in that form).
    pub fn into_doc(self) -> AutoCommit {
        self.doc
    }

    pub fn id(&self) -> &str {
        &self.meta.id
    }

    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// The record's editable content.
    pub fn body(&self) -> &RecordBody {
        &self.body
    }

    /// The record in full, with any unresolved conflicts.
    pub fn record(&self) -> Result<Record> {
        Ok(Record {
            meta: self.meta.clone(),
            body: self.body.clone(),
            conflicts: self.conflicts()?,
        })
    }

    /// Replaces the body with `body`, writing only what differs (text as splices). Returns the top
    /// level fields that changed; empty means nothing was written. An edit to an authorised record
    /// is kept and recorded as an amendment.
    pub fn update_body(
        &mut self,
        author: &Author,
        body: &RecordBody,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        self.update_body_with(author, body, now, false)
    }

    /// `update_body`, refusing a body over `limits::MAX_RECORD_BYTES` before writing anything:
    /// the store's path.
    pub fn update_body_checked(
        &mut self,
        author: &Author,
        body: &RecordBody,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        self.update_body_with(author, body, now, true)
    }

    /// One serialisation of the new body (the old one's is kept from the last write) gives the
    /// size check and the changed fields; only those are spliced or reconciled.
    fn update_body_with(
        &mut self,
        author: &Author,
        body: &RecordBody,
        now: DateTime<Utc>,
        check_size: bool,
    ) -> Result<Vec<String>> {
        let new_json = serde_json::to_value(body)?;
        if check_size {
            crate::limits::check_record_json_size(&new_json)?;
        }
        if body.kind() != self.meta.kind {
            return Err(Error::KindMismatch { expected: self.meta.kind, found: body.kind() });
        }
        let new_fields = fields_of(new_json);
        let old_fields = match self.body_json.take() {
            Some(fields) => fields,
            None => fields_of(serde_json::to_value(&self.body)?),
        };
        let fields = changed_fields(&old_fields, &new_fields);
        if fields.is_empty() {
            self.body_json = Some(new_fields);
            return Ok(fields);
        }
        let written =
            text_edit::splice_text_changes(&mut self.doc, &old_fields, &new_fields, &fields)?;
        let rest: Vec<&str> =
            fields.iter().filter(|f| !written.contains(f)).map(String::as_str).collect();
        if !rest.is_empty() {
            reconcile_body_fields(&mut self.doc, body, &rest)?;
        }
        self.body = body.clone();
        self.body_json = Some(new_fields);
        if self.meta.status == RecordStatus::Authorised {
            let mut meta = self.meta.clone();
            meta.amendments.push(Amendment {
                id: crate::records::new_id(),
                by: author.worker.clone(),
                at: now,
                fields: fields.clone(),
            });
            self.write_meta(meta)?;
        }
        let labels: Vec<&str> = fields.iter().map(String::as_str).collect();
        self.commit(author, &labels, now);
        Ok(fields)
    }

    /// Writes new metadata (a lifecycle step) as one change.
    pub fn update_meta(
        &mut self,
        author: &Author,
        meta: RecordMeta,
        what: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.write_meta(meta)?;
        self.commit(author, &[what], now);
        Ok(())
    }

    fn write_meta(&mut self, meta: RecordMeta) -> Result<()> {
        reconcile_prop(&mut self.doc, ROOT, "meta", &meta)?;
        self.meta = meta;
        Ok(())
    }

    /// Commits pending operations with the author's metadata. The timestamp is advisory:
    /// Automerge never uses it to decide a merge, so a device with a wrong clock cannot change an
    /// outcome.
    fn commit(
        &mut self,
        author: &Author,
        fields: &[&str],
        now: DateTime<Utc>,
    ) -> Option<ChangeHash> {
        let message = authorship::ChangeMessage::new(author, fields).encode();
        self.doc
            .commit_with(CommitOptions::default().with_message(message).with_time(now.timestamp()))
    }

    /// The whole document, compacted, its long columns deflated. It is read back through
    /// `load_raw`, which counts what they inflate to against `limits::MAX_INFLATED_BYTES` before
    /// automerge inflates them (why compressed: docs/decisions.md, "Automerge chunk types").
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// The changes made after `heads`, in Automerge's incremental format. When they are one
    /// change (the store's write path: one commit per write), its bytes are kept for
    /// `changes_after`.
    pub fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        let bytes = self.doc.save_after(heads);
        let after = self.doc.get_heads();
        let mut new = after.iter().filter(|h| !heads.contains(h));
        if let (Some(hash), None) = (new.next(), new.next()) {
            if chunks::change_chunks(&bytes).is_ok_and(|c| c.len() == 1)
                && !self.recent.iter().any(|(h, _)| h == hash)
            {
                if self.recent.len() == RECENT_CHANGES {
                    self.recent.pop_front();
                }
                self.recent.push_back((*hash, bytes.clone()));
            }
        }
        bytes
    }

    /// The same bytes as `save_after(heads)` (the changes that are not ancestors of `heads`,
    /// in causal order), from the kept bytes of the latest changes when they are all kept: a
    /// push after a few edits costs a lookup, not a rebuild of the changes.
    pub fn changes_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        if !self.recent.is_empty() {
            let wanted: Vec<ChangeHash> =
                self.doc.get_changes_meta(heads).iter().map(|m| m.hash).collect();
            let kept: Option<Vec<&[u8]>> = wanted
                .iter()
                .map(|h| self.recent.iter().find(|(r, _)| r == h).map(|(_, b)| b.as_slice()))
                .collect();
            if let Some(parts) = kept {
                return parts.concat();
            }
        }
        self.doc.save_after(heads)
    }

    /// Applies changes produced by `save_after` elsewhere. Changes already present are ignored.
    /// Returns whether the document changed.
    pub fn apply(&mut self, changes: &[u8]) -> Result<bool> {
        let before = self.doc.get_heads();
        load_incremental_checked(&mut self.doc, changes)?;
        // Compare heads, not the count `load_incremental` returns: it counts operations added to
        // the op set, and a change that only deletes adds none, yet changes the record.
        let changed = self.doc.get_heads() != before;
        if changed {
            self.body_json = None;
            self.meta = hydrate_prop(&self.doc, ROOT, "meta")?;
            self.body = hydrate_body(&self.doc, self.meta.kind)?;
        }
        Ok(changed)
    }

    /// Every change as (hash, raw bytes), in causal order: what a server stores per change.
    pub fn raw_changes(&mut self) -> Vec<(ChangeHash, Vec<u8>)> {
        self.doc.get_changes(&[]).iter().map(|c| (c.hash(), c.raw_bytes().to_vec())).collect()
    }

    /// The changes made after `heads` (all for empty heads): each hash with its author's actor.
    /// Read from the changes' metadata: `get_changes` would rebuild every change from the op set
    /// (as much work as the `save_after` of the same write again, on every signed autosave).
    pub fn change_authors_after(
        &mut self,
        heads: &[ChangeHash],
    ) -> Vec<(ChangeHash, automerge::ActorId)> {
        self.doc
            .get_changes_meta(heads)
            .into_iter()
            .map(|m| (m.hash, m.actor.into_owned()))
            .collect()
    }

    /// Heads this document is missing to apply everything it has been given.
    pub fn missing_deps(&mut self) -> Vec<ChangeHash> {
        self.doc.get_missing_deps(&[])
    }

    pub fn conflicts(&self) -> Result<Vec<FieldConflict>> {
        conflicts::find(&self.doc)
    }

    /// The conflicts with the time each value was written (what a worker resolving one sees).
    pub fn conflicts_with_times(&mut self) -> Result<Vec<FieldConflict>> {
        let mut found = conflicts::find(&self.doc)?;
        conflicts::add_times(&mut self.doc, &mut found);
        Ok(found)
    }

    pub fn history(&mut self) -> Vec<HistoryEntry> {
        history::of(&mut self.doc)
    }
}

fn hydrate_body(doc: &AutoCommit, kind: RecordKind) -> Result<RecordBody> {
    Ok(match kind {
        RecordKind::Visit => RecordBody::Visit(hydrate_prop(doc, ROOT, "body")?),
        RecordKind::Assessment => RecordBody::Assessment(hydrate_prop(doc, ROOT, "body")?),
        RecordKind::CaseNote => RecordBody::CaseNote(hydrate_prop(doc, ROOT, "body")?),
        RecordKind::CaseSummary => RecordBody::CaseSummary(hydrate_prop(doc, ROOT, "body")?),
    })
}

/// Reconciles the top-level body fields named in `keys`, leaving every other field as it is.
fn reconcile_body_fields(doc: &mut AutoCommit, body: &RecordBody, keys: &[&str]) -> Result<()> {
    use partial::Only;
    match body {
        RecordBody::Visit(v) => reconcile_prop(doc, ROOT, "body", Only { value: v, keys })?,
        RecordBody::Assessment(a) => reconcile_prop(doc, ROOT, "body", Only { value: a, keys })?,
        RecordBody::CaseNote(n) => reconcile_prop(doc, ROOT, "body", Only { value: n, keys })?,
        RecordBody::CaseSummary(s) => reconcile_prop(doc, ROOT, "body", Only { value: s, keys })?,
    }
    Ok(())
}

/// A new record's document, `{meta, body}`, the body laid out as its own struct (untagged).
struct NewRecord<'a> {
    meta: &'a RecordMeta,
    body: &'a RecordBody,
}

impl autosurgeon::Reconcile for NewRecord<'_> {
    type Key<'k> = autosurgeon::reconcile::NoKey;

    fn reconcile<R: autosurgeon::Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
        use autosurgeon::reconcile::MapReconciler as _;
        let mut root = reconciler.map()?;
        root.put("meta", self.meta)?;
        match self.body {
            RecordBody::Visit(v) => root.put("body", v),
            RecordBody::Assessment(a) => root.put("body", a),
            RecordBody::CaseNote(n) => root.put("body", n),
            RecordBody::CaseSummary(s) => root.put("body", s),
        }
    }
}

/// The `fields` of a serialised body (`{"kind": .., "fields": {..}}`).
fn fields_of(json: serde_json::Value) -> JsonFields {
    match json {
        serde_json::Value::Object(mut body) => match body.remove("fields") {
            Some(serde_json::Value::Object(fields)) => fields,
            _ => JsonFields::new(),
        },
        _ => JsonFields::new(),
    }
}

/// The top-level body fields whose values differ, by their serialised form, in key order.
fn changed_fields(old: &JsonFields, new: &JsonFields) -> Vec<String> {
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().filter(|k| old.get(*k) != new.get(*k)).cloned().collect()
}

/// The raw Automerge document from a stored snapshot (`Source::Snapshot`: document chunks whose
/// deflated columns inflate within `limits::MAX_INFLATED_BYTES`, then change chunks).
pub fn load_raw(bytes: &[u8]) -> Result<AutoCommit> {
    chunks::check(bytes, chunks::Source::Snapshot)?;
    unwind_to_error(|| Ok(AutoCommit::load(bytes)?))
}

/// Adds changes to `doc`: `save_after` output from a device, a server or the store's own chunks
/// (`Source::Changes`: change chunks only, nothing deflated, so nothing is inflated). After an
/// error the caller must drop `doc`: a load that failed half-way may have left it inconsistent.
pub fn load_incremental_checked(doc: &mut AutoCommit, bytes: &[u8]) -> Result<usize> {
    chunks::check(bytes, chunks::Source::Changes)?;
    unwind_to_error(|| Ok(doc.load_incremental(bytes)?))
}

/// Automerge can panic on malformed input instead of returning an error (found by
/// `fuzz/load_document`: an `unwrap` in its column decoder; regression test
/// `fuzz_regression_malformed_document_is_an_error`). Bytes from disk or from a peer go through
/// here, so a damaged document is a `CorruptDocument` error, never a crash of the app or server.
fn unwind_to_error<T>(load: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(load)).unwrap_or_else(|_| {
        Err(Error::CorruptDocument { reason: "malformed document data".into() })
    })
}

/// Whether a document holds every change named in `heads`.
pub fn has_heads(doc: &mut RecordDoc, heads: &[ChangeHash]) -> bool {
    // Metadata only: `get_change_by_hash` rebuilds the whole change from the op set.
    heads.iter().all(|h| doc.doc.get_change_meta_by_hash(h).is_some())
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod text_edit_tests;
