//! The audit bundle (issue #16): everything needed to check a record's or a case's history
//! without trusting the server that kept it, in one JSON file, and the pure verifier of it.
//!
//! A bundle holds, per record, every change as Automerge wrote it (its raw bytes, base64) with
//! the SHA-256 hash Automerge names it by, the change's Ed25519 signature (RFC 8032), the signed
//! key events that bound each device key to a worker, the server's public key, the server's
//! receipts where a device held them, and a timeline of who changed which field when. Every
//! binary value is lowercase hex (keys, hashes, signatures) or standard base64 with padding
//! (change bytes), so the checks can be redone with any SHA-256, Ed25519 and JSON tool:
//! docs/audit.md writes out each field and each signed message.
//!
//! No I/O here: `fieldbook audit export` (cli/) gathers the parts from the server's storage,
//! `timeline::build` derives the timeline, and `verify::verify` checks a bundle.

pub mod timeline;
pub mod verify;

use serde::{Deserialize, Serialize};

pub use timeline::{FieldDiff, RecordTimeline, TimelineEntry};
pub use verify::{verify, Check, Failure, Report};

/// The format name and version every bundle starts with.
pub const FORMAT: &str = "fieldbook-audit/v1";

/// The largest bundle `Bundle::from_json` reads: a case with years of records is some megabytes;
/// anything near this is not a bundle Fieldbook wrote.
pub const MAX_BUNDLE_BYTES: usize = 256 * 1024 * 1024;

/// What the bundle covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One record (document id).
    Record(String),
    /// Every record of a case.
    Case(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    /// Always `FORMAT`.
    pub format: String,
    pub scope: Scope,
    /// RFC 3339, the exporting machine's clock (informative, not signed).
    pub exported_at: String,
    /// The server's Ed25519 public key, hex: it signs key events, receipts, and the changes it
    /// makes on someone's behalf. A verifier should compare it with the key the council
    /// publishes (`fieldbook audit verify --server-key`).
    pub server_key: String,
    pub records: Vec<BundleRecord>,
    /// Every key registration and revocation the server logged, in the order logged.
    pub key_events: Vec<BundleKeyEvent>,
    /// Who changed which field when, per record, derived from the changes (and checked against
    /// them by the verifier).
    pub timeline: Vec<RecordTimeline>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRecord {
    pub id: String,
    pub case_id: String,
    /// `visit`, `assessment`, `case_note`, `case_summary`, ...
    pub kind: String,
    /// Every stored change, in the order the server stored them.
    pub changes: Vec<BundleChange>,
    /// The server's receipts of this record held by the device the export read (may be empty).
    #[serde(default)]
    pub receipts: Vec<BundleReceipt>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleChange {
    /// The Automerge change hash as stored, hex: SHA-256 of the change chunk.
    pub hash: String,
    /// The change chunk (`Change::raw_bytes`), standard base64.
    pub bytes: String,
    /// `None` when the server holds no signature for it (the verifier fails such a change).
    pub signature: Option<BundleSignature>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleSignature {
    /// The signing public key, hex.
    pub key: String,
    /// The Ed25519 signature, hex (64 bytes).
    pub sig: String,
    /// Set on a change the server made on someone's behalf (`manager:<subject>`,
    /// `integration:<subject>`); part of the signed message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acting: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleReceipt {
    /// The record the receipt is for (the receipt's `doc`).
    pub doc: String,
    /// The heads acknowledged, hex, sorted.
    pub heads: Vec<String>,
    pub received_at: String,
    pub device: String,
    /// The server key that signed it, hex.
    pub key: String,
    pub sig: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleKeyEvent {
    /// `registered` or `revoked`.
    pub event: String,
    /// The device's public key, hex.
    pub key: String,
    pub worker: String,
    pub device: String,
    pub at: String,
    /// The registering token's fingerprint, or the revoking operator.
    pub by: String,
    pub server_key: String,
    pub sig: String,
}

impl BundleSignature {
    pub fn of(sig: &crate::protocol::ChangeSignature) -> Self {
        Self { key: sig.key.to_hex(), sig: hex::encode(sig.sig.0), acting: sig.acting.clone() }
    }
}

impl BundleReceipt {
    pub fn of(r: &crate::protocol::Receipt) -> Self {
        Self {
            doc: r.doc.clone(),
            heads: r.heads.iter().map(|h| hex::encode(h.0)).collect(),
            received_at: r.received_at.clone(),
            device: r.device.clone(),
            key: r.key.to_hex(),
            sig: hex::encode(r.sig.0),
        }
    }
}

impl BundleKeyEvent {
    pub fn of(e: &crate::protocol::KeyEvent) -> Self {
        Self {
            event: e.event.clone(),
            key: e.key.to_hex(),
            worker: e.worker.clone(),
            device: e.device.clone(),
            at: e.at.clone(),
            by: e.by.clone(),
            server_key: e.server_key.to_hex(),
            sig: hex::encode(e.sig.0),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("the bundle is {size} bytes, more than the {limit} an audit bundle may be")]
    TooLarge { size: usize, limit: usize },
    #[error("the bundle is not valid JSON of the audit format: {0}")]
    Malformed(String),
}

impl Bundle {
    /// Reads a bundle, refusing anything over `MAX_BUNDLE_BYTES` before parsing.
    pub fn from_json(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge { size: bytes.len(), limit: MAX_BUNDLE_BYTES });
        }
        // serde_json's message names a position and what it expected, never the values.
        serde_json::from_slice(bytes).map_err(|e| BundleError::Malformed(e.to_string()))
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Plain data: serialising cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

/// Standard base64 with padding (RFC 4648 §4), as change bytes are written.
pub fn encode_bytes(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn decode_bytes(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// 32 bytes from 64 hex characters.
pub fn decode_32(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

/// 64 bytes from 128 hex characters.
pub fn decode_64(text: &str) -> Option<[u8; 64]> {
    hex::decode(text).ok()?.try_into().ok()
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
