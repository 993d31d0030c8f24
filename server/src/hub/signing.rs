//! The server's half of evidence-grade records (issue #16): device keys registered on first
//! sight (bound to the token's worker and the request's device), the signatures and key
//! registrations that go out with the feed, the server's signature on the changes it makes on
//! someone's behalf, and revocation. docs/PROTOCOL.md, "Keys, signatures, receipts and
//! revocation".

use std::collections::{BTreeSet, HashSet};

use fieldbook_core::protocol::{
    ChangeSignature, DocChanges, KeyEvent, KeyPair, KeyRecord, PublicKey,
};
use sha2::{Digest, Sha256};

use super::feed::Wanted;
use super::{Hub, HubError};
use crate::auth::Identity;
use crate::storage::signing::KeyRegistration;
use crate::storage::{Hash, Storage};

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A key for a hub built without one (tests, tools): signing is never off.
pub(super) fn ephemeral_key() -> KeyPair {
    KeyPair::generate().unwrap_or_else(|_| {
        // The system's random source failed: a key from two v4 UUIDs (their own random source)
        // still signs; it is a test hub's key, never a deployment's (those come from the key file).
        let mut seed = [0u8; 32];
        seed[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        seed[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        KeyPair::from_seed(&seed)
    })
}

/// How a bearer token is named in the key registry: never the token itself.
pub fn token_fingerprint(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    format!("sha256:{}", hex::encode(&digest[..8]))
}

/// Registers the device's key on first sight, bound to the token's worker and the request's
/// device; a key seen before keeps its first registration (a key presented by another worker
/// is not re-bound: their changes are then refused as signed by someone else's key).
pub(super) async fn register(
    hub: &Hub,
    who: &Identity,
    device: &str,
    token: &str,
    key: PublicKey,
) -> Result<(), HubError> {
    let storage = hub.storage.as_ref();
    if storage.device_key(key.0).await?.is_some() {
        return Ok(());
    }
    let at = now();
    let event = KeyEvent::issue(&hub.key, "registered", key, &who.subject, device, &at, token);
    let reg = KeyRegistration {
        key: key.0,
        worker: who.subject.clone(),
        device: device.to_string(),
        registered_at: at,
        token: token.to_string(),
        revoked_at: None,
        revoked_by: None,
    };
    let event = serde_json::to_vec(&event).map_err(|e| HubError::Job(e.to_string()))?;
    // A cap on one worker's keys, so that a stolen token cannot flood the registry; storage
    // counts and inserts in one transaction, so simultaneous first syncs cannot pass it.
    let limit = hub.max_keys_per_worker;
    let Some(stored) = storage.register_key(reg, event, limit).await? else {
        tracing::warn!(worker = %who.subject, device, limit, "device key refused: the worker's key limit");
        return Err(HubError::KeyLimit { limit });
    };
    tracing::info!(worker = %stored.worker, device = %stored.device, key = %key.to_hex(), "device key registered");
    Ok(())
}

/// What a registration looks like on the wire: signed by the server's key as it stands (a
/// revocation included), so a device trusts a key only as its server vouches for it.
pub fn key_record(server: &KeyPair, reg: &KeyRegistration) -> KeyRecord {
    KeyRecord::signed(
        server,
        PublicKey(reg.key),
        &reg.worker,
        &reg.device,
        &reg.registered_at,
        reg.revoked_at.as_deref(),
    )
}

/// Puts beside each document the signatures of the changes sent (`wanted`), and returns the
/// registrations of the device keys among them.
pub(super) async fn attach(
    storage: &dyn Storage,
    server: &KeyPair,
    docs: &mut [DocChanges],
    wanted: &Wanted,
) -> Result<Vec<KeyRecord>, HubError> {
    let mut keys = BTreeSet::new();
    let ids: Vec<String> = docs.iter().map(|d| d.id.clone()).collect();
    let mut stored = storage.docs_signatures(&ids).await?;
    for doc in docs.iter_mut() {
        let want = wanted.get(&doc.id).and_then(Option::as_ref);
        for (hash, bytes) in stored.remove(&doc.id).unwrap_or_default() {
            if want.is_some_and(|w: &HashSet<Hash>| !w.contains(&hash)) {
                continue;
            }
            let sig = ChangeSignature::from_bytes(&bytes)
                .map_err(|_| HubError::Corrupt(format!("document {}: a signature", doc.id)))?;
            if sig.acting.is_none() {
                keys.insert(sig.key);
            }
            doc.signatures.push(sig);
        }
    }
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        if let Some(reg) = storage.device_key(key.0).await? {
            out.push(key_record(server, &reg));
        }
    }
    Ok(out)
}

impl Hub {
    /// The server's signatures of changes it makes on `acting`'s behalf (`integration:<sub>`,
    /// `manager:<sub>`), encoded as storage keeps them.
    pub(crate) fn sign_own(
        &self,
        changes: &[(Hash, Vec<u8>)],
        acting: &str,
    ) -> Vec<(Hash, Vec<u8>)> {
        changes
            .iter()
            .map(|(h, _)| {
                let sig = self.key.sign_change(*h, Some(acting));
                (*h, sig.to_bytes())
            })
            .collect()
    }

    /// Revokes a device key (an operator, for a lost or stolen tablet): later pushes signed by
    /// it are refused, what it signed before stays valid. The revocation is a signed, logged
    /// key event. Returns the registration as revoked.
    pub async fn revoke_device_key(
        &self,
        key: PublicKey,
        by: &str,
    ) -> Result<KeyRegistration, RevokeError> {
        let storage = self.storage.as_ref();
        let Some(reg) = storage.device_key(key.0).await.map_err(HubError::from)? else {
            return Err(RevokeError::UnknownKey);
        };
        if reg.revoked_at.is_some() {
            return Err(RevokeError::AlreadyRevoked);
        }
        let at = now();
        let event = KeyEvent::issue(&self.key, "revoked", key, &reg.worker, &reg.device, &at, by);
        let event = serde_json::to_vec(&event).map_err(|e| HubError::Job(e.to_string()))?;
        // Two operators at once: the storage's transaction lets one of them write.
        if !storage.revoke_key(key.0, at, by.to_string(), event).await.map_err(HubError::from)? {
            return Err(RevokeError::AlreadyRevoked);
        }
        tracing::warn!(worker = %reg.worker, device = %reg.device, key = %key.to_hex(), by, "device key revoked");
        storage.device_key(key.0).await.map_err(HubError::from)?.ok_or(RevokeError::UnknownKey)
    }
}

/// Why a revocation was not made.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error("no device key is registered under that key")]
    UnknownKey,
    #[error("the key is revoked already")]
    AlreadyRevoked,
    #[error(transparent)]
    Hub(#[from] HubError),
}
