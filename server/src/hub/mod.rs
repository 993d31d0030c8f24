//! The sync hub: the server's decisions, separate from HTTP and from storage. It applies a
//! device's pushed changes (checking who may write what), acknowledges them, and assembles what
//! the device should receive. Everything it needs from storage goes through the `Storage` trait,
//! so both backends behave the same.
//!
//! All Automerge work runs in a bounded pool (`pool`), never on the async worker threads: each
//! step reads from storage first, hands the bytes to a plain function in the pool, then writes.
//!
//! **No existence oracle** (issue #10): a document in a case the caller may not see is, in every
//! answer the caller gets (push refusals, acknowledgements, repair, counts), a document that does
//! not exist. `push::decide` treats a document in a case the caller may not write as absent
//! (`Stored::Absent { hidden: true }`; the one exception, a valid new record under such an id, is
//! refused rather than created: docs/PROTOCOL.md, "Record ids"), and the repair lists a document
//! the caller may not see in `send_all` exactly like an unknown id (`repair`). Ids are checked
//! against their kind and case (`fieldbook_core::records::ids`) before anything stored is read.

pub mod attachments;
mod cache;
mod cases;
mod commit;
mod feed;
pub(crate) mod pool;
mod push;
/// Benchmarks only: the switch of the signature checks (feature `test-hooks`).
pub use push::bench;
mod repair;
pub mod signing;
mod text_edits;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use fieldbook_core::protocol::{KeyPair, SyncRequest, SyncResponse, PROTOCOL_VERSION};
use thiserror::Error;

pub use cache::DEFAULT_CACHE_BYTES;
pub use cases::{CaseUpsert, ChildIdentity, ExportPage, ExportedRecord};
pub use pool::{default_pool_size, Job, JobEvent, JobHook};

use crate::auth::{Identity, Role};
use crate::storage::{Audience, Storage, StorageError};

#[derive(Debug, Error)]
pub enum HubError {
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("this role may not {0}")]
    Forbidden(&'static str),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("a stored document is damaged: {0}")]
    Corrupt(String),
    /// The input is well formed but breaks the statutory rules; every failing item is named.
    #[error("{} item(s) incomplete or invalid", .0.len())]
    Unprocessable(Vec<fieldbook_core::rules::completeness::MissingItem>),
    #[error("an automerge job failed: {0}")]
    Job(String),
    /// The worker has registered as many device keys as the server allows.
    #[error("the worker has registered {limit} device keys already, the most allowed")]
    KeyLimit { limit: usize },
}

/// The server's response-size cap; a device may ask for less, never more.
pub const RESPONSE_BUDGET_CAP: u64 = fieldbook_core::protocol::limits::DEFAULT_RESPONSE_BUDGET;
/// Feed rows per response, whatever their size.
pub const MAX_FEED_ROWS: usize = 20_000;

#[derive(Debug, Clone)]
pub struct Hub {
    storage: Arc<dyn Storage>,
    /// Where every piece of Automerge work runs (never on the async worker threads).
    pool: pool::Pool,
    /// Hot documents, used only at the heads storage holds (`cache`).
    cache: Arc<cache::DocCache<push::HotDoc>>,
    /// The server's signing key (issue #16): receipts, key events, and the changes the server
    /// makes on someone's behalf. `with_signing_key` sets the deployment's (its key file).
    key: Arc<KeyPair>,
    /// The most device keys one worker may register (`with_max_keys_per_worker`).
    max_keys_per_worker: usize,
    /// Where the appends of concurrent pushes meet to share a commit (`commit`).
    commit: Arc<commit::GroupCommit>,
}

/// The default cap on one worker's device keys (a few tablets, each rotated a few times).
pub const DEFAULT_MAX_KEYS_PER_WORKER: usize = 16;

