//! The checks of an audit bundle: every change's hash, its signature, the registration of the
//! key that signed it, the key events, the causal chain, the receipts and the timeline. Pure:
//! the caller reads the file and prints the report. Each failure names the check and the item
//! (which record, which change, which key event, which receipt) so that a reader knows exactly
//! what does not hold.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::{decode_32, decode_64, decode_bytes, timeline, Bundle, BundleChange, FORMAT};
use crate::document::authorship::{parse_actor, same_worker};
use crate::document::chunks;
use crate::protocol::{ChangeSignature, Hash, KeyEvent, PublicKey, Receipt, Sig};

/// Which check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The bundle's format name.
    Format,
    /// The server's key: well formed, and the one the verifier was told to expect.
    ServerKey,
    /// A key event's server signature.
    KeyEvent,
    /// A change's bytes and the SHA-256 hash Automerge names it by.
    Hash,
    /// A change's Ed25519 signature (missing, malformed, or not verifying).
    Signature,
    /// The signing key's registration: registered by a valid key event, to the change's author.
    KeyRegistration,
    /// Every dependency of every change present.
    CausalChain,
    /// A receipt's server signature and the changes it acknowledges.
    Receipt,
    /// The timeline agrees with the changes.
    Timeline,
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Check::Format => "format",
            Check::ServerKey => "server key",
            Check::KeyEvent => "key event",
            Check::Hash => "hash",
            Check::Signature => "signature",
            Check::KeyRegistration => "key registration",
            Check::CausalChain => "causal chain",
            Check::Receipt => "receipt",
            Check::Timeline => "timeline",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub check: Check,
    /// What failed: `record <id> change <hash>`, `key event 3`, `record <id> receipt 0`, ...
    pub item: String,
    pub detail: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.item, self.check, self.detail)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// One line per check that held throughout, with what it covered.
    pub passed: Vec<String>,
    pub failures: Vec<Failure>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    /// The failures of one check.
    pub fn of(&self, check: Check) -> Vec<&Failure> {
        self.failures.iter().filter(|f| f.check == check).collect()
    }

    fn fail(&mut self, check: Check, item: impl Into<String>, detail: impl Into<String>) {
        self.failures.push(Failure { check, item: item.into(), detail: detail.into() });
    }

    fn pass_if_clean(&mut self, check: Check, line: String) {
        if self.of(check).is_empty() {
            self.passed.push(line);
        }
    }
}

/// A device key as the valid key events describe it.
struct Registration {
    worker: String,
    revoked: bool,
}

/// Checks a bundle. `expected_server_key` is the key the council publishes; without it the
/// bundle's own is used (everything is then checked for consistency with it only).
pub fn verify(bundle: &Bundle, expected_server_key: Option<&PublicKey>) -> Report {
    let mut report = Report::default();
    if bundle.format != FORMAT {
        report.fail(Check::Format, "bundle", format!("format {:?}, not {FORMAT:?}", bundle.format));
        return report;
    }
    report.passed.push(format!("format: {FORMAT}"));
    let server = match decode_32(&bundle.server_key).map(PublicKey) {
        None => {
            report.fail(Check::ServerKey, "bundle", "server_key is not 64 hex characters");
            return report;
        }
        Some(key) => key,
    };
    match expected_server_key {
        Some(expected) if *expected != server => report.fail(
            Check::ServerKey,
            "bundle",
            format!("the bundle's server key {} is not the expected {}", server.to_hex(), expected.to_hex()),
        ),
        Some(_) => report.passed.push(format!("server key: {} as expected", server.to_hex())),
        None => report.passed.push(format!(
            "server key: {} (taken from the bundle: compare it with the published key, --server-key)",
            server.to_hex()
        )),
    }

    let registrations = key_events(bundle, &server, &mut report);
    let mut totals = Totals::default();
    for record in &bundle.records {
        check_record(bundle, record, &server, &registrations, &mut report, &mut totals);
    }
    let mut timeline_ids = HashSet::new();
    for t in &bundle.timeline {
        if !timeline_ids.insert(t.record.as_str()) {
            report.fail(
                Check::Timeline,
                format!("timeline of record {}", t.record),
                "listed twice",
            );
        }
        if !bundle.records.iter().any(|r| r.id == t.record) {
            report.fail(
                Check::Timeline,
                format!("timeline of record {}", t.record),
                "the bundle has no such record",
            );
        }
    }

    let n = totals.changes;
    report.pass_if_clean(
        Check::Hash,
        format!("hashes: {n} changes decode and hash (SHA-256) to their listed hash"),
    );
    report.pass_if_clean(
        Check::Signature,
        format!("signatures: {n} changes carry a verifying Ed25519 signature"),
    );
    report.pass_if_clean(
        Check::KeyRegistration,
        format!(
            "key registrations: {} changes signed by a registered key of their author ({} of them by keys revoked since: revocation refuses later pushes, not what was signed before), {} signed by the server on someone's behalf",
            totals.by_device, totals.by_revoked, totals.by_server
        ),
    );
    report.pass_if_clean(
        Check::CausalChain,
        format!("causal chain: every dependency of the {n} changes is in the bundle"),
    );
    report.pass_if_clean(
        Check::Receipt,
        format!(
            "receipts: {} signed by the server, acknowledging only changes in the bundle",
            totals.receipts
        ),
    );
    report.pass_if_clean(
        Check::Timeline,
        format!("timeline: {} records' timelines agree with their changes", totals.timelines),
    );
    report
}

