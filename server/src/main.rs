//! `fieldbook-server`: the sync server for a council. Embedded SQLite by default; PostgreSQL with
//! `--postgres`. Logs are structured (JSON with `--log-json`) and never contain record content
//! or tokens.
#![allow(clippy::print_stderr)]

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use fieldbook_server::auth::AuthConfig;
use fieldbook_server::serve::{app_state, open_storage, serve, Backend};

#[derive(Parser, Debug)]
#[command(name = "fieldbook-server", version, about = "Fieldbook sync server")]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "FIELDBOOK_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// SQLite database file (the embedded default).
    #[arg(long, env = "FIELDBOOK_SQLITE", default_value = "fieldbook-server.db")]
    sqlite: PathBuf,
    /// Key file of the SQLite database: 64 hexadecimal characters (32 random bytes). Default:
    /// `<sqlite>.key` beside the database, created (mode 0600) on first start. The database is
    /// always encrypted; a plain-text one from an earlier release is encrypted on start.
    #[arg(long, env = "FIELDBOOK_SQLITE_KEY_FILE")]
    sqlite_key_file: Option<PathBuf>,
    /// PostgreSQL URL; when given, used instead of SQLite.
    #[arg(long, env = "FIELDBOOK_POSTGRES")]
    postgres: Option<String>,
    /// Authentication configuration (JSON: audience, issuer, JWT keys, static tokens file).
    #[arg(long, env = "FIELDBOOK_AUTH")]
    auth: PathBuf,
    /// Log as JSON lines.
    #[arg(long)]
    log_json: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let filter = fieldbook_server::logging::log_filter("info");
    if args.log_json {
        tracing_subscriber::fmt().json().with_env_filter(filter).init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fieldbook-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let auth: AuthConfig = serde_json::from_slice(&std::fs::read(&args.auth)?)?;
    let backend = match args.postgres {
        Some(url) => Backend::Postgres(url),
        None => Backend::sqlite_with_key_file(args.sqlite, args.sqlite_key_file),
    };
    let storage = open_storage(&backend).await?;
    let state = app_state(storage, &auth)?;
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, backend = if matches!(backend, Backend::Postgres(_)) { "postgres" } else { "sqlite" }, "listening");
    serve(listener, state, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// SIGINT or SIGTERM: stop accepting, finish requests in flight.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
