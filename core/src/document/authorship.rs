//! Who made a change. The Automerge actor is per device (and per store session, so that a device
//! restored from a backup never reuses a sequence number); it spells out the worker and device so
//! that any change or conflicting value can be attributed without a lookup table. Each change's
//! message also names the worker, the device and the fields changed.

use automerge::ActorId;
use serde::{Deserialize, Serialize};

/// Separates the parts of an actor id. Not a character anyone types into an id.
const SEP: u8 = 0x1f;

/// The worker and device making changes through a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub worker: String,
    pub device: String,
    /// Random per store session: two sessions never share an actor.
    pub session: [u8; 8],
}

impl Author {
    pub fn new(worker: impl Into<String>, device: impl Into<String>) -> Self {
        let uuid = uuid::Uuid::new_v4();
        let mut session = [0u8; 8];
        session.copy_from_slice(&uuid.as_bytes()[..8]);
        Self { worker: worker.into(), device: device.into(), session }
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
}
