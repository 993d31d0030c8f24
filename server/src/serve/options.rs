//! The server's command line, shared by both server binaries (`fieldbook-server` and
//! `fieldbook serve`) so that their flags, defaults, logging and signal handling cannot drift:
//! each binary parses [`ServeOptions`] (flattened into its own clap parser), calls
//! [`crate::logging::init`] and then [`run`].

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::auth::AuthConfig;
use crate::oversight::oidc::{Oidc, OidcConfig};

use super::{app_state, open_storage, serve_with, Backend, ServeError};

/// Everything both server binaries accept. Every flag has an environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeOptions {
    /// Address to listen on.
    #[arg(long, env = "FIELDBOOK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// SQLite database file (the embedded default).
    #[arg(long, env = "FIELDBOOK_SQLITE", default_value = "fieldbook-server.db")]
    pub sqlite: PathBuf,
    /// Key file of the SQLite database: 64 hexadecimal characters (32 random bytes). Default:
    /// `<sqlite>.key` beside the database, created (mode 0600) on first start. The database is
    /// always encrypted; a plain-text one from an earlier release is encrypted on start.
    #[arg(long, env = "FIELDBOOK_SQLITE_KEY_FILE")]
    pub sqlite_key_file: Option<PathBuf>,
    /// The server's Ed25519 signing key file (receipts, key events, the changes it makes on
    /// someone's behalf): 64 hexadecimal characters, created (mode 0600) when missing. Default
    /// with SQLite: `<sqlite>.signing-key` beside the database. Required with PostgreSQL, the
    /// same file for every server of one database.
    #[arg(long, env = "FIELDBOOK_SIGNING_KEY_FILE")]
    pub signing_key_file: Option<PathBuf>,
    /// PostgreSQL URL; when given, used instead of SQLite.
    // The URL can hold a password: `--help` must not print the variable's value.
    #[arg(long, env = "FIELDBOOK_POSTGRES", hide_env_values = true)]
    pub postgres: Option<String>,
    /// Authentication configuration (JSON: audience, issuer, JWT keys, static tokens file).
    #[arg(long, env = "FIELDBOOK_AUTH")]
    pub auth: PathBuf,
    /// Log as JSON lines (one object per line) instead of text.
    #[arg(long, env = "FIELDBOOK_LOG_JSON")]
    pub log_json: bool,
    /// Most Automerge jobs (applying pushes, repairs, summaries, exports) at once, on a pool
    /// apart from the threads that answer requests. Default: one per core.
    #[arg(long, env = "FIELDBOOK_AUTOMERGE_JOBS")]
    pub automerge_jobs: Option<usize>,
    /// The largest attachment (photo, signature, recording) accepted, in bytes; larger uploads
    /// are refused with 413 before any chunk is read.
    #[arg(long, env = "FIELDBOOK_MAX_ATTACHMENT_BYTES",
          default_value_t = fieldbook_core::attachments::DEFAULT_MAX_ATTACHMENT_BYTES)]
    pub max_attachment_bytes: u64,
    /// The most device signing keys one worker may register (each tablet has one, and a new one
    /// after each rotation); a new key past it is refused `key_limit`.
    #[arg(long, env = "FIELDBOOK_MAX_KEYS_PER_WORKER",
          default_value_t = crate::hub::DEFAULT_MAX_KEYS_PER_WORKER)]
    pub max_keys_per_worker: usize,
    #[command(flatten)]
    pub limits: ConnectionLimits,
    #[command(flatten)]
    pub oidc: OidcOptions,
}

/// Sign-in to the oversight pages through the council's identity provider (OpenID Connect,
/// authorisation code with PKCE; `docs/council-backend.md`). Without `--oidc-issuer` the sign-in
/// page is the development form that takes a token.
#[derive(Clone, Default, clap::Args)]
pub struct OidcOptions {
    /// The provider's issuer URL (its discovery document is `<issuer>/.well-known/openid-configuration`).
    #[arg(long, env = "FIELDBOOK_OIDC_ISSUER", requires_all = ["oidc_client_id", "oidc_redirect_url"])]
    pub oidc_issuer: Option<String>,
    /// This server's client id at the provider.
    #[arg(long, env = "FIELDBOOK_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// The client secret (a confidential client); PKCE is used with or without one.
    // A secret: `--help` must not print the variable's value.
    #[arg(long, env = "FIELDBOOK_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<String>,
    /// The callback registered at the provider: `https://<this server>/oversight/callback`.
    #[arg(long, env = "FIELDBOOK_OIDC_REDIRECT_URL")]
    pub oidc_redirect_url: Option<String>,
}

