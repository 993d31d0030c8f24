//! The server's signed receipts (issue #16): "received by the council at 14:02" as something the
//! worker can show, and its check on the device. A receipt is the server's Ed25519 signature over
//! the record's id, the heads it acknowledged, when and from which device (docs/PROTOCOL.md,
//! "Receipts"); the app shows it and may hand it on (the hex fields are what another tool checks).

use fieldbook_core::store::ReceiptProblem;
use fieldbook_core::Error as CoreError;

use crate::guard::{guarded, FromPanic};
use crate::store::FieldbookStore;

/// A receipt as the server signed it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Receipt {
    pub record_id: String,
    /// The heads the server acknowledged, 64 hexadecimal characters each, sorted.
    pub heads: Vec<String>,
    /// The server's clock, RFC 3339 (as signed) and in milliseconds since the epoch.
    pub received_at: String,
    pub received_at_ms: i64,
    /// The device that pushed them.
    pub device: String,
    /// The server's Ed25519 public key, 64 hexadecimal characters.
    pub server_key: String,
    /// The Ed25519 signature, 128 hexadecimal characters.
    pub signature: String,
}

impl Receipt {
    fn of(r: fieldbook_core::protocol::Receipt) -> Self {
        let received_at_ms = chrono::DateTime::parse_from_rfc3339(&r.received_at)
            .map(|t| t.timestamp_millis())
            .unwrap_or_default();
        Receipt {
            record_id: r.doc,
            heads: r.heads.iter().map(|h| hex::encode(h.0)).collect(),
            received_at: r.received_at,
            received_at_ms,
            device: r.device,
            server_key: r.key.to_hex(),
            signature: hex::encode(r.sig.0),
        }
    }
}

/// Reading and checking a receipt.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum ReceiptError {
    #[error("no record {id}")]
    NotFound { id: String },
    /// The record was never acknowledged by the server (it is on this tablet only).
    #[error("record {id} has no receipt yet")]
    NoReceipt { id: String },
    /// The receipt is signed by a key this device never received from its server.
    #[error("the receipt is signed by a key this device never received from its server")]
    UnknownServerKey,
    /// The receipt was altered since the server signed it.
    #[error("the receipt's signature does not verify")]
    BadSignature,
    #[error("storage error: {detail}")]
    Storage { detail: String },
    #[error("{detail}")]
    Internal { detail: String },
}

impl FromPanic for ReceiptError {
    fn from_panic(message: String) -> Self {
        Self::Internal { detail: message }
    }
}

impl From<CoreError> for ReceiptError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound { id } => Self::NotFound { id },
            other => Self::Storage { detail: other.to_string() },
        }
    }
}

impl FieldbookStore {
    fn with_receipts<T>(
        &self,
        f: impl FnOnce(&mut fieldbook_core::Store) -> Result<T, ReceiptError>,
    ) -> Result<T, ReceiptError> {
        guarded(|| f(&mut self.inner.store.blocking_lock()))
    }
}

#[uniffi::export]
impl FieldbookStore {
    /// The server's receipt of the record's last acknowledged push, as stored; `None` while the
    /// record is on this tablet only. Not checked: `verify_receipt` checks it.
    pub fn receipt(&self, id: String) -> Result<Option<Receipt>, ReceiptError> {
        self.with_receipts(|store| {
            store.record_row(&id)?;
            Ok(store.receipt(&id)?.map(Receipt::of))
        })
    }

    /// The record's receipt, checked: signed by the server key this device received at sync,
    /// and unaltered. A receipt that fails is `UnknownServerKey` or `BadSignature`.
    pub fn verify_receipt(&self, id: String) -> Result<Receipt, ReceiptError> {
        self.with_receipts(|store| {
            store.record_row(&id)?;
            let check = store
                .verify_receipt(&id)?
                .ok_or_else(|| ReceiptError::NoReceipt { id: id.clone() })?;
            match check.problem {
                None => Ok(Receipt::of(check.receipt)),
                Some(ReceiptProblem::UnknownServerKey) => Err(ReceiptError::UnknownServerKey),
                Some(ReceiptProblem::BadSignature) => Err(ReceiptError::BadSignature),
            }
        })
    }
}
