//! A fault-injecting HTTP proxy on loopback, between devices and the server. Each request gets
//! the next fault from a queue (none when the queue is empty): requests and responses are
//! dropped, delayed, truncated, duplicated and replayed out of order, and connections are cut
//! in the middle of a body. It speaks just enough HTTP/1.1 for the sync endpoint: one request per
//! connection, bodies framed by `Content-Length`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetFault {
    /// The request is read and dropped: the server never sees it.
    DropRequest,
    /// Half the request reaches the server, then both connections are cut.
    CutRequest,
    /// The server handles the request; the response is dropped.
    DropResponse,
    /// Half the response reaches the device, then the connection is cut.
    TruncateResponse,
    /// Request and response are held up this many milliseconds.
    Delay(u64),
    /// The request reaches the server twice; the device gets the second answer.
    Duplicate,
    /// The request is kept and replayed to the server later, after newer ones (the device gets
    /// an answer now, to a copy sent at once).
    ReplayLater,
}

impl NetFault {
    /// All kinds, for random schedules.
    pub const KINDS: [NetFault; 7] = [
        NetFault::DropRequest,
        NetFault::CutRequest,
        NetFault::DropResponse,
        NetFault::TruncateResponse,
        NetFault::Delay(150),
        NetFault::Duplicate,
        NetFault::ReplayLater,
    ];
}

#[derive(Debug, Default)]
struct Shared {
    faults: Mutex<VecDeque<NetFault>>,
    held: Mutex<Vec<Vec<u8>>>,
    injected: AtomicU64,
    /// Request bytes forwarded so far, and the total at which to cut the connection once.
    forwarded: AtomicU64,
    cut_at: Mutex<Option<u64>>,
}

#[derive(Debug, Clone)]
pub struct FaultProxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Starts forwarding from an ephemeral loopback port to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let accept_shared = shared.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let shared = accept_shared.clone();
                tokio::spawn(async move {
                    let _ = handle(client, upstream, &shared).await;
                });
            }
        });
        Self { addr, shared }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn push(&self, fault: NetFault) {
        self.shared.faults.lock().unwrap_or_else(|e| e.into_inner()).push_back(fault);
    }

    /// The network heals: no more faults are queued.
    pub fn heal(&self) {
        self.shared.faults.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Faults applied so far.
    pub fn injected(&self) -> u64 {
        self.shared.injected.load(Ordering::SeqCst)
    }

    /// Once `bytes` more request bytes (headers and bodies, from now on) have gone through, the
    /// request crossing that mark reaches the server only up to it, then both connections are
    /// cut: a signal lost in the middle of an upload. Counts as one injected fault.
    pub fn cut_after(&self, bytes: u64) {
        let from = self.shared.forwarded.load(Ordering::SeqCst);
        *self.shared.cut_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(from + bytes);
    }
}

async fn handle(
    mut client: TcpStream,
    upstream: SocketAddr,
    shared: &Shared,
) -> std::io::Result<()> {
    let request = read_message(&mut client).await?;
    let before = shared.forwarded.fetch_add(request.len() as u64, Ordering::SeqCst);
    let cut = {
        let mut cut_at = shared.cut_at.lock().unwrap_or_else(|e| e.into_inner());
        match *cut_at {
            Some(at) if before + request.len() as u64 > at => {
                *cut_at = None;
                Some((at.saturating_sub(before)) as usize)
            }
            _ => None,
        }
    };
    if let Some(keep) = cut {
        shared.injected.fetch_add(1, Ordering::SeqCst);
        let mut server = TcpStream::connect(upstream).await?;
        server.write_all(&request[..keep.min(request.len())]).await?;
        return Ok(());
    }
    let fault = shared.faults.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
    if fault.is_some() {
        shared.injected.fetch_add(1, Ordering::SeqCst);
    }
    // Replays held back earlier go out now, after the requests that overtook them.
    let held: Vec<Vec<u8>> = if fault == Some(NetFault::ReplayLater) {
        Vec::new()
    } else {
        std::mem::take(&mut *shared.held.lock().unwrap_or_else(|e| e.into_inner()))
    };
    for old in held {
        let _ = exchange(upstream, &old).await;
    }
    match fault {
        None => reply(&mut client, &exchange(upstream, &request).await?).await,
        Some(NetFault::DropRequest) => Ok(()),
        Some(NetFault::CutRequest) => {
            let mut server = TcpStream::connect(upstream).await?;
            server.write_all(&request[..request.len() / 2]).await?;
            Ok(())
        }
        Some(NetFault::DropResponse) => {
            exchange(upstream, &request).await?;
            Ok(())
        }
        Some(NetFault::TruncateResponse) => {
            let response = exchange(upstream, &request).await?;
            client.write_all(&response[..response.len() / 2]).await?;
            Ok(())
        }
        Some(NetFault::Delay(ms)) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let response = exchange(upstream, &request).await?;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            reply(&mut client, &response).await
        }
        Some(NetFault::Duplicate) => {
            exchange(upstream, &request).await?;
            reply(&mut client, &exchange(upstream, &request).await?).await
        }
        Some(NetFault::ReplayLater) => {
            shared.held.lock().unwrap_or_else(|e| e.into_inner()).push(request.clone());
            reply(&mut client, &exchange(upstream, &request).await?).await
        }
    }
}

/// Sends the response and closes: one request per connection, said in the headers so that the
/// client does not try to reuse it.
async fn reply(client: &mut TcpStream, response: &[u8]) -> std::io::Result<()> {
    let split = find(response, b"\r\n").unwrap_or(0);
    client.write_all(&response[..split + 2]).await?;
    client.write_all(b"connection: close\r\n").await?;
    client.write_all(&response[split + 2..]).await?;
    client.shutdown().await
}

/// One request to the server on a fresh connection, and its whole response.
async fn exchange(upstream: SocketAddr, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(request).await?;
    read_message(&mut server).await
}

/// Reads one HTTP/1.1 message: headers, then `Content-Length` bytes of body.
async fn read_message(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let header_end = loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            break end + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let headers = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let length: usize = headers
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(buf)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A proxy that forwards each request to the server at once but holds the server's response
/// until `release` (a barrier, not a delay): the device's exchange is in flight for as long as
/// a test needs. Each request is announced on `seen` once the server has answered it.
#[derive(Debug)]
pub struct HoldingProxy {
    pub addr: SocketAddr,
    hold: tokio::sync::watch::Sender<bool>,
}

impl HoldingProxy {
    /// Starts holding responses; `seen` receives one message per request the server answered.
    pub async fn start(upstream: SocketAddr) -> (Self, tokio::sync::mpsc::UnboundedReceiver<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (hold, held) = tokio::sync::watch::channel(true);
        let (seen_tx, seen) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut held = held.clone();
                let seen_tx = seen_tx.clone();
                tokio::spawn(async move {
                    let request = read_message(&mut client).await?;
                    let response = exchange(upstream, &request).await?;
                    let _ = seen_tx.send(());
                    // Waits for the release; a dropped proxy releases too.
                    let _ = held.wait_for(|hold| !*hold).await;
                    reply(&mut client, &response).await as std::io::Result<()>
                });
            }
        });
        (Self { addr, hold }, seen)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Lets every held and later response through.
    pub fn release(&self) {
        self.hold.send_replace(false);
    }
}
