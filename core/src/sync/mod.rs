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

    fn set_status(&self, store: &Store, state: SyncState, success: bool) {
        let status = {
            let Ok(mut status) = self.status.lock() else { return };
            status.state = state;
            if success {
                status.last_success = Some(store.now());
            }
            status.pending_records = store.pending_count().unwrap_or(status.pending_records);
            status.clone()
        };
        let observers = self.observers.lock().map(|o| o.clone()).unwrap_or_default();
        for o in observers {
            o.on_status(&status);
        }
    }

    /// Pushes and pulls until up to date (or `max_exchanges` exchanges), then reports.
    pub async fn sync(&self, store: &mut Store) -> SyncReport {
        self.set_status(store, SyncState::Syncing, false);
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
        report.conflicts = store.conflicted_count().unwrap_or(0);
        match &report.failure {
            None => {
                let _ = store.set_last_sync_at(store.now());
                self.set_status(store, SyncState::Idle, true);
            }
            Some(SyncFailure::Offline) => self.set_status(store, SyncState::Offline, false),
            Some(f) => self.set_status(store, SyncState::Error { reason: f.clone() }, false),
        }
        report
    }

    /// One request and its response, committed to the store.
    async fn exchange_once(
        &self,
        store: &mut Store,
        report: &mut SyncReport,
        send_all: &HashSet<String>,
        refused: &HashSet<String>,
        check: bool,
    ) -> Result<(SyncResponse, bool), SyncFailure> {
        let store_err = |e: crate::Error| SyncFailure::Store { message: e.to_string() };
        let (push, push_more) =
            store.pending_pushes(send_all, refused, self.push_budget).map_err(store_err)?;
        let check = if check {
            store
                .heads_for_check()
                .map_err(store_err)?
                .into_iter()
                .map(|(id, heads)| DocHeads { id, heads: crate::protocol::to_hashes(&heads) })
                .collect()
        } else {
            Vec::new()
        };
        let (cursor, cursor_tag) = store.sync_cursor().map_err(store_err)?;
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
        report.acknowledged += store.mark_acknowledged_all(&acks).map_err(store_err)?;
        let received = store.receive(&response.docs).map_err(store_err)?;
        report.pulled += received.created.len() + received.updated.len();
        for (id, reason) in &received.rejected {
            tracing::warn!(doc = %id, %reason, "received document refused");
        }
        for rejection in &response.rejected {
            report.rejected.push((rejection.id.clone(), rejection.reason));
        }
        for case in &response.revoked {
            store.purge_case(case).map_err(store_err)?;
            report.purged_cases.push(case.clone());
        }
        report.allocated_cases.extend(response.allocated.iter().cloned());
        store.set_sync_cursor(response.next_cursor, response.next_cursor_tag).map_err(store_err)?;
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
