//! Any bytes as a stored document (what a damaged disk or a hostile peer could hand the core):
//! loading and reading it as a record returns an error or a record, never panics.
#![no_main]

use fieldbook_core::document::{load_raw, RecordDoc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = load_raw(data) {
        if let Ok(mut record) = RecordDoc::from_doc(doc) {
            let _ = record.conflicts();
            let _ = record.raw_changes();
        }
    }
});
