//! Applying pushed changes: who may write which document, and what is acknowledged.
//!
//! Each pushed document goes through three steps: read what storage knows of it (async, no
//! Automerge), decide (`decide`: a plain function, run in the pool), and, once every document is
//! decided, write all the accepted ones in one transaction.

use std::collections::{HashMap, HashSet};

use futures_util::stream::{FuturesOrdered, StreamExt};

use automerge::{AutoCommit, ChangeHash};
use fieldbook_core::document::authorship::{parse_actor, same_worker};
use fieldbook_core::document::RecordDoc;
use fieldbook_core::protocol::{
    ChangeSignature, DocHeads, Hash, PushDoc, Receipt, RejectReason, Rejection,
};
use fieldbook_core::records::{id_fits, IdMisfit, RecordKind};

use super::{doc_from_changes, stored_changes, Hub, HubError, Job};
use crate::auth::{Identity, Role};
use crate::oversight::projection::DocFacts;
use crate::storage::signing::KeyRegistration;
use crate::storage::{DocInfo, HeadsMove, NewChanges, Storage};

/// The outcome of the push half of an exchange.
#[derive(Debug, Default)]
pub(super) struct Pushed {
    pub acks: Vec<DocHeads>,
    pub rejected: Vec<Rejection>,
    /// Hashes of every change the device sent: never sent back to it.
    pub hashes: HashSet<Hash>,
    /// The server's signed receipt of each acknowledgement.
    pub receipts: Vec<Receipt>,
}

pub(super) async fn apply(
    hub: &Hub,
    who: &Identity,
    device: &str,
    visible: &[String],
    push: Vec<PushDoc>,
) -> Result<Pushed, HubError> {
    let received_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut cases = Cases { who, visible: visible.iter().cloned().collect(), ever: HashMap::new() };
    let mut keys = Keys::default();
    let mut taken = Taken::default();
    // The decisions run on the pool side by side (as many as it has permits): storage is read
    // for the next document while the pool decides the ones before it, and the decisions are
    // taken in push order. At most `pool.size()` documents are read and undecided at once, so
    // what is held stays bounded by the pool, not by the size of the push.
    let mut deciding = FuturesOrdered::new();
    let mut push = push.into_iter();
    loop {
        if let Some(doc) = push.next() {
            let (input, found) = gather(hub, &mut cases, &mut keys, doc).await?;
            let worker = who.subject.clone();
            let Found { doc: loaded, state } = found;
            deciding.push_back(hub.pool.run(Job::Push, move || {
                let decided = decide_loaded(&worker, &input, loaded)
                    .map(|(decision, merged)| (decision, merged.map(Merged::finish)));
                (input.push, decided, state)
            }));
            if deciding.len() < hub.pool.size() {
                continue;
            }
        }
        let Some(result) = deciding.next().await else { break };
        let (doc, decided, state) = result?;
        taken.take(hub, (who, device, &received_at), doc, decided?, state).await?;
    }
    let Taken { out, batch, hot, known } = taken;
    // All accepted documents are committed together: an acknowledgement is only sent for what
    // is durably stored.
    if !batch.is_empty() {
        crate::oversight::projection::append_and_project_known(hub, batch, known).await?;
    }
    // Only now, with their changes committed, do the documents go back to the cache.
    for (id, heads, doc, bytes) in hot {
        hub.cache.put(id, heads, doc, bytes);
    }
    Ok(out)
}

/// What the push half collects from the decisions, taken one by one in push order: the answer,
/// the changes to commit, and the documents to keep hot with their projections' facts.
#[derive(Default)]
struct Taken {
    out: Pushed,
    batch: Vec<NewChanges>,
    hot: Vec<(String, Vec<Hash>, HotDoc, usize)>,
    known: crate::oversight::projection::Known,
}

