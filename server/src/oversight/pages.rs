//! The pages' frame and their errors. Accessibility (`docs/oversight.md`): one `h1` per page, a
//! skip link, landmarks (`header`, `nav`, `main`), every table with a caption and header cells
//! with `scope`, every form field with a label, visible focus, and colours that keep a 7:1
//! contrast (black on white, and a dark blue for links and buttons).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::session::PageCaller;
use crate::hub::HubError;

const STYLE: &str = "
*,*::before,*::after{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:0;color:#000;background:#fff;line-height:1.5}
header,main{padding:0.5rem 1rem}header{border-bottom:2px solid #000}header p{margin:0.25rem 0}
header{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;gap:0.5rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:0.25rem 1rem}dt{font-weight:bold}dd{margin:0}
dd ul{margin:0;padding-left:1.25rem}
a{color:#003078}a:focus,button:focus,input:focus,textarea:focus,select:focus{outline:3px solid #fd0;outline-offset:0;box-shadow:0 0 0 5px #000}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fd0;color:#000;padding:0.5rem}
table{border-collapse:collapse;margin:1rem 0;max-width:100%}caption{text-align:left;font-weight:bold;padding:0.25rem 0}
th,td{border:1px solid #505a5f;padding:0.25rem 0.5rem;text-align:left;vertical-align:top}
.num{text-align:right}.overdue{font-weight:bold;color:#8b0000}
button{background:#003078;color:#fff;border:0;padding:0.5rem 1rem;font:inherit;cursor:pointer}
label{display:block;font-weight:bold;margin-top:0.5rem}textarea,input[type=text],input[type=password]{width:100%;max-width:40rem;font-size:1rem;border:2px solid #000;padding:0.25rem}
fieldset{border:0;padding:0;margin:0.5rem 0}legend{font-weight:bold;padding:0}
.choice{display:block;white-space:nowrap;margin:0.25rem 0}.choice label{display:inline;font-weight:normal;margin:0 0 0 0.25rem}
input[type=radio]{width:1.25rem;height:1.25rem;vertical-align:middle;margin:0}
nav ul{list-style:none;padding:0;margin:0;display:flex;flex-wrap:wrap;align-items:center;gap:1rem}nav form{margin:0}
.charts{display:flex;flex-wrap:wrap;gap:1rem}figure{margin:0}.charts figure{flex:1 1 20rem;max-width:34rem}
.scroll{overflow-x:auto;max-width:100%}.scroll:focus{outline:3px solid #fd0;box-shadow:0 0 0 5px #000}.scroll table{max-width:none}
figure svg{display:block;max-width:100%;height:auto}figcaption{font-size:0.9rem}
";

/// The frame of every page.
pub fn layout(title: &str, caller: Option<&PageCaller>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en-GB" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " – Fieldbook oversight" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                a.skip href="#main" { "Skip to main content" }
                header {
                    p { strong { "Fieldbook oversight" } }
                    @if let Some(c) = caller {
                        nav aria-label="Oversight" {
                            ul {
                                @if let Some(team) = c.who.team.as_deref().filter(|_| c.who.role == crate::auth::Role::Manager) {
                                    li { a href={ "/oversight/teams/" (team) } { "Team caseload" } }
                                    li { a href={ "/oversight/teams/" (team) "/queue" } { "Authorisation queue" } }
                                }
                                @if c.who.role == crate::auth::Role::Senior {
                                    li { a href="/oversight/board" { "Board view" } }
                                }
                                li {
                                    form method="post" action="/oversight/sign-out" {
                                        (csrf_field(c))
                                        button type="submit" { "Sign out " (c.who.subject) }
                                    }
                                }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The hidden CSRF field every form carries (empty for a bearer-authenticated caller).
pub fn csrf_field(c: &PageCaller) -> Markup {
    html! { input type="hidden" name="csrf" value=(c.csrf.as_deref().unwrap_or("")); }
}

/// Why a page is not shown. The page says which, and nothing of what was asked for.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("sign in to see this page")]
    Unauthenticated,
    #[error("you may not see this page")]
    Forbidden,
    #[error("there is no such page")]
    NotFound,
    #[error("the form has expired: open the page again and resubmit")]
    Csrf,
    #[error("{0}")]
    Invalid(String),
    /// The decision could not be made: each missing item is named (never record content).
    #[error("the decision was not recorded")]
    Incomplete(Vec<String>),
    #[error("the record is no longer awaiting authorisation")]
    Conflict,
    #[error("the server could not complete the request")]
    Internal,
    /// The council's identity provider could not be reached or answered nonsense.
    #[error("the sign-in service could not be reached: try again in a moment")]
    Provider,
}

impl From<HubError> for PageError {
    fn from(e: HubError) -> Self {
        // The detail is for the log (ids only), not the page.
        tracing::error!(error = %e, "oversight page failed");
        Self::Internal
    }
}

impl PageError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::Csrf => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Incomplete(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Conflict => StatusCode::CONFLICT,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Provider => StatusCode::BAD_GATEWAY,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = layout(
            status.canonical_reason().unwrap_or("Error"),
            None,
            html! {
                p { (self.to_string()) }
                @if let Self::Incomplete(items) = &self {
                    ul { @for i in items { li { (i) } } }
                }
                @if matches!(self, Self::Unauthenticated) {
                    p { a href="/oversight/sign-in" { "Sign in" } }
                }
            },
        );
        let mut response = (status, body).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// A date as a page shows it.
pub fn date(d: Option<chrono::NaiveDate>) -> String {
    d.map(|d| d.format("%-d %b %Y").to_string()).unwrap_or_else(|| "–".into())
}
