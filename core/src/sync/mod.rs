//! The sync client: one bounded exchange (or a few, while the server says `more`) that pushes
//! every unacknowledged change and pulls everything new, then reports what happened.
//!
//! The decisions are split from the I/O: `exchange` builds the request from the store and applies
//! the response to it; `transport` carries bytes and retries. Sync can be called from Android
//! WorkManager or iOS BGTaskScheduler: it does a bounded amount of work and returns.

pub mod transport;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::protocol::{
    decode, encode, limits, to_change_hashes, DocHeads, ErrorBody, RejectReason, SyncRequest,
    SyncResponse, PROTOCOL_VERSION,
};
use crate::store::Store;
use transport::{RetryPolicy, Transport, TransportError};

/// Supplies access tokens; the app implements it over its identity provider.
pub trait AccessTokenProvider: Send + Sync {
    /// A current token; `refresh` is true after the server refused the last one.
    fn access_token(&self, refresh: bool) -> Option<String>;
}

/// What the sync is doing, for the app to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SyncState {
    Idle,
    Syncing,
    Offline,
    Error { reason: SyncFailure },
}

/// Why a sync did not complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SyncFailure {
    #[error("offline")]
    Offline,
    #[error("no access token")]
    NoToken,
    #[error("the server refused the access token")]
    Unauthorized,
    #[error("the server refused this device: {message}")]
    Forbidden { message: String },
    #[error("the server failed (HTTP {status})")]
    Server { status: u16 },
    #[error("the server's answer was not understood: {message}")]
    Protocol { message: String },
    #[error("the device's store failed: {message}")]
    Store { message: String },
}

/// The observable status of sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatus {
    pub state: SyncState,
    pub last_success: Option<DateTime<Utc>>,
    /// Records with changes the server has not yet received.
    pub pending_records: usize,
}

/// Told of every status change.
pub trait SyncObserver: Send + Sync {
    fn on_status(&self, status: &SyncStatus);
    /// False once the observer was stopped: it is then removed from the client.
    fn still_wanted(&self) -> bool {
        true
    }
}

/// What one `sync()` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// HTTP requests made (retries included).
    pub requests: u32,
    /// Documents pushed, and of those acknowledged.
    pub pushed: usize,
    pub acknowledged: usize,
    /// Documents received (new or changed).
    pub pulled: usize,
    /// Cases purged from the device.
    pub purged_cases: Vec<String>,
    pub allocated_cases: Vec<String>,
    /// Records with conflicts to resolve after the sync.
    pub conflicts: usize,
    /// Pushes the server refused.
    pub rejected: Vec<(String, RejectReason)>,
    /// Set when the sync stopped early.
    pub failure: Option<SyncFailure>,
    /// The server has more to send: call again.
    pub more: bool,
    /// The server did not recognise this device's cursor (it was restored from a backup): the
    /// feed restarted from the beginning and every document was compared.
    pub resynced: bool,
}

/// How the client reaches the store: borrowed for the whole call, or shared with the app and
/// locked only around each store step (never across an await on the transport), so the app's
/// screens do not wait for the network.
enum StoreRef<'a> {
    Owned(&'a mut Store),
    Shared(&'a tokio::sync::Mutex<Store>),
}

impl StoreRef<'_> {
    async fn with<R>(&mut self, f: impl FnOnce(&mut Store) -> R) -> R {
        match self {
            StoreRef::Owned(store) => f(store),
            StoreRef::Shared(mutex) => f(&mut *mutex.lock().await),
        }
    }
}

/// The sync client of one store.
pub struct SyncClient<T: Transport> {
    transport: T,
    tokens: Arc<dyn AccessTokenProvider>,
    device: String,
    retry: RetryPolicy,
    /// Exchanges per `sync()` call while the server says `more`: bounds the work of one call.
    max_exchanges: u32,
    response_budget: u64,
    /// Bytes of changes pushed per request.
    push_budget: usize,
    observers: Mutex<Vec<Arc<dyn SyncObserver>>>,
    status: Mutex<SyncStatus>,
}

impl<T: Transport> std::fmt::Debug for SyncClient<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncClient").field("device", &self.device).finish_non_exhaustive()
    }
}

