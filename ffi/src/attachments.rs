//! Attachments in the mobile API: attach a photo, signature image or recording to a visit or case
//! note, open it (fetched from the server the first time when another device took it), see where
//! it is. The bytes are stored encrypted in the store, never in the app's cache or photo roll; they
//! are uploaded after each `sync()` (docs/PROTOCOL.md, "Attachments").

use std::sync::Arc;
use std::time::Duration;

use fieldbook_core::attachments::client::{self as core_client, AttachmentClient};
use fieldbook_core::records::AttachmentRef;
use fieldbook_core::store::attachments as core_store;
use fieldbook_core::sync::AccessTokenProvider;

use crate::guard::{guarded, message, FromPanic};
use crate::observe::RecordChange;
use crate::store::{FieldbookStore, Inner};
use crate::types::instant;

/// Attaching, opening and sending attachments.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum AttachmentError {
    #[error("no such record or attachment")]
    NotFound,
    /// Over the device's cap (`limit` set) or the server's (`limit` unknown).
    #[error("the attachment is too large ({size} bytes)")]
    TooLarge { size: u64, limit: Option<u64> },
    #[error("{field}: {reason}")]
    InvalidInput { field: String, reason: String },
    #[error("this store was opened without a server")]
    NotConfigured,
    #[error("offline")]
    Offline,
    #[error("the transfer was interrupted; it resumes on the next try")]
    Interrupted,
    #[error("no access token")]
    NoToken,
    #[error("the bytes do not match the attachment's hash")]
    HashMismatch,
    #[error("the server refused: {detail}")]
    Server { detail: String },
    #[error("the device's storage is full")]
    StorageFull,
    #[error("storage error: {detail}")]
    Storage { detail: String },
    #[error("{detail}")]
    Internal { detail: String },
}

impl FromPanic for AttachmentError {
    fn from_panic(detail: String) -> Self {
        Self::Internal { detail }
    }
}

impl From<fieldbook_core::Error> for AttachmentError {
    fn from(e: fieldbook_core::Error) -> Self {
        use fieldbook_core::Error as E;
        match e {
            E::NotFound { .. } => Self::NotFound,
            E::TooLarge { size, limit, .. } => {
                Self::TooLarge { size: size as u64, limit: Some(limit as u64) }
            }
            E::InvalidInput { field, reason } => Self::InvalidInput { field: field.into(), reason },
            E::StorageFull => Self::StorageFull,
            // Core errors name fields and checks, never record content.
            other => Self::Storage { detail: other.to_string() },
        }
    }
}

impl From<core_client::AttachmentError> for AttachmentError {
    fn from(e: core_client::AttachmentError) -> Self {
        use core_client::AttachmentError as E;
        match e {
            E::Offline(_) => Self::Offline,
            E::Interrupted(_) => Self::Interrupted,
            E::TooLarge { size, limit } => Self::TooLarge { size, limit },
            E::NotFound => Self::NotFound,
            E::HashMismatch => Self::HashMismatch,
            E::NoToken => Self::NoToken,
            E::Refused { status, error } => Self::Server { detail: format!("{status} {error}") },
            E::Store(e) => e.into(),
        }
    }
}

/// Where an attachment's bytes are.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum AttachmentDelivery {
    /// On this tablet only: not yet received by the council.
    OnDeviceOnly,
    /// The council's server holds it.
    Received { at_ms: i64 },
    /// Taken on another device: opening it fetches it.
    NotOnDevice,
}

impl From<core_store::AttachmentDelivery> for AttachmentDelivery {
    fn from(d: core_store::AttachmentDelivery) -> Self {
        match d {
            core_store::AttachmentDelivery::OnDeviceOnly => Self::OnDeviceOnly,
            core_store::AttachmentDelivery::Received { at } => {
                Self::Received { at_ms: at.timestamp_millis() }
            }
            core_store::AttachmentDelivery::NotOnDevice => Self::NotOnDevice,
        }
    }
}

/// One attachment of a record.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AttachmentInfo {
    /// SHA-256 of the bytes (its name everywhere).
    pub hash: String,
    pub media_type: String,
    pub size: u64,
    pub caption: String,
    pub taken_at_ms: i64,
    pub delivery: AttachmentDelivery,
}

impl AttachmentInfo {
    fn of(r: &AttachmentRef, delivery: AttachmentDelivery) -> Self {
        Self {
            hash: r.hash.clone(),
            media_type: r.media_type.clone(),
            size: r.size,
            caption: r.caption.clone(),
            taken_at_ms: r.taken_at.timestamp_millis(),
            delivery,
        }
    }
}

/// What an upload round did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AttachmentUploadReport {
    pub uploaded: u32,
    /// Bytes sent (a chunk cut off in flight counts in full).
    pub bytes_sent: u64,
    /// Attachments left on the tablet for the next round.
    pub waiting: u32,
}

/// The attachment client of a store opened with a server.
pub(crate) fn client(
    url: &str,
    tokens: Arc<dyn AccessTokenProvider>,
) -> Result<AttachmentClient, core_client::AttachmentError> {
    AttachmentClient::new(url, tokens, Duration::from_secs(15), Duration::from_secs(120))
}

