//! What the sync client needs from the store: the changes the server has not acknowledged, the
//! cursor, acknowledgements, received documents, and the purge of revoked cases. The decisions
//! live in `crate::sync`; this module only reads and writes.

use std::collections::{BTreeMap, HashSet};

use automerge::ChangeHash;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::documents::decode_heads;
use super::Store;
use crate::error::{Error, Result};
use crate::protocol::{to_hashes, DocChanges, PushDoc};
use crate::records::RecordKind;

const CURSOR: &str = "sync_cursor";

/// Where a record's latest changes are, for the UI ("on this tablet only" / "received by the
/// council at 14:02").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Delivery {
    OnDeviceOnly,
    Received { at: DateTime<Utc> },
}

impl Store {
    /// The position in the server's feed this device has committed, and the server's tag of the
    /// entry there (stored together, as `cursor:tag`, so that one write moves both).
    pub fn sync_cursor(&self) -> Result<(u64, u64)> {
        let stored = self.setting(CURSOR)?.unwrap_or_default();
        let (cursor, tag) = stored.split_once(':').unwrap_or((&stored, "0"));
        Ok((cursor.parse().unwrap_or(0), tag.parse().unwrap_or(0)))
    }

    pub fn set_sync_cursor(&mut self, cursor: u64, tag: u64) -> Result<()> {
        self.put_setting(CURSOR, &format!("{cursor}:{tag}"))
    }

