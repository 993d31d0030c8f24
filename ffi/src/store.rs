//! The store object the app holds: one per signed-in worker on the device.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use fieldbook_core::records::{RecordBody, Visit};
use fieldbook_core::sync::transport::HttpTransport;
use fieldbook_core::sync::{AccessTokenProvider, SyncClient};
use fieldbook_core::Store;

use crate::errors::{OpenError, RecordError, SyncError};
use crate::guard::{guarded, message};
use crate::observe::SyncStatusObserver;
use crate::observe::{self, ObserverHandle, RecordObserver, RecordObservers, StatusAdapter};
use crate::types::{
    date, instant, visit_of, CaseInfo, Delivery, HistoryItem, RecordSummary, SyncReport,
    SyncStatus, VisitFields, WorklistEntry,
};

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
    records: RecordObservers,
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
    fn with<T>(
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

    /// Records a new visit on a case. Committed when this returns.
    pub fn create_visit(&self, case_id: String, visit: VisitFields) -> Result<String, RecordError> {
        let id = self.with(|store| {
            let mut v =
                Visit::new(visit.kind.into(), instant(visit.started_at_ms, "started_at_ms")?);
            visit.apply_to(&mut v)?;
            Ok(store.create_record(&case_id, &RecordBody::Visit(v))?)
        })?;
        self.inner.records.changed(vec![id.clone()]);
        Ok(id)
    }

    /// Saves the visit screen's fields over the stored visit (text as splices, so a colleague's
    /// concurrent words are kept). Returns the fields that changed.
    pub fn update_visit(&self, id: String, visit: VisitFields) -> Result<Vec<String>, RecordError> {
        let changed = self.with(|store| {
            let mut v = visit_of(store.record(&id)?.body)?;
            visit.apply_to(&mut v)?;
            Ok(store.update_record(&id, &RecordBody::Visit(v))?)
        })?;
        if !changed.is_empty() {
            self.inner.records.changed(vec![id]);
        }
        Ok(changed)
    }

    pub fn visit(&self, id: String) -> Result<VisitFields, RecordError> {
        self.with(|store| Ok(VisitFields::from_visit(&visit_of(store.record(&id)?.body)?)))
    }

    /// Any record in full, with its conflicts, as JSON (for screens beyond the visit's fields).
    pub fn record_json(&self, id: String) -> Result<String, RecordError> {
        self.with(|store| {
            let record = store.record(&id)?;
            serde_json::to_string(&record)
                .map_err(|e| RecordError::Storage { detail: e.to_string() })
        })
    }

    pub fn cases(&self) -> Result<Vec<CaseInfo>, RecordError> {
        self.with(|store| {
            Ok(store
                .cases()?
                .into_iter()
                .map(|c| CaseInfo {
                    case_id: c.case_id,
                    local_child_id: c.local_child_id,
                    name: c.name,
                })
                .collect())
        })
    }

    pub fn case_records(&self, case_id: String) -> Result<Vec<RecordSummary>, RecordError> {
        self.with(|store| Ok(store.case_records(&case_id)?.into_iter().map(Into::into).collect()))
    }

    /// Submits for management oversight; `RecordError::Incomplete` names each missing item.
    pub fn submit(&self, id: String) -> Result<(), RecordError> {
        self.with(|store| Ok(store.submit(&id)?))?;
        self.inner.records.changed(vec![id]);
        Ok(())
    }

    /// A manager authorises a submitted record with their rationale.
    pub fn authorise(&self, id: String, rationale: String) -> Result<(), RecordError> {
        self.with(|store| Ok(store.authorise(&id, &rationale)?))?;
        self.inner.records.changed(vec![id]);
        Ok(())
    }

    /// What is due and overdue across my cases on `today` (`YYYY-MM-DD`).
    pub fn worklist(&self, today: String) -> Result<Vec<WorklistEntry>, RecordError> {
        self.with(|store| {
            let today = date(&today, "today")?;
            Ok(store.worklist(today)?.into_iter().map(Into::into).collect())
        })
    }

    pub fn history(&self, id: String) -> Result<Vec<HistoryItem>, RecordError> {
        self.with(|store| Ok(store.history(&id)?.into_iter().map(Into::into).collect()))
    }

    pub fn delivery(&self, id: String) -> Result<Delivery, RecordError> {
        self.with(|store| Ok(store.delivery(&id)?.into()))
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
            let pending = unacknowledged_ids(&inner.store).await?;
            // The store is locked only for each store step, never while a request is on the
            // network: the app's calls go on while a sync struggles on a weak signal.
            let report = client.sync_shared(&inner.store).await;
            // Right after the records: the attachments of records the server now holds.
            crate::attachments::upload_after_sync(&inner).await;
            let still = unacknowledged_ids(&inner.store).await?;
            inner.records.delivered(pending.difference(&still).cloned().collect());
            if report.pulled > 0 || !report.purged_cases.is_empty() {
                inner.records.changed(Vec::new());
            }
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