#[derive(Default)]
struct Totals {
    changes: usize,
    by_device: usize,
    by_revoked: usize,
    by_server: usize,
    receipts: usize,
    timelines: usize,
}

/// The valid key events, by key; each invalid one is a failure.
fn key_events(
    bundle: &Bundle,
    server: &PublicKey,
    report: &mut Report,
) -> HashMap<PublicKey, Registration> {
    let mut out: HashMap<PublicKey, Registration> = HashMap::new();
    for (i, e) in bundle.key_events.iter().enumerate() {
        let item = format!("key event {i} ({} of key {})", e.event, e.key);
        let parsed = (decode_32(&e.key), decode_32(&e.server_key), decode_64(&e.sig));
        let (Some(key), Some(server_key), Some(sig)) = parsed else {
            report.fail(Check::KeyEvent, item, "a key or signature is not hex of the right length");
            continue;
        };
        let event = KeyEvent {
            event: e.event.clone(),
            key: PublicKey(key),
            worker: e.worker.clone(),
            device: e.device.clone(),
            at: e.at.clone(),
            by: e.by.clone(),
            server_key: PublicKey(server_key),
            sig: Sig(sig),
        };
        if event.verify(server).is_err() {
            report.fail(
                Check::KeyEvent,
                item,
                "the server's signature does not verify over the event",
            );
            continue;
        }
        match e.event.as_str() {
            "registered" => {
                out.entry(PublicKey(key))
                    .or_insert(Registration { worker: e.worker.clone(), revoked: false });
            }
            "revoked" => {
                if let Some(reg) = out.get_mut(&PublicKey(key)) {
                    reg.revoked = true;
                }
            }
            other => report.fail(Check::KeyEvent, item, format!("unknown event {other:?}")),
        }
    }
    report.pass_if_clean(
        Check::KeyEvent,
        format!("key events: {} signed by the server key", bundle.key_events.len()),
    );
    out
}

/// A change decoded and its hash computed; `None` (with a failure reported) when it does not.
fn decode_change(
    item: &str,
    change: &BundleChange,
    report: &mut Report,
) -> Option<automerge::Change> {
    let Some(bytes) = decode_bytes(&change.bytes) else {
        report.fail(Check::Hash, item, "the bytes are not base64");
        return None;
    };
    // Bounded before automerge sees it (deflated columns are counted, not inflated).
    if let Err(e) = chunks::check(&bytes, chunks::Source::Changes) {
        report.fail(Check::Hash, item, format!("the bytes are not an Automerge change: {e}"));
        return None;
    }
    let decoded = std::panic::catch_unwind(|| automerge::Change::from_bytes(bytes));
    let change_decoded = match decoded {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            report.fail(Check::Hash, item, format!("the bytes are not an Automerge change: {e}"));
            return None;
        }
        Err(_) => {
            report.fail(Check::Hash, item, "the bytes are not an Automerge change: malformed");
            return None;
        }
    };
    let computed = hex::encode(change_decoded.hash().0);
    if computed != change.hash {
        report.fail(
            Check::Hash,
            item,
            format!("the bytes hash to {computed}, not the listed hash"),
        );
        return None;
    }
    Some(change_decoded)
}

