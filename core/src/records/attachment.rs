//! A reference from a record to an attachment (a photo, a signature image, an audio note): the
//! bytes live outside the Automerge document, content-addressed by SHA-256, stored encrypted on
//! the device (`store::attachments`) and sent to the server on their own, resumable channel
//! (`attachments` client, docs/PROTOCOL.md "Attachments"). The document only carries this small
//! reference, so a 5 MB photo never travels in a sync message.

use autosurgeon::{Hydrate, Reconcile};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::terms::fields::{iso, text};

/// One attachment of a record. Keyed by its hash in the list, so two devices adding photos to
/// the same visit offline merge item by item.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttachmentRef {
    /// SHA-256 of the bytes, 64 lowercase hex characters.
    #[key]
    pub hash: String,
    /// `image/jpeg`, `image/png`, `audio/mp4`, ...
    pub media_type: String,
    pub size: u64,
    #[autosurgeon(with = "text")]
    pub caption: String,
    #[autosurgeon(with = "iso")]
    pub taken_at: DateTime<Utc>,
}

/// Whether `s` is a hash as attachments are named: 64 lowercase hex characters.
pub fn is_attachment_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
