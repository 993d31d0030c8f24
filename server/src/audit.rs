//! The reading half of `fieldbook audit export` (issue #16): a record's or a case's changes,
//! their signatures and the signed key events of the keys that signed them, gathered from the
//! server's storage into the core's audit bundle (`fieldbook_core::audit`). Read-only: nothing
//! is checked here — a bundle is written as the database holds it, so that `audit verify` shows
//! any tampering instead of the export hiding it.

use std::collections::{BTreeSet, HashMap};

use fieldbook_core::audit::{
    self, Bundle, BundleChange, BundleKeyEvent, BundleReceipt, BundleRecord, BundleSignature,
    RecordTimeline, Scope,
};
use fieldbook_core::protocol::{ChangeSignature, KeyEvent, PublicKey, Receipt};

use crate::storage::{Storage, StorageError, StoredChange};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("the server holds no record {0}")]
    NoRecord(String),
    #[error("the server holds no records of case {0}")]
    NoCase(String),
}

/// The bundle of `scope`, signed under `server_key`, with the `receipts` a device held (those
/// of records outside the scope are left out).
pub async fn export(
    storage: &dyn Storage,
    scope: Scope,
    server_key: PublicKey,
    receipts: &[Receipt],
) -> Result<Bundle, ExportError> {
    let changes: Vec<StoredChange> = match &scope {
        Scope::Record(id) => {
            let info =
                storage.doc_info(id).await?.ok_or_else(|| ExportError::NoRecord(id.clone()))?;
            let mut all = storage.case_changes(&info.case_id).await?;
            all.retain(|c| c.doc.id == *id);
            all
        }
        Scope::Case(id) => storage.case_changes(id).await?,
    };
    if changes.is_empty() {
        return Err(match scope {
            Scope::Record(id) => ExportError::NoRecord(id),
            Scope::Case(id) => ExportError::NoCase(id),
        });
    }
    // One record per document, in the order its first change was stored.
    let mut records: Vec<BundleRecord> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut raw: Vec<Vec<Vec<u8>>> = Vec::new();
    for c in changes {
        let i = *index.entry(c.doc.id.clone()).or_insert_with(|| {
            records.push(BundleRecord {
                id: c.doc.id.clone(),
                case_id: c.doc.case_id.clone(),
                kind: c.doc.kind.code().to_string(),
                changes: Vec::new(),
                receipts: Vec::new(),
            });
            raw.push(Vec::new());
            records.len() - 1
        });
        records[i].changes.push(BundleChange {
            hash: hex::encode(c.hash.0),
            bytes: audit::encode_bytes(&c.bytes),
            signature: None,
        });
        raw[i].push(c.bytes);
    }

    let mut signers = BTreeSet::new();
    let mut timeline = Vec::with_capacity(records.len());
    for (record, bytes) in records.iter_mut().zip(&raw) {
        let mut sigs: HashMap<String, ChangeSignature> = HashMap::new();
        for (hash, encoded) in storage.doc_signatures(&record.id).await? {
            // A signature the storage cannot decode is left out: the verifier then names the
            // change as unsigned.
            if let Ok(sig) = ChangeSignature::from_bytes(&encoded) {
                sigs.insert(hex::encode(hash.0), sig);
            }
        }
        let mut acting = HashMap::new();
        for change in &mut record.changes {
            if let Some(sig) = sigs.get(&change.hash) {
                signers.insert(sig.key);
                if let Some(a) = &sig.acting {
                    acting.insert(sig.hash.0, a.clone());
                }
                change.signature = Some(BundleSignature::of(sig));
            }
        }
        record.receipts =
            receipts.iter().filter(|r| r.doc == record.id).map(BundleReceipt::of).collect();
        // Changes that do not load (altered in the database) leave the timeline empty; the
        // verifier names them.
        timeline.push(audit::timeline::build(&record.id, bytes, &acting).unwrap_or_else(|_| {
            RecordTimeline {
                record: record.id.clone(),
                submitted_version: None,
                entries: Vec::new(),
            }
        }));
    }

    // The key events of the keys that signed these changes, as logged (an event the storage
    // cannot parse is left out: the changes its key signed then fail as unregistered).
    let mut key_events = Vec::new();
    for encoded in storage.key_events().await? {
        if let Ok(event) = serde_json::from_slice::<KeyEvent>(&encoded) {
            if signers.contains(&event.key) {
                key_events.push(BundleKeyEvent::of(&event));
            }
        }
    }

    Ok(Bundle {
        format: audit::FORMAT.to_string(),
        scope,
        exported_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        server_key: server_key.to_hex(),
        records,
        key_events,
        timeline,
    })
}