fn check_record(
    bundle: &Bundle,
    record: &super::BundleRecord,
    server: &PublicKey,
    registrations: &HashMap<PublicKey, Registration>,
    report: &mut Report,
    totals: &mut Totals,
) {
    let listed: HashSet<&str> = record.changes.iter().map(|c| c.hash.as_str()).collect();
    let failures_before = report.failures.len();
    let mut decoded = Vec::with_capacity(record.changes.len());
    let mut acting = HashMap::new();
    for change in &record.changes {
        totals.changes += 1;
        let item = format!("record {} change {}", record.id, change.hash);
        let Some(c) = decode_change(&item, change, report) else { continue };
        for dep in c.deps() {
            let dep = hex::encode(dep.0);
            if !listed.contains(dep.as_str()) {
                report.fail(
                    Check::CausalChain,
                    &item,
                    format!("depends on change {dep}, which is not in the bundle"),
                );
            }
        }
        check_signature(&item, &c, change, server, registrations, report, totals);
        if let Some(a) = change.signature.as_ref().and_then(|s| s.acting.clone()) {
            acting.insert(c.hash().0, a);
        }
        decoded.push(c);
    }
    let changes_fail = report.failures.len() > failures_before;
    for (i, r) in record.receipts.iter().enumerate() {
        totals.receipts += 1;
        check_receipt(
            &format!("record {} receipt {i}", record.id),
            record,
            r,
            &listed,
            server,
            report,
        );
    }
    let item = format!("timeline of record {}", record.id);
    let Some(listed_timeline) = bundle.timeline.iter().find(|t| t.record == record.id) else {
        report.fail(Check::Timeline, item, "missing");
        return;
    };
    if changes_fail {
        report.fail(
            Check::Timeline,
            item,
            "not rebuilt: the record's changes fail the checks above",
        );
        return;
    }
    let bytes: Vec<Vec<u8>> = decoded.iter().map(|c| c.raw_bytes().to_vec()).collect();
    match timeline::build(&record.id, &bytes, &acting) {
        Err(e) => report.fail(Check::Timeline, item, e.to_string()),
        Ok(rebuilt) if rebuilt == *listed_timeline => totals.timelines += 1,
        Ok(rebuilt) => {
            let at = rebuilt.entries.iter().zip(&listed_timeline.entries).position(|(a, b)| a != b);
            let detail = match at {
                Some(i) => format!(
                    "entry {i} (change {}) is not what the change says",
                    rebuilt.entries[i].change
                ),
                None if rebuilt.entries.len() != listed_timeline.entries.len() => format!(
                    "{} entries listed, the changes make {}",
                    listed_timeline.entries.len(),
                    rebuilt.entries.len()
                ),
                None => "the submitted version is not what the changes say".into(),
            };
            report.fail(Check::Timeline, item, detail);
        }
    }
}

fn check_signature(
    item: &str,
    c: &automerge::Change,
    change: &BundleChange,
    server: &PublicKey,
    registrations: &HashMap<PublicKey, Registration>,
    report: &mut Report,
    totals: &mut Totals,
) {
    let Some(s) = &change.signature else {
        report.fail(Check::Signature, item, "unsigned: the bundle holds no signature for it");
        return;
    };
    let (Some(key), Some(sig)) = (decode_32(&s.key), decode_64(&s.sig)) else {
        report.fail(Check::Signature, item, "the key or signature is not hex of the right length");
        return;
    };
    let sig = ChangeSignature {
        hash: Hash(c.hash().0),
        key: PublicKey(key),
        sig: Sig(sig),
        acting: s.acting.clone(),
    };
    if sig.verify().is_err() {
        report.fail(
            Check::Signature,
            item,
            format!("the signature by key {} does not verify over this change's hash", s.key),
        );
        return;
    }
    if sig.key == *server {
        if sig.acting.is_none() {
            report.fail(
                Check::KeyRegistration,
                item,
                "signed by the server's key without naming whom it acted for",
            );
        } else {
            totals.by_server += 1;
        }
        return;
    }
    if sig.acting.is_some() {
        report.fail(
            Check::KeyRegistration,
            item,
            format!(
                "key {} is not the server's, yet its signature names someone it acted for",
                s.key
            ),
        );
        return;
    }
    let Some(reg) = registrations.get(&sig.key) else {
        report.fail(
            Check::KeyRegistration,
            item,
            format!("signed by key {}, which no valid key event registers", s.key),
        );
        return;
    };
    let author = parse_actor(c.actor_id()).map(|(w, _)| w).unwrap_or_default();
    if !same_worker(&reg.worker, &author) {
        report.fail(
            Check::KeyRegistration,
            item,
            format!("signed by key {}, registered to worker {:?}, but the change's author is {author:?}", s.key, reg.worker),
        );
        return;
    }
    totals.by_device += 1;
    if reg.revoked {
        totals.by_revoked += 1;
    }
}

fn check_receipt(
    item: &str,
    record: &super::BundleRecord,
    r: &super::BundleReceipt,
    listed: &HashSet<&str>,
    server: &PublicKey,
    report: &mut Report,
) {
    if r.doc != record.id {
        report.fail(
            Check::Receipt,
            item,
            format!("it is the receipt of {}, not of this record", r.doc),
        );
        return;
    }
    let heads: Option<Vec<Hash>> = r.heads.iter().map(|h| decode_32(h).map(Hash)).collect();
    let (Some(heads), Some(key), Some(sig)) = (heads, decode_32(&r.key), decode_64(&r.sig)) else {
        report.fail(
            Check::Receipt,
            item,
            "a head, key or signature is not hex of the right length",
        );
        return;
    };
    let receipt = Receipt {
        doc: r.doc.clone(),
        heads,
        received_at: r.received_at.clone(),
        device: r.device.clone(),
        key: PublicKey(key),
        sig: Sig(sig),
    };
    if receipt.verify(server).is_err() {
        report.fail(
            Check::Receipt,
            item,
            "the server's signature does not verify over the receipt",
        );
        return;
    }
    for h in &r.heads {
        if !listed.contains(h.as_str()) {
            report.fail(
                Check::Receipt,
                item,
                format!("it acknowledges change {h}, which is not in the bundle"),
            );
        }
    }
}