impl Taken {
    async fn take(
        &mut self,
        hub: &Hub,
        (who, device, received_at): (&Identity, &str, &str),
        doc: PushDoc,
        (decision, merged): (Decision, Option<Merged>),
        state: StoredState,
    ) -> Result<(), HubError> {
        let out = &mut self.out;
        match decision {
            Decision::Accept { changes, ack } => {
                out.hashes.extend(doc.heads.iter().copied());
                out.hashes.extend(changes.iter().map(|(h, _)| *h));
                let new_bytes: usize = changes.iter().map(|(_, b)| b.len()).sum();
                let mut heads = None;
                if let Some(m) = merged {
                    if state.heads.is_none() && state.count > 0 {
                        // Stored before heads were kept (or after concurrent appends): record
                        // the heads of what was loaded, so that the append below moves them.
                        hub.storage.put_heads(&doc.id, m.before.clone(), state.count).await?;
                    }
                    heads = Some(HeadsMove { before: m.before, after: m.after.clone() });
                    self.known.facts.insert(doc.id.clone(), m.hot.facts.clone());
                    if m.heads_only {
                        self.known.heads_only.insert(doc.id.clone());
                    }
                    self.hot.push((doc.id.clone(), m.after, m.hot, state.bytes + new_bytes));
                }
                if !changes.is_empty() {
                    let new: HashSet<&Hash> = changes.iter().map(|(h, _)| h).collect();
                    // Every new change was checked to carry one (`decide`).
                    let signatures = doc
                        .signatures
                        .iter()
                        .filter(|s| new.contains(&s.hash))
                        .map(|s| (s.hash, s.to_bytes()))
                        .collect();
                    let info = DocInfo { id: doc.id.clone(), case_id: doc.case_id, kind: doc.kind };
                    self.batch.push(NewChanges { doc: info, changes, heads, signatures });
                }
                if ack {
                    out.receipts.push(Receipt::issue(
                        &hub.key,
                        &doc.id,
                        &doc.heads,
                        received_at,
                        device,
                    ));
                    out.acks.push(DocHeads {
                        id: doc.id,
                        case_id: String::new(),
                        heads: doc.heads,
                    });
                }
            }
            Decision::Refuse(reason) => {
                // Logged without content: which document, which case, why.
                tracing::warn!(worker = %who.subject, doc = %doc.id, case = %doc.case_id, ?reason, "push refused");
                out.rejected.push(Rejection { id: doc.id, reason });
            }
        }
        Ok(())
    }
}

/// A pushed document merged with what was stored, ready to be kept hot: its heads before and
/// after (sorted, as storage keeps them), and the document with its projection's facts.
struct Merged {
    before: Vec<Hash>,
    after: Vec<Hash>,
    hot: HotDoc,
    /// Its facts moved only in their heads (a text edit).
    heads_only: bool,
}

/// A stored document as the hub keeps it hot (`cache`): loaded, with the facts of its
/// projection derived at the same heads.
#[derive(Debug)]
pub(super) struct HotDoc {
    doc: AutoCommit,
    facts: DocFacts,
}

impl Merged {
    /// Automerge work: in the pool.
    fn finish(merged: Loaded) -> Self {
        let Loaded { before, checked } = merged;
        let before = sorted(&before);
        match checked {
            Checked::Hydrated(mut record) => {
                let facts = crate::oversight::projection::doc_facts(&mut record);
                let after = sorted(&record.heads());
                let hot = HotDoc { facts, doc: record.into_doc() };
                Self { before, after, hot, heads_only: false }
            }
            Checked::TextEdited(HotDoc { mut doc, facts }) => {
                let after = sorted(&doc.get_heads());
                let facts = crate::oversight::projection::at_heads(facts, &after);
                Self { before, after, hot: HotDoc { doc, facts }, heads_only: true }
            }
        }
    }
}

fn sorted(heads: &[ChangeHash]) -> Vec<Hash> {
    let mut out: Vec<_> = heads.iter().copied().map(Hash::from).collect();
    out.sort_unstable();
    out
}

