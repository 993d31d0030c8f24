//! Recording and managing records of every kind from a terminal, on the local store: an
//! assessment, a case note, editing any record's fields, its conflicts and their resolution,
//! submit and authorise with a rationale, and where a record's delivery stands. Each prints JSON
//! with `--json`.

use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;
use fieldbook_core::codes::AssessmentFactor;
use fieldbook_core::records::{
    new_id, AgencyContact, AgencyKind, Assessment, AssessmentKind, AssessmentOutcome, CaseNote,
    CaseNoteCategory, RecordBody,
};
use fieldbook_core::Resolution;

use crate::local::{open, print, Who};

type CliResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Subcommand, Debug)]
pub enum RecordCommand {
    /// Record an assessment on a case (offline: it syncs later).
    RecordAssessment {
        #[command(flatten)]
        who: Who,
        #[arg(long)]
        case: String,
        /// single or s47
        #[arg(long, default_value = "single")]
        kind: String,
        /// The referral date the 45 working days run from.
        #[arg(long)]
        start_date: NaiveDate,
        /// The child was seen.
        #[arg(long)]
        seen: bool,
        /// Why the child was not seen (records the child as not seen).
        #[arg(long, conflicts_with = "seen")]
        not_seen_reason: Option<String>,
        /// A factor identified, by its DfE code (`1B`, `21`); repeat for each.
        #[arg(long = "factor")]
        factors: Vec<String>,
        /// An agency consulted, as `kind:organisation` (`school:Hill Primary`); repeat for each.
        #[arg(long = "agency")]
        agencies: Vec<String>,
        #[arg(long, default_value = "")]
        no_agency_reason: String,
        #[arg(long, default_value = "")]
        analysis: String,
        /// The outcome's code (`child_in_need_plan`, `no_further_action`, ..).
        #[arg(long)]
        outcome: Option<String>,
        /// Submit for management oversight after saving (fails with the missing items named).
        #[arg(long)]
        submit: bool,
    },
    /// Record a case note on a case's chronology.
    RecordNote {
        #[command(flatten)]
        who: Who,
        #[arg(long)]
        case: String,
        /// phone_call, meeting, correspondence, supervision, management_oversight, other
        #[arg(long, default_value = "other")]
        category: String,
        #[arg(long)]
        text: String,
        /// When it happened (RFC 3339; default: now).
        #[arg(long)]
        at: Option<DateTime<Utc>>,
    },
    /// Edit a record's fields: `--set field=value`, the value as JSON (`false`, `"12"`,
    /// `["1B"]`) or else as text. Only what differs is written.
    Edit {
        #[command(flatten)]
        who: Who,
        id: String,
        #[arg(long = "set", required = true)]
        set: Vec<String>,
    },
    /// List a record's conflicts: each value with who wrote it and when.
    Conflicts {
        #[command(flatten)]
        who: Who,
        id: String,
    },
    /// Resolve a conflict by keeping one of its values (`--choose <value id>`) or writing a new
    /// one (`--value`, JSON or else text).
    Resolve {
        #[command(flatten)]
        who: Who,
        id: String,
        /// The field's path as `conflicts` lists it.
        #[arg(long)]
        path: String,
        #[arg(long, conflicts_with = "value", required_unless_present = "value")]
        choose: Option<String>,
        #[arg(long)]
        value: Option<String>,
    },
    /// Submit a record for management oversight (the missing items are named if it is not
    /// complete).
    Submit {
        #[command(flatten)]
        who: Who,
        id: String,
    },
    /// Authorise a submitted record, as its manager, with the rationale (C5).
    Authorise {
        #[command(flatten)]
        who: Who,
        id: String,
        #[arg(long, default_value = "")]
        rationale: String,
    },
    /// Where a record stands: on this device only, or received by the council (and when).
    Delivery {
        #[command(flatten)]
        who: Who,
        id: String,
    },
}

/// A value given on the command line: JSON when it parses, else text.
fn value_of(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
}

fn agency(spec: &str) -> Result<AgencyContact, Box<dyn std::error::Error>> {
    let (kind, organisation) = spec.split_once(':').unwrap_or((spec, ""));
    Ok(AgencyContact {
        id: new_id(),
        agency: AgencyKind::from_code(kind)?,
        organisation: organisation.to_string(),
        date: None,
        summary: String::new(),
    })
}

