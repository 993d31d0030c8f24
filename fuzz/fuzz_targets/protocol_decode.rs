//! Any bytes as a sync request or response: decoding returns an error or a value, never panics,
//! overflows the stack or allocates without bound; a decoded value encodes again.
#![no_main]

use fieldbook_core::protocol::{decode, encode, SyncRequest, SyncResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = decode::<SyncRequest>(data, 1 << 20) {
        let again: SyncRequest = decode(&encode(&request), 1 << 22).expect("re-decodes");
        assert_eq!(again, request);
    }
    let _ = decode::<SyncResponse>(data, 1 << 20);
});
