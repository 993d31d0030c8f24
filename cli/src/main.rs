//! `fieldbook`: the desktop front end over the same API as the tablet apps.
//!
//! - `fieldbook demo` runs the main scenario: a sync server on the embedded store and several
//!   simulated tablets (no other service needed).
//! - `fieldbook serve` runs the sync server.
//! - `fieldbook record-visit | record-assessment | record-note | edit | conflicts | resolve |
//!   submit | authorise | delivery | attach | attachments | fetch-attachment | records | show |
//!   sync | worklist | cases` work on a local
//!   encrypted store in `--data`, as one worker on one device. `--json` prints machine-readable
//!   output.
//! - `fieldbook audit export | verify` write a record's or a case's audit bundle from the
//!   server's storage and check one (docs/audit.md).
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod attach;
mod audit;
mod demo;
mod local;
mod records;

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
        /// Afterwards, keep the server running for the oversight pages (prints their address and
        /// the development tokens to sign in with) until Ctrl-C or SIGTERM.
        #[arg(long)]
        keep_serving: bool,
    },
    /// Run the sync server (the same options, logs and shutdown as `fieldbook-server`).
    Serve(fieldbook_server::serve::ServeOptions),
    #[command(flatten)]
    Local(local::LocalCommand),
    #[command(flatten)]
    Records(records::RecordCommand),
    #[command(flatten)]
    Attach(attach::AttachCommand),
    /// The audit bundle of a record or a case, and its verifier (docs/audit.md).
    #[command(subcommand)]
    Audit(audit::AuditCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The server logs its requests; the terminal commands print their own output and log only
    // errors unless `RUST_LOG` asks for more.
    match &cli.command {
        Command::Serve(options) => fieldbook_server::logging::init(options.log_json, "info"),
        _ => fieldbook_server::logging::init(false, "error"),
    }
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
            Command::Demo { dir, keep_serving } => demo::run(dir, cli.json, keep_serving).await,
            Command::Serve(options) => fieldbook_server::serve::run(
                options,
                fieldbook_server::serve::terminate_or_interrupt(),
            )
            .await
            .map_err(Into::into),
            Command::Local(cmd) => local::run(cmd, cli.json).await,
            Command::Records(cmd) => records::run(cmd, cli.json).await,
            Command::Attach(cmd) => attach::run(cmd, cli.json).await,
            Command::Audit(cmd) => audit::run(cmd, cli.json).await,
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