/// Which cases the caller may write, asked of storage once per case per exchange.
struct Cases<'a> {
    who: &'a Identity,
    visible: HashSet<String>,
    ever: HashMap<String, bool>,
}

impl Cases<'_> {
    /// A case visible now, or — for a worker — allocated to them before: late work on a case
    /// that was re-allocated is kept, never dropped.
    async fn may_write(&mut self, storage: &dyn Storage, case_id: &str) -> Result<bool, HubError> {
        if self.visible.contains(case_id) {
            return Ok(true);
        }
        if self.who.role != Role::Worker {
            return Ok(false);
        }
        if let Some(known) = self.ever.get(case_id) {
            return Ok(*known);
        }
        let ever = storage.ever_allocated(&self.who.subject, case_id).await?;
        self.ever.insert(case_id.to_string(), ever);
        Ok(ever)
    }
}

/// Everything `decide` needs, read from storage beforehand.
#[derive(Debug)]
pub(super) struct PushInput {
    pub push: PushDoc,
    /// The caller may write the case the push names.
    pub case_allowed: bool,
    pub stored: Stored,
    /// The registrations of the keys the push's signatures name (unknown keys absent).
    pub keys: HashMap<[u8; 32], KeyRegistration>,
    /// This server's own public key: changes it wrote (a case summary for the case system, a
    /// manager's decision) carry its signature, and a device may relay them back to it.
    pub server_key: [u8; 32],
}

/// What storage holds under the pushed id, as far as the caller may know.
#[derive(Debug)]
pub(super) enum Stored {
    /// Nothing, or (`hidden`) a document in a case the caller may not write, which is answered
    /// exactly as nothing (the hub's rule, see `hub`), except that it is never created again
    /// under the same id.
    Absent { hidden: bool },
    /// A document in a case the caller may write, with its changes (left empty when its case
    /// or kind is not the pushed one: then it is refused without loading).
    Here { info: DocInfo, changes: Vec<u8> },
}

/// What `gather` found of the stored document beside `PushInput`: the hot copy when the cache
/// holds it at the stored heads, and what the heads bookkeeping needs.
#[derive(Debug, Default)]
struct Found {
    /// The document loaded at exactly the stored heads (then `Stored::Here` has no changes).
    doc: Option<HotDoc>,
    state: StoredState,
}

/// The stored heads and size of a pushed document, kept beside its decision.
#[derive(Debug, Default)]
struct StoredState {
    /// The stored heads (`None`: unknown, or no document).
    heads: Option<Vec<Hash>>,
    /// Stored changes, and their bytes.
    count: u64,
    bytes: usize,
}

/// The registrations of device keys read in one exchange: a device signs all its changes with
/// one key, so a push of a hundred documents asks storage once, not a hundred times.
#[derive(Debug, Default)]
struct Keys(HashMap<[u8; 32], Option<KeyRegistration>>);

impl Keys {
    async fn named(
        &mut self,
        storage: &dyn Storage,
        push: &PushDoc,
    ) -> Result<HashMap<[u8; 32], KeyRegistration>, HubError> {
        let mut named = HashMap::new();
        for sig in &push.signatures {
            let key = sig.key.0;
            if named.contains_key(&key) {
                continue;
            }
            let reg = match self.0.get(&key) {
                Some(known) => known.clone(),
                None => {
                    let reg = storage.device_key(key).await?;
                    self.0.insert(key, reg.clone());
                    reg
                }
            };
            if let Some(reg) = reg {
                named.insert(key, reg);
            }
        }
        Ok(named)
    }
}

