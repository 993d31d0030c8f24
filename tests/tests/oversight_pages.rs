//! The oversight pages over real HTTP (issue #15): the team page's overdue items are the union
//! of the team's devices' worklists; a projection rebuilt from the documents equals the one kept
//! as changes arrived; a manager authorises or returns a record from the queue and the decision
//! reaches the worker's tablet merged with what they typed offline; a manager sees only their
//! team (403, no data); sessions and CSRF.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::NaiveDate;
use fieldbook_core::codes::AbuseCategory;
use fieldbook_core::records::{
    CaseSummary, ChildInNeedEpisode, ChildProtectionPlan, OversightDecision, RecordBody,
    RecordStatus, Visit, VisitKind,
};
use fieldbook_server::hub::Hub;
use fieldbook_server::serve::{open_storage, Backend};
use fieldbook_server::storage::{ProjectionScope, Storage};
use fieldbook_tests::sync_env::{summary_for, token_of, SyncEnv};
use fieldbook_tests::{realistic_visit, visit_body, Scratch};
use reqwest::Method;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

/// A child on a child protection plan since 1 March 2026 (after an assessment authorised in
/// February), so visits (T6), core groups (T4) and the review conference (T5) fall due.
fn on_plan(local_id: &str, worker: &str, team: &str) -> CaseSummary {
    let mut s = summary_for(local_id, worker, team);
    let mut cin = ChildInNeedEpisode::new(d(2026, 1, 12));
    cin.referral_decision_date = Some(d(2026, 1, 13));
    cin.assessment_authorised_date = Some(d(2026, 2, 20));
    s.child_in_need = Some(cin);
    s.child_protection = Some(ChildProtectionPlan {
        start_date: d(2026, 3, 1),
        category: Some(AbuseCategory::Neglect),
        initial_conference_date: d(2026, 3, 1),
        core_group_dates: vec![],
        review_conference_dates: vec![],
        end_date: None,
    });
    s
}

/// A child in need with the assessment still open (T2 running from the referral).
fn assessing(local_id: &str, worker: &str, team: &str) -> CaseSummary {
    let mut s = summary_for(local_id, worker, team);
    let mut cin = ChildInNeedEpisode::new(d(2026, 4, 1));
    cin.referral_decision_date = Some(d(2026, 4, 1));
    s.child_in_need = Some(cin);
    s
}

struct World {
    env: SyncEnv,
    storage: Arc<dyn Storage>,
}

async fn world() -> World {
    let scratch = Scratch::new();
    let storage = open_storage(&Backend::sqlite(scratch.path("server.db"))).await.unwrap();
    world_on(scratch, storage).await
}

async fn world_on(scratch: Scratch, storage: Arc<dyn Storage>) -> World {
    let env = SyncEnv::start_with(scratch, storage.clone()).await;
    for (case, summary) in [
        ("case-a", on_plan("LA1", "amara", "north")),
        ("case-b", assessing("LB1", "ben", "north")),
        ("case-c", on_plan("LC1", "carol", "south")),
    ] {
        let s = &summary;
        let status =
            env.put_case(&token_of("case-system"), case, s, &s.allocated_worker, &s.team).await;
        assert_eq!(status, 204, "{case}");
    }
    World { env, storage }
}

async fn get(env: &SyncEnv, path: &str, token: Option<&str>) -> (u16, String) {
    let (status, body) = env.call(Method::GET, path, token, None).await;
    (status, String::from_utf8(body).unwrap())
}

