//! Signing on the device (issue #16): the store's Ed25519 key, the signature of every change
//! this device makes (written in the same transaction as the change), the signatures that travel
//! with pushes and pulls, the check of every received change against its signature, and the
//! server's receipts.
//!
//! The secret key is created on first open and lives only in this (SQLCipher) database; what
//! leaves the store is the public key (`Store::public_key`). A rotation (`Store::rotate_key`)
//! makes a new current key and keeps the old ones, so signatures made with them stay verifiable
//! (the server keeps every registration too).

use std::collections::{HashMap, HashSet};

use automerge::{ActorId, ChangeHash};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

use super::Store;
use crate::document::authorship::{parse_actor, same_worker};
use crate::document::RecordDoc;
use crate::error::{Error, Result};
use crate::protocol::signing::verify_receipts;
use crate::protocol::{ChangeSignature, Hash, KeyPair, KeyRecord, PublicKey, Receipt};

const SERVER_KEYS: &str = "server_keys";

fn corrupt(what: &str) -> Error {
    Error::CorruptDocument { reason: format!("stored {what} unreadable") }
}

/// The current key, created (and kept) on first open.
pub(super) fn load_or_create_key(conn: &Connection, now: &str) -> Result<KeyPair> {
    let secret: Option<Vec<u8>> = conn
        .query_row("SELECT secret FROM device_keys WHERE current = 1", [], |r| r.get(0))
        .optional()?;
    if let Some(secret) = secret {
        let seed: [u8; 32] = secret.as_slice().try_into().map_err(|_| corrupt("device key"))?;
        return Ok(KeyPair::from_seed(&seed));
    }
    new_current_key(conn, now)
}

fn new_current_key(conn: &Connection, now: &str) -> Result<KeyPair> {
    let key = KeyPair::generate()
        .map_err(|e| Error::InvalidInput { field: "device key", reason: e.to_string() })?;
    conn.execute("UPDATE device_keys SET current = 0", [])?;
    conn.execute(
        "INSERT INTO device_keys (public, secret, created_at, current) VALUES (?1, ?2, ?3, 1)",
        params![key.public().0.as_slice(), key.seed().as_slice(), now],
    )?;
    Ok(key)
}

/// Signs every change of `doc` after `before` (a local edit: all of them are this device's).
pub(super) fn sign_after(
    key: &KeyPair,
    doc: &mut RecordDoc,
    before: &[ChangeHash],
) -> Vec<ChangeSignature> {
    doc.change_authors_after(before)
        .into_iter()
        .map(|(h, _)| key.sign_change(Hash(h.0), None))
        .collect()
}

/// Writes signatures of a document's changes inside the caller's transaction (one already held
/// is kept).
pub(super) fn put_signatures(
    tx: &Transaction<'_>,
    doc_id: &str,
    sigs: &[ChangeSignature],
) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO change_signatures (doc_id, hash, data) VALUES (?1, ?2, ?3)",
    )?;
    for sig in sigs {
        stmt.execute(params![doc_id, sig.hash.0.as_slice(), sig.to_bytes()])?;
    }
    Ok(())
}

/// What a pulled change is checked against: the registrations the server sent with the
/// response (and those received before), and the server's own key.
#[derive(Debug, Default)]
pub(super) struct Trust {
    pub keys: HashMap<PublicKey, KeyRecord>,
    pub server: Option<PublicKey>,
}

