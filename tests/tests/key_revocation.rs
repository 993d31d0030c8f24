//! A lost or stolen tablet (issue #16, point 4) revoked through the operators' API over real
//! HTTP: the route revokes the key (who and when from the operator's token and the server's
//! clock), a later push signed by it is refused `revoked_key`, what it signed before still
//! reaches another device as valid; anyone but an operator is refused with nothing of the key's
//! registration in the answer. The CLI (`fieldbook-server revoke-device`):
//! server/tests/server_binary.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fieldbook_core::protocol::{KeyEvent, RejectReason};
use fieldbook_core::records::RecordBody;
use fieldbook_server::storage::key::load_or_create_signing_key;
use fieldbook_tests::sync_env::{token_of, Device, SyncEnv};
use fieldbook_tests::{realistic_visit, visit_body};
use reqwest::Method;

fn edit(d: &mut Device, id: &str, words: &str) {
    let mut record = d.store.record(id).unwrap();
    if let RecordBody::Visit(v) = &mut record.body {
        v.observations.push_str(words);
    }
    d.store.update_record(id, &record.body).unwrap();
}

fn revoke_path(key: &str) -> String {
    format!("/api/v1/devices/keys/{key}/revoke")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_revokes_a_stolen_tablet_and_its_later_pushes_are_refused() {
    let env = SyncEnv::start().await;
    env.upsert_case("case-1", "LC1", "amara", "north").await;
    let mut tablet = env.device("amara", "tablet-1");
    assert!(tablet.sync().await.failure.is_none());
    let visit = tablet.store.create_record("case-1", &visit_body(realistic_visit(1))).unwrap();
    edit(&mut tablet, &visit, " Seen in the kitchen.");
    let report = tablet.sync().await;
    assert!(report.failure.is_none() && report.rejected.is_empty(), "{report:?}");
    let key = tablet.store.public_key().to_hex();

    // Nobody but an operator: refused before the key is looked at, nothing of it answered.
    for subject in ["amara", "mina", "case-system", "sam"] {
        let (status, body) =
            env.call(Method::POST, &revoke_path(&key), Some(&token_of(subject)), None).await;
        assert_eq!(status, 403, "{subject}");
        let text = String::from_utf8_lossy(&body);
        for leak in [key.as_str(), "amara", "tablet-1"] {
            assert!(!text.contains(leak), "{subject}: {text}");
        }
    }
    let (status, _) = env.call(Method::POST, &revoke_path(&key), None, None).await;
    assert_eq!(status, 401);
    // Still accepted: nothing was revoked by the refused calls.
    edit(&mut tablet, &visit, " Before the theft.");
    assert!(tablet.sync().await.rejected.is_empty());

    // The operator: bad keys and unknown keys are typed refusals.
    let ops = token_of("olive");
    let (status, body) = env.call(Method::POST, &revoke_path("zz"), Some(&ops), None).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let (status, body) =
        env.call(Method::POST, &revoke_path(&"ab".repeat(32)), Some(&ops), None).await;
    assert_eq!(status, 404);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["error"], "unknown_key");

    let (status, body) = env.call(Method::POST, &revoke_path(&key), Some(&ops), None).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let revoked: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(revoked["key"], key);
    assert_eq!(revoked["worker"], "amara");
    assert_eq!(revoked["device"], "tablet-1");
    assert_eq!(revoked["revoked_by"], "olive", "who comes from the token");
    let at = chrono::DateTime::parse_from_rfc3339(revoked["revoked_at"].as_str().unwrap());
    assert!(at.is_ok(), "{revoked}");

    let (status, body) = env.call(Method::POST, &revoke_path(&key), Some(&ops), None).await;
    assert_eq!(status, 409);
    let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["error"], "already_revoked");

    // The revocation is a key event signed by the server's key.
    let storage = fieldbook_server::serve::open_storage(&fieldbook_server::serve::Backend::sqlite(
        env.scratch.path("server.db"),
    ))
    .await
    .unwrap();
    let server_key =
        load_or_create_signing_key(&env.scratch.path("server.signing-key")).unwrap().public();
    let events: Vec<KeyEvent> = storage
        .key_events()
        .await
        .unwrap()
        .iter()
        .map(|e| serde_json::from_slice(e).unwrap())
        .collect();
    let revocation = events.iter().find(|e| e.event == "revoked").unwrap();
    revocation.verify(&server_key).unwrap();
    assert_eq!((revocation.by.as_str(), revocation.key.to_hex()), ("olive", key.clone()));

    // A later push signed by the revoked key is refused.
    edit(&mut tablet, &visit, " Written by whoever took the tablet.");
    let report = tablet.sync().await;
    assert_eq!(report.rejected, vec![(visit.clone(), RejectReason::RevokedKey)]);

    // What it signed before stays valid: another tablet of amara's receives it, and not the
    // refused change.
    let mut second = env.device("amara", "tablet-2");
    let report = second.sync().await;
    assert!(report.refused.is_empty() && report.failure.is_none(), "{report:?}");
    let RecordBody::Visit(v) = second.store.record(&visit).unwrap().body else {
        panic!("not a visit")
    };
    assert!(v.observations.ends_with("Seen in the kitchen. Before the theft."), "{v:?}");
}

/// The number of keys one worker may register is capped (`--max-keys-per-worker`): a new key
/// past it is refused `key_limit` (typed, nothing applied), the keys registered keep working,
/// and another worker is not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_may_register_only_so_many_keys() {
    let scratch = fieldbook_tests::Scratch::new();
    let storage = fieldbook_server::serve::open_storage(&fieldbook_server::serve::Backend::sqlite(
        scratch.path("server.db"),
    ))
    .await
    .unwrap();
    let env = SyncEnv::start_configured(scratch, storage.clone(), |state| {
        state.hub = state.hub.clone().with_max_keys_per_worker(2);
    })
    .await;
    env.upsert_case("case-1", "LC1", "amara", "north").await;
    env.upsert_case("case-2", "LC2", "ben", "north").await;
    let mut tablet = env.device("amara", "tablet-1");
    assert!(tablet.sync().await.failure.is_none());
    tablet.store.rotate_key().unwrap();
    assert!(tablet.sync().await.failure.is_none(), "two keys: at the cap");
    tablet.store.rotate_key().unwrap();
    let visit = tablet.store.create_record("case-1", &visit_body(realistic_visit(1))).unwrap();
    let report = tablet.sync().await;
    match &report.failure {
        Some(fieldbook_core::sync::SyncFailure::Forbidden { message }) => {
            assert!(message.contains("2 device keys"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(report.acknowledged, 0);
    let keys = storage.device_keys().await.unwrap();
    assert_eq!(keys.iter().filter(|k| k.worker == "amara").count(), 2);
    assert!(tablet.store.verify_receipt(&visit).unwrap().is_none(), "nothing accepted");

    // The cap is per worker: ben's first key is registered.
    let mut ben = env.device("ben", "tablet-b");
    assert!(ben.sync().await.failure.is_none());
}
