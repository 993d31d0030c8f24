//! Working on a local store from a terminal, as one worker on one device: record a visit, list,
//! show, sync with a server, print the worklist. The store's 32-byte key is kept in
//! `<data>/store.key` (created on first use, owner-only) — a desktop convenience; tablet apps keep
//! it in the Android Keystore or iOS Keychain.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use clap::{Args, Subcommand};
use fieldbook_core::records::{ChildView, RecordBody, ViewsMethod, Visit, VisitKind};
use fieldbook_core::sync::transport::HttpTransport;
use fieldbook_core::sync::{AccessTokenProvider, SyncClient};
use fieldbook_core::Store;
use serde::Serialize;

#[derive(Args, Debug)]
pub struct Who {
    /// Directory holding the encrypted store.
    #[arg(long, default_value = ".fieldbook")]
    data: PathBuf,
    #[arg(long)]
    worker: String,
    #[arg(long, default_value = "desktop")]
    device: String,
}

#[derive(Subcommand, Debug)]
pub enum LocalCommand {
    /// Record a visit on a case (offline: it syncs later).
    RecordVisit {
        #[command(flatten)]
        who: Who,
        #[arg(long)]
        case: String,
        /// child_in_need, child_protection, looked_after, private_fostering, assessment, s47, other
        #[arg(long, default_value = "child_in_need")]
        kind: String,
        /// The child was seen.
        #[arg(long)]
        seen: bool,
        #[arg(long)]
        seen_alone: bool,
        /// The child's own words.
        #[arg(long, default_value = "")]
        views: String,
        #[arg(long, default_value = "")]
        observations: String,
        /// Submit for management oversight after saving (fails with the missing items named).
        #[arg(long)]
        submit: bool,
    },
    /// List the cases on this device.
    Cases {
        #[command(flatten)]
        who: Who,
    },
    /// List a case's records.
    Records {
        #[command(flatten)]
        who: Who,
        #[arg(long)]
        case: String,
    },
    /// Show one record in full, with its conflicts and history.
    Show {
        #[command(flatten)]
        who: Who,
        id: String,
    },
    /// Sync with the server.
    Sync {
        #[command(flatten)]
        who: Who,
        #[arg(long)]
        server: String,
        /// Bearer token (or FIELDBOOK_TOKEN).
        #[arg(long, env = "FIELDBOOK_TOKEN")]
        token: String,
    },
    /// What is due and overdue across my cases.
    Worklist {
        #[command(flatten)]
        who: Who,
        /// The day to compute for (default: today).
        #[arg(long)]
        date: Option<NaiveDate>,
    },
}

pub(crate) fn open(who: &Who) -> Result<Store, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(&who.data)?;
    let key = load_or_create_key(&who.data.join("store.key"))?;
    Ok(Store::open(who.data.join(format!("{}.db", who.worker)), &key, &who.worker, &who.device)?)
}

fn load_or_create_key(path: &Path) -> Result<[u8; 32], Box<dyn std::error::Error>> {
    if let Ok(hex_key) = std::fs::read_to_string(path) {
        let bytes = hex::decode(hex_key.trim())?;
        return Ok(bytes
            .as_slice()
            .try_into()
            .map_err(|_| "store.key must hold 32 bytes in hex")?);
    }
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(&fieldbook_core::records::new_id_bytes());
    key[16..].copy_from_slice(&fieldbook_core::records::new_id_bytes());
    std::fs::write(path, hex::encode(key))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(key)
}

pub(crate) fn print<T: Serialize + std::fmt::Debug>(
    json: bool,
    value: &T,
    text: impl FnOnce(&T),
) -> Result<(), Box<dyn std::error::Error>> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        text(value);
    }
    Ok(())
}

struct Token(String);
impl AccessTokenProvider for Token {
    fn access_token(&self, _refresh: bool) -> Option<String> {
        Some(self.0.clone())
    }
}

