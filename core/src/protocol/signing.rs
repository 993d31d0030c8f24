//! Evidence-grade records (issue #16): Ed25519 signatures (RFC 8032, ed25519-dalek) over change
//! hashes, the server's signed receipts, and the registrations of device keys.
//!
//! Every signed message starts with a fixed domain string (`CHANGE_DOMAIN`, `RECEIPT_DOMAIN`),
//! so a signature made for one purpose can never be replayed as another. The exact bytes are
//! written out in docs/PROTOCOL.md ("Keys, signatures, receipts and revocation") so that anyone
//! can check them with another Ed25519 implementation.

use std::sync::OnceLock;

use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::Hash;

/// The prefix of the message a change signature covers: `CHANGE_DOMAIN || hash(32) || acting`.
pub const CHANGE_DOMAIN: &[u8] = b"fieldbook/change/v1\0";
/// The prefix of a receipt's signed message (see `Receipt::message`).
pub const RECEIPT_DOMAIN: &[u8] = b"fieldbook/receipt/v1\0";

/// An Ed25519 public key (32 bytes), as a CBOR byte string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PublicKey(#[serde(with = "super::serde_bytes_array")] pub [u8; 32]);

impl PublicKey {
    /// The key as 64 lowercase hex characters (how logs, the CLI and audit bundles name it).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn verifying(&self) -> Result<VerifyingKey, SignatureError> {
        VerifyingKey::from_bytes(&self.0).map_err(|_| SignatureError::BadKey)
    }
}

/// An Ed25519 signature (64 bytes), as a CBOR byte string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sig(#[serde(with = "sig_bytes")] pub [u8; 64]);

mod sig_bytes {
    use serde::{de::Error, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        serde_bytes::serialize(v.as_slice(), s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let v: serde_bytes::ByteBuf = serde_bytes::deserialize(d)?;
        v.as_slice().try_into().map_err(|_| D::Error::invalid_length(v.len(), &"64 bytes"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the public key is not a valid Ed25519 key")]
    BadKey,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("no random bytes for a new key")]
    NoRandomness,
}

/// A signing key: a device's (inside its encrypted store) or the server's (in its key file).
/// The secret never leaves the holder; `Debug` shows the public half only.
#[derive(Clone)]
pub struct KeyPair(SigningKey);

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("KeyPair").field(&self.public().to_hex()).finish()
    }
}

impl KeyPair {
    /// A new random key (the operating system's random source).
    pub fn generate() -> Result<Self, SignatureError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|_| SignatureError::NoRandomness)?;
        Ok(Self::from_seed(&seed))
    }

    /// The key of a 32-byte secret seed (RFC 8032's private key).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// The secret seed, to store (encrypted) by the key's holder.
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    pub fn sign(&self, message: &[u8]) -> Sig {
        use ed25519_dalek::Signer;
        Sig(self.0.sign(message).to_bytes())
    }

    /// Signs a change hash: a device signs its own changes with `acting` empty; the server
    /// signs changes it makes on someone's behalf naming them (`acting`).
    pub fn sign_change(&self, hash: Hash, acting: Option<&str>) -> ChangeSignature {
        let acting = acting.map(str::to_string);
        let sig = self.sign(&ChangeSignature::message(&hash, acting.as_deref()));
        ChangeSignature { hash, key: self.public(), sig, acting }
    }
}

/// Checks an Ed25519 signature (strict: RFC 8032's cofactorless verification with the checks
/// ed25519-dalek's `verify_strict` adds, so a signature has exactly one valid encoding).
pub fn verify(key: &PublicKey, message: &[u8], sig: &Sig) -> Result<(), SignatureError> {
    let key = key.verifying()?;
    let sig = Signature::from_bytes(&sig.0);
    key.verify_strict(message, &sig).map_err(|_| SignatureError::BadSignature)
}

