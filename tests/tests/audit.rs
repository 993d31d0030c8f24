//! The audit bundle and its verifier (issue #16 point 5) over a real server on loopback: an
//! untampered export verifies; a change altered by one byte in the server's database, one
//! removed, one inserted with a forged author (unsigned, or signed by a key nobody registered),
//! two signatures swapped, a key registration altered and a receipt altered are each detected
//! with the failing check and item named; an old key's signatures verify after a rotation, and
//! a revoked device's earlier changes still verify. `cli/tests/audit.rs` runs the binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fieldbook_core::audit::{self, Bundle, Check, Report, Scope};
use fieldbook_core::document::{Author, RecordDoc};
use fieldbook_core::protocol::{KeyPair, PublicKey};
use fieldbook_core::records::RecordBody;
use fieldbook_server::hub::Hub;
use fieldbook_server::storage::key::load_or_create_signing_key;
use fieldbook_tests::sync_env::SyncEnv;
use fieldbook_tests::tamper::{edit, server_db, world, world_postgres, History, World};

fn server_key(env: &SyncEnv) -> KeyPair {
    load_or_create_signing_key(&env.scratch.path("server.signing-key")).unwrap()
}

/// The bundle of `scope` with the tablet's receipts, as `fieldbook audit export` writes it
/// (through JSON, as a verifier reads it).
async fn export(w: &World, scope: Scope) -> Bundle {
    let receipts: Vec<_> = w.tablet.store.receipt(&w.visit).unwrap().into_iter().collect();
    let bundle = fieldbook_server::audit::export(
        w.storage.as_ref(),
        scope,
        server_key(&w.env).public(),
        &receipts,
    )
    .await
    .unwrap();
    Bundle::from_json(&bundle.to_json()).unwrap()
}

async fn verified(w: &World) -> Report {
    let bundle = export(w, Scope::Record(w.visit.clone())).await;
    audit::verify(&bundle, Some(&server_key(&w.env).public()))
}

