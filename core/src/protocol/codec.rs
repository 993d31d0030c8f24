//! CBOR encoding with the protocol's bounds checked while decoding: the body size, and every
//! count, id and blob, so a malformed or hostile message is a typed error, never a panic.

use serde::{de::DeserializeOwned, Serialize};

use super::{limits, DocChanges, DocHeads, ErrorBody, SyncRequest, SyncResponse, PROTOCOL_VERSION};

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

/// One document's changes, pushed or sent: ids, heads and bytes within bounds.
fn push_ok(p: &DocChanges) -> Result<(), DecodeError> {
    id_ok(&p.id, "a document id")?;
    id_ok(&p.case_id, "a case id")?;
    if p.heads.len() > limits::MAX_HEADS {
        return Err(DecodeError::OverLimit { what: "heads" });
    }
    if p.changes.len() > limits::MAX_DOC_CHANGE_BYTES {
        return Err(DecodeError::OverLimit { what: "a document's changes" });
    }
    if p.signatures.len() > limits::MAX_SIGNATURES {
        return Err(DecodeError::OverLimit { what: "a document's signatures" });
    }
    p.signatures.iter().try_for_each(|s| match &s.acting {
        Some(a) => id_ok(a, "an acting identity"),
        None => Ok(()),
    })
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

/// An error body carries no version (every version's errors share it) and no lists: its size
/// is bounded by the decode's byte limit alone.
impl Bounded for ErrorBody {
    fn check(&self) -> Result<(), DecodeError> {
        Ok(())
    }
}

impl Bounded for SyncResponse {
    fn check(&self) -> Result<(), DecodeError> {
        version_ok(self.version)?;
        self.acks.iter().try_for_each(heads_ok)?;
        self.docs.iter().try_for_each(push_ok)?;
        if self.receipts.len() > limits::MAX_DOCS || self.keys.len() > limits::MAX_DOCS {
            return Err(DecodeError::OverLimit { what: "receipts or keys" });
        }
        self.allocated.iter().chain(&self.revoked).try_for_each(|c| id_ok(c, "a case id"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::protocol::{Hash, PushDoc};
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
                signatures: Vec::new(),
                listing: None,
            }],
            check: vec![],
            response_budget: 1024,
            device_key: None,
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

/// The wire bytes of a request and a response, pinned: a change to the shared types
/// (`DocChanges`, `Hash`) must not change what goes over the network.
#[cfg(test)]
mod golden {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::protocol::{
        DocChanges, DocHeads, Hash, PushDoc, RejectReason, Rejection, SyncResponse,
    };
    use crate::records::RecordKind;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(super) fn request() -> SyncRequest {
        SyncRequest {
            version: PROTOCOL_VERSION,
            device: "t1".into(),
            cursor: 42,
            cursor_tag: 9,
            push: vec![PushDoc {
                id: "d1".into(),
                kind: RecordKind::Visit,
                case_id: "c1".into(),
                heads: vec![Hash([7; 32])],
                changes: vec![1, 2, 3],
                signatures: Vec::new(),
                listing: None,
            }],
            check: vec![DocHeads {
                id: "d2".into(),
                case_id: String::new(),
                heads: vec![Hash([8; 32])],
            }],
            response_budget: 1024,
            device_key: None,
        }
    }

    pub(super) fn response() -> SyncResponse {
        SyncResponse {
            version: PROTOCOL_VERSION,
            acks: vec![DocHeads {
                id: "d1".into(),
                case_id: String::new(),
                heads: vec![Hash([7; 32])],
            }],
            rejected: vec![Rejection { id: "d3".into(), reason: RejectReason::NotAllocated }],
            docs: vec![DocChanges {
                id: "d4".into(),
                kind: RecordKind::CaseNote,
                case_id: "c1".into(),
                heads: Vec::new(),
                changes: vec![4, 5],
                signatures: Vec::new(),
                listing: None,
            }],
            allocated: vec!["c2".into()],
            revoked: vec!["c3".into()],
            send_all: vec!["d5".into()],
            next_cursor: 43,
            next_cursor_tag: 10,
            resync: false,
            more: true,
            receipts: Vec::new(),
            keys: Vec::new(),
            server_key: None,
        }
    }

    /// Recorded from the build before the types were shared (issue #12).
    const REQUEST: &str = "a76776657273696f6e016664657669636562743166637572736f72182a6a637572736f725f74616709647075736881a5626964626431646b696e6465766973697467636173655f69646263316568656164738158200707070707070707070707070707070707070707070707070707070707070707676368616e6765734301020365636865636b81a262696462643265686561647381582008080808080808080808080808080808080808080808080808080808080808086f726573706f6e73655f627564676574190400";
    const RESPONSE: &str = "ab6776657273696f6e016461636b7381a262696462643165686561647381582007070707070707070707070707070707070707070707070707070707070707076872656a656374656481a262696462643366726561736f6e6d6e6f745f616c6c6f636174656464646f637381a4626964626434646b696e6469636173655f6e6f746567636173655f6964626331676368616e67657342040569616c6c6f636174656481626332677265766f6b6564816263336873656e645f616c6c816264356b6e6578745f637572736f72182b6f6e6578745f637572736f725f7461670a66726573796e63f4646d6f7265f5";

    #[test]
    fn request_and_response_bytes_are_unchanged() {
        assert_eq!(hex(&encode(&request())), REQUEST);
        assert_eq!(hex(&encode(&response())), RESPONSE);
        let bytes: Vec<u8> = (0..REQUEST.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&REQUEST[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(decode::<SyncRequest>(&bytes, 1 << 20).unwrap(), request());
    }

    /// A checked document names its case (the server revokes it when the caller may not see
    /// it); a check without one, from an older device, still decodes (as an empty case).
    #[test]
    fn a_check_carries_its_case_and_an_older_check_decodes_without_one() {
        let mut with_case = request();
        with_case.check[0].case_id = "c1".into();
        let bytes = encode(&with_case);
        assert_ne!(hex(&bytes), REQUEST);
        assert_eq!(decode::<SyncRequest>(&bytes, 1 << 20).unwrap().check[0].case_id, "c1");
    }
}