/// Checks many change signatures in one batch equation (ed25519-dalek's `verify_batch`): the
/// answer of `ChangeSignature::verify` on each, at a fraction of the cost for a page of them.
/// `verify_strict`'s extra refusals are made first, on each key once and each signature: a
/// key or an `R` of small order, an `R` not canonically encoded, `s` not reduced. What remains
/// different is only this: a signature whose `R` its signer built with a small-order part
/// could pass the batch and fail alone. Only the holder of the secret key can build one, so it
/// forges nothing (docs/decisions.md, "Signatures checked in a batch"). `Err` names nothing:
/// the caller checks the signatures one by one to find which failed.
pub fn verify_all(sigs: &[&ChangeSignature]) -> Result<(), SignatureError> {
    verify_batch(
        sigs.iter().map(|s| (s.key, ChangeSignature::message(&s.hash, s.acting.as_deref()), s.sig)),
    )
}

/// `Receipt::verify` of each of `receipts` against `server`, in one batch as `verify_all` does
/// (with the same one difference from strict checking). `Err` names nothing.
pub fn verify_receipts(receipts: &[&Receipt], server: &PublicKey) -> Result<(), SignatureError> {
    if receipts.iter().any(|r| &r.key != server) {
        return Err(SignatureError::BadSignature);
    }
    verify_batch(
        receipts
            .iter()
            .map(|r| (r.key, Receipt::message(&r.doc, &r.heads, &r.received_at, &r.device), r.sig)),
    )
}

/// One batch equation over (key, message, signature), after `verify_strict`'s extra refusals.
fn verify_batch(
    items: impl Iterator<Item = (PublicKey, Vec<u8>, Sig)>,
) -> Result<(), SignatureError> {
    use std::collections::hash_map::{Entry, HashMap};
    let mut keys: HashMap<PublicKey, VerifyingKey> = HashMap::new();
    let mut verifying = Vec::new();
    let mut signatures = Vec::new();
    let mut messages = Vec::new();
    for (key, message, sig) in items {
        // Each key decompressed and checked once.
        let key = match keys.entry(key) {
            Entry::Occupied(known) => *known.get(),
            Entry::Vacant(new) => {
                let key = new.key().verifying()?;
                if key.is_weak() {
                    return Err(SignatureError::BadKey);
                }
                *new.insert(key)
            }
        };
        if strict_refuses_r(&sig.0) {
            return Err(SignatureError::BadSignature);
        }
        verifying.push(key);
        signatures.push(Signature::from_bytes(&sig.0));
        messages.push(message);
    }
    if messages.is_empty() {
        return Ok(());
    }
    let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    ed25519_dalek::verify_batch(&messages, &signatures, &verifying)
        .map_err(|_| SignatureError::BadSignature)
}

/// Whether `verify_strict` refuses the `R` half of `sig` before its equation, told from the
/// bytes: an encoding of `y ≥ p` (not canonical), or one of the eight points of small order
/// (whatever the sign bit: the points of small order with `x = 0` have two encodings).
fn strict_refuses_r(sig: &[u8; 64]) -> bool {
    static SMALL_ORDER: OnceLock<[[u8; 32]; 8]> = OnceLock::new();
    let small_order = SMALL_ORDER.get_or_init(|| {
        curve25519_dalek::constants::EIGHT_TORSION.map(|point| {
            let mut y = point.compress().to_bytes();
            y[31] &= 0x7f;
            y
        })
    });
    let mut y = [0u8; 32];
    y.copy_from_slice(&sig[..32]);
    y[31] &= 0x7f;
    // p = 2^255 - 19: little-endian 0xed, thirty 0xff, 0x7f.
    let not_canonical = y[0] >= 0xed && y[1..31].iter().all(|b| *b == 0xff) && y[31] == 0x7f;
    not_canonical || small_order.contains(&y)
}

/// The signature of one change, carried beside the change (the Automerge documents stay
/// standard): who signed (`key`), and for a change the server made on someone's behalf, whom it
/// acted for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSignature {
    pub hash: Hash,
    pub key: PublicKey,
    pub sig: Sig,
    /// Set by the server only: the identity it acted for (`integration:<subject>` for the case
    /// system's summaries, `manager:<subject>` for a sign-off from the web pages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acting: Option<String>,
}

