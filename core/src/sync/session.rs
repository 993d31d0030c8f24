//! The sync session, sans I/O: every decision of one `sync()` call as plain functions over plain
//! values, with no store, no network and no async (plan, then execute). `SyncClient` drives it:
//!
//! 1. `Session::query` says what to read from the store (`Store::outbox`);
//! 2. `Session::request` builds the request from what the store reported;
//! 3. `Attempts::on_outcome` classifies each HTTP attempt (deliver, refresh the token, retry
//!    after a pause, or fail);
//! 4. `Session::on_response` turns a decoded response into an `ExchangePlan` of store operations
//!    (acknowledge, receive, purge, set the cursor), which the driver commits in one transaction
//!    (`Store::apply_exchange`);
//! 5. `Session::on_applied` takes what the store did and decides: another exchange (more to
//!    send or receive, a repair, a resync, pushes left unacknowledged) or done;
//! 6. `Session::finish` closes the report.

use std::collections::HashSet;

use crate::protocol::{decode, limits, ErrorBody, SyncRequest, SyncResponse, PROTOCOL_VERSION};
use crate::store::{Applied, ExchangePlan, Outbox, OutboxQuery};

use super::transport::{HttpResponse, RetryPolicy, TransportError};
use super::{SyncFailure, SyncReport, SyncState};

/// The fixed inputs of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    pub device: String,
    /// Exchanges per call while there is more to do: bounds the work of one call.
    pub max_exchanges: u32,
    /// The most payload bytes asked for per response.
    pub response_budget: u64,
    /// Bytes of changes pushed per request (at least one document is always sent).
    pub push_budget: usize,
}

/// What the session learnt from one response, kept until the store has applied it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct InFlight {
    pushed: usize,
    refused: usize,
    repair_needed: bool,
    resync: bool,
    more: bool,
}

/// What to do after an exchange was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Exchange,
    Done,
}

/// The state of one `sync()` call.
#[derive(Debug, Clone)]
pub struct Session {
    config: SessionConfig,
    /// Documents the server asked for in full (repair) in the last response.
    send_all: HashSet<String>,
    /// Documents the server refused in this call: kept on the device (nothing typed is dropped)
    /// but not offered again until the next call, so a refusal cannot loop.
    refused: HashSet<String>,
    /// The next request lists the heads of every document (repair).
    check: bool,
    exchanges: u32,
    in_flight: Option<InFlight>,
    report: SyncReport,
}

impl Session {
    pub fn new(config: SessionConfig) -> Self {
        Self {
            config,
            send_all: HashSet::new(),
            refused: HashSet::new(),
            check: false,
            exchanges: 0,
            in_flight: None,
            report: SyncReport::default(),
        }
    }

    /// What the store must report for the next request.
    pub fn query(&self) -> OutboxQuery {
        OutboxQuery {
            send_all: self.send_all.clone(),
            skip: self.refused.clone(),
            push_budget: self.config.push_budget,
            check: self.check,
        }
    }

    /// The request for what the store reported.
    pub fn request(&self, outbox: Outbox) -> (SyncRequest, bool) {
        let request = SyncRequest {
            version: PROTOCOL_VERSION,
            device: self.config.device.clone(),
            cursor: outbox.cursor,
            cursor_tag: outbox.cursor_tag,
            push: outbox.push,
            check: outbox.check,
            response_budget: self.config.response_budget,
            device_key: outbox.device_key,
        };
        (request, outbox.push_more)
    }

