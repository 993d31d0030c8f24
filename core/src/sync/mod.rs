//! The sync client: one bounded exchange (or a few, while the server says `more`) that pushes
//! every unacknowledged change and pulls everything new, then reports what happened.
//!
//! The decisions are split from the I/O. `session` holds every decision as pure functions
//! (which request to build from what the store reports, how to classify an HTTP attempt, which
//! store operations a response means, whether another exchange follows); `transport` carries
//! bytes; the store's sync primitives (`Store::outbox`, `Store::apply_exchange`, one transaction
//! each) read and write. `SyncClient` is the thin driver between them. Sync can be called from
//! Android WorkManager or iOS BGTaskScheduler: it does a bounded amount of work and returns.

pub mod session;
pub mod transport;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::protocol::{encode, limits, RejectReason, SyncRequest};
use crate::store::Store;
use session::{decode_response, store_failure, Attempt, Attempts, Next, Session, SessionConfig};
use transport::{HttpResponse, RetryPolicy, Transport, TransportError};

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
    /// The server answered under another key than the one pinned on this device's first sync:
    /// nothing of the answer was applied (a server that is not the council's, or a key that
    /// was replaced: an operator must re-enrol the device).
    #[error("the server's key {presented} is not the key {pinned} this device pinned")]
    ServerKeyChanged { pinned: String, presented: String },
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
    /// Documents received and refused, with why (a change whose signature fails, a damaged
    /// document: issue #16): nothing of them was applied.
    #[serde(default)]
    pub refused: Vec<(String, String)>,
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

/// A request sent before its turn (`Session::next_pull`) and its answer, awaited later.
/// Dropped unused, it is aborted: a pull changes nothing on the server, so an abandoned one
/// costs only its bytes.
struct Prefetch {
    request: SyncRequest,
    task: tokio::task::JoinHandle<Result<HttpResponse, TransportError>>,
}

impl Prefetch {
    /// Its answer's body, if `request` is the one it was sent as and the server answered 200;
    /// `None` means: post `request` as usual.
    async fn answer_to(mut self, request: &SyncRequest, session: &mut Session) -> Option<Vec<u8>> {
        // Dispatched, so counted, whether or not its answer is used.
        session.note_request();
        if &self.request != request {
            return None;
        }
        match (&mut self.task).await {
            Ok(Ok(HttpResponse { status: 200, body })) => Some(body),
            _ => None,
        }
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The sync client of one store.
pub struct SyncClient<T: Transport> {
    /// Shared with the task that sends the next page's request early (`Prefetch`).
    transport: Arc<T>,
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

impl<T: Transport + 'static> SyncClient<T> {
    pub fn new(
        transport: T,
        tokens: Arc<dyn AccessTokenProvider>,
        device: impl Into<String>,
    ) -> Self {
        Self {
            transport: Arc::new(transport),
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

    /// The driver: each step is the session's decision, a store primitive, or the transport.
    async fn run(&self, mut store: StoreRef<'_>) -> SyncReport {
        let store = &mut store;
        self.set_status(store, SyncState::Syncing, false).await;
        let mut session = Session::new(SessionConfig {
            device: self.device.clone(),
            max_exchanges: self.max_exchanges,
            response_budget: self.response_budget,
            push_budget: self.push_budget,
        });
        // The next page's request, sent while this page is applied (`Session::next_pull`);
        // dropping it (a failure, the end of the call) aborts it.
        let mut prefetch = None;
        loop {
            match self.exchange_once(store, &mut session, &mut prefetch).await {
                Ok(Next::Exchange) => {}
                Ok(Next::Done) => break,
                Err(failure) => {
                    session.fail(failure);
                    break;
                }
            }
        }
        drop(prefetch);
        let succeeded = session.succeeded();
        let (conflicts, recorded) = store
            .with(|s| {
                let conflicts = s.conflicted_count();
                // Only a completed sync moves the "last synced" time the app shows.
                let recorded = if succeeded { s.set_last_sync_at(s.now()) } else { Ok(()) };
                (conflicts, recorded)
            })
            .await;
        // A sync whose completion could not be recorded is not reported as a success.
        let conflicts = recorded.and(conflicts).map_err(store_failure);
        let (report, state) = session.finish(conflicts);
        let success = state == SyncState::Idle;
        self.set_status(store, state, success).await;
        report
    }

    /// One request and its response, committed to the store. `prefetch` holds the request
    /// sent early for this exchange, if any, and receives the one sent for the next.
    async fn exchange_once(
        &self,
        store: &mut StoreRef<'_>,
        session: &mut Session,
        prefetch: &mut Option<Prefetch>,
    ) -> Result<Next, SyncFailure> {
        // One store step reads the request's inputs; the lock is not held on the network.
        let query = session.query();
        let outbox = store.with(|s| s.outbox(&query)).await.map_err(store_failure)?;
        let (request, push_more) = session.request(outbox);
        let early = match prefetch.take() {
            Some(early) => early.answer_to(&request, session).await,
            None => None,
        };
        let body = match early {
            Some(body) => body,
            None => self.post_with_retries(encode(&request), session).await?,
        };
        let response = decode_response(&body)?;
        *prefetch = session
            .next_pull(&request, push_more, &response)
            .and_then(|next| self.send_early(next));
        let plan = session.on_response(&request, push_more, response);
        // One store step, one transaction, applies the response (the app's calls wait at
        // most for this step).
        let applied = store.with(|s| s.apply_exchange(&plan)).await.map_err(store_failure)?;
        Ok(session.on_applied(&applied))
    }

    /// Sends `request` now, in a task of its own, to be answered while this page is applied.
    /// One attempt only: whatever goes wrong with it, the exchange posts its request again as
    /// usual (with retries and the token refresh).
    fn send_early(&self, request: SyncRequest) -> Option<Prefetch> {
        // Polled outside a tokio runtime (no one does today), the call just goes without.
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let token = self.tokens.access_token(false)?;
        let transport = self.transport.clone();
        let body = encode(&request);
        let task = runtime.spawn(async move { transport.post(body, token).await });
        Some(Prefetch { request, task })
    }

    /// Posts `body`, retrying as `Attempts` decides (the pauses are the only waiting here).
    async fn post_with_retries(
        &self,
        body: Vec<u8>,
        session: &mut Session,
    ) -> Result<Vec<u8>, SyncFailure> {
        let mut attempts = Attempts::new(self.retry);
        loop {
            let token = self.tokens.access_token(attempts.refresh()).ok_or(SyncFailure::NoToken)?;
            session.note_request();
            let outcome = self.transport.post(body.clone(), token).await;
            match attempts.on_outcome(outcome) {
                Attempt::Deliver(body) => return Ok(body),
                Attempt::RefreshToken => {}
                Attempt::RetryAfter(n) => tokio::time::sleep(self.retry.delay(n)).await,
                Attempt::Fail(failure) => return Err(failure),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::protocol::{SyncResponse, PROTOCOL_VERSION};
    use transport::{HttpResponse, TransportError};

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
                receipts: Vec::new(),
                keys: Vec::new(),
                server_key: None,
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