impl ChangeSignature {
    /// The signed bytes: `CHANGE_DOMAIN || hash || acting (UTF-8, empty when absent)`.
    pub fn message(hash: &Hash, acting: Option<&str>) -> Vec<u8> {
        let acting = acting.unwrap_or("");
        let mut m = Vec::with_capacity(CHANGE_DOMAIN.len() + 32 + acting.len());
        m.extend_from_slice(CHANGE_DOMAIN);
        m.extend_from_slice(&hash.0);
        m.extend_from_slice(acting.as_bytes());
        m
    }

    /// Whether the signature is `key`'s over `hash` (the binding of the key to a worker is
    /// checked by the caller, against a registration).
    pub fn verify(&self) -> Result<(), SignatureError> {
        verify(&self.key, &Self::message(&self.hash, self.acting.as_deref()), &self.sig)
    }

    /// The encoding storage keeps (CBOR, as on the wire).
    pub fn to_bytes(&self) -> Vec<u8> {
        super::encode(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, super::DecodeError> {
        let mut rest = bytes;
        ciborium::from_reader(&mut rest).map_err(|e| super::DecodeError::Malformed(e.to_string()))
    }
}

/// A device key as the server registered it: bound to the worker and device of the token that
/// first presented it (never to anything the body claims).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub key: PublicKey,
    pub worker: String,
    pub device: String,
    /// RFC 3339.
    pub registered_at: String,
    /// RFC 3339, once an operator revoked the key: later pushes signed by it are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// The server's signature over the registration as sent (`KeyRecord::message`): a device
    /// trusts a key only as its server vouches for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<Sig>,
}

/// The prefix of a key registration's signed message (see `KeyRecord::message`).
pub const KEY_RECORD_DOMAIN: &[u8] = b"fieldbook/key-record/v1\0";

impl KeyRecord {
    /// The registration, signed by the server's key.
    pub fn signed(
        server: &KeyPair,
        key: PublicKey,
        worker: &str,
        device: &str,
        registered_at: &str,
        revoked_at: Option<&str>,
    ) -> Self {
        let message = Self::message(&key, worker, device, registered_at, revoked_at);
        KeyRecord {
            key,
            worker: worker.into(),
            device: device.into(),
            registered_at: registered_at.into(),
            revoked_at: revoked_at.map(str::to_string),
            sig: Some(server.sign(&message)),
        }
    }

    /// The signed bytes: `KEY_RECORD_DOMAIN`, the key (32 bytes), then each of worker, device,
    /// registered_at and revoked_at (empty when absent) as a big-endian u32 length and its
    /// UTF-8 bytes.
    pub fn message(
        key: &PublicKey,
        worker: &str,
        device: &str,
        registered_at: &str,
        revoked_at: Option<&str>,
    ) -> Vec<u8> {
        let mut m = Vec::with_capacity(KEY_RECORD_DOMAIN.len() + 128);
        m.extend_from_slice(KEY_RECORD_DOMAIN);
        m.extend_from_slice(&key.0);
        for part in [worker, device, registered_at, revoked_at.unwrap_or("")] {
            m.extend_from_slice(&(part.len() as u32).to_be_bytes());
            m.extend_from_slice(part.as_bytes());
        }
        m
    }

    /// Whether `server` signed this registration as it stands (unsigned: it did not).
    pub fn verify(&self, server: &PublicKey) -> Result<(), SignatureError> {
        let sig = self.sig.as_ref().ok_or(SignatureError::BadSignature)?;
        let message = Self::message(
            &self.key,
            &self.worker,
            &self.device,
            &self.registered_at,
            self.revoked_at.as_deref(),
        );
        verify(server, &message, sig)
    }
}

/// The server's signed receipt of a pushed document: "received by the council at 14:02" as
/// something the worker can show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub doc: String,
    /// The heads the server acknowledged (sorted).
    pub heads: Vec<Hash>,
    /// RFC 3339, the server's clock.
    pub received_at: String,
    /// The device that pushed them.
    pub device: String,
    /// The server's public key.
    pub key: PublicKey,
    pub sig: Sig,
}

