//! No panic crosses the FFI: a panic in Rust called from Kotlin or Swift would abort the app.
//! Every exported call runs in `guarded`, which catches the unwind and returns the concern's
//! `Internal` error instead (the release profile keeps `panic = "unwind"` for this).

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Errors that can carry "something went wrong inside Fieldbook".
pub(crate) trait FromPanic {
    fn from_panic(message: String) -> Self;
}

pub(crate) fn guarded<T, E: FromPanic>(f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    // AssertUnwindSafe: after a panic the store is either untouched (writes are transactions)
    // or its in-memory document is dropped (the core reloads it from disk).
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| Err(E::from_panic(message(payload))))
}

pub(crate) fn message(payload: Box<dyn std::any::Any + Send>) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    tracing::error!("panic inside an FFI call: {text}");
    format!("internal error: {text}")
}
