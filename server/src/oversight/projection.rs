//! The oversight projections: what the pages need of each record and case, derived from the
//! documents when the hub accepts changes (`append_and_project`, the one call in the hub's write
//! paths), so that no page loads an Automerge document to list or count. `rebuild` derives them
//! all again from the documents (`fieldbook-server rebuild-projections`); it runs the same
//! functions, so a rebuild gives the rows the incremental path wrote
//! (`server/tests/oversight_projection.rs`).
//!
//! A record's projection copies what the device's own projection copies
//! (`fieldbook_core::store` `projection.rs`: the event date as a Europe/London date, the visit
//! kind, child seen, seen alone, the authorisation date), so the due items computed from it by
//! the core's rules (`rules::timescales::open_items`) are the tablets' due items. A case's
//! projection is derived from its records' projections only: its summary and its due items.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, Utc};
use fieldbook_core::document::RecordDoc;
use fieldbook_core::protocol::{Hash, ListRow, Listing};
use fieldbook_core::records::{
    CaseSummary, OversightDecision, RecordBody, RecordKind, RecordStatus, VisitKind,
};
use fieldbook_core::rules::calendar::BankHolidayCalendar;
use fieldbook_core::rules::local_date;
use fieldbook_core::rules::settings::LocalSettings;
use fieldbook_core::rules::timescales::{open_items, CaseFacts, Due, VisitFact};
use serde::{Deserialize, Serialize};

use crate::hub::{doc_from_changes, stored_changes, Hub, HubError, Job};
use crate::storage::{DocInfo, NewChanges, ProjectedCase, ProjectedDoc, ProjectionScope, Storage};

/// What the oversight pages know of one record, without its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocFacts {
    pub id: String,
    pub case_id: String,
    pub kind: RecordKind,
    pub status: RecordStatus,
    pub created_by: String,
    /// The date it was first recorded (Europe/London).
    pub recorded_on: NaiveDate,
    pub submitted_by: Option<String>,
    pub submitted_on: Option<NaiveDate>,
    /// The event's date: a visit's start, an assessment's start, a note's occurrence.
    pub occurred_on: Option<NaiveDate>,
    pub visit_kind: Option<VisitKind>,
    pub child_seen: Option<bool>,
    pub seen_alone: Option<bool>,
    /// At least one of the child's views is recorded (visits and assessments).
    pub views_recorded: Option<bool>,
    /// An assessment's authorisation date, else the date of the manager's authorisation.
    pub authorised_on: Option<NaiveDate>,
    pub decision: Option<OversightDecision>,
    pub decided_by: Option<String>,
    pub decided_on: Option<NaiveDate>,
    /// Edits made after authorisation.
    pub amendments: usize,
    /// The case summary, for the summary's own record.
    pub summary: Option<CaseSummary>,
    /// When it was first recorded (the device's list row orders by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// The document's heads these facts were derived at (hex, sorted): with `created_at`, what
    /// makes them a device's list row (`listing`), sent beside a whole document to a device that
    /// does not hold it (`hub::feed`, issue #13). Empty in projections written before they
    /// existed: those documents are sent without a row, and the device loads them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heads: Vec<String>,
}

/// What the oversight pages know of one case: its summary and its open timescales.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseFactsRow {
    pub case_id: String,
    pub summary: CaseSummary,
    /// Every open timescale with its due date (`open_items`): whether one is overdue is a
    /// matter of the day the page is looked at.
    pub due: Vec<Due>,
    /// The last date the child was seen (a visit recorded on a device, or the case system's).
    pub last_seen: Option<NaiveDate>,
    /// The last visit at which the child was seen alone.
    pub last_seen_alone: Option<NaiveDate>,
    /// The last statutory visit (child in need, protection, looked after, private fostering).
    pub last_statutory_visit: Option<NaiveDate>,
}

/// The calendar and settings the server's figures are computed with: the rules' defaults, the
/// same the devices use unless a council changes them.
pub fn rules() -> &'static (BankHolidayCalendar, LocalSettings) {
    static RULES: OnceLock<(BankHolidayCalendar, LocalSettings)> = OnceLock::new();
    RULES.get_or_init(|| (BankHolidayCalendar::england_and_wales(), LocalSettings::default()))
}