/// Checks the changes a received document gained (after `before`; all for a new document):
/// each must carry a signature that verifies (verified with the rest of the response's, in
/// `Store::stage_all`). With `trust` (a pull from the server) it must be
/// the server's (naming whom it acted for) or a key's registered to the change's author.
/// Without (`Store::import`, from a peer) the signature must be there and verify; whom the key
/// belongs to is not known yet (the server checks that when the changes are pushed on).
/// Returns the signatures to keep.
pub(super) fn check_received(
    doc: &mut RecordDoc,
    before: &[ChangeHash],
    sigs: &[ChangeSignature],
    trust: Option<&Trust>,
) -> Result<Vec<ChangeSignature>> {
    let doc_id = doc.id().to_string();
    if trust.is_some() && !doc.missing_deps().is_empty() {
        // The server always sends what a change builds on: a gap is a change removed.
        let missing = doc.missing_deps();
        return Err(Error::Signature {
            doc: doc_id,
            change: missing.first().map(|h| hex::encode(h.0)).unwrap_or_default(),
            reason: "a change it builds on is missing".into(),
        });
    }
    check_signatures(&doc_id, doc.change_authors_after(before), sigs, trust)
}

/// The signature checks of `check_received`, for changes known by their hashes and authors
/// (from a loaded document, or read from the changes alone: `document::line`): each change
/// signed, by a key the trust allows for its author. The signatures themselves are verified
/// by the caller, all of a response at once (`verify_kept`).
pub(super) fn check_signatures(
    doc_id: &str,
    authors: Vec<(ChangeHash, ActorId)>,
    sigs: &[ChangeSignature],
    trust: Option<&Trust>,
) -> Result<Vec<ChangeSignature>> {
    let by_hash: HashMap<&Hash, &ChangeSignature> = sigs.iter().map(|s| (&s.hash, s)).collect();
    let fail = |change: &ChangeHash, reason: &str| Error::Signature {
        doc: doc_id.to_string(),
        change: hex::encode(change.0),
        reason: reason.to_string(),
    };
    let mut keep = Vec::new();
    for (hash, actor) in authors {
        let Some(sig) = by_hash.get(&Hash(hash.0)) else {
            return Err(fail(&hash, "unsigned"));
        };
        if let Some(trust) = trust {
            if Some(sig.key) == trust.server {
                if sig.acting.is_none() {
                    return Err(fail(&hash, "a server signature names nobody it acted for"));
                }
            } else {
                let record =
                    trust.keys.get(&sig.key).ok_or_else(|| fail(&hash, "key not registered"))?;
                let author = parse_actor(&actor).map(|(w, _)| w).unwrap_or_default();
                if !same_worker(&record.worker, &author) {
                    return Err(fail(&hash, "signed by a key of another worker"));
                }
            }
        }
        keep.push((*sig).clone());
    }
    Ok(keep)
}

/// Verifies the signatures `check_signatures` kept for one document (strict, one by one):
/// the first that fails is named, as the document's refusal.
pub(super) fn verify_kept(doc_id: &str, sigs: &[ChangeSignature]) -> Result<()> {
    for sig in sigs {
        sig.verify().map_err(|_| Error::Signature {
            doc: doc_id.to_string(),
            change: hex::encode(sig.hash.0),
            reason: "bad signature".into(),
        })?;
    }
    Ok(())
}

/// A stored receipt and whether it verifies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptCheck {
    pub receipt: Receipt,
    /// `None` when it verifies against a server key this device has seen; otherwise why not.
    pub problem: Option<ReceiptProblem>,
}

/// Why a stored receipt does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ReceiptProblem {
    /// Signed by a key this device never received from its server (a receipt made elsewhere).
    #[error("signed by a key this device never received from its server")]
    UnknownServerKey,
    /// Altered since the server signed it (or never signed by that key).
    #[error("the signature does not verify")]
    BadSignature,
}

impl Store {
    /// The public half of the key this store signs with.
    pub fn public_key(&self) -> PublicKey {
        self.key.public()
    }

    /// Makes a new signing key; the old ones are kept (their signatures stay verifiable, and
    /// the server keeps their registrations). The new key is registered on the next sync.
    pub fn rotate_key(&mut self) -> Result<PublicKey> {
        let now = self.now().to_rfc3339();
        let tx = self.conn.transaction()?;
        let key = new_current_key(&tx, &now)?;
        tx.commit()?;
        self.key = key;
        Ok(self.key.public())
    }

