//! The oversight routes: who may open what (`docs/roles.md`), then a read of projections and a
//! page. A manager sees their own team only; a page of another team, or of a case not allocated
//! to the team, is 403 with no data, whether or not it exists. `senior` sees the board view and
//! the exports of the whole council; the case system reads the same lists as JSON.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use chrono::{NaiveDate, Utc};
use fieldbook_core::records::{OversightDecision, RecordKind, RecordStatus};
use fieldbook_core::rules::local_date;
use maud::html;
use serde::Deserialize;

use super::export::{self, AnnexList, AnnexRow, TimelinessRow};
use super::pages::{layout, PageError};
use super::projection::{parse_cases, parse_docs, CaseView};
use super::session::{
    cookie, random_token, same, set_cookie, set_cookie_same_site, PageCaller, OIDC_COOKIE,
    SESSION_COOKIE, SIGN_IN_COOKIE,
};
use super::{board, child, decision, figures, queue, rows, team};
use crate::auth::{Identity, Role};
use crate::http::errors::ApiError;
use crate::http::AppState;
use crate::hub::{doc_from_changes, stored_changes, Job};
use crate::storage::{DocInfo, ProjectionScope, Storage};
use fieldbook_core::protocol::ErrorBody;

/// `?on=YYYY-MM-DD`: the day the figures are for (default: today in Europe/London).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OnDay {
    pub on: Option<NaiveDate>,
}

impl OnDay {
    fn day(&self) -> NaiveDate {
        self.on.unwrap_or_else(|| local_date(Utc::now()))
    }
}

fn manager_of(c: &PageCaller, team: &str) -> Result<(), PageError> {
    if c.who.role == Role::Manager && c.who.team.as_deref() == Some(team) {
        Ok(())
    } else {
        Err(PageError::Forbidden)
    }
}

fn senior(who: &Identity) -> Result<(), PageError> {
    if who.role == Role::Senior {
        Ok(())
    } else {
        Err(PageError::Forbidden)
    }
}

/// The case, if the caller manages the team it is allocated to.
async fn managed_case(
    state: &AppState,
    c: &PageCaller,
    case_id: &str,
) -> Result<CaseView, PageError> {
    let storage = state.hub.storage();
    let allocation = storage.allocation(case_id).await.map_err(crate::hub::HubError::from)?;
    let team = allocation.map(|a| a.team).ok_or(PageError::Forbidden)?;
    manager_of(c, &team)?;
    let rows = storage
        .projected_cases(&ProjectionScope::Case(case_id.into()))
        .await
        .map_err(crate::hub::HubError::from)?;
    parse_cases(&rows)?.into_iter().next().ok_or(PageError::NotFound)
}

async fn team_data(
    storage: &dyn Storage,
    team: &str,
) -> Result<(Vec<CaseView>, Vec<super::projection::DocFacts>), PageError> {
    let scope = ProjectionScope::Team(team.into());
    let cases =
        parse_cases(&storage.projected_cases(&scope).await.map_err(crate::hub::HubError::from)?)?;
    let submitted = parse_docs(
        &storage
            .projected_docs(&scope, Some(RecordStatus::Submitted))
            .await
            .map_err(crate::hub::HubError::from)?,
    )?;
    Ok((cases, submitted))
}

/// Where a signed-in caller starts: a manager's team, or the board.
#[utoipa::path(get, path = "/oversight", tag = "oversight",
    responses((status = 303, description = "to the caller's first page"), (status = 401, description = "not signed in", content_type = "text/html"), (status = 403, description = "no oversight page for this role", content_type = "text/html")))]
pub async fn home(c: PageCaller) -> Result<Redirect, PageError> {
    match (c.who.role, &c.who.team) {
        (Role::Manager, Some(team)) => Ok(Redirect::to(&format!("/oversight/teams/{team}"))),
        (Role::Senior, _) => Ok(Redirect::to("/oversight/board")),
        _ => Err(PageError::Forbidden),
    }
}

/// Sign-in: to the council's identity provider when one is configured (authorisation code with
/// PKCE, `oidc`), otherwise the development form that posts a static token or JWT with a
/// double-submit CSRF token.
#[utoipa::path(get, path = "/oversight/sign-in", tag = "oversight", security(()),
    responses((status = 200, description = "the development sign-in form", content_type = "text/html"), (status = 303, description = "to the identity provider"), (status = 502, description = "the identity provider cannot be reached", content_type = "text/html")))]