// By hand: the client secret must not reach a log through `Debug`.
impl std::fmt::Debug for OidcOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcOptions")
            .field("oidc_issuer", &self.oidc_issuer)
            .field("oidc_client_id", &self.oidc_client_id)
            .field("oidc_client_secret", &self.oidc_client_secret.as_ref().map(|_| "<redacted>"))
            .field("oidc_redirect_url", &self.oidc_redirect_url)
            .finish()
    }
}

impl OidcOptions {
    /// The relying party's configuration, when an issuer is given (clap has checked that the
    /// client id and redirect URL come with it).
    pub fn config(&self) -> Option<OidcConfig> {
        let issuer = self.oidc_issuer.clone()?;
        Some(OidcConfig {
            issuer,
            client_id: self.oidc_client_id.clone().unwrap_or_default(),
            client_secret: self.oidc_client_secret.clone(),
            redirect_url: self.oidc_redirect_url.clone().unwrap_or_default(),
        })
    }
}

impl ServeOptions {
    /// The signing key file the options name (see `signing_key_file`).
    pub fn signing_key_path(&self) -> Result<PathBuf, ServeError> {
        match (&self.signing_key_file, &self.postgres) {
            (Some(path), _) => Ok(path.clone()),
            (None, None) => Ok(crate::storage::key::default_signing_key_file(&self.sqlite)),
            (None, Some(_)) => Err(ServeError::Auth(
                "PostgreSQL needs --signing-key-file (the same file for every server of the \
                 database)"
                    .into(),
            )),
        }
    }

    /// The storage backend the options name: PostgreSQL when a URL is given, SQLite otherwise.
    pub fn backend(&self) -> Backend {
        match &self.postgres {
            Some(url) => Backend::Postgres(url.clone()),
            None => {
                Backend::sqlite_with_key_file(self.sqlite.clone(), self.sqlite_key_file.clone())
            }
        }
    }
}

/// How long a client may take and how many may be connected at once. A slow or stalled client
/// (partial headers, a trickled body, a body declared but never sent, a connection left open) is
/// disconnected instead of holding a connection, a task and its buffers for as long as it likes.
///
/// Durations are written `200ms`, `10s` or `2m` (a bare number is seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct ConnectionLimits {
    /// Time a client has to send a request's headers, counted from their first byte.
    #[arg(long, env = "FIELDBOOK_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// Time a client has to send a request's whole body, counted from the end of its headers.
    /// Answered with 408 and the connection closed. Devices give up on a request after 60 s.
    #[arg(long, env = "FIELDBOOK_BODY_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub body_timeout: Duration,
    /// Time a connection may stay open with no request on it (before the first one, or between
    /// two on a kept-alive connection).
    #[arg(long, env = "FIELDBOOK_IDLE_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Connections served at once; one more is answered 503 and closed at once.
    #[arg(long, env = "FIELDBOOK_MAX_CONNECTIONS", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// On SIGTERM or SIGINT, time the requests in flight get to finish before the remaining
    /// connections are closed (below the usual 30 s an orchestrator waits before SIGKILL).
    #[arg(long, env = "FIELDBOOK_SHUTDOWN_TIMEOUT", default_value = "25s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
}

impl Default for ConnectionLimits {
    /// The same values as the command line's defaults (a unit test keeps them equal).
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(30),
            max_connections: 512,
            shutdown_timeout: Duration::from_secs(25),
        }
    }
}

/// `200ms`, `10s`, `2m`, or a bare number of seconds; never zero (that would close everything).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("`{text}` is not a duration like 10s"))?;
    let duration = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        other => return Err(format!("unknown unit `{other}` (use ms, s or m)")),
    };
    if duration.is_zero() {
        return Err("a timeout of zero would close every connection".into());
    }
    Ok(duration)
}

/// Reads `auth.json`. A parse error keeps only its position: serde's message can quote the
/// offending value, and this file holds secrets.
pub fn read_auth_config(path: &Path) -> Result<AuthConfig, ServeError> {
    let bytes = std::fs::read(path)
        .map_err(|source| ServeError::AuthFileRead { path: path.to_path_buf(), source })?;
    serde_json::from_slice(&bytes).map_err(|e| ServeError::AuthFileParse {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
    })
}