    /// Every public key this store has signed with, current one last.
    pub fn public_keys(&self) -> Result<Vec<PublicKey>> {
        let mut stmt =
            self.conn.prepare_cached("SELECT public FROM device_keys ORDER BY current, rowid")?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        rows.map(|r| {
            let bytes = r?;
            Ok(PublicKey(bytes.as_slice().try_into().map_err(|_| corrupt("device key"))?))
        })
        .collect()
    }

    /// Signs the changes of `doc` after `before` (a local edit), unless a benchmark turned
    /// signing off.
    pub(super) fn sign_after(
        &self,
        doc: &mut RecordDoc,
        before: &[ChangeHash],
    ) -> Vec<ChangeSignature> {
        if !self.signs() {
            return Vec::new();
        }
        sign_after(&self.key, doc, before)
    }

    /// Whether this store signs its changes: always, except in a benchmark's measurement of
    /// what signing costs (`sign_changes_for_bench`, feature `test-hooks`).
    fn signs(&self) -> bool {
        #[cfg(feature = "test-hooks")]
        if self.unsigned_for_bench {
            return false;
        }
        true
    }

    /// Benchmarks only: turns the signing of this store's changes (and their signatures in
    /// pushes) off or on, to measure what it costs. Not in a product build.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn sign_changes_for_bench(&mut self, on: bool) {
        self.unsigned_for_bench = !on;
    }

    /// The signatures held for the changes of `id` among `hashes`; a change of this device's
    /// actor made before signing existed is signed now (deterministic: the same bytes as if it
    /// had been signed when made).
    pub(super) fn signatures_for(
        &mut self,
        id: &str,
        changes: &[(ChangeHash, automerge::ActorId)],
    ) -> Result<Vec<ChangeSignature>> {
        if !self.signs() {
            return Ok(Vec::new());
        }
        let wanted: HashSet<[u8; 32]> = changes.iter().map(|(h, _)| h.0).collect();
        let mut found: HashMap<[u8; 32], ChangeSignature> = HashMap::new();
        {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT hash, data FROM change_signatures WHERE doc_id = ?1")?;
            let rows =
                stmt.query_map([id], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
            for row in rows {
                let (hash, data) = row?;
                let hash: [u8; 32] =
                    hash.as_slice().try_into().map_err(|_| corrupt("signature"))?;
                if wanted.contains(&hash) {
                    let sig =
                        ChangeSignature::from_bytes(&data).map_err(|_| corrupt("signature"))?;
                    found.insert(hash, sig);
                }
            }
        }
        let me = self.author.actor();
        let mine = |a: &automerge::ActorId| {
            parse_actor(a).zip(parse_actor(&me)).is_some_and(|(x, y)| x == y)
        };
        let mut out = Vec::with_capacity(changes.len());
        for (hash, actor) in changes {
            match found.remove(&hash.0) {
                Some(sig) => out.push(sig),
                None if mine(actor) => out.push(self.key.sign_change(Hash(hash.0), None)),
                None => {}
            }
        }
        Ok(out)
    }

    /// The registrations and server keys received before, with those of a response.
    pub(super) fn trust_with(
        &self,
        keys: &[KeyRecord],
        server: Option<PublicKey>,
    ) -> Result<Trust> {
        let mut trust = Trust { keys: HashMap::new(), server };
        let mut stmt = self.conn.prepare_cached("SELECT data FROM known_keys")?;
        for row in stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))? {
            let record: KeyRecord =
                serde_json::from_slice(&row?).map_err(|_| corrupt("key registration"))?;
            trust.keys.insert(record.key, record);
        }
        for k in keys {
            trust.keys.insert(k.key, k.clone());
        }
        Ok(trust)
    }

    /// The server keys this device has received receipts or changes under.
    pub fn server_keys(&self) -> Result<Vec<PublicKey>> {
        Ok(match self.setting(SERVER_KEYS)? {
            Some(json) => serde_json::from_str(&json)?,
            None => Vec::new(),
        })
    }

    /// The server's receipt of the last acknowledgement of `id`, if any.
    pub fn receipt(&self, id: &str) -> Result<Option<Receipt>> {
        let data: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT data FROM receipts WHERE doc_id = ?1", [id], |r| r.get(0))
            .optional()?;
        data.map(|d| serde_json::from_slice(&d).map_err(|_| corrupt("receipt"))).transpose()
    }

    /// The stored receipt of `id`, checked: signed by a server key this device has seen, and
    /// unaltered since. `None` when the record has no receipt.
    pub fn verify_receipt(&self, id: &str) -> Result<Option<ReceiptCheck>> {
        let Some(receipt) = self.receipt(id)? else { return Ok(None) };
        let problem = if !self.server_keys()?.contains(&receipt.key) {
            Some(ReceiptProblem::UnknownServerKey)
        } else {
            receipt.verify(&receipt.key).err().map(|_| ReceiptProblem::BadSignature)
        };
        Ok(Some(ReceiptCheck { receipt, problem }))
    }
}

