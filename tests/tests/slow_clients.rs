//! Slow and stalled clients are disconnected, and the server keeps serving: partial headers, a
//! trickled body, a body declared and never sent, a connection left idle, one connection too many,
//! and a stalled client during shutdown. Each case runs against a server where only the limit
//! under test is short (the others are an hour), so it is that limit which disconnects the
//! client. The tests assert on what the client sees and in what order, never on elapsed time; the
//! watchdog only stops a test that would otherwise hang.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fieldbook_server::serve::{app_state, ConnectionLimits, RunningServer};
use fieldbook_server::storage::sqlite::SqliteStorage;
use fieldbook_tests::sync_env::auth_config;
use fieldbook_tests::Scratch;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SHORT: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(3600);
/// Only so that a regression fails instead of hanging; far above every limit used here.
const WATCHDOG: Duration = Duration::from_secs(30);

fn limits() -> ConnectionLimits {
    ConnectionLimits {
        header_timeout: LONG,
        body_timeout: LONG,
        idle_timeout: LONG,
        max_connections: 64,
        shutdown_timeout: LONG,
    }
}

async fn start(limits: ConnectionLimits) -> (Scratch, RunningServer) {
    let scratch = Scratch::new();
    let storage = Arc::new(SqliteStorage::open(&scratch.path("server.db"), None).unwrap());
    let state = app_state(storage, &auth_config(&scratch)).unwrap();
    let server =
        RunningServer::start_with("127.0.0.1:0".parse().unwrap(), state, limits).await.unwrap();
    (scratch, server)
}

/// Reads until the server closes the connection (end of stream or reset): what it sent first.
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("reading: {e}"),
            }
        }
    };
    tokio::time::timeout(WATCHDOG, read).await.expect("the server never closed the connection");
    String::from_utf8_lossy(&seen).into_owned()
}

/// One response on a kept-alive connection: its head and body.
async fn response(stream: &mut TcpStream) -> String {
    let read = async {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&seen[..end]).to_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse().unwrap())
                    .unwrap_or(0);
                if seen.len() >= end + 4 + length {
                    return String::from_utf8_lossy(&seen[..end + 4 + length]).into_owned();
                }
            }
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before a whole response: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(WATCHDOG, read).await.expect("no response")
}

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nhost: fieldbook\r\n\r\n";