pub async fn sign_in_form(State(state): State<AppState>) -> Result<Response, PageError> {
    if let Some(oidc) = &state.oidc {
        let started = oidc.start().await?;
        let max_age = super::oidc::PENDING_TTL.as_secs();
        return Ok((
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, started.url),
                (
                    header::SET_COOKIE,
                    set_cookie_same_site(OIDC_COOKIE, &started.login_id, Some(max_age), "Lax"),
                ),
            ],
        )
            .into_response());
    }
    let csrf = random_token()?;
    let page = layout(
        "Sign in",
        None,
        html! {
            form method="post" action="/oversight/sign-in" {
                input type="hidden" name="csrf" value=(csrf);
                label for="token" { "Access token" }
                input type="password" id="token" name="token" autocomplete="off" required;
                p { button type="submit" { "Sign in" } }
            }
        },
    );
    Ok(([(header::SET_COOKIE, set_cookie(SIGN_IN_COOKIE, &csrf, Some(600)))], page).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SignIn {
    token: String,
    csrf: String,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn").finish_non_exhaustive()
    }
}

#[utoipa::path(post, path = "/oversight/sign-in", tag = "oversight", security(()),
    request_body(content = SignIn, content_type = "application/x-www-form-urlencoded"),
    responses((status = 415, description = "the body is not a form", content_type = "text/plain"), (status = 422, description = "the form lacks a field", content_type = "text/plain"), (status = 303, description = "signed in: a session cookie is set"), (status = 401, description = "the token is not valid", content_type = "text/html"), (status = 403, description = "the form's CSRF token does not match", content_type = "text/html")))]
pub async fn sign_in(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Form(form): Form<SignIn>,
) -> Result<Response, PageError> {
    let expected = cookie(&headers, SIGN_IN_COOKIE).ok_or(PageError::Csrf)?;
    if !same(&expected, &form.csrf) {
        return Err(PageError::Csrf);
    }
    let bearer = zeroize::Zeroizing::new(format!("Bearer {}", form.token));
    state.auth.authenticate_async(Some(&bearer)).await.map_err(|e| {
        tracing::warn!(error = ?e, "sign-in refused");
        PageError::Unauthenticated
    })?;
    let (id, _) = state.sessions.create(&form.token)?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/oversight".to_string()),
            (header::SET_COOKIE, set_cookie(SESSION_COOKIE, &id, None)),
        ],
    )
        .into_response())
}

/// The identity provider's redirect back: `code` and `state`, or `error`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callback").field("error", &self.error).finish_non_exhaustive()
    }
}

/// The end of the identity provider's sign-in: the state checked against the sign-in this
/// browser started (its cookie), the code exchanged with the PKCE verifier, the ID token
/// verified and its claims made an identity, and a session created. The answer is a page that
/// moves on to `/oversight` itself: the provider's redirect is a cross-site navigation, and a
/// `SameSite=Strict` session cookie is only sent once the browser navigates from this site.
#[utoipa::path(get, path = "/oversight/callback", tag = "oversight", security(()), params(Callback),
    responses((status = 200, description = "signed in: a session cookie is set", content_type = "text/html"), (status = 400, description = "a query parameter is not valid", content_type = "text/plain"), (status = 401, description = "the provider refused the sign-in, or its token is not a Fieldbook identity", content_type = "text/html"), (status = 403, description = "no sign-in of this browser with this state", content_type = "text/html"), (status = 404, description = "no identity provider is configured", content_type = "text/html"), (status = 502, description = "the identity provider cannot be reached", content_type = "text/html")))]
