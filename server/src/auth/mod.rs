//! Who is calling: a bearer token, verified as a JWT against configured keys or — in development —
//! looked up in a static tokens file. Roles decide what a caller may do; the hub decides which
//! cases it may see. Tokens and their claims never reach logs or error messages: a token is a
//! credential to a social worker's caseload.

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Workers sync the cases allocated to them, managers their team's; `Integration` is the
/// council's case system (upserts cases, reads the export feed); `Admin` is operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Worker,
    Manager,
    Integration,
    Admin,
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

/// A configuration the server must not start with.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("cannot read the static tokens file {path}: {source}")]
    StaticTokensRead { path: PathBuf, source: std::io::Error },
    // serde's message can quote the offending value — a token — so only the position is kept.
    #[error("the static tokens file {path} is not valid JSON of the expected shape (line {line}, column {column})")]
    StaticTokensParse { path: PathBuf, line: usize, column: usize },
    #[error("static token {index} in {path}: {reason}")]
    StaticTokenInvalid { path: PathBuf, index: usize, reason: &'static str },
    #[error("JWT key {index} needs `{field}`")]
    MissingKeyMaterial { index: usize, field: &'static str },
    #[error("JWT key {index}: an HS256 secret must be at least {MIN_HS256_SECRET} bytes")]
    WeakSecret { index: usize },
    #[error("JWT key {index}: the public key is not a valid {algorithm:?} PEM: {source}")]
    InvalidPem { index: usize, algorithm: JwtAlgorithm, source: jsonwebtoken::errors::Error },
    #[error("no JWT keys and no static tokens: nobody could authenticate")]
    NothingConfigured,
}

/// RFC 7518 §3.2: an HMAC key at least as long as the hash output.
const MIN_HS256_SECRET: usize = 32;

/// The algorithms a key may be configured with. `none` cannot be expressed at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JwtAlgorithm {
    #[serde(rename = "HS256")]
    Hs256,
    #[serde(rename = "RS256")]
    Rs256,
    #[serde(rename = "ES256")]
    Es256,
}

/// One verification key.
#[derive(Clone, Deserialize)]
pub struct JwtKey {
    #[serde(default)]
    pub kid: Option<String>,
    pub algorithm: JwtAlgorithm,
    /// Shared secret, for HS256.
    #[serde(default)]
    pub secret: Option<String>,
    /// Public key (PEM), for RS256 and ES256.
    #[serde(default)]
    pub public_key_pem: Option<String>,
}

// By hand: configs get logged at start-up, and an HS256 secret can mint any identity.
impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("public_key_pem", &self.public_key_pem.as_ref().map(|_| "<pem>"))
            .finish()
    }
}

/// The server's authentication settings (JSON).
#[derive(Clone, Deserialize)]
pub struct AuthConfig {
    pub audience: String,
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub jwt: Vec<JwtKey>,
    /// Development mode: a JSON file of static tokens.
    #[serde(default)]
    pub static_tokens: Option<PathBuf>,
    #[serde(default)]
    pub disabled_subjects: Vec<String>,
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
}

fn default_leeway() -> u64 {
    30
}

// By hand rather than derived, so that a later field holding a secret cannot leak by default.
impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .field("jwt", &self.jwt)
            .field("static_tokens", &self.static_tokens)
            .field("disabled_subjects", &self.disabled_subjects.len())
            .field("leeway_seconds", &self.leeway_seconds)
            .finish()
    }
}

/// The claims Fieldbook issues (for tests, the demo and development set-ups).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    pub aud: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
}

/// All optional: jsonwebtoken deserializes claims *before* checking `exp`/`aud`/`iss`, and a
/// strict struct would turn an expired token with an odd payload into a parse error.
#[derive(Deserialize)]
struct TokenClaims {
    sub: Option<String>,
    role: Option<serde_json::Value>,
    team: Option<String>,
}

#[derive(Deserialize)]
struct StaticTokenFile {
    tokens: Vec<StaticTokenEntry>,
}

#[derive(Deserialize)]
struct StaticTokenEntry {
    token: String,
    subject: String,
    role: Role,
    #[serde(default)]
    team: Option<String>,
}

struct StaticToken {
    token: String,
    identity: Identity,
}

