//! The store's signing (issue #16), without a server: the key, the signatures of local changes,
//! the checks of pulled changes, receipts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::DateTime;

use crate::protocol::{to_hashes, DocHeads, KeyPair, KeyRecord, Receipt};
use crate::records::{RecordBody, Visit, VisitKind};
use crate::store::ExchangePlan;
use crate::Store;

fn store(dir: &tempfile::TempDir, name: &str, worker: &str) -> Store {
    Store::open(dir.path().join(name), &[3u8; 32], worker, name).unwrap()
}

fn visit() -> RecordBody {
    let instant = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
    RecordBody::Visit(Visit::new(VisitKind::ChildProtection, instant))
}

/// The server of these tests: it signs the registrations it sends.
fn server() -> KeyPair {
    KeyPair::from_seed(&[9; 32])
}

fn record_of(store: &Store, worker: &str) -> KeyRecord {
    KeyRecord::signed(&server(), store.public_key(), worker, "t", "2026-12-01T09:00:00Z", None)
}

fn pull(keys: Vec<KeyRecord>, docs: Vec<crate::protocol::DocChanges>) -> ExchangePlan {
    let server_key = Some(server().public());
    ExchangePlan { docs, keys, verify: true, server_key, ..ExchangePlan::default() }
}

#[test]
fn the_key_is_made_once_kept_across_opens_and_every_local_change_is_signed() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = store(&dir, "a", "amara");
    let key = a.public_key();
    let id = a.create_record("case-1", &visit()).unwrap();
    drop(a);
    let mut a = store(&dir, "a", "amara");
    assert_eq!(a.public_key(), key, "the same key after reopening");
    let changes = a.changes_since(&id, &[]).unwrap();
    assert_eq!(changes.signatures.len(), 1);
    assert_eq!(changes.signatures[0].key, key);
    changes.signatures[0].verify().unwrap();
}

#[test]
fn a_pulled_change_needs_a_signature_by_its_authors_registered_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = store(&dir, "a", "amara");
    let mut b = store(&dir, "b", "amara");
    let id = a.create_record("case-1", &visit()).unwrap();
    let good = a.changes_since(&id, &[]).unwrap();

    // Registrations received are kept: the checks that need none come first.
    let unknown = b.apply_exchange(&pull(vec![], vec![good.clone()])).unwrap();
    assert!(unknown.import.rejected[0].1.contains("key not registered"), "{unknown:?}");

    let other = b.apply_exchange(&pull(vec![record_of(&a, "ben")], vec![good.clone()])).unwrap();
    assert!(other.import.rejected[0].1.contains("another worker"), "{other:?}");

    let mut unsigned = good.clone();
    unsigned.signatures.clear();
    let applied = b.apply_exchange(&pull(vec![record_of(&a, "amara")], vec![unsigned])).unwrap();
    assert!(applied.import.rejected[0].1.contains("unsigned"), "{applied:?}");

    let mut forged = good.clone();
    forged.signatures[0].sig.0[7] ^= 1;
    let applied = b.apply_exchange(&pull(vec![record_of(&a, "amara")], vec![forged])).unwrap();
    assert!(applied.import.rejected[0].1.contains("bad signature"), "{applied:?}");
    assert!(b.record(&id).is_err(), "nothing of a refused document is applied");

    let applied = b.apply_exchange(&pull(vec![record_of(&a, "amara")], vec![good])).unwrap();
    assert_eq!(applied.import.created, vec![id.clone()]);
    // Received signatures are kept and travel on: b can relay a's change with a's signature.
    let relayed = b.changes_since(&id, &[]).unwrap();
    assert_eq!(relayed.signatures[0].key, a.public_key());
}

/// The receipts of a response are verified in one batch; when one of them fails, the others
/// are still kept and only it is dropped.
#[test]
fn one_bad_receipt_in_a_response_drops_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = store(&dir, "a", "amara");
    let server = KeyPair::from_seed(&[9; 32]);
    let mut acks = Vec::new();
    let mut receipts = Vec::new();
    for _ in 0..3 {
        let id = a.create_record("case-1", &visit()).unwrap();
        let heads = to_hashes(&a.heads(&id).unwrap());
        receipts.push(Receipt::issue(&server, &id, &heads, "2026-12-02T14:02:00Z", "a"));
        acks.push(DocHeads { id, case_id: String::new(), heads });
    }
    receipts[1].received_at = "2026-12-02T15:00:00Z".into();
    let ids: Vec<String> = acks.iter().map(|d| d.id.clone()).collect();
    let plan = ExchangePlan {
        acks,
        receipts: receipts.clone(),
        server_key: Some(server.public()),
        verify: true,
        ..ExchangePlan::default()
    };
    a.apply_exchange(&plan).unwrap();
    assert_eq!(a.verify_receipt(&ids[0]).unwrap().unwrap().receipt, receipts[0]);
    assert!(a.verify_receipt(&ids[1]).unwrap().is_none(), "the altered receipt was not kept");
    assert_eq!(a.verify_receipt(&ids[2]).unwrap().unwrap().receipt, receipts[2]);
}