pub async fn callback(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Query(q): Query<Callback>,
) -> Result<Response, PageError> {
    let oidc = state.oidc.as_ref().ok_or(PageError::NotFound)?;
    let login_id = cookie(&headers, OIDC_COOKIE).ok_or(PageError::Csrf)?;
    let clear = set_cookie_same_site(OIDC_COOKIE, "", Some(0), "Lax");
    let result = match (&q.error, &q.code, &q.state) {
        (None, Some(code), Some(st)) => oidc.finish(&login_id, st, code).await,
        _ => {
            // Used up all the same: a refused sign-in starts again from the provider.
            let _ = oidc.finish(&login_id, "", "").await;
            tracing::warn!(error = ?q.error, "the provider did not sign the user in");
            Err(PageError::Unauthenticated)
        }
    };
    let signed_in = match result {
        Ok(signed_in) => signed_in,
        Err(e) => {
            let mut response = e.into_response();
            if let Ok(v) = header::HeaderValue::from_str(&clear) {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
            return Ok(response);
        }
    };
    let (id, _) = state.sessions.create_for(signed_in.identity, signed_in.id_token)?;
    let page = layout(
        "Signed in",
        None,
        html! {
            meta http-equiv="refresh" content="0;url=/oversight";
            p { a href="/oversight" { "Continue to your oversight pages" } }
        },
    );
    let mut response = page.into_response();
    for value in [set_cookie(SESSION_COOKIE, &id, None), clear] {
        if let Ok(v) = header::HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(response)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CsrfOnly {
    csrf: Option<String>,
}

/// Sign-out: the session ends here and its cookie is cleared; a session from the identity
/// provider is then ended at the provider too, by sending the browser to its end-session
/// endpoint (`oidc::Oidc::end_session_url`), which comes back to the sign-in page.
#[utoipa::path(post, path = "/oversight/sign-out", tag = "oversight",
    request_body(content = CsrfOnly, content_type = "application/x-www-form-urlencoded"),
    responses((status = 415, description = "the body is not a form", content_type = "text/plain"), (status = 422, description = "the form lacks a field", content_type = "text/plain"), (status = 303, description = "signed out: to the sign-in page, or to the identity provider's end-session endpoint"), (status = 401, description = "not signed in", content_type = "text/html"), (status = 403, description = "the form's CSRF token does not match", content_type = "text/html"), (status = 502, description = "the identity provider cannot be reached (the local session has ended)", content_type = "text/html")))]
pub async fn sign_out(
    State(state): State<AppState>,
    c: PageCaller,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, PageError> {
    c.check_csrf(form.csrf.as_deref())?;
    let id_token = c.session.as_deref().and_then(|id| state.sessions.remove(id));
    let end_session = match (&state.oidc, id_token) {
        (Some(oidc), Some(id_token)) => oidc.end_session_url(&id_token).await,
        _ => Ok(None),
    };
    // The local session has ended whatever the provider says: its cookie is cleared on the
    // error page too, so the browser does not keep presenting a session that no longer exists.
    let clear = (header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", Some(0)));
    Ok(match end_session {
        Ok(url) => {
            let location = url.unwrap_or_else(|| "/oversight/sign-in".to_string());
            (StatusCode::SEE_OTHER, [(header::LOCATION, location), clear]).into_response()
        }
        Err(e) => ([clear], e).into_response(),
    })
}

#[utoipa::path(get, path = "/oversight/teams/{team}", tag = "oversight", params(("team" = String, Path), OnDay),
    responses((status = 400, description = "a query parameter is not valid", content_type = "text/plain"), (status = 200, description = "the team caseload", content_type = "text/html"), (status = 401, description = "not signed in", content_type = "text/html"), (status = 403, description = "not this team's manager", content_type = "text/html")))]
pub async fn team_page(
    State(state): State<AppState>,
    c: PageCaller,
    Path(team): Path<String>,
    Query(on): Query<OnDay>,
) -> Result<Response, PageError> {
    manager_of(&c, &team)?;
    Ok(render_team(state.hub.storage().as_ref(), &c, &team, on.day()).await?.into_response())
}

/// The team page from storage: its projections read, its figures computed, its HTML rendered
/// (also what `server/benches/oversight.rs` times).
pub async fn render_team(
    storage: &dyn Storage,
    c: &PageCaller,
    team: &str,
    today: NaiveDate,
) -> Result<maud::Markup, PageError> {
    // Only what the figures read: the cases' due items, the submitted records' cases.
    let scope = ProjectionScope::Team(team.into());
    let case_rows = storage.projected_cases(&scope).await.map_err(crate::hub::HubError::from)?;
    let submitted = storage
        .projected_docs(&scope, Some(RecordStatus::Submitted))
        .await
        .map_err(crate::hub::HubError::from)?;
    let f = figures::team(&rows::team_cases(&case_rows)?, &submitted, today);
    Ok(team::team_page(c, team, today, &f))
}

#[utoipa::path(get, path = "/oversight/teams/{team}/workers/{worker}", tag = "oversight", params(("team" = String, Path), ("worker" = String, Path), OnDay),
    responses((status = 400, description = "a query parameter is not valid", content_type = "text/plain"), (status = 200, description = "a worker's cases", content_type = "text/html"), (status = 401, description = "not signed in", content_type = "text/html"), (status = 403, description = "not this team's manager", content_type = "text/html")))]