struct Key {
    kid: Option<String>,
    algorithm: Algorithm,
    decoding: DecodingKey,
}

/// Verifies bearer tokens. Built once at start-up and shared by every request.
pub struct Authenticator {
    keys: Vec<Key>,
    static_tokens: Vec<StaticToken>,
    audience: String,
    issuer: Option<String>,
    leeway: u64,
    // Behind a lock so an admin endpoint can disable an account without a restart.
    disabled: RwLock<HashSet<String>>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("keys", &self.keys.len())
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

fn load_static_tokens(path: &PathBuf) -> Result<Vec<StaticToken>, AuthConfigError> {
    let bytes = std::fs::read(path)
        .map_err(|source| AuthConfigError::StaticTokensRead { path: path.clone(), source })?;
    let file: StaticTokenFile =
        serde_json::from_slice(&bytes).map_err(|e| AuthConfigError::StaticTokensParse {
            path: path.clone(),
            line: e.line(),
            column: e.column(),
        })?;
    let mut tokens: Vec<StaticToken> = Vec::with_capacity(file.tokens.len());
    for (index, e) in file.tokens.into_iter().enumerate() {
        let invalid =
            |reason| AuthConfigError::StaticTokenInvalid { path: path.clone(), index, reason };
        // Such a token could never be presented: `bearer_token` refuses it.
        if e.token.is_empty() || e.token.contains(char::is_whitespace) {
            return Err(invalid("the token is empty or contains white space"));
        }
        if e.role == Role::Manager && e.team.is_none() {
            return Err(invalid("a manager needs a team"));
        }
        // A duplicate would make one of the two identities unreachable, silently.
        if tokens.iter().any(|t| t.token == e.token) {
            return Err(invalid("the token is used twice"));
        }
        let identity = Identity { subject: e.subject, role: e.role, team: e.team };
        tokens.push(StaticToken { token: e.token, identity });
    }
    Ok(tokens)
}

fn load_key(index: usize, k: &JwtKey) -> Result<Key, AuthConfigError> {
    let algorithm = k.algorithm;
    let missing = |field| AuthConfigError::MissingKeyMaterial { index, field };
    let invalid = |source| AuthConfigError::InvalidPem { index, algorithm, source };
    let (alg, decoding) = match algorithm {
        JwtAlgorithm::Hs256 => {
            let secret = k.secret.as_deref().ok_or_else(|| missing("secret"))?;
            if secret.len() < MIN_HS256_SECRET {
                return Err(AuthConfigError::WeakSecret { index });
            }
            (Algorithm::HS256, DecodingKey::from_secret(secret.as_bytes()))
        }
        JwtAlgorithm::Rs256 => {
            let pem = k.public_key_pem.as_deref().ok_or_else(|| missing("public_key_pem"))?;
            (Algorithm::RS256, DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(invalid)?)
        }
        JwtAlgorithm::Es256 => {
            let pem = k.public_key_pem.as_deref().ok_or_else(|| missing("public_key_pem"))?;
            (Algorithm::ES256, DecodingKey::from_ec_pem(pem.as_bytes()).map_err(invalid)?)
        }
    };
    Ok(Key { kid: k.kid.clone(), algorithm: alg, decoding })
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
        if keys.is_empty() && static_tokens.is_empty() {
            return Err(AuthConfigError::NothingConfigured);
        }
        if !static_tokens.is_empty() {
            tracing::warn!(count = static_tokens.len(), "static tokens enabled: development mode");
        }
        Ok(Self {
            keys,
            static_tokens,
            audience: cfg.audience.clone(),
            issuer: cfg.issuer.clone(),
            leeway: cfg.leeway_seconds,
            disabled: RwLock::new(cfg.disabled_subjects.iter().cloned().collect()),
        })
    }

    /// Disables or re-enables an account at run time; takes effect on the next request.
    pub fn set_disabled(&self, subject: &str, disabled: bool) {
        // A poisoned lock only means a panic elsewhere; the set itself is still sound.
        let mut set = self.disabled.write().unwrap_or_else(PoisonError::into_inner);
        if disabled {
            set.insert(subject.to_owned());
        } else {
            set.remove(subject);
        }
    }

