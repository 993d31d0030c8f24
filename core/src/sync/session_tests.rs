//! Table-style tests of the pure session: given these inputs, this request / this plan / this
//! next step. No store, no server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use super::*;
use crate::protocol::{encode, DocChanges, DocHeads, Hash, PushDoc, RejectReason, Rejection};
use crate::records::RecordKind;
use crate::store::ImportReport;

fn config(max_exchanges: u32) -> SessionConfig {
    SessionConfig {
        device: "tablet-1".into(),
        max_exchanges,
        response_budget: 1000,
        push_budget: 500,
    }
}

fn push(id: &str, head: u8) -> PushDoc {
    PushDoc {
        id: id.into(),
        kind: RecordKind::Visit,
        case_id: "case-1".into(),
        heads: vec![Hash([head; 32])],
        changes: vec![head],
        signatures: Vec::new(),
        listing: None,
    }
}

fn doc(id: &str) -> DocChanges {
    DocChanges { heads: Vec::new(), ..push(id, 9) }
}

fn quiet() -> SyncResponse {
    SyncResponse {
        version: PROTOCOL_VERSION,
        acks: Vec::new(),
        rejected: Vec::new(),
        docs: Vec::new(),
        allocated: Vec::new(),
        revoked: Vec::new(),
        send_all: Vec::new(),
        next_cursor: 7,
        next_cursor_tag: 70,
        resync: false,
        more: false,
        receipts: Vec::new(),
        keys: Vec::new(),
        server_key: None,
    }
}

fn ack(p: &PushDoc) -> DocHeads {
    DocHeads { id: p.id.clone(), case_id: String::new(), heads: p.heads.clone() }
}

fn applied(acknowledged: usize, created: &[&str]) -> Applied {
    Applied {
        acknowledged,
        import: ImportReport {
            created: created.iter().map(|s| s.to_string()).collect(),
            ..ImportReport::default()
        },
        purged_docs: 0,
    }
}

/// Runs one exchange through the session: the request for `outbox`, then `response`, then what
/// the store reports having done.
fn exchange(
    session: &mut Session,
    outbox: Outbox,
    response: SyncResponse,
    done: Applied,
) -> (SyncRequest, ExchangePlan, Next) {
    let (request, push_more) = session.request(outbox);
    let plan = session.on_response(&request, push_more, response);
    let next = session.on_applied(&done);
    (request, plan, next)
}

#[test]
fn the_request_carries_what_the_store_reported_and_the_budgets() {
    let session = Session::new(config(8));
    assert_eq!(
        session.query(),
        OutboxQuery { push_budget: 500, ..OutboxQuery::default() },
        "a first exchange: no repair, nothing skipped, the push budget"
    );
    let outbox = Outbox {
        cursor: 41,
        cursor_tag: 9,
        push: vec![push("a", 1)],
        push_more: true,
        check: vec![DocHeads {
            id: "a".into(),
            case_id: "case-1".into(),
            heads: vec![Hash([1; 32])],
        }],
        device_key: Some(crate::protocol::PublicKey([3; 32])),
    };
    let (request, push_more) = session.request(outbox.clone());
    assert!(push_more);
    assert_eq!(
        request,
        SyncRequest {
            version: PROTOCOL_VERSION,
            device: "tablet-1".into(),
            cursor: 41,
            cursor_tag: 9,
            push: outbox.push,
            check: outbox.check,
            response_budget: 1000,
            device_key: Some(crate::protocol::PublicKey([3; 32])),
        }
    );
}

#[test]
fn a_response_becomes_one_plan_of_acks_docs_purges_and_the_cursor() {
    let mut session = Session::new(config(8));
    let a = push("a", 1);
    let response = SyncResponse {
        acks: vec![ack(&a)],
        docs: vec![doc("b")],
        revoked: vec!["case-9".into()],
        allocated: vec!["case-2".into()],
        ..quiet()
    };
    let outbox = Outbox { push: vec![a.clone()], ..Outbox::default() };
    let (_, plan, next) = exchange(&mut session, outbox, response, applied(1, &["b"]));
    assert_eq!(
        plan,
        ExchangePlan {
            acks: vec![ack(&a)],
            docs: vec![doc("b")],
            purge: vec!["case-9".into()],
            cursor: Some((7, 70)),
            verify: true,
            ..ExchangePlan::default()
        }
    );
    assert_eq!(next, Next::Done, "everything acknowledged, nothing more");
    let (report, state) = session.finish(Ok(0));
    assert_eq!(state, SyncState::Idle);
    assert_eq!((report.pushed, report.acknowledged, report.pulled), (1, 1, 1));
    assert_eq!(report.purged_cases, vec!["case-9".to_string()]);
    assert_eq!(report.allocated_cases, vec!["case-2".to_string()]);
    assert!(!report.more && !report.resynced && report.failure.is_none());
}

