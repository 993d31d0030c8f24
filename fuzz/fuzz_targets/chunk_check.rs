//! Any bytes through the chunk pre-parser (`document::chunks`) and the loaders it guards: an
//! answer, never a panic; what passes as changes passes as a snapshot (changes are the stricter
//! source); nothing is counted past the limit. The limit is small here so that inputs of the
//! fuzzer's sizes reach it (seeds in fuzz/seeds/chunk_check: compressed and deflated chunks).
#![no_main]

use fieldbook_core::document::chunks::{check_within, Source};
use fieldbook_core::document::{load_raw, Author, RecordDoc};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    // As in load_document: automerge's panics on malformed input are caught on purpose.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let changes = check_within(data, Source::Changes, LIMIT);
    let snapshot = check_within(data, Source::Snapshot, LIMIT);
    if changes.is_ok() {
        assert!(snapshot.is_ok(), "accepted as changes, refused as a snapshot: {snapshot:?}");
    }
    if let Ok(scan) = snapshot {
        assert!(scan.inflated_bytes <= LIMIT, "{scan:?}");
    }
    let _ = RecordDoc::from_changes(data, Author::new("w", "d").actor());
    let _ = load_raw(data);
});