/// A record's facts, as the device's projection derives them: the columns of the device's list
/// row are `ListRow::of`'s, so that `listing` gives a device exactly the row it would derive.
pub fn doc_facts(doc: &mut RecordDoc) -> DocFacts {
    let mut heads = doc.heads();
    heads.sort_unstable();
    let heads = heads.iter().map(|h| hex::encode(h.0)).collect();
    let row = ListRow::of(doc);
    let meta = doc.meta();
    let views_recorded = match doc.body() {
        RecordBody::Visit(v) => Some(!v.child_views.is_empty()),
        RecordBody::Assessment(a) => Some(!a.child_views.is_empty()),
        RecordBody::CaseNote(_) | RecordBody::CaseSummary(_) => None,
    };
    DocFacts {
        id: meta.id.clone(),
        case_id: meta.case_id.clone(),
        kind: meta.kind,
        status: row.status,
        created_by: row.created_by,
        recorded_on: local_date(meta.created_at),
        submitted_by: meta.submitted_by.clone(),
        submitted_on: meta.submitted_at.map(local_date),
        occurred_on: row.occurred_on,
        visit_kind: row.visit_kind,
        child_seen: row.child_seen,
        seen_alone: row.seen_alone,
        views_recorded,
        authorised_on: row.authorised_on,
        decision: meta.oversight.as_ref().map(|o| o.decision),
        decided_by: meta.oversight.as_ref().map(|o| o.manager.clone()),
        decided_on: meta.oversight.as_ref().map(|o| local_date(o.at)),
        amendments: meta.amendments.len(),
        summary: row.summary,
        created_at: Some(meta.created_at),
        heads,
    }
}

/// `facts` moved to other heads (sorted, as storage keeps them), written as `doc_facts` writes
/// them: for a document changed only where its facts do not look (`hub::text_edits`).
pub fn at_heads(facts: DocFacts, heads: &[crate::storage::Hash]) -> DocFacts {
    DocFacts { heads: heads.iter().map(|h| hex::encode(h.0)).collect(), ..facts }
}

/// The device's list row of a record, from its facts, at the heads they were derived at; `None`
/// for facts written before they carried their heads and creation time.
pub fn listing(f: &DocFacts) -> Option<Listing> {
    let created_at = f.created_at?;
    if f.heads.is_empty() {
        return None;
    }
    let heads = f
        .heads
        .iter()
        .map(|h| hex::decode(h).ok().and_then(|b| Hash::try_from(b.as_slice()).ok()))
        .collect::<Option<Vec<Hash>>>()?;
    let row = ListRow {
        status: f.status,
        created_by: f.created_by.clone(),
        created_at,
        occurred_on: f.occurred_on,
        visit_kind: f.visit_kind,
        child_seen: f.child_seen,
        seen_alone: f.seen_alone,
        authorised_on: f.authorised_on,
        amended: f.amendments > 0,
        summary: f.summary.clone(),
    };
    Some(Listing { heads, row })
}

/// A case's facts from its records' facts; `None` while the server holds no summary for it.
pub fn case_facts(docs: &[DocFacts]) -> Option<CaseFactsRow> {
    let summary_doc = docs.iter().find(|d| d.kind == RecordKind::CaseSummary)?;
    let summary = summary_doc.summary.clone()?;
    let (cal, settings) = rules();
    // As the device's worklist reads its rows: visits with a date, "seen" when recorded so.
    let visits: Vec<VisitFact> = docs
        .iter()
        .filter_map(|d| match (d.kind, d.occurred_on, d.visit_kind) {
            (RecordKind::Visit, Some(date), Some(kind)) => {
                Some(VisitFact { date, kind, child_seen: d.child_seen.unwrap_or(false) })
            }
            _ => None,
        })
        .collect();
    let authorised: Vec<NaiveDate> = docs
        .iter()
        .filter(|d| d.kind == RecordKind::Assessment)
        .filter_map(|d| d.authorised_on)
        .collect();
    let facts =
        CaseFacts { summary: &summary, visits: &visits, assessments_authorised: &authorised };
    let due = open_items(cal, settings, &facts);
    let seen_on_device = visits.iter().filter(|v| v.child_seen).map(|v| v.date).max();
    let last_seen_alone = docs
        .iter()
        .filter(|d| d.kind == RecordKind::Visit && d.seen_alone == Some(true))
        .filter_map(|d| d.occurred_on)
        .max();
    let last_statutory_visit = visits
        .iter()
        .filter(|v| v.kind.is_statutory())
        .map(|v| v.date)
        .max()
        .max(summary.last_visit_date);
    Some(CaseFactsRow {
        case_id: summary_doc.case_id.clone(),
        last_seen: seen_on_device.max(summary.last_seen_date),
        last_seen_alone,
        last_statutory_visit,
        due,
        summary,
    })
}

