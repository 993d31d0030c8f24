//! A sync server on loopback with devices around it: the harness of the end-to-end sync tests.
//! Devices talk real HTTP; the transport in between counts requests and can inject faults.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fieldbook_core::records::CaseSummary;
use fieldbook_core::sync::transport::{
    HttpResponse, HttpTransport, RetryPolicy, Transport, TransportError,
};
use fieldbook_core::sync::{AccessTokenProvider, SyncClient, SyncReport};
use fieldbook_core::Store;
use fieldbook_server::serve::{app_state, open_storage, Backend, RunningServer};
use fieldbook_server::storage::{postgres::PostgresStorage, Storage};

use crate::Scratch;

/// The people of the tests: (token, subject, role, team).
pub const PEOPLE: &[(&str, &str, &str, &str)] = &[
    ("tok-amara", "amara", "worker", "north"),
    ("tok-ben", "ben", "worker", "north"),
    ("tok-carol", "carol", "worker", "south"),
    ("tok-mgr", "mina", "manager", "north"),
    ("tok-cms", "case-system", "integration", "ops"),
    ("tok-ops", "olive", "operator", "ops"),
    // Senior leaders and the Improvement Board: the oversight board view (docs/roles.md).
    ("tok-senior", "sam", "senior", "council"),
    // The role name of earlier releases, read as `operator` (docs/roles.md).
    ("tok-admin", "admin", "admin", "ops"),
];

/// The HS256 secret the tests' server verifies JWTs with (the identity provider's, in a council).
pub const JWT_SECRET: &str = "fieldbook-tests-hs256-secret-of-32-bytes-or-more";
/// A worker whose account the council has disabled.
pub const DISABLED: &str = "dora";

pub fn token_of(subject: &str) -> String {
    PEOPLE.iter().find(|p| p.1 == subject).map(|p| p.0.to_string()).unwrap_or_default()
}

/// A fault to inject on the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request never leaves the device.
    Offline,
    /// The server handles the request, but the response is lost.
    LoseResponse,
}

/// Forwards to HTTP, counting requests and applying queued faults.
#[derive(Debug, Clone)]
pub struct TestTransport {
    inner: HttpTransport,
    pub requests: Arc<AtomicU32>,
    pub faults: Arc<Mutex<VecDeque<Fault>>>,
}

impl TestTransport {
    pub fn new(url: &str) -> Self {
        Self {
            inner: HttpTransport::new(url, Duration::from_secs(5), Duration::from_secs(30))
                .unwrap(),
            requests: Arc::new(AtomicU32::new(0)),
            faults: Arc::new(Mutex::new(VecDeque::new())),
        }
    }
}

impl Transport for TestTransport {
    async fn post(&self, body: Vec<u8>, token: String) -> Result<HttpResponse, TransportError> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let fault = self.faults.lock().unwrap().pop_front();
        match fault {
            Some(Fault::Offline) => Err(TransportError::Offline("injected".into())),
            Some(Fault::LoseResponse) => {
                let _ = self.inner.post(body, token).await;
                Err(TransportError::Interrupted("injected: response lost".into()))
            }
            None => self.inner.post(body, token).await,
        }
    }
}

#[derive(Debug)]
pub struct FixedToken(pub String);

impl AccessTokenProvider for FixedToken {
    fn access_token(&self, _refresh: bool) -> Option<String> {
        Some(self.0.clone())
    }
}

/// A tablet: its store and its sync client.
pub struct Device {
    pub store: Store,
    pub client: SyncClient<TestTransport>,
    pub transport: TestTransport,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device").field("store", &self.store).finish()
    }
}

impl Device {
    pub async fn sync(&mut self) -> SyncReport {
        self.client.sync(&mut self.store).await
    }

    pub fn requests(&self) -> u32 {
        self.transport.requests.load(Ordering::SeqCst)
    }

    pub fn inject(&self, fault: Fault) {
        self.transport.faults.lock().unwrap().push_back(fault);
    }
}

/// The server and its scratch directory.
pub struct SyncEnv {
    pub scratch: Scratch,
    pub server: Option<RunningServer>,
    pub url: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for SyncEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncEnv").field("url", &self.url).finish()
    }
}

