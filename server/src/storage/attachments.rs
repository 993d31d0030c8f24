//! Attachment bytes on the server (docs/PROTOCOL.md, "Attachments"): each attachment is stored
//! once per hash (a duplicate upload stores nothing twice) and linked to every case it was
//! uploaded for; reads go through the link, so access follows the case (`hub::attachments`).
//! An upload in progress is kept as parts per (hash, case) until its last byte arrives and the
//! hash is verified. Both backends pass `server/tests/storage_conformance.rs`.

use async_trait::async_trait;

use super::Result;

#[async_trait]
pub trait AttachmentStorage {
    /// The size of the attachment when it is stored and linked to `case_id`.
    async fn attachment_in_case(&self, hash: &str, case_id: &str) -> Result<Option<u64>>;

    /// The cases the stored attachment is linked to (empty when it is not stored).
    async fn attachment_cases(&self, hash: &str) -> Result<Vec<String>>;

    /// The attachment's bytes, if stored.
    async fn attachment_bytes(&self, hash: &str) -> Result<Option<Vec<u8>>>;

    /// Bytes received so far of the upload of `hash` for `case_id`.
    async fn upload_received(&self, hash: &str, case_id: &str) -> Result<u64>;

    /// Appends `bytes` at `offset` to the upload when `offset` is what it has received (else
    /// nothing is written); returns what it has received afterwards.
    async fn append_upload(
        &self,
        hash: &str,
        case_id: &str,
        offset: u64,
        bytes: Vec<u8>,
    ) -> Result<u64>;

    /// Everything received of the upload, in order.
    async fn upload_bytes(&self, hash: &str, case_id: &str) -> Result<Vec<u8>>;

    /// In one transaction: stores the attachment unless a copy of the same hash is stored already
    /// (then `bytes` are dropped), links it to `case_id`, and removes the upload's parts.
    /// Returns whether the bytes were newly stored.
    async fn complete_upload(&self, hash: &str, case_id: &str, bytes: Vec<u8>) -> Result<bool>;

    /// Removes an upload's parts (its bytes did not match their hash).
    async fn discard_upload(&self, hash: &str, case_id: &str) -> Result<()>;

    /// (attachments stored, their bytes in all): the dedupe tests count them.
    async fn attachment_totals(&self) -> Result<(u64, u64)>;
}
