//! How the server opens its embedded database file: always encrypted, with a key file.
//!
//! - First start (no database yet): a key file is created (32 random bytes, mode 0600) unless one
//!   is already there, and the database is created encrypted with it.
//! - An encrypted database whose key file is missing is refused (`KeyFileMissing`): a new key
//!   could never read it. A wrong key is `WrongKey`.
//! - A plain-text database (written by a release before encryption, whose first bytes are SQLite's
//!   header) is encrypted in place with `sqlcipher_export` on the first start with a key: a copy is
//!   written beside it and renamed over it, so an interrupted run leaves the plain-text original,
//!   and the next start does it again.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};

use super::key::{sync_parent, SqliteKey};
use super::sqlite::SqliteStorage;
use super::{Result, StorageError};

/// The first 16 bytes of every plain-text SQLite database.
const PLAINTEXT_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// What a database file holds, judged by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    /// No file, or an empty one: a new database.
    Absent,
    /// SQLite's plain-text header.
    Plaintext,
    /// Anything else: SQLCipher's pages look random from the first byte.
    Encrypted,
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::File { path: path.to_path_buf(), source }
}

/// Looks at a database file without opening it.
pub fn inspect(db: &Path) -> Result<FileState> {
    use std::io::Read;
    let mut file = match std::fs::File::open(db) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileState::Absent),
        Err(e) => return Err(file_error(db)(e)),
    };
    let mut head = Vec::with_capacity(16);
    file.by_ref().take(16).read_to_end(&mut head).map_err(file_error(db))?;
    Ok(match head.as_slice() {
        [] => FileState::Absent,
        h if h == PLAINTEXT_HEADER => FileState::Plaintext,
        _ => FileState::Encrypted,
    })
}

/// Opens the server's database `db`, encrypted with the key in `key_file` (see the module notes
/// for first starts, missing keys and plain-text databases).
pub fn open_with_key_file(db: &Path, key_file: &Path) -> Result<SqliteStorage> {
    let state = inspect(db)?;
    let key = if key_file.try_exists().map_err(file_error(key_file))? {
        SqliteKey::read(key_file)?
    } else if state == FileState::Encrypted {
        return Err(StorageError::KeyFileMissing {
            db: db.to_path_buf(),
            key: key_file.to_path_buf(),
        });
    } else {
        let key = SqliteKey::generate()?;
        key.create_file(key_file)?;
        tracing::info!(key_file = %key_file.display(), "created the database key file");
        key
    };
    if state == FileState::Plaintext {
        encrypt_plaintext(db, &key)?;
        tracing::info!(db = %db.display(), "encrypted the plain-text database");
    }
    SqliteStorage::open(db, Some(&key))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(file_error(path)(e)),
        _ => Ok(()),
    }
}

/// Replaces the plain-text database `db` with an encrypted copy under `key`.
pub fn encrypt_plaintext(db: &Path, key: &SqliteKey) -> Result<()> {
    let copy = with_suffix(db, ".encrypting");
    // What an interrupted run left: the original is still the database.
    for leftover in [copy.clone(), with_suffix(&copy, "-journal")] {
        remove_if_present(&leftover)?;
    }
    let copy_name = copy
        .to_str()
        .ok_or_else(|| StorageError::Key(format!("{} is not valid UTF-8", copy.display())))?;
    {
        let conn = Connection::open(db)?;
        // Everything still in the write-ahead log goes into the file first.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        conn.execute(
            "ATTACH DATABASE ?1 AS encrypted KEY ?2",
            params![copy_name, key.literal().as_str()],
        )?;
        conn.query_row("SELECT sqlcipher_export('encrypted')", [], |_| Ok(()))?;
        conn.pragma_update(Some("encrypted"), "user_version", version)?;
        conn.execute("DETACH DATABASE encrypted", [])?;
        conn.close().map_err(|(_, e)| e)?;
    }
    std::fs::File::open(&copy).and_then(|f| f.sync_all()).map_err(file_error(&copy))?;
    // The plain-text log was checkpointed: left beside the encrypted file it would be replayed
    // into it.
    for stale in [with_suffix(db, "-wal"), with_suffix(db, "-shm")] {
        remove_if_present(&stale)?;
    }
    std::fs::rename(&copy, db).map_err(file_error(db))?;
    sync_parent(db).map_err(file_error(db))?;
    Ok(())
}
