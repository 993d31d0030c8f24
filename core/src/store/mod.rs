//! The encrypted store on the device: one SQLCipher database per signed-in worker.
//!
//! Every write is one SQLite transaction that appends the document's new changes, updates its
//! projection row and its heads: when a call returns `Ok`, the change is on disk
//! (`synchronous = FULL`, so it survives power loss as well as an app kill).

pub mod attachments;
mod documents;
mod exchange;
pub mod keying;
mod lifecycle;
mod open;
mod projection;
mod queries;
mod revocation;
pub mod schema;
mod settings;
mod signing;
mod sync_state;

use std::num::NonZeroUsize;

use chrono::{DateTime, Utc};
use lru::LruCache;
use rusqlite::{Connection, Transaction, TransactionBehavior};

pub use exchange::{DocumentChanges, ImportReport};
pub use lifecycle::decide_on;
pub use queries::{CaseRow, RecordRow, StoredBytes};
pub use signing::{ReceiptCheck, ReceiptProblem};
pub use sync_state::{Applied, Delivery, ExchangePlan, Outbox, OutboxQuery};

use crate::document::{Author, RecordDoc};
use crate::error::Result;

/// How many documents stay loaded: loading costs ~2 ms, an edit on a loaded one ~50 µs.
const CACHE_SIZE: usize = 100;

/// A 32-byte raw database key, kept by the app in the Android Keystore or iOS Keychain.
pub type StoreKey = [u8; 32];

/// The clock the store stamps records with. Tests and the demo fix it; the app uses the system's.
pub type Clock = Box<dyn Fn() -> DateTime<Utc> + Send>;

/// A worker's store.
pub struct Store {
    conn: Connection,
    author: Author,
    cache: LruCache<String, RecordDoc>,
    clock: Clock,
    /// Documents loaded from disk since the store was opened (`documents_loaded`).
    loads: std::sync::atomic::AtomicU64,
    /// The key this store signs its changes with (issue #16; `signing`).
    key: crate::protocol::KeyPair,
    /// Benchmarks only (`sign_changes_for_bench`): whether changes are signed.
    #[cfg(feature = "test-hooks")]
    unsigned_for_bench: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("author", &self.author).finish_non_exhaustive()
    }
}

impl Store {
    /// The worker and device writing through this store.
    pub fn author(&self) -> &Author {
        &self.author
    }

    /// Replaces the clock (tests, demos, a device whose clock the app distrusts).
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// How many documents this store has loaded into Automerge since it was opened: a cache miss
    /// (snapshot and chunks read and loaded), or a new document received that could not be
    /// stored as listed (`exchange::stage_listed`). Lists never load one; the sync tests assert
    /// that an idle sync loads none (`tests/tests/sync_loads.rs`) and that a new tablet's
    /// caseload is listed without loading its records (`tests/tests/listed_download.rs`).
    pub fn documents_loaded(&self) -> u64 {
        self.loads.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// Runs `f` in one IMMEDIATE transaction: committed on `Ok`, rolled back on `Err`.
    fn write<T>(&mut self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    fn new_cache() -> LruCache<String, RecordDoc> {
        LruCache::new(NonZeroUsize::new(CACHE_SIZE).unwrap_or(NonZeroUsize::MIN))
    }
}

#[cfg(test)]
#[path = "listed_tests.rs"]
mod listed_tests;
