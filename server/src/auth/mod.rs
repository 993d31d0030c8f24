//! Who is calling: a bearer token, verified as a JWT against configured keys or — in development —
//! looked up in a static tokens file. Roles decide what a caller may do; the hub decides which
//! cases it may see. Tokens and their claims never reach logs or error messages: a token is a
//! credential to a social worker's caseload.

//!
//! What each role may call, and what record content it sees, is `docs/roles.md`.

mod config;
mod jwks;
mod jwt;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fieldbook_core::document::authorship::normalise_worker_id;
use fieldbook_core::protocol::ErrorBody;
use serde::{Deserialize, Serialize};

pub use config::{AuthConfig, AuthConfigError, JwtAlgorithm, JwtKey};
pub use jwks::JwksConfig;
pub use jwt::{identity_from_claims, issue_hs256, Claims};

use config::{load_key, load_static_tokens, Key, StaticToken};

/// Least privilege (`docs/roles.md`): workers sync the cases allocated to them, managers their
/// team's; `Integration` is the council's case system (upserts cases, reads the export feed,
/// record content included); `Operator` runs the service and sees no record content at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Worker,
    Manager,
    Integration,
    /// Operations. `admin`, the name of earlier releases, is read as `operator` (in tokens and in
    /// the static tokens file) and has the same, content-free, rights.
    #[serde(alias = "admin")]
    Operator,
    /// Senior leaders and the Improvement Board: the oversight board view and the exports of the
    /// whole council, figures and dates only, never record text (`docs/oversight.md`).
    Senior,
}

impl Role {
    /// Every role, for the role matrix and its test.
    pub const ALL: [Role; 5] =
        [Role::Worker, Role::Manager, Role::Integration, Role::Operator, Role::Senior];
}

/// An authenticated caller. `subject` is the worker id for workers and managers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    pub role: Role,
    pub team: Option<String>,
}

/// Why a request is not authenticated. Messages are shown to the caller, so they name the
/// problem, never the token or what it claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("the authorization header or token is malformed")]
    Malformed,
    #[error("the token's signature is not valid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is for another audience")]
    WrongAudience,
    #[error("the token is from another issuer")]
    WrongIssuer,
    #[error("the account is disabled")]
    Disabled,
    #[error("unknown token")]
    UnknownToken,
    #[error("the token lacks the `{0}` claim")]
    MissingClaim(&'static str),
}

/// Verifies bearer tokens. Built once at start-up and shared by every request.
pub struct Authenticator {
    keys: Vec<Key>,
    /// The IdP's published keys, when `auth.json` names a JWKS URL.
    jwks: Option<jwks::JwksCache>,
    static_tokens: Vec<StaticToken>,
    audience: String,
    issuer: Option<String>,
    leeway: u64,
    // Behind a lock so an account can be disabled without a restart.
    disabled: RwLock<HashSet<String>>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("keys", &self.keys.len())
            .field("jwks", &self.jwks.is_some())
            .field("static_tokens", &self.static_tokens.len())
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// Byte equality whose running time does not depend on where the inputs first differ, so a
/// caller cannot find a static token a byte at a time. Only the lengths' maximum shows.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    // Keeps the optimiser from turning the loop into an early exit.
    std::hint::black_box(diff) == 0
}

impl Authenticator {
    /// Reads the static tokens file and parses the keys; any problem stops start-up.
    pub fn from_config(cfg: &AuthConfig) -> Result<Self, AuthConfigError> {
        let static_tokens = match &cfg.static_tokens {
            Some(path) => load_static_tokens(path)?,
            None => Vec::new(),
        };
        let keys = cfg
            .jwt
            .iter()
            .enumerate()
            .map(|(i, k)| load_key(i, k))
            .collect::<Result<Vec<_>, _>>()?;
        let jwks = cfg
            .jwks
            .clone()
            .map(jwks::JwksCache::new)
            .transpose()
            .map_err(|e| AuthConfigError::JwksClient(e.to_string()))?;
        if keys.is_empty() && static_tokens.is_empty() && jwks.is_none() {
            return Err(AuthConfigError::NothingConfigured);
        }
        if !static_tokens.is_empty() {
            tracing::warn!(count = static_tokens.len(), "static tokens enabled: development mode");
        }
        Ok(Self {
            keys,
            jwks,
            static_tokens,
            audience: cfg.audience.clone(),
            issuer: cfg.issuer.clone(),
            leeway: cfg.leeway_seconds,
            disabled: RwLock::new(
                cfg.disabled_subjects.iter().map(|s| normalise_worker_id(s)).collect(),
            ),
        })
    }

