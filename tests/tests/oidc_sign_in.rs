//! Sign-in to the oversight pages through a real OpenID provider (issue #15): the npm package
//! `oidc-provider` on loopback (`tests/oidc/provider.mjs`), started by each test. The
//! authorisation-code flow with PKCE is driven as a browser would, with reqwest: the provider's
//! login and consent forms, its redirect back, the session cookie, the team page; a callback
//! with another state is refused; sign-out ends the session, here and at the provider (a new
//! sign-in asks for credentials again); a worker's session opens no team
//! page. The device API verifies JWTs by the same provider's JWKS: fetched, cached, refetched
//! after a rotation, never more than once per interval for unknown kids.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use fieldbook_server::auth::{AuthConfig, Authenticator};
use fieldbook_server::oversight::oidc::{Oidc, OidcConfig};
use fieldbook_server::serve::{app_state, open_storage, serve_with, Backend, ConnectionLimits};
use fieldbook_tests::oidc_env::{
    asks_for_credentials, confirm_provider_sign_out, manual_client, through_provider, Jar,
    Provider, CLIENT_ID, CLIENT_SECRET,
};
use fieldbook_tests::sync_env::{
    auth_config_json, summary_for, token_of, FixedToken, SyncEnv, TestTransport,
};
use fieldbook_tests::Scratch;
use reqwest::Method;
use serde_json::json;

struct World {
    env: SyncEnv,
    auth: Arc<Authenticator>,
    provider: Provider,
    callback: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A provider, then a server that signs in through it and verifies device tokens by its JWKS
/// (`refetch` seconds at least between fetches for unknown kids), with two teams' cases.
async fn world(refetch: u64) -> World {
    let mut provider = Provider::start();
    let scratch = Scratch::new();
    let storage = open_storage(&Backend::sqlite(scratch.path("server.db"))).await.unwrap();
    let mut config = auth_config_json(&scratch);
    config["issuer"] = json!(provider.issuer);
    config["jwks"] = json!({"url": provider.jwks_url(), "refetch_interval_seconds": refetch});
    let config: AuthConfig = serde_json::from_value(config).unwrap();
    let auth = Arc::new(Authenticator::from_config(&config).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let callback = format!("{url}/oversight/callback");
    provider.set_redirect(&callback);
    let mut state = app_state(storage, &config).unwrap();
    state.auth = auth.clone();
    state.oidc = Some(Arc::new(
        Oidc::new(OidcConfig {
            issuer: provider.issuer.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: Some(CLIENT_SECRET.into()),
            redirect_url: callback.clone(),
        })
        .unwrap(),
    ));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_with(listener, state, ConnectionLimits::default(), async move {
        let _ = stopped.await;
    }));
    let env = SyncEnv::attach(scratch, url);
    for (case, local, worker, team) in
        [("case-a", "LA1", "amara", "north"), ("case-c", "LC1", "carol", "south")]
    {
        let s = summary_for(local, worker, team);
        assert_eq!(env.put_case(&token_of("case-system"), case, &s, worker, team).await, 204);
    }
    World { env, auth, provider, callback, _stop: stop }
}

fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with(&format!("{name}=")))
}

fn value_of(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_string()
}

