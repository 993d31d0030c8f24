//! Several `fieldbook-server` processes (the shipped binary) on one PostgreSQL schema, and devices
//! that pick an instance at random for every request and record each exchange as it went over the
//! wire, so that a test can check what every device was handed (its cursors, the changes) against
//! what the database holds at the end.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fieldbook_core::sync::transport::{
    HttpResponse, HttpTransport, RetryPolicy, Transport, TransportError,
};
use fieldbook_core::sync::{SyncClient, SyncReport};
use fieldbook_core::Store;

use crate::log_capture::LOG_FILE_VAR;
use crate::sync_env::{auth_config_json, token_of, FixedToken};
use crate::Scratch;

/// The `fieldbook-server` binary of this build: beside the test executable's `deps` directory
/// (`cargo test --workspace` builds it, the server package having integration tests), or where
/// `FIELDBOOK_SERVER_BIN` says.
pub fn server_exe() -> PathBuf {
    if let Some(path) = std::env::var_os("FIELDBOOK_SERVER_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().unwrap();
    let mut dir = exe.parent().unwrap().to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join("fieldbook-server");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --workspace --features \
         fieldbook-ffi/test-hooks --bin fieldbook-server` (cargo test --workspace builds it)",
        path.display()
    );
    path
}

/// A PostgreSQL URL whose connections use `schema` (created and migrated beforehand).
pub fn url_with_schema(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// One server process. Its stderr is read by a thread: the `listening` line gives the address,
/// and with `FIELDBOOK_TEST_LOG_FILE` set every line goes to the suite's log file (the process
/// then logs at TRACE, like every other process of the suite).
#[derive(Debug)]
pub struct Instance {
    child: std::process::Child,
    exe: PathBuf,
    postgres: String,
    auth: PathBuf,
    pub addr: std::net::SocketAddr,
}

impl Instance {
    pub fn start(exe: &Path, postgres: &str, auth: &Path) -> Self {
        let (child, addr) = Self::spawn(exe, postgres, auth, "127.0.0.1:0")
            .unwrap_or_else(|| panic!("fieldbook-server did not start"));
        Self { child, exe: exe.into(), postgres: postgres.into(), auth: auth.into(), addr }
    }

    fn spawn(
        exe: &Path,
        postgres: &str,
        auth: &Path,
        listen: &str,
    ) -> Option<(std::process::Child, std::net::SocketAddr)> {
        let log_file = std::env::var_os(LOG_FILE_VAR);
        let filter = if log_file.is_some() { "trace" } else { "warn,fieldbook_server=info" };
        let mut child = std::process::Command::new(exe)
            .arg("--listen")
            .arg(listen)
            .arg("--postgres")
            .arg(postgres)
            .arg("--auth")
            .arg(auth)
            // One signing key for every instance of the database (issue #16).
            .arg("--signing-key-file")
            .arg(auth.with_extension("signing-key"))
            .env("RUST_LOG", filter)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut log = log_file.map(|path| {
                std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap()
            });
            let mut tx = Some(tx);
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(log) = &mut log {
                    let _ = writeln!(log, "{line}");
                }
                if line.contains(" listening ") {
                    let addr = line
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("addr="))
                        .and_then(|a| a.parse::<std::net::SocketAddr>().ok());
                    if let (Some(tx), Some(addr)) = (tx.take(), addr) {
                        let _ = tx.send(addr);
                    }
                }
            }
            // The process ended (killed or failed) before listening: the sender drops here.
        });
        match rx.recv() {
            Ok(addr) => Some((child, addr)),
            Err(_) => {
                let _ = child.wait();
                None
            }
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The CPU time the process has used (user + system), from `/proc` (Linux; None elsewhere).
    pub fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // The fields after the command name (which is in parentheses and may hold spaces).
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // The kernel's USER_HZ, 100 on every Linux this runs on.
        Some(Duration::from_millis(ticks * 10))
    }

    /// SIGKILL: no drain, no flush; the transactions in flight roll back.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts again on the same database and port.
    pub fn restart(&mut self) {
        let listen = self.addr.to_string();
        // The port can stay unavailable briefly after a kill: retry until it is free.
        for _ in 0..100 {
            if let Some((child, addr)) = Self::spawn(&self.exe, &self.postgres, &self.auth, &listen)
            {
                self.child = child;
                self.addr = addr;
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("fieldbook-server could not listen on {listen} again");
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` server processes on `postgres` (a URL naming the schema), sharing one auth configuration.
pub fn start_fleet(scratch: &Scratch, postgres: &str, n: usize) -> Vec<Instance> {
    let auth = scratch.path("auth.json");
    std::fs::write(&auth, auth_config_json(scratch).to_string()).unwrap();
    let exe = server_exe();
    (0..n).map(|_| Instance::start(&exe, postgres, &auth)).collect()
}

/// One request as it went over the wire: to which instance, the request body, and the response
/// (None when the exchange failed: refused, reset, timed out).
#[derive(Debug, Clone)]
pub struct Exchange {
    pub instance: usize,
    pub request: Vec<u8>,
    pub response: Option<HttpResponse>,
}

/// splitmix64: a small seeded generator (the schedules must replay from their seed).
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Sends each request to an instance chosen at random (seeded), recording every exchange, and
/// counting the requests started per instance (a killer waits on those).
#[derive(Debug, Clone)]
pub struct RoutingTransport {
    instances: Arc<Vec<HttpTransport>>,
    rng: Arc<Mutex<Rng>>,
    pub exchanges: Arc<Mutex<Vec<Exchange>>>,
    pub started: Arc<Vec<AtomicU32>>,
}

impl RoutingTransport {
    pub fn new(urls: &[String], seed: u64, started: Arc<Vec<AtomicU32>>) -> Self {
        let instances = urls
            .iter()
            .map(|u| {
                HttpTransport::new(u, Duration::from_secs(5), Duration::from_secs(30)).unwrap()
            })
            .collect();
        Self {
            instances: Arc::new(instances),
            rng: Arc::new(Mutex::new(Rng(seed))),
            exchanges: Arc::new(Mutex::new(Vec::new())),
            started,
        }
    }
}

impl Transport for RoutingTransport {
    async fn post(&self, body: Vec<u8>, token: String) -> Result<HttpResponse, TransportError> {
        let instance = self.rng.lock().unwrap().below(self.instances.len());
        self.started[instance].fetch_add(1, Ordering::SeqCst);
        let result = self.instances[instance].post(body.clone(), token).await;
        let response = result.as_ref().ok().cloned();
        self.exchanges.lock().unwrap().push(Exchange { instance, request: body, response });
        result
    }
}

/// A tablet whose requests go to a random instance.
pub struct RoutedDevice {
    pub worker: String,
    pub store: Store,
    pub client: SyncClient<RoutingTransport>,
    pub transport: RoutingTransport,
}

impl std::fmt::Debug for RoutedDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutedDevice").field("worker", &self.worker).finish_non_exhaustive()
    }
}

