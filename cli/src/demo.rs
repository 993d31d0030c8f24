//! The main scenario, end to end over real HTTP on loopback: the case system allocates cases; a
//! social worker and her manager record and edit offline; their devices sync in turn and converge
//! with the server; a case is re-allocated and moves from one worker's tablet to another's.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use fieldbook_core::records::{
    new_id, CaseSummary, ChildProtectionPlan, ChildView, LookedAfterEpisode,
    LookedAfterVisitRegime, Record, RecordBody, ViewsMethod, Visit, VisitKind,
};
use fieldbook_core::rules::worklist::WorklistItem;
use fieldbook_core::sync::transport::HttpTransport;
use fieldbook_core::sync::{AccessTokenProvider, SyncClient, SyncReport};
use fieldbook_core::{RecordRow, Store};
use fieldbook_server::serve::{app_state, open_storage, Backend, RunningServer};
use serde::Serialize;

type DemoResult<T> = Result<T, Box<dyn std::error::Error>>;

const PEOPLE: &[(&str, &str, &str, &str)] = &[
    ("demo-amara", "amara", "worker", "north"),
    ("demo-ben", "ben", "worker", "north"),
    ("demo-mina", "mina", "manager", "north"),
    ("demo-cms", "case-system", "integration", "ops"),
    ("demo-board", "board", "senior", "council"),
];

/// The day the demo's tablets live on (their clocks are set to it), and so the day the
/// dashboard's figures are for.
const DEMO_DAY: &str = "2026-12-21";

struct Token(String);
impl AccessTokenProvider for Token {
    fn access_token(&self, _refresh: bool) -> Option<String> {
        Some(self.0.clone())
    }
}

struct Tablet {
    name: String,
    store: Store,
    client: SyncClient<HttpTransport>,
}

impl Tablet {
    fn open(
        dir: &std::path::Path,
        url: &str,
        worker: &str,
        device: &str,
        token: &str,
    ) -> DemoResult<Self> {
        let key: [u8; 32] = *b"fieldbook-demo-key-not-for-use!!";
        let mut store = Store::open(dir.join(format!("{device}.db")), &key, worker, device)?;
        store.set_clock(Box::new(|| {
            Utc.with_ymd_and_hms(2026, 12, 21, 16, 0, 0).single().unwrap_or_default()
        }));
        let transport = HttpTransport::new(url, Duration::from_secs(5), Duration::from_secs(30))?;
        let client = SyncClient::new(transport, Arc::new(Token(token.into())), device);
        Ok(Self { name: format!("{worker} ({device})"), store, client })
    }

    async fn sync(&mut self, log: &mut Vec<String>) -> DemoResult<SyncReport> {
        let report = self.client.sync(&mut self.store).await;
        log.push(format!(
            "{} synced: {} request(s), pushed {}, acknowledged {}, pulled {}{}{}",
            self.name,
            report.requests,
            report.pushed,
            report.acknowledged,
            report.pulled,
            if report.purged_cases.is_empty() {
                String::new()
            } else {
                format!(", purged {:?}", report.purged_cases)
            },
            if report.allocated_cases.is_empty() {
                String::new()
            } else {
                format!(", new cases {:?}", report.allocated_cases)
            },
        ));
        match &report.failure {
            None => Ok(report),
            Some(f) => Err(format!("{} could not sync: {f}", self.name).into()),
        }
    }
}

#[derive(Serialize)]
struct DeviceView {
    device: String,
    cases: Vec<String>,
    records: Vec<RecordRow>,
    worklist: Vec<WorklistItem>,
}

#[derive(Serialize)]
struct Report {
    log: Vec<String>,
    devices: Vec<DeviceView>,
    merged_visit: Record,
    converged: bool,
    /// With `--keep-serving`: where the oversight pages are and who may sign in.
    #[serde(skip_serializing_if = "Option::is_none")]
    dashboard: Option<Dashboard>,
}

