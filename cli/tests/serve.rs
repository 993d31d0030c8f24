//! `fieldbook serve` as an operator runs it: it logs (JSON with `--log-json`) the development-mode
//! warning, authentication failures and refused pushes, each request's line carrying its request
//! id and never a token or record content; and SIGTERM during a sync lets that sync finish, so
//! the device's next sync (after a restart on the same database) finds everything acknowledged
//! and nothing lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use fieldbook_core::protocol::CONTENT_TYPE;
use fieldbook_core::records::{CaseSummary, RecordBody, Visit, VisitKind};
use fieldbook_core::sync::transport::{HttpResponse, HttpTransport, Transport, TransportError};
use fieldbook_core::sync::{AccessTokenProvider, SyncClient};
use fieldbook_core::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Only so that a regression fails instead of hanging.
const WATCHDOG: Duration = Duration::from_secs(60);
const KEY: [u8; 32] = [9; 32];
/// Record text that must never reach a log line.
const CONTENT: &str = "PLANTED-SERVE-LOG the child said school was better";
const BAD_TOKEN: &str = "wrong-token-SECRET-7f3a";

/// `fieldbook serve` as a child process, its stderr (the log) read line by line.
struct Served {
    child: Child,
    lines: Mutex<Receiver<String>>,
    seen: Mutex<Vec<String>>,
    addr: SocketAddr,
}

