//! Any bytes as a stored document (what a damaged disk or a hostile peer could hand the core):
//! loading and reading it as a record returns an error or a record, never panics.
#![no_main]

use fieldbook_core::document::{load_raw, RecordDoc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys aborts on any panic from its hook, even one the core catches on purpose
    // (automerge's own panics on malformed input, turned into errors): keep the default hook.
    // A panic that escapes the core still aborts the run, through libfuzzer-sys's own wrapper.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    if let Ok(doc) = load_raw(data) {
        if let Ok(mut record) = RecordDoc::from_doc(doc) {
            let _ = record.conflicts();
            let _ = record.raw_changes();
        }
    }
});
