//! The sync protocol: one POST carries everything a device has that the server has not
//! acknowledged, and brings back everything the worker may see that changed since the device's
//! cursor. Messages are CBOR (through serde), versioned, and every size and count is bounded.
//! `docs/PROTOCOL.md` describes the same thing for someone implementing the server elsewhere.
//!
//! These types are shared by the client (in this crate) and the server (`fieldbook-server`);
//! neither side does any I/O here.

mod codec;
mod listing;
pub mod signing;

use serde::{Deserialize, Serialize};

pub use codec::{decode, encode, DecodeError};
pub use listing::{ListRow, Listing};
pub use signing::{ChangeSignature, KeyEvent, KeyPair, KeyRecord, PublicKey, Receipt, Sig};

use crate::records::RecordKind;

/// The protocol version this build speaks. A server answers 400 with `unsupported_version` to
/// another version; a client refuses a response of another version.
pub const PROTOCOL_VERSION: u32 = 1;

/// The media type of request and response bodies.
pub const CONTENT_TYPE: &str = "application/vnd.fieldbook.sync+cbor";

/// Limits every implementation enforces before and while decoding.
pub mod limits {
    /// A request body (checked before decoding: 413 beyond it).
    pub const MAX_REQUEST_BYTES: usize = 32 * 1024 * 1024;
    /// A response body the client accepts.
    pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
    /// The changes of one document in one message.
    pub const MAX_DOC_CHANGE_BYTES: usize = 8 * 1024 * 1024;
    /// Documents pushed, or heads listed, in one request.
    pub const MAX_DOCS: usize = 10_000;
    /// Heads per document.
    pub const MAX_HEADS: usize = 64;
    /// Length of an id (record, case, device, worker).
    pub const MAX_ID_LEN: usize = 128;
    /// The bound on the changes a device pushes in one request (at least one document is always
    /// sent); the rest follow in further exchanges of the same `sync()`.
    pub const PUSH_BUDGET: usize = 4 * 1024 * 1024;
    /// The default bound on a response's payload; a device may ask for less.
    pub const DEFAULT_RESPONSE_BUDGET: u64 = 4 * 1024 * 1024;
    /// Signatures beside one document's changes (a signature is about 140 bytes; a change at
    /// least a few dozen, so the change bytes bound this first).
    pub const MAX_SIGNATURES: usize = 100_000;
}

/// An Automerge change hash (32 bytes), as a CBOR byte string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Hash(#[serde(with = "serde_bytes_array")] pub [u8; 32]);

mod serde_bytes_array {
    use serde::{de::Error, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        serde_bytes::serialize(v.as_slice(), s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let v: serde_bytes::ByteBuf = serde_bytes::deserialize(d)?;
        v.as_slice().try_into().map_err(|_| D::Error::invalid_length(v.len(), &"32 bytes"))
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// A hash from stored bytes (storage and the wire keep hashes as 32-byte strings).
impl TryFrom<&[u8]> for Hash {
    type Error = std::array::TryFromSliceError;
    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        bytes.try_into().map(Self)
    }
}

impl From<automerge::ChangeHash> for Hash {
    fn from(h: automerge::ChangeHash) -> Self {
        Self(h.0)
    }
}

impl From<Hash> for automerge::ChangeHash {
    fn from(h: Hash) -> Self {
        automerge::ChangeHash(h.0)
    }
}

pub fn to_hashes(heads: &[automerge::ChangeHash]) -> Vec<Hash> {
    heads.iter().copied().map(Hash::from).collect()
}

pub fn to_change_hashes(heads: &[Hash]) -> Vec<automerge::ChangeHash> {
    heads.iter().copied().map(automerge::ChangeHash::from).collect()
}

/// The device's request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    pub version: u32,
    /// The device's id (the worker comes from the access token, never from the body).
    pub device: String,
    /// Position in the server's change feed the device has committed; 0 on first sync.
    pub cursor: u64,
    /// The server's tag of the feed entry at `cursor` (from `next_cursor_tag`). A server that
    /// finds a different entry there has lost history (restored from a backup) and answers with
    /// `resync`.
    #[serde(default)]
    pub cursor_tag: u64,
    /// Every document with changes the server has not acknowledged.
    pub push: Vec<PushDoc>,
    /// Documents whose heads the device wants checked (the repair exchange): the server answers
    /// with what the device lacks and lists in `send_all` what it lacks itself.
    pub check: Vec<DocHeads>,
    /// The most payload bytes the device wants in the response (bounded by the server's own).
    pub response_budget: u64,
    /// The device's current public key (issue #16): registered on first sight, bound to the
    /// worker and device of the token. Absent on the wire when `None` (older requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_key: Option<PublicKey>,
}

/// A pushed document: the one "changes of a document" type, with the heads the device reaches
/// after these changes (acknowledged once the server holds them all).
pub type PushDoc = DocChanges;

/// A document's heads, for the repair exchange (and the acknowledgements).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocHeads {
    pub id: String,
    /// The case the document belongs to, as the sender holds it. A checked document names its
    /// case so that a server that no longer lets the caller see that case can revoke it (after
    /// a restore from a backup older than the allocation, say). Absent on the wire when empty
    /// (older devices, acknowledgements).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub case_id: String,
    pub heads: Vec<Hash>,
}