/// The authentication settings of the tests' server, as the JSON a server reads: static tokens for
/// `PEOPLE`, written into the scratch directory.
pub fn auth_config_json(scratch: &Scratch) -> serde_json::Value {
    let tokens: Vec<serde_json::Value> = PEOPLE
        .iter()
        .map(|(token, subject, role, team)| {
            serde_json::json!({"token": token, "subject": subject, "role": role, "team": team})
        })
        .collect();
    let path = scratch.path("tokens.json");
    std::fs::write(&path, serde_json::json!({ "tokens": tokens }).to_string()).unwrap();
    serde_json::json!({
        "audience": "fieldbook",
        "jwt": [{"algorithm": "HS256", "secret": JWT_SECRET}],
        "static_tokens": path,
        "disabled_subjects": [DISABLED],
        "leeway_seconds": 30
    })
}

pub fn auth_config(scratch: &Scratch) -> fieldbook_server::auth::AuthConfig {
    serde_json::from_value(auth_config_json(scratch)).unwrap()
}

/// The PostgreSQL test server's URL (`scripts/postgres.sh start` prints it; `scripts/test-all.sh`
/// exports it). Tests that need it fail with this explanation rather than pass silently.
pub fn postgres_url() -> String {
    std::env::var("FIELDBOOK_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "FIELDBOOK_TEST_POSTGRES_URL is not set: run `scripts/postgres.sh start` and export \
             the URL it prints (scripts/test-all.sh does both)"
        )
    })
}

/// The server as a separate process, so that a test can SIGKILL it mid-request and start it
/// again on the same data and port.
#[derive(Debug)]
pub struct ServerProcess {
    child: std::process::Child,
    exe: std::path::PathBuf,
    data: String,
    auth: std::path::PathBuf,
    pub addr: std::net::SocketAddr,
}

impl ServerProcess {
    /// Starts `exe` (the `fieldbook-test-server` binary) on `data` (a SQLite file or a
    /// PostgreSQL URL) on a free loopback port.
    pub fn start(exe: &std::path::Path, data: &str, scratch: &Scratch) -> Self {
        let auth = scratch.path("auth.json");
        std::fs::write(&auth, auth_config_json(scratch).to_string()).unwrap();
        let (child, addr) = Self::spawn(exe, data, &auth, "127.0.0.1:0");
        Self { child, exe: exe.into(), data: data.into(), auth, addr }
    }

    fn spawn(
        exe: &std::path::Path,
        data: &str,
        auth: &std::path::Path,
        listen: &str,
    ) -> (std::process::Child, std::net::SocketAddr) {
        Self::try_spawn(exe, data, auth, listen)
            .unwrap_or_else(|| panic!("the server did not start"))
    }

