//! A walk over the chunk headers of Automerge binary data, done before automerge sees the bytes.
//!
//! automerge 0.12 inflates a compressed change chunk (type 2) and every deflated column of a
//! document chunk with an unbounded `read_to_end`, before any other check: a 1 MiB chunk that
//! inflates to 1 GiB cost the server 14 s and 3 GB. This walk decides from the headers alone
//! what the data may contain, by where it came from (`Source`), and inflates the deflated columns
//! it allows into nothing, counting, so that refusing a deflate bomb costs at most
//! `limits::MAX_INFLATED_BYTES` of work and no memory.
//!
//! The layout (Automerge's binary format): a chunk is magic bytes, a 4-byte checksum, a type byte
//! (0 document, 1 change, 2 compressed change, 3 bundle) and the uLEB128 length of the data that
//! follows. Column metadata is a uLEB128 count of (uLEB128 spec, uLEB128 length) pairs; bit 3 of
//! a spec marks the column's data as deflated. The walk checks only what it needs to find chunk
//! boundaries and deflated columns; everything else is automerge's to validate.

use std::io::Read;

use crate::error::Error;
use crate::limits::MAX_INFLATED_BYTES;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DEFLATE_BIT: u64 = 0b1000;

/// Where bytes come from, which decides what they may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Changes: what devices push, what the server sends and stores, and the chunks a device's
    /// store appends after its snapshot. All of it is `save_after` output, so only change chunks
    /// (type 1) without deflated columns are accepted.
    Changes,
    /// A snapshot the device's store wrote with `save`: document chunks (type 0), whose long
    /// columns automerge deflates, and change chunks. The deflated columns are inflated (counted,
    /// not kept) under `limits::MAX_INFLATED_BYTES` for the whole input.
    Snapshot,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Changes => "exchanged changes",
            Self::Snapshot => "a stored snapshot",
        })
    }
}

/// What a walk found in data it accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scan {
    pub chunks: usize,
    /// Deflated columns (document chunks in a snapshot only).
    pub deflated_columns: usize,
    /// What those columns inflate to, in all: the most automerge will inflate loading the data.
    pub inflated_bytes: usize,
}

/// Why data was refused. Record content never appears here: only offsets, types and sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("no Automerge chunk at byte {at}")]
    BadMagic { at: usize },
    #[error("the {what} at byte {at} is cut short")]
    Truncated { what: &'static str, at: usize },
    #[error("the {what} at byte {at} is malformed")]
    Malformed { what: &'static str, at: usize },
    #[error("unknown Automerge chunk type {chunk_type} at byte {at}")]
    UnknownType { chunk_type: u8, at: usize },
    #[error("a {} (chunk type {chunk_type}) at byte {at} is not accepted in {origin}", chunk_name(*.chunk_type))]
    Refused { chunk_type: u8, at: usize, origin: Source },
    #[error("a deflated column in the change at byte {at} is not accepted in {origin}")]
    DeflatedColumn { at: usize, origin: Source },
    #[error("a deflated column in the chunk at byte {at} is not valid deflate data")]
    BadDeflate { at: usize },
    #[error("deflated columns inflate past the limit of {limit} bytes")]
    InflatesTooFar { limit: usize },
}

fn chunk_name(chunk_type: u8) -> &'static str {
    match chunk_type {
        0 => "document chunk",
        1 => "change chunk",
        2 => "compressed change chunk",
        3 => "bundle",
        _ => "chunk",
    }
}

impl From<ChunkError> for Error {
    fn from(e: ChunkError) -> Self {
        match e {
            ChunkError::InflatesTooFar { limit } => Error::TooLarge {
                what: "the document's inflated data (counted up to the limit)",
                size: limit.saturating_add(1),
                limit,
            },
            other => Error::CorruptDocument { reason: other.to_string() },
        }
    }
}

/// Walks `bytes` as data from `source`, under `limits::MAX_INFLATED_BYTES`.
pub fn check(bytes: &[u8], source: Source) -> Result<Scan, ChunkError> {
    check_within(bytes, source, MAX_INFLATED_BYTES)
}

/// The change chunks of exchanged changes (`Source::Changes`), each as its own bytes, after the
/// same walk as `check`: what the server parses one by one (`automerge::Change::try_from`)
/// instead of asking a loaded document to rebuild them, which costs far more.
pub fn change_chunks(bytes: &[u8]) -> Result<Vec<&[u8]>, ChunkError> {
    check(bytes, Source::Changes)?;
    let mut out = Vec::new();
    let mut input = Reader { bytes, at: 0 };
    while !input.is_empty() {
        let start = input.at;
        input.take(9, "chunk header")?; // magic, checksum, type: checked above
        let len = input.length("chunk header")?;
        input.take(len, "chunk")?;
        out.push(&bytes[start..input.at]);
    }
    Ok(out)
}

