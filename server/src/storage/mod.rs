//! The server's storage: rows only, no Automerge and no access decisions (those live in `hub`).
//! Two backends pass the same conformance suite (`tests/storage_conformance.rs`): SQLite through
//! rusqlite on a blocking pool (the embedded default) and PostgreSQL through tokio-postgres.
//!
//! One monotonic sequence numbers both document changes and allocation events: a device's cursor
//! is a position in that sequence.
//!
//! Each backend has one ordered list of schema migrations (`sqlite_schema`, `postgres_schema`),
//! applied on open; a database written by a newer build is refused (`SchemaTooNew`). The embedded
//! SQLite file is encrypted with SQLCipher under a key file (`key`, `sqlite_file`).

pub mod attachments;
pub mod key;
pub mod postgres;
mod postgres_attachments;
mod postgres_projection;
pub mod postgres_schema;
mod postgres_signing;
mod postgres_tags;
pub mod projection_visit;
pub mod signing;
pub mod sqlite;
mod sqlite_attachments;
pub mod sqlite_file;
mod sqlite_projection;
pub mod sqlite_schema;
mod sqlite_signing;
mod sqlite_tags;
mod sqlite_thread;

use std::path::PathBuf;

use async_trait::async_trait;
use fieldbook_core::records::{RecordKind, RecordStatus};
pub use projection_visit::{fold_projections, CaseRow, DocRow, ProjectionVisitor};

/// A change hash: the protocol's own type, shared by the device, the wire and storage.
pub use fieldbook_core::protocol::Hash;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("postgres pool: {0}")]
    Pool(String),
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    #[error("the storage task failed: {0}")]
    Task(String),
    #[error(
        "the database's schema is version {found}, newer than this build knows ({supported}): \
         run the newer server that wrote it, or restore a backup made by this version"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error(
        "the database cannot be read with this key: the key file is not the one it was \
         encrypted with, or the file is not a Fieldbook server database"
    )]
    WrongKey,
    #[error(
        "the database is encrypted and was opened without a key: give its key file \
         (--sqlite-key-file)"
    )]
    NeedsKey,
    #[error(
        "the database {db} exists and is encrypted, but its key file {key} is missing: \
         restore the key file (a new key cannot read the existing database)"
    )]
    KeyFileMissing { db: PathBuf, key: PathBuf },
    #[error("key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error("encryption key: {0}")]
    Key(String),
    #[error("{path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// What the server knows of a document without loading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocInfo {
    pub id: String,
    pub case_id: String,
    pub kind: RecordKind,
}

/// One stored Automerge change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChange {
    /// Position in the feed.
    pub seq: u64,
    pub doc: DocInfo,
    pub hash: Hash,
    /// The change's bytes (automerge `Change::raw_bytes`).
    pub bytes: Vec<u8>,
}

/// New changes of one document, to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChanges {
    pub doc: DocInfo,
    /// (hash, bytes) in causal order; a hash already stored is skipped.
    pub changes: Vec<(Hash, Vec<u8>)>,
    /// How the document's stored heads move (`None`: the writer does not know them, and the
    /// stored heads become unknown).
    pub heads: Option<HeadsMove>,
    /// The changes' signatures (hash, encoded `ChangeSignature`), stored with them.
    pub signatures: Vec<(Hash, Vec<u8>)>,
}

/// A document's heads before and after an append, as the writer computed them from the
/// document it loaded. Storage applies it as a compare-and-set: the stored heads become `after`
/// only if they were `before`; otherwise (another writer, or another server, appended in
/// between, or they were unknown) they become unknown, and the next reader loads the document
/// and records them again (`Storage::put_heads`). Documents only grow, so equal heads mean equal
/// documents: that is what lets the hub keep hot documents loaded (`hub::cache`) on several
/// servers at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadsMove {
    /// Empty for a new document.
    pub before: Vec<Hash>,
    pub after: Vec<Hash>,
}

/// What the server knows of a document without loading it: its identity and its heads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocState {
    pub info: DocInfo,
    /// Sorted; `None` when unknown (stored before heads were kept, or after concurrent appends).
    pub heads: Option<Vec<Hash>>,
    /// How many changes are stored (what `put_heads` compares against).
    pub changes: u64,
}

/// Heads as stored: sorted 32-byte hashes, concatenated (both backends).
pub fn encode_heads(heads: &[Hash]) -> Vec<u8> {
    let mut sorted = heads.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    sorted.iter().flat_map(|h| h.0).collect()
}

/// Stored heads back into hashes (`Corrupt` when the bytes are not whole hashes).
pub fn decode_heads(bytes: &[u8]) -> Result<Vec<Hash>> {
    if !bytes.len().is_multiple_of(32) {
        return Err(StorageError::Corrupt("stored heads are not whole hashes".into()));
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            Hash(h)
        })
        .collect())
}