    pub fn is_disabled(&self, subject: &str) -> bool {
        self.disabled.read().unwrap_or_else(PoisonError::into_inner).contains(subject)
    }

    /// Checks an `Authorization` header value: `Bearer <token>`.
    pub fn authenticate(&self, authorization_header: Option<&str>) -> Result<Identity, AuthError> {
        let token = bearer_token(authorization_header)?;
        let identity = match self.static_identity(token) {
            Some(identity) => identity,
            None if !self.keys.is_empty() && token.split('.').count() == 3 => {
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

    fn verify_jwt(&self, token: &str) -> Result<Identity, AuthError> {
        // jsonwebtoken has no `none` algorithm, so an unsigned token fails here as malformed.
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        // A kid picks its key; an unknown kid may still match a key configured without one.
        let kid_known = self.keys.iter().any(|k| k.kid.is_some() && k.kid == header.kid);
        let candidates = self.keys.iter().filter(|k| {
            let kid_fits =
                header.kid.is_none() || k.kid == header.kid || (!kid_known && k.kid.is_none());
            // Only keys configured for the token's algorithm: an RSA public key must never
            // serve as an HMAC secret (algorithm confusion).
            kid_fits && k.algorithm == header.alg
        });
        let mut required = vec!["exp", "aud", "sub"];
        if self.issuer.is_some() {
            required.push("iss");
        }
        for key in candidates {
            let mut validation = Validation::new(key.algorithm);
            validation.set_audience(&[&self.audience]);
            validation.set_required_spec_claims(&required);
            validation.leeway = self.leeway;
            if let Some(iss) = &self.issuer {
                validation.set_issuer(&[iss]);
            }
            match jsonwebtoken::decode::<TokenClaims>(token, &key.decoding, &validation) {
                Ok(data) => return identity_of(data.claims),
                // Another key of the same algorithm may have signed it.
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => continue,
                Err(e) => return Err(map_jwt_error(e.kind())),
            }
        }
        Err(AuthError::BadSignature)
    }
}

fn map_jwt_error(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::MissingRequiredClaim(c) => AuthError::MissingClaim(
            ["exp", "aud", "iss", "sub"].into_iter().find(|r| r == c).unwrap_or("sub"),
        ),
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidKeyFormat
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidEcdsaKey => AuthError::BadSignature,
        _ => AuthError::Malformed,
    }
}

fn identity_of(claims: TokenClaims) -> Result<Identity, AuthError> {
    let subject = claims.sub.filter(|s| !s.is_empty()).ok_or(AuthError::MissingClaim("sub"))?;
    // A role Fieldbook does not know grants nothing, the same as no role at all.
    let role = claims
        .role
        .and_then(|r| serde_json::from_value::<Role>(r).ok())
        .ok_or(AuthError::MissingClaim("role"))?;
    let team = claims.team.filter(|t| !t.is_empty());
    // A manager's view is their team's cases; without a team there is nothing safe to show.
    if role == Role::Manager && team.is_none() {
        return Err(AuthError::MissingClaim("team"));
    }
    Ok(Identity { subject, role, team })
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

/// Issues an HS256 token (tests, the demo, a council's development set-up).
pub fn issue_hs256(secret: &str, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
    let key = EncodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key)
}

/// 401 with a JSON body and the challenge RFC 6750 asks for.
impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": "unauthorized", "message": self.to_string()});
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
            (None, _) => auth.authenticate(None),
            // Two headers: which one a proxy looked at is anyone's guess, so neither is trusted.
            (Some(_), Some(_)) => Err(AuthError::Malformed),
            (Some(v), None) => match v.to_str() {
                Ok(v) => auth.authenticate(Some(v)),
                Err(_) => Err(AuthError::Malformed),
            },
        };
        // The variant's Debug names the kind of failure and nothing from the token.
        result.inspect_err(|e| tracing::warn!(error = ?e, "authentication failed"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const SECRET: &str = "test-secret-test-secret-test-secret";
    const OTHER: &str = "another-secret-another-secret-xx";
    const ISSUER: &str = "https://idp.council.test";
    // Made once with openssl, private half discarded: shows a valid PEM loads and that its
    // bytes cannot be abused as an HMAC secret. Nothing is generated at test time.
    const RSA_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAoISDS8e2jAIbCIDCMemP
AnSM3kTvdDAE5UUus2bal7CrVCWgYjMMPygQTAHUwf+hnjssnyE3WRXhMuojgABq
tqqLBDrMwM5iojeusZGp0nnl7IHWJfo7ppXcZKQCZJsl+hUmuEv5ww9qLFVxvVWW
Noj73/q7qrQm1bv7QdbcMrnu1HGqZa6SeRNKwiDN1gkhTDeliz2qihSwh3AxQqnq
Q94+dx/+WTP1iroidHhOaS5qce0mrVtATbCylY6MJi6SkdIE14cKaU27XC4yLupL
/3Zn6jjv539VABCQ6NBrlCY+7kw4KfYljGlE9Lt33dwAnFDZfUqB5HTNerbhg/kh
DwIDAQAB
-----END PUBLIC KEY-----
";

    fn key(algorithm: JwtAlgorithm, kid: Option<&str>, material: &str) -> JwtKey {
        let (secret, pem) = match algorithm {
            JwtAlgorithm::Hs256 => (Some(material.into()), None),
            _ => (None, Some(material.into())),
        };
        JwtKey { kid: kid.map(Into::into), algorithm, secret, public_key_pem: pem }
    }

    fn config() -> AuthConfig {
        AuthConfig {
            audience: "fieldbook".into(),
            issuer: Some(ISSUER.into()),
            jwt: vec![key(JwtAlgorithm::Hs256, None, SECRET)],
            static_tokens: None,
            disabled_subjects: vec![],
            leeway_seconds: 30,
        }
    }

    fn auth_with(cfg: &AuthConfig) -> Authenticator {
        Authenticator::from_config(cfg).unwrap()
    }

    fn claims(exp_offset: i64) -> Claims {
        Claims {
            sub: "amara".into(),
            role: Role::Worker,
            team: Some("north".into()),
            aud: "fieldbook".into(),
            exp: chrono::Utc::now().timestamp() + exp_offset,
            iss: Some(ISSUER.into()),
        }
    }

    /// Signs any payload with any header, then authenticates it.
    fn present(
        auth: &Authenticator,
        header: Header,
        secret: &str,
        payload: &impl Serialize,
    ) -> Result<Identity, AuthError> {
        let key = EncodingKey::from_secret(secret.as_bytes());
        let token = jsonwebtoken::encode(&header, payload, &key).unwrap();
        auth.authenticate(Some(&format!("Bearer {token}")))
    }

    fn check(auth: &Authenticator, claims: &Claims) -> Result<Identity, AuthError> {
        present(auth, Header::default(), SECRET, claims)
    }

    /// Unpadded base64url, enough to hand-craft a token.
    fn b64(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().enumerate().fold(0, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            }
        }
        out
    }

    fn static_file(body: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        std::fs::write(&path, body).unwrap();
        (dir, path)
    }

    #[test]
    fn a_valid_hs256_token_gives_the_identity() {
        let token = issue_hs256(SECRET, &claims(600)).unwrap();
        let who = auth_with(&config()).authenticate(Some(&format!("Bearer {token}")));
        let team = Some("north".into());
        assert_eq!(who, Ok(Identity { subject: "amara".into(), role: Role::Worker, team }));
    }

    #[test]
    fn a_bad_signature_is_refused() {
        let result = present(&auth_with(&config()), Header::default(), OTHER, &claims(600));
        assert_eq!(result, Err(AuthError::BadSignature));
    }

    #[test]
    fn expiry_counts_the_leeway() {
        let auth = auth_with(&config());
        assert_eq!(check(&auth, &claims(-120)), Err(AuthError::Expired));
        assert!(check(&auth, &claims(-10)).is_ok());
    }

    #[test]
    fn audience_and_issuer_must_match() {
        let auth = auth_with(&config());
        let mut c = claims(600);
        c.aud = "another-app".into();
        assert_eq!(check(&auth, &c), Err(AuthError::WrongAudience));
        let mut c = claims(600);
        c.iss = Some("https://evil.test".into());
        assert_eq!(check(&auth, &c), Err(AuthError::WrongIssuer));
        c.iss = None;
        assert_eq!(check(&auth, &c), Err(AuthError::MissingClaim("iss")));
    }

    #[test]
    fn alg_none_is_refused() {
        let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = b64(serde_json::to_string(&claims(600)).unwrap().as_bytes());
        let result =
            auth_with(&config()).authenticate(Some(&format!("Bearer {header}.{payload}.")));
        assert_eq!(result, Err(AuthError::Malformed));
    }

    #[test]
    fn algorithms_not_configured_for_a_key_are_refused() {
        let mut cfg = config();
        cfg.jwt.push(key(JwtAlgorithm::Rs256, None, RSA_PUBLIC_PEM));
        let auth = auth_with(&cfg);
        // Algorithm confusion: HS256 keyed with the RSA public key's bytes.
        let confused = present(&auth, Header::default(), RSA_PUBLIC_PEM, &claims(600));
        assert_eq!(confused, Err(AuthError::BadSignature));
        let hs512 = present(&auth, Header::new(Algorithm::HS512), SECRET, &claims(600));
        assert_eq!(hs512, Err(AuthError::BadSignature));
        assert!(check(&auth, &claims(600)).is_ok());
    }

    #[test]
    fn the_kid_picks_the_key() {
        let mut cfg = config();
        cfg.jwt = vec![
            key(JwtAlgorithm::Hs256, Some("a"), SECRET),
            key(JwtAlgorithm::Hs256, Some("b"), OTHER),
        ];
        let auth = auth_with(&cfg);
        let with_kid = |kid: &str| Header { kid: Some(kid.into()), ..Header::default() };
        assert!(present(&auth, with_kid("b"), OTHER, &claims(600)).is_ok());
        assert_eq!(
            present(&auth, with_kid("a"), OTHER, &claims(600)),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            present(&auth, with_kid("c"), OTHER, &claims(600)),
            Err(AuthError::BadSignature)
        );
        // Without a kid every key is tried.
        assert!(present(&auth, Header::default(), OTHER, &claims(600)).is_ok());
    }

    #[test]
    fn a_manager_needs_a_team_and_everyone_a_known_role() {
        let auth = auth_with(&config());
        let mut c = claims(600);
        c.role = Role::Manager;
        c.team = None;
        assert_eq!(check(&auth, &c), Err(AuthError::MissingClaim("team")));
        let mut payload = serde_json::to_value(claims(600)).unwrap();
        payload["role"] = "superuser".into();
        let result = present(&auth, Header::default(), SECRET, &payload);
        assert_eq!(result, Err(AuthError::MissingClaim("role")));
        payload.as_object_mut().unwrap().remove("sub");
        let result = present(&auth, Header::default(), SECRET, &payload);
        assert_eq!(result, Err(AuthError::MissingClaim("sub")));
    }

    #[test]
    fn disabled_subjects_are_refused_until_re_enabled() {
        let mut cfg = config();
        cfg.disabled_subjects = vec!["amara".into()];
        let auth = auth_with(&cfg);
        assert_eq!(check(&auth, &claims(600)), Err(AuthError::Disabled));
        auth.set_disabled("amara", false);
        assert!(check(&auth, &claims(600)).is_ok());
        auth.set_disabled("amara", true);
        assert_eq!(check(&auth, &claims(600)), Err(AuthError::Disabled));
    }

    #[test]
    fn static_tokens_are_checked_first() {
        let (_dir, path) = static_file(
            r#"{"tokens": [{"token": "dev-ben", "subject": "ben", "role": "worker", "team": "north"},
                           {"token": "dev-cms", "subject": "case-system", "role": "integration"}]}"#,
        );
        let mut cfg = config();
        cfg.static_tokens = Some(path);
        let auth = auth_with(&cfg);
        assert_eq!(auth.authenticate(Some("Bearer dev-ben")).unwrap().subject, "ben");
        assert_eq!(auth.authenticate(Some("bearer dev-cms")).unwrap().role, Role::Integration);
        assert_eq!(auth.authenticate(Some("Bearer dev-bob")), Err(AuthError::UnknownToken));
        assert!(check(&auth, &claims(600)).is_ok());
        auth.set_disabled("ben", true);
        assert_eq!(auth.authenticate(Some("Bearer dev-ben")), Err(AuthError::Disabled));
        assert!(constant_time_eq(b"abc", b"abc") && constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn malformed_headers_are_refused() {
        let auth = auth_with(&config());
        assert_eq!(auth.authenticate(None), Err(AuthError::Missing));
        assert_eq!(auth.authenticate(Some("Bearer")), Err(AuthError::Missing));
        assert_eq!(auth.authenticate(Some("Bearer   ")), Err(AuthError::Missing));
        assert_eq!(auth.authenticate(Some("Basic x")), Err(AuthError::Malformed));
        assert_eq!(auth.authenticate(Some("Bearer a b")), Err(AuthError::Malformed));
        assert_eq!(auth.authenticate(Some("Bearer not-a-jwt")), Err(AuthError::Malformed));
    }

    #[test]
    fn configuration_errors_are_typed() {
        let mut cfg = config();
        cfg.jwt.push(key(JwtAlgorithm::Rs256, None, "not a pem"));
        let err = Authenticator::from_config(&cfg).unwrap_err();
        assert!(matches!(
            err,
            AuthConfigError::InvalidPem { index: 1, algorithm: JwtAlgorithm::Rs256, .. }
        ));
        cfg.jwt = vec![key(JwtAlgorithm::Es256, None, RSA_PUBLIC_PEM)];
        assert!(matches!(
            Authenticator::from_config(&cfg),
            Err(AuthConfigError::InvalidPem { .. })
        ));
        cfg.jwt = vec![key(JwtAlgorithm::Hs256, None, "short")];
        assert!(matches!(
            Authenticator::from_config(&cfg),
            Err(AuthConfigError::WeakSecret { index: 0 })
        ));
        cfg.jwt = vec![];
        assert!(matches!(
            Authenticator::from_config(&cfg),
            Err(AuthConfigError::NothingConfigured)
        ));
        let (_dir, path) = static_file(r#"{"tokens": [{"token": "secret-dev-token", "role": 7}]}"#);
        cfg.static_tokens = Some(path);
        let err = Authenticator::from_config(&cfg).unwrap_err();
        assert!(matches!(err, AuthConfigError::StaticTokensParse { .. }));
        assert!(!err.to_string().contains("secret-dev-token"));
        cfg.static_tokens = Some(PathBuf::from("/nonexistent/tokens.json"));
        let err = Authenticator::from_config(&cfg).unwrap_err();
        assert!(matches!(err, AuthConfigError::StaticTokensRead { .. }));
        let json = serde_json::json!({"audience": "x", "jwt": [{"algorithm": "none"}]});
        assert!(serde_json::from_value::<AuthConfig>(json).is_err());
    }

    #[test]
    fn debug_output_has_no_secrets() {
        let mut cfg = config();
        cfg.jwt.push(key(JwtAlgorithm::Rs256, None, RSA_PUBLIC_PEM));
        let printed = format!("{cfg:?} {:?}", auth_with(&cfg));
        assert!(!printed.contains(SECRET) && !printed.contains("MIIBIjAN"));
        assert!(printed.contains("<redacted>"));
    }

    #[tokio::test]
    async fn the_extractor_accepts_or_answers_401() {
        let state = Arc::new(auth_with(&config()));
        let parts = |value: String| {
            let request = axum::http::Request::builder().header(header::AUTHORIZATION, value);
            request.body(()).unwrap().into_parts().0
        };
        let good = issue_hs256(SECRET, &claims(600)).unwrap();
        let who = Identity::from_request_parts(&mut parts(format!("Bearer {good}")), &state).await;
        assert_eq!(who.unwrap().subject, "amara");
        let forged = issue_hs256(OTHER, &claims(600)).unwrap();
        let mut request = parts(format!("Bearer {forged}"));
        let rejection = Identity::from_request_parts(&mut request, &state).await.unwrap_err();
        assert_eq!(rejection, AuthError::BadSignature);
        let response = rejection.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "unauthorized");
        assert_eq!(body["message"], AuthError::BadSignature.to_string());
        assert!(!body.to_string().contains(&forged));
        let mut none = axum::http::Request::new(()).into_parts().0;
        let rejection = Identity::from_request_parts(&mut none, &state).await;
        assert_eq!(rejection, Err(AuthError::Missing));
    }
}