impl Receipt {
    /// Signs a receipt with the server's key (heads sorted first).
    pub fn issue(
        server: &KeyPair,
        doc: &str,
        heads: &[Hash],
        received_at: &str,
        device: &str,
    ) -> Self {
        let mut heads = heads.to_vec();
        heads.sort();
        let message = Self::message(doc, &heads, received_at, device);
        Receipt {
            doc: doc.to_string(),
            heads,
            received_at: received_at.to_string(),
            device: device.to_string(),
            key: server.public(),
            sig: server.sign(&message),
        }
    }

    /// The signed bytes: `RECEIPT_DOMAIN`, then each of doc, received_at and device as a
    /// big-endian u32 length and its UTF-8 bytes, then the number of heads (u32) and each head.
    pub fn message(doc: &str, heads: &[Hash], received_at: &str, device: &str) -> Vec<u8> {
        let mut m = Vec::with_capacity(RECEIPT_DOMAIN.len() + 64 + heads.len() * 32);
        m.extend_from_slice(RECEIPT_DOMAIN);
        for part in [doc, received_at, device] {
            m.extend_from_slice(&(part.len() as u32).to_be_bytes());
            m.extend_from_slice(part.as_bytes());
        }
        m.extend_from_slice(&(heads.len() as u32).to_be_bytes());
        for h in heads {
            m.extend_from_slice(&h.0);
        }
        m
    }

    /// Whether the receipt is signed by `server` and unaltered.
    pub fn verify(&self, server: &PublicKey) -> Result<(), SignatureError> {
        if &self.key != server {
            return Err(SignatureError::BadSignature);
        }
        let message = Self::message(&self.doc, &self.heads, &self.received_at, &self.device);
        verify(server, &message, &self.sig)
    }
}

/// The prefix of a key event's signed message (see `KeyEvent::message`).
pub const KEY_EVENT_DOMAIN: &[u8] = b"fieldbook/key-event/v1\0";

/// A device key registered or revoked, as the server logs it, signed by the server's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEvent {
    /// `registered` or `revoked`.
    pub event: String,
    pub key: PublicKey,
    pub worker: String,
    pub device: String,
    /// RFC 3339.
    pub at: String,
    /// Who: the registering token's fingerprint, or the revoking operator's subject.
    pub by: String,
    /// The server's key that signed the event.
    pub server_key: PublicKey,
    pub sig: Sig,
}

impl KeyEvent {
    #[allow(clippy::too_many_arguments)]
    pub fn issue(
        server: &KeyPair,
        event: &str,
        key: PublicKey,
        worker: &str,
        device: &str,
        at: &str,
        by: &str,
    ) -> Self {
        let message = Self::message(event, &key, worker, device, at, by);
        KeyEvent {
            event: event.into(),
            key,
            worker: worker.into(),
            device: device.into(),
            at: at.into(),
            by: by.into(),
            server_key: server.public(),
            sig: server.sign(&message),
        }
    }

    /// The signed bytes: `KEY_EVENT_DOMAIN`, the key (32 bytes), then each of event, worker,
    /// device, at and by as a big-endian u32 length and its UTF-8 bytes.
    pub fn message(
        event: &str,
        key: &PublicKey,
        worker: &str,
        device: &str,
        at: &str,
        by: &str,
    ) -> Vec<u8> {
        let mut m = Vec::with_capacity(KEY_EVENT_DOMAIN.len() + 128);
        m.extend_from_slice(KEY_EVENT_DOMAIN);
        m.extend_from_slice(&key.0);
        for part in [event, worker, device, at, by] {
            m.extend_from_slice(&(part.len() as u32).to_be_bytes());
            m.extend_from_slice(part.as_bytes());
        }
        m
    }

