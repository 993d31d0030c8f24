//! The exports (`docs/oversight.md`, "Exports"): the Ofsted Annex A style lists the records
//! support — children in need, on a child protection plan, looked after — with the allocated
//! worker and team, the date last seen, the last statutory visit, the last visit seen alone and
//! the latest review; as CSV, as an Excel workbook (`rust_xlsxwriter`) and as JSON. And the
//! monthly timeliness figures as CSV. Identifiers and dates only: no names, no record text.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::figures::{BoardFigures, Figure};
use super::pages::PageError;
use super::projection::CaseView;

/// Which list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnnexList {
    ChildInNeed,
    ChildProtection,
    LookedAfter,
}

impl AnnexList {
    pub const ALL: [AnnexList; 3] =
        [AnnexList::ChildInNeed, AnnexList::ChildProtection, AnnexList::LookedAfter];

    pub fn title(self) -> &'static str {
        match self {
            Self::ChildInNeed => "Children in need",
            Self::ChildProtection => "Child protection",
            Self::LookedAfter => "Looked after",
        }
    }
}

/// One child's row of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AnnexRow {
    pub local_child_id: String,
    pub case_id: String,
    pub allocated_worker: Option<String>,
    pub team: Option<String>,
    /// The episode's start: the referral, the plan's start, the date the child became looked after.
    pub start_date: NaiveDate,
    pub date_last_seen: Option<NaiveDate>,
    pub last_statutory_visit: Option<NaiveDate>,
    pub last_seen_alone: Option<NaiveDate>,
    pub latest_review: Option<NaiveDate>,
}

/// The rows of a list: the cases with that episode open, by local child id.
pub fn annex_rows(cases: &[CaseView], list: AnnexList) -> Vec<AnnexRow> {
    let mut rows: Vec<AnnexRow> = cases
        .iter()
        .filter_map(|c| {
            let s = &c.facts.summary;
            let (start, latest_review) = match list {
                AnnexList::ChildInNeed => {
                    let e = s.child_in_need.as_ref().filter(|e| e.closure_date.is_none())?;
                    (e.referral_date, e.review_dates.iter().copied().max())
                }
                AnnexList::ChildProtection => {
                    let p = s.child_protection.as_ref().filter(|p| p.end_date.is_none())?;
                    (p.start_date, p.review_conference_dates.iter().copied().max())
                }
                AnnexList::LookedAfter => {
                    let l = s.looked_after.as_ref().filter(|l| l.end_date.is_none())?;
                    (l.start_date, l.review_dates.iter().copied().max())
                }
            };
            Some(AnnexRow {
                local_child_id: s.local_child_id.clone(),
                case_id: c.facts.case_id.clone(),
                allocated_worker: c.worker.clone(),
                team: c.team.clone(),
                start_date: start,
                date_last_seen: c.facts.last_seen,
                last_statutory_visit: c.facts.last_statutory_visit,
                last_seen_alone: c.facts.last_seen_alone,
                latest_review,
            })
        })
        .collect();
    rows.sort_by(|a, b| a.local_child_id.cmp(&b.local_child_id).then(a.case_id.cmp(&b.case_id)));
    rows
}

const ANNEX_HEADINGS: [&str; 9] = [
    "Local child id",
    "Case id",
    "Allocated worker",
    "Team",
    "Start date",
    "Date last seen",
    "Last statutory visit",
    "Last seen alone",
    "Latest review",
];

fn iso(d: Option<NaiveDate>) -> String {
    d.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

fn cells(r: &AnnexRow) -> [String; 9] {
    [
        r.local_child_id.clone(),
        r.case_id.clone(),
        r.allocated_worker.clone().unwrap_or_default(),
        r.team.clone().unwrap_or_default(),
        iso(Some(r.start_date)),
        iso(r.date_last_seen),
        iso(r.last_statutory_visit),
        iso(r.last_seen_alone),
        iso(r.latest_review),
    ]
}

/// One CSV field (RFC 4180), with a leading formula character neutralised so a spreadsheet
/// never runs a cell as a formula.
fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn line(fields: impl IntoIterator<Item = String>) -> String {
    let mut out = fields.into_iter().map(|f| field(&f)).collect::<Vec<_>>().join(",");
    out.push_str("\r\n");
    out
}

pub fn annex_csv(rows: &[AnnexRow]) -> String {
    let mut out = line(ANNEX_HEADINGS.iter().map(|h| h.to_string()));
    for r in rows {
        out.push_str(&line(cells(r)));
    }
    out
}

/// The three lists as one workbook, a sheet each.
pub fn annex_xlsx(cases: &[CaseView]) -> Result<Vec<u8>, PageError> {
    use rust_xlsxwriter::Workbook;
    let failed = |e: rust_xlsxwriter::XlsxError| {
        tracing::error!(error = %e, "workbook not written");
        PageError::Internal
    };
    let mut book = Workbook::new();
    for list in AnnexList::ALL {
        let sheet = book.add_worksheet();
        sheet.set_name(list.title()).map_err(failed)?;
        for (col, h) in ANNEX_HEADINGS.iter().enumerate() {
            sheet.write_string(0, col as u16, *h).map_err(failed)?;
        }
        for (row, r) in annex_rows(cases, list).iter().enumerate() {
            for (col, v) in cells(r).iter().enumerate() {
                sheet.write_string(row as u32 + 1, col as u16, v).map_err(failed)?;
            }
        }
    }
    book.save_to_buffer().map_err(failed)
}

/// One month's figure, as the CSV and the JSON API give it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimelinessRow {
    /// `YYYY-MM`.
    pub month: String,
    pub figure: String,
    pub met: u32,
    pub counted: u32,
    pub percent: Option<f64>,
}

pub fn timeliness_rows(f: &BoardFigures) -> Vec<TimelinessRow> {
    let mut out = Vec::new();
    for figure in Figure::ALL {
        for (m, r) in
            f.months.iter().zip(f.by_figure.get(&figure).map(Vec::as_slice).unwrap_or(&[]))
        {
            out.push(TimelinessRow {
                month: format!("{}-{:02}", m.0, m.1),
                figure: figure.slug().to_string(),
                met: r.met,
                counted: r.total,
                percent: r.percent().map(|p| (p * 10.0).round() / 10.0),
            });
        }
    }
    out
}

pub fn timeliness_csv(rows: &[TimelinessRow]) -> String {
    let mut out = line(["Month", "Figure", "Met", "Counted", "Percent"].map(String::from));
    for r in rows {
        out.push_str(&line([
            r.month.clone(),
            r.figure.clone(),
            r.met.to_string(),
            r.counted.to_string(),
            r.percent.map(|p| format!("{p:.1}")).unwrap_or_default(),
        ]));
    }
    out
}