/// Who a feed is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// A worker sees the cases allocated to them.
    Worker(String),
    /// A manager sees the cases allocated to anyone in their team.
    Team(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocationChange {
    Allocated,
    Revoked,
}

/// A case becoming visible, or no longer visible, to an audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocationEvent {
    pub seq: u64,
    pub case_id: String,
    pub change: AllocationChange,
}

/// The current allocation of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub case_id: String,
    pub worker: String,
    pub team: String,
}

/// One document's oversight projection (`crate::oversight::projection`): the columns the pages
/// filter on, and the rest as the JSON the oversight module writes and reads (storage does not
/// look inside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectedDoc {
    pub id: String,
    pub case_id: String,
    pub kind: RecordKind,
    pub status: RecordStatus,
    pub data: String,
}

/// One case's oversight projection (its summary's dates and its due items, as JSON), and, when
/// read, the case's current allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectedCase {
    pub case_id: String,
    pub data: String,
    /// Filled when read; ignored when written (the allocation is `allocate`'s).
    pub allocation: Option<Allocation>,
}

/// Which projections to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectionScope {
    /// The whole council.
    All,
    /// The cases allocated to a team now.
    Team(String),
    /// One case.
    Case(String),
}

#[async_trait]
pub trait Storage:
    attachments::AttachmentStorage + signing::SigningStorage + Send + Sync + std::fmt::Debug + 'static
{
    /// The document's identity, if stored.
    async fn doc_info(&self, id: &str) -> Result<Option<DocInfo>>;

    /// The document's identity, heads and number of changes, if stored: one read, no changes.
    async fn doc_state(&self, id: &str) -> Result<Option<DocState>>;

    /// Records the heads of a document whose heads are unknown, provided it still has exactly
    /// `changes` stored changes (the ones they were computed from). Returns whether they were
    /// recorded; known heads are never overwritten (appends move them).
    async fn put_heads(&self, id: &str, heads: Vec<Hash>, changes: u64) -> Result<bool>;

    /// Every change of a document, in the order appended.
    async fn doc_changes(&self, id: &str) -> Result<Vec<Vec<u8>>>;

    /// Appends the changes of several documents in one transaction (all or nothing), creating
    /// document rows as needed and skipping hashes already stored for that document, and moves
    /// each document's heads as its `HeadsMove` says (compare-and-set). Each new change gets the
    /// next sequence number. Returns the highest sequence number assigned (or the
    /// current head if nothing was new).
    async fn append(&self, batch: Vec<NewChanges>) -> Result<u64>;

    /// `append`, with the oversight projections `docs` of appended documents written (created
    /// or replaced) in the same transaction: one durable commit for a push and its rows
    /// (`hub::commit`). The ids of `docs` are distinct. Both backends override this default,
    /// which writes the rows in a second transaction after the first.
    async fn append_projected(
        &self,
        batch: Vec<NewChanges>,
        docs: Vec<ProjectedDoc>,
    ) -> Result<u64> {
        let head = self.append(batch).await?;
        if !docs.is_empty() {
            self.put_projections(docs, Vec::new()).await?;
        }
        Ok(head)
    }

    /// Changes with `seq > cursor` to documents of `cases`, in sequence order, stopping once
    /// their bytes reach `budget` (always at least one change when any is available) or after
    /// `max_rows`.
    async fn feed(
        &self,
        cursor: u64,
        cases: &[String],
        budget: u64,
        max_rows: usize,
    ) -> Result<Vec<StoredChange>>;

    /// The highest sequence number used so far (0 when empty).
    async fn head(&self) -> Result<u64>;

    /// Sets the allocation of a case (creating or replacing it) in one transaction, recording an
    /// `Allocated` event for the new worker and team and a `Revoked` event for the previous ones
    /// when they change; each event takes the next sequence number. Returns the allocation that
    /// was replaced, if any.
    async fn allocate(&self, allocation: Allocation) -> Result<Option<Allocation>>;

    /// The current allocation of a case.
    async fn allocation(&self, case_id: &str) -> Result<Option<Allocation>>;

    /// The cases the audience sees now.
    async fn visible_cases(&self, audience: &Audience) -> Result<Vec<String>>;

    /// Whether the case was ever allocated to the worker (now or before).
    async fn ever_allocated(&self, worker: &str, case_id: &str) -> Result<bool>;

    /// Allocation events for the audience with `seq > cursor`, in sequence order.
    async fn allocation_events(
        &self,
        audience: &Audience,
        cursor: u64,
    ) -> Result<Vec<AllocationEvent>>;

    /// Every stored change of the documents of a case, in sequence order.
    async fn case_changes(&self, case_id: &str) -> Result<Vec<StoredChange>>;

    /// The tags of the feed entry numbered `seq` (`FeedTag`: chained over the history up to it,
    /// see `chain_tag`), or None when no entry has that number. Devices send the chained tag
    /// back with their cursor, so that a server restored from an older backup, which has another
    /// history up to that number (or no entry there), notices.
    async fn seq_tag(&self, seq: u64) -> Result<Option<FeedTag>>;

    /// The export feed for the case system: documents with a change after `cursor`, each once
    /// with its latest sequence number, in sequence order, at most `limit`.
    async fn changed_docs(&self, cursor: u64, limit: usize) -> Result<Vec<(u64, DocInfo)>>;

    /// Writes (creates or replaces) oversight projections of documents and cases, in one
    /// transaction.
    async fn put_projections(
        &self,
        docs: Vec<ProjectedDoc>,
        cases: Vec<ProjectedCase>,
    ) -> Result<()>;

    /// The document projections in `scope` (of one `status` when given), ordered by id.
    async fn projected_docs(
        &self,
        scope: &ProjectionScope,
        status: Option<RecordStatus>,
    ) -> Result<Vec<ProjectedDoc>>;

    /// The case projections in `scope`, each with its current allocation, ordered by case id.
    async fn projected_cases(&self, scope: &ProjectionScope) -> Result<Vec<ProjectedCase>>;

    /// Hands every case projection in `scope` (by case id, with its allocation), then every
    /// document projection in `scope` (by id) to `visitor` as each row is read, from one
    /// snapshot, and gives the visitor back (`fold_projections` is the typed way to call it).
    async fn visit_projections(
        &self,
        scope: &ProjectionScope,
        visitor: Box<dyn ProjectionVisitor>,
    ) -> Result<Box<dyn ProjectionVisitor>>;

    /// Deletes every oversight projection (before a rebuild from the documents).
    async fn clear_projections(&self) -> Result<()>;
}

