//! Attachments from a terminal: attach a file (a photo, a signature, a voice note) to a record on
//! the local store, list a record's attachments with where their bytes are, and fetch one from
//! the council's server into a file. `sync` uploads the attachments after the records.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use fieldbook_core::attachments::client::{AttachmentClient, UploadReport};
use fieldbook_core::store::attachments::AttachmentDelivery;
use fieldbook_core::sync::AccessTokenProvider;
use fieldbook_core::Store;
use serde::Serialize;

use crate::local::{open, print, Who};

type CliResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Subcommand, Debug)]
pub enum AttachCommand {
    /// Attach a file to a visit or a case note (kept encrypted in the store; sent by `sync`).
    Attach {
        #[command(flatten)]
        who: Who,
        /// The record's id.
        id: String,
        /// The file to attach.
        #[arg(long)]
        file: PathBuf,
        /// `image/jpeg`, `image/png`, `audio/mp4`, ...
        #[arg(long)]
        media_type: String,
        #[arg(long, default_value = "")]
        caption: String,
        /// When it was taken (RFC 3339; default: now).
        #[arg(long)]
        taken_at: Option<DateTime<Utc>>,
    },
    /// A record's attachments, each with where its bytes are.
    Attachments {
        #[command(flatten)]
        who: Who,
        id: String,
    },
    /// Write an attachment's bytes to a file, fetching them from the server if they are not on
    /// this device.
    FetchAttachment {
        #[command(flatten)]
        who: Who,
        /// The record's id.
        id: String,
        /// The attachment's SHA-256, as `attachments` lists it.
        #[arg(long)]
        hash: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        server: String,
        /// Bearer token (or FIELDBOOK_TOKEN).
        #[arg(long, env = "FIELDBOOK_TOKEN")]
        token: String,
    },
}

/// One attachment as `attachments` prints it.
#[derive(Debug, Serialize)]
struct Listed {
    hash: String,
    media_type: String,
    size: u64,
    caption: String,
    taken_at: DateTime<Utc>,
    /// `on_device_only`, `received` or `not_on_device`.
    delivery: &'static str,
    received_at: Option<DateTime<Utc>>,
}

struct Token(String);
impl AccessTokenProvider for Token {
    fn access_token(&self, _refresh: bool) -> Option<String> {
        Some(self.0.clone())
    }
}

fn client(server: &str, token: String) -> Result<AttachmentClient, Box<dyn std::error::Error>> {
    Ok(AttachmentClient::new(
        server,
        Arc::new(Token(token)),
        Duration::from_secs(10),
        Duration::from_secs(120),
    )?)
}

/// Uploads every attachment waiting on this device (after a sync sent their records).
pub(crate) async fn upload_after_sync(
    store: Store,
    server: &str,
    token: String,
) -> Result<UploadReport, Box<dyn std::error::Error>> {
    let store = tokio::sync::Mutex::new(store);
    Ok(client(server, token)?.upload_pending(&store).await)
}

pub async fn run(cmd: AttachCommand, json: bool) -> CliResult {
    match cmd {
        AttachCommand::Attach { who, id, file, media_type, caption, taken_at } => {
            let bytes = std::fs::read(&file)?;
            let mut store = open(&who)?;
            let reference = store.attach(
                &id,
                &bytes,
                &media_type,
                &caption,
                taken_at.unwrap_or_else(Utc::now),
            )?;
            print(json, &reference, |r| println!("attached {} ({} bytes)", r.hash, r.size))
        }
        AttachCommand::Attachments { who, id } => {
            let mut store = open(&who)?;
            let refs = store.record(&id)?.body.attachments().to_vec();
            let mut listed = Vec::with_capacity(refs.len());
            for r in refs {
                let (delivery, received_at) = match store.attachment_delivery(&id, &r.hash)? {
                    AttachmentDelivery::OnDeviceOnly => ("on_device_only", None),
                    AttachmentDelivery::Received { at } => ("received", Some(at)),
                    AttachmentDelivery::NotOnDevice => ("not_on_device", None),
                };
                listed.push(Listed {
                    hash: r.hash,
                    media_type: r.media_type,
                    size: r.size,
                    caption: r.caption,
                    taken_at: r.taken_at,
                    delivery,
                    received_at,
                });
            }
            print(json, &listed, |listed| {
                for a in listed {
                    println!("{}  {}  {} bytes  {}", a.hash, a.media_type, a.size, a.delivery);
                }
            })
        }
        AttachCommand::FetchAttachment { who, id, hash, out, server, token } => {
            let store = tokio::sync::Mutex::new(open(&who)?);
            let bytes = client(&server, token)?.open(&store, &id, &hash).await?;
            std::fs::write(&out, &bytes)?;
            print(json, &serde_json::json!({"hash": hash, "size": bytes.len()}), |_| {
                println!("wrote {} bytes to {}", bytes.len(), out.display())
            })
        }
    }
}