    /// Disables or re-enables an account at run time; takes effect on the next request.
    pub fn set_disabled(&self, subject: &str, disabled: bool) {
        // A poisoned lock only means a panic elsewhere; the set itself is still sound.
        let mut set = self.disabled.write().unwrap_or_else(PoisonError::into_inner);
        let subject = normalise_worker_id(subject);
        if disabled {
            set.insert(subject);
        } else {
            set.remove(&subject);
        }
    }

    pub fn is_disabled(&self, subject: &str) -> bool {
        self.disabled
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&normalise_worker_id(subject))
    }

    /// Checks an `Authorization` header value: `Bearer <token>`.
    pub fn authenticate(&self, authorization_header: Option<&str>) -> Result<Identity, AuthError> {
        let token = bearer_token(authorization_header)?;
        let identity = match self.static_identity(token) {
            Some(identity) => identity,
            None if (!self.keys.is_empty() || self.jwks.is_some())
                && token.split('.').count() == 3 =>
            {
                self.verify_jwt(token)?
            }
            None if !self.static_tokens.is_empty() => return Err(AuthError::UnknownToken),
            None => return Err(AuthError::Malformed),
        };
        if self.is_disabled(&identity.subject) {
            return Err(AuthError::Disabled);
        }
        Ok(identity)
    }

    /// [`Self::authenticate`], after bringing the IdP's keys up to date when the token names a
    /// key the configured ones do not hold (`jwks`: cached, refetched at most once per
    /// interval). The fetch is awaited on the request's task, never on a blocking thread.
    pub async fn authenticate_async(
        &self,
        authorization_header: Option<&str>,
    ) -> Result<Identity, AuthError> {
        if let (Some(jwks), Ok(token)) = (&self.jwks, bearer_token(authorization_header)) {
            if token.split('.').count() == 3 && self.static_identity(token).is_none() {
                if let Ok(h) = jsonwebtoken::decode_header(token) {
                    let kid = h.kid.as_deref();
                    let configured = kid
                        .is_some_and(|kid| self.keys.iter().any(|k| k.kid.as_deref() == Some(kid)));
                    if !configured {
                        jwks.refresh_for(kid).await;
                    }
                }
            }
        }
        self.authenticate(authorization_header)
    }

    /// How many times the JWKS has been fetched (0 without one): for tests and operators.
    pub fn jwks_fetches(&self) -> u64 {
        self.jwks.as_ref().map_or(0, jwks::JwksCache::fetches)
    }

    fn static_identity(&self, token: &str) -> Option<Identity> {
        // Every entry is compared, so the time taken does not reveal which one matched.
        let mut found = None;
        for t in &self.static_tokens {
            if constant_time_eq(t.token.as_bytes(), token.as_bytes()) && found.is_none() {
                found = Some(&t.identity);
            }
        }
        found.cloned()
    }
}

fn bearer_token(header: Option<&str>) -> Result<&str, AuthError> {
    let value = header.map(str::trim).filter(|v| !v.is_empty()).ok_or(AuthError::Missing)?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    // RFC 7235: the scheme name is case-insensitive.
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Malformed);
    }
    let token = rest.trim();
    if token.is_empty() {
        return Err(AuthError::Missing);
    }
    if token.contains(char::is_whitespace) {
        return Err(AuthError::Malformed);
    }
    Ok(token)
}

/// 401 with a JSON body and the challenge RFC 6750 asks for.
impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let body = ErrorBody::new("unauthorized", self.to_string());
        (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], Json(body))
            .into_response()
    }
}

impl<S> FromRequestParts<S> for Identity
where
    S: Send + Sync,
    Arc<Authenticator>: FromRef<S>,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Arc::<Authenticator>::from_ref(state);
        let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
        let result = match (values.next(), values.next()) {
            (None, _) => auth.authenticate_async(None).await,
            // Two headers: which one a proxy looked at is anyone's guess, so neither is trusted.
            (Some(_), Some(_)) => Err(AuthError::Malformed),
            (Some(v), None) => match v.to_str() {
                Ok(v) => auth.authenticate_async(Some(v)).await,
                Err(_) => Err(AuthError::Malformed),
            },
        };
        // The variant's Debug names the kind of failure and nothing from the token.
        result.inspect_err(|e| tracing::warn!(error = ?e, "authentication failed"))
    }
}
