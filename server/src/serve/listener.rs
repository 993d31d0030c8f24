//! The accept loop and each connection's life: a cap on connections served at once, header and
//! idle timeouts, and a graceful drain on shutdown. `axum::serve` has none of the first three, and
//! a client that sends half a request and stops would otherwise hold its connection forever.
//!
//! Each connection is HTTP/1.1 (what devices and the case system speak; TLS and HTTP/2 end at the
//! council's proxy). Its socket is wrapped so the connection's task sees when bytes arrive, and
//! its service so the task sees when a request starts and ends; from those the task knows which
//! deadline applies:
//! - no request in flight and no byte of the next one yet: the idle timeout, from the last byte;
//! - the first byte of a request's headers has arrived: the header timeout, from that byte;
//! - a request in flight: none here (its body has the body timeout, see `middleware`; the
//!   server's own work is not the client's fault).
//!
//! A deadline passed closes the connection. On shutdown the listener closes, idle connections
//! close at once, requests in flight finish (their responses say `connection: close`), and after
//! `shutdown_timeout` whatever is left is closed.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;

use super::options::ConnectionLimits;

/// Sent to every connection's task when the server stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    /// Finish the request in flight, accept no further one on this connection.
    Draining,
    /// The drain took too long: close now.
    Closing,
}

/// The written answer to a connection over the cap: the client's retry logic knows 503.
const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\n\
connection: close\r\ncontent-type: text/plain\r\ncontent-length: 27\r\n\r\n\
too many connections: retry";

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then drains.
pub(super) async fn serve_connections(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = limits.max_connections as usize;
    let permits = Arc::new(Semaphore::new(slots));
    let (phase, phase_rx) = watch::channel(Phase::Serving);
    let mut saturated = false;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                // Out of file descriptors, say: wait a little instead of spinning on the error.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                if saturated {
                    tracing::info!("below the connection limit again");
                    saturated = false;
                }
                tokio::spawn(connection(stream, app.clone(), limits, phase_rx.clone(), permit));
            }
            Err(_) => {
                if !saturated {
                    tracing::warn!(
                        max_connections = slots,
                        "connection limit reached: refusing new connections"
                    );
                    saturated = true;
                }
                // A fresh socket's send buffer is empty: this never blocks, and a client that
                // does not read it loses nothing but the explanation.
                let _ = stream.try_write(OVER_CAPACITY);
            }
        }
    }
    drop(listener);
    let open = slots - permits.available_permits();
    tracing::info!(connections = open, "stopped accepting: draining connections");
    let _ = phase.send(Phase::Draining);
    // Every connection's task holds a permit until it ends: all permits back = all drained.
    let all = u32::try_from(slots).unwrap_or(u32::MAX);
    let drained = tokio::time::timeout(limits.shutdown_timeout, permits.acquire_many(all)).await;
    if drained.is_err() {
        let left = slots - permits.available_permits();
        tracing::warn!(connections = left, "shutdown timeout: closing the remaining connections");
        let _ = phase.send(Phase::Closing);
        let _ = permits.acquire_many(all).await;
    }
    Ok(())
}

/// One connection, from accept to close.
async fn connection(
    stream: TcpStream,
    app: Router,
    limits: ConnectionLimits,
    mut phase: watch::Receiver<Phase>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let Some((stream, peek)) = with_peek_handle(stream) else { return };
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched { inner: stream, activity: activity.clone(), linger: None });
    let on_request = activity.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let in_flight = InFlight::begin(&on_request);
        let app = app.clone();
        async move {
            let response = app.oneshot(request.map(Body::new)).await;
            drop(in_flight);
            response
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        // The header deadline is ours (from the first byte, not from the previous response).
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(conn);
    // Set when the drain begins, cleared once hyper has been told (see `ready_to_drain`).
    let mut drain_pending = *phase.borrow() != Phase::Serving;
    loop {
        if drain_pending && activity.ready_to_drain(peek.as_ref()) {
            conn.as_mut().graceful_shutdown();
            drain_pending = false;
        }
        let deadline = activity.deadline(&limits);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    // A client that went away mid-request, a malformed request: theirs.
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = sleep_until(deadline) => {
                if let Some(which) = activity.expired(&limits) {
                    tracing::info!(timeout = which, "slow client disconnected");
                    return;
                }
            }
            () = activity.changed.notified() => {}
            changed = phase.changed() => match changed.map(|()| *phase.borrow()) {
                Ok(Phase::Serving) => {}
                Ok(Phase::Draining) => drain_pending = true,
                Ok(Phase::Closing) | Err(_) => return,
            },
        }
    }
}