/// Opens the storage, binds, serves until `shutdown` resolves, then drains the requests in
/// flight (see [`serve_with`]) and returns.
pub async fn run(
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let auth = read_auth_config(&options.auth)?;
    let backend = options.backend();
    let storage = open_storage(&backend).await?;
    let signing_key =
        crate::storage::key::load_or_create_signing_key(&options.signing_key_path()?)?;
    let mut state = app_state(storage, &auth)?;
    state.hub = state
        .hub
        .with_signing_key(signing_key)
        .with_max_keys_per_worker(options.max_keys_per_worker);
    if let Some(jobs) = options.automerge_jobs {
        state.hub = state.hub.with_pool_size(jobs);
    }
    state.max_attachment_bytes = options.max_attachment_bytes;
    if let Some(config) = options.oidc.config() {
        tracing::info!(issuer = %config.issuer, "oversight sign-in through the identity provider");
        let oidc = Oidc::new(config).map_err(|e| ServeError::Auth(e.to_string()))?;
        state.oidc = Some(std::sync::Arc::new(oidc));
    }
    let listener = tokio::net::TcpListener::bind(options.listen).await?;
    let limits = options.limits;
    tracing::info!(
        addr = %listener.local_addr()?,
        backend = if matches!(backend, Backend::Postgres(_)) { "postgres" } else { "sqlite" },
        header_timeout = ?limits.header_timeout,
        body_timeout = ?limits.body_timeout,
        idle_timeout = ?limits.idle_timeout,
        max_connections = limits.max_connections,
        shutdown_timeout = ?limits.shutdown_timeout,
        "listening"
    );
    serve_with(listener, state, limits, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on the first SIGTERM or SIGINT (Ctrl-C), after logging which. Both mean "stop
/// accepting, finish what is in flight": an orchestrator sends SIGTERM, a person Ctrl-C. The
/// handlers are installed when this is called (not when first polled), so a signal that arrives
/// while the storage opens is not lost to the default action, which would kill the process.
/// Call it inside the runtime.
pub fn terminate_or_interrupt() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, Signal, SignalKind};
        async fn first(signal: std::io::Result<Signal>, name: &'static str) -> &'static str {
            match signal {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, signal = name, "cannot listen for the signal");
                    std::future::pending::<()>().await;
                }
            }
            name
        }
        let terminate = first(signal(SignalKind::terminate()), "SIGTERM");
        let interrupt = first(signal(SignalKind::interrupt()), "SIGINT");
        async move {
            let signal = tokio::select! {
                name = terminate => name,
                name = interrupt => name,
            };
            tracing::info!(signal, "shutdown signal received: draining requests in flight");
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        tracing::info!(signal = "Ctrl-C", "shutdown signal received: draining requests in flight");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        options: ServeOptions,
    }

    #[test]
    fn the_defaults_are_the_command_lines() {
        let cli = Cli::try_parse_from(["x", "--auth", "a.json"]).unwrap();
        assert_eq!(cli.options.limits, ConnectionLimits::default());
    }

    #[test]
    fn limits_are_set_by_flags() {
        let cli = Cli::try_parse_from([
            "x",
            "--auth",
            "a.json",
            "--header-timeout",
            "200ms",
            "--body-timeout",
            "3",
            "--idle-timeout",
            "2m",
            "--max-connections",
            "7",
            "--shutdown-timeout",
            "1s",
        ])
        .unwrap();
        let limits = cli.options.limits;
        assert_eq!(limits.header_timeout, Duration::from_millis(200));
        assert_eq!(limits.body_timeout, Duration::from_secs(3));
        assert_eq!(limits.idle_timeout, Duration::from_secs(120));
        assert_eq!(limits.max_connections, 7);
        assert_eq!(limits.shutdown_timeout, Duration::from_secs(1));
    }

    #[test]
    fn an_issuer_needs_a_client_id_and_a_redirect_url() {
        assert!(Cli::try_parse_from(["x", "--auth", "a", "--oidc-issuer", "https://idp"]).is_err());
        let cli = Cli::try_parse_from([
            "x",
            "--auth",
            "a",
            "--oidc-issuer",
            "https://idp",
            "--oidc-client-id",
            "fb",
            "--oidc-redirect-url",
            "https://fb/oversight/callback",
        ])
        .unwrap();
        let config = cli.options.oidc.config().unwrap();
        assert_eq!((config.client_id.as_str(), config.client_secret), ("fb", None));
        assert!(Cli::try_parse_from(["x", "--auth", "a"]).unwrap().options.oidc.config().is_none());
    }

    #[test]
    fn durations_are_checked() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        for bad in ["", "0", "0ms", "10h", "ms", "-1s", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad} accepted");
        }
        assert!(Cli::try_parse_from(["x", "--auth", "a", "--max-connections", "0"]).is_err());
    }

    #[test]
    fn a_bad_auth_file_is_reported_without_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.json");
        std::fs::write(&path, r#"{"audience": "fieldbook", "leeway_seconds": "SECRET-VALUE"}"#)
            .unwrap();
        let message = read_auth_config(&path).unwrap_err().to_string();
        assert!(message.contains("line 1"), "{message}");
        assert!(!message.contains("SECRET-VALUE"), "{message}");
    }
}