pub async fn run(cmd: LocalCommand, json: bool) -> Result<(), Box<dyn std::error::Error>> {
    match cmd {
        LocalCommand::RecordVisit {
            who,
            case,
            kind,
            seen,
            seen_alone,
            views,
            observations,
            submit,
        } => {
            let mut store = open(&who)?;
            let mut visit = Visit::new(VisitKind::from_code(&kind)?, Utc::now());
            visit.child_seen = Some(seen);
            visit.seen_alone = seen.then_some(seen_alone);
            visit.observations = observations;
            if !views.is_empty() {
                visit.child_views.push(ChildView {
                    id: fieldbook_core::records::new_id(),
                    method: ViewsMethod::OwnWords,
                    text: views,
                    linked_ref: None,
                });
            }
            let id = store.create_record(&case, &RecordBody::Visit(visit))?;
            if submit {
                store.submit(&id)?;
            }
            print(json, &serde_json::json!({"id": id}), |_| println!("recorded visit {id}"))
        }
        LocalCommand::Cases { who } => {
            let store = open(&who)?;
            let cases = store.cases()?;
            print(json, &cases, |cases| {
                for c in cases {
                    println!("{}  {}  {}", c.case_id, c.local_child_id, c.name);
                }
            })
        }
        LocalCommand::Records { who, case } => {
            let store = open(&who)?;
            let rows = store.case_records(&case)?;
            print(json, &rows, |rows| {
                for r in rows {
                    let delivered = if r.acknowledged {
                        "received by the council"
                    } else {
                        "on this device only"
                    };
                    println!(
                        "{}  {}  {}  {}  {}",
                        r.id,
                        r.kind.label(),
                        r.occurred_on.map(|d| d.to_string()).unwrap_or_default(),
                        r.status.label(),
                        delivered
                    );
                }
            })
        }
        LocalCommand::Show { who, id } => {
            let mut store = open(&who)?;
            let record = store.record(&id)?;
            let history = store.history(&id)?;
            let delivery = store.delivery(&id)?;
            let shown =
                serde_json::json!({"record": record, "history": history, "delivery": delivery});
            print(json, &shown, |v| {
                println!("{}", serde_json::to_string_pretty(v).unwrap_or_default())
            })
        }
        LocalCommand::Sync { who, server, token } => {
            let mut store = open(&who)?;
            let transport =
                HttpTransport::new(&server, Duration::from_secs(10), Duration::from_secs(60))?;
            let client =
                SyncClient::new(transport, Arc::new(Token(token.clone())), who.device.clone());
            let report = client.sync(&mut store).await;
            // The records first, then their attachments (the server accepts an attachment only
            // for a record it holds); an attachment left over waits for the next sync.
            let uploads = match report.failure {
                None => Some(crate::attach::upload_after_sync(store, &server, token).await?),
                Some(_) => None,
            };
            let mut shown = serde_json::to_value(&report)?;
            if let (Some(u), Some(fields)) = (&uploads, shown.as_object_mut()) {
                fields.insert("attachments_uploaded".into(), u.uploaded.len().into());
                fields.insert("attachments_waiting".into(), u.failed.len().into());
            }
            print(json, &shown, |_| {
                let r = &report;
                println!(
                    "{} request(s): pushed {}, acknowledged {}, pulled {}, purged {:?}, conflicts {}{}{}",
                    r.requests,
                    r.pushed,
                    r.acknowledged,
                    r.pulled,
                    r.purged_cases,
                    r.conflicts,
                    uploads
                        .as_ref()
                        .map(|u| format!(", attachments sent {}", u.uploaded.len()))
                        .unwrap_or_default(),
                    r.failure.as_ref().map(|f| format!(", failed: {f}")).unwrap_or_default()
                )
            })?;
            match report.failure {
                None => Ok(()),
                Some(f) => Err(f.into()),
            }
        }
        LocalCommand::Worklist { who, date } => {
            let store = open(&who)?;
            // Today in Europe/London, as the rules count days, not the UTC date.
            let today = date.unwrap_or_else(|| fieldbook_core::rules::local_date(Utc::now()));
            let items = store.worklist(today)?;
            print(json, &items, |items| {
                for i in items {
                    println!(
                        "{}  {}  {}  due {}  {}",
                        i.case_id, i.child_name, i.label, i.due, i.status
                    );
                }
            })
        }
    }
}
