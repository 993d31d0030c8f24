//! Suite-wide log capture: when `FIELDBOOK_TEST_LOG_FILE` names a file, every test process that
//! opens a scratch directory (and the helper binaries the tests spawn) appends every log line, at
//! TRACE level, to that file. `scripts/check-test-logs.sh` then proves that none of the planted
//! record content (see [`crate::prose`]) nor any token reached a log line anywhere in the suite.

use std::fs::OpenOptions;
use std::sync::{Mutex, Once};

/// The environment variable that turns capture on; unset, tests log nothing.
pub const LOG_FILE_VAR: &str = "FIELDBOOK_TEST_LOG_FILE";

static INSTALL: Once = Once::new();

/// Installs the capturing subscriber once per process, if capture was asked for. A test that
/// installs its own subscriber first keeps it (installation here then quietly does nothing).
pub fn capture_logs_if_asked() {
    INSTALL.call_once(|| {
        let Some(path) = std::env::var_os(LOG_FILE_VAR) else { return };
        // Asked for and impossible: fail loudly rather than prove nothing.
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("the test log file (FIELDBOOK_TEST_LOG_FILE) opens for appending");
        // The server's own filter (content-bearing dependency targets capped) at TRACE.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(fieldbook_server::logging::capped(tracing_subscriber::EnvFilter::new(
                "trace",
            )))
            .with_ansi(false)
            .with_writer(Mutex::new(file))
            .try_init();
    });
}
