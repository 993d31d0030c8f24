//! The authorisation queue (`docs/oversight.md`, "Authorisation queue"): the team's submitted
//! records, oldest first, each with a form to authorise or return it with a rationale (C5).

use maud::{html, Markup};

use super::figures::QueueItem;
use super::pages::{csrf_field, date, layout};
use super::session::PageCaller;

pub fn decision_form(c: &PageCaller, id: &str) -> Markup {
    html! {
        form method="post" action={ "/oversight/records/" (id) "/decision" } {
            (csrf_field(c))
            fieldset {
                legend { "Decision" }
                span.choice {
                    input type="radio" id={ "authorise-" (id) } name="decision" value="authorise" required;
                    label for={ "authorise-" (id) } { "Authorise" }
                }
                span.choice {
                    input type="radio" id={ "return-" (id) } name="decision" value="return";
                    label for={ "return-" (id) } { "Return for more work" }
                }
            }
            label for={ "rationale-" (id) } { "Rationale (required)" }
            textarea id={ "rationale-" (id) } name="rationale" rows="3" required {}
            p { button type="submit" { "Record decision" } }
        }
    }
}

pub fn queue_page(c: &PageCaller, team: &str, items: &[QueueItem]) -> Markup {
    let title = format!("Team {team}: awaiting authorisation");
    layout(
        &title,
        Some(c),
        html! {
            @if items.is_empty() { p { "No records are awaiting authorisation." } } @else {
                table {
                    caption {
                        (items.len()) @if items.len() == 1 { " record" } @else { " records" }
                        " awaiting authorisation, oldest first"
                    }
                    thead { tr {
                        th scope="col" { "Record" } th scope="col" { "Child" } th scope="col" { "Worker" }
                        th scope="col" { "Submitted" } th scope="col" class="num" { "Age (working days)" }
                        th scope="col" { "Decision" }
                    } }
                    tbody {
                        @for i in items {
                            tr data-record=(i.doc.id) {
                                th scope="row" { a href={ "/oversight/records/" (i.doc.id) } { (i.doc.kind.label()) " of " (date(i.doc.occurred_on)) } }
                                td { a href={ "/oversight/cases/" (i.doc.case_id) } { (i.child_name) } }
                                td { (i.worker) }
                                td { (date(i.doc.submitted_on)) }
                                td.num { (i.age_working_days) }
                                td { (decision_form(c, &i.doc.id)) }
                            }
                        }
                    }
                }
            }
        },
    )
}
