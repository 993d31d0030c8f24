//! Issue #10, points 2 and 3, over real HTTP: document ids are namespaced by who may create them
//! (a device cannot squat the id of a future case's summary), and no answer tells a device
//! whether a document it may not see exists (a differential test: the same probes against a
//! foreign existing id and an unknown one give byte-identical responses).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use chrono::Utc;
use fieldbook_core::document::{Author, RecordDoc};
use fieldbook_core::protocol::{
    decode, encode, to_hashes, DocHeads, Hash, KeyPair, PushDoc, RejectReason, SyncRequest,
    SyncResponse, PROTOCOL_VERSION,
};
use fieldbook_core::records::{case_summary_id, new_record_id, RecordBody, RecordKind};
use fieldbook_tests::sync_env::{token_of, SyncEnv};
use fieldbook_tests::{realistic_visit, visit_body};
use reqwest::Method;

fn request(push: Vec<PushDoc>, check: Vec<DocHeads>) -> Vec<u8> {
    encode(&SyncRequest {
        version: PROTOCOL_VERSION,
        device: "probe".into(),
        cursor: 0,
        cursor_tag: 0,
        push,
        check,
        response_budget: 1 << 22,
        device_key: None,
    })
}

async fn exchange(env: &SyncEnv, who: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    env.call(Method::POST, "/v1/sync", Some(&token_of(who)), Some(body)).await
}

/// A visit document made by hand (not through a store), under any id the forger likes.
fn forged_visit(worker: &str, id: &str, case: &str) -> (Vec<Hash>, Vec<u8>) {
    let body = visit_body(realistic_visit(3));
    let mut doc = RecordDoc::create(
        &Author::new(worker, "forger"),
        id.into(),
        case.into(),
        &body,
        Utc::now(),
    )
    .unwrap();
    (to_hashes(&doc.heads()), doc.save_after(&[]))
}

/// The exact attack of the issue: a worker pushes, under their own case, a visit whose id is the
/// summary id of a case the case system has not created yet. It is refused, and the case system
/// then creates that case as usual (before, the push was acknowledged and every later
/// `PUT /api/v1/cases/<case>` failed with 400).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_cannot_squat_the_summary_id_of_a_future_case() {
    let env = SyncEnv::start().await;
    env.upsert_case("case-a", "LCA", "amara", "north").await;
    let squatted = case_summary_id("case-future");
    let (heads, changes) = forged_visit("amara", &squatted, "case-a");
    let push = PushDoc {
        id: squatted.clone(),
        kind: RecordKind::Visit,
        case_id: "case-a".into(),
        heads,
        changes,
        signatures: Vec::new(),
        listing: None,
    };
    let (status, bytes) = exchange(&env, "amara", request(vec![push], vec![])).await;
    assert_eq!(status, 200);
    let response: SyncResponse = decode(&bytes, 1 << 26).unwrap();
    assert!(response.acks.is_empty(), "the squatting push was acknowledged");
    assert_eq!(response.rejected.len(), 1);
    assert_eq!(response.rejected[0].reason, RejectReason::InvalidId);

    // The case system creates the case, and it reaches its worker's device.
    env.upsert_case("case-future", "LCF", "ben", "north").await;
    let summaries: Vec<_> =
        env.export_all().await.into_iter().filter(|r| r.meta.id == squatted).collect();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].meta.kind, RecordKind::CaseSummary);
    assert_eq!(summaries[0].meta.case_id, "case-future");
    let mut ben = env.device("ben", "tablet-b");
    assert!(ben.sync().await.failure.is_none());
    assert!(ben.store.cases().unwrap().iter().any(|c| c.case_id == "case-future"));

    // A device's own records, with the ids devices have always written, still sync.
    let mut amara = env.device("amara", "tablet-a");
    amara.sync().await;
    let id = amara.store.create_record("case-a", &visit_body(realistic_visit(1))).unwrap();
    let report = amara.sync().await;
    assert!(report.failure.is_none() && report.rejected.is_empty(), "{report:?}");
    assert!(env.export_all().await.iter().any(|r| r.meta.id == id));
}