/// `body` with each `field=value` set over its fields (through its JSON form, so a field is
/// checked against the record's type and an unknown one is refused).
fn edited(body: &RecordBody, sets: &[String]) -> Result<RecordBody, Box<dyn std::error::Error>> {
    let mut json = serde_json::to_value(body)?;
    let fields = json["fields"].as_object_mut().ok_or("the record has no fields")?;
    for set in sets {
        let (field, value) = set.split_once('=').ok_or("--set takes field=value")?;
        if !fields.contains_key(field) {
            return Err(format!("the record has no field {field}").into());
        }
        fields.insert(field.to_string(), value_of(value));
    }
    Ok(serde_json::from_value(json)?)
}

pub async fn run(cmd: RecordCommand, json: bool) -> CliResult {
    match cmd {
        RecordCommand::RecordAssessment {
            who,
            case,
            kind,
            start_date,
            seen,
            not_seen_reason,
            factors,
            agencies,
            no_agency_reason,
            analysis,
            outcome,
            submit,
        } => {
            let mut store = open(&who)?;
            let mut a = Assessment::new(AssessmentKind::from_code(&kind)?, start_date);
            a.child_seen = match (seen, &not_seen_reason) {
                (true, _) => Some(true),
                (false, Some(_)) => Some(false),
                (false, None) => None,
            };
            a.child_not_seen_reason = not_seen_reason.unwrap_or_default();
            a.factors =
                factors.iter().map(|f| AssessmentFactor::from_code(f)).collect::<Result<_, _>>()?;
            a.agencies_consulted = agencies.iter().map(|s| agency(s)).collect::<Result<_, _>>()?;
            a.no_agency_reason = no_agency_reason;
            a.analysis = analysis;
            a.outcome = outcome.map(|o| AssessmentOutcome::from_code(&o)).transpose()?;
            let id = store.create_record(&case, &RecordBody::Assessment(a))?;
            if submit {
                store.submit(&id)?;
            }
            print(json, &serde_json::json!({"id": id}), |_| println!("recorded assessment {id}"))
        }
        RecordCommand::RecordNote { who, case, category, text, at } => {
            let mut store = open(&who)?;
            let note = CaseNote {
                category: CaseNoteCategory::from_code(&category)?,
                occurred_at: at.unwrap_or_else(Utc::now),
                text,
                attachments: Vec::new(),
            };
            let id = store.create_record(&case, &RecordBody::CaseNote(note))?;
            print(json, &serde_json::json!({"id": id}), |_| println!("recorded case note {id}"))
        }
        RecordCommand::Edit { who, id, set } => {
            let mut store = open(&who)?;
            let body = edited(&store.record(&id)?.body, &set)?;
            let changed = store.update_record(&id, &body)?;
            print(json, &serde_json::json!({"id": id, "changed": changed}), |_| {
                println!("changed: {}", changed.join(", "))
            })
        }
        RecordCommand::Conflicts { who, id } => {
            let mut store = open(&who)?;
            let conflicts = store.conflicts(&id)?;
            print(json, &conflicts, |conflicts| {
                for c in conflicts {
                    println!("{}", c.path);
                    for (i, v) in c.values.iter().enumerate() {
                        let at = v.at.map(|t| t.to_rfc3339()).unwrap_or_default();
                        let shown = if i == 0 { " (shown)" } else { "" };
                        println!(
                            "  {}  {}  {}@{}  {}{}",
                            v.id, v.value, v.worker, v.device, at, shown
                        );
                    }
                }
            })
        }
        RecordCommand::Resolve { who, id, path, choose, value } => {
            let mut store = open(&who)?;
            let resolution = match (choose, value) {
                (Some(value_id), _) => Resolution::Choose { value_id },
                (None, Some(v)) => Resolution::Write { value: value_of(&v) },
                (None, None) => return Err("give --choose or --value".into()),
            };
            let changed = store.resolve_conflict(&id, &path, &resolution)?;
            print(json, &serde_json::json!({"id": id, "changed": changed}), |_| {
                println!("resolved {path}")
            })
        }
        RecordCommand::Submit { who, id } => {
            let mut store = open(&who)?;
            store.submit(&id)?;
            print(json, &serde_json::json!({"id": id, "status": "submitted"}), |_| {
                println!("submitted {id}")
            })
        }
        RecordCommand::Authorise { who, id, rationale } => {
            let mut store = open(&who)?;
            store.authorise(&id, &rationale)?;
            print(json, &serde_json::json!({"id": id, "status": "authorised"}), |_| {
                println!("authorised {id}")
            })
        }
        RecordCommand::Delivery { who, id } => {
            let store = open(&who)?;
            let delivery = store.delivery(&id)?;
            print(json, &delivery, |d| match d {
                fieldbook_core::store::Delivery::OnDeviceOnly => println!("on this device only"),
                fieldbook_core::store::Delivery::Received { at } => {
                    println!("received by the council at {}", at.to_rfc3339())
                }
            })
        }
    }
}
