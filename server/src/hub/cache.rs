//! Hot documents: the documents the hub loaded recently, kept loaded so that the next push to
//! one of them applies its changes to the loaded copy instead of rebuilding the document from
//! its whole history.
//!
//! **Safe with several servers on one database.** Each entry remembers the heads it was loaded
//! (or last written) at, and is used only when they equal the heads storage holds now
//! (`Storage::doc_state`, read in the same step that reads the document's identity). Documents
//! only grow, and equal heads mean the same set of changes, so an entry whose heads match is
//! exactly the stored document; one that another server (or a concurrent push on this one)
//! moved on is a miss, and the document is loaded from storage as before. An entry is taken out
//! while a push works on it and put back only after the push's changes are committed, so memory
//! never runs ahead of storage.
//!
//! Each entry also keeps what the hub derived from the document at those heads (the hub keeps
//! its projection's facts, so that a push that only edits text need not hydrate the record
//! again: `hub::text_edits`).
//!
//! **Bounded by memory.** Automerge does not report a document's size in memory, so each entry
//! is charged an estimate, `MEMORY_PER_STORED_BYTE` times the bytes of its stored changes; the
//! least recently used entries go once the estimates exceed the cap.

use std::sync::Mutex;

use lru::LruCache;

use crate::storage::Hash;

/// The default cap on the estimated memory of the cached documents.
pub const DEFAULT_CACHE_BYTES: usize = 256 * 1024 * 1024;

/// A loaded document's memory per byte of its stored (compressed, columnar) changes: an
/// over-estimate for text-heavy records, where each character is an operation of its own.
pub const MEMORY_PER_STORED_BYTE: usize = 24;

#[derive(Debug)]
struct Entry<V> {
    heads: Vec<Hash>,
    doc: V,
    /// Bytes of its stored changes, and the memory it is charged.
    stored_bytes: usize,
    cost: usize,
}

#[derive(Debug)]
struct Inner<V> {
    lru: LruCache<String, Entry<V>>,
    bytes: usize,
}

#[derive(Debug)]
pub(super) struct DocCache<V> {
    inner: Mutex<Inner<V>>,
    cap: usize,
}

impl<V> DocCache<V> {
    pub(super) fn new(cap: usize) -> Self {
        Self { inner: Mutex::new(Inner { lru: LruCache::unbounded(), bytes: 0 }), cap }
    }

    /// Takes the document (and the bytes of its stored changes) out if it is cached at exactly
    /// `heads` (sorted, as storage keeps them); an entry at other heads is stale and dropped.
    pub(super) fn take(&self, id: &str, heads: &[Hash]) -> Option<(V, usize)> {
        let mut inner = self.inner.lock().ok()?;
        let entry = inner.lru.pop(id)?;
        inner.bytes -= entry.cost;
        (entry.heads == heads).then_some((entry.doc, entry.stored_bytes))
    }

    /// Keeps `doc` at `heads` (sorted), charged `stored_bytes` of stored changes; evicts the
    /// least recently used documents beyond the cap. A document larger than the whole cap is not
    /// kept.
    pub(super) fn put(&self, id: String, heads: Vec<Hash>, doc: V, stored_bytes: usize) {
        let cost = stored_bytes.saturating_mul(MEMORY_PER_STORED_BYTE).max(1);
        if cost > self.cap {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else { return };
        if let Some(old) = inner.lru.put(id, Entry { heads, doc, stored_bytes, cost }) {
            inner.bytes -= old.cost;
        }
        inner.bytes += cost;
        while inner.bytes > self.cap {
            match inner.lru.pop_lru() {
                Some((_, evicted)) => inner.bytes -= evicted.cost,
                None => break,
            }
        }
    }

    /// Documents and estimated bytes held (tests).
    #[cfg(test)]
    pub(super) fn usage(&self) -> (usize, usize) {
        self.inner.lock().map(|i| (i.lru.len(), i.bytes)).unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    use super::*;

    fn doc(text: &str) -> (AutoCommit, Vec<Hash>) {
        let mut d = AutoCommit::new();
        d.put(ROOT, "t", text).unwrap();
        let mut heads: Vec<Hash> = d.get_heads().iter().copied().map(Hash::from).collect();
        heads.sort_unstable();
        (d, heads)
    }

    #[test]
    fn an_entry_is_used_only_at_the_heads_it_was_cached_at() {
        let cache = DocCache::<AutoCommit>::new(1 << 20);
        let (d, heads) = doc("a");
        cache.put("d1".into(), heads.clone(), d, 10);
        assert!(cache.take("d1", &[Hash([7; 32])]).is_none(), "other heads: stale");
        assert!(cache.take("d1", &heads).is_none(), "the stale entry was dropped");
        let (d, heads) = doc("b");
        cache.put("d1".into(), heads.clone(), d, 10);
        let (mut back, bytes) = cache.take("d1", &heads).unwrap();
        assert_eq!(bytes, 10);
        assert_eq!(back.get_heads().iter().copied().map(Hash::from).collect::<Vec<_>>(), heads);
        assert!(cache.take("d1", &heads).is_none(), "taken out while in use");
        assert_eq!(cache.usage(), (0, 0));
    }

    #[test]
    fn the_estimated_memory_stays_under_the_cap() {
        let per_doc = 100 * MEMORY_PER_STORED_BYTE;
        let cache = DocCache::<AutoCommit>::new(3 * per_doc);
        let mut all = Vec::new();
        for i in 0..5 {
            let (d, heads) = doc(&i.to_string());
            cache.put(format!("d{i}"), heads.clone(), d, 100);
            all.push(heads);
        }
        assert_eq!(cache.usage(), (3, 3 * per_doc));
        // The least recently used went first.
        assert!(cache.take("d0", &all[0]).is_none());
        assert!(cache.take("d4", &all[4]).is_some());
        // Larger than the whole cap: not kept.
        let (d, heads) = doc("big");
        cache.put("big".into(), heads.clone(), d, 4 * 100);
        assert!(cache.take("big", &heads).is_none());
    }
}
