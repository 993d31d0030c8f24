//! Attachments on the wire (docs/PROTOCOL.md, "Attachments"): the bytes of photos, signature
//! images and audio travel apart from the documents, on their own resumable HTTP channel, named by
//! their SHA-256. This module holds what client and server share (paths, bounds, the status
//! body); `client` is the device's side (uploads after a sync, fetch on open).

#[cfg(feature = "sync-client")]
pub mod client;

use serde::{Deserialize, Serialize};

/// Bytes of one upload request's body at most. The server refuses more (413) before reading it.
pub const MAX_CHUNK_BYTES: usize = 1024 * 1024;

/// The chunk the client sends by default: a lost connection costs at most this much again.
pub const DEFAULT_CHUNK_BYTES: usize = 256 * 1024;

/// The server's default cap on one attachment (configurable: `--max-attachment-bytes`).
pub const DEFAULT_MAX_ATTACHMENT_BYTES: u64 = 25 * 1024 * 1024;

/// What the server holds of an upload: `GET /v1/attachments/{hash}/status?record=` and the
/// answer to every `PUT` chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadStatus {
    /// Bytes received so far, from the start: the next `PUT` sends `offset = received`.
    pub received: u64,
    /// The server holds the whole attachment (hash verified) for the record's case.
    pub complete: bool,
}

/// The path of an attachment.
pub fn attachment_path(hash: &str) -> String {
    format!("/v1/attachments/{hash}")
}
