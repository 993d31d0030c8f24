//! The sync server as a child process the tests can SIGKILL:
//! `fieldbook-test-server <sqlite-file|postgres-url> <auth.json> <listen-addr>`.
//! Prints `listening <addr>` once the socket is bound.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;

use fieldbook_server::auth::AuthConfig;
use fieldbook_server::serve::{app_state, open_storage, serve, Backend};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    fieldbook_tests::log_capture::capture_logs_if_asked();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data, auth, listen] = args.as_slice() else {
        eprintln!("usage: fieldbook-test-server <sqlite-file|postgres-url> <auth.json> <addr>");
        return std::process::ExitCode::from(2);
    };
    match run(data, auth, listen).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fieldbook-test-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(data: &str, auth: &str, listen: &str) -> Result<(), Box<dyn std::error::Error>> {
    let auth_path = auth;
    let auth: AuthConfig = serde_json::from_slice(&std::fs::read(auth)?)?;
    let backend = if data.starts_with("postgres://") {
        Backend::Postgres(data.to_string())
    } else {
        Backend::sqlite(data)
    };
    let mut state = app_state(open_storage(&backend).await?, &auth)?;
    // One signing key per test environment (beside its auth file), kept across restarts.
    let key = std::path::PathBuf::from(format!("{auth_path}.signing-key"));
    state.hub = state
        .hub
        .with_signing_key(fieldbook_server::storage::key::load_or_create_signing_key(&key)?);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening {}", listener.local_addr()?);
    std::io::stdout().flush()?;
    serve(listener, state, std::future::pending()).await?;
    Ok(())
}