async fn gather(
    hub: &Hub,
    cases: &mut Cases<'_>,
    keys: &mut Keys,
    push: PushDoc,
) -> Result<(PushInput, Found), HubError> {
    let storage = hub.storage.as_ref();
    let server_key = hub.key.public().0;
    let case_allowed = cases.may_write(storage, &push.case_id).await?;
    // Nothing else is read for a push refused on its case or its id alone.
    if !case_allowed || id_fits(push.kind, &push.case_id, &push.id).is_err() {
        let stored = Stored::Absent { hidden: false };
        let input = PushInput { push, case_allowed, stored, keys: HashMap::new(), server_key };
        return Ok((input, Found::default()));
    }
    let keys = keys.named(storage, &push).await?;
    let mut found = Found::default();
    let stored = match storage.doc_state(&push.id).await? {
        None => Stored::Absent { hidden: false },
        Some(state) => {
            let info = state.info;
            if cases.may_write(storage, &info.case_id).await? {
                let same = info.case_id == push.case_id && info.kind == push.kind;
                found.state.count = state.changes;
                let hot = match (&state.heads, same) {
                    (Some(heads), true) => hub.cache.take(&push.id, heads),
                    _ => None,
                };
                found.state.heads = state.heads;
                let changes = match hot {
                    Some((doc, bytes)) => {
                        found.doc = Some(doc);
                        found.state.bytes = bytes;
                        Vec::new()
                    }
                    None if same => {
                        let changes = stored_changes(storage, &push.id).await?;
                        found.state.bytes = changes.len();
                        changes
                    }
                    None => Vec::new(),
                };
                Stored::Here { info, changes }
            } else {
                Stored::Absent { hidden: true }
            }
        }
    };
    Ok((PushInput { push, case_allowed, stored, keys, server_key }, found))
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Decision {
    /// Store `changes` (the new ones, in causal order; possibly none) and acknowledge the
    /// pushed heads when `ack`.
    Accept {
        changes: Vec<(Hash, Vec<u8>)>,
        ack: bool,
    },
    Refuse(RejectReason),
}

/// Decides one pushed document. Automerge work: runs in the pool. `Err` is a damaged stored
/// document (the exchange fails); a refusal is `Ok(Refuse(_))`.
///
/// The order of the checks is what keeps the answers free of an existence oracle: the case and
/// the id are checked before anything stored is looked at, and a document the caller may not
/// see (`hidden`) goes through the same checks as no document at all.
#[cfg(test)]
pub(super) fn decide(worker: &str, input: &PushInput) -> Result<Decision, HubError> {
    decide_loaded(worker, input, None).map(|(decision, _)| decision)
}

/// A record document accepted by `decide_loaded`, and its heads before the push.
pub(super) struct Loaded {
    before: Vec<ChangeHash>,
    checked: Checked,
}

/// How an accepted record was checked.
pub(super) enum Checked {
    /// Hydrated whole (its facts are derived again).
    Hydrated(RecordDoc),
    /// The hot copy, changed only by text edits (`text_edits`): its facts stand but for heads.
    TextEdited(HotDoc),
}

/// `decide`, given the stored document already loaded (`loaded`: the hot copy at the stored
/// heads, used instead of `Stored::Here`'s changes). An accepted record push also returns the
/// merged document (for the cache and the projection: neither loads it again).
fn decide_loaded(
    worker: &str,
    input: &PushInput,
    loaded: Option<HotDoc>,
) -> Result<(Decision, Option<Loaded>), HubError> {
    use RejectReason::*;
    let refuse = |reason| Ok((Decision::Refuse(reason), None));
    let push = &input.push;
    if !input.case_allowed {
        return refuse(NotAllocated);
    }
    match id_fits(push.kind, &push.case_id, &push.id) {
        Ok(()) => {}
        // Only the case system creates case summaries.
        Err(IdMisfit::NotTheCaseSummary) => return refuse(ReadOnly),
        Err(IdMisfit::NotADeviceId) => return refuse(InvalidId),
    }
    let (stored, hidden) = match &input.stored {
        Stored::Here { info, .. } if info.case_id != push.case_id || info.kind != push.kind => {
            return refuse(CaseMismatch);
        }
        Stored::Here { changes, .. } => (Some(changes), false),
        Stored::Absent { hidden } => (None, *hidden),
    };
    let (mut doc, facts) = match (loaded, stored) {
        (Some(hot), Some(_)) => (hot.doc, Some(hot.facts)),
        (None, Some(changes)) => (doc_from_changes(&push.id, changes)?, None),
        (_, None) => (AutoCommit::new(), None),
    };
    let before = doc.get_heads();
    // The pushed changes parsed one by one, and which of them the stored document lacks: exactly
    // the new ones (what `get_changes(&before)` answers after the load, without asking automerge
    // to rebuild every change from its op set, which was most of the server's work per push).
    let Ok(chunks) = fieldbook_core::document::chunks::change_chunks(&push.changes) else {
        return refuse(Malformed);
    };
    let mut new: Vec<automerge::Change> = Vec::with_capacity(chunks.len());
    let mut seen = HashSet::new();
    for chunk in chunks {
        let Ok(change) = automerge::Change::try_from(chunk) else {
            return refuse(Malformed);
        };
        if seen.insert(change.hash()) && !holds(&mut doc, &change.hash()) {
            new.push(change);
        }
    }
    if push.kind == RecordKind::CaseSummary {
        // Only the case system writes summaries, through this server, which signs each change
        // it makes for it. A device never has changes of its own to a summary; what it may
        // push is either what the server holds (acknowledged as it is) or, after the server was
        // restored from a backup, the newer summary it received before the restore: every
        // change the server lacks must then carry the server's own signature made for the case
        // system (simulation bug 6).
        let relayed = new.iter().all(|c| {
            let hash = Hash(c.hash().0);
            push.signatures.iter().any(|s| {
                s.hash == hash
                    && s.acting.as_deref().is_some_and(|a| a.starts_with("integration:"))
                    && by_server(s, &input.server_key)
            })
        });
        if !relayed || (new.is_empty() && stored.is_none()) {
            return refuse(ReadOnly);
        }
    }
    // Decided on the document as stored, before the changes are applied to it.
    let text_edited = push.kind != RecordKind::CaseSummary
        && facts.is_some()
        && super::text_edits::only_edit_text(&doc, &new);
    if fieldbook_core::document::load_incremental_checked(&mut doc, &push.changes).is_err() {
        return refuse(Malformed);
    }
    if !doc.get_missing_deps(&[]).is_empty() {
        // The changes build on changes this server does not hold: it was restored from a backup
        // taken before it received them. Neither refused nor acknowledged, so the device keeps
        // the document pending, and the repair (`send_all`, from the heads it sends for checking)
        // has it send the whole document. A hidden document is answered the same way as an
        // absent one: the pushed changes are judged alone, before anything stored is looked at.
        return Ok((Decision::Accept { changes: Vec::new(), ack: false }, None));
    }
    if new.is_empty() && before.is_empty() {
        return refuse(Malformed);
    }
    // Every new change must be signed by a registered, unrevoked key of its author (issue #16).
    // A change by another worker is accepted only so (a device relaying what a restored server
    // lost); without a valid signature of its author's it is refused as before (`WrongAuthor`).
    // The actor's worker compared normalised: a device opened by an older build may have spelt
    // the worker id as the person typed it ("Amara"), the token's subject is normalised.
    for change in new.iter().filter(|_| !bench::skip_signature_checks()) {
        let author = parse_actor(change.actor_id()).map(|(w, _)| w);
        let own = author.as_deref().is_some_and(|w| same_worker(w, worker));
        let hash = Hash(change.hash().0);
        let keys = (&input.keys, &input.server_key);
        match check_signature(&push.signatures, keys, hash, author.as_deref()) {
            Ok(()) => {}
            Err(_) if !own => return refuse(WrongAuthor),
            Err(reason) => return refuse(reason),
        }
    }
    let ack = holds_all(&mut doc, &push.heads);
    let changes: Vec<_> =
        new.iter().map(|c| (Hash::from(c.hash()), c.raw_bytes().to_vec())).collect();
    let checked = match facts {
        Some(facts) if text_edited => Checked::TextEdited(HotDoc { doc, facts }),
        _ => match RecordDoc::from_doc(doc) {
            Ok(record) => Checked::Hydrated(record),
            Err(_) => return refuse(Malformed),
        },
    };
    let (id, kind, case_id) = match &checked {
        Checked::Hydrated(record) => {
            let meta = record.meta();
            (&meta.id, meta.kind, &meta.case_id)
        }
        Checked::TextEdited(hot) => (&hot.facts.id, hot.facts.kind, &hot.facts.case_id),
    };
    if *id != push.id || kind != push.kind {
        return refuse(Malformed);
    }
    if *case_id != push.case_id {
        return refuse(CaseMismatch);
    }
    if hidden {
        // A valid new record under the id of a document the caller may not see: never merged
        // into it. Only someone who already holds that random id can get here (docs/PROTOCOL.md,
        // "Record ids").
        return refuse(CaseMismatch);
    }
    Ok((Decision::Accept { changes, ack }, Some(Loaded { before, checked })))
}

/// Whether the document holds the change: its metadata only (`get_change_by_hash` rebuilds
/// the whole change from the op set, which cost as much as loading the document).
fn holds(doc: &mut AutoCommit, hash: &ChangeHash) -> bool {
    doc.get_change_meta_by_hash(hash).is_some()
}

/// Whether `hash` carries a signature that verifies, by a registered key of `author` that is not
/// revoked, or by this server's own key on someone's behalf (`acting`): a change the server
/// wrote itself (a manager's decision, a summary), relayed back after a restore lost it.
fn check_signature(
    signatures: &[ChangeSignature],
    (keys, server_key): (&HashMap<[u8; 32], KeyRegistration>, &[u8; 32]),
    hash: Hash,
    author: Option<&str>,
) -> Result<(), RejectReason> {
    let sig = signatures.iter().find(|s| s.hash == hash).ok_or(RejectReason::Unsigned)?;
    if sig.key.0 == *server_key {
        return by_server(sig, server_key).then_some(()).ok_or(RejectReason::BadSignature);
    }
    let reg = keys.get(&sig.key.0).ok_or(RejectReason::BadSignature)?;
    if sig.acting.is_some() || sig.verify().is_err() {
        return Err(RejectReason::BadSignature);
    }
    if !author.is_some_and(|a| same_worker(a, &reg.worker)) {
        return Err(RejectReason::BadSignature);
    }
    if reg.revoked_at.is_some() {
        return Err(RejectReason::RevokedKey);
    }
    Ok(())
}

/// A signature this server made on someone's behalf (`acting`), and it verifies.
fn by_server(sig: &ChangeSignature, server_key: &[u8; 32]) -> bool {
    sig.key.0 == *server_key && sig.acting.is_some() && sig.verify().is_ok()
}

fn holds_all(doc: &mut AutoCommit, heads: &[Hash]) -> bool {
    heads.iter().all(|h| holds(doc, &ChangeHash::from(*h)))
}

#[cfg(test)]
#[path = "push_tests.rs"]
mod tests;

/// Benchmarks only (feature `test-hooks`): the switch that leaves signatures unchecked, to
/// measure what checking them costs. Without the feature it does not exist and every change is
/// checked.
pub mod bench {
    #[cfg(feature = "test-hooks")]
    static SKIP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    /// Turns the check of pushed changes' signatures off (`true`) or back on.
    #[cfg(feature = "test-hooks")]
    pub fn skip_signature_checks_for_bench(skip: bool) {
        SKIP.store(skip, std::sync::atomic::Ordering::SeqCst);
    }

    pub(super) fn skip_signature_checks() -> bool {
        #[cfg(feature = "test-hooks")]
        return SKIP.load(std::sync::atomic::Ordering::SeqCst);
        #[cfg(not(feature = "test-hooks"))]
        false
    }
}
