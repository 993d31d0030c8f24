//! The team caseload page and a worker's cases (`docs/oversight.md`, "Team caseload").

use chrono::NaiveDate;
use maud::{html, Markup};

use super::figures::{is_visit, TeamFigures};
use super::pages::{date, layout};
use super::projection::CaseView;
use super::session::PageCaller;

pub fn team_page(c: &PageCaller, team: &str, today: NaiveDate, f: &TeamFigures) -> Markup {
    let title = format!("Team {team}: caseload");
    layout(
        &title,
        Some(c),
        html! {
            p { "Figures for " (date(Some(today))) ", from the same rules as the workers' tablets." }
            table {
                caption { "Caseload by worker" }
                thead { tr {
                    th scope="col" { "Worker" }
                    th scope="col" class="num" { "Children allocated" }
                    th scope="col" class="num" { "Visits overdue" }
                    th scope="col" class="num" { "Visits due this week" }
                    th scope="col" { "Assessments open (working days left)" }
                    th scope="col" class="num" { "Awaiting authorisation" }
                } }
                tbody {
                    @for w in &f.workers {
                        tr {
                            th scope="row" { a href={ "/oversight/teams/" (team) "/workers/" (w.worker) } { (w.worker) } }
                            td.num { (w.children) }
                            td.num class=[(w.visits_overdue > 0).then_some("overdue")] { (w.visits_overdue) }
                            td.num { (w.visits_due_this_week) }
                            td {
                                @if w.assessments_open.is_empty() { "none" }
                                @for (i, (case, left)) in w.assessments_open.iter().enumerate() {
                                    @if i > 0 { ", " }
                                    a href={ "/oversight/cases/" (case) } { (case) }
                                    " (" (left) ")"
                                }
                            }
                            td.num { (w.awaiting_authorisation) }
                        }
                    }
                }
            }
            h2 { "Overdue items" }
            @if f.overdue.is_empty() { p { "Nothing is overdue." } } @else {
                table {
                    caption { "Every overdue item of the team's cases, as on the workers' worklists" }
                    thead { tr { th scope="col" { "Case" } th scope="col" { "Item" } th scope="col" { "Due" } } }
                    tbody {
                        @for i in &f.overdue {
                            tr data-case=(i.case_id) data-timescale=(format!("{:?}", i.timescale)) data-due=(i.due) {
                                td { a href={ "/oversight/cases/" (i.case_id) } { (i.case_id) } }
                                td { (i.timescale.label()) }
                                td.overdue { (date(Some(i.due))) }
                            }
                        }
                    }
                }
            }
        },
    )
}

pub fn worker_page(
    c: &PageCaller,
    team: &str,
    worker: &str,
    today: NaiveDate,
    cases: &[CaseView],
) -> Markup {
    let title = format!("{worker}'s cases");
    layout(
        &title,
        Some(c),
        html! {
            p { a href={ "/oversight/teams/" (team) } { "Back to team " (team) } }
            table {
                caption { "Cases allocated to " (worker) " on " (date(Some(today))) }
                thead { tr {
                    th scope="col" { "Child" } th scope="col" { "Last seen" } th scope="col" { "Last seen alone" }
                    th scope="col" class="num" { "Overdue" } th scope="col" { "Next visit due" }
                } }
                tbody {
                    @for case in cases.iter().filter(|c| c.worker.as_deref() == Some(worker)) {
                        @let f = &case.facts;
                        tr {
                            th scope="row" { a href={ "/oversight/cases/" (f.case_id) } { (f.summary.name) } }
                            td { (date(f.last_seen)) }
                            td { (date(f.last_seen_alone)) }
                            td.num { (f.due.iter().filter(|d| d.due < today).count()) }
                            td { (date(f.due.iter().filter(|d| is_visit(d.timescale)).map(|d| d.due).min())) }
                        }
                    }
                }
            }
        },
    )
}