fn to_row(f: &DocFacts) -> Result<ProjectedDoc, HubError> {
    Ok(ProjectedDoc {
        id: f.id.clone(),
        case_id: f.case_id.clone(),
        kind: f.kind,
        status: f.status,
        data: serde_json::to_string(f).map_err(|e| HubError::Corrupt(e.to_string()))?,
    })
}

/// Reads document projections back.
pub fn parse_docs(rows: &[ProjectedDoc]) -> Result<Vec<DocFacts>, HubError> {
    rows.iter()
        .map(|r| {
            serde_json::from_str(&r.data)
                .map_err(|e| HubError::Corrupt(format!("projection of {}: {e}", r.id)))
        })
        .collect()
}

/// A case projection read back, with its allocation (worker, team).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseView {
    pub facts: CaseFactsRow,
    pub worker: Option<String>,
    pub team: Option<String>,
}

pub fn parse_cases(rows: &[ProjectedCase]) -> Result<Vec<CaseView>, HubError> {
    rows.iter()
        .map(|r| {
            let facts = serde_json::from_str(&r.data)
                .map_err(|e| HubError::Corrupt(format!("projection of case {}: {e}", r.case_id)))?;
            Ok(CaseView {
                facts,
                worker: r.allocation.as_ref().map(|a| a.worker.clone()),
                team: r.allocation.as_ref().map(|a| a.team.clone()),
            })
        })
        .collect()
}

/// The hook in the hub's write paths: appends the batch (as `Storage::append`), then brings the
/// projections of its documents and their cases up to date. The changes are committed first:
/// a projection that cannot be derived is logged (by document id) and left for
/// `rebuild-projections`, never a reason to refuse what a device pushed.
pub(crate) async fn append_and_project(hub: &Hub, batch: Vec<NewChanges>) -> Result<u64, HubError> {
    append_and_project_known(hub, batch, Known::default()).await
}

/// What the push path already holds of the documents it commits: their facts, and which of them
/// moved only in their heads (a text edit, `hub::text_edits`). The case rows do not read heads,
/// so a case whose every refreshed document is among those is not derived again.
#[derive(Debug, Default)]
pub(crate) struct Known {
    pub facts: HashMap<String, DocFacts>,
    pub heads_only: HashSet<String>,
}

/// `append_and_project`, with the facts of documents the caller already holds merged (the push
/// path: the document it validated is the one committed), so that only the others are loaded.
/// The rows of those it holds are written in the append's own transaction, which it shares with
/// concurrent pushes (`Hub::append_grouped`); the rest, and the cases, after it.
pub(crate) async fn append_and_project_known(
    hub: &Hub,
    batch: Vec<NewChanges>,
    known: Known,
) -> Result<u64, HubError> {
    let docs: Vec<DocInfo> = batch.iter().map(|b| b.doc.clone()).collect();
    let (rows, carried) = carried_rows(&docs, &known);
    let head = hub.append_grouped(batch, rows).await?;
    if let Err(e) = refresh_known(hub, &docs, known, &carried).await {
        tracing::error!(error = %e, docs = docs.len(), "oversight projections not refreshed");
    }
    Ok(head)
}

/// The rows of the documents whose facts are known, one per id (a push that names a document
/// twice committed both, and the facts known are of the last), and the ids they cover.
fn carried_rows(docs: &[DocInfo], known: &Known) -> (Vec<ProjectedDoc>, HashSet<String>) {
    let mut rows = Vec::new();
    let mut carried = HashSet::new();
    for info in docs {
        if carried.contains(&info.id) {
            continue;
        }
        let Some(facts) = known.facts.get(&info.id) else { continue };
        match to_row(facts) {
            Ok(row) => {
                carried.insert(info.id.clone());
                rows.push(row);
            }
            // Left to the refresh after the commit, which logs it.
            Err(_) => continue,
        }
    }
    (rows, carried)
}