/// The server's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    pub version: u32,
    /// Pushed documents the server now holds, with the heads acknowledged.
    pub acks: Vec<DocHeads>,
    /// Pushed documents refused, and why (never with content).
    pub rejected: Vec<Rejection>,
    /// Changes to documents the worker may see, from the feed after `cursor` (and, for cases
    /// newly allocated, every change of their documents).
    pub docs: Vec<DocChanges>,
    /// Cases newly allocated to the worker (their documents are in `docs`).
    pub allocated: Vec<String>,
    /// Cases no longer visible to the worker: the device purges them.
    pub revoked: Vec<String>,
    /// Documents the server lacks changes of (repair): the device sends them in full next time.
    pub send_all: Vec<String>,
    /// The cursor to send next time, once everything above is committed.
    pub next_cursor: u64,
    /// The tag of the feed entry at `next_cursor`, sent back with it.
    #[serde(default)]
    pub next_cursor_tag: u64,
    /// The server does not recognise the device's cursor: it was restored from an older backup
    /// (or the device talks to another server). This response starts the feed from the
    /// beginning; the device then sends the heads of all its documents (`check`) so that the
    /// server gets back every change it lost.
    #[serde(default)]
    pub resync: bool,
    /// The response was cut at its budget: ask again with `next_cursor`.
    pub more: bool,
    /// One signed receipt per acknowledgement (issue #16).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub receipts: Vec<Receipt>,
    /// The registrations of the keys that signed the changes in `docs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<KeyRecord>,
    /// The server's public key (it signs receipts and its own changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_key: Option<PublicKey>,
}

/// The changes of one document, in Automerge's binary change format: the one type for them,
/// whoever sends them (a device's push, the server's feed and repair answers, a peer-to-peer
/// export: `Store::export_for` / `Store::import`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocChanges {
    pub id: String,
    pub kind: RecordKind,
    pub case_id: String,
    /// The sender's heads after these changes. A push always names them (the server
    /// acknowledges exactly these); the server's feed and a peer export leave them empty, and
    /// empty heads are absent on the wire, so a response's bytes are what they were before the
    /// types were shared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heads: Vec<Hash>,
    /// Automerge changes (concatenated, as `save_after` produces them).
    #[serde(with = "serde_bytes")]
    pub changes: Vec<u8>,
    /// The signatures of these changes, one per change hash (issue #16): beside the changes,
    /// so the Automerge bytes stay standard. Absent on the wire when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<ChangeSignature>,
    /// From the server only, beside a whole document: its list row at the heads named, so that a
    /// device can list a record it has never loaded (`Listing`). Devices never send one, and the
    /// server ignores one in a push. Absent on the wire when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing: Option<Listing>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub id: String,
    pub reason: RejectReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The case is not, and never was, allocated to the worker.
    NotAllocated,
    /// The document is not a Fieldbook record, or not the one announced.
    Malformed,
    /// The document would move to another case (or its id is already taken by a document the
    /// worker may not see: the same answer, see `docs/PROTOCOL.md`, "Record ids").
    CaseMismatch,
    /// A new change is authored by someone other than the pushing worker.
    WrongAuthor,
    /// Too large for the configured limits.
    TooLarge,
    /// A case summary: only the case system writes those.
    ReadOnly,
    /// A visit, assessment or note whose id is not a device record id (a v4 UUID): devices
    /// never create documents outside their namespace (`records::ids`).
    InvalidId,
    /// A new change carries no signature (issue #16).
    Unsigned,
    /// A new change's signature does not verify, or its key is not registered to its author.
    BadSignature,
    /// A new change is signed by a key an operator revoked.
    RevokedKey,
}

/// An error body (CBOR on the sync endpoint, JSON elsewhere): every error the server answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// A stable code: `unauthorized`, `forbidden`, `invalid`, `malformed`, `too_large`,
    /// `unsupported_media_type`, `not_found`, `method_not_allowed`, `internal`, ...
    pub error: String,
    pub message: String,
    /// For an error of the server's hub, its kind (one per `HubError` variant): `forbidden`,
    /// `invalid`, `unprocessable`, `storage`, `corrupt`, `job`. Absent otherwise (and then
    /// absent on the wire, so older bodies are unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The hub's reason: the action a role may not take, the input found invalid, or, for a
    /// server failure, a stable code naming what failed (never record content or a detail
    /// from inside the server; those go to its log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ErrorBody {
    /// A body with a code and a message, no hub kind or reason.
    pub fn new(error: impl Into<String>, message: impl Into<String>) -> Self {
        Self { error: error.into(), message: message.into(), kind: None, reason: None }
    }
}