async fn post_form(
    env: &SyncEnv,
    path: &str,
    token: Option<&str>,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut req = client.post(format!("{}{path}", env.url)).form(form);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

/// The (case, timescale, due) of each overdue row of the team page.
fn overdue_rows(html: &str) -> BTreeSet<(String, String, NaiveDate)> {
    let mut out = BTreeSet::new();
    for part in html.split("<tr data-case=\"").skip(1) {
        let attr = |name: &str| {
            let from = part.find(&format!("{name}=\"")).map(|i| i + name.len() + 2).unwrap();
            part[from..].split('"').next().unwrap().to_string()
        };
        let case = part.split('"').next().unwrap().to_string();
        out.insert((case, attr("data-timescale"), attr("data-due").parse().unwrap()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_overdue_items_are_the_union_of_the_devices_worklists_and_a_rebuild_changes_nothing() {
    overdue_union_and_rebuild(world().await).await;
}

/// The same on PostgreSQL (`FIELDBOOK_TEST_POSTGRES_URL`, as the conformance suite).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_on_postgres() {
    let schema = format!("oversight_pages_{}", std::process::id());
    let url = fieldbook_tests::sync_env::postgres_url();
    let storage = fieldbook_server::storage::postgres::PostgresStorage::connect_with_schema(
        &url,
        Some(&schema),
    )
    .await
    .unwrap();
    overdue_union_and_rebuild(world_on(Scratch::new(), Arc::new(storage)).await).await;
}

async fn overdue_union_and_rebuild(w: World) {
    let env = &w.env;
    let mut amara = env.device("amara", "tablet");
    let mut ben = env.device("ben", "tablet");
    let mut carol = env.device("carol", "tablet");
    for dev in [&mut amara, &mut ben, &mut carol] {
        assert!(dev.sync().await.failure.is_none());
    }
    // Amara's last visit to case-a was on 26 March (child seen); a visit to case-b; Carol's.
    let amaras = amara.store.create_record("case-a", &visit_body(realistic_visit(1))).unwrap();
    let mut not_seen = realistic_visit(2);
    not_seen.kind = VisitKind::ChildInNeed;
    not_seen.child_seen = Some(false);
    ben.store.create_record("case-b", &visit_body(not_seen)).unwrap();
    carol.store.create_record("case-c", &visit_body(realistic_visit(3))).unwrap();
    for dev in [&mut amara, &mut ben, &mut carol] {
        assert!(dev.sync().await.failure.is_none());
    }

    for day in [d(2026, 3, 20), d(2026, 4, 10), d(2026, 5, 1), d(2026, 7, 1)] {
        let mut expected = BTreeSet::new();
        for dev in [&amara, &ben] {
            for item in dev.store.worklist(day).unwrap() {
                if item.status.is_overdue() {
                    expected.insert((item.case_id, format!("{:?}", item.timescale), item.due));
                }
            }
        }
        let (status, html) =
            get(env, &format!("/oversight/teams/north?on={day}"), Some(&token_of("mina"))).await;
        assert_eq!(status, 200);
        assert_eq!(overdue_rows(&html), expected, "overdue on {day}");
        if day == d(2026, 7, 1) {
            assert!(expected.len() >= 3, "the fixture has overdue items: {expected:?}");
            assert!(!html.contains("case-c"), "another team's case is not on the page");
        }
    }

    // Two more pushes of Amara's visit to the hot copy: answering a question (its facts derived
    // again), then typing into the observations (facts kept but for the heads, the case not
    // derived again: the last push, so nothing rewrites its rows before the rebuild compares).
    let edits: [fn(&mut Visit); 2] = [
        |v| v.seen_alone = Some(!v.seen_alone.unwrap_or(false)),
        |v| v.observations.push_str(" Later: the child showed me her room."),
    ];
    for edit in edits {
        let mut record = amara.store.record(&amaras).unwrap();
        if let RecordBody::Visit(v) = &mut record.body {
            edit(v);
        }
        assert_eq!(amara.store.update_record(&amaras, &record.body).unwrap().len(), 1);
        let report = amara.sync().await;
        assert!(report.failure.is_none() && report.acknowledged == 1, "{report:?}");
    }

    // Rebuilt from the documents, the projections are the rows kept as the changes arrived.
    let docs = w.storage.projected_docs(&ProjectionScope::All, None).await.unwrap();
    let cases = w.storage.projected_cases(&ProjectionScope::All).await.unwrap();
    assert_eq!((docs.len(), cases.len()), (6, 3));
    let (n_docs, n_cases) =
        fieldbook_server::oversight::projection::rebuild(&Hub::new(w.storage.clone()))
            .await
            .unwrap();
    assert_eq!((n_docs, n_cases), (6, 3));
    assert_eq!(w.storage.projected_docs(&ProjectionScope::All, None).await.unwrap(), docs);
    assert_eq!(w.storage.projected_cases(&ProjectionScope::All).await.unwrap(), cases);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_authorises_from_the_queue_and_it_merges_with_the_workers_offline_edit() {
    let w = world().await;
    let env = &w.env;
    let mut amara = env.device("amara", "tablet");
    assert!(amara.sync().await.failure.is_none());
    let id = amara.store.create_record("case-a", &visit_body(realistic_visit(7))).unwrap();
    amara.store.submit(&id).unwrap();
    assert!(amara.sync().await.failure.is_none());
    // Offline, Amara adds to the analysis before the manager decides.
    let mut edited = realistic_visit(7);
    edited.analysis.push_str(" Added offline after submitting.");
    let RecordBody::Visit(mut current) = amara.store.record(&id).unwrap().body else { panic!() };
    current.analysis = edited.analysis.clone();
    amara.store.update_record(&id, &visit_body(current)).unwrap();

    let mina = token_of("mina");
    let (status, html) = get(env, "/oversight/teams/north/queue", Some(&mina)).await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("data-record=\"{id}\"")), "the record is in the queue");

    // C5: the rationale is required.
    let path = format!("/oversight/records/{id}/decision");
    let r =
        post_form(env, &path, Some(&mina), None, &[("decision", "authorise"), ("rationale", " ")])
            .await;
    assert_eq!(r.status(), 422);
    let r = post_form(
        env,
        &path,
        Some(&mina),
        None,
        &[("decision", "authorise"), ("rationale", "Plan is safe; visits on time.")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, html) = get(env, "/oversight/teams/north/queue", Some(&mina)).await;
    assert!(!html.contains(&format!("data-record=\"{id}\"")), "authorised: out of the queue");
    // A second decision on a record no longer submitted is refused.
    let r =
        post_form(env, &path, Some(&mina), None, &[("decision", "return"), ("rationale", "again")])
            .await;
    assert_eq!(r.status(), 409);

    // The tablet's next sync brings the decision, merged with the offline edit.
    assert!(amara.sync().await.failure.is_none());
    let record = amara.store.record(&id).unwrap();
    assert_eq!(record.meta.status, RecordStatus::Authorised);
    let oversight = record.meta.oversight.unwrap();
    assert_eq!(
        (oversight.manager.as_str(), oversight.decision),
        ("mina", OversightDecision::Authorise)
    );
    assert_eq!(oversight.rationale, "Plan is safe; visits on time.");
    let RecordBody::Visit(v) = record.body else { panic!() };
    assert_eq!(v.analysis, edited.analysis, "the worker's offline edit is kept");
    let history = amara.store.history(&id).unwrap();
    assert!(history.iter().any(|h| h.worker == "mina" && h.device == "oversight-web"));

    // Return for more work: back to draft on the tablet.
    let id2 = amara.store.create_record("case-a", &visit_body(realistic_visit(8))).unwrap();
    amara.store.submit(&id2).unwrap();
    assert!(amara.sync().await.failure.is_none());
    let path2 = format!("/oversight/records/{id2}/decision");
    let r = post_form(
        env,
        &path2,
        Some(&mina),
        None,
        &[("decision", "return"), ("rationale", "Add the school's view.")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert!(amara.sync().await.failure.is_none());
    assert_eq!(amara.store.record(&id2).unwrap().meta.status, RecordStatus::Draft);

    // C5: a manager cannot authorise a record of their own.
    let mut mina_tablet = env.device("mina", "tablet");
    assert!(mina_tablet.sync().await.failure.is_none());
    let own = mina_tablet.store.create_record("case-b", &visit_body(realistic_visit(9))).unwrap();
    mina_tablet.store.submit(&own).unwrap();
    assert!(mina_tablet.sync().await.failure.is_none());
    let r = post_form(
        env,
        &format!("/oversight/records/{own}/decision"),
        Some(&mina),
        None,
        &[("decision", "authorise"), ("rationale", "Fine.")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let body = r.text().await.unwrap();
    assert!(body.contains("C5"), "the refusal names the rule");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_sees_only_their_team_and_a_worker_no_team_page() {
    let w = world().await;
    let env = &w.env;
    let mut carol = env.device("carol", "tablet");
    assert!(carol.sync().await.failure.is_none());
    let south = carol.store.create_record("case-c", &visit_body(realistic_visit(4))).unwrap();
    carol.store.submit(&south).unwrap();
    assert!(carol.sync().await.failure.is_none());
    let (mina, amara, sam) = (token_of("mina"), token_of("amara"), token_of("sam"));

    for path in [
        "/oversight/teams/south".to_string(),
        "/oversight/teams/south/queue".into(),
        "/oversight/teams/south/workers/carol".into(),
        "/oversight/cases/case-c".into(),
        "/oversight/cases/no-such-case".into(),
        format!("/oversight/records/{south}"),
        "/oversight/records/no-such-record".into(),
    ] {
        let (status, html) = get(env, &path, Some(&mina)).await;
        assert_eq!(status, 403, "{path} as another team's manager");
        for secret in ["LC1", "Child LC1", "carol", south.as_str()] {
            assert!(!html.contains(secret), "{path}: {secret} shown");
        }
    }
    let r = post_form(
        env,
        &format!("/oversight/records/{south}/decision"),
        Some(&mina),
        None,
        &[("decision", "authorise"), ("rationale", "x")],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert!(carol.sync().await.failure.is_none());
    assert_eq!(carol.store.record(&south).unwrap().meta.status, RecordStatus::Submitted);

    for (path, token) in [
        ("/oversight/teams/north", &amara),
        ("/oversight/teams/north/queue", &amara),
        ("/oversight/cases/case-a", &amara),
        ("/oversight/board", &amara),
        ("/oversight/board", &mina),
        ("/oversight/teams/north", &sam),
        ("/oversight/cases/case-a", &sam),
    ] {
        assert_eq!(get(env, path, Some(token)).await.0, 403, "{path}");
    }
    assert_eq!(get(env, "/oversight/teams/north", None).await.0, 401);
    assert_eq!(get(env, "/oversight/teams/north", Some(&mina)).await.0, 200);
    assert_eq!(get(env, "/oversight/cases/case-a", Some(&mina)).await.0, 200);
    let (status, board) = get(env, "/oversight/board", Some(&sam)).await;
    assert_eq!(status, 200);
    assert!(board.contains("<svg"), "charts are inline SVG");
    for name in ["Child LA1", "Child LB1", "Child LC1"] {
        assert!(!board.contains(name), "the board shows no child's name");
    }
}

fn set_cookie_value(r: &reqwest::Response, name: &str) -> (String, String) {
    let header = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap();
    let value = header.split(';').next().unwrap().split_once('=').unwrap().1.to_string();
    (value, header)
}

fn csrf_of(html: &str) -> String {
    let from = html.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    html[from..].split('"').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_sets_a_strict_cookie_and_every_form_checks_its_csrf_token() {
    let w = world().await;
    let env = &w.env;
    let mut amara = env.device("amara", "tablet");
    assert!(amara.sync().await.failure.is_none());
    let id = amara.store.create_record("case-a", &visit_body(realistic_visit(5))).unwrap();
    amara.store.submit(&id).unwrap();
    assert!(amara.sync().await.failure.is_none());

    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = client.get(format!("{}/oversight/sign-in", env.url)).send().await.unwrap();
    let (pre, pre_header) = set_cookie_value(&form, "fb_sign_in");
    assert!(
        pre_header.contains("HttpOnly")
            && pre_header.contains("Secure")
            && pre_header.contains("SameSite=Strict")
    );
    let html = form.text().await.unwrap();
    assert!(html.contains("<label for=\"token\">"), "the field has a label");
    let csrf = csrf_of(&html);
    let mina = token_of("mina");
    // A forged sign-in (no matching double-submit token) is refused.
    let r = post_form(
        env,
        "/oversight/sign-in",
        None,
        Some(&format!("fb_sign_in={pre}")),
        &[("token", &mina), ("csrf", "forged")],
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = post_form(
        env,
        "/oversight/sign-in",
        None,
        Some(&format!("fb_sign_in={pre}")),
        &[("token", "not-a-token"), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status(), 401);
    let r = post_form(
        env,
        "/oversight/sign-in",
        None,
        Some(&format!("fb_sign_in={pre}")),
        &[("token", &mina), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (session, header) = set_cookie_value(&r, "fb_session");
    assert!(
        header.contains("HttpOnly")
            && header.contains("Secure")
            && header.contains("SameSite=Strict"),
        "{header}"
    );
    assert!(!header.contains(&mina), "the cookie is not the token");
    let cookie = format!("fb_session={session}");

    let queue = client
        .get(format!("{}/oversight/teams/north/queue", env.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(queue.status(), 200);
    let html = queue.text().await.unwrap();
    let session_csrf = csrf_of(&html);
    let path = format!("/oversight/records/{id}/decision");
    // Without the form's token, or with another, a cookie-authenticated post is refused.
    let r = post_form(
        env,
        &path,
        None,
        Some(&cookie),
        &[("decision", "authorise"), ("rationale", "ok")],
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = post_form(
        env,
        &path,
        None,
        Some(&cookie),
        &[("decision", "authorise"), ("rationale", "ok"), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert!(amara.sync().await.failure.is_none());
    assert_eq!(amara.store.record(&id).unwrap().meta.status, RecordStatus::Submitted);
    let r = post_form(
        env,
        &path,
        None,
        Some(&cookie),
        &[("decision", "authorise"), ("rationale", "Seen and safe."), ("csrf", &session_csrf)],
    )
    .await;
    assert_eq!(r.status(), 303);

    // Sign-out ends the session.
    let r = post_form(env, "/oversight/sign-out", None, Some(&cookie), &[("csrf", &session_csrf)])
        .await;
    assert_eq!(r.status(), 303);
    let after = client
        .get(format!("{}/oversight/teams/north", env.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);
}
