//! Attachments on the device: photos, signature images and audio referenced by a record
//! (`records::AttachmentRef`), their bytes content-addressed by SHA-256 and kept in chunk rows of
//! the SQLCipher database — encrypted with the store's key, never in the app's cache or the photo
//! roll — and removed with their record (a purged case takes them along, overwritten by SQLite's
//! secure delete). Each attachment has a delivery state: on this tablet only, or received by the
//! council. Sending and fetching them is the `attachments` client's job (`crate::attachments`).

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::records::{is_attachment_hash, AttachmentRef};

use super::Store;

/// The largest attachment a device stores or sends, whatever the server allows: a phone photo
/// is 2-8 MB, a few minutes of speech a few MB.
pub const MAX_ATTACHMENT_BYTES: usize = 32 * 1024 * 1024;

/// Bytes per chunk row: large enough for few rows, small enough that no single SQLite value is
/// huge (each row is encrypted page by page anyway).
const CHUNK_BYTES: usize = 256 * 1024;

/// Where an attachment's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachmentDelivery {
    /// On this tablet only: the server does not hold it yet.
    OnDeviceOnly,
    /// The council's server holds it (uploaded from this tablet, or fetched from the server).
    Received { at: DateTime<Utc> },
    /// The record refers to it, but its bytes are not on this tablet: opening it fetches them.
    NotOnDevice,
}

/// An attachment waiting to be sent: its record is known to the server, its bytes are not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    pub record_id: String,
    pub case_id: String,
    pub hash: String,
    pub size: u64,
}

