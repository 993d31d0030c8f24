//! Access control, exhaustively: every endpoint, with every (caller, case) pair that has no
//! allocation, is refused and returns no record data; and tokens with a bad signature, another
//! audience, an expired date, a not-before date ahead or a disabled account are refused before
//! anything else happens.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use fieldbook_core::protocol::{
    decode, encode, DocHeads, PushDoc, RejectReason, SyncRequest, SyncResponse, PROTOCOL_VERSION,
};
use fieldbook_server::auth::{issue_hs256, Claims, Role};
use fieldbook_tests::sync_env::{summary_for, token_of, SyncEnv, DISABLED, JWT_SECRET};
use fieldbook_tests::{realistic_visit, visit_body};
use reqwest::Method;

const CANARY: &str = "ACCESS-MATRIX-CANARY";

/// (case, worker, team)
const CASES: &[(&str, &str, &str)] =
    &[("case-a", "amara", "north"), ("case-b", "ben", "north"), ("case-c", "carol", "south")];

/// Callers with the cases they must not reach.
fn forbidden(caller: &str) -> Vec<&'static str> {
    CASES
        .iter()
        .filter(|(_, worker, team)| match caller {
            "mina" => *team != "north",
            w => *worker != w,
        })
        .map(|(case, _, _)| *case)
        .collect()
}

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

fn jwt(sub: &str, aud: &str, exp_offset: i64, secret: &str) -> String {
    jwt_nbf(sub, aud, exp_offset, None, secret)
}

