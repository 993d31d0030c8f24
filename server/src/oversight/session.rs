//! Who is looking at an oversight page, and the forms' CSRF tokens.
//!
//! A page accepts the same bearer identities as the API: an `Authorization: Bearer` header, or a
//! session cookie that stands for a token the caller signed in with. The session keeps the token
//! and re-authenticates it on every request, so an expired token or a disabled account ends the
//! session at once. Sign-in is either the development form that posts a static token or JWT, or
//! the council's identity provider (`oidc`: authorisation code with PKCE), whose verified ID
//! token becomes an identity held by the session ([`Sessions::create_for`]); such a session is
//! checked against the disabled accounts on every request and lasts [`SESSION_TTL`] at most.
//! Cookie, CSRF and sign-out are the same for both.
//!
//! The cookie is `HttpOnly; Secure; SameSite=Strict` and scoped to `/oversight`; its value is a
//! random id, never the token. Every form carries the session's CSRF token, checked in constant
//! time on every POST that a cookie authenticated (a request with a bearer header carries no
//! ambient credential, so it needs none). The sign-in form, before any session exists, uses a
//! double-submit token: a random value in a cookie and in the form, which must match.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use zeroize::Zeroizing;

use crate::auth::Identity;
use crate::http::AppState;

use super::pages::PageError;

pub const SESSION_COOKIE: &str = "fb_session";
pub const SIGN_IN_COOKIE: &str = "fb_sign_in";
/// The identity provider's sign-in in progress (`oidc`): a random id, for ten minutes.
pub const OIDC_COOKIE: &str = "fb_oidc";
/// A session lasts a working day at most; the token's own expiry may end it sooner.
pub const SESSION_TTL: Duration = Duration::from_secs(10 * 3600);
/// Sessions kept at once: the oldest is dropped beyond this (a flood of sign-ins cannot grow the
/// map without bound).
const MAX_SESSIONS: usize = 10_000;

/// What a session stands for.
#[derive(Clone)]
enum Credential {
    /// A bearer token, re-verified on every request.
    Token(Zeroizing<String>),
    /// An identity from the identity provider's verified ID token, and the token itself: sign-out
    /// gives it to the provider's end-session endpoint as `id_token_hint`.
    Identity(Identity, Zeroizing<String>),
}

struct Session {
    credential: Credential,
    csrf: String,
    expires: Instant,
}

/// The server's sessions, in memory: a restart signs everyone out, which for a page that only
/// reads projections and posts decisions costs a sign-in.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

/// 32 random bytes as hex.
pub fn random_token() -> Result<String, PageError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| PageError::Internal)?;
    Ok(hex::encode(bytes))
}

/// Byte equality in time independent of where the inputs differ.
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    std::hint::black_box(diff) == 0
}

impl Sessions {
    /// A new session for a verified token: (session id, CSRF token).
    pub fn create(&self, token: &str) -> Result<(String, String), PageError> {
        self.insert(Credential::Token(Zeroizing::new(token.to_string())))
    }

    /// A new session for an identity the identity provider vouched for by `id_token`:
    /// (session id, CSRF).
    pub fn create_for(
        &self,
        identity: Identity,
        id_token: String,
    ) -> Result<(String, String), PageError> {
        self.insert(Credential::Identity(identity, Zeroizing::new(id_token)))
    }

    fn insert(&self, credential: Credential) -> Result<(String, String), PageError> {
        let (id, csrf) = (random_token()?, random_token()?);
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            id.clone(),
            Session { credential, csrf: csrf.clone(), expires: now + SESSION_TTL },
        );
        Ok((id, csrf))
    }

    /// The credential and CSRF token of a live session.
    fn get(&self, id: &str) -> Option<(Credential, String)> {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(id)
            .filter(|s| s.expires > Instant::now())
            .map(|s| (s.credential.clone(), s.csrf.clone()))
    }

    /// Ends a session; returns the provider's ID token it was created from, if it was.
    pub fn remove(&self, id: &str) -> Option<Zeroizing<String>> {
        match self.map.lock().unwrap_or_else(PoisonError::into_inner).remove(id)?.credential {
            Credential::Identity(_, id_token) => Some(id_token),
            Credential::Token(_) => None,
        }
    }
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value with the attributes every oversight cookie has.
pub fn set_cookie(name: &str, value: &str, max_age: Option<u64>) -> String {
    set_cookie_same_site(name, value, max_age, "Strict")
}

/// The same with another `SameSite`: only the identity provider's sign-in in progress uses
/// `Lax`, because the provider's redirect back is a cross-site navigation, which never carries
/// a `Strict` cookie.
pub fn set_cookie_same_site(
    name: &str,
    value: &str,
    max_age: Option<u64>,
    same_site: &str,
) -> String {
    let age = max_age.map(|s| format!("; Max-Age={s}")).unwrap_or_default();
    format!("{name}={value}; Path=/oversight; HttpOnly; Secure; SameSite={same_site}{age}")
}

/// The caller of a page.
#[derive(Debug, Clone)]
pub struct PageCaller {
    pub who: Identity,
    /// The session's CSRF token; `None` when a bearer header authenticated the request.
    pub csrf: Option<String>,
    pub session: Option<String>,
}

impl PageCaller {
    /// A POST's CSRF check: a cookie-authenticated request must send the session's token.
    pub fn check_csrf(&self, sent: Option<&str>) -> Result<(), PageError> {
        match &self.csrf {
            None => Ok(()),
            Some(expected) if sent.is_some_and(|s| same(s, expected)) => Ok(()),
            Some(_) => Err(PageError::Csrf),
        }
    }
}

impl FromRequestParts<AppState> for PageCaller {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let mut auth_headers = parts.headers.get_all(header::AUTHORIZATION).iter();
        let (first, second) = (auth_headers.next(), auth_headers.next());
        if second.is_some() {
            return Err(PageError::Unauthenticated);
        }
        if let Some(value) = first {
            let value = value.to_str().map_err(|_| PageError::Unauthenticated)?;
            let who = state.auth.authenticate_async(Some(value)).await.map_err(|e| {
                tracing::warn!(error = ?e, "page authentication failed");
                PageError::Unauthenticated
            })?;
            return Ok(Self { who, csrf: None, session: None });
        }
        let id = cookie(&parts.headers, SESSION_COOKIE).ok_or(PageError::Unauthenticated)?;
        let (credential, csrf) = state.sessions.get(&id).ok_or(PageError::Unauthenticated)?;
        let token = match credential {
            Credential::Identity(who, _) => {
                if state.auth.is_disabled(&who.subject) {
                    tracing::warn!("session of a disabled account ended");
                    state.sessions.remove(&id);
                    return Err(PageError::Unauthenticated);
                }
                return Ok(Self { who, csrf: Some(csrf), session: Some(id) });
            }
            Credential::Token(token) => token,
        };
        let header = Zeroizing::new(format!("Bearer {}", token.as_str()));
        match state.auth.authenticate_async(Some(&header)).await {
            Ok(who) => Ok(Self { who, csrf: Some(csrf), session: Some(id) }),
            Err(e) => {
                tracing::warn!(error = ?e, "session token no longer valid");
                state.sessions.remove(&id);
                Err(PageError::Unauthenticated)
            }
        }
    }
}

pub type SharedSessions = Arc<Sessions>;
