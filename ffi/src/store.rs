//! The store object the app holds: one per signed-in worker on the device.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use fieldbook_core::sync::transport::HttpTransport;
use fieldbook_core::sync::{AccessTokenProvider, SyncClient};
use fieldbook_core::Store;

use crate::errors::{OpenError, RecordError, SyncError};
use crate::guard::{guarded, message};
use crate::observe::{self, ObserverHandle, RecordChange, RecordObserver, RecordObservers};
use crate::observe::{StatusAdapter, SyncStatusObserver};
use crate::types::{SyncReport, SyncStatus};

/// The app's access token, fresh from its identity provider (`refresh` after a 401).
#[uniffi::export(with_foreign)]
pub trait TokenProvider: Send + Sync {
    fn access_token(&self, refresh: bool) -> Option<String>;
}

struct TokenAdapter(Arc<dyn TokenProvider>);

impl AccessTokenProvider for TokenAdapter {
    fn access_token(&self, refresh: bool) -> Option<String> {
        self.0.access_token(refresh)
    }
}

pub(crate) struct Inner {
    // A tokio mutex: `sync()` locks it only for each store step, never across the network.
    pub(crate) store: tokio::sync::Mutex<Store>,
    client: Option<SyncClient<HttpTransport>>,
    /// Photos, signatures, audio: uploaded after each sync, fetched when opened (`attachments`).
    pub(crate) attachments: Option<fieldbook_core::attachments::client::AttachmentClient>,
    pub(crate) records: RecordObservers,
}

/// An encrypted Fieldbook store on the device, and its sync client.
#[derive(uniffi::Object)]
pub struct FieldbookStore {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for FieldbookStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldbookStore").finish_non_exhaustive()
    }
}