#[derive(Serialize)]
struct Dashboard {
    sign_in: String,
    /// The pages' figures for the demo's day (`?on=`).
    team_page: String,
    board: String,
    /// The visit amara and mina both edited: a record with a history.
    record: String,
    /// (token, who) of the development sign-in.
    tokens: Vec<(String, String)>,
}

impl Dashboard {
    fn new(url: &str, record_id: &str) -> Self {
        let who = |token: &str| {
            PEOPLE.iter().find(|p| p.0 == token).map(|p| format!("{} ({})", p.1, p.2))
        };
        Self {
            sign_in: format!("{url}/oversight/sign-in"),
            team_page: format!("{url}/oversight/teams/north?on={DEMO_DAY}"),
            board: format!("{url}/oversight/board?on={DEMO_DAY}"),
            record: format!("{url}/oversight/records/{record_id}"),
            tokens: ["demo-mina", "demo-board"]
                .iter()
                .filter_map(|t| who(t).map(|w| (t.to_string(), w)))
                .collect(),
        }
    }
}

fn date(y: i32, m: u32, d: u32) -> DemoResult<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| "bad date".into())
}

fn cases() -> DemoResult<Vec<(&'static str, CaseSummary)>> {
    let mut a = CaseSummary::new("LC10442", "Child A");
    a.child_protection = Some(ChildProtectionPlan {
        start_date: date(2026, 12, 17)?,
        category: Some(fieldbook_core::codes::AbuseCategory::Neglect),
        initial_conference_date: date(2026, 12, 17)?,
        core_group_dates: vec![],
        review_conference_dates: vec![],
        end_date: None,
    });
    let mut b = CaseSummary::new("LC20311", "Child B");
    b.looked_after = Some(LookedAfterEpisode {
        start_date: date(2026, 11, 2)?,
        legal_status: Some(fieldbook_core::codes::LegalStatus::InterimCareOrder),
        placement_type: Some(fieldbook_core::codes::PlacementType::FosterOther),
        placement_start: date(2026, 11, 2)?,
        visit_regime: LookedAfterVisitRegime::Standard,
        intended_until_18: false,
        long_term_foster: false,
        child_agrees_fewer_visits: false,
        review_dates: vec![date(2026, 11, 27)?],
        end_date: None,
    });
    b.last_seen_date = Some(date(2026, 11, 20)?);
    Ok(vec![("case-10442", a), ("case-20311", b)])
}

async fn allocate(
    http: &reqwest::Client,
    url: &str,
    case_id: &str,
    summary: &CaseSummary,
    worker: &str,
) -> DemoResult<()> {
    let mut summary = summary.clone();
    summary.allocated_worker = worker.into();
    summary.team = "north".into();
    let status = http
        .put(format!("{url}/api/v1/cases/{case_id}"))
        .bearer_auth("demo-cms")
        .json(&serde_json::json!({"summary": summary, "allocated_worker": worker, "team": "north"}))
        .send()
        .await?
        .status();
    if !status.is_success() {
        return Err(format!("the case system could not upsert {case_id}: {status}").into());
    }
    Ok(())
}

fn visit_of(t: &mut Tablet, id: &str) -> DemoResult<Visit> {
    match t.store.record(id)?.body {
        RecordBody::Visit(v) => Ok(v),
        _ => Err("not a visit".into()),
    }
}