/// A document as a probe needs it: id, case, and its real changes and heads.
struct Target {
    id: String,
    case: String,
    heads: Vec<Hash>,
    changes: Vec<u8>,
}

/// The probes: every way a device can ask about a document id, with the caller's own `own` case.
/// Each is one exchange from cursor 0 (so that every answer carries the same feed).
fn probes(t: &Target, own: &str, caller: &str) -> Vec<(&'static str, Vec<u8>)> {
    let summary = case_summary_id(&t.case);
    let push = |id: &str, kind, case: &str, heads: &[Hash], changes: &[u8]| PushDoc {
        id: id.into(),
        kind,
        case_id: case.into(),
        heads: heads.to_vec(),
        changes: changes.to_vec(),
        signatures: Vec::new(),
        listing: None,
    };
    let (own_heads, own_changes) = forged_visit(caller, &summary, own);
    let check = |id: &str, heads: &[Hash]| DocHeads {
        id: id.into(),
        case_id: String::new(),
        heads: heads.to_vec(),
    };
    let visit = RecordKind::Visit;
    let single = vec![
        ("push into its case", push(&t.id, visit, &t.case, &t.heads, &t.changes)),
        ("push its changes under my case", push(&t.id, visit, own, &t.heads, &t.changes)),
        ("push nothing under my case", push(&t.id, visit, own, &[], &[])),
        ("push its heads only under my case", push(&t.id, visit, own, &t.heads, &[])),
        ("push it as another kind", push(&t.id, RecordKind::CaseNote, own, &[], &[])),
        ("push it as a summary", push(&t.id, RecordKind::CaseSummary, own, &[], &[])),
        ("push the case's summary", push(&summary, RecordKind::CaseSummary, &t.case, &[], &[])),
        ("push the summary, my case", push(&summary, RecordKind::CaseSummary, own, &[], &[])),
        ("push a visit under the summary id", push(&summary, visit, own, &own_heads, &own_changes)),
    ];
    let checks = vec![
        ("check it with no heads", check(&t.id, &[])),
        ("check it with its heads", check(&t.id, &t.heads)),
        ("check the case's summary", check(&summary, &[])),
    ];
    let mut out: Vec<(&'static str, Vec<u8>)> = Vec::new();
    for (name, p) in &single {
        out.push((name, request(vec![p.clone()], vec![])));
    }
    for (name, c) in &checks {
        out.push((name, request(vec![], vec![c.clone()])));
    }
    out.push((
        "everything at once",
        request(
            single.into_iter().map(|(_, p)| p).collect(),
            checks.into_iter().map(|(_, c)| c).collect(),
        ),
    ));
    out
}

fn replace(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len(), "same length, so that the CBOR framing is the same");
    let (from, to) = (from.as_bytes(), to.as_bytes());
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Issue #10, point 3. For a worker and a manager, each probe against a document of a case they
/// may not see, and against an id and a case that do not exist at all, gets the same status and
/// the same response bytes (once the probed id and case are swapped). Before the fix, a foreign
/// id answered `case_mismatch` where an unknown one answered `malformed`, and the repair listed
/// unknown ids in `send_all` but not foreign ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_about_foreign_documents_equal_answers_about_unknown_ones() {
    let env = SyncEnv::start().await;
    let cases =
        [("case-a", "amara", "north"), ("case-b", "ben", "north"), ("case-c", "carol", "south")];
    let mut targets = std::collections::HashMap::new();
    for (case, worker, team) in cases {
        env.upsert_case(case, &format!("L{}", &case[5..]).to_uppercase(), worker, team).await;
        let mut d = env.device(worker, "tablet");
        d.sync().await;
        let id = d.store.create_record(case, &visit_body(realistic_visit(2))).unwrap();
        assert!(d.sync().await.failure.is_none());
        let heads = to_hashes(&d.store.heads(&id).unwrap());
        let changes = d.store.changes_since(&id, &[]).unwrap().changes;
        targets.insert(case, Target { id, case: case.into(), heads, changes });
    }
    let before = env.export_all().await;
    let mut compared = 0;
    // (caller, their own case, a case they may not see)
    for (caller, own, foreign) in
        [("amara", "case-a", "case-b"), ("amara", "case-a", "case-c"), ("mina", "case-a", "case-c")]
    {
        let existing = &targets[foreign];
        // Same format, same length: a random device id and a case nobody created.
        let unknown = Target {
            id: new_record_id(),
            case: "case-z".into(),
            heads: existing.heads.clone(),
            changes: existing.changes.clone(),
        };
        let real = probes(existing, own, caller);
        let made_up = probes(&unknown, own, caller);
        for ((name, real), (_, made_up)) in real.into_iter().zip(made_up) {
            let (status_real, bytes_real) = exchange(&env, caller, real).await;
            let (status_unknown, bytes_unknown) = exchange(&env, caller, made_up).await;
            assert_eq!(status_real, 200, "{caller}: {name}");
            assert_eq!(status_unknown, status_real, "{caller}: {name}");
            let swapped =
                replace(&replace(&bytes_real, &existing.id, &unknown.id), foreign, "case-z");
            let response: SyncResponse = decode(&bytes_unknown, 1 << 26).unwrap();
            assert!(response.acks.is_empty(), "{caller}: {name}: acknowledged");
            assert!(response.docs.iter().all(|d| d.case_id != foreign), "{caller}: {name}");
            assert!(
                swapped == bytes_unknown,
                "{caller}: {name}: the answer about {foreign}'s document differs from the answer \
                 about an unknown one:\n{:?}\n{response:?}",
                decode::<SyncResponse>(&bytes_real, 1 << 26).unwrap()
            );
            compared += 1;
        }
    }
    // Nothing was stored by any probe.
    assert_eq!(env.export_all().await, before);
    println!("probes compared byte for byte: {compared}");
    assert_eq!(compared, 3 * 13);
}