/// A well-behaved client on a fresh connection: the server is serving.
async fn assert_serving(addr: SocketAddr) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: fieldbook\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "a normal request failed: {answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_headers_are_cut_off_by_the_header_timeout() {
    let (_scratch, server) = start(ConnectionLimits { header_timeout: SHORT, ..limits() }).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"POST /v1/sync HTTP/1.1\r\nhost: fieldbook\r\ncontent-ty").await.unwrap();
    assert_serving(server.addr).await;
    let answer = until_closed(&mut slow).await;
    assert_eq!(answer, "", "closed without an answer: the request never was one");
    assert_serving(server.addr).await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_cut_off_by_the_body_timeout() {
    let (_scratch, server) = start(ConnectionLimits { body_timeout: SHORT, ..limits() }).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    // A byte every 20 ms: a per-read timeout would never fire; the body's deadline does. At this
    // pace the body would take over half an hour.
    slow.write_all(
        b"POST /v1/sync HTTP/1.1\r\nhost: fieldbook\r\nauthorization: Bearer tok-amara\r\n\
          content-type: application/cbor\r\ncontent-length: 100000\r\n\r\n",
    )
    .await
    .unwrap();
    let (mut reader, mut writer) = slow.into_split();
    let trickle = tokio::spawn(async move {
        let mut sent = 0usize;
        // Stops when the server has closed (the write fails) or the test ends.
        while writer.write_all(b"x").await.is_ok() {
            sent += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sent
    });
    assert_serving(server.addr).await;
    let mut answer = Vec::new();
    tokio::time::timeout(WATCHDOG, async {
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the trickling client was never disconnected");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "answered 408: {answer}");
    assert!(answer.to_lowercase().contains("connection: close"), "{answer}");
    trickle.abort();
    assert_serving(server.addr).await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_body_never_sent_is_refused_or_cut_off() {
    let (_scratch, server) = start(ConnectionLimits { body_timeout: SHORT, ..limits() }).await;
    // 64 MiB declared, 10 bytes sent: over the limit, refused at once without waiting for it.
    let mut huge = TcpStream::connect(server.addr).await.unwrap();
    huge.write_all(
        b"POST /v1/sync HTTP/1.1\r\nhost: fieldbook\r\nauthorization: Bearer tok-amara\r\n\
          content-length: 67108864\r\n\r\n0123456789",
    )
    .await
    .unwrap();
    let answer = until_closed(&mut huge).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // 1 MiB declared (under the limit), 10 bytes sent: the body's deadline ends it.
    let mut short = TcpStream::connect(server.addr).await.unwrap();
    short
        .write_all(
            b"PUT /api/v1/cases/case-1 HTTP/1.1\r\nhost: fieldbook\r\n\
              authorization: Bearer tok-cms\r\ncontent-type: application/json\r\n\
              content-length: 1048576\r\n\r\n{\"summary\"",
        )
        .await
        .unwrap();
    assert_serving(server.addr).await;
    let answer = until_closed(&mut short).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_serving(server.addr).await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_by_the_idle_timeout() {
    let (_scratch, server) = start(ConnectionLimits { idle_timeout: SHORT, ..limits() }).await;
    // Idle after a response on a kept-alive connection.
    let mut kept = TcpStream::connect(server.addr).await.unwrap();
    kept.write_all(HEALTH).await.unwrap();
    let first = response(&mut kept).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    // And a connection that never sends anything.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    assert_serving(server.addr).await;
    assert_eq!(until_closed(&mut kept).await, "", "closed with nothing more said");
    assert_eq!(until_closed(&mut silent).await, "");
    assert_serving(server.addr).await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_over_the_cap_is_refused_and_served_once_a_slot_frees() {
    let (_scratch, server) = start(ConnectionLimits { max_connections: 2, ..limits() }).await;
    // Two connections, each proved accepted by a response, kept open: the cap is reached.
    let mut a = TcpStream::connect(server.addr).await.unwrap();
    a.write_all(HEALTH).await.unwrap();
    assert!(response(&mut a).await.starts_with("HTTP/1.1 200"));
    let mut b = TcpStream::connect(server.addr).await.unwrap();
    b.write_all(HEALTH).await.unwrap();
    assert!(response(&mut b).await.starts_with("HTTP/1.1 200"));

    let mut over = TcpStream::connect(server.addr).await.unwrap();
    let answer = until_closed(&mut over).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "refused with 503: {answer}");
    // The connections already served still are.
    b.write_all(HEALTH).await.unwrap();
    assert!(response(&mut b).await.starts_with("HTTP/1.1 200"));

    // One closes: its slot frees as soon as the server has seen it go, and a new client is served.
    drop(a);
    tokio::time::timeout(WATCHDOG, async {
        loop {
            let mut c = TcpStream::connect(server.addr).await.unwrap();
            c.write_all(b"GET /health HTTP/1.1\r\nhost: fieldbook\r\nconnection: close\r\n\r\n")
                .await
                .unwrap_or(());
            let answer = until_closed(&mut c).await;
            if answer.starts_with("HTTP/1.1 200") {
                break;
            }
            assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 503"), "{answer}");
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the freed slot was never reused");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_cannot_hold_up_shutdown_past_its_timeout() {
    let (_scratch, server) = start(ConnectionLimits { shutdown_timeout: SHORT, ..limits() }).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"POST /v1/sync HTTP/1.1\r\nhost: fieldbook\r\n").await.unwrap();
    assert_serving(server.addr).await;
    tokio::time::timeout(WATCHDOG, server.stop())
        .await
        .expect("shutdown waited for the stalled client")
        .unwrap();
    assert_eq!(until_closed(&mut slow).await, "");
}
