//! Who made a change. The Automerge actor is per device (and per store session, so that a device
//! restored from a backup never reuses a sequence number); it spells out the worker and device so
//! that any change or conflicting value can be attributed without a lookup table. Each change's
//! message also names the worker, the device and the fields changed.

use automerge::ActorId;
use serde::{Deserialize, Serialize};

/// Separates the parts of an actor id. Not a character anyone types into an id.
const SEP: u8 = 0x1f;

/// A worker id as Fieldbook compares it: surrounding white space removed and lower-cased
/// (Unicode lower case), so that "MGR", " mgr" and "mgr" are one person. Identity providers and
/// case systems differ in how they spell the same account; the management-oversight check (C5,
/// "by a manager who is not the author") must not be passable by spelling one's own id another
/// way. Applied where an id enters Fieldbook (a bearer token's subject on the server, the worker
/// a store is opened for, a case's allocated worker) and again wherever two ids are compared,
/// for ids written by an older build or another implementation.
pub fn normalise_worker_id(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// Whether two worker ids name the same worker.
pub fn same_worker(a: &str, b: &str) -> bool {
    normalise_worker_id(a) == normalise_worker_id(b)
}

/// The worker and device making changes through a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// Always normalised (`normalise_worker_id`).
    pub worker: String,
    pub device: String,
    /// Random per store session: two sessions never share an actor.
    pub session: [u8; 8],
}

impl Author {
    pub fn new(worker: impl AsRef<str>, device: impl Into<String>) -> Self {
        let uuid = uuid::Uuid::new_v4();
        let mut session = [0u8; 8];
        session.copy_from_slice(&uuid.as_bytes()[..8]);
        Self { worker: normalise_worker_id(worker.as_ref()), device: device.into(), session }
    }

    /// The Automerge actor: `worker 0x1f device 0x1f session`.
    pub fn actor(&self) -> ActorId {
        let mut bytes = Vec::with_capacity(self.worker.len() + self.device.len() + 10);
        bytes.extend_from_slice(self.worker.as_bytes());
        bytes.push(SEP);
        bytes.extend_from_slice(self.device.as_bytes());
        bytes.push(SEP);
        bytes.extend_from_slice(&self.session);
        ActorId::from(bytes)
    }
}

/// The worker and device an actor id names; `None` for actors made by another implementation.
pub fn parse_actor(actor: &ActorId) -> Option<(String, String)> {
    let mut parts = actor.to_bytes().splitn(3, |b| *b == SEP);
    let worker = std::str::from_utf8(parts.next()?).ok()?.to_string();
    let device = std::str::from_utf8(parts.next()?).ok()?.to_string();
    parts.next()?;
    Some((worker, device))
}

/// The metadata in each change's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeMessage {
    #[serde(rename = "w")]
    pub worker: String,
    #[serde(rename = "d")]
    pub device: String,
    #[serde(rename = "f", default)]
    pub fields: Vec<String>,
}

impl ChangeMessage {
    pub fn new(author: &Author, fields: &[&str]) -> Self {
        Self {
            worker: author.worker.clone(),
            device: author.device.clone(),
            fields: fields.iter().map(|f| (*f).to_string()).collect(),
        }
    }

    pub fn encode(&self) -> String {
        // Serialising plain strings cannot fail; fall back to an empty object rather than panic.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }

    pub fn decode(message: &str) -> Option<Self> {
        serde_json::from_str(message).ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn actor_names_worker_and_device_and_differs_per_session() {
        let a = Author::new("w.smith", "tablet-7");
        let b = Author::new("w.smith", "tablet-7");
        assert_ne!(a.actor(), b.actor());
        assert_eq!(parse_actor(&a.actor()), Some(("w.smith".into(), "tablet-7".into())));
        assert_eq!(parse_actor(&ActorId::random()), None);
    }

    #[test]
    fn worker_ids_are_normalised_once_and_compared_normalised() {
        assert_eq!(normalise_worker_id(" MGR "), "mgr");
        assert_eq!(normalise_worker_id("Ámara.Smith"), "ámara.smith");
        assert!(same_worker("MGR", "mgr"));
        assert!(!same_worker("mgr", "mgr2"));
        let a = Author::new("W.Smith", "Tablet-7");
        assert_eq!(a.worker, "w.smith");
        // Device ids are not identities of people: kept as given.
        assert_eq!(a.device, "Tablet-7");
        assert_eq!(parse_actor(&a.actor()), Some(("w.smith".into(), "Tablet-7".into())));
    }
}
