//! Evidence-grade records (issue #16) over a real server on loopback: a change altered, removed
//! or forged in the server's database is refused by a device that pulls it; a revoked device's
//! push is refused while what it signed before stays valid; the server's receipt of a push
//! is kept, and one altered on the device fails verification (`core/src/store/signing_tests.rs`,
//! and here through the mobile API, typed); an old key's signatures still verify after a rotation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fieldbook_core::document::{Author, RecordDoc};
use fieldbook_core::protocol::RejectReason;
use fieldbook_core::records::RecordBody;
use fieldbook_server::hub::Hub;
use fieldbook_server::storage::key::load_or_create_signing_key;
use fieldbook_tests::mobile::{visit_fields, Token};
use fieldbook_tests::sync_env::SyncEnv;
use fieldbook_tests::tamper::{edit, server_db, world, History};

/// The visit's stored changes: (seq, bytes), in order.
fn stored(conn: &rusqlite::Connection, doc: &str) -> Vec<(i64, Vec<u8>)> {
    let mut stmt =
        conn.prepare("SELECT seq, bytes FROM changes WHERE doc_id = ?1 ORDER BY seq").unwrap();
    stmt.query_map([doc], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

/// A second tablet of amara's pulls the case: the visit must be refused, and named.
async fn a_second_tablet_refuses(env: &SyncEnv, visit: &str, reason: &str) {
    let mut second = env.device("amara", "tablet-2");
    let report = second.sync().await;
    let refused: Vec<_> = report.refused.iter().filter(|(id, _)| id == visit).collect();
    assert_eq!(refused.len(), 1, "{report:?}");
    assert!(refused[0].1.contains(reason), "{:?}", refused[0]);
    assert!(second.store.record(visit).is_err(), "nothing of it applied");
    // The case summary, signed by the server for the case system, is not affected.
    assert_eq!(second.store.cases().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_altered_by_one_byte_in_the_server_database_is_refused_on_pull() {
    let w = world(History::Edited).await;
    let conn = server_db(&w.env);
    let (seq, mut bytes) = stored(&conn, &w.visit).pop().unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    conn.execute("UPDATE changes SET bytes = ?2 WHERE seq = ?1", rusqlite::params![seq, bytes])
        .unwrap();
    // Automerge's own checksum (the first 4 bytes of the SHA-256 the hash is) no longer holds.
    a_second_tablet_refuses(&w.env, &w.visit, "checksum").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_removed_from_the_server_database_is_detected_on_pull() {
    let w = world(History::Edited).await;
    let conn = server_db(&w.env);
    let (first, _) = stored(&conn, &w.visit)[0].clone();
    conn.execute("DELETE FROM changes WHERE seq = ?1", [first]).unwrap();
    a_second_tablet_refuses(&w.env, &w.visit, "deps").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_inserted_with_a_forged_author_is_refused_on_pull() {
    let w = world(History::Edited).await;
    let conn = server_db(&w.env);
    let all: Vec<u8> = stored(&conn, &w.visit).into_iter().flat_map(|(_, b)| b).collect();
    // Someone with the database writes a change in amara's name (her actor, her device): a
    // standard Automerge change, but nobody's signature.
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
    let seq: i64 = conn
        .query_row("UPDATE counter SET value = value + 1 WHERE id = 1 RETURNING value", [], |r| {
            r.get(0)
        })
        .unwrap();
    conn.execute(
        "INSERT INTO changes (seq, doc_id, hash, bytes) VALUES (?1, ?2, ?3, ?4)",
        rusqlite::params![seq, w.visit, hash.0.as_slice(), bytes],
    )
    .unwrap();
    a_second_tablet_refuses(&w.env, &w.visit, "unsigned").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_devices_push_is_refused_and_what_it_signed_before_stays_valid() {
    let mut w = world(History::Edited).await;
    let key = load_or_create_signing_key(&w.env.scratch.path("server.signing-key")).unwrap();
    let hub = Hub::new(w.storage.clone()).with_signing_key(key);
    let revoked = hub.revoke_device_key(w.tablet.store.public_key(), "operator-1").await.unwrap();
    assert_eq!(revoked.revoked_by.as_deref(), Some("operator-1"));
    assert!(hub.revoke_device_key(w.tablet.store.public_key(), "operator-1").await.is_err());

    edit(&mut w.tablet, &w.visit, " Written after the tablet was reported stolen.");
    let report = w.tablet.sync().await;
    assert_eq!(report.rejected, vec![(w.visit.clone(), RejectReason::RevokedKey)]);

    // Another tablet receives what the revoked key signed before: still valid, attributable.
    let mut second = w.env.device("amara", "tablet-2");
    let report = second.sync().await;
    assert!(report.refused.is_empty(), "{report:?}");
    let record = second.store.record(&w.visit).unwrap();
    let RecordBody::Visit(v) = record.body else { panic!("not a visit") };
    assert!(v.observations.ends_with("Seen in the kitchen."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_signed_receipt_of_each_acknowledgement_is_kept_on_the_device() {
    let w = world(History::Edited).await;
    let check = w.tablet.store.verify_receipt(&w.visit).unwrap().unwrap();
    assert_eq!(check.problem, None);
    assert_eq!(check.receipt.doc, w.visit);
    assert_eq!(check.receipt.device, "tablet-1");
    assert_eq!(
        check.receipt.heads,
        fieldbook_core::protocol::to_hashes(&{
            let mut h = w.tablet.store.heads(&w.visit).unwrap();
            h.sort();
            h
        })
    );
    // An altered receipt on the device: `core/src/store/signing_tests.rs`, and through the
    // mobile API below.
}

/// The mobile API's typed answers for a receipt altered in the tablet's own database: moved in
/// time (`BadSignature`), and replaced by one a stranger's key signed (`UnknownServerKey`).
///
/// A plain test with its own runtime: the mobile API's calls block (as they do on the app's
/// threads), so they are made from this thread, not from inside the runtime.
#[test]
fn an_altered_receipt_is_typed_through_the_mobile_api() {
    use fieldbook_core::protocol::{KeyPair, Receipt};
    use fieldbook_ffi::{FieldbookStore, ReceiptError};
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    let rt = rt.unwrap();
    let env = rt.block_on(SyncEnv::start());
    rt.block_on(env.upsert_case("case-1", "LC1", "amara", "north"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tablet.db");
    let token = Token(fieldbook_tests::sync_env::token_of("amara"));
    let store = FieldbookStore::open(
        path.to_string_lossy().into_owned(),
        vec![7; 32],
        "amara".into(),
        "tablet".into(),
        Some(env.url.clone()),
        Some(std::sync::Arc::new(token)),
    )
    .unwrap();
    let visit = store.create_visit("case-1".into(), visit_fields("Seen in the kitchen.")).unwrap();
    rt.block_on(store.sync()).unwrap();
    let receipt = store.verify_receipt(visit.clone()).unwrap();

    // The tablet's database, opened with its key, as someone holding the tablet and key would.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", hex::encode([7u8; 32]))).unwrap();
    let stored: Vec<u8> = conn
        .query_row("SELECT data FROM receipts WHERE doc_id = ?1", [&visit], |r| r.get(0))
        .unwrap();
    let mut altered: Receipt = serde_json::from_slice(&stored).unwrap();
    let put = |r: &Receipt| {
        let json = serde_json::to_vec(r).unwrap();
        conn.execute(
            "UPDATE receipts SET data = ?2 WHERE doc_id = ?1",
            rusqlite::params![visit, json],
        )
        .unwrap();
    };
    altered.received_at = "2026-12-01T09:00:00Z".into();
    put(&altered);
    assert!(matches!(store.verify_receipt(visit.clone()), Err(ReceiptError::BadSignature)));
    // The receipt as read (unchecked) shows the altered time: `receipt` does not verify.
    assert_ne!(
        store.receipt(visit.clone()).unwrap().unwrap().received_at_ms,
        receipt.received_at_ms
    );

    let stranger = KeyPair::from_seed(&[9; 32]);
    let forged = Receipt::issue(&stranger, &visit, &altered.heads, &altered.received_at, "tablet");
    put(&forged);
    assert!(matches!(store.verify_receipt(visit.clone()), Err(ReceiptError::UnknownServerKey)));

    // Put back as the server signed it, it verifies again.
    put(&serde_json::from_slice(&stored).unwrap());
    assert_eq!(store.verify_receipt(visit).unwrap(), receipt);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_of_an_old_key_still_verify_after_a_rotation() {
    let mut w = world(History::Edited).await;
    let old = w.tablet.store.public_key();
    let new = w.tablet.store.rotate_key().unwrap();
    assert_ne!(old, new);
    assert_eq!(w.tablet.store.public_keys().unwrap(), vec![old, new]);
    edit(&mut w.tablet, &w.visit, " Second visit note.");
    let report = w.tablet.sync().await;
    assert!(report.rejected.is_empty() && report.failure.is_none(), "{report:?}");

    // A tablet that never saw either key receives changes signed by both.
    let mut second = w.env.device("amara", "tablet-2");
    let report = second.sync().await;
    assert!(report.refused.is_empty(), "{report:?}");
    let RecordBody::Visit(v) = second.store.record(&w.visit).unwrap().body else {
        panic!("not a visit")
    };
    assert!(v.observations.ends_with("Seen in the kitchen. Second visit note."));
    let registered: Vec<_> =
        w.storage.device_keys().await.unwrap().into_iter().map(|r| r.key).collect();
    assert!(registered.contains(&old.0) && registered.contains(&new.0));
}