pub async fn worker_page(
    State(state): State<AppState>,
    c: PageCaller,
    Path((team, worker)): Path<(String, String)>,
    Query(on): Query<OnDay>,
) -> Result<Response, PageError> {
    manager_of(&c, &team)?;
    let (cases, _) = team_data(state.hub.storage().as_ref(), &team).await?;
    Ok(team::worker_page(&c, &team, &worker, on.day(), &cases).into_response())
}

#[utoipa::path(get, path = "/oversight/teams/{team}/queue", tag = "oversight", params(("team" = String, Path), OnDay),
    responses((status = 400, description = "a query parameter is not valid", content_type = "text/plain"), (status = 200, description = "the authorisation queue", content_type = "text/html"), (status = 401, description = "not signed in", content_type = "text/html"), (status = 403, description = "not this team's manager", content_type = "text/html")))]
pub async fn queue_page(
    State(state): State<AppState>,
    c: PageCaller,
    Path(team): Path<String>,
    Query(on): Query<OnDay>,
) -> Result<Response, PageError> {
    manager_of(&c, &team)?;
    let (cases, submitted) = team_data(state.hub.storage().as_ref(), &team).await?;
    let items = figures::queue(&cases, &submitted, on.day());
    Ok(queue::queue_page(&c, &team, &items).into_response())
}

#[utoipa::path(get, path = "/oversight/cases/{case_id}", tag = "oversight", params(("case_id" = String, Path), OnDay),
    responses((status = 400, description = "a query parameter is not valid", content_type = "text/plain"), (status = 200, description = "a child's page", content_type = "text/html"), (status = 401, description = "not signed in", content_type = "text/html"), (status = 403, description = "not a case of the caller's team", content_type = "text/html")))]
pub async fn child_page(
    State(state): State<AppState>,
    c: PageCaller,
    Path(case_id): Path<String>,
    Query(on): Query<OnDay>,
) -> Result<Response, PageError> {
    let case = managed_case(&state, &c, &case_id).await?;
    let docs = parse_docs(
        &state
            .hub
            .storage()
            .projected_docs(&ProjectionScope::Case(case_id), None)
            .await
            .map_err(crate::hub::HubError::from)?,
    )?;
    Ok(child::child_page(&c, &case, &docs, on.day()).into_response())
}

/// The record's identity, if the caller manages the team of its case.
async fn managed_record(
    state: &AppState,
    c: &PageCaller,
    id: &str,
) -> Result<(DocInfo, CaseView), PageError> {
    // Anything but a manager is refused before the id is looked up (no existence oracle).
    if c.who.role != Role::Manager {
        return Err(PageError::Forbidden);
    }
    let info = state
        .hub
        .storage()
        .doc_info(id)
        .await
        .map_err(crate::hub::HubError::from)?
        .ok_or(PageError::Forbidden)?;
    if info.kind == RecordKind::CaseSummary {
        return Err(PageError::Forbidden);
    }
    let case = managed_case(state, c, &info.case_id).await?;
    Ok((info, case))
}

#[utoipa::path(get, path = "/oversight/records/{record_id}", tag = "oversight", params(("record_id" = String, Path)),
    responses((status = 200, description = "a record, read-only, with its history", content_type = "text/html"), (status = 401, description = "not signed in", content_type = "text/html"), (status = 403, description = "not a record of the caller's team", content_type = "text/html")))]
