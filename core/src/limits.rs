//! Size limits on what a caller may store, checked before anything is written so that a record
//! too large for a tablet is refused with a clear error instead of exhausting memory or storage
//! later (in the document, the sync message, the server).

use crate::error::{Error, Result};
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
}