    pub fn verify(&self, server: &PublicKey) -> Result<(), SignatureError> {
        if &self.server_key != server {
            return Err(SignatureError::BadSignature);
        }
        let message =
            Self::message(&self.event, &self.key, &self.worker, &self.device, &self.at, &self.by);
        verify(server, &message, &self.sig)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_change_signature_verifies_and_any_altered_part_does_not() {
        let key = KeyPair::from_seed(&[1; 32]);
        let sig = key.sign_change(Hash([5; 32]), None);
        sig.verify().unwrap();
        let mut other = sig.clone();
        other.hash.0[0] ^= 1;
        assert_eq!(other.verify(), Err(SignatureError::BadSignature));
        let mut other = sig.clone();
        other.acting = Some("manager:m1".into());
        assert_eq!(other.verify(), Err(SignatureError::BadSignature));
        let mut other = sig.clone();
        other.key = KeyPair::from_seed(&[2; 32]).public();
        assert_eq!(other.verify(), Err(SignatureError::BadSignature));
        assert_eq!(ChangeSignature::from_bytes(&sig.to_bytes()).unwrap(), sig);
    }

    #[test]
    fn a_receipt_altered_in_any_field_fails() {
        let server = KeyPair::from_seed(&[3; 32]);
        let r = Receipt::issue(&server, "d1", &[Hash([9; 32])], "2026-12-02T14:02:00Z", "t1");
        r.verify(&server.public()).unwrap();
        let mut t = r.clone();
        t.received_at = "2026-12-02T14:03:00Z".into();
        assert!(t.verify(&server.public()).is_err());
        let mut t = r.clone();
        t.heads[0].0[31] ^= 1;
        assert!(t.verify(&server.public()).is_err());
        assert!(r.verify(&KeyPair::from_seed(&[4; 32]).public()).is_err());
    }

    #[test]
    fn a_key_registration_verifies_only_unaltered_and_under_its_servers_key() {
        let server = KeyPair::from_seed(&[3; 32]);
        let device = KeyPair::from_seed(&[4; 32]).public();
        let r = KeyRecord::signed(&server, device, "amara", "t1", "2026-12-02T09:00:00Z", None);
        r.verify(&server.public()).unwrap();
        let mut t = r.clone();
        t.worker = "ben".into();
        assert!(t.verify(&server.public()).is_err());
        let mut t = r.clone();
        t.revoked_at = Some("2026-12-02T10:00:00Z".into());
        assert!(t.verify(&server.public()).is_err());
        let mut t = r.clone();
        t.sig = None;
        assert!(t.verify(&server.public()).is_err());
        assert!(r.verify(&KeyPair::from_seed(&[5; 32]).public()).is_err());
    }

    /// The batch says what the one-by-one checks say: every valid page passes, and one altered
    /// signature anywhere in it (its hash, whom it acted for, its key or a byte of it) fails
    /// the batch as it fails alone.
    #[test]
    fn a_batch_agrees_with_the_checks_one_by_one() {
        let keys: Vec<KeyPair> = (1..=3).map(|i| KeyPair::from_seed(&[i; 32])).collect();
        let sigs: Vec<ChangeSignature> = (0..40u8)
            .map(|i| {
                let acting = (i % 4 == 0).then_some("integration:cms");
                keys[usize::from(i) % 3].sign_change(Hash([i; 32]), acting)
            })
            .collect();
        let all: Vec<&ChangeSignature> = sigs.iter().collect();
        verify_all(&all).unwrap();
        verify_all(&[]).unwrap();
        for at in [0, 17, 39] {
            let alterations: [fn(&mut ChangeSignature); 4] = [
                |s| s.hash.0[3] ^= 1,
                |s| s.acting = Some("manager:m1".into()),
                |s| s.key = KeyPair::from_seed(&[9; 32]).public(),
                |s| s.sig.0[40] ^= 1,
            ];
            for alter in alterations {
                let mut page = sigs.clone();
                alter(&mut page[at]);
                assert!(page[at].verify().is_err());
                let all: Vec<&ChangeSignature> = page.iter().collect();
                assert!(verify_all(&all).is_err(), "signature {at} altered");
            }
        }
    }

    #[test]
    fn a_batch_of_receipts_agrees_with_the_checks_one_by_one() {
        let server = KeyPair::from_seed(&[5; 32]);
        let receipts: Vec<Receipt> = (0..20u8)
            .map(|i| Receipt::issue(&server, &format!("doc-{i}"), &[Hash([i; 32])], "t", "tab"))
            .collect();
        let all: Vec<&Receipt> = receipts.iter().collect();
        verify_receipts(&all, &server.public()).unwrap();
        verify_receipts(&[], &server.public()).unwrap();
        let stranger = KeyPair::from_seed(&[6; 32]).public();
        assert!(verify_receipts(&all, &stranger).is_err(), "another server's key");
        let alterations: [fn(&mut Receipt); 5] = [
            |r| r.doc.push('x'),
            |r| r.heads[0].0[0] ^= 1,
            |r| r.received_at = "later".into(),
            |r| r.device = "other".into(),
            |r| r.sig.0[3] ^= 1,
        ];
        for at in [0, 19] {
            for alter in alterations {
                let mut page = receipts.clone();
                alter(&mut page[at]);
                assert!(page[at].verify(&server.public()).is_err());
                let all: Vec<&Receipt> = page.iter().collect();
                assert!(verify_receipts(&all, &server.public()).is_err(), "receipt {at} altered");
            }
        }
    }

    /// What `verify_strict` refuses beyond the equation, the batch refuses too: a key of small
    /// order, and an `R` of small order that satisfies the cofactorless equation (the identity,
    /// with `s = k·a`: the signer's own construction, which plain `verify` would accept).
    #[test]
    fn a_batch_refuses_what_the_strict_check_refuses() {
        use curve25519_dalek::edwards::CompressedEdwardsY;
        use curve25519_dalek::scalar::Scalar;
        use curve25519_dalek::traits::Identity;
        use ed25519_dalek::Verifier;
        use sha2::{Digest, Sha512};
        let signer = SigningKey::from_bytes(&[7; 32]);
        let hash = Hash([1; 32]);
        let message = ChangeSignature::message(&hash, None);
        let identity = CompressedEdwardsY::identity().to_bytes();
        let k: [u8; 64] = Sha512::new()
            .chain_update(identity)
            .chain_update(signer.verifying_key().as_bytes())
            .chain_update(&message)
            .finalize()
            .into();
        let s = Scalar::from_bytes_mod_order_wide(&k) * signer.to_scalar();
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&identity);
        bytes[32..].copy_from_slice(s.as_bytes());
        let crafted = ChangeSignature {
            hash,
            key: PublicKey(signer.verifying_key().to_bytes()),
            sig: Sig(bytes),
            acting: None,
        };
        let key = signer.verifying_key();
        assert!(key.verify(&message, &Signature::from_bytes(&bytes)).is_ok(), "cofactorless");
        assert!(crafted.verify().is_err(), "strict refuses it");
        assert!(verify_all(&[&crafted]).is_err(), "so does the batch");

        // The identity as a key: of small order.
        let weak = ChangeSignature { key: PublicKey(identity), ..crafted.clone() };
        assert!(weak.verify().is_err());
        assert_eq!(verify_all(&[&weak]), Err(SignatureError::BadKey));
    }