/// The stream, and a second handle on the same socket to look at unread bytes with (`peek`),
/// which hyper's ownership of the stream does not allow otherwise. The handle is None if the
/// socket cannot be duplicated (no descriptor left): the drain then treats the connection as
/// having nothing waiting. None overall if the socket cannot be moved at all (it is closed).
fn with_peek_handle(stream: TcpStream) -> Option<(TcpStream, Option<std::net::TcpStream>)> {
    let std_stream = stream.into_std().ok()?;
    let peek = std_stream.try_clone().ok();
    Some((TcpStream::from_std(std_stream).ok()?, peek))
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What the connection's task needs to know to pick its deadline.
#[derive(Debug)]
struct Activity {
    state: Mutex<ActivityState>,
    /// Woken when the deadline in force changes kind (a request starts or ends, headers start).
    changed: Notify,
}

#[derive(Debug)]
struct ActivityState {
    in_flight: usize,
    /// The last byte read or written.
    last: Instant,
    /// The first byte of the headers of a request not yet handed to the service.
    headers_since: Option<Instant>,
}

impl Activity {
    fn new() -> Self {
        Self {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                last: Instant::now(),
                headers_since: None,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ActivityState> {
        // The state is a few numbers, consistent after every statement: a panic elsewhere while
        // holding the lock leaves nothing half-written.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) {
        let now = Instant::now();
        let mut state = self.lock();
        state.last = now;
        if state.in_flight == 0 && state.headers_since.is_none() {
            state.headers_since = Some(now);
            drop(state);
            self.changed.notify_one();
        }
    }

    fn wrote(&self) {
        self.lock().last = Instant::now();
    }

    /// The deadline in force and which timeout it is.
    fn current(&self, limits: &ConnectionLimits) -> Option<(Instant, &'static str)> {
        let state = self.lock();
        if state.in_flight > 0 {
            None
        } else if let Some(since) = state.headers_since {
            Some((since + limits.header_timeout, "header"))
        } else {
            Some((state.last + limits.idle_timeout, "idle"))
        }
    }

    /// Whether a draining connection may be told to finish now. Told while idle, hyper closes
    /// at once; so a connection whose next request has begun to arrive (bytes read, or waiting
    /// unread in the socket) is told only once that request is in flight — then it finishes with
    /// `connection: close`. A request that never completes meets its header deadline.
    fn ready_to_drain(&self, peek: Option<&std::net::TcpStream>) -> bool {
        let state = self.lock();
        if state.in_flight > 0 {
            return true;
        }
        let waiting = peek.is_some_and(|p| matches!(p.peek(&mut [0u8; 1]), Ok(n) if n > 0));
        state.headers_since.is_none() && !waiting
    }

    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        self.current(limits).map(|(at, _)| at)
    }

    fn expired(&self, limits: &ConnectionLimits) -> Option<&'static str> {
        self.current(limits).filter(|(at, _)| *at <= Instant::now()).map(|(_, which)| which)
    }
}

/// A request being handled on the connection: no connection deadline runs meanwhile.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(activity: &Arc<Activity>) -> Self {
        {
            let mut state = activity.lock();
            state.in_flight += 1;
            state.headers_since = None;
        }
        activity.changed.notify_one();
        Self(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        {
            let mut state = self.0.lock();
            state.in_flight = state.in_flight.saturating_sub(1);
            state.last = Instant::now();
        }
        self.0.changed.notify_one();
    }
}

/// How long a closing connection keeps reading (and discarding) what the client still sends, so
/// that the client gets to read the last response (see `Watched::poll_shutdown`).
const LINGER: Duration = Duration::from_secs(2);

/// The socket, reporting reads and writes to the connection's [`Activity`].
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
    /// Set once the write side is closed: the end of the lingering read.
    linger: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// Closes the write side, then reads and discards what the client still sends until it
    /// closes too or [`LINGER`] has passed. Closing a socket with unread bytes in it sends a
    /// reset, which can destroy the response before the client has read it: the 413 to a client
    /// still sending an oversized body, the 408 to a trickling one.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let linger = match &mut this.linger {
            Some(linger) => linger,
            None => {
                std::task::ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
                this.linger.insert(Box::pin(tokio::time::sleep(LINGER)))
            }
        };
        let mut scratch = [0u8; 4096];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => continue,
                Poll::Ready(_) => return Poll::Ready(Ok(())),
                Poll::Pending => {
                    return match linger.as_mut().poll(cx) {
                        Poll::Ready(()) => Poll::Ready(Ok(())),
                        Poll::Pending => Poll::Pending,
                    }
                }
            }
        }
    }
}
