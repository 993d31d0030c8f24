//! The retry SQLCipher's key step needs, shared by the device store and the server's database.
//!
//! Under load, `PRAGMA key` on a newly opened connection has failed a few times in CI, first on
//! the device and later on the server (the CI run of stop 17), each time on a new, empty
//! database. SQLCipher reports every failure of that step with one generic message, so the
//! cause is not visible from here; its own log (stderr, level ERROR) names the step. The best
//! lead is the random salt a new database draws from OpenSSL's `RAND_bytes`. A stress run of
//! 1,200 concurrent opens did not reproduce it, nor did 40 runs of the core's tests on 8
//! threads (2026-12-08). A fresh connection succeeds: the step is tried again on a new
//! connection, at most `KEY_ATTEMPTS` times. Whatever the cause is, it can last longer than
//! six immediate attempts (all six failed on a device store in the CI run of stop 24), so the
//! attempts are spread out: `BACKOFF` after the first failure, doubling each time, about a
//! quarter of a second in all. A wrong key is a different failure (the first read says "file
//! is not a database") and is never retried.

use std::time::Duration;

/// How many connections are tried when SQLCipher's key step itself fails (3 until the CI run
/// of 2026-12-04, in which all three failed on the server's new database in `sync_property`;
/// 6, tried back to back, until the CI run of stop 24).
pub const KEY_ATTEMPTS: u32 = 9;

/// The pause after the first failed attempt; each later pause is twice the one before, so the
/// last of the `KEY_ATTEMPTS` attempts starts about 255 ms after the first.
pub const BACKOFF: Duration = Duration::from_millis(1);

/// The failure SQLCipher reports when `PRAGMA key` could not be applied at all.
pub fn is_key_step_failure(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(_, Some(message))
        if message.starts_with("An error occurred with PRAGMA key"))
}

/// Runs `open` (a new connection, keyed) until it succeeds, fails otherwise than at the key step
/// (`key_step` says which failures those are), or has been tried `KEY_ATTEMPTS` times, pausing
/// between attempts (`BACKOFF`). It blocks the calling thread: both callers open a database on
/// a thread that may block (the app's, or the server's SQLite thread at start-up).
pub fn retry_key_step<T, E>(
    mut open: impl FnMut() -> Result<T, E>,
    key_step: impl Fn(&E) -> bool,
) -> Result<T, E> {
    let mut attempt = 1;
    loop {
        match open() {
            Err(e) if attempt < KEY_ATTEMPTS && key_step(&e) => {
                let pause = BACKOFF * 2u32.pow(attempt - 1);
                tracing::warn!(
                    attempt,
                    ?pause,
                    "SQLCipher refused to key the connection; retrying"
                );
                std::thread::sleep(pause);
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use rusqlite::Connection;

    /// SQLCipher's own key-step failure, made on purpose: an empty key.
    fn real_key_step_failure() -> rusqlite::Error {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA key = '';").unwrap_err()
    }

    /// A wrong key: the key step succeeds, the first read fails.
    fn real_wrong_key_failure() -> rusqlite::Error {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA key = 'right'; CREATE TABLE t(x);").unwrap();
        drop(conn);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA key = 'wrong';").unwrap();
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))
            .unwrap_err()
    }

    #[test]
    fn the_key_step_failure_is_recognised_and_a_wrong_key_is_not() {
        assert!(is_key_step_failure(&real_key_step_failure()));
        assert!(!is_key_step_failure(&real_wrong_key_failure()));
    }

    #[test]
    fn a_key_step_failure_is_retried_on_a_new_connection_until_it_succeeds() {
        let mut calls = 0;
        let result = retry_key_step(
            || {
                calls += 1;
                if calls < KEY_ATTEMPTS {
                    Err(real_key_step_failure())
                } else {
                    Ok(calls)
                }
            },
            is_key_step_failure,
        );
        assert_eq!(result.unwrap(), KEY_ATTEMPTS);
    }

    #[test]
    fn a_lasting_key_step_failure_is_returned_after_the_last_attempt() {
        let mut calls = 0;
        let result: Result<(), _> = retry_key_step(
            || {
                calls += 1;
                Err(real_key_step_failure())
            },
            is_key_step_failure,
        );
        assert!(is_key_step_failure(&result.unwrap_err()));
        assert_eq!(calls, KEY_ATTEMPTS);
    }

    #[test]
    fn a_wrong_key_is_never_retried() {
        let mut calls = 0;
        let result: Result<(), _> = retry_key_step(
            || {
                calls += 1;
                Err(real_wrong_key_failure())
            },
            is_key_step_failure,
        );
        assert!(result.is_err());
        assert_eq!(calls, 1);
    }
}