/// Whether `bytes` hold a change chunk that builds on nothing: a document's first change. Read
/// from the header alone (the deps count is the first field of a change's data), so the server
/// can tell, for each document of a response, whether it sends the document from its beginning
/// (`hub::feed`: those get their list row). Anything else, damaged bytes included, is `false`.
pub fn starts_history(bytes: &[u8]) -> bool {
    let mut input = Reader { bytes, at: 0 };
    let header = (|| {
        if input.take(4, "chunk header")? != MAGIC {
            return Err(ChunkError::BadMagic { at: 0 });
        }
        input.take(4, "chunk header")?;
        let chunk_type = input.byte("chunk header")?;
        input.length("chunk header")?;
        Ok(chunk_type)
    })();
    header == Ok(1) && input.length("change").is_ok_and(|deps| deps == 0)
}

/// What the header of one change chunk says: its hash, the changes it builds on, its author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeHeader {
    pub hash: automerge::ChangeHash,
    pub deps: Vec<automerge::ChangeHash>,
    pub actor: automerge::ActorId,
}

/// Reads one change chunk (type 1, as `change_chunks` hands them out) without decoding its
/// operations: the hash is Automerge's (SHA-256 over the type byte, the uLEB128 length and the
/// data), and the chunk's checksum (the hash's first 4 bytes) must match it, as automerge
/// requires. The operations are automerge's to check when the document is loaded.
pub fn change_header(chunk: &[u8]) -> Result<ChangeHeader, ChunkError> {
    use sha2::{Digest, Sha256};
    let what = "change";
    let mut input = Reader { bytes: chunk, at: 0 };
    if input.take(4, "chunk header")? != MAGIC {
        return Err(ChunkError::BadMagic { at: 0 });
    }
    let checksum = input.take(4, "chunk header")?;
    if input.byte("chunk header")? != 1 {
        return Err(ChunkError::Malformed { what: "change chunk type", at: 8 });
    }
    let len = input.length("chunk header")?;
    let data = input.take(len, "chunk")?;
    if !input.is_empty() {
        return Err(input.malformed(what));
    }
    let mut length = Vec::with_capacity(10);
    let mut n = len as u64;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            length.push(byte);
            break;
        }
        length.push(byte | 0x80);
    }
    let hash: [u8; 32] = Sha256::new()
        .chain_update([1u8])
        .chain_update(&length)
        .chain_update(data)
        .finalize()
        .into();
    if hash[..4] != *checksum {
        return Err(ChunkError::Malformed { what: "change checksum", at: 4 });
    }
    let mut body = Reader { bytes: data, at: 0 };
    let mut deps = Vec::new();
    for _ in 0..body.length(what)? {
        let dep: [u8; 32] = body.take(32, what)?.try_into().map_err(|_| body.malformed(what))?;
        deps.push(automerge::ChangeHash(dep));
    }
    let actor = automerge::ActorId::from(body.length_prefixed(what)?);
    Ok(ChangeHeader { hash: automerge::ChangeHash(hash), deps, actor })
}

/// `check` with another inflate limit (the fuzz target uses a small one to reach the cap).
pub fn check_within(bytes: &[u8], source: Source, limit: usize) -> Result<Scan, ChunkError> {
    let mut scan = Scan::default();
    let mut input = Reader { bytes, at: 0 };
    while !input.is_empty() {
        let start = input.at;
        if input.take(4, "chunk header")? != MAGIC {
            return Err(ChunkError::BadMagic { at: start });
        }
        input.take(4, "chunk header")?; // checksum: automerge verifies it
        let chunk_type = input.byte("chunk header")?;
        let len = input.length("chunk header")?;
        let data_at = input.at;
        let data = input.take(len, "chunk")?;
        let mut chunk = Reader { bytes: data, at: 0 };
        match (chunk_type, source) {
            (1, _) => check_change(&mut chunk, start, source)?,
            (0, Source::Snapshot) => check_document(&mut chunk, data_at, limit, &mut scan)?,
            (0 | 2 | 3, _) => {
                return Err(ChunkError::Refused { chunk_type, at: start, origin: source })
            }
            _ => return Err(ChunkError::UnknownType { chunk_type, at: start }),
        }
        scan.chunks += 1;
    }
    Ok(scan)
}

/// A change chunk: deps, actor, seq, start op, time, message, other actors, then the op columns,
/// none of which may be deflated (automerge refuses them too, but only after parsing; this keeps
/// the rule independent of its version).
fn check_change(chunk: &mut Reader<'_>, start: usize, source: Source) -> Result<(), ChunkError> {
    let what = "change";
    let deps = chunk.length(what)?;
    chunk.take(deps.checked_mul(32).ok_or(chunk.malformed(what))?, what)?;
    chunk.length_prefixed(what)?; // actor
    chunk.uleb(what)?; // seq
    chunk.uleb(what)?; // start op
    chunk.leb(what)?; // time, signed
    chunk.length_prefixed(what)?; // message
    for _ in 0..chunk.uleb(what)? {
        chunk.length_prefixed(what)?; // other actors
    }
    chunk.columns(what, |deflated, _| {
        if deflated {
            return Err(ChunkError::DeflatedColumn { at: start, origin: source });
        }
        Ok(())
    })
}