/// The server's key checked against the one pinned on the first sync (trust on first use:
/// `pinned` empty, the key is pinned when the response is written), and the registrations of
/// the response that this key signed; one it did not sign is dropped (its key stays unknown, so
/// changes signed by it are refused `key not registered`).
pub(super) fn vouched_keys(
    pinned: &[PublicKey],
    server: Option<PublicKey>,
    keys: &[KeyRecord],
) -> Result<Vec<KeyRecord>> {
    let Some(server) = server else { return Ok(Vec::new()) };
    if let Some(first) = pinned.first() {
        if !pinned.contains(&server) {
            return Err(Error::ServerKeyChanged {
                pinned: first.to_hex(),
                presented: server.to_hex(),
            });
        }
    }
    Ok(keys
        .iter()
        .filter(|k| {
            let ok = k.verify(&server).is_ok();
            if !ok {
                tracing::warn!(key = %k.key.to_hex(), "a key registration the server did not sign was dropped");
            }
            ok
        })
        .cloned()
        .collect())
}

/// Writes what a response brought for the evidence trail, inside `apply_exchange`'s
/// transaction: the key registrations (those the server signed), the server's key (pinned on
/// the first sync), and the receipts that verify.
pub(super) fn write_evidence(
    tx: &Transaction<'_>,
    keys: &[KeyRecord],
    server: Option<PublicKey>,
    receipts: &[Receipt],
    mut server_keys: Vec<PublicKey>,
) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO known_keys (key, data) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET data = ?2",
    )?;
    for k in keys {
        stmt.execute(params![k.key.0.as_slice(), serde_json::to_vec(k)?])?;
    }
    if let Some(server) = server {
        if !server_keys.contains(&server) {
            server_keys.push(server);
            tx.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = ?2",
                params![SERVER_KEYS, serde_json::to_string(&server_keys)?],
            )?;
        }
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO receipts (doc_id, data) SELECT ?1, ?2
         WHERE EXISTS (SELECT 1 FROM documents WHERE id = ?1)
         ON CONFLICT(doc_id) DO UPDATE SET data = ?2",
    )?;
    // One batch for the whole response; only if it fails is each receipt checked alone, so that
    // the ones that verify are still kept.
    let all: Vec<&Receipt> = receipts.iter().collect();
    let batch = server.is_some_and(|key| verify_receipts(&all, &key).is_ok());
    for r in receipts {
        if !batch && (Some(r.key) != server || r.verify(&r.key).is_err()) {
            tracing::warn!(doc = %r.doc, "a receipt that does not verify was not kept");
            continue;
        }
        stmt.execute(params![r.doc, serde_json::to_vec(r)?])?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "signing_tests.rs"]
mod tests;
