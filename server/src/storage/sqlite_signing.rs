//! `SigningStorage` on the embedded SQLite backend (tables from schema version 4).

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::signing::{KeyRegistration, SignaturesByDoc, SigningStorage};
use super::sqlite::SqliteStorage;
use super::{Hash, Result, StorageError};

/// Document ids per query of `docs_signatures`.
const SIGNATURE_IDS_PER_QUERY: usize = 500;

const COLUMNS: &str =
    "key, worker, device, registered_at, token, revoked_at, revoked_by FROM device_keys";

fn key_of(bytes: Vec<u8>) -> rusqlite::Result<[u8; 32]> {
    bytes.as_slice().try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Blob,
            "key is not 32 bytes".into(),
        )
    })
}

fn registration(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRegistration> {
    Ok(KeyRegistration {
        key: key_of(r.get(0)?)?,
        worker: r.get(1)?,
        device: r.get(2)?,
        registered_at: r.get(3)?,
        token: r.get(4)?,
        revoked_at: r.get(5)?,
        revoked_by: r.get(6)?,
    })
}

#[async_trait]
impl SigningStorage for SqliteStorage {
    async fn register_key(
        &self,
        reg: KeyRegistration,
        event: Vec<u8>,
        max_per_worker: usize,
    ) -> Result<Option<KeyRegistration>> {
        self.with(move |c| {
            // IMMEDIATE: the write lock is taken before the count, so no other writer (another
            // connection, another process) registers between the count and the insert.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let known = tx
                .prepare_cached(&format!("SELECT {COLUMNS} WHERE key = ?1"))?
                .query_row([reg.key.as_slice()], registration)
                .optional()?;
            if let Some(known) = known {
                return Ok(Some(known));
            }
            let held: i64 = tx.query_row(
                "SELECT count(*) FROM device_keys WHERE worker = ?1",
                [&reg.worker],
                |r| r.get(0),
            )?;
            if usize::try_from(held).unwrap_or(usize::MAX) >= max_per_worker {
                return Ok(None);
            }
            // Unknown under the write lock: the insert cannot meet a concurrent one.
            tx.execute(
                "INSERT INTO device_keys (key, worker, device, registered_at, token)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![reg.key.as_slice(), reg.worker, reg.device, reg.registered_at, reg.token],
            )?;
            tx.execute("INSERT INTO key_events (data) VALUES (?1)", [&event])?;
            let stored = tx.query_row(
                &format!("SELECT {COLUMNS} WHERE key = ?1"),
                [reg.key.as_slice()],
                registration,
            )?;
            tx.commit()?;
            Ok(Some(stored))
        })
        .await
    }

    async fn device_key(&self, key: [u8; 32]) -> Result<Option<KeyRegistration>> {
        self.with(move |c| {
            Ok(c.prepare_cached(&format!("SELECT {COLUMNS} WHERE key = ?1"))?
                .query_row([key.as_slice()], registration)
                .optional()?)
        })
        .await
    }

    async fn device_keys(&self) -> Result<Vec<KeyRegistration>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(&format!("SELECT {COLUMNS} ORDER BY rowid"))?;
            let rows = stmt.query_map([], registration)?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    async fn revoke_key(
        &self,
        key: [u8; 32],
        at: String,
        by: String,
        event: Vec<u8>,
    ) -> Result<bool> {
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "UPDATE device_keys SET revoked_at = ?2, revoked_by = ?3
                 WHERE key = ?1 AND revoked_at IS NULL",
                params![key.as_slice(), at, by],
            )?;
            if n == 1 {
                tx.execute("INSERT INTO key_events (data) VALUES (?1)", [&event])?;
            }
            tx.commit()?;
            Ok(n == 1)
        })
        .await
    }

    async fn key_events(&self) -> Result<Vec<Vec<u8>>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached("SELECT data FROM key_events ORDER BY id")?;
            let rows = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    async fn docs_signatures(&self, doc_ids: &[String]) -> Result<SignaturesByDoc> {
        let doc_ids = doc_ids.to_vec();
        self.with(move |c| {
            let mut out = SignaturesByDoc::new();
            // Bounded lists of parameters (SQLite allows 32,766), each its own prepared statement.
            for ids in doc_ids.chunks(SIGNATURE_IDS_PER_QUERY) {
                let marks = vec!["?"; ids.len()].join(", ");
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT doc_id, hash, signature FROM changes
                     WHERE doc_id IN ({marks}) AND signature IS NOT NULL ORDER BY seq"
                ))?;
                let rows = stmt.query_map(rusqlite::params_from_iter(ids), |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, Vec<u8>>(2)?))
                })?;
                for row in rows {
                    let (doc, hash, sig) = row?;
                    let hash: Hash = hash
                        .as_slice()
                        .try_into()
                        .map_err(|_| StorageError::Corrupt("hash is not 32 bytes".into()))?;
                    out.entry(doc).or_default().push((hash, sig));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn doc_signatures(&self, doc_id: &str) -> Result<Vec<(Hash, Vec<u8>)>> {
        let doc_id = doc_id.to_string();
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT hash, signature FROM changes
                 WHERE doc_id = ?1 AND signature IS NOT NULL ORDER BY seq",
            )?;
            let rows = stmt
                .query_map([&doc_id], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
            let mut out = Vec::new();
            for row in rows {
                let (hash, sig) = row?;
                let hash: Hash = hash
                    .as_slice()
                    .try_into()
                    .map_err(|_| StorageError::Corrupt("hash is not 32 bytes".into()))?;
                out.push((hash, sig));
            }
            Ok(out)
        })
        .await
    }
}