/// The visit's stored changes: (seq, hash hex, bytes), in order.
fn stored(conn: &rusqlite::Connection, doc: &str) -> Vec<(i64, String, Vec<u8>)> {
    let mut stmt = conn
        .prepare("SELECT seq, hash, bytes FROM changes WHERE doc_id = ?1 ORDER BY seq")
        .unwrap();
    stmt.query_map([doc], |r| Ok((r.get(0)?, hex::encode(r.get::<_, Vec<u8>>(1)?), r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Exactly one failure, of `check`, naming `item` and saying `detail`.
fn only_failure(report: &Report, check: Check, item: &str, detail: &str) {
    assert!(!report.ok());
    let of: Vec<_> = report.of(check);
    assert_eq!(of.len(), 1, "{:#?}", report.failures);
    assert!(of[0].item.contains(item), "{:?} does not name {item}", of[0]);
    assert!(of[0].detail.contains(detail), "{:?} does not say {detail}", of[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untampered_export_verifies_with_its_timeline() {
    let w = world(History::Amended).await;
    let bundle = export(&w, Scope::Record(w.visit.clone())).await;
    let report = audit::verify(&bundle, Some(&server_key(&w.env).public()));
    assert!(report.ok(), "{:#?}", report.failures);
    assert_eq!(report.passed.len(), 9, "{:#?}", report.passed);
    assert_eq!(bundle.records.len(), 1);
    assert_eq!(bundle.records[0].changes.len(), 4);
    assert_eq!(bundle.records[0].receipts.len(), 1);
    assert_eq!(bundle.key_events.len(), 1);
    assert_eq!(bundle.key_events[0].worker, "amara");

    let t = &bundle.timeline[0];
    let steps: Vec<_> = t.entries.iter().map(|e| e.steps.clone()).collect();
    assert_eq!(steps[0], vec!["created"]);
    assert_eq!(steps[2], vec!["submitted"]);
    assert_eq!(
        t.entries.iter().map(|e| e.amendment).collect::<Vec<_>>(),
        [false, false, false, true]
    );
    assert!(t.entries.iter().all(|e| e.worker == "amara" && e.device == "tablet-1"));
    let submitted = t.submitted_version.as_ref().unwrap();
    assert_eq!(submitted["meta.status"], "submitted");
    assert!(submitted["observations"].as_str().unwrap().ends_with("Seen in the kitchen."));
    let amendment = &t.entries[3].diff;
    assert_eq!(amendment.len(), 1, "{amendment:?}");
    assert_eq!(amendment[0].field, "observations");
    assert!(amendment[0].after.as_ref().unwrap().as_str().unwrap().ends_with("mother present."));

    // A bundle verified against a key that is not the server's fails on that alone.
    let other = KeyPair::from_seed(&[7; 32]).public();
    let report = audit::verify(&bundle, Some(&other));
    assert_eq!(report.failures.len(), 1, "{:#?}", report.failures);
    assert_eq!(report.failures[0].check, Check::ServerKey);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_case_verifies_with_the_servers_signature_for_the_case_system() {
    let w = world(History::Amended).await;
    let bundle = export(&w, Scope::Case("case-1".into())).await;
    let report = audit::verify(&bundle, Some(&server_key(&w.env).public()));
    assert!(report.ok(), "{:#?}", report.failures);
    let summary = bundle.records.iter().find(|r| r.kind == "case_summary").unwrap();
    let t = bundle.timeline.iter().find(|t| t.record == summary.id).unwrap();
    assert!(t.entries[0].acting.as_deref().unwrap().starts_with("integration:"), "{t:?}");
    assert!(report.passed.iter().any(|l| l.contains("1 signed by the server on someone's behalf")));
}

/// The export reads the same from PostgreSQL as from the embedded store (the backends'
/// signatures, key registrations and changes differ in code): the case's bundle from each
/// verifies, with the same records, changes, signatures, registrations and timeline steps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_exported_from_postgresql_verifies_as_from_the_embedded_store() {
    let shape = |b: &Bundle| {
        let mut records: Vec<_> =
            b.records.iter().map(|r| (r.kind.clone(), r.changes.len(), r.receipts.len())).collect();
        records.sort();
        let mut steps: Vec<_> = b
            .timeline
            .iter()
            .map(|t| t.entries.iter().map(|e| e.steps.clone()).collect::<Vec<_>>())
            .collect();
        steps.sort();
        let events: Vec<_> =
            b.key_events.iter().map(|e| (e.event.clone(), e.worker.clone())).collect();
        (records, steps, events)
    };
    let mut shapes = Vec::new();
    for w in [world(History::Amended).await, world_postgres(History::Amended, "audit_pg").await] {
        let bundle = export(&w, Scope::Case("case-1".into())).await;
        let report = audit::verify(&bundle, Some(&server_key(&w.env).public()));
        assert!(report.ok(), "{:#?}", report.failures);
        assert_eq!(report.passed.len(), 9, "{:#?}", report.passed);
        shapes.push(shape(&bundle));
    }
    assert_eq!(shapes[0], shapes[1]);
    assert_eq!(shapes[1].0.len(), 2, "the visit and the case summary: {:?}", shapes[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_altered_by_one_byte_in_the_server_database_fails_its_hash() {
    let w = world(History::Amended).await;
    let conn = server_db(&w.env);
    let (seq, hash, mut bytes) = stored(&conn, &w.visit).pop().unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    conn.execute("UPDATE changes SET bytes = ?2 WHERE seq = ?1", rusqlite::params![seq, bytes])
        .unwrap();
    let report = verified(&w).await;
    only_failure(&report, Check::Hash, &hash, "not an Automerge change");
    assert!(report.of(Check::Signature).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_removed_from_the_server_database_breaks_the_causal_chain() {
    let w = world(History::Amended).await;
    let conn = server_db(&w.env);
    let changes = stored(&conn, &w.visit);
    conn.execute("DELETE FROM changes WHERE seq = ?1", [changes[1].0]).unwrap();
    let report = verified(&w).await;
    only_failure(&report, Check::CausalChain, &changes[2].1, &changes[1].1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_change_removed_is_named_by_the_devices_receipt() {
    let w = world(History::Amended).await;
    let conn = server_db(&w.env);
    let (seq, hash, _) = stored(&conn, &w.visit).pop().unwrap();
    conn.execute("DELETE FROM changes WHERE seq = ?1", [seq]).unwrap();
    let report = verified(&w).await;
    only_failure(&report, Check::Receipt, "receipt 0", &hash);
}

/// Writes a change in amara's name (her actor, her device) into the database, with `sig` as its
/// stored signature; returns its hash.
fn forge(w: &World, sig: Option<&KeyPair>) -> String {
    let conn = server_db(&w.env);
    let all: Vec<u8> = stored(&conn, &w.visit).into_iter().flat_map(|(_, _, b)| b).collect();
    let forger = Author::new("amara", "tablet-1");
    let mut doc = RecordDoc::from_changes(&all, forger.actor()).unwrap();
    let before = doc.heads();
    let mut body = doc.body().clone();
    if let RecordBody::Visit(v) = &mut body {
        v.observations = "The child was not seen.".into();
    }
    doc.update_body(&forger, &body, chrono::Utc::now()).unwrap();
    let (hash, _) = doc.change_authors_after(&before)[0].clone();
    let bytes = doc.raw_changes().into_iter().find(|(h, _)| *h == hash).unwrap().1;
    let signature =
        sig.map(|k| k.sign_change(fieldbook_core::protocol::Hash(hash.0), None).to_bytes());
    let seq: i64 = conn
        .query_row("UPDATE counter SET value = value + 1 WHERE id = 1 RETURNING value", [], |r| {
            r.get(0)
        })
        .unwrap();
    conn.execute(
        "INSERT INTO changes (seq, doc_id, hash, bytes, signature) VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![seq, w.visit, hash.0.as_slice(), bytes, signature],
    )
    .unwrap();
    hex::encode(hash.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_inserted_with_a_forged_author_is_named_unsigned() {
    let w = world(History::Amended).await;
    let forged = forge(&w, None);
    let report = verified(&w).await;
    only_failure(&report, Check::Signature, &forged, "unsigned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_change_signed_by_a_key_nobody_registered_fails_its_registration() {
    let w = world(History::Amended).await;
    let forged = forge(&w, Some(&KeyPair::from_seed(&[9; 32])));
    let report = verified(&w).await;
    assert!(report.of(Check::Signature).is_empty(), "{:#?}", report.failures);
    only_failure(&report, Check::KeyRegistration, &forged, "no valid key event registers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_signatures_swapped_in_the_server_database_both_fail() {
    let w = world(History::Amended).await;
    let conn = server_db(&w.env);
    let changes = stored(&conn, &w.visit);
    let sig = |seq: i64| -> Vec<u8> {
        conn.query_row("SELECT signature FROM changes WHERE seq = ?1", [seq], |r| r.get(0)).unwrap()
    };
    let (a, b) = (sig(changes[0].0), sig(changes[1].0));
    let set = "UPDATE changes SET signature = ?2 WHERE seq = ?1";
    conn.execute(set, rusqlite::params![changes[0].0, b]).unwrap();
    conn.execute(set, rusqlite::params![changes[1].0, a]).unwrap();
    let report = verified(&w).await;
    let failed: Vec<_> = report.of(Check::Signature);
    assert_eq!(failed.len(), 2, "{:#?}", report.failures);
    assert!(failed[0].item.contains(&changes[0].1) && failed[1].item.contains(&changes[1].1));
    assert!(failed.iter().all(|f| f.detail.contains("does not verify over this change's hash")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_registration_altered_in_the_server_database_fails() {
    let w = world(History::Amended).await;
    let conn = server_db(&w.env);
    let (id, data): (i64, Vec<u8>) = conn
        .query_row("SELECT id, data FROM key_events ORDER BY id LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    // The key re-bound to another worker in the logged event.
    let mut event: serde_json::Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(event["worker"], "amara");
    event["worker"] = "bola".into();
    let altered = serde_json::to_vec(&event).unwrap();
    conn.execute("UPDATE key_events SET data = ?2 WHERE id = ?1", rusqlite::params![id, altered])
        .unwrap();
    let report = verified(&w).await;
    only_failure(&report, Check::KeyEvent, "key event 0 (registered", "does not verify");
    // Without a valid registration, every change its key signed is unattributable.
    assert_eq!(report.of(Check::KeyRegistration).len(), 4, "{:#?}", report.failures);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_altered_on_the_device_fails() {
    let w = world(History::Amended).await;
    let mut bundle = export(&w, Scope::Record(w.visit.clone())).await;
    bundle.records[0].receipts[0].received_at = "2020-01-01T09:00:00Z".into();
    let report = audit::verify(&bundle, Some(&server_key(&w.env).public()));
    only_failure(&report, Check::Receipt, "receipt 0", "does not verify");
    assert_eq!(report.failures.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeline_altered_in_the_bundle_fails() {
    let w = world(History::Amended).await;
    let mut bundle = export(&w, Scope::Record(w.visit.clone())).await;
    let entry = &mut bundle.timeline[0].entries[3];
    entry.diff[0].after = Some("Nothing was amended.".into());
    let change = entry.change.clone();
    let report = audit::verify(&bundle, Some(&server_key(&w.env).public()));
    only_failure(&report, Check::Timeline, &w.visit, &format!("entry 3 (change {change})"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_keys_signatures_still_verify_after_a_rotation() {
    let mut w = world(History::Amended).await;
    let old = w.tablet.store.public_key();
    let new = w.tablet.store.rotate_key().unwrap();
    edit(&mut w.tablet, &w.visit, " Second visit note.");
    let report = w.tablet.sync().await;
    assert!(report.rejected.is_empty() && report.failure.is_none(), "{report:?}");
    let bundle = export(&w, Scope::Record(w.visit.clone())).await;
    let report = audit::verify(&bundle, Some(&server_key(&w.env).public()));
    assert!(report.ok(), "{:#?}", report.failures);
    let keys: Vec<_> = bundle.records[0]
        .changes
        .iter()
        .map(|c| c.signature.as_ref().unwrap().key.clone())
        .collect();
    assert_eq!(keys.iter().filter(|k| **k == old.to_hex()).count(), 4);
    assert_eq!(keys.iter().filter(|k| **k == new.to_hex()).count(), 1);
    let registered: Vec<_> = bundle.key_events.iter().map(|e| e.key.clone()).collect();
    assert_eq!(registered, vec![old.to_hex(), new.to_hex()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_devices_earlier_changes_still_verify() {
    let w = world(History::Amended).await;
    let hub = Hub::new(w.storage.clone()).with_signing_key(server_key(&w.env));
    let key: PublicKey = w.tablet.store.public_key();
    hub.revoke_device_key(key, "operator-1").await.unwrap();
    let bundle = export(&w, Scope::Record(w.visit.clone())).await;
    let report = audit::verify(&bundle, Some(&server_key(&w.env).public()));
    assert!(report.ok(), "{:#?}", report.failures);
    let events: Vec<_> = bundle.key_events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(events, ["registered", "revoked"]);
    assert_eq!(bundle.key_events[1].by, "operator-1");
    assert!(report.passed.iter().any(|l| l.contains("(4 of them by keys revoked since")));
}
