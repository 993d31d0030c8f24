//! The world of the tamper tests (`tests/tests/evidence.rs`: what a device refuses on pull;
//! `tests/tests/audit.rs`: what `audit verify` names): a server on the embedded store, amara's
//! tablet with one visit synced, and the server's database opened as someone with access to it
//! would, to alter what it holds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use fieldbook_core::records::RecordBody;
use fieldbook_server::serve::{open_storage, Backend};
use fieldbook_server::storage::{postgres::PostgresStorage, Storage};

use crate::sync_env::{Device, SyncEnv};
use crate::{realistic_visit, visit_body, Scratch};

#[derive(Debug)]
pub struct World {
    pub env: SyncEnv,
    pub storage: Arc<dyn Storage>,
    pub tablet: Device,
    pub visit: String,
}

/// What happens to the visit before it is synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    /// Created and edited.
    Edited,
    /// Created, edited, submitted and amended (a first submitted version and an amendment).
    Amended,
}

/// A server; amara's tablet with one visit of `history`, synced.
pub async fn world(history: History) -> World {
    let scratch = Scratch::new();
    let storage = open_storage(&Backend::sqlite(scratch.path("server.db"))).await.unwrap();
    world_on(history, scratch, storage).await
}

/// The same world on the PostgreSQL test cluster, in a schema of its own (`server_db` opens
/// the SQLite file only: the tamper tests alter the embedded store).
pub async fn world_postgres(history: History, schema: &str) -> World {
    let schema = format!("{schema}_{}", std::process::id());
    let url = crate::sync_env::postgres_url();
    let storage = PostgresStorage::connect_with_schema(&url, Some(&schema)).await.unwrap();
    world_on(history, Scratch::new(), Arc::new(storage)).await
}

async fn world_on(history: History, scratch: Scratch, storage: Arc<dyn Storage>) -> World {
    let env = SyncEnv::start_with(scratch, storage.clone()).await;
    env.upsert_case("case-1", "LC1", "amara", "north").await;
    let mut tablet = env.device("amara", "tablet-1");
    assert!(tablet.sync().await.failure.is_none());
    let visit = tablet.store.create_record("case-1", &visit_body(realistic_visit(1))).unwrap();
    edit(&mut tablet, &visit, " Seen in the kitchen.");
    if history == History::Amended {
        tablet.store.submit(&visit).unwrap();
        edit(&mut tablet, &visit, " Amended: mother present.");
    }
    let report = tablet.sync().await;
    assert!(report.failure.is_none() && report.rejected.is_empty(), "{report:?}");
    World { env, storage, tablet, visit }
}

/// Appends `words` to the visit's observations.
pub fn edit(d: &mut Device, id: &str, words: &str) {
    let mut record = d.store.record(id).unwrap();
    if let RecordBody::Visit(v) = &mut record.body {
        v.observations.push_str(words);
    }
    d.store.update_record(id, &record.body).unwrap();
}

/// The server's database, opened with its key file, as someone with access to it would.
pub fn server_db(env: &SyncEnv) -> rusqlite::Connection {
    let key = std::fs::read_to_string(env.scratch.path("server.db.key")).unwrap();
    let conn = rusqlite::Connection::open(env.scratch.path("server.db")).unwrap();
    conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", key.trim())).unwrap();
    conn
}
