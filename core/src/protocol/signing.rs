//! Evidence-grade records (issue #16): Ed25519 signatures (RFC 8032, ed25519-dalek) over change
//! hashes, the server's signed receipts, and the registrations of device keys.
//!
//! Every signed message starts with a fixed domain string (`CHANGE_DOMAIN`, `RECEIPT_DOMAIN`),
//! so a signature made for one purpose can never be replayed as another. The exact bytes are
//! written out in docs/PROTOCOL.md ("Keys, signatures, receipts and revocation") so that anyone
//! can check them with another Ed25519 implementation.

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