/// `keep_serving`: after the story, amara submits a visit (so the authorisation queue has a
/// record in it), the dashboard's address and sign-in tokens are printed, and the server keeps
/// serving until SIGTERM or Ctrl-C. Without it the demo stops its server and exits.
pub async fn run(dir: Option<PathBuf>, json: bool, keep_serving: bool) -> DemoResult<()> {
    let temp = tempfile::tempdir()?;
    let dir = match dir {
        Some(d) => {
            std::fs::create_dir_all(&d)?;
            d
        }
        None => temp.path().to_path_buf(),
    };
    // The server on the embedded default, with development tokens.
    let tokens: Vec<_> = PEOPLE
        .iter()
        .map(|(t, s, r, team)| serde_json::json!({"token": t, "subject": s, "role": r, "team": team}))
        .collect();
    let tokens_path = dir.join("demo-tokens.json");
    std::fs::write(&tokens_path, serde_json::json!({ "tokens": tokens }).to_string())?;
    let auth = serde_json::from_value(serde_json::json!({
        "audience": "fieldbook", "jwt": [], "static_tokens": tokens_path, "disabled_subjects": [], "leeway_seconds": 30
    }))?;
    let storage = open_storage(&Backend::sqlite(dir.join("server.db"))).await?;
    let server = RunningServer::start("127.0.0.1:0".parse()?, app_state(storage, &auth)?).await?;
    let url = server.url();
    let http = reqwest::Client::new();
    let mut log = vec![format!("server listening on {url} (embedded SQLite, encrypted)")];

    for (case_id, summary) in cases()? {
        allocate(&http, &url, case_id, &summary, "amara").await?;
    }
    log.push("case system allocated case-10442 and case-20311 to amara".into());
    let mut amara = Tablet::open(&dir, &url, "amara", "amara-tablet", "demo-amara")?;
    let mut ben = Tablet::open(&dir, &url, "ben", "ben-tablet", "demo-ben")?;
    let mut mina = Tablet::open(&dir, &url, "mina", "mina-laptop", "demo-mina")?;
    for t in [&mut amara, &mut ben, &mut mina] {
        t.sync(&mut log).await?;
    }

    // In the family home, no signal: amara records the statutory visit.
    let mut visit = Visit::new(
        VisitKind::ChildProtection,
        Utc.with_ymd_and_hms(2026, 12, 18, 10, 0, 0).single().unwrap_or_default(),
    );
    visit.location = "Family home".into();
    visit.child_seen = Some(true);
    visit.seen_alone = Some(true);
    visit.child_views = vec![ChildView {
        id: new_id(),
        method: ViewsMethod::OwnWords,
        text: "I like it when Nan picks me up from school.".into(),
        linked_ref: None,
    }];
    visit.observations = "The kitchen had food in. Child's bedroom was warm.".into();
    let visit_id = amara.store.create_record("case-10442", &RecordBody::Visit(visit.clone()))?;
    log.push("amara recorded a visit offline (on this tablet only)".into());
    amara.sync(&mut log).await?;
    mina.sync(&mut log).await?;

    // Both offline, editing the same record: the same paragraph, other fields, one same flag.
    visit.observations = "The kitchen had fresh food in. Child's bedroom was warm.".into();
    visit.bedroom_seen = Some(true);
    amara.store.update_record(&visit_id, &RecordBody::Visit(visit))?;
    let mut theirs = visit_of(&mut mina, &visit_id)?;
    theirs.observations = "The kitchen had food in. Child's bedroom was warm and tidy.".into();
    theirs.risks = "Father's new partner not yet checked.".into();
    theirs.bedroom_seen = Some(false);
    mina.store.update_record(&visit_id, &RecordBody::Visit(theirs))?;
    log.push("amara and mina edited the same visit offline".into());
    mina.sync(&mut log).await?;
    amara.sync(&mut log).await?;
    mina.sync(&mut log).await?;

    // The case system re-allocates Child B to ben.
    let (case_b, summary_b) = cases()?.remove(1);
    allocate(&http, &url, case_b, &summary_b, "ben").await?;
    log.push("case system re-allocated case-20311 from amara to ben".into());
    amara.sync(&mut log).await?;
    ben.sync(&mut log).await?;
    mina.sync(&mut log).await?;

    if keep_serving {
        let mut second = Visit::new(
            VisitKind::ChildProtection,
            Utc.with_ymd_and_hms(2026, 12, 21, 9, 30, 0).single().unwrap_or_default(),
        );
        second.location = "School".into();
        second.child_seen = Some(true);
        second.seen_alone = Some(true);
        second.child_views = vec![ChildView {
            id: new_id(),
            method: ViewsMethod::OwnWords,
            text: "School is better this term.".into(),
            linked_ref: None,
        }];
        second.observations = "Seen at school with the designated teacher's agreement.".into();
        let id = amara.store.create_record("case-10442", &RecordBody::Visit(second))?;
        amara.store.submit(&id)?;
        log.push("amara recorded a second visit and submitted it for authorisation".into());
        amara.sync(&mut log).await?;
    }

    let today = date(2026, 12, 21)?;
    let merged = amara.store.record(&visit_id)?;
    let exported: serde_json::Value = http
        .get(format!("{url}/api/v1/records?cursor=0&limit=500"))
        .bearer_auth("demo-cms")
        .send()
        .await?
        .json()
        .await?;
    let on_server: Option<Record> = exported["records"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["meta"]["id"] == visit_id.as_str()))
        .map(|r| serde_json::from_value(r.clone()))
        .transpose()?;
    let converged = on_server.as_ref() == Some(&merged) && mina.store.record(&visit_id)? == merged;
    let mut devices = Vec::new();
    for t in [&mut amara, &mut ben, &mut mina] {
        let cases: Vec<String> = t.store.cases()?.into_iter().map(|c| c.case_id).collect();
        let mut records = Vec::new();
        for c in &cases {
            records.extend(t.store.case_records(c)?);
        }
        devices.push(DeviceView {
            device: t.name.clone(),
            cases,
            records,
            worklist: t.store.worklist(today)?,
        });
    }
    let dashboard = keep_serving.then(|| Dashboard::new(&url, &visit_id));
    // Listen for the signals before the address is printed: whoever reads it may stop us at once.
    let stop = keep_serving.then(fieldbook_server::serve::terminate_or_interrupt);
    let report = Report { log, devices, merged_visit: merged, converged, dashboard };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    if let Some(stop) = stop {
        stop.await;
    }
    server.stop().await?;
    if !converged {
        return Err("the devices and the server did not converge".into());
    }
    Ok(())
}

