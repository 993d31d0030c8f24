//! `fieldbook-server`: the sync server for a council. Embedded SQLite by default; PostgreSQL with
//! `--postgres`. Logs are structured (JSON with `--log-json`) and never contain record content
//! or tokens. SIGTERM or SIGINT drains the requests in flight, then exits. The options, logging
//! and shutdown are the library's (`fieldbook_server::serve::options`), shared with
//! `fieldbook serve`.

use clap::Parser;
use fieldbook_server::serve::{run, terminate_or_interrupt, ServeOptions};

#[derive(Parser, Debug)]
#[command(name = "fieldbook-server", version, about = "Fieldbook sync server")]
struct Args {
    #[command(flatten)]
    serve: ServeOptions,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    fieldbook_server::logging::init(args.serve.log_json, "info");
    match run(args.serve, terminate_or_interrupt()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "fieldbook-server failed");
            std::process::ExitCode::FAILURE
        }
    }
}
