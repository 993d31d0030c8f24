//! The embedded database's encryption key and its key file.
//!
//! A key file holds 32 random bytes as 64 hexadecimal characters (a trailing newline is allowed),
//! the format `openssl rand -hex 32` writes, so that a key can live in a secrets store as text.
//! The key is used raw (`PRAGMA key = "x'..'"`): SQLCipher does not stretch it, it is random.

use std::io::Write;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::{Result, StorageError};

/// A 32-byte SQLCipher key. Its bytes never appear in `Debug` output or logs.
#[derive(Clone)]
pub struct SqliteKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for SqliteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteKey(..)")
    }
}

impl SqliteKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A new key from the operating system's random source.
    pub fn generate() -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut_slice())
            .map_err(|e| StorageError::Key(format!("no random source: {e}")))?;
        Ok(Self(bytes))
    }

    /// The 32 bytes (the server's signing key file has this format too: `signing_key`).
    pub(crate) fn secret(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key as SQLCipher's raw-key literal, `x'<64 hex>'`.
    pub(crate) fn literal(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("x'{}'", hex::encode(self.0.as_slice())))
    }

    /// Reads a key file (64 hex characters).
    pub fn read(path: &Path) -> Result<Self> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| key_file_error(path, e.to_string()))?,
        );
        let hex_text = text.trim();
        if hex_text.len() != 64 {
            return Err(key_file_error(
                path,
                format!("expected 64 hexadecimal characters, found {}", hex_text.len()),
            ));
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(hex_text, bytes.as_mut_slice())
            .map_err(|_| key_file_error(path, "not hexadecimal".into()))?;
        warn_if_readable_by_others(path);
        Ok(Self(bytes))
    }

    /// Writes a new key file, readable by its owner only. Never replaces an existing file: a
    /// database encrypted with the old key would be lost with it.
    pub fn create_file(&self, path: &Path) -> Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|e| key_file_error(path, e.to_string()))?;
        let text = Zeroizing::new(format!("{}\n", hex::encode(self.0.as_slice())));
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| key_file_error(path, e.to_string()))?;
        sync_parent(path).map_err(|e| key_file_error(path, e.to_string()))?;
        Ok(())
    }
}

fn key_file_error(path: &Path, reason: String) -> StorageError {
    StorageError::KeyFile { path: path.to_path_buf(), reason }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"),
                "the database key file is readable by other users: chmod 600 it");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// Makes a created or renamed file's directory entry durable.
pub(crate) fn sync_parent(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::File::open(parent)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The key file used when none is named: `<database>.key`, beside the database.
pub fn default_key_file(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push(".key");
    PathBuf::from(name)
}

/// The default signing key file of an embedded database: `<db>.signing-key` beside it.
pub fn default_signing_key_file(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".signing-key");
    PathBuf::from(name)
}

/// The server's Ed25519 signing key (issue #16) from its key file (32 bytes as 64 hex
/// characters, like the database key file), created (mode 0600) when the file does not exist.
/// Every server of one database must share it: devices check the server's signatures with it.
pub fn load_or_create_signing_key(path: &Path) -> Result<fieldbook_core::protocol::KeyPair> {
    let seed = if path.exists() {
        SqliteKey::read(path)?
    } else {
        let key = SqliteKey::generate()?;
        key.create_file(path)?;
        key
    };
    Ok(fieldbook_core::protocol::KeyPair::from_seed(seed.secret()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_key_file_round_trips_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let key = SqliteKey::generate().unwrap();
        key.create_file(&path).unwrap();
        assert_eq!(SqliteKey::read(&path).unwrap().0.as_slice(), key.0.as_slice());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // Never overwritten.
        let other = SqliteKey::generate().unwrap();
        assert!(matches!(other.create_file(&path), Err(StorageError::KeyFile { .. })));
        assert_eq!(SqliteKey::read(&path).unwrap().0.as_slice(), key.0.as_slice());
        assert_eq!(format!("{key:?}"), "SqliteKey(..)");
    }

    #[test]
    fn malformed_key_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        for bad in ["", "abcd\n", &"zz".repeat(32), &"ab".repeat(33)] {
            std::fs::write(&path, bad).unwrap();
            assert!(
                matches!(SqliteKey::read(&path), Err(StorageError::KeyFile { .. })),
                "{bad:?} accepted"
            );
        }
        std::fs::write(&path, format!("{}\n", "0f".repeat(32))).unwrap();
        assert_eq!(SqliteKey::read(&path).unwrap().0.as_slice(), &[0x0f; 32]);
        assert!(matches!(
            SqliteKey::read(&dir.path().join("absent")),
            Err(StorageError::KeyFile { .. })
        ));
    }
}
