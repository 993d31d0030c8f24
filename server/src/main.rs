//! `fieldbook-server`: the sync server for a council. Embedded SQLite by default; PostgreSQL with
//! `--postgres`. Logs are structured (JSON with `--log-json`) and never contain record content
//! or tokens. SIGTERM or SIGINT drains the requests in flight, then exits. The options, logging
//! and shutdown are the library's (`fieldbook_server::serve::options`), shared with
//! `fieldbook serve`.
//!
//! `fieldbook-server rebuild-projections [--sqlite F | --postgres URL]` derives every oversight
//! projection again from the stored documents (after an upgrade that changes how they are
//! derived, or to repair one that was not refreshed), then exits.
//!
//! `fieldbook-server revoke-device --key HEX --by OPERATOR [--sqlite F | --postgres URL]` revokes
//! a lost or stolen tablet's signing key (issue #16): later pushes signed by it are refused,
//! what it signed before stays valid; the revocation is a key event signed with the server's
//! key (`--signing-key-file`, as when serving).

use std::path::PathBuf;

use clap::Parser;
use fieldbook_server::serve::{open_storage, run, terminate_or_interrupt, Backend, ServeOptions};

#[derive(Parser, Debug)]
#[command(name = "fieldbook-server", version, about = "Fieldbook sync server")]
struct Args {
    #[command(flatten)]
    serve: ServeOptions,
}

/// The storage options of `rebuild-projections`: the same flags and variables as serving.
#[derive(Parser, Debug)]
#[command(name = "fieldbook-server rebuild-projections")]
struct RebuildArgs {
    #[arg(long, env = "FIELDBOOK_SQLITE", default_value = "fieldbook-server.db")]
    sqlite: PathBuf,
    #[arg(long, env = "FIELDBOOK_SQLITE_KEY_FILE")]
    sqlite_key_file: Option<PathBuf>,
    #[arg(long, env = "FIELDBOOK_POSTGRES", hide_env_values = true)]
    postgres: Option<String>,
    #[arg(long, env = "FIELDBOOK_LOG_JSON")]
    log_json: bool,
}

/// The options of `revoke-device`: the storage and signing key flags of serving, the key, who.
#[derive(Parser, Debug)]
#[command(name = "fieldbook-server revoke-device")]
struct RevokeArgs {
    /// The device's public key, 64 hexadecimal characters (as the registry and audit bundles
    /// name it).
    #[arg(long)]
    key: String,
    /// The operator revoking it (recorded in the signed revocation).
    #[arg(long)]
    by: String,
    #[arg(long, env = "FIELDBOOK_SQLITE", default_value = "fieldbook-server.db")]
    sqlite: PathBuf,
    #[arg(long, env = "FIELDBOOK_SQLITE_KEY_FILE")]
    sqlite_key_file: Option<PathBuf>,
    #[arg(long, env = "FIELDBOOK_POSTGRES", hide_env_values = true)]
    postgres: Option<String>,
    #[arg(long, env = "FIELDBOOK_SIGNING_KEY_FILE")]
    signing_key_file: Option<PathBuf>,
    #[arg(long, env = "FIELDBOOK_LOG_JSON")]
    log_json: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if std::env::args().nth(1).as_deref() == Some("revoke-device") {
        let args = RevokeArgs::parse_from(std::env::args().skip(1));
        fieldbook_server::logging::init(args.log_json, "info");
        return revoke(args).await;
    }
    if std::env::args().nth(1).as_deref() == Some("rebuild-projections") {
        let args = RebuildArgs::parse_from(std::env::args().skip(1));
        fieldbook_server::logging::init(args.log_json, "info");
        return rebuild(args).await;
    }
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

async fn rebuild(args: RebuildArgs) -> std::process::ExitCode {
    let backend = match args.postgres {
        Some(url) => Backend::Postgres(url),
        None => Backend::sqlite_with_key_file(args.sqlite, args.sqlite_key_file),
    };
    let result = match open_storage(&backend).await {
        Ok(storage) => {
            let hub = fieldbook_server::hub::Hub::new(storage);
            fieldbook_server::oversight::projection::rebuild(&hub).await.map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    match result {
        Ok((docs, cases)) => {
            tracing::info!(docs, cases, "oversight projections rebuilt");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "rebuild-projections failed");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn revoke(args: RevokeArgs) -> std::process::ExitCode {
    match revoke_device(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "revoke-device failed");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn revoke_device(args: RevokeArgs) -> Result<(), String> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(args.key.trim(), &mut key)
        .map_err(|_| "--key: expected 64 hexadecimal characters".to_string())?;
    let signing_key_file = match (&args.signing_key_file, &args.postgres) {
        (Some(path), _) => path.clone(),
        (None, None) => fieldbook_server::storage::key::default_signing_key_file(&args.sqlite),
        (None, Some(_)) => return Err("PostgreSQL needs --signing-key-file".into()),
    };
    let backend = match args.postgres {
        Some(url) => Backend::Postgres(url),
        None => Backend::sqlite_with_key_file(args.sqlite, args.sqlite_key_file),
    };
    let storage = open_storage(&backend).await.map_err(|e| e.to_string())?;
    let signing = fieldbook_server::storage::key::load_or_create_signing_key(&signing_key_file)
        .map_err(|e| e.to_string())?;
    let hub = fieldbook_server::hub::Hub::new(storage).with_signing_key(signing);
    let key = fieldbook_core::protocol::PublicKey(key);
    let reg = hub.revoke_device_key(key, &args.by).await.map_err(|e| e.to_string())?;
    tracing::info!(worker = %reg.worker, device = %reg.device, "device key revoked");
    Ok(())
}