pub async fn record_page(
    State(state): State<AppState>,
    c: PageCaller,
    Path(record_id): Path<String>,
) -> Result<Response, PageError> {
    let (info, case) = managed_record(&state, &c, &record_id).await?;
    let stored = stored_changes(state.hub.storage().as_ref(), &info.id).await?;
    let id = info.id.clone();
    let (record, history) = state
        .hub
        .run_job(Job::Oversight, move || {
            let mut doc =
                fieldbook_core::document::RecordDoc::from_doc(doc_from_changes(&id, &stored)?)
                    .map_err(|e| crate::hub::HubError::Corrupt(format!("document {id}: {e}")))?;
            let record = doc
                .record()
                .map_err(|e| crate::hub::HubError::Corrupt(format!("document {id}: {e}")))?;
            Ok::<_, crate::hub::HubError>((record, doc.history()))
        })
        .await??;
    Ok(child::record_page(&c, &record, &history, &case.facts.summary.name).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DecisionForm {
    /// `authorise` or `return` (anything else is answered 422 with the choice to make).
    #[serde(default)]
    decision: String,
    #[serde(default)]
    rationale: String,
    csrf: Option<String>,
}

#[utoipa::path(post, path = "/oversight/records/{record_id}/decision", tag = "oversight", params(("record_id" = String, Path)),
    request_body(content = DecisionForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 415, description = "the body is not a form", content_type = "text/plain"), (status = 303, description = "recorded: back to the queue"), (status = 401, description = "not signed in", content_type = "text/html"), (status = 403, description = "not a record of the caller's team, or the CSRF token does not match", content_type = "text/html"), (status = 409, description = "not awaiting authorisation", content_type = "text/html"), (status = 422, description = "C5: a rationale is required, and a manager cannot authorise their own record (a page); or the form is malformed (text)", content((String = "text/html"), (String = "text/plain")))))]
pub async fn decide(
    State(state): State<AppState>,
    c: PageCaller,
    Path(record_id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, PageError> {
    c.check_csrf(form.csrf.as_deref())?;
    let (info, case) = managed_record(&state, &c, &record_id).await?;
    let decision = match form.decision.as_str() {
        "authorise" => OversightDecision::Authorise,
        "return" => OversightDecision::ReturnForWork,
        _ => return Err(PageError::Invalid("choose authorise or return".into())),
    };
    decision::decide(&state.hub, &c.who, info, decision, form.rationale).await?;
    let team = case.team.unwrap_or_default();
    Ok(Redirect::to(&format!("/oversight/teams/{team}/queue")).into_response())
}

async fn council(
    storage: &dyn Storage,
) -> Result<(Vec<CaseView>, Vec<super::projection::DocFacts>), PageError> {
    let cases = parse_cases(
        &storage
            .projected_cases(&ProjectionScope::All)
            .await
            .map_err(crate::hub::HubError::from)?,
    )?;
    let docs = parse_docs(
        &storage
            .projected_docs(&ProjectionScope::All, None)
            .await
            .map_err(crate::hub::HubError::from)?,
    )?;
    Ok((cases, docs))
}

/// The board's figures from storage, folded over the rows as they are read (`board_fold`).
async fn board_figures(
    storage: &dyn Storage,
    today: NaiveDate,
) -> Result<figures::BoardFigures, PageError> {
    Ok(super::board_fold::board_figures(storage, today)
        .await
        .map_err(crate::hub::HubError::from)?)
}

#[utoipa::path(get, path = "/oversight/board", tag = "oversight", params(OnDay),
    responses((status = 400, description = "a query parameter is not valid", content_type = "text/plain"), (status = 200, description = "the board view", content_type = "text/html"), (status = 401, description = "not signed in", content_type = "text/html"), (status = 403, description = "not the senior role", content_type = "text/html")))]
pub async fn board_page(
    State(state): State<AppState>,
    c: PageCaller,
    Query(on): Query<OnDay>,
) -> Result<Response, PageError> {
    senior(&c.who)?;
    Ok(render_board(state.hub.storage().as_ref(), &c, on.day()).await?.into_response())
}

/// The board view from storage (also what `server/benches/oversight.rs` times).
pub async fn render_board(
    storage: &dyn Storage,
    c: &PageCaller,
    today: NaiveDate,
) -> Result<maud::Markup, PageError> {
    let f = board_figures(storage, today).await?;
    board::board_page(c, today, &f)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `child_in_need`, `child_protection` or `looked_after`.
    #[param(inline)]
    pub list: AnnexList,
}

fn attachment(content_type: &'static str, name: &str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response()
}