impl Served {
    fn start(dir: &Path, extra: &[&str], rust_log: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fieldbook"))
            .args(["serve", "--listen", "127.0.0.1:0", "--auth"])
            .arg(dir.join("auth.json"))
            .arg("--sqlite")
            .arg(dir.join("server.db"))
            .args(extra)
            .env("RUST_LOG", rust_log)
            .env_remove("FIELDBOOK_LOG_JSON")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut served = Self {
            child,
            lines: Mutex::new(rx),
            seen: Mutex::new(Vec::new()),
            addr: "127.0.0.1:0".parse().unwrap(),
        };
        let listening = served.wait_for(|l| l.contains("listening"));
        let addr = listening
            .split(|c: char| c.is_whitespace() || c == '"' || c == ',')
            .find_map(|w| w.strip_prefix("addr=").unwrap_or(w).parse::<SocketAddr>().ok())
            .unwrap_or_else(|| panic!("no address in {listening}"));
        served.addr = addr;
        served
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next log line that satisfies `pred` (earlier ones are kept in `seen`).
    fn wait_for(&self, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WATCHDOG;
        let lines = self.lines.lock().unwrap();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.lock().unwrap().push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!("no such log line: {:?}", self.seen),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the server exited first: {:?}", self.seen)
                }
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit, then returns every line it logged.
    fn exit(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let deadline = Instant::now() + WATCHDOG;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the server did not exit: {:?}", self.seen);
            std::thread::sleep(Duration::from_millis(20));
        };
        // The process has exited; its last lines may still be in the pipe: read to its end.
        let lines = self.lines.lock().unwrap();
        let mut seen = std::mem::take(&mut *self.seen.lock().unwrap());
        loop {
            match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => seen.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("the log never ended: {seen:?}"),
            }
        }
        (status, seen)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_auth(dir: &Path) {
    let tokens = serde_json::json!({"tokens": [
        {"token": "tok-amara", "subject": "amara", "role": "worker", "team": "north"},
        {"token": "tok-cms", "subject": "case-system", "role": "integration", "team": "ops"}
    ]});
    std::fs::write(dir.join("tokens.json"), tokens.to_string()).unwrap();
    let auth =
        serde_json::json!({"audience": "fieldbook", "static_tokens": dir.join("tokens.json")});
    std::fs::write(dir.join("auth.json"), auth.to_string()).unwrap();
}

struct Token;
impl AccessTokenProvider for Token {
    fn access_token(&self, _refresh: bool) -> Option<String> {
        Some("tok-amara".into())
    }
}

fn device(dir: &Path) -> Store {
    let mut store = Store::open(dir.join("tablet.db"), &KEY, "amara", "tablet-1").unwrap();
    store.set_clock(Box::new(|| Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap()));
    store
}

fn visit(n: usize) -> RecordBody {
    let mut v = Visit::new(
        VisitKind::ChildProtection,
        Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap(),
    );
    v.observations = format!("{CONTENT} (visit {n})");
    RecordBody::Visit(v)
}

fn http_client(url: &str) -> SyncClient<HttpTransport> {
    let transport =
        HttpTransport::new(url, Duration::from_secs(5), Duration::from_secs(30)).unwrap();
    SyncClient::new(transport, Arc::new(Token), "tablet-1")
}

async fn allocate(url: &str, case_id: &str) {
    let mut summary = CaseSummary::new("LC1", "Child A");
    summary.allocated_worker = "amara".into();
    summary.team = "north".into();
    let status = reqwest::Client::new()
        .put(format!("{url}/api/v1/cases/{case_id}"))
        .bearer_auth("tok-cms")
        .json(
            &serde_json::json!({"summary": summary, "allocated_worker": "amara", "team": "north"}),
        )
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 204);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn assert_clean(lines: &[String]) {
    for line in lines {
        for secret in ["tok-amara", "tok-cms", BAD_TOKEN, "PLANTED-"] {
            assert!(!line.contains(secret), "a log line holds {secret}: {line}");
        }
    }
}

#[test]
fn serve_logs_json_lines_with_request_ids_and_never_a_token() {
    let dir = tempfile::tempdir().unwrap();
    write_auth(dir.path());
    let server = Served::start(dir.path(), &["--log-json"], "info");
    let rt = runtime();
    let request_id = rt.block_on(async {
        // A bad token, then a push to a case that is not the worker's.
        let refused = reqwest::Client::new()
            .get(format!("{}/api/v1/records", server.url()))
            .bearer_auth(BAD_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status().as_u16(), 401);
        let id = refused.headers()["x-request-id"].to_str().unwrap().to_string();
        allocate(&server.url(), "case-1").await;
        let mut store = device(dir.path());
        store.create_record("case-9", &visit(1)).unwrap();
        let report = http_client(&server.url()).sync(&mut store).await;
        assert_eq!(report.rejected.len(), 1, "{report:?}");
        id
    });
    server.wait_for(|l| l.contains("push refused"));
    server.signal("TERM");
    let (status, lines) = server.exit();
    assert!(status.success(), "{status}: {lines:?}");
    assert_clean(&lines);

    let json: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let find = |message: &str| {
        json.iter()
            .find(|l| l["fields"]["message"] == message)
            .unwrap_or_else(|| panic!("no line {message:?} in {lines:?}"))
    };
    assert_eq!(find("static tokens enabled: development mode")["level"], "WARN");
    let auth = find("authentication failed");
    assert_eq!(auth["span"]["request_id"], request_id.as_str(), "{auth}");
    assert_eq!(auth["span"]["route"], "/api/v1/records");
    let push = find("push refused");
    assert_eq!(push["span"]["route"], "/v1/sync");
    assert!(push["span"]["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{push}");
    // Every request ends with a line of its own: status, time, the same request id.
    let ended = json
        .iter()
        .find(|l| l["fields"]["message"] == "request" && l["span"]["request_id"] == request_id)
        .unwrap_or_else(|| panic!("no end line for {request_id}: {lines:?}"));
    assert_eq!(ended["fields"]["status"], 401);
    find("shutdown signal received: draining requests in flight");
    find("stopped");
}

/// Sends each sync request as raw HTTP; the first one stops halfway through its body until the
/// test releases it, so that it is provably in flight when the server is told to stop.
struct HeldTransport {
    addr: SocketAddr,
    hold: Mutex<Option<(std::sync::mpsc::Sender<()>, Arc<tokio::sync::Notify>)>>,
}

impl Transport for HeldTransport {
    async fn post(&self, body: Vec<u8>, token: String) -> Result<HttpResponse, TransportError> {
        let hold = self.hold.lock().unwrap().take();
        let broken = |e: std::io::Error| TransportError::Interrupted(e.to_string());
        let mut stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| TransportError::Offline(e.to_string()))?;
        let head = format!(
            "POST /v1/sync HTTP/1.1\r\nhost: fieldbook\r\nauthorization: Bearer {token}\r\n\
             content-type: {CONTENT_TYPE}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.map_err(broken)?;
        let half = body.len() / 2;
        stream.write_all(&body[..half]).await.map_err(broken)?;
        if let Some((reached, release)) = hold {
            reached.send(()).unwrap();
            release.notified().await;
        }
        stream.write_all(&body[half..]).await.map_err(broken)?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.map_err(broken)?;
        let end = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| TransportError::Interrupted("no response head".into()))?;
        let head = String::from_utf8_lossy(&answer[..end]);
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        Ok(HttpResponse { status, body: answer[end + 4..].to_vec() })
    }
}

#[test]
fn sigterm_during_a_sync_finishes_it_and_the_next_sync_finds_everything_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    write_auth(dir.path());
    let server = Served::start(dir.path(), &[], "info,fieldbook_server=debug");
    let rt = runtime();
    let mut store = device(dir.path());
    let mut ids = Vec::new();
    rt.block_on(async {
        allocate(&server.url(), "case-1").await;
        assert!(http_client(&server.url()).sync(&mut store).await.failure.is_none());
    });
    // That sync's lines are behind us: the next sync start logged is the held one's.
    server.wait_for(|l| l.contains("/v1/sync") && l.contains("status=200"));
    for n in 0..20 {
        ids.push(store.create_record("case-1", &visit(n)).unwrap());
    }