impl FieldbookStore {
    /// Runs `f` on the store under the panic guard.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, RecordError>,
    ) -> Result<T, RecordError> {
        guarded(|| f(&mut self.inner.store.blocking_lock()))
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl FieldbookStore {
    /// Opens (or creates) the store at `path` with the app's 32-byte key (from the Android
    /// Keystore or the iOS Keychain). A wrong key is `OpenError::WrongKey`, never a new store.
    /// `server_url` and `tokens` enable `sync()`.
    #[uniffi::constructor]
    pub fn open(
        path: String,
        key: Vec<u8>,
        worker_id: String,
        device_id: String,
        server_url: Option<String>,
        tokens: Option<Arc<dyn TokenProvider>>,
    ) -> Result<Arc<Self>, OpenError> {
        guarded(|| {
            let store = Store::open_with_key_bytes(&path, &key, &worker_id, &device_id)?;
            let (client, attachments) = match (server_url, tokens) {
                (Some(url), Some(tokens)) => {
                    let transport =
                        HttpTransport::new(&url, Duration::from_secs(15), Duration::from_secs(60))
                            .map_err(|e| OpenError::SyncSetup { detail: e.to_string() })?;
                    let tokens: Arc<dyn AccessTokenProvider> = Arc::new(TokenAdapter(tokens));
                    let attachments = crate::attachments::client(&url, tokens.clone())
                        .map_err(|e| OpenError::SyncSetup { detail: e.to_string() })?;
                    (Some(SyncClient::new(transport, tokens, device_id)), Some(attachments))
                }
                _ => (None, None),
            };
            let inner = Inner {
                store: tokio::sync::Mutex::new(store),
                client,
                attachments,
                records: RecordObservers::default(),
            };
            Ok(Arc::new(Self { inner: Arc::new(inner) }))
        })
    }

    pub fn sync_status(&self) -> Result<SyncStatus, SyncError> {
        let client = self.inner.client.as_ref().ok_or(SyncError::NotConfigured)?;
        guarded(|| Ok((&client.status()).into()))
    }

    /// Pushes what this device recorded and pulls what others changed: a bounded amount of work
    /// in one or a few HTTP exchanges. Safe to call from a background job at any time.
    pub async fn sync(&self) -> Result<SyncReport, SyncError> {
        let inner = self.inner.clone();
        // On its own task: a panic inside becomes a JoinError, and so an error for the app.
        let task = tokio::spawn(async move {
            let client = inner.client.as_ref().ok_or(SyncError::NotConfigured)?;
            let before = record_index(&inner.store).await?;
            let pending = unacknowledged_ids(&inner.store).await?;
            // The store is locked only for each store step, never while a request is on the
            // network: the app's calls go on while a sync struggles on a weak signal.
            let report = client.sync_shared(&inner.store).await;
            // Right after the records: the attachments of records the server now holds.
            let uploads = crate::attachments::upload_after_sync(&inner).await;
            let still = unacknowledged_ids(&inner.store).await?;
            let after = record_index(&inner.store).await?;
            let (changed, mut delivered) = compare(&before, &after, &pending, &still);
            // A record whose photo, signature or voice note reached the council has a new
            // delivery state too (`attachment_delivery`).
            if let Some(uploads) = uploads {
                for (record, _) in &uploads.uploaded {
                    if let Some((_, change)) = after.get(record) {
                        if !delivered.iter().any(|d| &d.id == record) {
                            delivered.push(change.clone());
                        }
                    }
                }
                delivered.sort_by(|a, b| a.id.cmp(&b.id));
            }
            inner.records.delivered(delivered);
            inner.records.changed(changed);
            match report.failure.clone() {
                Some(failure) => Err(failure.into()),
                None => Ok(SyncReport::from(&report)),
            }
        });
        match task.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => Err(SyncError::Internal { detail: message(e.into_panic()) }),
            Err(e) => Err(SyncError::Internal { detail: e.to_string() }),
        }
    }

    /// Calls `observer` on every sync status change until the handle is closed or dropped.
    pub fn observe_sync(
        &self,
        observer: Arc<dyn SyncStatusObserver>,
    ) -> Result<Arc<ObserverHandle>, SyncError> {
        let client = self.inner.client.as_ref().ok_or(SyncError::NotConfigured)?;
        let (handle, active) = observe::handle();
        client.observe(Arc::new(StatusAdapter { target: observer, active }));
        // Stopped observers are removed from the client when the handle stops, not kept forever.
        let weak = Arc::downgrade(&self.inner);
        handle.on_stop(Box::new(move || {
            if let Some(client) = weak.upgrade().as_ref().and_then(|i| i.client.as_ref()) {
                client.retain_observers(StatusAdapter::is_active);
            }
        }));
        Ok(handle)
    }

    /// Calls `observer` when records change or are delivered, until the handle is dropped.
    pub fn observe_records(&self, observer: Arc<dyn RecordObserver>) -> Arc<ObserverHandle> {
        self.inner.records.add(observer)
    }
}

/// The ids of the records the server has not acknowledged; a store failure is the sync's error
/// (an empty set here would report every pending record as delivered).
async fn unacknowledged_ids(
    store: &tokio::sync::Mutex<Store>,
) -> Result<HashSet<String>, SyncError> {
    let rows = store.lock().await.unacknowledged();
    match rows {
        Ok(rows) => Ok(rows.into_iter().map(|r| r.id).collect()),
        Err(e) => Err(SyncError::Store { detail: e.to_string() }),
    }
}

/// Every record's heads and what an observer is told of it.
type RecordIndex = HashMap<String, (Vec<String>, RecordChange)>;

/// Every record on the device with its heads, kind and case: compared before and after a sync to
/// name each record it changed, received or removed. One indexed row read per record (cheap
/// beside a network round trip; a device holds hundreds to a few thousand).
async fn record_index(store: &tokio::sync::Mutex<Store>) -> Result<RecordIndex, SyncError> {
    let store = store.lock().await;
    let failed = |e: fieldbook_core::Error| SyncError::Store { detail: e.to_string() };
    let mut out = HashMap::new();
    for (id, heads) in store.all_heads().map_err(failed)? {
        match store.record_row(&id) {
            Ok(row) => {
                let change = RecordChange {
                    id: row.id,
                    kind: row.kind.into(),
                    case_id: row.case_id,
                    removed: false,
                };
                out.insert(id, (heads.iter().map(ToString::to_string).collect(), change));
            }
            // A document with no projection row is not a record an app lists.
            Err(fieldbook_core::Error::NotFound { .. }) => {}
            Err(e) => return Err(failed(e)),
        }
    }
    Ok(out)
}

