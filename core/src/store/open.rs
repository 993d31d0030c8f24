//! Opening the encrypted database: key, pragmas, migrations.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::keying::{is_key_step_failure, retry_key_step};
use super::{schema, Store, StoreKey};
use crate::document::Author;
use crate::error::{Error, Result};

/// Prepared statements kept on the store's connection (`with_connection`).
const STATEMENT_CACHE: usize = 128;

impl Store {
    /// Opens (or creates) the store at `path` with the app's 32-byte key, for `worker` on `device`.
    ///
    /// A wrong key is `Error::WrongKey`: an existing database is never replaced by a new one.
    pub fn open(
        path: impl AsRef<Path>,
        key: &StoreKey,
        worker: &str,
        device: &str,
    ) -> Result<Self> {
        let path = path.as_ref();
        // SQLCipher's key step fails now and then on a new connection (see `keying`).
        retry_key_step(
            || {
                let conn = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE
                        | OpenFlags::SQLITE_OPEN_CREATE
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                Self::with_connection(conn, key, worker, device)
            },
            |e| matches!(e, Error::Sqlite(e) if is_key_step_failure(e)),
        )
    }

    /// Like `open`, taking the key as a byte slice that must be 32 bytes long.
    pub fn open_with_key_bytes(
        path: impl AsRef<Path>,
        key: &[u8],
        worker: &str,
        device: &str,
    ) -> Result<Self> {
        let key: &StoreKey = key.try_into().map_err(|_| Error::InvalidKeyLength(key.len()))?;
        Self::open(path, key, worker, device)
    }

    fn with_connection(
        mut conn: Connection,
        key: &StoreKey,
        worker: &str,
        device: &str,
    ) -> Result<Self> {
        // Room for every statement the store prepares with `prepare_cached` (rusqlite keeps 16
        // by default, fewer than one sync uses, so they would be parsed again each time).
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // The worker id is normalised (`Author::new`): an id of white space only is empty.
        if worker.trim().is_empty() || device.is_empty() {
            return Err(Error::InvalidInput {
                field: "identity",
                reason: "worker and device ids must not be empty".into(),
            });
        }
        // A raw key (x'..'), so SQLCipher does not stretch a passphrase: the app's key is random.
        conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", hex::encode(key)))?;
        // The first read decrypts page 1: with a wrong key this is where SQLCipher says
        // "file is not a database".
        match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)) {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::NotADatabase =>
            {
                return Err(Error::WrongKey)
            }
            Err(e) => return Err(e.into()),
        }
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA secure_delete = ON;
             PRAGMA temp_store = MEMORY;",
        )?;
        schema::migrate(&mut conn)?;
        let key = super::signing::load_or_create_key(&conn, &chrono::Utc::now().to_rfc3339())?;
        let mut store = Self {
            key,
            conn,
            author: Author::new(worker, device),
            cache: Self::new_cache(),
            loads: Default::default(),
            clock: Box::new(chrono::Utc::now),
            #[cfg(feature = "test-hooks")]
            unsigned_for_bench: false,
        };
        store.refresh_projections()?;
        Ok(store)
    }

    /// Caps the database at its current size plus `extra_pages` pages (None lifts the cap), so
    /// that tests can fill the "disk" and watch every write fail cleanly with
    /// `Error::StorageFull`, exactly as a full disk makes SQLite fail.
    #[doc(hidden)]
    pub fn limit_size_for_tests(&self, extra_pages: Option<u32>) -> Result<()> {
        let pages: i64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let max = extra_pages.map_or(i64::from(u32::MAX), |extra| pages + i64::from(extra));
        self.conn.query_row(&format!("PRAGMA max_page_count = {max}"), [], |_| Ok(()))?;
        Ok(())
    }

    /// Verifies the database: SQLite's integrity check and SQLCipher's page HMACs.
    pub fn integrity_check(&self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
            let row = row?;
            if row != "ok" {
                problems.push(row);
            }
        }
        let mut stmt = self.conn.prepare("PRAGMA cipher_integrity_check")?;
        for row in stmt.query_map([], |r| r.get::<_, String>(0))? {
            problems.push(row?);
        }
        Ok(problems)
    }
}