impl RoutedDevice {
    pub fn new(
        scratch: &Scratch,
        worker: &str,
        device: &str,
        urls: &[String],
        seed: u64,
        started: Arc<Vec<AtomicU32>>,
    ) -> Self {
        let store = scratch.store(&format!("{worker}-{device}"), worker, device);
        let transport = RoutingTransport::new(urls, seed, started);
        let client =
            SyncClient::new(transport.clone(), Arc::new(FixedToken(token_of(worker))), device)
                .with_retry(RetryPolicy {
                    attempts: 4,
                    base: Duration::from_millis(5),
                    max: Duration::from_millis(40),
                });
        Self { worker: worker.into(), store, client, transport }
    }

    pub async fn sync(&mut self) -> SyncReport {
        self.client.sync(&mut self.store).await
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.transport.exchanges.lock().unwrap().clone()
    }
}

/// The change chunks of concatenated Automerge change bytes (magic, checksum, type, uLEB128
/// length, data), each as its own bytes; None when the bytes are not such a sequence.
pub fn split_chunks(mut bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        bytes.get(..9)?;
        let mut len: u64 = 0;
        let mut shift = 0;
        let mut at = 9;
        loop {
            let b = *bytes.get(at)?;
            at += 1;
            len |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return None;
            }
        }
        let end = at.checked_add(usize::try_from(len).ok()?)?;
        out.push(bytes.get(..end)?.to_vec());
        bytes = &bytes[end..];
    }
    Some(out)
}

/// Runs the futures concurrently on the current task and returns their outputs in order (a
/// `join_all` without a dependency).
pub async fn join_all<F: std::future::Future + Unpin>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    use std::task::Poll;
    let mut pending: Vec<Option<F>> = futures.into_iter().map(Some).collect();
    let mut out: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (slot, result) in pending.iter_mut().zip(out.iter_mut()) {
            if let Some(fut) = slot {
                match std::pin::Pin::new(fut).poll(cx) {
                    Poll::Ready(v) => {
                        *result = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => all = false,
                }
            }
        }
        if all {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    out.into_iter().flatten().collect()
}