/// SHA-256 of `bytes` as attachments are named (64 lowercase hex characters).
pub fn attachment_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Store {
    /// Stores `bytes` as an attachment of record `record_id` (a visit or a case note) and adds
    /// its reference to the record. Committed when this returns; the bytes are sent by the next
    /// sync's attachment upload, after the record.
    pub fn attach(
        &mut self,
        record_id: &str,
        bytes: &[u8],
        media_type: &str,
        caption: &str,
        taken_at: DateTime<Utc>,
    ) -> Result<AttachmentRef> {
        if bytes.len() > MAX_ATTACHMENT_BYTES {
            return Err(Error::TooLarge {
                what: "the attachment",
                size: bytes.len(),
                limit: MAX_ATTACHMENT_BYTES,
            });
        }
        if media_type.is_empty() || media_type.len() > 128 || !media_type.is_ascii() {
            return Err(Error::InvalidInput {
                field: "media_type",
                reason: "must be 1-128 ASCII characters".into(),
            });
        }
        let mut body = self.record(record_id)?.body;
        let reference = AttachmentRef {
            hash: attachment_hash(bytes),
            media_type: media_type.to_string(),
            size: bytes.len() as u64,
            caption: caption.to_string(),
            taken_at,
        };
        let Some(list) = body.attachments_mut() else {
            return Err(Error::InvalidInput {
                field: "record_id",
                reason: "only visits and case notes carry attachments".into(),
            });
        };
        if !list.iter().any(|a| a.hash == reference.hash) {
            list.push(reference.clone());
        }
        self.put_attachment_bytes(record_id, &reference, "local", None, bytes)?;
        if let Err(e) = self.update_record(record_id, &body) {
            // The reference was not written: the bytes go too, so nothing is left unreferenced.
            self.write(|tx| {
                tx.execute(
                    "DELETE FROM attachments WHERE record_id = ?1 AND hash = ?2",
                    params![record_id, reference.hash],
                )?;
                Ok(())
            })?;
            return Err(e);
        }
        Ok(reference)
    }

    /// Writes an attachment's bytes (replacing any earlier copy) in one transaction.
    fn put_attachment_bytes(
        &mut self,
        record_id: &str,
        reference: &AttachmentRef,
        state: &str,
        delivered_at: Option<DateTime<Utc>>,
        bytes: &[u8],
    ) -> Result<()> {
        let delivered_at = delivered_at.map(|t| t.to_rfc3339());
        self.write(|tx| {
            tx.execute(
                "DELETE FROM attachments WHERE record_id = ?1 AND hash = ?2",
                params![record_id, reference.hash],
            )?;
            tx.execute(
                "INSERT INTO attachments (record_id, hash, media_type, size, state, delivered_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    record_id,
                    reference.hash,
                    reference.media_type,
                    reference.size as i64,
                    state,
                    delivered_at
                ],
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO attachment_chunks (record_id, hash, seq, data) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (seq, chunk) in bytes.chunks(CHUNK_BYTES).enumerate() {
                insert.execute(params![record_id, reference.hash, seq as i64, chunk])?;
            }
            Ok(())
        })
    }

    /// The reference of attachment `hash` in record `record_id`, as the record holds it.
    pub fn attachment_ref(&mut self, record_id: &str, hash: &str) -> Result<AttachmentRef> {
        let record = self.record(record_id)?;
        record
            .body
            .attachments()
            .iter()
            .find(|a| a.hash == hash)
            .cloned()
            .ok_or_else(|| Error::NotFound { id: format!("attachment of {record_id}") })
    }

    /// The bytes of an attachment, if they are on this tablet.
    pub fn attachment_bytes(&self, record_id: &str, hash: &str) -> Result<Option<Vec<u8>>> {
        let size: Option<i64> = self
            .conn
            .query_row(
                "SELECT size FROM attachments WHERE record_id = ?1 AND hash = ?2",
                params![record_id, hash],
                |r| r.get(0),
            )
            .optional()?;
        let Some(size) = size else { return Ok(None) };
        let mut out =
            Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(MAX_ATTACHMENT_BYTES));
        let mut stmt = self.conn.prepare_cached(
            "SELECT data FROM attachment_chunks WHERE record_id = ?1 AND hash = ?2 ORDER BY seq",
        )?;
        let mut rows = stmt.query(params![record_id, hash])?;
        while let Some(row) = rows.next()? {
            let chunk: Vec<u8> = row.get(0)?;
            out.extend_from_slice(&chunk);
        }
        // Bytes that no longer hash to their name are damage, never shown as the photo.
        if attachment_hash(&out) != hash {
            return Err(Error::CorruptDocument { reason: "an attachment's bytes".into() });
        }
        Ok(Some(out))
    }

    /// Stores bytes fetched from the server for an attachment the record refers to, after
    /// checking them against the reference's hash.
    pub fn store_fetched_attachment(
        &mut self,
        record_id: &str,
        hash: &str,
        bytes: &[u8],
    ) -> Result<()> {
        let reference = self.attachment_ref(record_id, hash)?;
        if attachment_hash(bytes) != reference.hash {
            return Err(Error::CorruptDocument { reason: "fetched attachment hash".into() });
        }
        let now = self.now();
        self.put_attachment_bytes(record_id, &reference, "fetched", Some(now), bytes)
    }

    /// Where attachment `hash` of record `record_id` is.
    pub fn attachment_delivery(
        &mut self,
        record_id: &str,
        hash: &str,
    ) -> Result<AttachmentDelivery> {
        let row: Option<(String, Option<String>)> = self
            .conn
            .query_row(
                "SELECT state, delivered_at FROM attachments WHERE record_id = ?1 AND hash = ?2",
                params![record_id, hash],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            None => {
                // Known from the record only: its bytes are on the server (or on the tablet that
                // took it, not yet sent).
                self.attachment_ref(record_id, hash)?;
                Ok(AttachmentDelivery::NotOnDevice)
            }
            Some((state, Some(at))) if state != "local" => Ok(AttachmentDelivery::Received {
                at: DateTime::parse_from_rfc3339(&at).map(|t| t.with_timezone(&Utc)).map_err(
                    |_| Error::CorruptDocument { reason: "attachment delivery time".into() },
                )?,
            }),
            Some(_) => Ok(AttachmentDelivery::OnDeviceOnly),
        }
    }

    /// Attachments on this tablet only whose record the server already holds (acknowledged at
    /// least once), oldest record first: what the upload after a sync sends.
    pub fn pending_uploads(&self) -> Result<Vec<PendingUpload>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT a.record_id, d.case_id, a.hash, a.size FROM attachments a
             JOIN documents d ON d.id = a.record_id
             WHERE a.state = 'local' AND d.acked_heads IS NOT NULL
             ORDER BY d.updated_at, a.record_id, a.hash",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(PendingUpload {
                    record_id: r.get(0)?,
                    case_id: r.get(1)?,
                    hash: r.get(2)?,
                    size: r.get::<_, i64>(3)? as u64,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Attachments on this tablet only (their record acknowledged or not).
    pub fn local_only_attachments(&self) -> Result<usize> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM attachments WHERE state = 'local'",
            [],
            |r| r.get(0),
        )?;
        Ok(n as usize)
    }

    /// Records that the server holds attachment `hash` of record `record_id`.
    pub fn mark_attachment_delivered(&mut self, record_id: &str, hash: &str) -> Result<()> {
        if !is_attachment_hash(hash) {
            return Err(Error::InvalidInput { field: "hash", reason: "not a SHA-256 hash".into() });
        }
        let now = self.now().to_rfc3339();
        self.write(|tx| {
            tx.execute(
                "UPDATE attachments SET state = 'delivered', delivered_at = ?3
                 WHERE record_id = ?1 AND hash = ?2",
                params![record_id, hash, now],
            )?;
            Ok(())
        })
    }

    /// The number of attachment chunk rows on the device (tests check a purge leaves none).
    pub fn attachment_chunk_rows(&self) -> Result<usize> {
        let n: i64 =
            self.conn.query_row("SELECT count(*) FROM attachment_chunks", [], |r| r.get(0))?;
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::records::{CaseNote, CaseNoteCategory, RecordBody, Visit, VisitKind};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open_with_key_bytes(dir.path().join("s.db"), &[7u8; 32], "w", "d").unwrap();
        (dir, store)
    }

    fn photo(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn attach_stores_bytes_and_reference() {
        let (_d, mut store) = store();
        let id = store
            .create_record(
                "case-1",
                &RecordBody::Visit(Visit::new(VisitKind::ChildInNeed, Utc::now())),
            )
            .unwrap();
        let bytes = photo(600_000);
        let r = store.attach(&id, &bytes, "image/jpeg", "front door", Utc::now()).unwrap();
        assert_eq!(r.hash, attachment_hash(&bytes));
        assert_eq!(store.record(&id).unwrap().body.attachments(), std::slice::from_ref(&r));
        assert_eq!(store.attachment_bytes(&id, &r.hash).unwrap(), Some(bytes));
        assert_eq!(store.attachment_chunk_rows().unwrap(), 3);
        assert_eq!(
            store.attachment_delivery(&id, &r.hash).unwrap(),
            AttachmentDelivery::OnDeviceOnly
        );
        // Not acknowledged yet: nothing to upload.
        assert!(store.pending_uploads().unwrap().is_empty());
        store.mark_attachment_delivered(&id, &r.hash).unwrap();
        assert!(matches!(
            store.attachment_delivery(&id, &r.hash).unwrap(),
            AttachmentDelivery::Received { .. }
        ));
    }

    #[test]
    fn purging_the_case_removes_attachment_rows() {
        let (_d, mut store) = store();
        let note = CaseNote {
            category: CaseNoteCategory::PhoneCall,
            occurred_at: Utc::now(),
            text: "call".into(),
            attachments: Vec::new(),
        };
        let id = store.create_record("case-1", &RecordBody::CaseNote(note)).unwrap();
        let r = store.attach(&id, &photo(10_000), "audio/mp4", "", Utc::now()).unwrap();
        assert_eq!(store.attachment_chunk_rows().unwrap(), 1);
        store.purge_case("case-1").unwrap();
        assert_eq!(store.attachment_chunk_rows().unwrap(), 0);
        assert!(store.attachment_bytes(&id, &r.hash).unwrap().is_none());
    }

    #[test]
    fn an_attachment_over_the_cap_is_refused_before_anything_is_written() {
        let (_d, mut store) = store();
        let id = store
            .create_record(
                "case-1",
                &RecordBody::Visit(Visit::new(VisitKind::ChildInNeed, Utc::now())),
            )
            .unwrap();
        let err = store
            .attach(&id, &vec![0u8; MAX_ATTACHMENT_BYTES + 1], "image/jpeg", "", Utc::now())
            .unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }));
        assert_eq!(store.attachment_chunk_rows().unwrap(), 0);
        assert!(store.record(&id).unwrap().body.attachments().is_empty());
    }
}