/// The one answer that must differ, and why it says nothing: a valid new record under the id of
/// a document the worker may not see is refused (`case_mismatch`) instead of being merged into
/// it, and only someone who already holds that random id can send it. The record is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_under_a_foreign_records_id_is_refused_not_merged() {
    let env = SyncEnv::start().await;
    env.upsert_case("case-a", "LCA", "amara", "north").await;
    env.upsert_case("case-b", "LCB", "ben", "north").await;
    let mut ben = env.device("ben", "tablet-b");
    ben.sync().await;
    let id = ben.store.create_record("case-b", &visit_body(realistic_visit(4))).unwrap();
    ben.sync().await;
    let before = env.export_all().await;
    let (heads, changes) = forged_visit("amara", &id, "case-a");
    // Signed by amara's registered key (issue #16): a valid record in every other respect.
    let key = KeyPair::from_seed(&[42; 32]);
    let mut forged =
        RecordDoc::from_changes(&changes, Author::new("amara", "forger").actor()).unwrap();
    let signatures = forged
        .change_authors_after(&[])
        .into_iter()
        .map(|(h, _)| key.sign_change(Hash(h.0), None))
        .collect();
    let push = PushDoc {
        id: id.clone(),
        kind: RecordKind::Visit,
        case_id: "case-a".into(),
        heads,
        changes,
        signatures,
        listing: None,
    };
    let mut signed: SyncRequest = decode(&request(vec![push], vec![]), 1 << 26).unwrap();
    signed.device_key = Some(key.public());
    let (status, bytes) = exchange(&env, "amara", encode(&signed)).await;
    assert_eq!(status, 200);
    let response: SyncResponse = decode(&bytes, 1 << 26).unwrap();
    assert!(response.acks.is_empty());
    assert_eq!(response.rejected[0].reason, RejectReason::CaseMismatch);
    assert_eq!(env.export_all().await, before);
    let record = ben.store.record(&id).unwrap();
    assert_eq!(record.meta.case_id, "case-b");
    assert!(matches!(record.body, RecordBody::Visit(_)));
}
