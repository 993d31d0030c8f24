//! The device's side of the attachment channel. After a sync, `upload_pending` sends every
//! attachment still on this tablet only whose record the server holds: it asks the server how
//! many bytes it already has, then sends the rest in chunks (`PUT ...?offset=`), so a connection
//! lost at 90% costs at most the one chunk in flight. Opening an attachment on another device
//! (`open`) fetches it then, not with every sync, within a size cap.
//!
//! The store is shared with the app (a tokio mutex, as `sync_shared` does) and locked only to
//! read or write it, never while a request is on the network.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use super::{
    attachment_path, UploadStatus, DEFAULT_CHUNK_BYTES, DEFAULT_MAX_ATTACHMENT_BYTES,
    MAX_CHUNK_BYTES,
};
use crate::protocol::ErrorBody;
use crate::records::is_attachment_hash;
use crate::store::attachments::{attachment_hash, PendingUpload};
use crate::store::Store;
use crate::sync::transport::RetryPolicy;
use crate::sync::AccessTokenProvider;

#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    #[error("offline: {0}")]
    Offline(String),
    #[error("the transfer was interrupted: {0}")]
    Interrupted(String),
    /// Over the cap: this device's on download (`limit` known), the server's on upload (the
    /// server says 413; `limit` is None).
    #[error("the attachment is {size} bytes, over the limit")]
    TooLarge { size: u64, limit: Option<u64> },
    /// The server holds no such attachment for a case this worker may see (or never will: the
    /// answer is the same).
    #[error("the server has no such attachment for this worker")]
    NotFound,
    /// The bytes do not hash to the attachment's name.
    #[error("the attachment's bytes do not match its hash")]
    HashMismatch,
    #[error("no access token")]
    NoToken,
    #[error("the server refused the request ({status} {error})")]
    Refused { status: u16, error: String },
    #[error("store: {0}")]
    Store(#[from] crate::Error),
}

impl AttachmentError {
    /// Worth trying again later (the next sync).
    fn transient(&self) -> bool {
        match self {
            Self::Offline(_) | Self::Interrupted(_) => true,
            Self::Refused { status, .. } => RetryPolicy::retry_status(*status),
            _ => false,
        }
    }
}

/// What one `upload_pending` did.
#[derive(Debug, Default)]
pub struct UploadReport {
    /// (record id, hash) of each attachment the server now holds.
    pub uploaded: Vec<(String, String)>,
    /// Body bytes sent in `PUT` requests (a chunk cut off in flight counts in full).
    pub bytes_sent: u64,
    /// Attachments left on the tablet, with why.
    pub failed: Vec<(String, AttachmentError)>,
}

/// The HTTP client of the attachment channel.
pub struct AttachmentClient {
    http: reqwest::Client,
    base: String,
    tokens: Arc<dyn AccessTokenProvider>,
    chunk: usize,
    max_download: u64,
    retry: RetryPolicy,
}

impl std::fmt::Debug for AttachmentClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachmentClient").field("base", &self.base).finish_non_exhaustive()
    }
}

struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl AttachmentClient {
    /// `base_url` is the server's root, as for the sync client.
    pub fn new(
        base_url: &str,
        tokens: Arc<dyn AccessTokenProvider>,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Self, AttachmentError> {
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .use_rustls_tls()
            .build()
            .map_err(|e| AttachmentError::Offline(format!("client: {e}")))?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            tokens,
            chunk: DEFAULT_CHUNK_BYTES,
            max_download: DEFAULT_MAX_ATTACHMENT_BYTES,
            retry: RetryPolicy::default(),
        })
    }

    /// Bytes per upload request (1 byte to `MAX_CHUNK_BYTES`).
    pub fn with_chunk_bytes(mut self, chunk: usize) -> Self {
        self.chunk = chunk.clamp(1, MAX_CHUNK_BYTES);
        self
    }

    /// The largest attachment this device fetches (`TooLarge` beyond it, before any byte of it
    /// is read).
    pub fn with_max_download(mut self, bytes: u64) -> Self {
        self.max_download = bytes;
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sends every pending attachment (see `Store::pending_uploads`); each one that reaches the
    /// server is marked received. Failures are reported, and the attachment waits for the next
    /// call: nothing is dropped.
    pub async fn upload_pending(&self, store: &Mutex<Store>) -> UploadReport {
        let mut report = UploadReport::default();
        let pending = match store.lock().await.pending_uploads() {
            Ok(p) => p,
            Err(e) => {
                report.failed.push((String::new(), e.into()));
                return report;
            }
        };
        for item in pending {
            match self.upload_one(store, &item, &mut report.bytes_sent).await {
                Ok(()) => {
                    let marked =
                        store.lock().await.mark_attachment_delivered(&item.record_id, &item.hash);
                    match marked {
                        Ok(()) => report.uploaded.push((item.record_id, item.hash)),
                        Err(e) => report.failed.push((item.hash, e.into())),
                    }
                }
                Err(e) => report.failed.push((item.hash, e)),
            }
        }
        report
    }

    /// One attachment, resumed from what the server holds, retrying interruptions.
    async fn upload_one(
        &self,
        store: &Mutex<Store>,
        item: &PendingUpload,
        sent: &mut u64,
    ) -> Result<(), AttachmentError> {
        let bytes = store
            .lock()
            .await
            .attachment_bytes(&item.record_id, &item.hash)?
            .ok_or(AttachmentError::NotFound)?;
        let mut attempt = 0;
        loop {
            match self.send_from_status(item, &bytes, sent).await {
                Ok(()) => return Ok(()),
                Err(AttachmentError::TooLarge { limit: None, .. }) => {
                    return Err(AttachmentError::TooLarge { size: item.size, limit: None })
                }
                Err(e) if e.transient() && attempt + 1 < self.retry.attempts => {
                    attempt += 1;
                    tracing::debug!(attempt, error = %e, "attachment upload interrupted; resuming");
                    tokio::time::sleep(self.retry.delay(attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn send_from_status(
        &self,
        item: &PendingUpload,
        bytes: &[u8],
        sent: &mut u64,
    ) -> Result<(), AttachmentError> {
        let record = &item.record_id;
        let size = bytes.len() as u64;
        let url = format!(
            "{}{}/status?record={record}&size={size}",
            self.base,
            attachment_path(&item.hash)
        );
        let mut status = self.status_of(self.request(reqwest::Method::GET, &url, None).await?)?;
        // Bounded: twice the chunks it takes, should the server move back (a restarted upload).
        let mut requests_left = 2 * (bytes.len() / self.chunk + 2);
        while !status.complete {
            if requests_left == 0 {
                return Err(AttachmentError::Refused { status: 200, error: "no progress".into() });
            }
            requests_left -= 1;
            let from = usize::try_from(status.received).unwrap_or(usize::MAX).min(bytes.len());
            let to = (from + self.chunk).min(bytes.len());
            let chunk = bytes[from..to].to_vec();
            let url = format!(
                "{}{}?record={record}&offset={from}&size={size}",
                self.base,
                attachment_path(&item.hash)
            );
            *sent += chunk.len() as u64;
            status =
                self.status_of(self.request(reqwest::Method::PUT, &url, Some(chunk)).await?)?;
        }
        Ok(())
    }

    fn status_of(&self, answer: Answer) -> Result<UploadStatus, AttachmentError> {
        serde_json::from_slice(&answer.body).map_err(|_| AttachmentError::Refused {
            status: answer.status,
            error: "malformed".into(),
        })
    }

    /// The bytes of attachment `hash` of record `record_id`: from this tablet when they are here,
    /// otherwise fetched from the server (within the download cap, checked against the hash)
    /// and kept, encrypted, for the next time.
    pub async fn open(
        &self,
        store: &Mutex<Store>,
        record_id: &str,
        hash: &str,
    ) -> Result<Vec<u8>, AttachmentError> {
        let reference = {
            let mut store = store.lock().await;
            if let Some(bytes) = store.attachment_bytes(record_id, hash)? {
                return Ok(bytes);
            }
            store.attachment_ref(record_id, hash)?
        };
        if !is_attachment_hash(&reference.hash) {
            return Err(AttachmentError::NotFound);
        }
        if reference.size > self.max_download {
            return Err(AttachmentError::TooLarge {
                size: reference.size,
                limit: Some(self.max_download),
            });
        }
        let url = format!("{}{}", self.base, attachment_path(hash));
        let bytes = self.download(&url).await?;
        if attachment_hash(&bytes) != hash {
            return Err(AttachmentError::HashMismatch);
        }
        store.lock().await.store_fetched_attachment(record_id, hash, &bytes)?;
        Ok(bytes)
    }

    async fn download(&self, url: &str) -> Result<Vec<u8>, AttachmentError> {
        let mut response = self.send(reqwest::Method::GET, url, None).await?;
        let status = response.status().as_u16();
        if status != 200 {
            let body = read_capped(&mut response, 64 * 1024).await.unwrap_or_default();
            return Err(refusal(status, &body));
        }
        if let Some(length) = response.content_length() {
            if length > self.max_download {
                return Err(AttachmentError::TooLarge {
                    size: length,
                    limit: Some(self.max_download),
                });
            }
        }
        read_capped(&mut response, self.max_download).await
    }

    /// One request with a bearer token, asking for a fresh token once on 401; an answer other
    /// than 200 is an error.
    async fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, AttachmentError> {
        let mut response = self.send(method, url, body).await?;
        let status = response.status().as_u16();
        let body = read_capped(&mut response, 64 * 1024).await?;
        if status == 200 {
            Ok(Answer { status, body })
        } else {
            Err(refusal(status, &body))
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> Result<reqwest::Response, AttachmentError> {
        let mut refresh = false;
        loop {
            let token = self.tokens.access_token(refresh).ok_or(AttachmentError::NoToken)?;
            let mut request = self.http.request(method.clone(), url).bearer_auth(token);
            if let Some(body) = &body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(body.clone());
            }
            let response = request.send().await.map_err(|e| {
                // Never the request (its token, the record id) in the message.
                let e = e.without_url();
                if e.is_connect() {
                    AttachmentError::Offline(e.to_string())
                } else {
                    AttachmentError::Interrupted(e.to_string())
                }
            })?;
            if response.status().as_u16() == 401 && !refresh {
                refresh = true;
                continue;
            }
            return Ok(response);
        }
    }
}

fn refusal(status: u16, body: &[u8]) -> AttachmentError {
    let error = serde_json::from_slice::<ErrorBody>(body).map(|b| b.error).unwrap_or_default();
    match (status, error.as_str()) {
        (404, _) => AttachmentError::NotFound,
        (413, _) => AttachmentError::TooLarge { size: 0, limit: None },
        (422, "hash_mismatch") => AttachmentError::HashMismatch,
        _ => AttachmentError::Refused { status, error },
    }
}

/// The body, refusing (before reading past it) anything over `cap` bytes.
async fn read_capped(
    response: &mut reqwest::Response,
    cap: u64,
) -> Result<Vec<u8>, AttachmentError> {
    let mut out = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| AttachmentError::Interrupted(e.without_url().to_string()))?
    {
        if out.len() as u64 + chunk.len() as u64 > cap {
            let size = out.len() as u64 + chunk.len() as u64;
            return Err(AttachmentError::TooLarge { size, limit: Some(cap) });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