/// Each row: the response's flags, the store's acknowledgement count for two pushes, and what
/// follows (another exchange or not, and whether it checks every document's heads).
#[test]
fn what_follows_an_exchange() {
    struct Row {
        what: &'static str,
        response: SyncResponse,
        push_more: bool,
        acknowledged: usize,
        next: Next,
        check: bool,
        send_all: &'static [&'static str],
    }
    let a = push("a", 1);
    let b = push("b", 2);
    let refused = vec![Rejection { id: "b".into(), reason: RejectReason::NotAllocated }];
    let rows = [
        Row {
            what: "all acknowledged, quiet",
            response: quiet(),
            push_more: false,
            acknowledged: 2,
            next: Next::Done,
            check: false,
            send_all: &[],
        },
        Row {
            what: "the server has more",
            response: SyncResponse { more: true, ..quiet() },
            push_more: false,
            acknowledged: 2,
            next: Next::Exchange,
            check: false,
            send_all: &[],
        },
        Row {
            what: "the push budget left documents out",
            response: quiet(),
            push_more: true,
            acknowledged: 2,
            next: Next::Exchange,
            check: false,
            send_all: &[],
        },
        Row {
            what: "partial acks: one push neither acknowledged nor refused",
            response: quiet(),
            push_more: false,
            acknowledged: 1,
            next: Next::Exchange,
            check: true,
            send_all: &[],
        },
        Row {
            what: "one acknowledged, one refused: settled",
            response: SyncResponse { rejected: refused.clone(), ..quiet() },
            push_more: false,
            acknowledged: 1,
            next: Next::Done,
            check: false,
            send_all: &[],
        },
        Row {
            what: "repair: the server asks for a document in full",
            response: SyncResponse { send_all: vec!["a".into()], ..quiet() },
            push_more: false,
            acknowledged: 1,
            next: Next::Exchange,
            check: false,
            send_all: &["a"],
        },
        Row {
            what: "cursor tag changed (server restored from backup): resync, then check all",
            response: SyncResponse { resync: true, ..quiet() },
            push_more: false,
            acknowledged: 0,
            next: Next::Exchange,
            check: true,
            send_all: &[],
        },
    ];
    for row in rows {
        let mut session = Session::new(config(8));
        let outbox = Outbox {
            push: vec![a.clone(), b.clone()],
            push_more: row.push_more,
            ..Outbox::default()
        };
        let resync = row.response.resync;
        let (_, _, next) =
            exchange(&mut session, outbox, row.response, applied(row.acknowledged, &[]));
        assert_eq!(next, row.next, "{}", row.what);
        let query = session.query();
        assert_eq!(query.check, row.check, "{}", row.what);
        let send_all: HashSet<String> = row.send_all.iter().map(|s| s.to_string()).collect();
        assert_eq!(query.send_all, send_all, "{}", row.what);
        let (report, _) = session.finish(Ok(0));
        assert_eq!(report.resynced, resync, "{}", row.what);
    }
}

#[test]
fn a_refused_document_is_not_offered_again_in_the_same_call() {
    let mut session = Session::new(config(8));
    let response = SyncResponse {
        rejected: vec![Rejection { id: "b".into(), reason: RejectReason::WrongAuthor }],
        more: true,
        ..quiet()
    };
    let outbox = Outbox { push: vec![push("b", 2)], ..Outbox::default() };
    let (_, _, next) = exchange(&mut session, outbox, response, applied(0, &[]));
    assert_eq!(next, Next::Exchange);
    assert!(session.query().skip.contains("b"));
    let (report, _) = session.finish(Ok(0));
    assert_eq!(report.rejected, vec![("b".to_string(), RejectReason::WrongAuthor)]);
}

#[test]
fn the_exchange_budget_bounds_one_call() {
    let mut session = Session::new(config(2));
    let more = || SyncResponse { more: true, ..quiet() };
    let (_, _, first) = exchange(&mut session, Outbox::default(), more(), applied(0, &[]));
    assert_eq!(first, Next::Exchange);
    let (_, _, second) = exchange(&mut session, Outbox::default(), more(), applied(0, &[]));
    assert_eq!(second, Next::Done, "two exchanges at most");
    let (report, _) = session.finish(Ok(0));
    assert!(report.more, "the app is told to call again");
}

#[test]
fn failures_end_the_call_in_the_state_they_mean() {
    let rows = [
        (Some(SyncFailure::Offline), Ok(0), SyncState::Offline),
        (
            Some(SyncFailure::Unauthorized),
            Ok(0),
            SyncState::Error { reason: SyncFailure::Unauthorized },
        ),
        (None, Ok(3), SyncState::Idle),
        (
            None,
            Err(SyncFailure::Store { message: "disk".into() }),
            SyncState::Error { reason: SyncFailure::Store { message: "disk".into() } },
        ),
    ];
    for (failure, conflicts, state) in rows {
        let mut session = Session::new(config(8));
        if let Some(f) = failure.clone() {
            session.fail(f);
        }
        assert_eq!(session.succeeded(), failure.is_none());
        let (report, got) = session.finish(conflicts);
        assert_eq!(got, state);
        // The first failure is the one reported.
        if let Some(f) = failure {
            assert_eq!(report.failure, Some(f));
        }
    }
}

