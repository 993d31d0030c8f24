//! The server of a schedule: the embedded SQLite storage in a file of the schedule's directory,
//! the hub and the axum router on it, restarted (everything dropped, the same file reopened) and
//! restored from older copies of the file when the scheduler says so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request};
use fieldbook_core::document::RecordDoc;
use fieldbook_core::records::Record;
use fieldbook_server::auth::Authenticator;
use fieldbook_server::http::{metrics::Metrics, router, AppState};
use fieldbook_server::hub::Hub;
use fieldbook_server::storage::key::load_or_create_signing_key;
use fieldbook_server::storage::sqlite::SqliteStorage;
use fieldbook_server::storage::{Allocation, Storage};
use tower::ServiceExt;

use super::transport::Network;
use crate::sync_env::{summary_for, token_of, DISABLED, JWT_SECRET, PEOPLE};

/// A document as the server holds it.
#[derive(Debug, Clone)]
pub struct ServerDoc {
    pub case_id: String,
    pub heads: Vec<automerge::ChangeHash>,
    pub record: Record,
}

/// The authenticator of the tests' people (`sync_env::PEOPLE`), its token file in `dir`.
pub fn authenticator(dir: &Path) -> Arc<Authenticator> {
    let tokens: Vec<serde_json::Value> = PEOPLE
        .iter()
        .map(|(token, subject, role, team)| {
            serde_json::json!({"token": token, "subject": subject, "role": role, "team": team})
        })
        .collect();
    let path = dir.join("tokens.json");
    std::fs::write(&path, serde_json::json!({ "tokens": tokens }).to_string()).unwrap();
    let config = serde_json::json!({
        "audience": "fieldbook",
        "jwt": [{"algorithm": "HS256", "secret": JWT_SECRET}],
        "static_tokens": path,
        "disabled_subjects": [DISABLED],
        "leeway_seconds": 30
    });
    Arc::new(Authenticator::from_config(&serde_json::from_value(config).unwrap()).unwrap())
}

/// The files of a SQLite database in WAL mode.
fn files(db: &Path) -> [PathBuf; 3] {
    let name = db.file_name().unwrap().to_string_lossy().into_owned();
    [
        db.to_path_buf(),
        db.with_file_name(format!("{name}-wal")),
        db.with_file_name(format!("{name}-shm")),
    ]
}

/// Copies a database as a crash image (taken while nothing writes): the main file and its WAL.
fn copy_db(from: &Path, to: &Path) {
    let (from, to) = (files(from), files(to));
    for (f, t) in from.iter().zip(&to).take(2) {
        if f.exists() {
            std::fs::copy(f, t).unwrap();
        } else {
            let _ = std::fs::remove_file(t);
        }
    }
    let _ = std::fs::remove_file(&to[2]);
}

pub struct SimServer {
    db: PathBuf,
    auth: Arc<Authenticator>,
    storage: Option<Arc<dyn Storage>>,
    router: Option<axum::Router>,
    net: Arc<Network>,
    snapshots: usize,
}

impl std::fmt::Debug for SimServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimServer").field("up", &self.storage.is_some()).finish()
    }
}

impl SimServer {
    pub fn new(dir: &Path, net: Arc<Network>) -> Self {
        let mut server = Self {
            db: dir.join("server.db"),
            auth: authenticator(dir),
            storage: None,
            router: None,
            net,
            snapshots: 0,
        };
        server.start();
        server
    }

    pub fn is_up(&self) -> bool {
        self.storage.is_some()
    }

    /// Opens the storage file and answers on the network.
    pub fn start(&mut self) {
        if self.storage.is_some() {
            return;
        }
        let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&self.db, None).unwrap());
        let state = AppState {
            // The server's signing key file outlives restarts and restores, like a deployment's.
            hub: Hub::new(storage.clone()).with_pool_size(1).with_signing_key(
                load_or_create_signing_key(&self.db.with_extension("signing-key")).unwrap(),
            ),
            auth: self.auth.clone(),
            metrics: Arc::new(Metrics::default()),
            max_attachment_bytes: fieldbook_core::attachments::DEFAULT_MAX_ATTACHMENT_BYTES,
            sessions: Arc::default(),
            oidc: None,
        };
        let router = router(state);
        self.net.set_router(Some(router.clone()));
        self.router = Some(router);
        self.storage = Some(storage);
    }

    /// Drops the router, the hub and the storage: the process is gone.
    pub fn stop(&mut self) {
        self.net.set_router(None);
        self.router = None;
        self.storage = None;
    }

    /// A copy of the database as it is now (the nightly backup); returns its number.
    pub fn snapshot(&mut self) -> usize {
        self.snapshots += 1;
        copy_db(&self.db, &self.snapshot_path(self.snapshots));
        self.snapshots
    }

    /// Stops, puts the backup `n` in place of the database, starts again.
    pub fn restore(&mut self, n: usize) {
        self.stop();
        copy_db(&self.snapshot_path(n), &self.db);
        self.start();
    }

    fn snapshot_path(&self, n: usize) -> PathBuf {
        self.db.with_file_name(format!("backup-{n}.db"))
    }

    /// The case system's upsert through the case API; the HTTP status.
    pub async fn upsert(&self, case_id: &str, worker: &str, team: &str) -> u16 {
        let body = serde_json::json!({
            "summary": summary_for(&format!("LC{}", case_id.trim_start_matches("case-")), worker, team),
            "allocated_worker": worker,
            "team": team,
        });
        let request = Request::put(format!("/api/v1/cases/{case_id}"))
            .header(header::AUTHORIZATION, format!("Bearer {}", token_of("case-system")))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let Some(router) = self.router.clone() else { return 503 };
        match router.oneshot(request).await {
            Ok(response) => response.status().as_u16(),
            Err(never) => match never {},
        }
    }

    fn storage(&self) -> &Arc<dyn Storage> {
        self.storage.as_ref().expect("the server is up")
    }

    /// The highest sequence number the server has used.
    pub async fn head(&self) -> u64 {
        self.storage().head().await.unwrap()
    }

    /// The allocation the server holds for `case_id`.
    pub async fn allocation(&self, case_id: &str) -> Option<Allocation> {
        self.storage().allocation(case_id).await.unwrap()
    }

    /// Every document of `cases` the server holds, loaded from its stored changes.
    pub async fn docs(&self, cases: &[String]) -> BTreeMap<String, ServerDoc> {
        let mut bytes: BTreeMap<String, (String, Vec<u8>)> = BTreeMap::new();
        for case in cases {
            for change in self.storage().case_changes(case).await.unwrap() {
                let entry = bytes
                    .entry(change.doc.id.clone())
                    .or_insert_with(|| (case.clone(), Vec::new()));
                entry.1.extend_from_slice(&change.bytes);
            }
        }
        let mut docs = BTreeMap::new();
        for (id, (case_id, changes)) in bytes {
            let mut doc = RecordDoc::from_changes(&changes, automerge::ActorId::random())
                .unwrap_or_else(|e| panic!("the server's document {id} does not load: {e}"));
            let mut heads = doc.heads();
            heads.sort();
            let record = doc.record().unwrap();
            docs.insert(id, ServerDoc { case_id, heads, record });
        }
        docs
    }
}
