//! CBOR encoding with the protocol's bounds checked while decoding: the body size, and every
//! count, id and blob, so a malformed or hostile message is a typed error, never a panic.

use serde::{de::DeserializeOwned, Serialize};

use super::{limits, DocHeads, PushDoc, SyncRequest, SyncResponse, PROTOCOL_VERSION};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the message is {size} bytes, over the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("the message is not valid CBOR for this protocol: {0}")]
    Malformed(String),
    #[error("protocol version {0} is not supported (this build speaks {PROTOCOL_VERSION})")]
    UnsupportedVersion(u32),
    #[error("{what} exceeds its limit")]
    OverLimit { what: &'static str },
    /// Bytes after the message: a body is exactly one CBOR value, so anything appended (a second
    /// message, padding, a smuggled payload) is refused rather than silently ignored.
    #[error("{count} bytes follow the message")]
    TrailingBytes { count: usize },
}

pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail for these types; an empty body would be refused by the peer.
    let _ = ciborium::into_writer(message, &mut out);
    out
}

/// Decodes a message of exactly `bytes` (one CBOR value, nothing after it) of at most `limit`
/// bytes. ciborium bounds nesting depth itself.
pub fn decode<T: DeserializeOwned + Bounded>(bytes: &[u8], limit: usize) -> Result<T, DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge { size: bytes.len(), limit });
    }
    // ciborium reads exactly the bytes of one value from a slice and leaves the rest in it.
    let mut rest = bytes;
    let message: T =
        ciborium::from_reader(&mut rest).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes { count: rest.len() });
    }
    message.check()?;
    Ok(message)
}

/// The bounds a decoded message must satisfy.
pub trait Bounded {
    fn check(&self) -> Result<(), DecodeError>;
}

fn id_ok(id: &str, what: &'static str) -> Result<(), DecodeError> {
    if id.is_empty() || id.len() > limits::MAX_ID_LEN {
        return Err(DecodeError::OverLimit { what });
    }
    Ok(())
}

fn version_ok(v: u32) -> Result<(), DecodeError> {
    if v != PROTOCOL_VERSION {
        return Err(DecodeError::UnsupportedVersion(v));
    }
    Ok(())
}

fn heads_ok(h: &DocHeads) -> Result<(), DecodeError> {
    id_ok(&h.id, "a document id")?;
    if h.heads.len() > limits::MAX_HEADS {
        return Err(DecodeError::OverLimit { what: "heads" });
    }
    Ok(())
}

fn push_ok(p: &PushDoc) -> Result<(), DecodeError> {
    id_ok(&p.id, "a document id")?;
    id_ok(&p.case_id, "a case id")?;
    if p.heads.len() > limits::MAX_HEADS {
        return Err(DecodeError::OverLimit { what: "heads" });
    }
    if p.changes.len() > limits::MAX_DOC_CHANGE_BYTES {
        return Err(DecodeError::OverLimit { what: "a document's changes" });
    }
    Ok(())
}

impl Bounded for SyncRequest {
    fn check(&self) -> Result<(), DecodeError> {
        version_ok(self.version)?;
        id_ok(&self.device, "the device id")?;
        if self.push.len() > limits::MAX_DOCS || self.check.len() > limits::MAX_DOCS {
            return Err(DecodeError::OverLimit { what: "documents" });
        }
        self.push.iter().try_for_each(push_ok)?;
        self.check.iter().try_for_each(heads_ok)
    }
}

impl Bounded for SyncResponse {
    fn check(&self) -> Result<(), DecodeError> {
        version_ok(self.version)?;
        self.acks.iter().try_for_each(heads_ok)?;
        for d in &self.docs {
            id_ok(&d.id, "a document id")?;
            id_ok(&d.case_id, "a case id")?;
            if d.changes.len() > limits::MAX_DOC_CHANGE_BYTES {
                return Err(DecodeError::OverLimit { what: "a document's changes" });
            }
        }
        self.allocated.iter().chain(&self.revoked).try_for_each(|c| id_ok(c, "a case id"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::protocol::Hash;
    use crate::records::RecordKind;

    fn request() -> SyncRequest {
        SyncRequest {
            version: PROTOCOL_VERSION,
            device: "tablet-1".into(),
            cursor: 42,
            cursor_tag: 9,
            push: vec![PushDoc {
                id: "doc-1".into(),
                kind: RecordKind::Visit,
                case_id: "case-1".into(),
                heads: vec![Hash([7; 32])],
                changes: vec![1, 2, 3],
            }],
            check: vec![],
            response_budget: 1024,
        }
    }

    #[test]
    fn round_trip() {
        let bytes = encode(&request());
        assert_eq!(decode::<SyncRequest>(&bytes, 1 << 20).unwrap(), request());
    }

    #[test]
    fn bounds_and_garbage_are_typed_errors() {
        let bytes = encode(&request());
        assert!(matches!(decode::<SyncRequest>(&bytes, 10), Err(DecodeError::TooLarge { .. })));
        assert!(matches!(
            decode::<SyncRequest>(b"\xff\x00garbage", 1 << 20),
            Err(DecodeError::Malformed(_))
        ));
        let mut r = request();
        r.version = 99;
        assert_eq!(
            decode::<SyncRequest>(&encode(&r), 1 << 20),
            Err(DecodeError::UnsupportedVersion(99))
        );
        let mut r = request();
        r.push[0].id = "x".repeat(500);
        assert!(matches!(
            decode::<SyncRequest>(&encode(&r), 1 << 20),
            Err(DecodeError::OverLimit { .. })
        ));
        // Every truncation of a valid message is an error, never a panic.
        for cut in 0..bytes.len() {
            assert!(decode::<SyncRequest>(&bytes[..cut], 1 << 20).is_err());
        }
    }

    #[test]
    fn trailing_bytes_after_the_message_are_refused() {
        let bytes = encode(&request());
        for tail in [&[0x00][..], &[0xf6], &bytes[..]] {
            let mut body = bytes.clone();
            body.extend_from_slice(tail);
            assert_eq!(
                decode::<SyncRequest>(&body, 1 << 20),
                Err(DecodeError::TrailingBytes { count: tail.len() })
            );
        }
        assert_eq!(decode::<SyncRequest>(&bytes, 1 << 20).unwrap(), request());
    }

    #[test]
    fn deeply_nested_input_is_refused_without_overflowing_the_stack() {
        let nested = vec![0x81u8; 100_000]; // arrays of arrays of ...
        assert!(decode::<SyncRequest>(&nested, 1 << 20).is_err());
    }
}
