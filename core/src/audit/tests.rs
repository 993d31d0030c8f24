//! The verifier on bundles built in memory (no server): each check fails on its own tampering,
//! with the item named. The same checks over a real server's database: tests/tests/audit.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use chrono::Utc;

use super::*;
use crate::document::{Author, RecordDoc};
use crate::protocol::{Hash, KeyEvent, KeyPair, Receipt};
use crate::records::{RecordBody, Visit, VisitKind};

fn server() -> KeyPair {
    KeyPair::from_seed(&[1; 32])
}

/// A visit by amara (created, then edited), signed by her device key, that key registered by
/// the server, and the server's receipt of both changes.
fn bundle() -> Bundle {
    let (server, device) = (server(), KeyPair::from_seed(&[2; 32]));
    let author = Author::new("amara", "tablet-1");
    let mut visit = Visit::new(VisitKind::ChildInNeed, Utc::now());
    visit.observations = "Seen at home.".into();
    let mut doc = RecordDoc::create(
        &author,
        "v1".into(),
        "c1".into(),
        &RecordBody::Visit(visit.clone()),
        Utc::now(),
    )
    .unwrap();
    visit.observations.push_str(" Seen alone.");
    doc.update_body(&author, &RecordBody::Visit(visit), Utc::now()).unwrap();
    let raw = doc.raw_changes();
    let changes = raw
        .iter()
        .map(|(h, b)| BundleChange {
            hash: hex::encode(h.0),
            bytes: encode_bytes(b),
            signature: Some(BundleSignature::of(&device.sign_change(Hash(h.0), None))),
        })
        .collect();
    let heads: Vec<Hash> = doc.heads().iter().map(|h| Hash(h.0)).collect();
    let receipt = Receipt::issue(&server, "v1", &heads, "2026-12-02T14:02:00Z", "tablet-1");
    let event = KeyEvent::issue(
        &server,
        "registered",
        device.public(),
        "amara",
        "tablet-1",
        "2026-12-01T09:00:00Z",
        "sha256:0011223344556677",
    );
    let bytes: Vec<Vec<u8>> = raw.iter().map(|(_, b)| b.clone()).collect();
    Bundle {
        format: FORMAT.into(),
        scope: Scope::Record("v1".into()),
        exported_at: "2026-12-02T15:00:00Z".into(),
        server_key: server.public().to_hex(),
        records: vec![BundleRecord {
            id: "v1".into(),
            case_id: "c1".into(),
            kind: "visit".into(),
            changes,
            receipts: vec![BundleReceipt::of(&receipt)],
        }],
        key_events: vec![BundleKeyEvent::of(&event)],
        timeline: vec![timeline::build("v1", &bytes, &HashMap::new()).unwrap()],
    }
}

fn check(b: &Bundle) -> Report {
    verify(b, Some(&server().public()))
}

fn failed(report: &Report) -> Vec<(Check, String)> {
    report.failures.iter().map(|f| (f.check, f.item.clone())).collect()
}

#[test]
fn an_untampered_bundle_verifies_through_json() {
    let b = Bundle::from_json(&bundle().to_json()).unwrap();
    let report = check(&b);
    assert!(report.ok(), "{:#?}", report.failures);
    assert_eq!(report.passed.len(), 9);
    let t = &b.timeline[0];
    assert_eq!(t.entries[0].steps, ["created"]);
    assert_eq!(t.entries[1].diff.len(), 1);
    assert_eq!(t.entries[1].diff[0].field, "observations");
    assert_eq!(t.entries[1].diff[0].before, Some("Seen at home.".into()));
    assert_eq!(t.submitted_version, None);
}

#[test]
fn each_tampering_fails_its_own_check_naming_the_item() {
    let good = bundle();
    let first = format!("record v1 change {}", good.records[0].changes[0].hash);
    let second = format!("record v1 change {}", good.records[0].changes[1].hash);

    let mut b = good.clone();
    let mut bytes = decode_bytes(&b.records[0].changes[1].bytes).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    b.records[0].changes[1].bytes = encode_bytes(&bytes);
    let r = check(&b);
    assert_eq!(r.of(Check::Hash).len(), 1);
    assert_eq!(r.of(Check::Hash)[0].item, second);

    let mut b = good.clone();
    b.records[0].changes.remove(0);
    let r = check(&b);
    assert_eq!(failed(&r)[0], (Check::CausalChain, second.clone()));
    assert!(r.failures[0].detail.contains(&good.records[0].changes[0].hash));

    let mut b = good.clone();
    let (s0, s1) =
        (b.records[0].changes[0].signature.clone(), b.records[0].changes[1].signature.clone());
    b.records[0].changes[0].signature = s1;
    b.records[0].changes[1].signature = s0;
    let r = check(&b);
    assert_eq!(r.of(Check::Signature).len(), 2);
    assert_eq!(r.of(Check::Signature)[0].item, first);

    let mut b = good.clone();
    b.records[0].changes[0].signature = None;
    let r = check(&b);
    assert_eq!(failed(&r)[0], (Check::Signature, first.clone()));
    assert!(r.failures[0].detail.starts_with("unsigned"));

    let mut b = good.clone();
    b.key_events[0].worker = "bola".into();
    let r = check(&b);
    assert_eq!(r.of(Check::KeyEvent).len(), 1);
    assert_eq!(r.of(Check::KeyRegistration).len(), 2);

    let mut b = good.clone();
    b.records[0].receipts[0].heads.push(hex::encode([5u8; 32]));
    let r = check(&b);
    assert_eq!(failed(&r), [(Check::Receipt, "record v1 receipt 0".to_string())]);

    let mut b = good.clone();
    b.timeline[0].entries[1].worker = "bola".into();
    let r = check(&b);
    assert_eq!(failed(&r), [(Check::Timeline, "timeline of record v1".to_string())]);

    let mut b = good.clone();
    b.format = "fieldbook-audit/v0".into();
    assert_eq!(failed(&check(&b)), [(Check::Format, "bundle".to_string())]);
}

#[test]
fn a_change_signed_by_a_key_registered_to_another_worker_is_not_attributed() {
    let mut b = bundle();
    let bola = KeyPair::from_seed(&[3; 32]);
    let event = KeyEvent::issue(
        &server(),
        "registered",
        bola.public(),
        "bola",
        "t9",
        "2026-12-01T10:00:00Z",
        "sha256:aa",
    );
    b.key_events.push(BundleKeyEvent::of(&event));
    let hash = decode_32(&b.records[0].changes[1].hash).unwrap();
    b.records[0].changes[1].signature =
        Some(BundleSignature::of(&bola.sign_change(Hash(hash), None)));
    let r = check(&b);
    let of = r.of(Check::KeyRegistration);
    assert_eq!(of.len(), 1, "{:#?}", r.failures);
    assert!(of[0].detail.contains("registered to worker \"bola\""));
    assert!(r.of(Check::Signature).is_empty());
}

#[test]
fn the_server_signs_only_for_someone_it_names() {
    let mut b = bundle();
    let hash = decode_32(&b.records[0].changes[1].hash).unwrap();
    b.records[0].changes[1].signature =
        Some(BundleSignature::of(&server().sign_change(Hash(hash), None)));
    let r = check(&b);
    let of = r.of(Check::KeyRegistration);
    assert_eq!(of.len(), 1, "{:#?}", r.failures);
    assert!(of[0].detail.contains("without naming whom it acted for"));
}

#[test]
fn a_bundle_that_is_not_json_of_the_format_is_a_typed_error() {
    assert!(matches!(Bundle::from_json(b"{\"format\": 1}"), Err(BundleError::Malformed(_))));
}