    /// Documents with changes the server has not acknowledged, as pushes: the changes after the
    /// acknowledged heads (all of them for a document in `send_all`), oldest edit first, leaving
    /// out `skip`, and stopping once the changes reach `budget` bytes (always at least one
    /// document), so that a device with weeks of offline work never builds a request the server
    /// must refuse. The flag says whether documents were left for another exchange.
    pub fn pending_pushes(
        &mut self,
        send_all: &HashSet<String>,
        skip: &HashSet<String>,
        budget: usize,
    ) -> Result<(Vec<PushDoc>, bool)> {
        let pending: Vec<(String, Option<Vec<u8>>)> = {
            let mut stmt = self.conn.prepare_cached(
                "SELECT id, acked_heads FROM documents
                 WHERE acked_heads IS NULL OR acked_heads != heads ORDER BY updated_at",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut ids: Vec<(String, Vec<ChangeHash>)> = Vec::with_capacity(pending.len());
        for (id, acked) in pending {
            let acked = match acked {
                Some(bytes) if !send_all.contains(&id) => decode_heads(&bytes)?,
                _ => Vec::new(),
            };
            ids.push((id, acked));
        }
        for id in send_all {
            if ids.iter().any(|(i, _)| i == id) {
                continue;
            }
            // The server may ask for a document the device no longer holds (purged): skipped.
            // Any other failure to read it is the store's, and is reported.
            match self.heads(id) {
                Ok(_) => ids.push((id.clone(), Vec::new())),
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        ids.retain(|(id, _)| !skip.contains(id));
        let mut out = Vec::with_capacity(ids.len());
        let mut bytes = 0;
        for (n, (id, acked)) in ids.iter().enumerate() {
            if bytes >= budget {
                return Ok((out, n < ids.len()));
            }
            let changes = self.changes_since(id, acked)?;
            bytes += changes.changes.len();
            let heads = self.heads(id)?;
            out.push(PushDoc {
                id: changes.id,
                kind: changes.kind,
                case_id: changes.case_id,
                heads: to_hashes(&heads),
                changes: changes.changes,
            });
        }
        Ok((out, false))
    }

    /// Heads of every document, for the repair exchange.
    pub fn heads_for_check(&self) -> Result<BTreeMap<String, Vec<ChangeHash>>> {
        self.all_heads()
    }

    /// Imports documents received from the server. A document that had no changes waiting to be
    /// pushed is marked acknowledged at its new heads (the server holds all of it); one with
    /// local changes keeps its acknowledgement, so they are still pushed.
    pub fn receive(&mut self, docs: &[DocChanges]) -> Result<super::ImportReport> {
        let mut in_sync_before = HashSet::new();
        for d in docs {
            let row: Option<(Vec<u8>, Option<Vec<u8>>)> = self
                .conn
                .query_row("SELECT heads, acked_heads FROM documents WHERE id = ?1", [&d.id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            match row {
                None => {
                    in_sync_before.insert(d.id.clone());
                }
                Some((heads, Some(acked))) if heads == acked => {
                    in_sync_before.insert(d.id.clone());
                }
                _ => {}
            }
        }
        let batch: Vec<super::DocumentChanges> = docs
            .iter()
            .map(|d| super::DocumentChanges {
                id: d.id.clone(),
                kind: d.kind,
                case_id: d.case_id.clone(),
                changes: d.changes.clone(),
            })
            .collect();
        let report = self.import(&batch)?;
        let now = self.now().to_rfc3339();
        let tx = self.conn.transaction()?;
        for id in report.created.iter().chain(&report.updated) {
            if in_sync_before.contains(id) {
                tx.execute(
                    "UPDATE documents SET acked_heads = heads, acked_at = ?2 WHERE id = ?1",
                    params![id, now],
                )?;
            }
        }
        tx.commit()?;
        Ok(report)
    }

    /// Removes every trace of a case from the device: documents, change chunks, snapshots,
    /// projections and the case row (SQLite's secure delete overwrites the freed pages).
    /// Returns the number of documents removed.
    pub fn purge_case(&mut self, case_id: &str) -> Result<usize> {
        let ids: Vec<String> = {
            let mut stmt = self.conn.prepare("SELECT id FROM documents WHERE case_id = ?1")?;
            let ids = stmt.query_map([case_id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            ids
        };
        self.write(|tx| {
            tx.execute("DELETE FROM cases WHERE case_id = ?1", [case_id])?;
            tx.execute("DELETE FROM documents WHERE case_id = ?1", [case_id])?;
            Ok(())
        })?;
        for id in &ids {
            self.cache.pop(id);
        }
        // Checkpoint so the WAL no longer holds the purged pages either.
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(ids.len())
    }

    /// Whether the council has received a record's latest changes.
    pub fn delivery(&self, id: &str) -> Result<Delivery> {
        let row: Option<DeliveryRow> = self
            .conn
            .query_row(
                "SELECT heads, acked_heads, acked_at FROM documents WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        match row {
            None => Err(Error::NotFound { id: id.into() }),
            Some((heads, Some(acked), Some(at))) if heads == acked => Ok(Delivery::Received {
                at: DateTime::parse_from_rfc3339(&at).map(|t| t.with_timezone(&Utc)).map_err(
                    |_| Error::CorruptDocument { reason: "acknowledgement time".into() },
                )?,
            }),
            Some(_) => Ok(Delivery::OnDeviceOnly),
        }
    }

    /// How many records have changes not yet received by the server.
    pub fn pending_count(&self) -> Result<usize> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM documents WHERE acked_heads IS NULL OR acked_heads != heads",
            [],
            |r| r.get(0),
        )?;
        Ok(n as usize)
    }

    /// How many records have conflicted fields to resolve.
    pub fn conflicted_count(&self) -> Result<usize> {
        let n: i64 =
            self.conn
                .query_row("SELECT count(*) FROM records WHERE conflicts > 0", [], |r| r.get(0))?;
        Ok(n as usize)
    }

    /// The kind of a stored document, if any.
    pub fn kind_of(&self, id: &str) -> Result<Option<RecordKind>> {
        let kind: Option<String> = self
            .conn
            .query_row("SELECT kind FROM documents WHERE id = ?1", params![id], |r| r.get(0))
            .optional()?;
        kind.map(|k| {
            RecordKind::from_code(&k).map_err(|e| Error::CorruptDocument { reason: e.to_string() })
        })
        .transpose()
    }
}

/// A document's own heads, the heads the server acknowledged, and when.
type DeliveryRow = (Vec<u8>, Option<Vec<u8>>, Option<String>);

#[cfg(test)]
impl Store {
    /// Tests only: damages the database in a chosen way, to prove an error is not misread.
    pub(crate) fn execute_batch_for_tests(&self, sql: &str) -> Result<()> {
        Ok(self.conn.execute_batch(sql)?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::collections::HashSet;

    use chrono::DateTime;

    use crate::error::Error;
    use crate::records::{RecordBody, Visit, VisitKind};
    use crate::Store;

    fn store_with_visit(dir: &tempfile::TempDir) -> (Store, String) {
        let mut store = Store::open(dir.path().join("s.db"), &[3u8; 32], "w1", "tablet-1").unwrap();
        let instant = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let body = RecordBody::Visit(Visit::new(VisitKind::ChildProtection, instant));
        let id = store.create_record("case-1", &body).unwrap();
        (store, id)
    }

    /// A failing read of the documents table is an error, not "this document is new" (which
    /// loaded the incoming changes alone as a fresh document).
    #[test]
    fn a_database_error_is_not_read_as_a_new_document() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, id) = store_with_visit(&dir);
        let changes = store.changes_since(&id, &[]).unwrap();
        // Every read of `documents` now fails with an error of SQLite's own.
        store
            .execute_batch_for_tests(
                "ALTER TABLE documents RENAME TO documents_real;
                 CREATE VIEW documents AS SELECT * FROM documents_real WHERE json('{') IS NULL;",
            )
            .unwrap();
        let report = store.import(&[changes]).unwrap();
        assert!(report.created.is_empty(), "{report:?}");
        assert_eq!(report.rejected.len(), 1, "{report:?}");
        assert_eq!(report.rejected[0].0, id);
        assert!(report.rejected[0].1.contains("malformed JSON"), "{report:?}");
    }

    /// A document the server asks for in full that cannot be read is the store's error, not
    /// "the device does not hold it" (which silently left the server without it).
    #[test]
    fn an_unreadable_document_asked_for_in_full_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, id) = store_with_visit(&dir);
        store
            .execute_batch_for_tests(&format!(
                "UPDATE documents SET heads = X'00', acked_heads = X'00' WHERE id = '{id}'"
            ))
            .unwrap();
        let send_all: HashSet<String> = [id].into_iter().collect();
        let err = store.pending_pushes(&send_all, &HashSet::new(), 1 << 20).unwrap_err();
        assert!(matches!(err, Error::CorruptDocument { .. }), "{err}");
        // One the device does not hold at all (purged) is skipped, as before.
        let gone: HashSet<String> = ["not-here".to_string()].into_iter().collect();
        store.execute_batch_for_tests("UPDATE documents SET heads = acked_heads").unwrap();
        assert!(store.pending_pushes(&gone, &HashSet::new(), 1 << 20).is_ok());
    }
}