fn print_text(r: &Report) {
    for line in &r.log {
        println!("· {line}");
    }
    println!();
    for d in &r.devices {
        println!("{} holds cases {:?}", d.device, d.cases);
        for row in &d.records {
            println!(
                "    {} {} on {} — {}, {}{}",
                row.kind.label(),
                row.visit_kind.map(|k| k.label()).unwrap_or(""),
                row.occurred_on.map(|d| d.to_string()).unwrap_or_default(),
                row.status.label(),
                if row.acknowledged { "received by the council" } else { "on this device only" },
                if row.conflicts > 0 {
                    format!(", {} conflict(s) to resolve", row.conflicts)
                } else {
                    String::new()
                }
            );
        }
        println!("    worklist for Mon 21 Dec 2026:");
        for item in &d.worklist {
            let stale = if item.stale { " [not synced recently]" } else { "" };
            let unconfirmed =
                if item.calendar_unconfirmed { " [calendar unconfirmed]" } else { "" };
            println!(
                "      {} — {} — due {} ({}){stale}{unconfirmed}",
                item.child_name, item.label, item.due, item.status
            );
        }
    }
    if let RecordBody::Visit(v) = &r.merged_visit.body {
        println!("\nmerged observations: {}", v.observations);
        println!("merged risks:        {}", v.risks);
    }
    for c in &r.merged_visit.conflicts {
        let values: Vec<String> = c
            .values
            .iter()
            .map(|v| format!("{} by {} ({})", v.value, v.worker, v.device))
            .collect();
        println!("conflict on {}: {}", c.path, values.join(" / "));
    }
    println!("\nconverged: {}", r.converged);
    if let Some(d) = &r.dashboard {
        println!("\noversight dashboard: {}", d.sign_in);
        for (token, who) in &d.tokens {
            println!("    sign in as {who} with the token {token}");
        }
        println!("    the team's caseload for the demo's day: {}", d.team_page);
        println!("    the board view: {}", d.board);
        println!("    a record with its history: {}", d.record);
        println!("serving until Ctrl-C or SIGTERM");
    }
}
