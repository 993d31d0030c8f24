//! Starting and stopping the server: storage backend, authentication, listener, graceful
//! shutdown. Used by the `fieldbook-server` binary, the `fieldbook` CLI and the tests.
//!
//! `options` is the command line both binaries share and its `run`; `listener` the accept loop
//! (connection cap, header and idle timeouts, drain); `middleware` the request id, log span and
//! body deadline every request goes through.

pub mod listener;
pub mod middleware;
pub mod options;

pub use options::{run, terminate_or_interrupt, ConnectionLimits, ServeOptions};

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::auth::{AuthConfig, Authenticator};
use crate::http::{metrics::Metrics, router, AppState};
use crate::hub::Hub;
use crate::storage::key::default_key_file;
use crate::storage::{postgres::PostgresStorage, sqlite_file, Storage};

/// Where the server keeps its data.
#[derive(Debug, Clone)]
pub enum Backend {
    /// Embedded SQLite file (the default: no other service needed), always encrypted with
    /// SQLCipher under the key in `key_file` (`<path>.key` when None), created on first start;
    /// see `storage::sqlite_file`.
    Sqlite { path: PathBuf, key_file: Option<PathBuf> },
    /// PostgreSQL, by URL (production).
    Postgres(String),
}

impl Backend {
    /// The embedded database at `path`, its key file beside it.
    pub fn sqlite(path: impl Into<PathBuf>) -> Self {
        Self::Sqlite { path: path.into(), key_file: None }
    }

    /// The embedded database at `path` with its key in `key_file` (None: beside it).
    pub fn sqlite_with_key_file(path: impl Into<PathBuf>, key_file: Option<PathBuf>) -> Self {
        Self::Sqlite { path: path.into(), key_file }
    }

    /// Where the embedded database's key is (None for PostgreSQL).
    pub fn sqlite_key_file(&self) -> Option<PathBuf> {
        match self {
            Self::Sqlite { path, key_file } => {
                Some(key_file.clone().unwrap_or_else(|| default_key_file(path)))
            }
            Self::Postgres(_) => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("storage: {0}")]
    Storage(#[from] crate::storage::StorageError),
    #[error("authentication configuration: {0}")]
    Auth(String),
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot read the authentication configuration {path}: {source}")]
    AuthFileRead { path: PathBuf, source: std::io::Error },
    // serde's message can quote the offending value — a secret — so only the position is kept.
    #[error("the authentication configuration {path} is not valid (line {line}, column {column})")]
    AuthFileParse { path: PathBuf, line: usize, column: usize },
}

pub async fn open_storage(backend: &Backend) -> Result<Arc<dyn Storage>, ServeError> {
    Ok(match backend {
        Backend::Sqlite { path, key_file } => {
            let key_file = key_file.clone().unwrap_or_else(|| default_key_file(path));
            Arc::new(sqlite_file::open_with_key_file(path, &key_file)?)
        }
        Backend::Postgres(url) => Arc::new(PostgresStorage::connect(url).await?),
    })
}

pub fn app_state(storage: Arc<dyn Storage>, auth: &AuthConfig) -> Result<AppState, ServeError> {
    let auth = Authenticator::from_config(auth).map_err(|e| ServeError::Auth(e.to_string()))?;
    Ok(AppState {
        hub: Hub::new(storage),
        auth: Arc::new(auth),
        metrics: Arc::new(Metrics::default()),
        max_attachment_bytes: fieldbook_core::attachments::DEFAULT_MAX_ATTACHMENT_BYTES,
        sessions: Arc::default(),
        oidc: None,
    })
}

/// [`serve_with`] with the default [`ConnectionLimits`].
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, ConnectionLimits::default(), shutdown).await
}

/// Serves within `limits` until `shutdown` resolves, then stops accepting and lets requests in
/// flight finish (up to `limits.shutdown_timeout`), so nothing already being handled (and
/// acknowledged) is cut off.
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = middleware::wrap(router(state), limits);
    listener::serve_connections(listener, app, limits, shutdown).await
}

/// A server running in the background (tests, the demo).
#[derive(Debug)]
pub struct RunningServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningServer {
    pub async fn start(listen: SocketAddr, state: AppState) -> Result<Self, ServeError> {
        Self::start_with(listen, state, ConnectionLimits::default()).await
    }

    /// Within `limits` (tests of slow clients use short ones).
    pub async fn start_with(
        listen: SocketAddr,
        state: AppState,
        limits: ConnectionLimits,
    ) -> Result<Self, ServeError> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with(listener, state, limits, async move {
            let _ = stopped.await;
        }));
        Ok(Self { addr, stop: Some(stop), task: Some(task) })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Graceful stop: waits for requests in flight.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
