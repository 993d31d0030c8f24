//! The authentication settings (`auth.json`) and what start-up makes of them: verification keys
//! and the development file of static tokens. Any problem stops start-up with a typed error that
//! never quotes a secret.

use std::fmt;
use std::path::PathBuf;

use fieldbook_core::document::authorship::normalise_worker_id;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::{Deserialize, Serialize};

use super::{Identity, Role};

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
    #[error("the JWKS client could not be built: {0}")]
    JwksClient(String),
    #[error("no JWT keys, no JWKS and no static tokens: nobody could authenticate")]
    NothingConfigured,
}

/// RFC 7518 §3.2: an HMAC key at least as long as the hash output.
pub(super) const MIN_HS256_SECRET: usize = 32;

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
    /// The identity provider's JWKS, fetched and cached (`auth::jwks`), besides `jwt`.
    #[serde(default)]
    pub jwks: Option<super::JwksConfig>,
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
            .field("jwks", &self.jwks)
            .field("static_tokens", &self.static_tokens)
            .field("disabled_subjects", &self.disabled_subjects.len())
            .field("leeway_seconds", &self.leeway_seconds)
            .finish()
    }
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

pub(super) struct StaticToken {
    pub(super) token: String,
    pub(super) identity: Identity,
}

pub(super) struct Key {
    pub(super) kid: Option<String>,
    pub(super) algorithm: Algorithm,
    pub(super) decoding: DecodingKey,
}

pub(super) fn load_static_tokens(path: &PathBuf) -> Result<Vec<StaticToken>, AuthConfigError> {
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
        let subject = normalise_worker_id(&e.subject);
        if subject.is_empty() {
            return Err(invalid("the subject is empty"));
        }
        let identity = Identity { subject, role: e.role, team: e.team };
        tokens.push(StaticToken { token: e.token, identity });
    }
    Ok(tokens)
}

pub(super) fn load_key(index: usize, k: &JwtKey) -> Result<Key, AuthConfigError> {
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