/// Sends what is pending after a sync; whatever fails waits for the next one (its delivery
/// state says so).
pub(crate) async fn upload_after_sync(inner: &Inner) -> Option<core_client::UploadReport> {
    let client = inner.attachments.as_ref()?;
    let report = client.upload_pending(&inner.store).await;
    if !report.failed.is_empty() {
        tracing::info!(waiting = report.failed.len(), "attachments left for the next sync");
    }
    Some(report)
}

/// Tells the record observers that these records' attachments changed delivery state (a record
/// no longer on the tablet is left out).
async fn notify_delivered<'a>(inner: &Inner, records: impl IntoIterator<Item = &'a str>) {
    let mut changes: Vec<RecordChange> = {
        let store = inner.store.lock().await;
        records
            .into_iter()
            .filter_map(|id| store.record_row(id).ok())
            .map(|row| RecordChange {
                id: row.id,
                kind: row.kind.into(),
                case_id: row.case_id,
                removed: false,
            })
            .collect()
    };
    changes.sort_by(|a, b| a.id.cmp(&b.id));
    changes.dedup_by(|a, b| a.id == b.id);
    inner.records.delivered(changes);
}

/// Runs an async attachment call on its own task: a panic inside becomes an error.
async fn on_task<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, AttachmentError>> + Send + 'static,
) -> Result<T, AttachmentError> {
    match tokio::spawn(work).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => {
            Err(AttachmentError::Internal { detail: message(e.into_panic()) })
        }
        Err(e) => Err(AttachmentError::Internal { detail: e.to_string() }),
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl FieldbookStore {
    /// Attaches `bytes` (a photo, a signature image, a recording) to a visit or case note.
    /// Stored encrypted in the store and committed when this returns; sent after the next sync.
    pub fn attach(
        &self,
        record_id: String,
        bytes: Vec<u8>,
        media_type: String,
        caption: String,
        taken_at_ms: i64,
    ) -> Result<AttachmentInfo, AttachmentError> {
        guarded(|| {
            let taken_at =
                instant(taken_at_ms, "taken_at_ms").map_err(|_| AttachmentError::InvalidInput {
                    field: "taken_at_ms".into(),
                    reason: "not a valid time".into(),
                })?;
            let mut store = self.inner.store.blocking_lock();
            let r = store.attach(&record_id, &bytes, &media_type, &caption, taken_at)?;
            let delivery = store.attachment_delivery(&record_id, &r.hash)?.into();
            Ok(AttachmentInfo::of(&r, delivery))
        })
    }

    /// The attachments of a record, each with where its bytes are.
    pub fn attachments(&self, record_id: String) -> Result<Vec<AttachmentInfo>, AttachmentError> {
        guarded(|| {
            let mut store = self.inner.store.blocking_lock();
            let refs = store.record(&record_id)?.body.attachments().to_vec();
            refs.iter()
                .map(|r| {
                    let delivery = store.attachment_delivery(&record_id, &r.hash)?.into();
                    Ok(AttachmentInfo::of(r, delivery))
                })
                .collect()
        })
    }

    /// Where one attachment's bytes are: on this tablet only, received by the council, or not
    /// on this device yet.
    pub fn attachment_delivery(
        &self,
        record_id: String,
        hash: String,
    ) -> Result<AttachmentDelivery, AttachmentError> {
        guarded(|| {
            Ok(self.inner.store.blocking_lock().attachment_delivery(&record_id, &hash)?.into())
        })
    }

    /// The bytes of an attachment: from the store, or fetched from the server the first time
    /// (checked against its hash, then kept encrypted). The store stays usable meanwhile.
    pub async fn open_attachment(
        &self,
        record_id: String,
        hash: String,
    ) -> Result<Vec<u8>, AttachmentError> {
        let inner = self.inner.clone();
        on_task(async move {
            if let Some(bytes) = inner.store.lock().await.attachment_bytes(&record_id, &hash)? {
                return Ok(bytes);
            }
            let client = inner.attachments.as_ref().ok_or(AttachmentError::NotConfigured)?;
            let bytes = client.open(&inner.store, &record_id, &hash).await?;
            // Fetched and kept: the attachment's delivery state changed on this tablet.
            notify_delivered(&inner, [record_id.as_str()]).await;
            Ok(bytes)
        })
        .await
    }

    /// Sends the attachments waiting on this tablet whose records the server holds (`sync()`
    /// does this after every sync; call it to retry sooner).
    pub async fn upload_attachments(&self) -> Result<AttachmentUploadReport, AttachmentError> {
        let inner = self.inner.clone();
        on_task(async move {
            let report = upload_after_sync(&inner).await.ok_or(AttachmentError::NotConfigured)?;
            notify_delivered(&inner, report.uploaded.iter().map(|(record, _)| record.as_str()))
                .await;
            Ok(AttachmentUploadReport {
                uploaded: report.uploaded.len() as u32,
                bytes_sent: report.bytes_sent,
                waiting: report.failed.len() as u32,
            })
        })
        .await
    }
}
