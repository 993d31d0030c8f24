//! The feed's chained tags on PostgreSQL (schema 6, `feed_tags`), as `sqlite_tags`: every
//! transaction that numbers entries tags them before it commits (`tag_new_entries`). Writers
//! number entries under the writers' lock, held to their commit, so the entries after the last
//! tagged one are exactly this transaction's and are tagged in sequence order.

use deadpool_postgres::GenericClient;

use super::{chain_tag, wire_tag, FeedEntry, FeedTag, Result, CHAIN_START};

/// The entries numbered after `after`, in sequence order.
async fn entries_after(c: &impl GenericClient, after: i64) -> Result<Vec<(i64, FeedEntry)>> {
    let mut out: Vec<(i64, FeedEntry)> = Vec::new();
    for row in c.query("SELECT seq, hash FROM changes WHERE seq > $1", &[&after]).await? {
        out.push((row.try_get(0)?, FeedEntry::Change { hash: row.try_get(1)? }));
    }
    let rows = c
        .query(
            "SELECT seq, case_id, audience_kind, audience, change FROM allocation_events
             WHERE seq > $1",
            &[&after],
        )
        .await?;
    for row in rows {
        out.push((
            row.try_get(0)?,
            FeedEntry::Event {
                case_id: row.try_get(1)?,
                audience_kind: row.try_get(2)?,
                audience: row.try_get(3)?,
                change: row.try_get(4)?,
            },
        ));
    }
    out.sort_by_key(|(seq, _)| *seq);
    Ok(out)
}

/// Tags every entry not tagged yet, chaining from the last tagged one; call it under the
/// writers' lock (or the migration's). `legacy`: also keep each entry's tag before the chain.
pub(super) async fn tag_new_entries(c: &impl GenericClient, legacy: bool) -> Result<()> {
    let last = c.query_opt("SELECT seq, tag FROM feed_tags ORDER BY seq DESC LIMIT 1", &[]).await?;
    let (after, mut previous): (i64, Vec<u8>) = match last {
        Some(row) => (row.try_get(0)?, row.try_get(1)?),
        None => (0, CHAIN_START.to_vec()),
    };
    let (mut seqs, mut tags, mut olds) = (Vec::new(), Vec::new(), Vec::new());
    for (seq, entry) in entries_after(c, after).await? {
        let tag = chain_tag(&previous, seq as u64, &entry);
        seqs.push(seq);
        tags.push(tag.to_vec());
        olds.push(legacy.then(|| entry.legacy_tag() as i64));
        previous = tag.to_vec();
    }
    if !seqs.is_empty() {
        c.execute(
            "INSERT INTO feed_tags (seq, tag, legacy)
             SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bigint[])",
            &[&seqs, &tags, &olds],
        )
        .await?;
    }
    Ok(())
}

/// The tags of entry `seq` (`chained`: the schema has `feed_tags`; see `sqlite_tags::seq_tag`).
pub(super) async fn seq_tag(
    c: &impl GenericClient,
    seq: u64,
    chained: bool,
) -> Result<Option<FeedTag>> {
    let seq = seq as i64;
    if chained {
        let row = c.query_opt("SELECT tag, legacy FROM feed_tags WHERE seq = $1", &[&seq]).await?;
        return row
            .map(|r| {
                let (tag, legacy): (Vec<u8>, Option<i64>) = (r.try_get(0)?, r.try_get(1)?);
                Ok(FeedTag { chained: wire_tag(&tag), legacy: legacy.map(|l| l as u64) })
            })
            .transpose();
    }
    let entry = entries_after(c, seq - 1).await?.into_iter().find(|(s, _)| *s == seq);
    Ok(entry.map(|(_, e)| FeedTag { chained: e.legacy_tag(), legacy: None }))
}
