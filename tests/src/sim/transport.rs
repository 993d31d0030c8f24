//! The in-process network: a `Transport` that hands each request straight to the server's axum
//! router (`tower::ServiceExt::oneshot`: authentication, body limits and CBOR decoding stay in
//! the loop; no socket is opened), and the faults the scheduler decides for each request.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, Request};
use axum::Router;
use fieldbook_core::protocol::{
    decode, encode, limits, DocHeads, SyncRequest, SyncResponse, CONTENT_TYPE,
};
use fieldbook_core::sync::transport::{HttpResponse, Transport, TransportError};
use tokio::sync::Notify;
use tower::ServiceExt;

/// What happens to one request. The scheduler queues one per request it expects a sync to make;
/// a request with nothing queued is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Deliver,
    /// The request never reaches the server (no signal).
    LoseRequest,
    /// The server applies the request; its response is lost on the way back.
    LoseResponse,
    /// The request reaches the server twice in a row; the device sees one of the two answers.
    Duplicate {
        answer_second: bool,
    },
    /// The request is held in the network (the device gives up on it) and reaches the server
    /// later, after requests sent after it: reordering.
    Delay,
    /// Delivered and answered now, and a copy reaches the server again later.
    DuplicateLater,
    /// The server applies the request, then the app is killed before the response arrives: the
    /// sync future is dropped in the middle and the store closed without the response's commit.
    KillAfterDelivery,
    /// Sabotage, only in the test that proves the simulation catches bugs: the pushed changes
    /// are acknowledged without reaching the server (a server that forgets a change).
    ForgetPush,
}

/// A request held in the network, to be delivered later.
#[derive(Debug, Clone)]
pub struct Held {
    pub device: String,
    pub body: Vec<u8>,
    pub token: String,
}

/// The network between every device and the server, and the trace of what crossed it.
#[derive(Default)]
pub struct Network {
    router: Mutex<Option<Router>>,
    held: Mutex<Vec<Held>>,
    trace: Mutex<Vec<String>>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network").finish_non_exhaustive()
    }
}

impl Network {
    /// The server now answering (None: it is down, requests fail as if refused).
    pub fn set_router(&self, router: Option<Router>) {
        *self.router.lock().unwrap() = router;
    }

    pub fn note(&self, line: String) {
        self.trace.lock().unwrap().push(line);
    }

    /// The lines noted since the last call.
    pub fn take_trace(&self) -> Vec<String> {
        std::mem::take(&mut *self.trace.lock().unwrap())
    }

    pub fn hold(&self, held: Held) {
        self.held.lock().unwrap().push(held);
    }

    pub fn held_count(&self) -> usize {
        self.held.lock().unwrap().len()
    }

    /// Takes the held request number `index` (None when there is none).
    pub fn take_held(&self, index: usize) -> Option<Held> {
        let mut held = self.held.lock().unwrap();
        (index < held.len()).then(|| held.remove(index))
    }

    /// One POST /v1/sync through the router, as the HTTP listener would hand it over.
    pub async fn deliver(
        &self,
        body: Vec<u8>,
        token: &str,
    ) -> Result<HttpResponse, TransportError> {
        let router = self.router.lock().unwrap().clone();
        let Some(router) = router else {
            return Err(TransportError::Offline("the server is down".into()));
        };
        let request = Request::post("/v1/sync")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, CONTENT_TYPE)
            .body(Body::from(body))
            .unwrap();
        let response = match router.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .map_err(|e| TransportError::Interrupted(e.to_string()))?;
        Ok(HttpResponse { status, body: body.to_vec() })
    }

    /// Delivers a held request; its answer goes nowhere (the device gave up on it long ago).
    pub async fn deliver_held(&self, held: Held) -> Option<u16> {
        self.deliver(held.body, &held.token).await.ok().map(|r| r.status)
    }
}

/// One device's side of the network.
#[derive(Debug, Clone)]
pub struct SimTransport {
    net: Arc<Network>,
    device: String,
    /// The faults of the requests to come, in order.
    pub plan: Arc<Mutex<VecDeque<Fault>>>,
    /// Told when the app is to be killed (`Fault::KillAfterDelivery`).
    pub killed: Arc<Notify>,
}

impl SimTransport {
    pub fn new(net: Arc<Network>, device: &str) -> Self {
        Self {
            net,
            device: device.to_string(),
            plan: Arc::new(Mutex::new(VecDeque::new())),
            killed: Arc::new(Notify::new()),
        }
    }

    fn outcome(&self, fault: Fault, result: &Result<HttpResponse, TransportError>) {
        let what = match result {
            Ok(r) => format!("HTTP {}", r.status),
            Err(e) => format!("{e}"),
        };
        self.net.note(format!("    {} post {fault:?}: {what}", self.device));
    }

    /// The sabotage: the push is taken out of the request and acknowledged in the response.
    async fn forget_push(
        &self,
        body: Vec<u8>,
        token: &str,
    ) -> Result<HttpResponse, TransportError> {
        let Ok(mut request) = decode::<SyncRequest>(&body, limits::MAX_REQUEST_BYTES) else {
            return self.net.deliver(body, token).await;
        };
        let forged: Vec<DocHeads> = request
            .push
            .drain(..)
            .map(|p| DocHeads { id: p.id, case_id: String::new(), heads: p.heads })
            .collect();
        let mut response = self.net.deliver(encode(&request), token).await?;
        if response.status == 200 {
            if let Ok(mut answer) =
                decode::<SyncResponse>(&response.body, limits::MAX_RESPONSE_BYTES)
            {
                answer.acks.extend(forged);
                response.body = encode(&answer);
            }
        }
        Ok(response)
    }
}

impl Transport for SimTransport {
    async fn post(&self, body: Vec<u8>, token: String) -> Result<HttpResponse, TransportError> {
        let fault = self.plan.lock().unwrap().pop_front().unwrap_or(Fault::Deliver);
        let result = match fault {
            Fault::Deliver => self.net.deliver(body, &token).await,
            Fault::LoseRequest => Err(TransportError::Offline("request lost".into())),
            Fault::LoseResponse => {
                let _ = self.net.deliver(body, &token).await;
                Err(TransportError::Interrupted("response lost".into()))
            }
            Fault::Duplicate { answer_second } => {
                let first = self.net.deliver(body.clone(), &token).await;
                let second = self.net.deliver(body, &token).await;
                if answer_second {
                    second
                } else {
                    first
                }
            }
            Fault::Delay => {
                self.net.hold(Held { device: self.device.clone(), body, token });
                Err(TransportError::Interrupted("request delayed in the network".into()))
            }
            Fault::DuplicateLater => {
                let copy = Held { device: self.device.clone(), body: body.clone(), token };
                let result = self.net.deliver(body, &copy.token).await;
                self.net.hold(copy);
                result
            }
            Fault::KillAfterDelivery => {
                let result = self.net.deliver(body, &token).await;
                self.outcome(fault, &result);
                self.killed.notify_one();
                // The app is gone: this future is dropped and never completes.
                return std::future::pending().await;
            }
            Fault::ForgetPush => self.forget_push(body, &token).await,
        };
        self.outcome(fault, &result);
        result
    }
}
