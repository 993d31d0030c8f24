//! The feed's chained tags on SQLite (schema 6, `feed_tags`): each entry's tag is SHA-256 over
//! the previous entry's tag and the entry (`super::chain_tag`). Every transaction that numbers
//! entries tags them before it commits (`tag_new_entries`); SQLite has one writer at a time, so
//! the entries are tagged in sequence order.

use rusqlite::{params, Connection, OptionalExtension};

use super::{chain_tag, wire_tag, FeedEntry, FeedTag, Result, CHAIN_START};

/// The entries numbered after `after`, in sequence order.
fn entries_after(c: &Connection, after: i64) -> Result<Vec<(i64, FeedEntry)>> {
    let mut out: Vec<(i64, FeedEntry)> = Vec::new();
    let mut stmt = c.prepare_cached("SELECT seq, hash FROM changes WHERE seq > ?1")?;
    for row in stmt.query_map([after], |r| Ok((r.get(0)?, r.get(1)?)))? {
        let (seq, hash) = row?;
        out.push((seq, FeedEntry::Change { hash }));
    }
    let mut stmt = c.prepare_cached(
        "SELECT seq, case_id, audience_kind, audience, change FROM allocation_events WHERE seq > ?1",
    )?;
    let rows =
        stmt.query_map([after], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?;
    for row in rows {
        let (seq, case_id, audience_kind, audience, change) = row?;
        out.push((seq, FeedEntry::Event { case_id, audience_kind, audience, change }));
    }
    out.sort_by_key(|(seq, _)| *seq);
    Ok(out)
}

/// Tags every entry not tagged yet, chaining from the last tagged one. `legacy`: also keep each
/// entry's tag before the chain (the schema 6 migration, for cursors devices already hold).
pub(super) fn tag_new_entries(c: &Connection, legacy: bool) -> Result<()> {
    let last: Option<(i64, Vec<u8>)> = c
        .prepare_cached("SELECT seq, tag FROM feed_tags ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (after, mut previous) = last.unwrap_or((0, CHAIN_START.to_vec()));
    let mut insert =
        c.prepare_cached("INSERT INTO feed_tags (seq, tag, legacy) VALUES (?1, ?2, ?3)")?;
    for (seq, entry) in entries_after(c, after)? {
        let tag = chain_tag(&previous, seq as u64, &entry);
        let old = legacy.then(|| entry.legacy_tag() as i64);
        insert.execute(params![seq, tag.as_slice(), old])?;
        previous = tag.to_vec();
    }
    Ok(())
}

/// The tags of entry `seq`. `chained`: the schema has `feed_tags` (the upgrade tests' older
/// schemas do not: there an entry's only tag is the one before the chain).
pub(super) fn seq_tag(c: &Connection, seq: u64, chained: bool) -> Result<Option<FeedTag>> {
    if chained {
        let row: Option<(Vec<u8>, Option<i64>)> = c
            .prepare_cached("SELECT tag, legacy FROM feed_tags WHERE seq = ?1")?
            .query_row([seq as i64], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        return Ok(row.map(|(tag, legacy)| FeedTag {
            chained: wire_tag(&tag),
            legacy: legacy.map(|l| l as u64),
        }));
    }
    let entry = entries_after(c, seq as i64 - 1)?.into_iter().find(|(s, _)| *s == seq as i64);
    Ok(entry.map(|(_, e)| FeedTag { chained: e.legacy_tag(), legacy: None }))
}
