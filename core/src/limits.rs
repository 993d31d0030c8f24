//! Size limits on what a caller may store, checked before anything is written so that a record
//! too large for a tablet is refused with a clear error instead of exhausting memory or storage
//! later (in the document, the sync message, the server).

use crate::error::{Error, Result};
use serde_json::Value as Json;

use crate::records::RecordBody;

/// A record's content, as JSON. A long assessment is some tens of kilobytes; 1 MiB leaves room
/// for years of notes while keeping every sync message (8 MiB per document) far from its bound.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// The most bytes the deflated parts of one input of Automerge data (a stored snapshot, with the
/// chunks that follow it) may inflate to, summed over every deflated column. Counted by
/// `document::chunks` while inflating into nothing, before automerge sees the bytes, so a
/// deflate bomb costs at most this much work and no memory to refuse.
///
/// A multiple of `MAX_RECORD_BYTES`, not the limit itself: the record limit bounds the content,
/// and a document holds its content plus its history, so a record at the limit already decodes
/// to more than 1 MiB. Sixteen times the record limit is twice the changes one document may carry
/// in a sync message (`protocol::limits::MAX_DOC_CHANGE_BYTES`): a document whose snapshot
/// decodes to more is far past anything a worker writes.
pub const MAX_INFLATED_BYTES: usize = 16 * MAX_RECORD_BYTES;

/// Refuses a body larger than `MAX_RECORD_BYTES`. Counts while serialising and stops at the
/// limit, so an enormous body costs no more memory than the limit to reject.
pub fn check_record_size(body: &RecordBody) -> Result<()> {
    let mut counter = Counter { n: 0 };
    match serde_json::to_writer(&mut counter, body) {
        Ok(()) => Ok(()),
        Err(e) if e.is_io() => {
            Err(Error::TooLarge { what: "the record", size: counter.n, limit: MAX_RECORD_BYTES })
        }
        Err(e) => Err(e.into()),
    }
}

/// Refuses a body, already serialised as a JSON value (`serde_json::to_value`, which a write
/// needs for its diff anyway), whose JSON text would be larger than `MAX_RECORD_BYTES`: the same
/// limit and the same count as `check_record_size`, without serialising the body again. The
/// count stops once past the limit.
pub fn check_record_json_size(body: &Json) -> Result<()> {
    let size = json_len(body, MAX_RECORD_BYTES);
    if size > MAX_RECORD_BYTES {
        return Err(Error::TooLarge { what: "the record", size, limit: MAX_RECORD_BYTES });
    }
    Ok(())
}

/// The length of `value` as compact JSON text (what `serde_json::to_string` writes), counted
/// from the value; once the count passes `stop` the rest is not counted.
fn json_len(value: &Json, stop: usize) -> usize {
    match value {
        Json::Null => 4,
        Json::Bool(b) => {
            if *b {
                4
            } else {
                5
            }
        }
        Json::Number(n) => n.to_string().len(),
        Json::String(s) => string_len(s),
        Json::Array(items) => {
            let mut n = 2 + items.len().saturating_sub(1);
            for item in items {
                if n > stop {
                    break;
                }
                n += json_len(item, stop);
            }
            n
        }
        Json::Object(map) => {
            let mut n = 2 + map.len().saturating_sub(1);
            for (key, item) in map {
                if n > stop {
                    break;
                }
                n += string_len(key) + 1 + json_len(item, stop);
            }
            n
        }
    }
}

/// A string as serde_json writes it: quoted, `"`, `\` and control characters escaped
/// (`\n`-style for the five with short forms, `\u00XX` for the rest), everything else as UTF-8.
fn string_len(s: &str) -> usize {
    2 + s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0x00..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}

struct Counter {
    n: usize,
}

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.n += buf.len();
        if self.n > MAX_RECORD_BYTES {
            return Err(std::io::Error::other("over the record size limit"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::records::{Visit, VisitKind};

    #[test]
    fn a_record_over_the_limit_is_refused_with_its_size() {
        let mut v = Visit::new(VisitKind::ChildInNeed, chrono::Utc::now());
        v.observations = "a".repeat(MAX_RECORD_BYTES - 4096);
        assert!(check_record_size(&RecordBody::Visit(v.clone())).is_ok());
        v.observations = "a".repeat(MAX_RECORD_BYTES + 1);
        match check_record_size(&RecordBody::Visit(v)) {
            Err(Error::TooLarge { size, limit, .. }) => {
                assert_eq!(limit, MAX_RECORD_BYTES);
                assert!(size > limit);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_json_value_count_is_the_length_serde_json_writes() {
        let mut v = Visit::new(VisitKind::ChildInNeed, chrono::Utc::now());
        v.observations =
            "quote \" backslash \\ tab \t nul \u{0} bell \u{7} del \u{7f} é ✓ 😀\n".into();
        v.child_seen = Some(false);
        v.seen_alone = Some(true);
        for body in [
            RecordBody::Visit(v.clone()),
            RecordBody::Visit(Visit::new(VisitKind::ChildInNeed, chrono::Utc::now())),
        ] {
            let value = serde_json::to_value(&body).unwrap();
            let text = serde_json::to_string(&body).unwrap();
            assert_eq!(json_len(&value, usize::MAX), text.len());
        }
        let numbers = serde_json::json!([1, -20, 3.5, 1e300, u64::MAX, null, [], {}]);
        assert_eq!(json_len(&numbers, usize::MAX), serde_json::to_string(&numbers).unwrap().len());
    }

    #[test]
    fn the_json_value_check_refuses_what_the_serialising_check_refuses() {
        let mut v = Visit::new(VisitKind::ChildInNeed, chrono::Utc::now());
        // Escapes count: each quote is two bytes of JSON.
        v.observations = "\"".repeat(MAX_RECORD_BYTES / 2 - 2048);
        let ok = RecordBody::Visit(v.clone());
        assert!(check_record_size(&ok).is_ok());
        assert!(check_record_json_size(&serde_json::to_value(&ok).unwrap()).is_ok());
        v.observations = "\"".repeat(MAX_RECORD_BYTES / 2 + 1);
        let big = RecordBody::Visit(v);
        assert!(matches!(check_record_size(&big), Err(Error::TooLarge { .. })));
        match check_record_json_size(&serde_json::to_value(&big).unwrap()) {
            Err(Error::TooLarge { size, limit, .. }) => assert!(size > limit),
            other => panic!("{other:?}"),
        }
    }
}
