//! A record's history: who changed which fields, when, from which device.

use automerge::AutoCommit;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::authorship::{parse_actor, ChangeMessage};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The Automerge change hash, hex.
    pub change: String,
    pub worker: String,
    pub device: String,
    /// The device's clock when the change was made: advisory only.
    pub at: Option<DateTime<Utc>>,
    /// The body fields changed, or a lifecycle step (`created`, `submitted`, `authorised`).
    pub fields: Vec<String>,
}

/// Every change of the document, oldest first (in causal order).
pub fn of(doc: &mut AutoCommit) -> Vec<HistoryEntry> {
    doc.get_changes_meta(&[])
        .into_iter()
        .map(|change| {
            let from_message = change.message.as_deref().and_then(ChangeMessage::decode);
            let from_actor = parse_actor(&change.actor);
            let (worker, device, fields) = match (from_message, from_actor) {
                (Some(m), _) => (m.worker, m.device, m.fields),
                (None, Some((w, d))) => (w, d, Vec::new()),
                (None, None) => (String::new(), change.actor.to_hex_string(), Vec::new()),
            };
            HistoryEntry {
                change: change.hash.to_string(),
                worker,
                device,
                at: Utc
                    .timestamp_opt(change.timestamp, 0)
                    .single()
                    .filter(|_| change.timestamp != 0),
                fields,
            }
        })
        .collect()
}
