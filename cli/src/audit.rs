//! `fieldbook audit export` and `fieldbook audit verify` (issue #16): the bundle of a record or
//! a case as the server's storage holds it, and the check of a bundle that anyone can run.
//! The format and the checks: docs/audit.md.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use fieldbook_core::audit::{self, Bundle, Scope, MAX_BUNDLE_BYTES};
use fieldbook_core::protocol::PublicKey;
use fieldbook_core::Store;
use fieldbook_server::serve::{open_storage, Backend};
use fieldbook_server::storage::key::{default_signing_key_file, load_or_create_signing_key};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Write the audit bundle of a record or a whole case, read from the server's storage.
    Export(ExportArgs),
    /// Check a bundle: every hash, signature, key registration, receipt, the causal chain and
    /// the timeline. Prints what passed and exactly what failed; exits non-zero on any failure.
    Verify {
        bundle: PathBuf,
        /// The server's public key as the council publishes it (64 hex characters); without it
        /// the bundle's own is checked for consistency only.
        #[arg(long)]
        server_key: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// One record (document id).
    #[arg(long, conflicts_with = "case", required_unless_present = "case")]
    record: Option<String>,
    /// Every record of a case.
    #[arg(long)]
    case: Option<String>,
    /// The server's SQLite database (the embedded default).
    #[arg(long, env = "FIELDBOOK_SQLITE", default_value = "fieldbook-server.db")]
    sqlite: PathBuf,
    /// Its key file (default `<sqlite>.key`).
    #[arg(long, env = "FIELDBOOK_SQLITE_KEY_FILE")]
    sqlite_key_file: Option<PathBuf>,
    /// PostgreSQL URL; when given, read instead of SQLite.
    #[arg(long, env = "FIELDBOOK_POSTGRES", hide_env_values = true)]
    postgres: Option<String>,
    /// The server's signing key file, for its public key (default with SQLite:
    /// `<sqlite>.signing-key`; required with PostgreSQL). Never created here.
    #[arg(long, env = "FIELDBOOK_SIGNING_KEY_FILE")]
    signing_key_file: Option<PathBuf>,
    /// A device's store (`--data` directory of the local commands) whose receipts of these
    /// records go into the bundle: the server keeps none (docs/decisions.md).
    #[arg(long)]
    store: Option<PathBuf>,
    /// The worker the store belongs to.
    #[arg(long, requires = "store")]
    store_worker: Option<String>,
    #[arg(long, requires = "store", default_value = "desktop")]
    store_device: String,
    /// Where to write the bundle (JSON).
    #[arg(long)]
    out: PathBuf,
}

pub async fn run(cmd: AuditCommand, json: bool) -> Result<()> {
    match cmd {
        AuditCommand::Export(args) => export(args, json).await,
        AuditCommand::Verify { bundle, server_key } => verify(&bundle, server_key, json),
    }
}

async fn export(args: ExportArgs, json: bool) -> Result<()> {
    let scope = match (args.record, args.case) {
        (Some(record), _) => Scope::Record(record),
        (None, Some(case)) => Scope::Case(case),
        (None, None) => return Err("give --record ID or --case ID".into()),
    };
    let (backend, signing_key) = match &args.postgres {
        Some(url) => (
            Backend::Postgres(url.clone()),
            args.signing_key_file.clone().ok_or("PostgreSQL needs --signing-key-file")?,
        ),
        None => {
            // Opening would create an empty database: an export reads an existing one only.
            if !args.sqlite.exists() {
                return Err(format!("no database at {}", args.sqlite.display()).into());
            }
            let key = args
                .signing_key_file
                .clone()
                .unwrap_or_else(|| default_signing_key_file(&args.sqlite));
            (Backend::sqlite_with_key_file(&args.sqlite, args.sqlite_key_file.clone()), key)
        }
    };
    if !signing_key.exists() {
        return Err(format!("no signing key file at {}", signing_key.display()).into());
    }
    let server_key = load_or_create_signing_key(&signing_key)?.public();
    let storage = open_storage(&backend).await?;
    let receipts = match &args.store {
        Some(dir) => device_receipts(dir, args.store_worker.as_deref(), &args.store_device)?,
        None => Vec::new(),
    };
    let bundle =
        fieldbook_server::audit::export(storage.as_ref(), scope, server_key, &receipts).await?;
    std::fs::write(&args.out, bundle.to_json())?;
    let changes: usize = bundle.records.iter().map(|r| r.changes.len()).sum();
    let held: usize = bundle.records.iter().map(|r| r.receipts.len()).sum();
    if json {
        let summary = serde_json::json!({
            "out": args.out, "records": bundle.records.len(), "changes": changes,
            "key_events": bundle.key_events.len(), "receipts": held,
        });
        println!("{summary}");
    } else {
        println!(
            "wrote {}: {} records, {changes} changes, {} key events, {held} receipts",
            args.out.display(),
            bundle.records.len(),
            bundle.key_events.len()
        );
    }
    Ok(())
}

/// Every receipt a device's store holds (the export keeps those of the bundle's records).
fn device_receipts(
    dir: &Path,
    worker: Option<&str>,
    device: &str,
) -> Result<Vec<fieldbook_core::protocol::Receipt>> {
    let worker = worker.ok_or("--store needs --store-worker")?;
    let key = std::fs::read_to_string(dir.join("store.key"))?;
    let key = hex::decode(key.trim())?;
    let store = Store::open_with_key_bytes(dir.join(format!("{worker}.db")), &key, worker, device)?;
    let mut out = Vec::new();
    for case in store.cases()? {
        for row in store.case_records(&case.case_id)? {
            if let Some(r) = store.receipt(&row.id)? {
                out.push(r);
            }
        }
    }
    Ok(out)
}

fn verify(path: &Path, server_key: Option<String>, json: bool) -> Result<()> {
    let size = std::fs::metadata(path)?.len();
    if size > MAX_BUNDLE_BYTES as u64 {
        return Err(
            format!("{}: {size} bytes, more than an audit bundle may be", path.display()).into()
        );
    }
    let bundle = Bundle::from_json(&std::fs::read(path)?)?;
    let expected = match server_key {
        Some(hex) => {
            Some(PublicKey(audit::decode_32(&hex).ok_or("--server-key must be 64 hex characters")?))
        }
        None => None,
    };
    let report = audit::verify(&bundle, expected.as_ref());
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for line in &report.passed {
            println!("ok    {line}");
        }
        for f in &report.failures {
            println!("FAIL  {f}");
        }
    }
    if report.ok() {
        Ok(())
    } else {
        Err(format!("{} checks failed", report.failures.len()).into())
    }
}