    /// The request expected to follow `request` once `response` is applied, when it is a
    /// plain continuation of the pull: nothing was pushed or checked, the server has more to
    /// send and asked for no repair, refused nothing and did not resync, and the call may make
    /// another exchange. It is the same request from the response's cursor. The driver sends
    /// it while the store applies `response` (the server computes the next page while the
    /// device commits this one) and uses its answer only if the request the store then reports
    /// is exactly this one: a pull changes nothing on the server, so an answer to an identical
    /// request sent a little earlier is an answer to that request. Call before `on_response`.
    pub fn next_pull(
        &self,
        request: &SyncRequest,
        push_more: bool,
        response: &SyncResponse,
    ) -> Option<SyncRequest> {
        let plain = request.push.is_empty()
            && request.check.is_empty()
            && !push_more
            && response.more
            && response.send_all.is_empty()
            && response.rejected.is_empty()
            && !response.resync;
        // `exchanges` counts those answered before this one: this response is number
        // `exchanges + 1`, and another may follow only below the bound.
        if !plain || self.exchanges + 1 >= self.config.max_exchanges {
            return None;
        }
        Some(SyncRequest {
            cursor: response.next_cursor,
            cursor_tag: response.next_cursor_tag,
            ..request.clone()
        })
    }

    /// Counts one HTTP request (retries included).
    pub fn note_request(&mut self) {
        self.report.requests += 1;
    }

    /// The store operations for a response to `request` (`push_more`: the store left pending
    /// documents out of it). The order the store applies them in is `Store::apply_exchange`'s.
    pub fn on_response(
        &mut self,
        request: &SyncRequest,
        push_more: bool,
        response: SyncResponse,
    ) -> ExchangePlan {
        self.exchanges += 1;
        let report = &mut self.report;
        report.pushed += request.push.len();
        report.rejected.extend(response.rejected.iter().map(|r| (r.id.clone(), r.reason)));
        report.purged_cases.extend(response.revoked.iter().cloned());
        report.allocated_cases.extend(response.allocated.iter().cloned());
        report.more = response.more || push_more;
        report.resynced |= response.resync;
        self.refused.extend(response.rejected.iter().map(|r| r.id.clone()));
        let repair_needed = !response.send_all.is_empty() || response.resync;
        self.send_all = response.send_all.into_iter().collect();
        self.in_flight = Some(InFlight {
            pushed: request.push.len(),
            refused: response.rejected.len(),
            repair_needed,
            resync: response.resync,
            more: report.more,
        });
        ExchangePlan {
            acks: response.acks,
            docs: response.docs,
            purge: response.revoked,
            refused: response.rejected.iter().map(|r| r.id.clone()).collect(),
            forget_acks: response.resync,
            cursor: Some((response.next_cursor, response.next_cursor_tag)),
            verify: true,
            keys: response.keys,
            server_key: response.server_key,
            receipts: response.receipts,
        }
    }

    /// Takes what the store did with the last plan and decides what follows.
    pub fn on_applied(&mut self, applied: &Applied) -> Next {
        self.report.acknowledged += applied.acknowledged;
        self.report.pulled += applied.import.created.len() + applied.import.updated.len();
        for (id, reason) in &applied.import.rejected {
            tracing::warn!(doc = %id, %reason, "received document refused");
            self.report.refused.push((id.clone(), reason.clone()));
        }
        let Some(flight) = self.in_flight.take() else { return Next::Done };
        // Pushes the server could neither take whole nor refuse (it lacked earlier changes,
        // e.g. after a restore from backup) are repaired in the next exchange.
        let unacked =
            flight.pushed > applied.acknowledged + flight.refused && !flight.repair_needed;
        self.check = unacked || flight.resync;
        if (!flight.more && !flight.repair_needed && !unacked)
            || self.exchanges >= self.config.max_exchanges
        {
            return Next::Done;
        }
        Next::Exchange
    }

    /// The sync stopped on `failure`.
    pub fn fail(&mut self, failure: SyncFailure) {
        self.report.failure.get_or_insert(failure);
    }

    /// Whether the call has completed so far without failure (then "last synced" moves).
    pub fn succeeded(&self) -> bool {
        self.report.failure.is_none()
    }