    /// None when the server exits before listening (its port is not free yet, say).
    fn try_spawn(
        exe: &std::path::Path,
        data: &str,
        auth: &std::path::Path,
        listen: &str,
    ) -> Option<(std::process::Child, std::net::SocketAddr)> {
        use std::io::BufRead;
        let mut child = std::process::Command::new(exe)
            .args([data, &auth.to_string_lossy(), listen])
            .stdout(std::process::Stdio::piped())
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line).unwrap();
        match line.trim().strip_prefix("listening ") {
            Some(addr) => Some((child, addr.parse().unwrap())),
            None => {
                let _ = child.wait();
                None
            }
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGKILL: no shutdown, no flush; whatever was not committed is gone.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Starts again on the same data and port.
    pub fn restart(&mut self) {
        let listen = self.addr.to_string();
        // The port can stay unavailable briefly after a kill: retry until it is free.
        for _ in 0..100 {
            if let Some((child, addr)) = Self::try_spawn(&self.exe, &self.data, &self.auth, &listen)
            {
                self.child = child;
                self.addr = addr;
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the server could not listen on {listen} again");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SyncEnv {
    /// A server on an ephemeral loopback port with the embedded SQLite backend, opened as the
    /// server binaries open it: encrypted, its key file (`server.db.key`) created beside it.
    pub async fn start() -> Self {
        let scratch = Scratch::new();
        let storage = open_storage(&Backend::sqlite(scratch.path("server.db"))).await.unwrap();
        Self::start_with(scratch, storage).await
    }

    /// A server on the PostgreSQL test cluster, in a schema of its own.
    pub async fn start_postgres(schema: &str) -> Self {
        let schema = format!("{schema}_{}", std::process::id());
        let url = postgres_url();
        let storage = PostgresStorage::connect_with_schema(&url, Some(&schema)).await.unwrap();
        Self::start_with(Scratch::new(), Arc::new(storage)).await
    }

    pub async fn start_with(scratch: Scratch, storage: Arc<dyn Storage>) -> Self {
        Self::start_configured(scratch, storage, |_| {}).await
    }

    /// Like `start_with`, with the server's state adjusted first (a lower attachment cap, say).
    pub async fn start_configured(
        scratch: Scratch,
        storage: Arc<dyn Storage>,
        configure: impl FnOnce(&mut fieldbook_server::http::AppState),
    ) -> Self {
        let mut state = app_state(storage, &auth_config(&scratch)).unwrap();
        // One signing key per scratch directory: a server restarted on the same data keeps it.
        let key = scratch.path("server.signing-key");
        state.hub = state.hub.with_signing_key(
            fieldbook_server::storage::key::load_or_create_signing_key(&key).unwrap(),
        );
        configure(&mut state);
        let server = RunningServer::start("127.0.0.1:0".parse().unwrap(), state).await.unwrap();
        let url = server.url();
        Self { scratch, server: Some(server), url, http: reqwest::Client::new() }
    }

    /// Devices and the case system talking to a server that runs elsewhere (a `ServerProcess`).
    pub fn attach(scratch: Scratch, url: String) -> Self {
        Self { scratch, server: None, url, http: reqwest::Client::new() }
    }

    /// A device of `worker`, with its own encrypted store.
    pub fn device(&self, worker: &str, device: &str) -> Device {
        self.device_via(worker, device, &self.url)
    }

    /// A device that reaches the server through `url` (a fault-injecting proxy, say).
    pub fn device_via(&self, worker: &str, device: &str, url: &str) -> Device {
        let store = self.scratch.store(&format!("{worker}-{device}"), worker, device);
        let transport = TestTransport::new(url);
        let client =
            SyncClient::new(transport.clone(), Arc::new(FixedToken(token_of(worker))), device)
                .with_retry(RetryPolicy {
                    attempts: 3,
                    base: Duration::from_millis(5),
                    max: Duration::from_millis(20),
                });
        Device { store, client, transport }
    }

    /// The case system upserts a case allocated to `worker` in `team`.
    pub async fn upsert_case(&self, case_id: &str, local_id: &str, worker: &str, team: &str) {
        let status = self
            .put_case(
                &token_of("case-system"),
                case_id,
                &summary_for(local_id, worker, team),
                worker,
                team,
            )
            .await;
        assert_eq!(status, 204, "upsert of {case_id}");
    }

    pub async fn put_case(
        &self,
        token: &str,
        case_id: &str,
        summary: &CaseSummary,
        worker: &str,
        team: &str,
    ) -> u16 {
        self.http
            .put(format!("{}/api/v1/cases/{case_id}", self.url))
            .bearer_auth(token)
            .json(
                &serde_json::json!({"summary": summary, "allocated_worker": worker, "team": team}),
            )
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// The export feed as the case system reads it: every record, merged.
    pub async fn export_all(&self) -> Vec<fieldbook_core::records::Record> {
        let mut out = Vec::new();
        let mut cursor = 0;
        loop {
            let page: serde_json::Value = self
                .http
                .get(format!("{}/api/v1/records?cursor={cursor}&limit=100", self.url))
                .bearer_auth(token_of("case-system"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for r in page["records"].as_array().unwrap() {
                out.push(serde_json::from_value(r.clone()).unwrap());
            }
            cursor = page["next_cursor"].as_u64().unwrap();
            if !page["more"].as_bool().unwrap() {
                break;
            }
        }
        out
    }

    /// GET or other calls with a token, returning the status and body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (u16, Vec<u8>) {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.bytes().await.unwrap().to_vec())
    }
}

pub fn summary_for(local_id: &str, worker: &str, team: &str) -> CaseSummary {
    let mut s = CaseSummary::new(local_id, format!("Child {local_id}"));
    s.allocated_worker = worker.into();
    s.team = team.into();
    s
}