/// One HTTP attempt's outcome, as the transport reports it.
type Outcome = Result<HttpResponse, TransportError>;

fn http(status: u16, body: Vec<u8>) -> Outcome {
    Ok(HttpResponse { status, body })
}

fn policy(attempts: u32) -> RetryPolicy {
    RetryPolicy { attempts, base: Duration::from_millis(1), max: Duration::from_millis(2) }
}

#[test]
fn retries_backoff_and_the_token_refresh() {
    let error = |message: &str| encode(&ErrorBody::new("forbidden", message));
    // Each row: the outcomes of successive attempts, and the steps the session takes.
    let rows: Vec<(&str, Vec<Outcome>, Vec<Attempt>)> = vec![
        ("answered", vec![http(200, vec![1])], vec![Attempt::Deliver(vec![1])]),
        (
            "a refused token is refreshed once, not counted as an attempt",
            vec![http(401, vec![]), http(503, vec![]), http(401, vec![])],
            vec![
                Attempt::RefreshToken,
                Attempt::RetryAfter(1),
                Attempt::Fail(SyncFailure::Unauthorized),
            ],
        ),
        (
            "busy, failed, offline, interrupted: retried, then the last failure",
            vec![
                http(503, vec![]),
                Err(TransportError::Offline("no signal".into())),
                Err(TransportError::Interrupted("reset".into())),
                http(500, vec![]),
            ],
            vec![
                Attempt::RetryAfter(1),
                Attempt::RetryAfter(2),
                Attempt::RetryAfter(3),
                Attempt::Fail(SyncFailure::Server { status: 500 }),
            ],
        ),
        (
            "forbidden is final, with the server's message",
            vec![http(403, error("this role may not sync a device"))],
            vec![Attempt::Fail(SyncFailure::Forbidden {
                message: "this role may not sync a device".into(),
            })],
        ),
        (
            "another status is the protocol's failure, not retried",
            vec![http(400, error("bad"))],
            vec![Attempt::Fail(SyncFailure::Protocol { message: "HTTP 400: bad".into() })],
        ),
    ];
    for (what, outcomes, steps) in rows {
        let mut attempts = Attempts::new(policy(4));
        let got: Vec<Attempt> = outcomes.into_iter().map(|o| attempts.on_outcome(o)).collect();
        assert_eq!(got, steps, "{what}");
    }
    let mut attempts = Attempts::new(policy(4));
    assert!(!attempts.refresh());
    attempts.on_outcome(http(401, vec![]));
    assert!(attempts.refresh(), "the next token is a fresh one");
}

#[test]
fn a_body_that_is_not_a_response_is_the_protocols_failure() {
    assert!(matches!(decode_response(b"\xffnot cbor"), Err(SyncFailure::Protocol { .. })));
    assert_eq!(decode_response(&encode(&quiet())).unwrap(), quiet());
}

#[test]
fn the_next_pull_is_predicted_only_for_a_plain_continuation() {
    let session = Session::new(config(3));
    let (request, _) = session.request(Outbox { cursor: 5, cursor_tag: 50, ..Outbox::default() });
    let more = SyncResponse { more: true, ..quiet() };
    assert_eq!(
        session.next_pull(&request, false, &more),
        Some(SyncRequest { cursor: 7, cursor_tag: 70, ..request.clone() }),
        "the same request from the response's cursor"
    );

    let pushing = session.request(Outbox { push: vec![push("a", 1)], ..Outbox::default() }).0;
    let checking = SyncRequest { check: vec![ack(&push("a", 1))], ..request.clone() };
    let refused = Rejection { id: "a".into(), reason: RejectReason::NotAllocated };
    for (why, request, push_more, response) in [
        ("it pushed", &pushing, false, more.clone()),
        ("it checked heads (a repair)", &checking, false, more.clone()),
        ("pushes are left for the next request", &request, true, more.clone()),
        ("the server has nothing more", &request, false, quiet()),
        (
            "the server asks for documents whole",
            &request,
            false,
            SyncResponse { send_all: vec!["a".into()], ..more.clone() },
        ),
        (
            "the server refused a push",
            &request,
            false,
            SyncResponse { rejected: vec![refused.clone()], ..more.clone() },
        ),
        ("the server resyncs", &request, false, SyncResponse { resync: true, ..more.clone() }),
    ] {
        assert_eq!(session.next_pull(request, push_more, &response), None, "{why}");
    }

    // Three exchanges at most: after the second, no third is predicted.
    let mut session = Session::new(config(3));
    let (_, _, next) = exchange(&mut session, Outbox::default(), more.clone(), applied(0, &[]));
    assert_eq!(next, Next::Exchange);
    assert!(session.next_pull(&request, false, &more).is_some(), "the third may follow");
    let (_, _, next) = exchange(&mut session, Outbox::default(), more.clone(), applied(0, &[]));
    assert_eq!(next, Next::Exchange);
    assert_eq!(session.next_pull(&request, false, &more), None, "no fourth");
}