/// (records changed or removed, records newly delivered) between two indexes.
fn compare(
    before: &RecordIndex,
    after: &RecordIndex,
    pending: &HashSet<String>,
    still: &HashSet<String>,
) -> (Vec<RecordChange>, Vec<RecordChange>) {
    let mut changed: Vec<RecordChange> = after
        .iter()
        .filter(|(id, (heads, _))| before.get(*id).is_none_or(|(old, _)| old != heads))
        .map(|(_, (_, c))| c.clone())
        .collect();
    changed.extend(
        before
            .iter()
            .filter(|(id, _)| !after.contains_key(*id))
            .map(|(_, (_, c))| RecordChange { removed: true, ..c.clone() }),
    );
    changed.sort_by(|a, b| a.id.cmp(&b.id));
    let mut delivered: Vec<RecordChange> =
        pending.difference(still).filter_map(|id| after.get(id).map(|(_, c)| c.clone())).collect();
    delivered.sort_by(|a, b| a.id.cmp(&b.id));
    (changed, delivered)
}

impl FieldbookStore {
    /// Status observers registered with the sync client (tests: stopped ones are removed).
    pub fn sync_observer_count(&self) -> usize {
        self.inner.client.as_ref().map_or(0, |c| c.observer_count())
    }

    /// Record observers registered (tests: stopped ones are removed).
    pub fn record_observer_count(&self) -> usize {
        self.inner.records.count()
    }
}

/// Test builds only (the binding suites): proves a panic holding the store leaves it usable.
#[cfg(feature = "test-hooks")]
#[uniffi::export]
impl FieldbookStore {
    /// Panics while holding the store, to prove the store survives it.
    pub fn debug_panic_in_store(&self) -> Result<(), RecordError> {
        self.with(|_store| -> Result<(), RecordError> {
            panic!("deliberate panic holding the store")
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::types::RecordKind;

    fn entry(id: &str, heads: &str, kind: RecordKind) -> (String, (Vec<String>, RecordChange)) {
        let change = RecordChange { id: id.into(), kind, case_id: "c1".into(), removed: false };
        (id.into(), (vec![heads.into()], change))
    }

    /// A sync names each record it received, changed or removed, and each newly delivered one.
    #[test]
    fn a_sync_names_every_record_it_changed_with_its_kind() {
        let before: RecordIndex = [
            entry("same", "h1", RecordKind::Visit),
            entry("edited", "h1", RecordKind::Assessment),
            entry("purged", "h1", RecordKind::CaseNote),
        ]
        .into();
        let after: RecordIndex = [
            entry("same", "h1", RecordKind::Visit),
            entry("edited", "h2", RecordKind::Assessment),
            entry("new", "h1", RecordKind::CaseSummary),
        ]
        .into();
        let pending: HashSet<String> = ["same".to_string(), "edited".to_string()].into();
        let still: HashSet<String> = ["edited".to_string()].into();
        let (changed, delivered) = compare(&before, &after, &pending, &still);
        let got: Vec<(&str, RecordKind, bool)> =
            changed.iter().map(|c| (c.id.as_str(), c.kind, c.removed)).collect();
        assert_eq!(
            got,
            [
                ("edited", RecordKind::Assessment, false),
                ("new", RecordKind::CaseSummary, false),
                ("purged", RecordKind::CaseNote, true),
            ]
        );
        let delivered: Vec<(&str, RecordKind)> =
            delivered.iter().map(|c| (c.id.as_str(), c.kind)).collect();
        assert_eq!(delivered, [("same", RecordKind::Visit)]);
    }
}
