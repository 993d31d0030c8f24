//! The evidence trail on the server (issue #16): device keys as registered (bound to the worker
//! and device of the token that presented them, with when and by which token), their revocation,
//! the signed log of those key events, and the signatures stored with the changes (the
//! `signature` column of `changes`, written by `Storage::append` in the changes' transaction).
//! Both backends pass `server/tests/storage_conformance.rs`.

use async_trait::async_trait;

use super::{Hash, Result};

/// A device key as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRegistration {
    pub key: [u8; 32],
    pub worker: String,
    pub device: String,
    /// RFC 3339.
    pub registered_at: String,
    /// Which token presented it: a fingerprint (`sha256:` and 16 hex characters of the SHA-256
    /// of the bearer token), never the token.
    pub token: String,
    pub revoked_at: Option<String>,
    /// Who revoked it (the operator's subject).
    pub revoked_by: Option<String>,
}

#[async_trait]
pub trait SigningStorage {
    /// Registers a key unless it is registered already, logging `event` (the server-signed
    /// registration) in the same transaction; returns the registration as stored (the earlier
    /// one when the key was known: a key is bound once, to whoever presented it first).
    ///
    /// A new key is refused (`None`, nothing written) when its worker already holds
    /// `max_per_worker` registrations, revoked ones included. The count and the insert are one
    /// transaction, serialised per worker, so first syncs of new keys at the same instant (on
    /// one server or several) never take a worker past the cap.
    async fn register_key(
        &self,
        reg: KeyRegistration,
        event: Vec<u8>,
        max_per_worker: usize,
    ) -> Result<Option<KeyRegistration>>;

    /// The registration of a key.
    async fn device_key(&self, key: [u8; 32]) -> Result<Option<KeyRegistration>>;

    /// Every registration, in the order registered.
    async fn device_keys(&self) -> Result<Vec<KeyRegistration>>;

    /// Revokes a key and logs `event` (the server-signed revocation) in one transaction.
    /// Returns false, writing nothing, when the key is unknown or revoked already.
    async fn revoke_key(
        &self,
        key: [u8; 32],
        at: String,
        by: String,
        event: Vec<u8>,
    ) -> Result<bool>;

    /// The signed key events (registrations and revocations), in the order logged.
    async fn key_events(&self) -> Result<Vec<Vec<u8>>>;

    /// The stored signatures of a document's changes (hash, encoded `ChangeSignature`), in the
    /// order the changes were appended; changes stored without one are left out.
    async fn doc_signatures(&self, doc_id: &str) -> Result<Vec<(Hash, Vec<u8>)>>;

    /// `doc_signatures` of many documents, by id (a document without any is absent): one query
    /// per page of the feed on the backends, instead of one per document sent.
    async fn docs_signatures(&self, doc_ids: &[String]) -> Result<SignaturesByDoc> {
        let mut out = SignaturesByDoc::new();
        for id in doc_ids {
            let sigs = self.doc_signatures(id).await?;
            if !sigs.is_empty() {
                out.insert(id.clone(), sigs);
            }
        }
        Ok(out)
    }
}

/// Stored signatures per document id, each document's in append order.
pub type SignaturesByDoc = std::collections::HashMap<String, Vec<(Hash, Vec<u8>)>>;