#[test]
fn a_receipt_altered_on_the_device_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = store(&dir, "a", "amara");
    let id = a.create_record("case-1", &visit()).unwrap();
    let heads = to_hashes(&a.heads(&id).unwrap());
    let server = KeyPair::from_seed(&[9; 32]);
    let receipt = Receipt::issue(&server, &id, &heads, "2026-12-02T14:02:00Z", "a");
    let plan = ExchangePlan {
        acks: vec![DocHeads { id: id.clone(), case_id: String::new(), heads }],
        receipts: vec![receipt.clone()],
        server_key: Some(server.public()),
        verify: true,
        ..ExchangePlan::default()
    };
    a.apply_exchange(&plan).unwrap();
    let check = a.verify_receipt(&id).unwrap().unwrap();
    assert_eq!((check.receipt, check.problem), (receipt.clone(), None));

    // Someone moves the time of delivery in the tablet's database.
    let mut altered = receipt.clone();
    altered.received_at = "2026-12-01T09:00:00Z".into();
    let json = serde_json::to_string(&altered).unwrap();
    a.execute_batch_for_tests(&format!(
        "UPDATE receipts SET data = CAST('{json}' AS BLOB) WHERE doc_id = '{id}'"
    ))
    .unwrap();
    let check = a.verify_receipt(&id).unwrap().unwrap();
    assert_eq!(check.problem, Some(super::ReceiptProblem::BadSignature));

    // One signed by a key this device never received from its server fails too.
    let stranger = KeyPair::from_seed(&[8; 32]);
    let forged = Receipt::issue(&stranger, &id, &receipt.heads, &receipt.received_at, "a");
    let json = serde_json::to_string(&forged).unwrap();
    a.execute_batch_for_tests(&format!(
        "UPDATE receipts SET data = CAST('{json}' AS BLOB) WHERE doc_id = '{id}'"
    ))
    .unwrap();
    let check = a.verify_receipt(&id).unwrap().unwrap();
    assert_eq!(check.problem, Some(super::ReceiptProblem::UnknownServerKey));
}

#[test]
fn a_rotation_keeps_the_old_key_and_signs_with_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = store(&dir, "a", "amara");
    let old = a.public_key();
    let id = a.create_record("case-1", &visit()).unwrap();
    let new = a.rotate_key().unwrap();
    let before = a.heads(&id).unwrap();
    let mut record = a.record(&id).unwrap();
    if let RecordBody::Visit(v) = &mut record.body {
        v.observations = "Seen.".into();
    }
    a.update_record(&id, &record.body).unwrap();
    assert_eq!(a.public_keys().unwrap(), vec![old, new]);
    let all = a.changes_since(&id, &[]).unwrap();
    let keys: Vec<_> = all.signatures.iter().map(|s| s.key).collect();
    assert_eq!(keys, vec![old, new]);
    let later = a.changes_since(&id, &before).unwrap();
    assert_eq!(later.signatures.iter().map(|s| s.key).collect::<Vec<_>>(), vec![new]);
    drop(a);
    assert_eq!(store(&dir, "a", "amara").public_key(), new, "the new key after reopening");
}

/// `Store::import` (from a peer, not the server) requires a signature that verifies on every
/// imported change: stripped or altered, the document is refused and nothing of it applied.
#[test]
fn an_import_requires_a_valid_signature_on_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = store(&dir, "a", "amara");
    let mut b = store(&dir, "b", "ben");
    let id = a.create_record("case-1", &visit()).unwrap();
    let good = a.changes_since(&id, &[]).unwrap();

    let mut unsigned = good.clone();
    unsigned.signatures.clear();
    let report = b.import(&[unsigned]).unwrap();
    assert_eq!(report.rejected.len(), 1, "{report:?}");
    assert!(report.rejected[0].1.contains("unsigned"), "{report:?}");

    let mut altered = good.clone();
    altered.signatures[0].sig.0[0] ^= 1;
    let report = b.import(&[altered]).unwrap();
    assert!(report.rejected[0].1.contains("bad signature"), "{report:?}");
    assert!(b.record(&id).is_err(), "nothing of it applied");

    let report = b.import(&[good]).unwrap();
    assert_eq!(report.created, vec![id.clone()], "{report:?}");
}

