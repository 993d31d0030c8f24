//! `AttachmentStorage` on the embedded SQLite backend (tables from schema version 2).

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::attachments::AttachmentStorage;
use super::sqlite::SqliteStorage;
use super::Result;

#[async_trait]
impl AttachmentStorage for SqliteStorage {
    async fn attachment_in_case(&self, hash: &str, case_id: &str) -> Result<Option<u64>> {
        let (hash, case_id) = (hash.to_string(), case_id.to_string());
        self.with(move |c| {
            Ok(c.query_row(
                "SELECT a.size FROM attachments a JOIN attachment_cases l ON l.hash = a.hash
                 WHERE a.hash = ?1 AND l.case_id = ?2",
                params![hash, case_id],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(|n| n as u64))
        })
        .await
    }

    async fn attachment_cases(&self, hash: &str) -> Result<Vec<String>> {
        let hash = hash.to_string();
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT case_id FROM attachment_cases WHERE hash = ?1 ORDER BY case_id",
            )?;
            let rows = stmt.query_map([&hash], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
        .await
    }

    async fn attachment_bytes(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        let hash = hash.to_string();
        self.with(move |c| {
            Ok(c.query_row("SELECT bytes FROM attachments WHERE hash = ?1", [&hash], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    async fn upload_received(&self, hash: &str, case_id: &str) -> Result<u64> {
        let (hash, case_id) = (hash.to_string(), case_id.to_string());
        self.with(move |c| Ok(received(c, &hash, &case_id)?)).await
    }

    async fn append_upload(
        &self,
        hash: &str,
        case_id: &str,
        offset: u64,
        bytes: Vec<u8>,
    ) -> Result<u64> {
        let (hash, case_id) = (hash.to_string(), case_id.to_string());
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let have = received(&tx, &hash, &case_id)?;
            if have != offset || bytes.is_empty() {
                return Ok(have);
            }
            tx.execute(
                "INSERT INTO attachment_uploads (hash, case_id, offset, bytes) VALUES (?1, ?2, ?3, ?4)",
                params![hash, case_id, offset as i64, bytes],
            )?;
            tx.commit()?;
            Ok(have + bytes.len() as u64)
        })
        .await
    }

    async fn upload_bytes(&self, hash: &str, case_id: &str) -> Result<Vec<u8>> {
        let (hash, case_id) = (hash.to_string(), case_id.to_string());
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT bytes FROM attachment_uploads WHERE hash = ?1 AND case_id = ?2 ORDER BY offset",
            )?;
            let mut out = Vec::new();
            let mut rows = stmt.query(params![hash, case_id])?;
            while let Some(row) = rows.next()? {
                let part: Vec<u8> = row.get(0)?;
                out.extend_from_slice(&part);
            }
            Ok(out)
        })
        .await
    }

    async fn complete_upload(&self, hash: &str, case_id: &str, bytes: Vec<u8>) -> Result<bool> {
        let (hash, case_id) = (hash.to_string(), case_id.to_string());
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let stored = tx.execute(
                "INSERT OR IGNORE INTO attachments (hash, size, bytes) VALUES (?1, ?2, ?3)",
                params![hash, bytes.len() as i64, bytes],
            )? == 1;
            tx.execute(
                "INSERT OR IGNORE INTO attachment_cases (hash, case_id) VALUES (?1, ?2)",
                params![hash, case_id],
            )?;
            tx.execute(
                "DELETE FROM attachment_uploads WHERE hash = ?1 AND case_id = ?2",
                params![hash, case_id],
            )?;
            tx.commit()?;
            Ok(stored)
        })
        .await
    }

    async fn discard_upload(&self, hash: &str, case_id: &str) -> Result<()> {
        let (hash, case_id) = (hash.to_string(), case_id.to_string());
        self.with(move |c| {
            c.execute(
                "DELETE FROM attachment_uploads WHERE hash = ?1 AND case_id = ?2",
                params![hash, case_id],
            )?;
            Ok(())
        })
        .await
    }

    async fn attachment_totals(&self) -> Result<(u64, u64)> {
        self.with(|c| {
            Ok(c.query_row("SELECT count(*), coalesce(sum(size), 0) FROM attachments", [], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
            })?)
        })
        .await
    }
}

fn received(c: &rusqlite::Connection, hash: &str, case_id: &str) -> rusqlite::Result<u64> {
    c.query_row(
        "SELECT coalesce(sum(length(bytes)), 0) FROM attachment_uploads WHERE hash = ?1 AND case_id = ?2",
        params![hash, case_id],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
}