/// A document chunk: actors, heads, change column metadata, op column metadata, then the change
/// columns' data and the op columns' data. Each deflated column is inflated into nothing, its
/// size counted against `limit` for the whole input.
fn check_document(
    chunk: &mut Reader<'_>,
    data_at: usize,
    limit: usize,
    scan: &mut Scan,
) -> Result<(), ChunkError> {
    let what = "document";
    for _ in 0..chunk.uleb(what)? {
        chunk.length_prefixed(what)?; // actors
    }
    let heads = chunk.length(what)?;
    chunk.take(heads.checked_mul(32).ok_or(chunk.malformed(what))?, what)?;
    // The metadata is read twice (here to find where the data starts, then column by column
    // with its data) rather than collected: a list of columns would cost more than its input.
    let change_meta = chunk.at;
    chunk.columns(what, |_, _| Ok(()))?;
    let op_meta = chunk.at;
    chunk.columns(what, |_, _| Ok(()))?;
    for meta_at in [change_meta, op_meta] {
        let mut meta = Reader { bytes: chunk.bytes, at: meta_at };
        meta.columns(what, |deflated, len| {
            let at = data_at + chunk.at;
            let data = chunk.take(len, what)?;
            if !deflated {
                return Ok(());
            }
            scan.deflated_columns += 1;
            let budget = limit.saturating_sub(scan.inflated_bytes);
            let inflated = inflated_len(data, budget).ok_or(ChunkError::BadDeflate { at })?;
            if inflated > budget {
                return Err(ChunkError::InflatesTooFar { limit });
            }
            scan.inflated_bytes += inflated;
            Ok(())
        })?;
    }
    Ok(())
}

/// What `data` inflates to, stopping one byte past `budget` (so the answer exceeds `budget` when
/// the data would); `None` when it is not deflate data. Uses the decoder automerge uses, so it
/// reads the bytes automerge would.
fn inflated_len(data: &[u8], budget: usize) -> Option<usize> {
    let cap = u64::try_from(budget).unwrap_or(u64::MAX).saturating_add(1);
    let mut decoder = flate2::bufread::DeflateDecoder::new(data).take(cap);
    let n = std::io::copy(&mut decoder, &mut std::io::sink()).ok()?;
    Some(usize::try_from(n).unwrap_or(usize::MAX))
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn is_empty(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn malformed(&self, what: &'static str) -> ChunkError {
        ChunkError::Malformed { what, at: self.at }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ChunkError> {
        let end = self.at.checked_add(n).filter(|end| *end <= self.bytes.len());
        let end = end.ok_or(ChunkError::Truncated { what, at: self.at })?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, ChunkError> {
        Ok(self.take(1, what)?[0])
    }

    /// An unsigned LEB128 number of at most 64 bits.
    fn uleb(&mut self, what: &'static str) -> Result<u64, ChunkError> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.byte(what)?;
            let low = u64::from(byte & 0x7f);
            if shift == 63 && low > 1 {
                return Err(self.malformed(what));
            }
            value |= low << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.malformed(what))
    }

    /// A length or count, which must fit in memory to mean anything.
    fn length(&mut self, what: &'static str) -> Result<usize, ChunkError> {
        let n = self.uleb(what)?;
        usize::try_from(n).map_err(|_| self.malformed(what))
    }

    fn length_prefixed(&mut self, what: &'static str) -> Result<&'a [u8], ChunkError> {
        let n = self.length(what)?;
        self.take(n, what)
    }

    /// A signed LEB128 number, skipped: at most 10 bytes.
    fn leb(&mut self, what: &'static str) -> Result<(), ChunkError> {
        for _ in 0..10 {
            if self.byte(what)? & 0x80 == 0 {
                return Ok(());
            }
        }
        Err(self.malformed(what))
    }

    /// Column metadata: a count of (spec, length) pairs, each handed to `each` as (deflated,
    /// length).
    fn columns(
        &mut self,
        what: &'static str,
        mut each: impl FnMut(bool, usize) -> Result<(), ChunkError>,
    ) -> Result<(), ChunkError> {
        for _ in 0..self.uleb(what)? {
            let spec = self.uleb(what)?;
            if spec > u64::from(u32::MAX) {
                return Err(self.malformed(what));
            }
            let len = self.length(what)?;
            each(spec & DEFLATE_BIT != 0, len)?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "chunk_tests.rs"]
mod tests;