    /// The byte test of `R` agrees with decompressing it: every encoding of a point of small
    /// order (either sign bit) and every `y ≥ p` is refused, the `R` of real signatures never.
    #[test]
    fn r_is_refused_exactly_when_of_small_order_or_not_canonical() {
        let with_r = |r: [u8; 32]| {
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&r);
            sig
        };
        for point in curve25519_dalek::constants::EIGHT_TORSION {
            let r = point.compress().to_bytes();
            assert!(strict_refuses_r(&with_r(r)));
            let mut flipped = r;
            flipped[31] ^= 0x80;
            assert!(strict_refuses_r(&with_r(flipped)));
        }
        for low in 0xed..=0xff {
            let mut r = [0xff; 32];
            r[0] = low;
            r[31] = 0x7f;
            assert!(strict_refuses_r(&with_r(r)), "y = p + {}", low - 0xed);
        }
        let key = KeyPair::from_seed(&[4; 32]);
        for i in 0..200u8 {
            let sig = key.sign_change(Hash([i; 32]), None).sig.0;
            assert!(!strict_refuses_r(&sig));
        }
    }

    /// RFC 8032 §7.1 test 1: the primitive is standard Ed25519.
    #[test]
    fn rfc_8032_test_vector() {
        let seed: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap()
                .try_into()
                .unwrap();
        let key = KeyPair::from_seed(&seed);
        assert_eq!(
            key.public().to_hex(),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            hex::encode(key.sign(b"").0),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }
}