impl Hub {
    /// A hub whose pool runs one Automerge job per core at once, with a new signing key of its
    /// own (tests; a server sets the one of its key file: `with_signing_key`).
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        let key = signing::ephemeral_key();
        Self {
            storage,
            pool: pool::Pool::new(default_pool_size()),
            cache: Arc::new(cache::DocCache::new(DEFAULT_CACHE_BYTES)),
            key: Arc::new(key),
            max_keys_per_worker: DEFAULT_MAX_KEYS_PER_WORKER,
            commit: Arc::new(commit::GroupCommit::default()),
        }
    }

    /// Caps the device keys one worker may register at `keys` (a new key past it is refused
    /// `key_limit`; keys registered already keep working).
    pub fn with_max_keys_per_worker(mut self, keys: usize) -> Self {
        self.max_keys_per_worker = keys;
        self
    }

    /// Caps the estimated memory of the hot documents at `bytes` (0: none are kept).
    pub fn with_cache_bytes(mut self, bytes: usize) -> Self {
        self.cache = Arc::new(cache::DocCache::new(bytes));
        self
    }

    /// Signs with `key` (the deployment's key file: `serve::options`).
    pub fn with_signing_key(mut self, key: KeyPair) -> Self {
        self.key = Arc::new(key);
        self
    }

    /// The server's public key.
    pub fn public_key(&self) -> fieldbook_core::protocol::PublicKey {
        self.key.public()
    }

    /// At most `jobs` Automerge jobs at once (at least one).
    pub fn with_pool_size(mut self, jobs: usize) -> Self {
        self.pool = self.pool.resized(jobs);
        self
    }

    /// Calls `hook` at each step of every pool job (see `JobHook`); set before serving.
    pub fn with_job_hook(mut self, hook: JobHook) -> Self {
        self.pool = self.pool.with_hook(hook);
        self
    }

    /// The pool's bound.
    pub fn pool_size(&self) -> usize {
        self.pool.size()
    }

    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// `Storage::append_projected`, sharing its transaction with the appends of other requests
    /// waiting at the same moment (`commit`).
    pub(crate) async fn append_grouped(
        &self,
        batch: Vec<crate::storage::NewChanges>,
        rows: Vec<crate::storage::ProjectedDoc>,
    ) -> Result<u64, StorageError> {
        self.commit.append(&self.storage, batch, rows).await
    }

    /// Runs Automerge work of the oversight projections and pages on the hub's pool.
    pub(crate) async fn run_job<T: Send + 'static>(
        &self,
        job: Job,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HubError> {
        self.pool.run(job, f).await
    }

    /// One sync exchange for an authenticated device (the token unnamed in the key registry:
    /// `sync_with_token` names it).
    pub async fn sync(
        &self,
        who: &Identity,
        request: SyncRequest,
    ) -> Result<SyncResponse, HubError> {
        self.sync_with_token(who, "-", request).await
    }

    /// One sync exchange; `token` is the fingerprint of the bearer token
    /// (`signing::token_fingerprint`), recorded when the device's key is registered.
    pub async fn sync_with_token(
        &self,
        who: &Identity,
        token: &str,
        mut request: SyncRequest,
    ) -> Result<SyncResponse, HubError> {
        let audience = audience_of(who)?;
        if let Some(key) = request.device_key {
            signing::register(self, who, &request.device, token, key).await?;
        }
        // Read once for both halves (the feed reads it again only if an allocation was
        // committed meanwhile: `feed::stale`).
        let visible = self.storage.visible_cases(&audience).await?;
        let pushes = std::mem::take(&mut request.push);
        let pushed = push::apply(self, who, &request.device, &visible, pushes).await?;
        let mut response =
            feed::assemble(self, &audience, visible, &request, &pushed.hashes).await?;
        response.acks = pushed.acks;
        response.receipts = pushed.receipts;
        response.rejected = pushed.rejected;
        response.server_key = Some(self.key.public());
        response.version = PROTOCOL_VERSION;
        Ok(response)
    }
}

/// Who a sync is for: a worker sees their own cases, a manager the team's.
pub fn audience_of(who: &Identity) -> Result<Audience, HubError> {
    match (who.role, &who.team) {
        (Role::Worker, _) => Ok(Audience::Worker(who.subject.clone())),
        (Role::Manager, Some(team)) => Ok(Audience::Team(team.clone())),
        (Role::Manager, None) => Err(HubError::Forbidden("sync without a team")),
        (Role::Integration | Role::Operator | Role::Senior, _) => {
            Err(HubError::Forbidden("sync a device"))
        }
    }
}

/// A stored document's changes, concatenated: read on the async side, loaded in the pool.
pub(crate) async fn stored_changes(storage: &dyn Storage, id: &str) -> Result<Vec<u8>, HubError> {
    Ok(storage.doc_changes(id).await?.concat())
}

/// Documents the hubs of this process have loaded from their stored changes.
static DOCUMENTS_LOADED: AtomicU64 = AtomicU64::new(0);

/// How many documents the hubs of this process have rebuilt from their stored changes (every
/// `doc_from_changes`): the cost the hot-document cache saves. The sync tests assert that an
/// idle sync, and a push to hot documents, load none (`tests/tests/sync_loads.rs`).
pub fn documents_loaded() -> u64 {
    DOCUMENTS_LOADED.load(Ordering::Relaxed)
}

/// Loads a document from its stored changes (empty when it has none). Automerge work: call it
/// in the pool only.
pub(crate) fn doc_from_changes(id: &str, bytes: &[u8]) -> Result<automerge::AutoCommit, HubError> {
    DOCUMENTS_LOADED.fetch_add(1, Ordering::Relaxed);
    // One load of all the changes concatenated: automerge sorts them out in one pass, far
    // faster than applying them one at a time.
    let mut doc = automerge::AutoCommit::new();
    fieldbook_core::document::load_incremental_checked(&mut doc, bytes)
        .map_err(|e| HubError::Corrupt(format!("document {id}: {e}")))?;
    Ok(doc)
}