#[utoipa::path(get, path = "/oversight/exports/annex-a.csv", tag = "oversight", params(ListQuery),
    responses((status = 400, description = "a query parameter is not valid", content_type = "text/plain"), (status = 200, description = "an Annex A style list", content_type = "text/csv"), (status = 401, description = "not signed in", content_type = "text/html"), (status = 403, description = "not the senior role", content_type = "text/html")))]
pub async fn annex_csv(
    State(state): State<AppState>,
    c: PageCaller,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    senior(&c.who)?;
    let (cases, _) = council(state.hub.storage().as_ref()).await?;
    let csv = export::annex_csv(&export::annex_rows(&cases, q.list));
    Ok(attachment("text/csv; charset=utf-8", "annex-a.csv", csv.into_bytes()))
}

#[utoipa::path(get, path = "/oversight/exports/annex-a.xlsx", tag = "oversight",
    responses((status = 200, description = "the three lists as a workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (status = 401, description = "not signed in", content_type = "text/html"), (status = 403, description = "not the senior role", content_type = "text/html")))]
pub async fn annex_xlsx(
    State(state): State<AppState>,
    c: PageCaller,
) -> Result<Response, PageError> {
    senior(&c.who)?;
    let (cases, _) = council(state.hub.storage().as_ref()).await?;
    let book = export::annex_xlsx(&cases)?;
    Ok(attachment(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "annex-a.xlsx",
        book,
    ))
}

#[utoipa::path(get, path = "/oversight/exports/timeliness.csv", tag = "oversight", params(OnDay),
    responses((status = 400, description = "a query parameter is not valid", content_type = "text/plain"), (status = 200, description = "the monthly timeliness figures", content_type = "text/csv"), (status = 401, description = "not signed in", content_type = "text/html"), (status = 403, description = "not the senior role", content_type = "text/html")))]
pub async fn timeliness_csv(
    State(state): State<AppState>,
    c: PageCaller,
    Query(on): Query<OnDay>,
) -> Result<Response, PageError> {
    senior(&c.who)?;
    let rows =
        export::timeliness_rows(&board_figures(state.hub.storage().as_ref(), on.day()).await?);
    Ok(attachment(
        "text/csv; charset=utf-8",
        "timeliness.csv",
        export::timeliness_csv(&rows).into_bytes(),
    ))
}

/// The JSON API's callers: the case system and the senior role. Errors are the API's
/// `ErrorBody` JSON, as everywhere under `/api`.
fn reads_lists(who: &Identity) -> Result<(), ApiError> {
    if matches!(who.role, Role::Integration | Role::Senior) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this role may not read the oversight lists",
        ))
    }
}

async fn council_api(
    state: &AppState,
) -> Result<(Vec<CaseView>, Vec<super::projection::DocFacts>), ApiError> {
    council(state.hub.storage().as_ref()).await.map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server could not complete the request",
        )
    })
}

/// An Annex A style list as JSON, for the case system.
#[utoipa::path(get, path = "/api/v1/oversight/annex-a", tag = "oversight", params(ListQuery),
    responses((status = 400, description = "a query parameter is not valid", content_type = "text/plain"), (status = 200, description = "the list's rows", body = Vec<AnnexRow>), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "not the case system or the senior role", body = ErrorBody)))]
pub async fn annex_json(
    State(state): State<AppState>,
    who: Identity,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<AnnexRow>>, ApiError> {
    reads_lists(&who)?;
    let (cases, _) = council_api(&state).await?;
    Ok(Json(export::annex_rows(&cases, q.list)))
}

/// The monthly timeliness figures as JSON, for the case system.
#[utoipa::path(get, path = "/api/v1/oversight/timeliness", tag = "oversight", params(OnDay),
    responses((status = 400, description = "a query parameter is not valid", content_type = "text/plain"), (status = 200, description = "each figure by month", body = Vec<TimelinessRow>), (status = 401, description = "no valid token", body = ErrorBody), (status = 403, description = "not the case system or the senior role", body = ErrorBody)))]
pub async fn timeliness_json(
    State(state): State<AppState>,
    who: Identity,
    Query(on): Query<OnDay>,
) -> Result<Json<Vec<TimelinessRow>>, ApiError> {
    reads_lists(&who)?;
    let figures = board_figures(state.hub.storage().as_ref(), on.day()).await.map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server could not complete the request",
        )
    })?;
    Ok(Json(export::timeliness_rows(&figures)))
}