/// Derives one document's facts from its stored changes (in the pool).
async fn derive(hub: &Hub, info: &DocInfo) -> Result<DocFacts, HubError> {
    let stored = stored_changes(hub.storage().as_ref(), &info.id).await?;
    let id = info.id.clone();
    hub.run_job(Job::Oversight, move || {
        let mut doc = RecordDoc::from_doc(doc_from_changes(&id, &stored)?)
            .map_err(|e| HubError::Corrupt(format!("document {id}: {e}")))?;
        Ok(doc_facts(&mut doc))
    })
    .await?
}

/// Re-derives the projections of `docs` and of every case they belong to.
pub async fn refresh(hub: &Hub, docs: &[DocInfo]) -> Result<(), HubError> {
    refresh_known(hub, docs, Known::default(), &HashSet::new()).await
}

/// `refresh`, taking the facts of the documents in `known` as given, and leaving out the rows of
/// `carried` (written already, with their changes).
async fn refresh_known(
    hub: &Hub,
    docs: &[DocInfo],
    known: Known,
    carried: &HashSet<String>,
) -> Result<(), HubError> {
    let Known { facts: mut known, heads_only } = known;
    let mut rows = Vec::with_capacity(docs.len());
    for info in docs.iter().filter(|d| !carried.contains(&d.id)) {
        let facts = match known.remove(&info.id) {
            Some(facts) => facts,
            None => derive(hub, info).await?,
        };
        rows.push(to_row(&facts)?);
    }
    let storage = hub.storage().as_ref();
    if !rows.is_empty() {
        storage.put_projections(rows, Vec::new()).await?;
    }
    let cases: BTreeSet<&str> =
        docs.iter().filter(|d| !heads_only.contains(&d.id)).map(|d| d.case_id.as_str()).collect();
    refresh_cases(storage, cases).await
}

async fn refresh_cases(
    storage: &dyn Storage,
    cases: impl IntoIterator<Item = &str>,
) -> Result<(), HubError> {
    let mut out = Vec::new();
    for case in cases {
        let docs = storage.projected_docs(&ProjectionScope::Case(case.to_string()), None).await?;
        if let Some(facts) = case_facts(&parse_docs(&docs)?) {
            let data =
                serde_json::to_string(&facts).map_err(|e| HubError::Corrupt(e.to_string()))?;
            out.push(ProjectedCase { case_id: case.to_string(), data, allocation: None });
        }
    }
    if !out.is_empty() {
        storage.put_projections(Vec::new(), out).await?;
    }
    Ok(())
}

/// Documents derived per storage transaction during a rebuild.
const REBUILD_BATCH: usize = 200;

/// Deletes every projection and derives them all again from the documents. Returns the number
/// of documents and of cases projected. A document that cannot be loaded is skipped and logged by
/// id (its load error may quote content), so one damaged record does not stop the rebuild.
pub async fn rebuild(hub: &Hub) -> Result<(usize, usize), HubError> {
    let storage = hub.storage().as_ref();
    storage.clear_projections().await?;
    let mut cursor = 0;
    let mut cases: BTreeMap<String, ()> = BTreeMap::new();
    let mut docs = 0;
    loop {
        let page = storage.changed_docs(cursor, REBUILD_BATCH).await?;
        let Some((last, _)) = page.last() else { break };
        cursor = *last;
        let mut rows = Vec::with_capacity(page.len());
        for (_, info) in &page {
            match derive(hub, info).await {
                Ok(facts) => rows.push(to_row(&facts)?),
                Err(HubError::Corrupt(_)) => {
                    tracing::warn!(doc = %info.id, "projection skipped: document unreadable");
                    continue;
                }
                Err(e) => return Err(e),
            }
            cases.insert(info.case_id.clone(), ());
        }
        docs += rows.len();
        storage.put_projections(rows, Vec::new()).await?;
    }
    refresh_cases(storage, cases.keys().map(String::as_str)).await?;
    let case_count = storage.projected_cases(&ProjectionScope::All).await?.len();
    Ok((docs, case_count))
}
