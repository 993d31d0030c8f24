//! A tablet app that is about to be killed: records and edits visits on an encrypted store as
//! fast as it can, syncing every few writes, and prints one line per write *after* the store
//! returned Ok (so a printed line is an acknowledged write):
//!
//!   `created <id> <n>`  a visit whose observations are `ack-<n>`
//!   `edited <id> <n>`   ` edit-<n>` appended to that visit's observations
//!   `synced <acknowledged>`
//!
//! Usage: `fieldbook-crash-writer <store.db> <case-id> <start-n> [<server-url> <token>]`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use fieldbook_core::records::{RecordBody, Visit, VisitKind};
use fieldbook_core::sync::transport::{HttpTransport, RetryPolicy};
use fieldbook_core::sync::SyncClient;
use fieldbook_tests::sync_env::FixedToken;
use fieldbook_tests::{open_at, prose};

fn main() -> std::process::ExitCode {
    fieldbook_tests::log_capture::capture_logs_if_asked();
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fieldbook-crash-writer: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (path, case, start) = match args.as_slice() {
        [p, c, s, ..] => (p.clone(), c.clone(), s.parse::<usize>()?),
        _ => return Err("usage: <store.db> <case-id> <start-n> [<server-url> <token>]".into()),
    };
    let mut store = open_at(path.as_ref(), "amara", "tablet-crash");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let client = match (args.get(3), args.get(4)) {
        (Some(url), Some(token)) => Some(
            SyncClient::new(
                HttpTransport::new(url, Duration::from_secs(5), Duration::from_secs(30))?,
                Arc::new(FixedToken(token.clone())),
                "tablet-crash",
            )
            .with_retry(RetryPolicy {
                attempts: 1,
                base: Duration::from_millis(1),
                max: Duration::from_millis(1),
            }),
        ),
        _ => None,
    };
    let mut ids: Vec<String> = store.case_records(&case)?.into_iter().map(|r| r.id).collect();
    let mut out = std::io::stdout().lock();
    for n in start.. {
        if n % 3 == 0 || ids.is_empty() {
            let mut v = Visit::new(VisitKind::ChildProtection, chrono::Utc::now());
            v.observations = format!("ack-{n}");
            v.analysis = prose(n, 1500);
            let id = store.create_record(&case, &RecordBody::Visit(v))?;
            writeln!(out, "created {id} {n}")?;
            ids.push(id);
        } else {
            let id = ids[n % ids.len()].clone();
            let mut record = store.record(&id)?;
            if let RecordBody::Visit(v) = &mut record.body {
                v.observations.push_str(&format!(" edit-{n}"));
                v.risks = prose(n, 300);
            }
            store.update_record(&id, &record.body)?;
            writeln!(out, "edited {id} {n}")?;
        }
        out.flush()?;
        if let (Some(client), 0) = (&client, n % 7) {
            let report = runtime.block_on(client.sync(&mut store));
            writeln!(out, "synced {}", report.acknowledged)?;
            out.flush()?;
        }
    }
    Ok(())
}