/// The tags of one feed entry (docs/PROTOCOL.md, "Restores from backup").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedTag {
    /// The entry's chained tag on the wire: the first 8 bytes of SHA-256(previous entry's
    /// chained tag || this entry), so that it names the whole history up to the entry.
    pub chained: u64,
    /// For entries stored before the chain (schema 6), the tag devices were told then
    /// (`change_tag` or `event_tag` of the entry alone): cursors they still hold stay valid.
    pub legacy: Option<u64>,
}

impl FeedTag {
    /// Whether a device's `cursor_tag` names this entry.
    pub fn accepts(&self, tag: u64) -> bool {
        self.chained == tag || self.legacy == Some(tag)
    }
}

/// One feed entry as the tag chain covers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedEntry {
    Change { hash: Vec<u8> },
    Event { case_id: String, audience_kind: String, audience: String, change: String },
}

impl FeedEntry {
    /// The entry's tag before the chain (schema 6): what devices hold for older cursors.
    pub fn legacy_tag(&self) -> u64 {
        match self {
            FeedEntry::Change { hash } => change_tag(hash),
            FeedEntry::Event { case_id, audience_kind, audience, change } => {
                event_tag(case_id, audience_kind, audience, change)
            }
        }
    }
}

/// The chained tag of entry `seq`: SHA-256 over the previous entry's chained tag (32 zero
/// bytes before the first), the sequence number and the entry. A server restored from a backup
/// that gives the same change the same number again has another history before it, so another
/// tag (simulation bug 4, `regression_seed_4`).
pub fn chain_tag(previous: &[u8], seq: u64, entry: &FeedEntry) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(previous);
    h.update(seq.to_be_bytes());
    match entry {
        FeedEntry::Change { hash } => {
            h.update(b"change\0");
            h.update(hash);
        }
        FeedEntry::Event { case_id, audience_kind, audience, change } => {
            h.update(b"event\0");
            for part in [case_id, audience_kind, audience, change] {
                h.update(part.as_bytes());
                h.update([0]);
            }
        }
    }
    h.finalize().into()
}

/// The tag sent on the wire for a chained tag: its first 8 bytes.
pub fn wire_tag(chained: &[u8]) -> u64 {
    change_tag(chained)
}

/// The chain tag before the first entry.
pub const CHAIN_START: [u8; 32] = [0; 32];

/// A change's feed tag: the first 8 bytes of its hash.
pub fn change_tag(hash: &[u8]) -> u64 {
    let mut first = [0u8; 8];
    for (to, from) in first.iter_mut().zip(hash) {
        *to = *from;
    }
    u64::from_be_bytes(first)
}

/// An allocation event's feed tag: FNV-1a over its fields. Stable across builds and platforms
/// (unlike `std`'s hasher), so an upgrade never makes every device resync.
pub fn event_tag(case_id: &str, audience_kind: &str, audience: &str, change: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [case_id, audience_kind, audience, change] {
        for b in part.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}
