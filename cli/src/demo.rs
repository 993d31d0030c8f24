//! The demo scenario: a social worker and a colleague, each on a tablet with no signal, record and
//! edit visits for the same child; their tablets exchange changes and end identical. Prints what
//! each device holds, the conflict left to resolve, the history and the worklist.

use std::path::PathBuf;

use chrono::{NaiveDate, TimeZone, Utc};
use fieldbook_core::records::{
    new_id, CaseSummary, ChildProtectionPlan, ChildView, RecordBody, ViewsMethod, Visit, VisitKind,
};
use fieldbook_core::{Error, Store};
use serde::Serialize;

const KEY: [u8; 32] = *b"fieldbook-demo-key-not-for-use!!";

#[derive(Serialize)]
struct DeviceView {
    worker: String,
    records: Vec<fieldbook_core::RecordRow>,
}

#[derive(Serialize)]
struct Report {
    devices: Vec<DeviceView>,
    merged_visit: fieldbook_core::records::Record,
    history: Vec<fieldbook_core::HistoryEntry>,
    worklist: Vec<fieldbook_core::rules::worklist::WorklistItem>,
    converged: bool,
}

fn date(y: i32, m: u32, d: u32) -> Result<NaiveDate, Error> {
    NaiveDate::from_ymd_opt(y, m, d)
        .ok_or(Error::InvalidInput { field: "date", reason: "invalid".into() })
}

fn open(dir: &std::path::Path, worker: &str, device: &str) -> Result<Store, Error> {
    let mut store = Store::open(dir.join(format!("{worker}.db")), &KEY, worker, device)?;
    store.set_clock(Box::new(|| {
        Utc.with_ymd_and_hms(2026, 12, 21, 16, 0, 0).single().unwrap_or_default()
    }));
    Ok(store)
}

fn send(from: &mut Store, to: &mut Store) -> Result<(), Error> {
    let changes = from.export_for(&to.all_heads()?)?;
    to.import(&changes)?;
    Ok(())
}

fn visit_of(store: &mut Store, id: &str) -> Result<Visit, Error> {
    match store.record(id)?.body {
        RecordBody::Visit(v) => Ok(v),
        other => Err(Error::KindMismatch {
            expected: fieldbook_core::records::RecordKind::Visit,
            found: other.kind(),
        }),
    }
}

pub fn run(dir: Option<PathBuf>, json: bool) -> Result<(), Box<dyn std::error::Error>> {
    let temp = tempfile::tempdir()?;
    let dir = match dir {
        Some(d) => {
            std::fs::create_dir_all(&d)?;
            d
        }
        None => temp.path().to_path_buf(),
    };
    let mut amara = open(&dir, "amara", "tablet-amara")?;
    let mut ben = open(&dir, "ben", "tablet-ben")?;

    // The case system's summary: a child on a child protection plan since 17 December.
    let mut summary = CaseSummary::new("LC10442", "Child A");
    summary.allocated_worker = "amara".into();
    summary.team = "north".into();
    summary.child_protection = Some(ChildProtectionPlan {
        start_date: date(2026, 12, 17)?,
        category: Some(fieldbook_core::codes::AbuseCategory::Neglect),
        initial_conference_date: date(2026, 12, 17)?,
        core_group_dates: vec![],
        review_conference_dates: vec![],
        end_date: None,
    });
    amara.put_case_summary("case-10442", &summary)?;
    send(&mut amara, &mut ben)?;

    // Offline in the family home, Amara records the statutory visit.
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
    let visit_id = amara.create_record("case-10442", &RecordBody::Visit(visit.clone()))?;
    send(&mut amara, &mut ben)?;

    // Both go offline and edit the same record: same paragraph, other fields, one same flag.
    visit.observations = "The kitchen had fresh food in. Child's bedroom was warm.".into();
    visit.bedroom_seen = Some(true);
    amara.update_record(&visit_id, &RecordBody::Visit(visit))?;
    let mut theirs = visit_of(&mut ben, &visit_id)?;
    theirs.observations = "The kitchen had food in. Child's bedroom was warm and tidy.".into();
    theirs.risks = "Father's new partner not yet checked.".into();
    theirs.bedroom_seen = Some(false);
    ben.update_record(&visit_id, &RecordBody::Visit(theirs))?;

    // Signal returns: exchange in both directions.
    send(&mut ben, &mut amara)?;
    send(&mut amara, &mut ben)?;

    let merged = amara.record(&visit_id)?;
    let converged = merged == ben.record(&visit_id)? && amara.all_heads()? == ben.all_heads()?;
    let report = Report {
        devices: vec![
            DeviceView { worker: "amara".into(), records: amara.case_records("case-10442")? },
            DeviceView { worker: "ben".into(), records: ben.case_records("case-10442")? },
        ],
        history: amara.history(&visit_id)?,
        worklist: amara.worklist(date(2026, 12, 21)?)?,
        merged_visit: merged,
        converged,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    if !converged {
        return Err("the two devices did not converge".into());
    }
    Ok(())
}

fn print_text(r: &Report) {
    for d in &r.devices {
        println!("{} holds {} record(s) on case-10442:", d.worker, d.records.len());
        for row in &d.records {
            println!(
                "  {} {} on {} — status {}, conflicts {}",
                row.kind.label(),
                row.visit_kind.map(|k| k.label()).unwrap_or(""),
                row.occurred_on.map(|d| d.to_string()).unwrap_or_default(),
                row.status.label(),
                row.conflicts
            );
        }
    }
    if let RecordBody::Visit(v) = &r.merged_visit.body {
        println!("\nMerged observations: {}", v.observations);
        println!("Merged risks:        {}", v.risks);
    }
    for c in &r.merged_visit.conflicts {
        let values: Vec<String> = c
            .values
            .iter()
            .map(|v| format!("{} by {} ({})", v.value, v.worker, v.device))
            .collect();
        println!("Conflict on {}: {}", c.path, values.join(" / "));
    }
    println!("\nHistory:");
    for h in &r.history {
        println!("  {} on {}: {}", h.worker, h.device, h.fields.join(", "));
    }
    println!("\nWorklist for Mon 21 Dec 2026:");
    for item in &r.worklist {
        let mut flags = String::new();
        if item.calendar_unconfirmed {
            flags.push_str(" [calendar unconfirmed]");
        }
        if item.stale {
            flags.push_str(" [not synced recently]");
        }
        println!(
            "  {} — {} — due {} ({}){flags}",
            item.child_name, item.label, item.due, item.status
        );
    }
    println!("\nconverged: {}", r.converged);
}
