//! `fieldbook`: the desktop front end over the same API as the tablet apps.
//!
//! - `fieldbook demo` runs the main scenario: a sync server on the embedded store and several
//!   simulated tablets (no other service needed).
//! - `fieldbook serve` runs the sync server.
//! - `fieldbook record-visit | records | show | sync | worklist | cases` work on a local encrypted
//!   store in `--data`, as one worker on one device. `--json` prints machine-readable output.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod demo;
mod local;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "fieldbook",
    version,
    about = "Offline-first case recording for children's social care"
)]
struct Cli {
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The main scenario: a server on the embedded store, tablets recording offline, editing the
    /// same record, syncing in turn, a case re-allocated; prints what each holds and the worklist.
    Demo {
        /// Keep the demo's stores and server database here (default: a temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Run the sync server.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// SQLite database (the embedded default).
        #[arg(long, default_value = "fieldbook-server.db")]
        sqlite: PathBuf,
        /// Key file of the SQLite database (64 hex characters). Default: `<sqlite>.key` beside
        /// it, created on first start; the database is always encrypted.
        #[arg(long)]
        sqlite_key_file: Option<PathBuf>,
        /// PostgreSQL URL instead of SQLite.
        #[arg(long)]
        postgres: Option<String>,
        /// Authentication configuration (JSON).
        #[arg(long)]
        auth: PathBuf,
    },
    #[command(flatten)]
    Local(local::LocalCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("fieldbook: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Demo { dir } => demo::run(dir, cli.json).await,
            Command::Serve { listen, sqlite, sqlite_key_file, postgres, auth } => {
                serve(listen, sqlite, sqlite_key_file, postgres, auth).await
            }
            Command::Local(cmd) => local::run(cmd, cli.json).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fieldbook: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(
    listen: std::net::SocketAddr,
    sqlite: PathBuf,
    sqlite_key_file: Option<PathBuf>,
    postgres: Option<String>,
    auth: PathBuf,
) -> Result<(), Box<dyn std::error::Error>> {
    use fieldbook_server::serve::{app_state, open_storage, serve, Backend};
    let auth: fieldbook_server::auth::AuthConfig = serde_json::from_slice(&std::fs::read(auth)?)?;
    let backend = match postgres {
        Some(url) => Backend::Postgres(url),
        None => Backend::sqlite_with_key_file(sqlite, sqlite_key_file),
    };
    let state = app_state(open_storage(&backend).await?, &auth)?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!("fieldbook: serving on http://{}", listener.local_addr()?);
    serve(listener, state, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
