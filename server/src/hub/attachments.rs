//! Who may send and fetch which attachment (docs/PROTOCOL.md, "Attachments"). An attachment
//! belongs to a case through the record that refers to it: a device uploads for one of its
//! records (in a case it may write, as for a push), and the upload completes only when that record
//! refers to the hash and the bytes hash to it. A fetch is answered when the attachment is linked
//! to a case the caller may see now (the case system: any). Everything else — an unknown record,
//! a record of another worker's case, an unknown hash, a hash of another case — is the same
//! `NotFound`: no existence oracle, as for records (`hub`).

use fieldbook_core::attachments::UploadStatus;
use fieldbook_core::document::RecordDoc;
use fieldbook_core::records::{id_fits, is_attachment_hash};
use fieldbook_core::store::attachments::attachment_hash;
use thiserror::Error;

use super::{audience_of, doc_from_changes, stored_changes, Hub, HubError, Job};
use crate::auth::{Identity, Role};
use crate::storage::DocInfo;

#[derive(Debug, Error)]
pub enum AttachmentRefusal {
    /// Unknown, or not the caller's: the two are never told apart.
    #[error("no such attachment")]
    NotFound,
    #[error("this role may not {0}")]
    Forbidden(&'static str),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("the attachment is {size} bytes, over the server's limit of {limit}")]
    TooLarge { size: u64, limit: u64 },
    /// The bytes received do not hash to the name they were sent under: nothing was stored.
    #[error("the bytes received do not match the attachment's hash")]
    HashMismatch,
    #[error(transparent)]
    Hub(#[from] HubError),
}

impl From<crate::storage::StorageError> for AttachmentRefusal {
    fn from(e: crate::storage::StorageError) -> Self {
        Self::Hub(HubError::Storage(e))
    }
}

/// An upload the caller may make: the record's case, checked.
#[derive(Debug, Clone)]
pub struct UploadTarget {
    hash: String,
    record: DocInfo,
}

impl Hub {
    /// Checks that `who` may upload attachment `hash` for record `record_id`, before any byte
    /// of the body is read.
    pub async fn upload_target(
        &self,
        who: &Identity,
        hash: &str,
        record_id: &str,
    ) -> Result<UploadTarget, AttachmentRefusal> {
        if !matches!(who.role, Role::Worker | Role::Manager) {
            return Err(AttachmentRefusal::Forbidden("upload attachments"));
        }
        if !is_attachment_hash(hash) {
            return Err(AttachmentRefusal::Invalid("an attachment is named by its SHA-256".into()));
        }
        let audience = audience_of(who)?;
        let storage = self.storage.as_ref();
        // An id of the wrong shape cannot name a record anyone holds: the same answer.
        if record_id.is_empty() || record_id.len() > 128 {
            return Err(AttachmentRefusal::NotFound);
        }
        let Some(info) = storage.doc_info(record_id).await? else {
            return Err(AttachmentRefusal::NotFound);
        };
        if id_fits(info.kind, &info.case_id, &info.id).is_err() {
            return Err(AttachmentRefusal::NotFound);
        }
        let visible = storage.visible_cases(&audience).await?;
        let may_write = visible.contains(&info.case_id)
            || (who.role == Role::Worker
                && storage.ever_allocated(&who.subject, &info.case_id).await?);
        if !may_write {
            return Err(AttachmentRefusal::NotFound);
        }
        Ok(UploadTarget { hash: hash.to_string(), record: info })
    }

    /// How much of the upload the server holds.
    pub async fn upload_status(
        &self,
        target: &UploadTarget,
    ) -> Result<UploadStatus, AttachmentRefusal> {
        let storage = self.storage.as_ref();
        if let Some(size) = storage.attachment_in_case(&target.hash, &target.record.case_id).await?
        {
            return Ok(UploadStatus { received: size, complete: true });
        }
        let received = storage.upload_received(&target.hash, &target.record.case_id).await?;
        Ok(UploadStatus { received, complete: false })
    }

    /// Appends one chunk at `offset` of an attachment of `size` bytes (checked against `limit`
    /// by the caller before the body was read). A chunk at another offset than the server holds
    /// writes nothing; the answer says where to go on. The last chunk completes the upload:
    /// the record must refer to the hash and the bytes must hash to it, or nothing is stored.
    pub async fn upload_chunk(
        &self,
        target: &UploadTarget,
        offset: u64,
        size: u64,
        bytes: Vec<u8>,
    ) -> Result<UploadStatus, AttachmentRefusal> {
        let storage = self.storage.as_ref();
        let case = &target.record.case_id;
        let status = self.upload_status(target).await?;
        if status.complete {
            // A duplicate upload: already held for this case, nothing is stored again.
            return Ok(status);
        }
        let end = offset.checked_add(bytes.len() as u64);
        if end.is_none_or(|end| end > size) || size == 0 {
            return Err(AttachmentRefusal::Invalid("the chunk ends past the attachment".into()));
        }
        let received = storage.append_upload(&target.hash, case, offset, bytes).await?;
        if received < size {
            return Ok(UploadStatus { received, complete: false });
        }
        if received > size {
            // Parts from an earlier upload that announced another size: start again.
            storage.discard_upload(&target.hash, case).await?;
            return Ok(UploadStatus { received: 0, complete: false });
        }
        if !self.record_refers_to(target).await? {
            storage.discard_upload(&target.hash, case).await?;
            return Err(AttachmentRefusal::NotFound);
        }
        let all = storage.upload_bytes(&target.hash, case).await?;
        let expected = target.hash.clone();
        let (all, matches) = tokio::task::spawn_blocking(move || {
            let matches = attachment_hash(&all) == expected;
            (all, matches)
        })
        .await
        .map_err(|e| HubError::Job(e.to_string()))?;
        if !matches {
            storage.discard_upload(&target.hash, case).await?;
            return Err(AttachmentRefusal::HashMismatch);
        }
        let newly = storage.complete_upload(&target.hash, case, all).await?;
        tracing::info!(size, stored = newly, "attachment upload complete");
        Ok(UploadStatus { received: size, complete: true })
    }

    /// Whether the record (as the server holds it) refers to the attachment.
    async fn record_refers_to(&self, target: &UploadTarget) -> Result<bool, AttachmentRefusal> {
        let stored = stored_changes(self.storage.as_ref(), &target.record.id).await?;
        let id = target.record.id.clone();
        let hash = target.hash.clone();
        let refers = self
            .pool
            .run(Job::Attachment, move || {
                doc_from_changes(&id, &stored).and_then(|doc| {
                    RecordDoc::from_doc(doc)
                        .map(|d| d.body().attachments().iter().any(|a| a.hash == hash))
                        .map_err(|e| HubError::Corrupt(format!("document {id}: {e}")))
                })
            })
            .await??;
        Ok(refers)
    }

    /// The bytes of attachment `hash`, for a caller who may see a case it belongs to.
    pub async fn attachment(
        &self,
        who: &Identity,
        hash: &str,
    ) -> Result<Vec<u8>, AttachmentRefusal> {
        if !matches!(who.role, Role::Worker | Role::Manager | Role::Integration) {
            return Err(AttachmentRefusal::Forbidden("read attachments"));
        }
        if !is_attachment_hash(hash) {
            return Err(AttachmentRefusal::NotFound);
        }
        let storage = self.storage.as_ref();
        let cases = storage.attachment_cases(hash).await?;
        let allowed = match who.role {
            Role::Integration => !cases.is_empty(),
            _ => {
                let visible = storage.visible_cases(&audience_of(who)?).await?;
                cases.iter().any(|c| visible.contains(c))
            }
        };
        if !allowed {
            return Err(AttachmentRefusal::NotFound);
        }
        storage.attachment_bytes(hash).await?.ok_or(AttachmentRefusal::NotFound)
    }
}