/// With `nbf` set `nbf_offset` seconds from now.
fn jwt_nbf(sub: &str, aud: &str, exp_offset: i64, nbf_offset: Option<i64>, secret: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: sub.into(),
        role: Role::Worker,
        team: Some("north".into()),
        aud: aud.into(),
        exp: now + exp_offset,
        iss: None,
        nbf: nbf_offset.map(|o| now + o),
    };
    issue_hs256(secret, &claims).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_refuses_every_unallocated_pair() {
    let env = SyncEnv::start().await;
    let mut records = std::collections::HashMap::new();
    for (case, worker, team) in CASES {
        env.upsert_case(case, &format!("L{}", &case[5..]).to_uppercase(), worker, team).await;
        let mut d = env.device(worker, "tablet");
        d.sync().await;
        let mut v = realistic_visit(1);
        v.observations = format!("{CANARY} in {case}");
        let id = d.store.create_record(case, &visit_body(v)).unwrap();
        assert!(d.sync().await.failure.is_none());
        records.insert(*case, (id.clone(), d.store.changes_since(&id, &[]).unwrap()));
    }
    let before = env.export_all().await;
    let mut probes = 0;

    for caller in ["amara", "ben", "carol", "mina"] {
        let token = token_of(caller);
        // A forger: a device of the caller that creates a record in each forbidden case.
        let mut forger = env.device(caller, "forger");
        for case in forbidden(caller) {
            let (secret_id, secret_changes) = &records[case];
            // 1. Pushing a new record into the case.
            forger.store.create_record(case, &visit_body(realistic_visit(2))).unwrap();
            let report = forger.sync().await;
            assert!(report.rejected.iter().all(|(_, r)| *r == RejectReason::NotAllocated));
            assert!(!report.rejected.is_empty(), "{caller} pushed into {case}");
            probes += 1;
            // 2. Pushing the case's own record (its real changes, replayed).
            let push = PushDoc {
                id: secret_id.clone(),
                kind: secret_changes.kind,
                case_id: case.into(),
                heads: vec![],
                changes: secret_changes.changes.clone(),
                signatures: Vec::new(),
                listing: None,
            };
            // 3. Asking for it through the repair exchange.
            let check = DocHeads { id: secret_id.clone(), case_id: String::new(), heads: vec![] };
            for (is_check, body) in
                [(false, request(vec![push], vec![])), (true, request(vec![], vec![check]))]
            {
                let (status, bytes) =
                    env.call(Method::POST, "/v1/sync", Some(&token), Some(body)).await;
                assert_eq!(status, 200);
                let response: SyncResponse = decode(&bytes, 1 << 26).unwrap();
                assert!(response.docs.iter().all(|d| d.case_id != case), "{caller} got {case}");
                assert!(response.acks.iter().all(|a| &a.id != secret_id));
                // Listed exactly as an unknown id is (tests/tests/namespaced_ids.rs compares the
                // two byte for byte): the answer says nothing of the record.
                let listed = if is_check { vec![secret_id.clone()] } else { vec![] };
                assert_eq!(response.send_all, listed, "{caller}: {case}");
                let canary = format!("{CANARY} in {case}");
                assert!(!String::from_utf8_lossy(&bytes).contains(&canary));
                probes += 1;
            }
            // 4. The case-system API: upsert the case, read the export feed.
            let summary = serde_json::to_vec(&serde_json::json!({
                "summary": summary_for("LX1", caller, "north"), "allocated_worker": caller, "team": "north"
            }))
            .unwrap();
            let path = format!("/api/v1/cases/{case}");
            let (status, body) = env.call(Method::PUT, &path, Some(&token), Some(summary)).await;
            assert_eq!(status, 403, "{caller} PUT {case}");
            assert!(!String::from_utf8_lossy(&body).contains(CANARY));
            let (status, body) =
                env.call(Method::GET, "/api/v1/records?cursor=0", Some(&token), None).await;
            assert_eq!(status, 403, "{caller} export");
            assert!(!String::from_utf8_lossy(&body).contains(CANARY));
            probes += 3;
        }
        // The forger's device never received anything of a forbidden case (its own refused
        // drafts stay on it: nothing typed is lost).
        for case in forbidden(caller) {
            assert!(forger.store.record(&records[case].0).is_err());
            assert!(forger
                .store
                .case_records(case)
                .unwrap()
                .iter()
                .all(|r| r.id != records[case].0));
        }
    }
    // Nothing changed on the server.
    assert_eq!(env.export_all().await, before);
    println!("access probes refused: {probes}");
    let pairs: usize = ["amara", "ben", "carol", "mina"].map(|c| forbidden(c).len()).iter().sum();
    assert_eq!(probes, pairs * 6, "six probes for each of the {pairs} unallocated pairs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused_on_every_endpoint() {
    let env = SyncEnv::start().await;
    env.upsert_case("case-a", "LCA", "amara", "north").await;
    let good = jwt("amara", "fieldbook", 600, JWT_SECRET);
    let sync_body = request(vec![], vec![]);
    let (status, _) =
        env.call(Method::POST, "/v1/sync", Some(&good), Some(sync_body.clone())).await;
    assert_eq!(status, 200, "a valid JWT from the identity provider works");
    // A clock a few seconds ahead of the server's is within the leeway (30 s), as for `exp`.
    let nearly = jwt_nbf("amara", "fieldbook", 7200, Some(10), JWT_SECRET);
    let (status, _) =
        env.call(Method::POST, "/v1/sync", Some(&nearly), Some(sync_body.clone())).await;
    assert_eq!(status, 200, "nbf within the leeway");

    let bad: [(&str, String); 7] = [
        ("bad signature", jwt("amara", "fieldbook", 600, "another-secret-that-is-32-bytes-long!!")),
        ("wrong audience", jwt("amara", "another-service", 600, JWT_SECRET)),
        ("expired", jwt("amara", "fieldbook", -3600, JWT_SECRET)),
        ("not valid for an hour", jwt_nbf("amara", "fieldbook", 7200, Some(3600), JWT_SECRET)),
        ("disabled account", jwt(DISABLED, "fieldbook", 600, JWT_SECRET)),
        ("garbage", "not.a.token".into()),
        ("unknown static token", "tok-nobody".into()),
    ];
    let summary = serde_json::to_vec(&serde_json::json!({
        "summary": summary_for("LCA", "amara", "north"), "allocated_worker": "amara", "team": "north"
    }))
    .unwrap();
    for (why, token) in &bad {
        let calls = [
            (Method::POST, "/v1/sync", Some(sync_body.clone())),
            (Method::PUT, "/api/v1/cases/case-a", Some(summary.clone())),
            (Method::GET, "/api/v1/records?cursor=0", None),
        ];
        for (method, path, body) in calls {
            let (status, bytes) = env.call(method.clone(), path, Some(token), body).await;
            assert_eq!(status, 401, "{why}: {method} {path}");
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("case-a") && !text.contains(token.as_str()), "{why}: {text}");
        }
    }
}
