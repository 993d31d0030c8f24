//! The board view (`senior`): the council's timeliness by month as charts and the same figures
//! as tables, and the caseload distribution. No child's name and no record text.

use chrono::NaiveDate;
use maud::{html, Markup, PreEscaped};

use super::charts;
use super::figures::{BoardFigures, Figure};
use super::pages::{date, layout, PageError};
use super::session::PageCaller;

fn month_text(m: (i32, u32)) -> String {
    format!("{}-{:02}", m.0, m.1)
}

pub fn board_page(c: &PageCaller, today: NaiveDate, f: &BoardFigures) -> Result<Markup, PageError> {
    let mut charts_svg = Vec::new();
    for figure in Figure::ALL {
        let ratios = f.by_figure.get(&figure).cloned().unwrap_or_default();
        charts_svg.push((figure, charts::timeliness(figure.title(), &f.months, &ratios)?));
    }
    let bands = f.caseload_bands();
    let caseload_svg = charts::caseloads(&bands)?;
    Ok(layout(
        "Board view: timeliness and caseloads",
        Some(c),
        html! {
            p { "The twelve months to " (date(Some(today))) ", every team. Exports: "
                a href="/oversight/exports/timeliness.csv" { "monthly timeliness (CSV)" } ", "
                a href="/oversight/exports/annex-a.csv?list=child_in_need" { "child in need list (CSV)" } ", "
                a href="/oversight/exports/annex-a.csv?list=child_protection" { "child protection list (CSV)" } ", "
                a href="/oversight/exports/annex-a.csv?list=looked_after" { "looked after list (CSV)" } ", "
                a href="/oversight/exports/annex-a.xlsx" { "all three lists (Excel)" } "." }
            h2 { "Timeliness by month" }
            div.charts {
                @for (figure, svg) in &charts_svg {
                    figure aria-labelledby={ "cap-" (figure.slug()) } {
                        div aria-hidden="true" { (PreEscaped(svg)) }
                        figcaption id={ "cap-" (figure.slug()) } { (figure.title()) ": see the table below" }
                    }
                }
            }
            // Twelve months do not fit a tablet's width: the table scrolls on its own, and the
            // region takes the keyboard's focus so it can be scrolled without a mouse.
            div.scroll role="region" aria-labelledby="timeliness-caption" tabindex="0" {
            table id="timeliness" {
                caption id="timeliness-caption" { "Timeliness by month: met / counted (percent)" }
                thead { tr {
                    th scope="col" { "Figure" }
                    @for m in &f.months { th scope="col" class="num" { (month_text(*m)) } }
                } }
                tbody {
                    @for figure in Figure::ALL {
                        tr data-figure=(figure.slug()) {
                            th scope="row" { (figure.title()) }
                            @for r in f.by_figure.get(&figure).map(Vec::as_slice).unwrap_or(&[]) {
                                td.num data-met=(r.met) data-total=(r.total) {
                                    (r.met) " / " (r.total)
                                    @if let Some(p) = r.percent() { " (" (format!("{p:.0}")) "%)" }
                                }
                            }
                        }
                    }
                }
            }
            }
            h2 { "Caseload distribution" }
            figure aria-labelledby="cap-caseloads" {
                div aria-hidden="true" { (PreEscaped(caseload_svg)) }
                figcaption id="cap-caseloads" { "Workers by number of children allocated: see the table below" }
            }
            table id="caseloads" {
                caption { "Workers by children allocated" }
                thead { tr { th scope="col" { "Children allocated" } th scope="col" class="num" { "Workers" } } }
                tbody { @for (band, n) in &bands { tr { th scope="row" { (band) } td.num { (n) } } } }
            }
        },
    ))
}