impl<T: Transport> SyncClient<T> {
    pub fn new(
        transport: T,
        tokens: Arc<dyn AccessTokenProvider>,
        device: impl Into<String>,
    ) -> Self {
        Self {
            transport,
            tokens,
            device: device.into(),
            retry: RetryPolicy::default(),
            max_exchanges: 8,
            response_budget: limits::DEFAULT_RESPONSE_BUDGET,
            push_budget: limits::PUSH_BUDGET,
            observers: Mutex::new(Vec::new()),
            status: Mutex::new(SyncStatus {
                state: SyncState::Idle,
                last_success: None,
                pending_records: 0,
            }),
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The most payload bytes asked for per response (the server may send less).
    /// Bytes of changes pushed per request (at least one document is always sent).
    pub fn with_push_budget(mut self, budget: usize) -> Self {
        self.push_budget = budget.clamp(1, limits::PUSH_BUDGET);
        self
    }

    pub fn with_response_budget(mut self, budget: u64) -> Self {
        self.response_budget = budget.max(1);
        self
    }

    pub fn with_max_exchanges(mut self, n: u32) -> Self {
        self.max_exchanges = n.max(1);
        self
    }

    pub fn observe(&self, observer: Arc<dyn SyncObserver>) {
        if let Ok(mut observers) = self.observers.lock() {
            observers.push(observer);
        }
    }

    pub fn status(&self) -> SyncStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or(SyncStatus {
            state: SyncState::Idle,
            last_success: None,
            pending_records: 0,
        })
    }

    /// The number of status observers registered (stopped ones included until removed).
    pub fn observer_count(&self) -> usize {
        self.observers.lock().map(|o| o.len()).unwrap_or(0)
    }

    /// Removes the observers for which `keep` is false (the app stopped them).
    pub fn retain_observers(&self, keep: impl Fn(&Arc<dyn SyncObserver>) -> bool) {
        if let Ok(mut observers) = self.observers.lock() {
            observers.retain(|o| keep(o));
        }
    }

    async fn set_status(&self, store: &mut StoreRef<'_>, state: SyncState, success: bool) {
        let (now, pending) = store.with(|s| (s.now(), s.pending_count())).await;
        let status = {
            let Ok(mut status) = self.status.lock() else { return };
            status.state = state;
            if success {
                status.last_success = Some(now);
            }
            match pending {
                Ok(n) => status.pending_records = n,
                // The last count stays shown; the failure is not hidden from the log.
                Err(e) => tracing::warn!(error = %e, "pending count failed"),
            }
            status.clone()
        };
        let observers = match self.observers.lock() {
            Ok(mut o) => {
                o.retain(|o| o.still_wanted());
                o.clone()
            }
            Err(_) => Vec::new(),
        };
        for o in observers {
            o.on_status(&status);
        }
    }

    /// Pushes and pulls until up to date (or `max_exchanges` exchanges), then reports.
    pub async fn sync(&self, store: &mut Store) -> SyncReport {
        self.run(StoreRef::Owned(store)).await
    }

    /// As `sync`, on a store the app shares: the lock is taken only for each store step
    /// (building a request, applying a response in one go) and released while the request is
    /// on the network. Edits made meanwhile stay pending: an acknowledgement names the heads
    /// that were pushed, so a document changed since is still unacknowledged afterwards.
    pub async fn sync_shared(&self, store: &tokio::sync::Mutex<Store>) -> SyncReport {
        self.run(StoreRef::Shared(store)).await
    }

    async fn run(&self, mut store: StoreRef<'_>) -> SyncReport {
        let store = &mut store;
        self.set_status(store, SyncState::Syncing, false).await;
        let mut report = SyncReport::default();
        let mut send_all = HashSet::new();
        // Documents the server refused in this call: kept on the device (nothing typed is
        // dropped) but not offered again until the next call, so a refusal cannot loop.
        let mut refused = HashSet::new();
        let mut check = false;
        for _ in 0..self.max_exchanges {
            let before = (report.pushed, report.acknowledged, report.rejected.len());
            match self.exchange_once(store, &mut report, &send_all, &refused, check).await {
                Ok((response, push_more)) => {
                    let repair_needed = !response.send_all.is_empty() || response.resync;
                    send_all = response.send_all.into_iter().collect();
                    refused.extend(response.rejected.iter().map(|r| r.id.clone()));
                    report.more = response.more || push_more;
                    report.resynced |= response.resync;
                    check = false;
                    // Pushes the server could neither take whole nor refuse (it lacked earlier
                    // changes, e.g. after a restore from backup) are repaired in the next exchange.
                    let pushed = report.pushed - before.0;
                    let settled =
                        (report.acknowledged - before.1) + (report.rejected.len() - before.2);
                    let unacked = pushed > settled && !repair_needed;
                    if !report.more && !repair_needed && !unacked {
                        break;
                    }
                    // After a resync the server may have lost anything: compare every document.
                    if unacked || response.resync {
                        check = true;
                    }
                }
                Err(failure) => {
                    report.failure = Some(failure);
                    break;
                }
            }
        }
        let (conflicts, recorded) = store
            .with(|s| {
                let conflicts = s.conflicted_count();
                // Only a completed sync moves the "last synced" time the app shows.
                let recorded = match report.failure {
                    None => s.set_last_sync_at(s.now()),
                    Some(_) => Ok(()),
                };
                (conflicts, recorded)
            })
            .await;
        let store_failure = |e: crate::Error| SyncFailure::Store { message: e.to_string() };
        match conflicts {
            Ok(n) => report.conflicts = n,
            Err(e) => {
                report.failure.get_or_insert(store_failure(e));
            }
        }
        // A sync whose completion could not be recorded is not reported as a success.
        if let Err(e) = recorded {
            report.failure.get_or_insert(store_failure(e));
        }
        match &report.failure {
            None => self.set_status(store, SyncState::Idle, true).await,
            Some(SyncFailure::Offline) => self.set_status(store, SyncState::Offline, false).await,
            Some(f) => self.set_status(store, SyncState::Error { reason: f.clone() }, false).await,
        }
        report
    }

    /// One request and its response, committed to the store.
    async fn exchange_once(
        &self,
        store: &mut StoreRef<'_>,
        report: &mut SyncReport,
        send_all: &HashSet<String>,
        refused: &HashSet<String>,
        check: bool,
    ) -> Result<(SyncResponse, bool), SyncFailure> {
        let store_err = |e: crate::Error| SyncFailure::Store { message: e.to_string() };
        // One store step builds the request; the lock is not held while it is on the network.
        let (push, push_more, check, cursor, cursor_tag) = store
            .with(|store| -> crate::Result<_> {
                let (push, push_more) =
                    store.pending_pushes(send_all, refused, self.push_budget)?;
                let check = if check {
                    store
                        .heads_for_check()?
                        .into_iter()
                        .map(|(id, heads)| DocHeads {
                            id,
                            heads: crate::protocol::to_hashes(&heads),
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                let (cursor, cursor_tag) = store.sync_cursor()?;
                Ok((push, push_more, check, cursor, cursor_tag))
            })
            .await
            .map_err(store_err)?;
        let request = SyncRequest {
            version: PROTOCOL_VERSION,
            device: self.device.clone(),
            cursor,
            cursor_tag,
            push,
            check,
            response_budget: self.response_budget,
        };
        let body = encode(&request);
        let response = self.post_with_retries(body, report).await?;
        let response: SyncResponse = decode(&response, limits::MAX_RESPONSE_BYTES)
            .map_err(|e| SyncFailure::Protocol { message: e.to_string() })?;

        // Commit acknowledgements, then what arrived, then purges, then (only then) the cursor:
        // a crash in between repeats the exchange, which is idempotent. Acknowledgements come
        // first so that a document pushed and updated by others in the same exchange ends in
        // sync: once acknowledged it is "in sync before" the import, so `receive` marks the
        // merged heads as held by the server (it holds what we pushed and what it sent us).
        // The other order left such a document pending until a later, quiet sync.
        report.pushed += request.push.len();
        let acks: Vec<_> =
            response.acks.iter().map(|a| (a.id.clone(), to_change_hashes(&a.heads))).collect();
        // One store step applies the response (the app's calls wait at most for this step).
        let (acknowledged, received) = store
            .with(|store| -> crate::Result<_> {
                let acknowledged = store.mark_acknowledged_all(&acks)?;
                let received = store.receive(&response.docs)?;
                for case in &response.revoked {
                    store.purge_case(case)?;
                }
                store.set_sync_cursor(response.next_cursor, response.next_cursor_tag)?;
                Ok((acknowledged, received))
            })
            .await
            .map_err(store_err)?;
        report.acknowledged += acknowledged;
        report.pulled += received.created.len() + received.updated.len();
        for (id, reason) in &received.rejected {
            tracing::warn!(doc = %id, %reason, "received document refused");
        }
        for rejection in &response.rejected {
            report.rejected.push((rejection.id.clone(), rejection.reason));
        }
        report.purged_cases.extend(response.revoked.iter().cloned());
        report.allocated_cases.extend(response.allocated.iter().cloned());
        Ok((response, push_more))
    }

    /// Posts with the retry policy: retries network failures and busy/failed servers with
    /// backoff; refreshes the token once on 401.
    async fn post_with_retries(
        &self,
        body: Vec<u8>,
        report: &mut SyncReport,
    ) -> Result<Vec<u8>, SyncFailure> {
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            let token = self.tokens.access_token(refreshed).ok_or(SyncFailure::NoToken)?;
            report.requests += 1;
            attempt += 1;
            let outcome = self.transport.post(body.clone(), token).await;
            let retryable = match outcome {
                Ok(r) if r.status == 200 => return Ok(r.body),
                Ok(r) if r.status == 401 && !refreshed => {
                    refreshed = true;
                    attempt -= 1;
                    continue;
                }
                Ok(r) if r.status == 401 => return Err(SyncFailure::Unauthorized),
                Ok(r) if r.status == 403 => {
                    let message = decode_error(&r.body);
                    return Err(SyncFailure::Forbidden { message });
                }
                Ok(r) if RetryPolicy::retry_status(r.status) => {
                    SyncFailure::Server { status: r.status }
                }
                Ok(r) => {
                    return Err(SyncFailure::Protocol {
                        message: format!("HTTP {}: {}", r.status, decode_error(&r.body)),
                    })
                }
                Err(TransportError::Offline(_)) => SyncFailure::Offline,
                // The request may have been applied: retrying is safe because an exchange is
                // idempotent (changes already held are no-ops; the cursor has not moved).
                Err(TransportError::Interrupted(_)) => SyncFailure::Offline,
            };
            if attempt >= self.retry.attempts {
                return Err(retryable);
            }
            tokio::time::sleep(self.retry.delay(attempt)).await;
        }
    }
}

fn decode_error(body: &[u8]) -> String {
    ciborium::from_reader::<ErrorBody, _>(body).map(|e| e.message).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use transport::HttpResponse;

    /// A server that answers every exchange with "nothing new".
    struct Quiet;

    impl Transport for Quiet {
        async fn post(
            &self,
            _body: Vec<u8>,
            _token: String,
        ) -> Result<HttpResponse, TransportError> {
            let response = SyncResponse {
                version: PROTOCOL_VERSION,
                acks: Vec::new(),
                rejected: Vec::new(),
                docs: Vec::new(),
                allocated: Vec::new(),
                revoked: Vec::new(),
                send_all: Vec::new(),
                next_cursor: 0,
                next_cursor_tag: 0,
                resync: false,
                more: false,
            };
            Ok(HttpResponse { status: 200, body: encode(&response) })
        }
    }

    struct Token;

    impl AccessTokenProvider for Token {
        fn access_token(&self, _refresh: bool) -> Option<String> {
            Some("t".into())
        }
    }

    /// A sync whose completion cannot be recorded is reported as the store's failure, not as a
    /// success with a stale "last synced" time.
    #[tokio::test]
    async fn a_failure_to_record_the_sync_time_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("s.db"), &[3u8; 32], "w1", "t").unwrap();
        let client = SyncClient::new(Quiet, Arc::new(Token), "t");
        assert_eq!(client.sync(&mut store).await.failure, None, "a quiet sync succeeds");
        store
            .execute_batch_for_tests(
                "CREATE TRIGGER refuse_last_sync BEFORE UPDATE ON settings
                 WHEN NEW.key = 'last_sync_at' BEGIN SELECT RAISE(ABORT, 'disk refused'); END;",
            )
            .unwrap();
        let report = client.sync(&mut store).await;
        match report.failure {
            Some(SyncFailure::Store { message }) => assert!(message.contains("disk refused")),
            other => panic!("expected a store failure, got {other:?}"),
        }
        assert!(matches!(client.status().state, SyncState::Error { .. }));
    }

    /// Stopped status observers are removed from the client, not kept (and asked) forever.
    #[tokio::test]
    async fn stopped_observers_are_removed() {
        struct Flag(std::sync::atomic::AtomicBool);
        impl SyncObserver for Flag {
            fn on_status(&self, _status: &SyncStatus) {}
            fn still_wanted(&self) -> bool {
                self.0.load(std::sync::atomic::Ordering::SeqCst)
            }
        }
        let client = SyncClient::new(Quiet, Arc::new(Token), "t");
        let flag = Arc::new(Flag(std::sync::atomic::AtomicBool::new(true)));
        client.observe(flag.clone());
        assert_eq!(client.observer_count(), 1);
        flag.0.store(false, std::sync::atomic::Ordering::SeqCst);
        client.retain_observers(|o| o.still_wanted());
        assert_eq!(client.observer_count(), 0);
    }
}