    let (reached_tx, reached) = std::sync::mpsc::channel();
    let release = Arc::new(tokio::sync::Notify::new());
    let held =
        HeldTransport { addr: server.addr, hold: Mutex::new(Some((reached_tx, release.clone()))) };
    let client = SyncClient::new(held, Arc::new(Token), "tablet-1");
    let report = std::thread::scope(|scope| {
        let release = release.clone();
        let server = &server;
        scope.spawn(move || {
            // Half the body is on the wire and the server has started on the request...
            reached.recv_timeout(WATCHDOG).unwrap();
            server.wait_for(|l| l.contains("request started") && l.contains("/v1/sync"));
            // ...when SIGTERM arrives; the rest of the body follows only once it has been seen.
            server.signal("TERM");
            server.wait_for(|l| l.contains("shutdown signal received"));
            release.notify_one();
        });
        rt.block_on(client.sync(&mut store))
    });
    assert!(report.failure.is_none(), "the sync in flight was cut off: {report:?}");
    assert_eq!(report.acknowledged, ids.len());
    assert_eq!(store.pending_count().unwrap(), 0);

    let (status, lines) = server.exit();
    assert!(status.success(), "{status}: {lines:?}");
    assert_clean(&lines);
    let at = |pred: &dyn Fn(&str) -> bool| {
        lines.iter().position(|l| pred(l)).unwrap_or_else(|| panic!("missing line: {lines:?}"))
    };
    // The held sync is the last one started; its id ties its lines together.
    let started = lines
        .iter()
        .rposition(|l| l.contains("request started") && l.contains("/v1/sync"))
        .unwrap();
    let id = lines[started].split("request_id=\"").nth(1).unwrap().split('"').next().unwrap();
    let signalled = at(&|l| l.contains("shutdown signal received"));
    let finished = at(&|l| l.contains(id) && l.contains("status=200"));
    let stopped = at(&|l| l.trim_end().ends_with(" stopped"));
    assert!(started < signalled && signalled < finished && finished < stopped, "{lines:?}");

    // Restarted on the same database: the device has nothing left to push, and the case system
    // sees every record once.
    let again = Served::start(dir.path(), &[], "info");
    rt.block_on(async {
        let report = http_client(&again.url()).sync(&mut store).await;
        assert!(report.failure.is_none(), "{report:?}");
        assert_eq!(report.pushed, 0, "everything was acknowledged before the stop");
        let page: serde_json::Value = reqwest::Client::new()
            .get(format!("{}/api/v1/records?cursor=0&limit=100", again.url()))
            .bearer_auth("tok-cms")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let exported: Vec<&str> = page["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["meta"]["id"].as_str().unwrap())
            .collect();
        for id in &ids {
            assert_eq!(exported.iter().filter(|e| *e == id).count(), 1, "{id} lost or doubled");
        }
    });
    again.signal("INT");
    let (status, _) = again.exit();
    assert!(status.success(), "SIGINT drains and exits 0 too: {status}");
}