/// `GET /oversight/sign-in`: the provider's authorisation URL and the sign-in cookie.
async fn start_sign_in(w: &World) -> (String, String) {
    let r = manual_client().get(format!("{}/oversight/sign-in", w.env.url)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let cookie = set_cookie(&r, "fb_oidc").expect("the sign-in cookie");
    // Lax, not Strict: the provider's redirect back is a cross-site navigation.
    assert!(cookie.contains("HttpOnly; Secure; SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/oversight"), "{cookie}");
    let location = r.headers()["location"].to_str().unwrap().to_string();
    (location, format!("fb_oidc={}", value_of(&cookie)))
}

async fn get(url: &str, cookie: &str) -> reqwest::Response {
    manual_client().get(url).header("cookie", cookie).send().await.unwrap()
}

/// The whole flow for `login`: the session cookie (`fb_session=...`).
async fn sign_in_as(w: &World, login: &str) -> String {
    let (authorize, sign_in_cookie) = start_sign_in(w).await;
    let back =
        through_provider(&manual_client(), &mut Jar::default(), &authorize, &w.callback, login)
            .await;
    let r = get(&back, &sign_in_cookie).await;
    assert_eq!(r.status(), 200);
    let session = set_cookie(&r, "fb_session").expect("a session cookie");
    format!("fb_session={}", value_of(&session))
}

fn csrf_of(html: &str) -> String {
    let key = "name=\"csrf\" value=\"";
    let from = html.find(key).unwrap() + key.len();
    html[from..].split('"').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_signs_in_through_the_provider_lands_on_the_team_page_and_signs_out() {
    let w = world(60).await;
    let (authorize, sign_in_cookie) = start_sign_in(&w).await;
    // Authorisation code with PKCE (S256), a state and a nonce, for the `fieldbook` claims.
    let url = reqwest::Url::parse(&authorize).unwrap();
    assert!(authorize.starts_with(&format!("{}/auth?", w.provider.issuer)), "{authorize}");
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["redirect_uri"], w.callback);
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(query["code_challenge"].len() >= 43);
    assert!(query["state"].len() >= 16 && query["nonce"].len() >= 16);
    assert!(query["scope"].split(' ').any(|s| s == "fieldbook"), "{}", query["scope"]);

    let back =
        through_provider(&manual_client(), &mut Jar::default(), &authorize, &w.callback, "mina")
            .await;
    let r = get(&back, &sign_in_cookie).await;
    assert_eq!(r.status(), 200);
    let session = set_cookie(&r, "fb_session").expect("a session cookie");
    assert!(session.contains("HttpOnly; Secure; SameSite=Strict"), "{session}");
    // The sign-in cookie is used up with the sign-in.
    assert!(set_cookie(&r, "fb_oidc").unwrap().contains("Max-Age=0"));
    let page = r.text().await.unwrap();
    assert!(page.contains("url=/oversight"), "{page}");
    let cookie = format!("fb_session={}", value_of(&session));

    let r = get(&format!("{}/oversight", w.env.url), &cookie).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/oversight/teams/north");
    let r = get(&format!("{}/oversight/teams/north", w.env.url), &cookie).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Sign out mina"), "{html}");
    // Another team's page: 403 and nothing of it.
    let r = get(&format!("{}/oversight/teams/south", w.env.url), &cookie).await;
    assert_eq!(r.status(), 403);
    let body = r.text().await.unwrap();
    assert!(!body.contains("LC1") && !body.contains("carol"), "{body}");

    // The provider's redirect cannot be replayed: the sign-in it belonged to is used up.
    let r = get(&back, &sign_in_cookie).await;
    assert_eq!(r.status(), 403);
    assert!(set_cookie(&r, "fb_session").is_none());

    // Sign-out needs the session's CSRF token, then ends the session.
    let form = |csrf: &str| vec![("csrf".to_string(), csrf.to_string())];
    let sign_out = |csrf: String| {
        let cookie = cookie.clone();
        let url = format!("{}/oversight/sign-out", w.env.url);
        async move {
            manual_client()
                .post(url)
                .header("cookie", cookie)
                .form(&form(&csrf))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(sign_out("forged".into()).await.status(), 403);
    let r = sign_out(csrf_of(&html)).await;
    assert_eq!(r.status(), 303);
    assert!(set_cookie(&r, "fb_session").unwrap().contains("Max-Age=0"));
    let r = get(&format!("{}/oversight/teams/north", w.env.url), &cookie).await;
    assert_eq!(r.status(), 401);
}

/// Sign-out ends the provider's session too: before it, a new sign-in in the same browser goes
/// straight back (the provider's session is alive); the sign-out clears the local cookie and
/// sends the browser to the provider's end-session endpoint with the session's ID token as
/// `id_token_hint` and the sign-in page as `post_logout_redirect_uri`; after it, the provider
/// asks for credentials again and the old session cookie opens nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_ends_the_session_at_the_provider_too() {
    let w = world(60).await;
    let mut browser = Jar::default();
    let (authorize, sign_in_cookie) = start_sign_in(&w).await;
    let back =
        through_provider(&manual_client(), &mut browser, &authorize, &w.callback, "mina").await;
    let r = get(&back, &sign_in_cookie).await;
    assert_eq!(r.status(), 200);
    let session = set_cookie(&r, "fb_session").expect("a session cookie");
    let cookie = format!("fb_session={}", value_of(&session));
    let (again, _) = start_sign_in(&w).await;
    assert!(
        !asks_for_credentials(&manual_client(), &mut browser.clone(), &again, &w.callback).await,
        "the provider's session is alive before sign-out"
    );

    let html =
        get(&format!("{}/oversight/teams/north", w.env.url), &cookie).await.text().await.unwrap();
    let r = manual_client()
        .post(format!("{}/oversight/sign-out", w.env.url))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf_of(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cleared = set_cookie(&r, "fb_session").expect("the session cookie cleared");
    assert!(cleared.starts_with("fb_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    let end_session = r.headers()["location"].to_str().unwrap().to_string();
    let url = reqwest::Url::parse(&end_session).unwrap();
    assert!(
        end_session.starts_with(&format!("{}/session/end?", w.provider.issuer)),
        "{end_session}"
    );
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    let post_logout = format!("{}/oversight/sign-in", w.env.url);
    assert_eq!(query["post_logout_redirect_uri"], post_logout);
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["id_token_hint"].split('.').count(), 3, "a JWT");
    // The local session is over whatever the provider does next.
    assert_eq!(get(&format!("{}/oversight/teams/north", w.env.url), &cookie).await.status(), 401);

    let landed = confirm_provider_sign_out(&manual_client(), &mut browser, &end_session).await;
    assert_eq!(landed, post_logout);
    let (after, _) = start_sign_in(&w).await;
    assert!(
        asks_for_credentials(&manual_client(), &mut browser, &after, &w.callback).await,
        "after sign-out the provider asks for credentials again"
    );
}

/// A provider that cannot be reached at sign-out (its discovery fails): the answer is 502, and
/// the local session is over all the same: its cookie is cleared and opens nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_with_the_provider_unreachable_still_clears_the_session() {
    let scratch = Scratch::new();
    let storage = open_storage(&Backend::sqlite(scratch.path("server.db"))).await.unwrap();
    let config: AuthConfig = serde_json::from_value(auth_config_json(&scratch)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut state = app_state(storage, &config).unwrap();
    // Nothing listens on the discard port: discovery fails at once.
    state.oidc = Some(Arc::new(
        Oidc::new(OidcConfig {
            issuer: "http://127.0.0.1:9".into(),
            client_id: CLIENT_ID.into(),
            client_secret: Some(CLIENT_SECRET.into()),
            redirect_url: format!("{url}/oversight/callback"),
        })
        .unwrap(),
    ));
    let identity = fieldbook_server::auth::Identity {
        subject: "mina".into(),
        role: fieldbook_server::auth::Role::Manager,
        team: Some("north".into()),
    };
    let (session, csrf) = state.sessions.create_for(identity, "h.p.s".into()).unwrap();
    let sessions = state.sessions.clone();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_with(listener, state, ConnectionLimits::default(), async move {
        let _ = stopped.await;
    }));
    let cookie = format!("fb_session={session}");
    assert_eq!(get(&format!("{url}/oversight/teams/north"), &cookie).await.status(), 200);
    let r = manual_client()
        .post(format!("{url}/oversight/sign-out"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let cleared = set_cookie(&r, "fb_session").expect("the session cookie cleared");
    assert!(cleared.starts_with("fb_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    assert!(sessions.remove(&session).is_none(), "the session ended here");
    assert_eq!(get(&format!("{url}/oversight/teams/north"), &cookie).await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_with_another_state_or_without_its_cookie_is_refused() {
    let w = world(60).await;
    let (authorize, sign_in_cookie) = start_sign_in(&w).await;
    let back =
        through_provider(&manual_client(), &mut Jar::default(), &authorize, &w.callback, "mina")
            .await;
    let mut forged = reqwest::Url::parse(&back).unwrap();
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .into_owned()
        .map(|(k, v)| if k == "state" { (k, "forged-state".into()) } else { (k, v) })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    // Without the browser's sign-in cookie (another browser, a login CSRF): refused.
    let r = manual_client().get(back.clone()).send().await.unwrap();
    assert_eq!(r.status(), 403);
    // With another state: refused, no session.
    let r = get(forged.as_str(), &sign_in_cookie).await;
    assert_eq!(r.status(), 403);
    assert!(set_cookie(&r, "fb_session").is_none());
    // And the genuine answer after a forged one: the sign-in was used up by the attempt.
    let r = get(&back, &sign_in_cookie).await;
    assert_eq!(r.status(), 403);
    assert!(set_cookie(&r, "fb_session").is_none());
    // A fresh sign-in still works.
    let cookie = sign_in_as(&w, "mina").await;
    assert_eq!(get(&format!("{}/oversight/teams/north", w.env.url), &cookie).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workers_session_opens_no_team_page_and_a_disabled_account_is_signed_out() {
    let w = world(60).await;
    let cookie = sign_in_as(&w, "carol").await;
    for path in ["/oversight/teams/north", "/oversight/teams/south", "/oversight/teams/north/queue"]
    {
        let r = get(&format!("{}{path}", w.env.url), &cookie).await;
        assert_eq!(r.status(), 403, "{path}");
        let body = r.text().await.unwrap();
        assert!(!body.contains("LA1") && !body.contains("LC1"), "{path}: {body}");
    }
    assert_eq!(get(&format!("{}/oversight", w.env.url), &cookie).await.status(), 403);
    // The council disables the account: the session ends at the next request.
    w.auth.set_disabled("carol", true);
    assert_eq!(get(&format!("{}/oversight", w.env.url), &cookie).await.status(), 401);
}

async fn call(w: &World, token: &str) -> u16 {
    w.env.call(Method::GET, "/api/v1/oversight/timeliness", Some(token), None).await.0
}

fn senior(extra: serde_json::Value) -> serde_json::Value {
    let mut claims = json!({"sub": "sam", "role": "senior", "aud": "fieldbook"});
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    claims
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_tokens_are_verified_by_the_providers_jwks_through_a_rotation() {
    let mut w = world(0).await;
    let token = w.provider.mint(senior(json!({})));
    assert_eq!(call(&w, &token).await, 200);
    assert_eq!(w.auth.jwks_fetches(), 1);
    // Cached: the same key again fetches nothing.
    assert_eq!(call(&w, &token).await, 200);
    assert_eq!(w.auth.jwks_fetches(), 1);

    // A device syncs with a worker's token from the provider.
    let worker = w
        .provider
        .mint(json!({"sub": "amara", "role": "worker", "team": "north", "aud": "fieldbook"}));
    let store = w.env.scratch.store("amara-tablet", "amara", "tablet-1");
    let transport = TestTransport::new(&w.env.url);
    let client = fieldbook_core::sync::SyncClient::new(
        transport.clone(),
        Arc::new(FixedToken(worker)),
        "tablet-1",
    );
    let mut device = fieldbook_tests::sync_env::Device { store, client, transport };
    let report = device.sync().await;
    assert!(report.failure.is_none(), "{report:?}");
    assert_eq!(report.allocated_cases, vec!["case-a".to_string()]);

    // The provider rotates: a token by the new key names a kid the cache lacks, so the JWKS is
    // fetched again and the token accepted; the old key is still published and still accepted.
    let new_kid = w.provider.rotate();
    let rotated = w.provider.mint(senior(json!({})));
    assert!(rotated.split('.').next().is_some());
    assert_eq!(call(&w, &rotated).await, 200);
    assert_eq!(w.auth.jwks_fetches(), 2);
    assert!(!new_kid.is_empty());
    assert_eq!(call(&w, &token).await, 200);

    // A kid the provider does not publish, another issuer, another audience: refused.
    let unknown = w.provider.mint(senior(json!({"_kid": "no-such-key"})));
    assert_eq!(call(&w, &unknown).await, 401);
    let other_issuer = w.provider.mint(senior(json!({"iss": "http://127.0.0.1:1/elsewhere"})));
    assert_eq!(call(&w, &other_issuer).await, 401);
    let other_audience = w.provider.mint(senior(json!({"aud": "another-service"})));
    assert_eq!(call(&w, &other_audience).await, 401);
    // The configured keys and static tokens keep working beside the JWKS.
    assert_eq!(call(&w, &token_of("sam")).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_fetches_the_jwks_at_most_once_per_interval() {
    let mut w = world(3600).await;
    let token = w.provider.mint(senior(json!({})));
    assert_eq!(call(&w, &token).await, 200);
    assert_eq!(w.auth.jwks_fetches(), 1);
    for i in 0..25 {
        let bad = w.provider.mint(senior(json!({"_kid": format!("made-up-{i}")})));
        assert_eq!(call(&w, &bad).await, 401);
    }
    // Within the interval even a genuine rotation waits: the interval bounds every fetch.
    w.provider.rotate();
    let rotated = w.provider.mint(senior(json!({})));
    assert_eq!(call(&w, &rotated).await, 401);
    assert_eq!(w.auth.jwks_fetches(), 1);
    assert_eq!(call(&w, &token).await, 200);
}
