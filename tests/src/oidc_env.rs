//! The local OpenID provider (`tests/oidc/provider.mjs`, the npm package `oidc-provider`) as a
//! child process, and a browser's part of the authorisation-code flow done with reqwest: follow
//! the redirects, keep each side's cookies, fill in the provider's login and consent forms.
//!
//! Node is required, not optional: `scripts/setup.sh` installs it and `scripts/test-all.sh` runs
//! `npm ci` in `tests/oidc`. Without either, the tests fail saying so rather than skip.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// The provider's client for Fieldbook (`provider.mjs`).
pub const CLIENT_ID: &str = "fieldbook-oversight";
pub const CLIENT_SECRET: &str = "test-client-secret-not-for-production-0123456789";

fn oidc_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc")
}

/// The provider process; stopped (stdin closed, then killed) when dropped.
#[derive(Debug)]
pub struct Provider {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    pub issuer: String,
}

impl Provider {
    pub fn start() -> Self {
        let dir = oidc_dir();
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "the OpenID provider's packages are not installed: run `npm ci` in {} \
             (scripts/test-all.sh does; scripts/setup.sh installs node and npm)",
            dir.display()
        );
        let mut child = Command::new("node")
            .arg(dir.join("provider.mjs"))
            .args(["--port", "0"])
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `node` ({e}): the OpenID sign-in tests need Node.js; \
                     scripts/setup.sh installs it"
                )
            });
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut provider = Self { child, stdin, stdout, issuer: String::new() };
        provider.issuer = provider.answer("ready ");
        provider
    }

    /// The next line that starts with `prefix`, without it (oidc-provider's start-up warnings
    /// come on the same stream and are skipped).
    fn answer(&mut self, prefix: &str) -> String {
        loop {
            let mut line = String::new();
            let n = self.stdout.read_line(&mut line).unwrap();
            assert!(n > 0, "the OpenID provider stopped (its errors are above)");
            let line = line.trim_end();
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.to_string();
            }
            assert!(!line.starts_with("error "), "the OpenID provider: {line}");
        }
    }

    fn command(&mut self, line: &str, prefix: &str) -> String {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        self.answer(prefix)
    }

    /// Registers the relying party's callback (known once the server has its port).
    pub fn set_redirect(&mut self, url: &str) {
        self.command(&format!("redirect {url}"), "redirect set");
    }

    /// A JWT signed by the provider's current key (`_kid` in `claims` names another kid).
    pub fn mint(&mut self, claims: serde_json::Value) -> String {
        self.command(&format!("mint {claims}"), "token ")
    }

    /// A new signing key; the old one stays published. Returns the new kid.
    pub fn rotate(&mut self) -> String {
        self.command("rotate", "rotated ")
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.issuer)
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        // Closing stdin stops it; the kill is for a provider that hangs.
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Cookies by name, as a browser keeps them for one site (paths ignored: the tests' sites are
/// small). Values only; the attributes of Fieldbook's own cookies are checked separately.
#[derive(Debug, Default, Clone)]
pub struct Jar(pub BTreeMap<String, String>);

impl Jar {
    pub fn take(&mut self, response: &reqwest::Response) {
        for v in response.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            let expired = v.to_ascii_lowercase().contains("max-age=0") || value.is_empty();
            if expired {
                self.0.remove(name.trim());
            } else {
                self.0.insert(name.trim().to_string(), value.to_string());
            }
        }
    }

    pub fn header(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// A client that never follows redirects by itself.
pub fn manual_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Attribute `name` of the first element in `html` after `from`.
fn attr(html: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let start = html.find(&key)? + key.len();
    Some(html[start..].split('"').next()?.replace("&amp;", "&"))
}

/// The action and fields of the first form of a page: hidden inputs as they are, `login` and
/// `password` filled in.
fn form_of(html: &str, login: &str) -> Option<(String, Vec<(String, String)>)> {
    let form = &html[html.find("<form")?..];
    let action = attr(form, "action")?;
    let end = form.find("</form>").unwrap_or(form.len());
    let mut fields = Vec::new();
    for input in form[..end].split("<input").skip(1) {
        let Some(name) = attr(input, "name") else { continue };
        let value = match name.as_str() {
            "login" => login.to_string(),
            "password" => "any".to_string(),
            _ => attr(input, "value").unwrap_or_default(),
        };
        fields.push((name, value));
    }
    Some((action, fields))
}

/// Drives the provider from its authorisation URL to the redirect back to `callback_prefix`:
/// follows redirects and fills in the login (as `login`) and consent forms. Returns the
/// callback URL the provider sent the browser to.
pub async fn through_provider(
    client: &reqwest::Client,
    provider: &mut Jar,
    authorize_url: &str,
    callback_prefix: &str,
    login: &str,
) -> String {
    let base = reqwest::Url::parse(authorize_url).unwrap();
    let mut next = Some((reqwest::Method::GET, base.clone(), Vec::<(String, String)>::new()));
    for _ in 0..20 {
        let (method, url, fields) = next.take().unwrap();
        let mut request = client.request(method, url.clone()).header("cookie", provider.header());
        if !fields.is_empty() {
            request = request.form(&fields);
        }
        let response = request.send().await.unwrap();
        provider.take(&response);
        if let Some(location) = response.headers().get("location") {
            let target = url.join(location.to_str().unwrap()).unwrap();
            if target.as_str().starts_with(callback_prefix) {
                return target.to_string();
            }
            next = Some((reqwest::Method::GET, target, Vec::new()));
            continue;
        }
        let status = response.status();
        let html = response.text().await.unwrap();
        assert_eq!(status, 200, "the provider answered {status}: {html}");
        let (action, fields) =
            form_of(&html, login).expect("a page of the provider without a form");
        next = Some((reqwest::Method::POST, url.join(&action).unwrap(), fields));
    }
    panic!("the provider never sent the browser back");
}

/// Whether a sign-in from `authorize_url` makes the provider ask for credentials (its login form)
/// before it sends the browser back to `callback_prefix`: false while the provider's session in
/// `provider` is alive. Consent pages on the way are accepted.
pub async fn asks_for_credentials(
    client: &reqwest::Client,
    provider: &mut Jar,
    authorize_url: &str,
    callback_prefix: &str,
) -> bool {
    let mut next =
        Some((reqwest::Method::GET, reqwest::Url::parse(authorize_url).unwrap(), vec![]));
    for _ in 0..20 {
        let (method, url, fields): (_, reqwest::Url, Vec<(String, String)>) = next.take().unwrap();
        let mut request = client.request(method, url.clone()).header("cookie", provider.header());
        if !fields.is_empty() {
            request = request.form(&fields);
        }
        let response = request.send().await.unwrap();
        provider.take(&response);
        if let Some(location) = response.headers().get("location") {
            let target = url.join(location.to_str().unwrap()).unwrap();
            if target.as_str().starts_with(callback_prefix) {
                return false;
            }
            next = Some((reqwest::Method::GET, target, Vec::new()));
            continue;
        }
        let html = response.text().await.unwrap();
        let (action, fields) = form_of(&html, "").expect("a page of the provider without a form");
        if fields.iter().any(|(name, _)| name == "login") {
            return true;
        }
        next = Some((reqwest::Method::POST, url.join(&action).unwrap(), fields));
    }
    panic!("the provider neither asked for credentials nor sent the browser back");
}

/// Follows the relying party's sign-out redirect to the provider's end-session endpoint and
/// confirms there ("Yes, sign me out"), as the user would. Returns where the provider sends the
/// browser afterwards (the post-logout redirect).
pub async fn confirm_provider_sign_out(
    client: &reqwest::Client,
    provider: &mut Jar,
    end_session_url: &str,
) -> String {
    let url = reqwest::Url::parse(end_session_url).unwrap();
    let response =
        client.get(url.clone()).header("cookie", provider.header()).send().await.unwrap();
    provider.take(&response);
    let status = response.status();
    let html = response.text().await.unwrap();
    assert_eq!(status, 200, "the provider's end-session page answered {status}: {html}");
    let (action, mut fields) = form_of(&html, "").expect("the provider's sign-out form");
    fields.push(("logout".into(), "yes".into()));
    let mut next = url.join(&action).unwrap();
    let mut request = client.post(next.clone()).form(&fields);
    for _ in 0..10 {
        let response = request.header("cookie", provider.header()).send().await.unwrap();
        provider.take(&response);
        let location = response
            .headers()
            .get("location")
            .unwrap_or_else(|| panic!("the provider's sign-out answered {}", response.status()));
        let target = next.join(location.to_str().unwrap()).unwrap();
        if target.origin() != url.origin() {
            return target.to_string();
        }
        next = target;
        request = client.get(next.clone());
    }
    panic!("the provider's sign-out never sent the browser back");
}