/// A key registration is trusted only as the server signed it: one unsigned, altered (bound to
/// another worker) or signed by another key is dropped, and the change it would vouch for is
/// refused as signed by a key not registered.
#[test]
fn a_key_registration_the_server_did_not_sign_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = store(&dir, "a", "amara");
    let mut b = store(&dir, "b", "amara");
    let id = a.create_record("case-1", &visit()).unwrap();
    let good = a.changes_since(&id, &[]).unwrap();

    let mut unsigned = record_of(&a, "amara");
    unsigned.sig = None;
    let mut rebound = KeyRecord::signed(&server(), a.public_key(), "ben", "t", "2026-12-01", None);
    rebound.worker = "amara".into();
    let other_server =
        KeyRecord::signed(&KeyPair::from_seed(&[1; 32]), a.public_key(), "amara", "t", "x", None);
    for bad in [unsigned, rebound, other_server] {
        let applied = b.apply_exchange(&pull(vec![bad], vec![good.clone()])).unwrap();
        assert!(applied.import.rejected[0].1.contains("key not registered"), "{applied:?}");
    }
    assert!(b.record(&id).is_err());
    let applied = b.apply_exchange(&pull(vec![record_of(&a, "amara")], vec![good])).unwrap();
    assert_eq!(applied.import.created, vec![id]);
}

/// The server's key is pinned on the first sync (trust on first use, in the encrypted store);
/// an answer under another key is refused whole with a typed error, and the pin stays.
#[test]
fn the_servers_key_is_pinned_on_first_sync_and_another_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = store(&dir, "a", "amara");
    let mut b = store(&dir, "b", "amara");
    assert!(b.server_keys().unwrap().is_empty());
    b.apply_exchange(&pull(vec![], vec![])).unwrap();
    assert_eq!(b.server_keys().unwrap(), vec![server().public()], "pinned");

    let id = a.create_record("case-1", &visit()).unwrap();
    let good = a.changes_since(&id, &[]).unwrap();
    let impostor = KeyPair::from_seed(&[2; 32]);
    let record =
        KeyRecord::signed(&impostor, a.public_key(), "amara", "t", "2026-12-01T09:00:00Z", None);
    let plan = ExchangePlan {
        docs: vec![good],
        keys: vec![record],
        verify: true,
        server_key: Some(impostor.public()),
        cursor: Some((99, 1)),
        ..ExchangePlan::default()
    };
    match b.apply_exchange(&plan) {
        Err(crate::Error::ServerKeyChanged { pinned, presented }) => {
            assert_eq!(pinned, server().public().to_hex());
            assert_eq!(presented, impostor.public().to_hex());
        }
        other => panic!("{other:?}"),
    }
    assert!(b.record(&id).is_err(), "nothing of the answer applied");
    assert_eq!(b.server_keys().unwrap(), vec![server().public()], "the pin stays");
    // The typed failure the app sees.
    let failure = crate::sync::session::store_failure(crate::Error::ServerKeyChanged {
        pinned: "p".into(),
        presented: "q".into(),
    });
    assert!(matches!(failure, crate::sync::SyncFailure::ServerKeyChanged { .. }));
}

/// The signatures of a response are verified together (`protocol::signing::verify_all`); one
/// forged signature among them refuses its own document only, new or already held, and the
/// held copy is untouched.
#[test]
fn one_forged_signature_in_a_response_refuses_only_its_document() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = store(&dir, "a", "amara");
    let mut b = store(&dir, "b", "amara");
    let ids: Vec<String> = (0..5).map(|_| a.create_record("case-1", &visit()).unwrap()).collect();
    let first: Vec<_> = ids.iter().map(|id| a.changes_since(id, &[]).unwrap()).collect();
    let mut page = first.clone();
    page[2].signatures[0].sig.0[9] ^= 1;
    let applied = b.apply_exchange(&pull(vec![record_of(&a, "amara")], page)).unwrap();
    assert_eq!(applied.import.rejected.len(), 1, "{applied:?}");
    assert_eq!(applied.import.rejected[0].0, ids[2]);
    assert!(applied.import.rejected[0].1.contains("bad signature"), "{applied:?}");
    assert_eq!(applied.import.created.len(), 4);
    assert!(b.record(&ids[2]).is_err());

    // Held documents gain a change each; one of those forged.
    let before: Vec<_> = ids.iter().map(|id| a.heads(id).unwrap()).collect();
    for id in &ids {
        let mut body = a.record(id).unwrap().body;
        if let RecordBody::Visit(v) = &mut body {
            v.observations.push_str(" Seen again.");
        }
        a.update_record(id, &body).unwrap();
    }
    let mut page: Vec<_> =
        ids.iter().zip(&before).map(|(id, h)| a.changes_since(id, h).unwrap()).collect();
    page[2] = first[2].clone();
    page[3].signatures[0].sig.0[9] ^= 1;
    let held = b.record(&ids[3]).unwrap();
    let applied = b.apply_exchange(&pull(vec![], page)).unwrap();
    assert_eq!(applied.import.rejected.len(), 1, "{applied:?}");
    assert_eq!(applied.import.rejected[0].0, ids[3]);
    assert_eq!(applied.import.created, vec![ids[2].clone()]);
    assert_eq!(applied.import.updated.len(), 3);
    assert_eq!(b.record(&ids[3]).unwrap(), held, "the held copy is untouched");
    for id in [&ids[0], &ids[1], &ids[4]] {
        assert_eq!(b.record(id).unwrap(), a.record(id).unwrap());
    }
    assert!(b.record(&ids[2]).is_ok(), "sent again with its first signature: taken");
}
