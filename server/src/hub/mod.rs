//! The sync hub: the server's decisions, separate from HTTP and from storage. It applies a
//! device's pushed changes (checking who may write what), acknowledges them, and assembles what
//! the device should receive. Everything it needs from storage goes through the `Storage` trait,
//! so both backends behave the same.

mod cases;
mod feed;
mod push;

use std::sync::Arc;

use fieldbook_core::protocol::{SyncRequest, SyncResponse, PROTOCOL_VERSION};
use thiserror::Error;

pub use cases::{CaseUpsert, ChildIdentity, ExportPage, ExportedRecord};

use crate::auth::{Identity, Role};
use crate::storage::{Audience, Storage, StorageError};

#[derive(Debug, Error)]
pub enum HubError {
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("this role may not {0}")]
    Forbidden(&'static str),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("a stored document is damaged: {0}")]
    Corrupt(String),
    /// The input is well formed but breaks the statutory rules; every failing item is named.
    #[error("{} item(s) incomplete or invalid", .0.len())]
    Unprocessable(Vec<fieldbook_core::rules::completeness::MissingItem>),
}

/// The server's response-size cap; a device may ask for less, never more.
pub const RESPONSE_BUDGET_CAP: u64 = fieldbook_core::protocol::limits::DEFAULT_RESPONSE_BUDGET;
/// Feed rows per response, whatever their size.
pub const MAX_FEED_ROWS: usize = 20_000;

#[derive(Debug, Clone)]
pub struct Hub {
    storage: Arc<dyn Storage>,
}

impl Hub {
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self { storage }
    }

    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// One sync exchange for an authenticated device.
    pub async fn sync(
        &self,
        who: &Identity,
        request: SyncRequest,
    ) -> Result<SyncResponse, HubError> {
        let audience = audience_of(who)?;
        let pushed = push::apply(self, who, &audience, &request.push).await?;
        let mut response = feed::assemble(self, &audience, &request, &pushed.hashes).await?;
        response.acks = pushed.acks;
        response.rejected = pushed.rejected;
        response.version = PROTOCOL_VERSION;
        Ok(response)
    }
}

/// Who a sync is for: a worker sees their own cases, a manager the team's.
pub fn audience_of(who: &Identity) -> Result<Audience, HubError> {
    match (who.role, &who.team) {
        (Role::Worker, _) => Ok(Audience::Worker(who.subject.clone())),
        (Role::Manager, Some(team)) => Ok(Audience::Team(team.clone())),
        (Role::Manager, None) => Err(HubError::Forbidden("sync without a team")),
        (Role::Integration | Role::Operator, _) => Err(HubError::Forbidden("sync a device")),
    }
}

/// Loads a stored document from its changes (empty when it has none).
pub(crate) async fn load_doc(
    storage: &dyn Storage,
    id: &str,
) -> Result<automerge::AutoCommit, HubError> {
    // One load of all the changes concatenated: automerge sorts them out in one pass, far
    // faster than applying them one at a time.
    let bytes = storage.doc_changes(id).await?.concat();
    let mut doc = automerge::AutoCommit::new();
    fieldbook_core::document::load_incremental_checked(&mut doc, &bytes)
        .map_err(|e| HubError::Corrupt(format!("document {id}: {e}")))?;
    Ok(doc)
}
