//! Fieldbook's mobile API, exported with uniffi (proc-macros only) to Kotlin and Swift.
//!
//! The core knows nothing of uniffi: this crate mirrors what an app needs as uniffi records and
//! enums and converts at the boundary (`types`), maps the core's errors to one error enum per
//! concern that a caller can branch on (`errors`), and makes sure no panic crosses into the app:
//! every exported call runs under `guard`, which turns a panic into an `Internal` error.
//!
//! The store (`store::FieldbookStore`) is one object per signed-in worker on the device; the app
//! implements `TokenProvider` (and, if it wants, the observers in `observe`).

uniffi::setup_scaffolding!();

pub mod attachments;
pub mod errors;
mod guard;
pub mod observe;
pub mod receipts;
pub mod records;
pub mod store;
pub mod types;

pub use errors::{OpenError, RecordError, SyncError};
pub use observe::{ObserverHandle, RecordChange, RecordObserver, SyncStatusObserver};
pub use receipts::{Receipt, ReceiptError};
pub use store::{FieldbookStore, TokenProvider};

/// A call that panics on purpose, to prove that a panic reaches the app as an error. Only in
/// builds with the `test-hooks` feature (the binding tests); never in an app's build.
#[cfg(feature = "test-hooks")]
#[uniffi::export]
pub fn debug_panic_for_tests() -> Result<(), RecordError> {
    guard::guarded(|| -> Result<(), RecordError> { panic!("deliberate panic for the tests") })
}
