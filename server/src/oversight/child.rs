//! A child's page (timeline, due and overdue, last seen) from projections only, and one record
//! read-only with its history and amendments, which loads that one document
//! (`docs/oversight.md`, "A child's page").

use chrono::NaiveDate;
use fieldbook_core::document::HistoryEntry;
use fieldbook_core::records::{Record, RecordKind, RecordStatus};
use fieldbook_core::rules::status::due_status;
use maud::{html, Markup};

use super::pages::{date, layout};
use super::projection::{CaseView, DocFacts};
use super::queue::decision_form;
use super::session::PageCaller;

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "not recorded",
    }
}

pub fn child_page(c: &PageCaller, case: &CaseView, docs: &[DocFacts], today: NaiveDate) -> Markup {
    let f = &case.facts;
    let mut timeline: Vec<&DocFacts> =
        docs.iter().filter(|d| d.kind != RecordKind::CaseSummary).collect();
    timeline.sort_by(|a, b| b.occurred_on.cmp(&a.occurred_on).then(a.id.cmp(&b.id)));
    layout(
        &f.summary.name,
        Some(c),
        html! {
            dl {
                dt { "Local child id" } dd { (f.summary.local_child_id) }
                dt { "Allocated worker" } dd { (case.worker.as_deref().unwrap_or("unallocated")) }
                dt { "Date last seen" } dd { (date(f.last_seen)) }
                dt { "Date last seen alone" } dd { (date(f.last_seen_alone)) }
                dt { "Last statutory visit" } dd { (date(f.last_statutory_visit)) }
            }
            h2 { "Due and overdue on " (date(Some(today))) }
            @if f.due.is_empty() { p { "Nothing is due." } } @else {
                table {
                    caption { "Open timescales" }
                    thead { tr { th scope="col" { "Item" } th scope="col" { "Due" } th scope="col" { "Status" } th scope="col" { "Source" } } }
                    tbody {
                        @for d in &f.due {
                            @let status = due_status(d.due, today, None);
                            tr {
                                th scope="row" { (d.timescale.label()) }
                                td { (date(Some(d.due))) }
                                td class=[status.is_overdue().then_some("overdue")] { (status.to_string()) }
                                td { (d.timescale.source()) }
                            }
                        }
                    }
                }
            }
            h2 { "Timeline" }
            table {
                caption { "Visits, assessments and notes, newest first" }
                thead { tr {
                    th scope="col" { "Date" } th scope="col" { "Record" } th scope="col" { "Status" }
                    th scope="col" { "Child seen" } th scope="col" { "Seen alone" } th scope="col" { "Views recorded" }
                } }
                tbody {
                    @for d in timeline {
                        tr {
                            td { (date(d.occurred_on)) }
                            th scope="row" {
                                a href={ "/oversight/records/" (d.id) } {
                                    (d.kind.label())
                                    @if let Some(k) = d.visit_kind { ": " (k.label()) }
                                }
                                @if d.amendments > 0 { " (amended)" }
                            }
                            td { (d.status.label()) }
                            td { (yes_no(d.child_seen)) }
                            td { (yes_no(d.seen_alone)) }
                            td { (yes_no(d.views_recorded)) }
                        }
                    }
                }
            }
        },
    )
}

/// Renders a JSON value as nested definition lists: every field of the record, read-only.
fn value(v: &serde_json::Value) -> Markup {
    use serde_json::Value;
    match v {
        Value::Null => html! { "–" },
        Value::Bool(b) => html! { (if *b { "yes" } else { "no" }) },
        Value::Number(n) => html! { (n.to_string()) },
        Value::String(s) if s.is_empty() => html! { "–" },
        Value::String(s) => html! { (s) },
        Value::Array(items) if items.is_empty() => html! { "none" },
        Value::Array(items) => html! { ul { @for i in items { li { (value(i)) } } } },
        Value::Object(map) => html! {
            dl { @for (k, v) in map { dt { (k.replace('_', " ")) } dd { (value(v)) } } }
        },
    }
}

pub fn record_page(
    c: &PageCaller,
    record: &Record,
    history: &[HistoryEntry],
    child_name: &str,
) -> Markup {
    let meta = &record.meta;
    let body = serde_json::to_value(&record.body).unwrap_or_default();
    layout(
        &format!("{} for {child_name}", meta.kind.label()),
        Some(c),
        html! {
            p { a href={ "/oversight/cases/" (meta.case_id) } { "Back to " (child_name) } }
            dl {
                dt { "Status" } dd { (meta.status.label()) }
                dt { "Recorded by" } dd { (meta.created_by) }
                @if let Some(o) = &meta.oversight {
                    dt { "Oversight" } dd { (o.decision.label()) " by " (o.manager) " on " (date(Some(fieldbook_core::rules::local_date(o.at)))) ": " (o.rationale) }
                }
            }
            @if meta.status == RecordStatus::Submitted {
                h2 { "Decision" }
                (decision_form(c, &meta.id))
            }
            h2 { "Record" }
            (value(body.get("fields").unwrap_or(&body)))
            h2 { "Amendments after authorisation" }
            @if meta.amendments.is_empty() { p { "None." } } @else {
                ul { @for a in &meta.amendments { li { (a.by) " on " (date(Some(fieldbook_core::rules::local_date(a.at)))) ": " (a.fields.join(", ")) } } }
            }
            h2 { "History" }
            table {
                caption { "Every change, oldest first" }
                thead { tr { th scope="col" { "When (device clock)" } th scope="col" { "Who" } th scope="col" { "Device" } th scope="col" { "What" } } }
                tbody {
                    @for h in history {
                        tr {
                            td { (h.at.map(|t| t.format("%-d %b %Y %H:%M").to_string()).unwrap_or_default()) }
                            td { (h.worker) } td { (h.device) } td { (h.fields.join(", ")) }
                        }
                    }
                }
            }
        },
    )
}