    /// Closes the report with the conflicts left to resolve (or the store's failure to count
    /// them, or to record the sync time): the report and the state to show.
    pub fn finish(mut self, conflicts: Result<usize, SyncFailure>) -> (SyncReport, SyncState) {
        match conflicts {
            Ok(n) => self.report.conflicts = n,
            Err(f) => self.fail(f),
        }
        let state = match &self.report.failure {
            None => SyncState::Idle,
            Some(SyncFailure::Offline) => SyncState::Offline,
            Some(f) => SyncState::Error { reason: f.clone() },
        };
        (self.report, state)
    }
}

/// What to do after one HTTP attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The server answered 200: decode this body.
    Deliver(Vec<u8>),
    /// Ask for a fresh token and try again at once (the first 401).
    RefreshToken,
    /// Wait `RetryPolicy::delay(n)` and try again.
    RetryAfter(u32),
    Fail(SyncFailure),
}

/// The retry state of one request: attempts made, whether the token was refreshed.
#[derive(Debug, Clone)]
pub struct Attempts {
    policy: RetryPolicy,
    attempt: u32,
    refreshed: bool,
}

impl Attempts {
    pub fn new(policy: RetryPolicy) -> Self {
        Self { policy, attempt: 0, refreshed: false }
    }

    /// Whether the next token should be a fresh one (the server refused the last).
    pub fn refresh(&self) -> bool {
        self.refreshed
    }

    /// Classifies one attempt's outcome: network failures and busy or failed servers are
    /// retried with backoff up to the policy's attempts; the token is refreshed once on 401.
    pub fn on_outcome(&mut self, outcome: Result<HttpResponse, TransportError>) -> Attempt {
        let retryable = match outcome {
            Ok(r) if r.status == 200 => return Attempt::Deliver(r.body),
            // A refresh does not count as an attempt: it is not the network failing.
            Ok(r) if r.status == 401 && !self.refreshed => {
                self.refreshed = true;
                return Attempt::RefreshToken;
            }
            Ok(r) if r.status == 401 => return Attempt::Fail(SyncFailure::Unauthorized),
            Ok(r) if r.status == 403 => {
                return Attempt::Fail(SyncFailure::Forbidden { message: error_message(&r.body) })
            }
            Ok(r) if RetryPolicy::retry_status(r.status) => {
                SyncFailure::Server { status: r.status }
            }
            Ok(r) => {
                return Attempt::Fail(SyncFailure::Protocol {
                    message: format!("HTTP {}: {}", r.status, error_message(&r.body)),
                })
            }
            Err(TransportError::Offline(_)) => SyncFailure::Offline,
            // The request may have been applied: retrying is safe because an exchange is
            // idempotent (changes already held are no-ops; the cursor has not moved).
            Err(TransportError::Interrupted(_)) => SyncFailure::Offline,
        };
        self.attempt += 1;
        if self.attempt >= self.policy.attempts {
            return Attempt::Fail(retryable);
        }
        Attempt::RetryAfter(self.attempt)
    }
}

/// Decodes a 200 body; one that is not a bounded `SyncResponse` of this version is the
/// protocol's failure.
pub fn decode_response(body: &[u8]) -> Result<SyncResponse, SyncFailure> {
    decode(body, limits::MAX_RESPONSE_BYTES)
        .map_err(|e| SyncFailure::Protocol { message: e.to_string() })
}

/// A failure of the device's store, as the sync reports it.
pub fn store_failure(e: crate::Error) -> SyncFailure {
    match e {
        crate::Error::ServerKeyChanged { pinned, presented } => {
            SyncFailure::ServerKeyChanged { pinned, presented }
        }
        e => SyncFailure::Store { message: e.to_string() },
    }
}

/// The message of a CBOR error body, empty when the body is not one.
fn error_message(body: &[u8]) -> String {
    decode::<ErrorBody>(body, limits::MAX_RESPONSE_BYTES).map(|e| e.message).unwrap_or_default()
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
