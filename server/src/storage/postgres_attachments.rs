//! `AttachmentStorage` on PostgreSQL (tables from schema version 2).

use async_trait::async_trait;

use super::attachments::AttachmentStorage;
use super::postgres::PostgresStorage;
use super::Result;

async fn received(
    client: &impl deadpool_postgres::GenericClient,
    hash: &str,
    case_id: &str,
) -> Result<u64> {
    let row = client
        .query_one(
            "SELECT coalesce(sum(length(bytes)), 0)::BIGINT FROM attachment_uploads
             WHERE hash = $1 AND case_id = $2",
            &[&hash, &case_id],
        )
        .await?;
    Ok(row.try_get::<_, i64>(0)? as u64)
}

#[async_trait]
impl AttachmentStorage for PostgresStorage {
    async fn attachment_in_case(&self, hash: &str, case_id: &str) -> Result<Option<u64>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT a.size FROM attachments a JOIN attachment_cases l ON l.hash = a.hash
                 WHERE a.hash = $1 AND l.case_id = $2",
                &[&hash, &case_id],
            )
            .await?;
        Ok(row.map(|r| r.try_get::<_, i64>(0)).transpose()?.map(|n| n as u64))
    }

    async fn attachment_cases(&self, hash: &str) -> Result<Vec<String>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT case_id FROM attachment_cases WHERE hash = $1 ORDER BY case_id",
                &[&hash],
            )
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    async fn attachment_bytes(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        let client = self.client().await?;
        let row =
            client.query_opt("SELECT bytes FROM attachments WHERE hash = $1", &[&hash]).await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn upload_received(&self, hash: &str, case_id: &str) -> Result<u64> {
        received(&self.client().await?, hash, case_id).await
    }

    async fn append_upload(
        &self,
        hash: &str,
        case_id: &str,
        offset: u64,
        bytes: Vec<u8>,
    ) -> Result<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Two chunks of one upload racing (a retry overtaking a slow original) must not both
        // land at the same offset: the check and the insert run under the writers' lock.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&super::postgres::WRITE_LOCK]).await?;
        let have = received(&tx, hash, case_id).await?;
        if have != offset || bytes.is_empty() {
            return Ok(have);
        }
        tx.execute(
            "INSERT INTO attachment_uploads (hash, case_id, \"offset\", bytes) VALUES ($1, $2, $3, $4)",
            &[&hash, &case_id, &(offset as i64), &bytes],
        )
        .await?;
        tx.commit().await?;
        Ok(have + bytes.len() as u64)
    }

    async fn upload_bytes(&self, hash: &str, case_id: &str) -> Result<Vec<u8>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT bytes FROM attachment_uploads WHERE hash = $1 AND case_id = $2 ORDER BY \"offset\"",
                &[&hash, &case_id],
            )
            .await?;
        let mut out = Vec::new();
        for row in &rows {
            let part: &[u8] = row.try_get(0)?;
            out.extend_from_slice(part);
        }
        Ok(out)
    }

    async fn complete_upload(&self, hash: &str, case_id: &str, bytes: Vec<u8>) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let stored = tx
            .execute(
                "INSERT INTO attachments (hash, size, bytes) VALUES ($1, $2, $3)
                 ON CONFLICT (hash) DO NOTHING",
                &[&hash, &(bytes.len() as i64), &bytes],
            )
            .await?
            == 1;
        tx.execute(
            "INSERT INTO attachment_cases (hash, case_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&hash, &case_id],
        )
        .await?;
        tx.execute(
            "DELETE FROM attachment_uploads WHERE hash = $1 AND case_id = $2",
            &[&hash, &case_id],
        )
        .await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn discard_upload(&self, hash: &str, case_id: &str) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM attachment_uploads WHERE hash = $1 AND case_id = $2",
                &[&hash, &case_id],
            )
            .await?;
        Ok(())
    }

    async fn attachment_totals(&self) -> Result<(u64, u64)> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT count(*), coalesce(sum(size), 0)::BIGINT FROM attachments", &[])
            .await?;
        Ok((row.try_get::<_, i64>(0)? as u64, row.try_get::<_, i64>(1)? as u64))
    }
}
