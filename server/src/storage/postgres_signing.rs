//! `SigningStorage` on PostgreSQL (tables from schema version 4).

use async_trait::async_trait;

use super::postgres::PostgresStorage;
use super::signing::{KeyRegistration, SignaturesByDoc, SigningStorage};
use super::{Hash, Result, StorageError};

/// The class of the per-worker registration locks (`pg_advisory_xact_lock(class, worker)`).
const KEY_REGISTRY_LOCK: i32 = 0x6b65_7973; // "keys"

const COLUMNS: &str =
    "key, worker, device, registered_at, token, revoked_at, revoked_by FROM device_keys";

fn registration(r: &tokio_postgres::Row) -> Result<KeyRegistration> {
    let key: Vec<u8> = r.try_get(0)?;
    Ok(KeyRegistration {
        key: key
            .as_slice()
            .try_into()
            .map_err(|_| StorageError::Corrupt("key is not 32 bytes".into()))?,
        worker: r.try_get(1)?,
        device: r.try_get(2)?,
        registered_at: r.try_get(3)?,
        token: r.try_get(4)?,
        revoked_at: r.try_get(5)?,
        revoked_by: r.try_get(6)?,
    })
}

#[async_trait]
impl SigningStorage for PostgresStorage {
    async fn register_key(
        &self,
        reg: KeyRegistration,
        event: Vec<u8>,
        max_per_worker: usize,
    ) -> Result<Option<KeyRegistration>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // One registration at a time per worker, across every server on the database: the
        // count below and the insert cannot interleave with another's. The two-key form keeps
        // these locks apart from the single-key locks of the feed's writers and the migrations.
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&KEY_REGISTRY_LOCK, &reg.worker],
        )
        .await?;
        if let Some(known) = tx
            .query_opt(&format!("SELECT {COLUMNS} WHERE key = $1"), &[&reg.key.as_slice()])
            .await?
        {
            return Ok(Some(registration(&known)?));
        }
        let held: i64 = tx
            .query_one("SELECT count(*) FROM device_keys WHERE worker = $1", &[&reg.worker])
            .await?
            .try_get(0)?;
        if usize::try_from(held).unwrap_or(usize::MAX) >= max_per_worker {
            return Ok(None);
        }
        let inserted = tx
            .execute(
                "INSERT INTO device_keys (key, worker, device, registered_at, token)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING",
                &[&reg.key.as_slice(), &reg.worker, &reg.device, &reg.registered_at, &reg.token],
            )
            .await?;
        if inserted == 1 {
            tx.execute("INSERT INTO key_events (data) VALUES ($1)", &[&event]).await?;
        }
        let row = tx
            .query_one(&format!("SELECT {COLUMNS} WHERE key = $1"), &[&reg.key.as_slice()])
            .await?;
        let stored = registration(&row)?;
        tx.commit().await?;
        Ok(Some(stored))
    }

    async fn device_key(&self, key: [u8; 32]) -> Result<Option<KeyRegistration>> {
        let client = self.client().await?;
        let row = client
            .query_opt(&format!("SELECT {COLUMNS} WHERE key = $1"), &[&key.as_slice()])
            .await?;
        row.as_ref().map(registration).transpose()
    }

    async fn device_keys(&self) -> Result<Vec<KeyRegistration>> {
        let client = self.client().await?;
        let rows = client.query(&format!("SELECT {COLUMNS} ORDER BY id"), &[]).await?;
        rows.iter().map(registration).collect()
    }

    async fn revoke_key(
        &self,
        key: [u8; 32],
        at: String,
        by: String,
        event: Vec<u8>,
    ) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                "UPDATE device_keys SET revoked_at = $2, revoked_by = $3
                 WHERE key = $1 AND revoked_at IS NULL",
                &[&key.as_slice(), &at, &by],
            )
            .await?;
        if n == 1 {
            tx.execute("INSERT INTO key_events (data) VALUES ($1)", &[&event]).await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn key_events(&self) -> Result<Vec<Vec<u8>>> {
        let client = self.client().await?;
        let rows = client.query("SELECT data FROM key_events ORDER BY id", &[]).await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    async fn docs_signatures(&self, doc_ids: &[String]) -> Result<SignaturesByDoc> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT doc_id, hash, signature FROM changes
                 WHERE doc_id = ANY($1) AND signature IS NOT NULL ORDER BY seq",
                &[&doc_ids],
            )
            .await?;
        let mut out = SignaturesByDoc::new();
        for r in &rows {
            let hash: Vec<u8> = r.try_get(1)?;
            let hash: Hash = hash
                .as_slice()
                .try_into()
                .map_err(|_| StorageError::Corrupt("hash is not 32 bytes".into()))?;
            out.entry(r.try_get(0)?).or_default().push((hash, r.try_get(2)?));
        }
        Ok(out)
    }

    async fn doc_signatures(&self, doc_id: &str) -> Result<Vec<(Hash, Vec<u8>)>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT hash, signature FROM changes
                 WHERE doc_id = $1 AND signature IS NOT NULL ORDER BY seq",
                &[&doc_id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let hash: Vec<u8> = r.try_get(0)?;
                let hash: Hash = hash
                    .as_slice()
                    .try_into()
                    .map_err(|_| StorageError::Corrupt("hash is not 32 bytes".into()))?;
                Ok((hash, r.try_get(1)?))
            })
            .collect()
    }
}
