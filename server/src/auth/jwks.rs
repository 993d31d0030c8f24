//! The identity provider's signing keys, fetched from its JWKS URL and cached, so that a council's
//! IdP can rotate keys without a restart of the server.
//!
//! The cache is fetched when it is empty or older than `max_age`, and again when a token names a
//! `kid` it does not hold (the IdP has rotated) — but at most once per `refetch_interval`, so a
//! flood of tokens with made-up kids cannot make the server fetch on every request. A failed
//! fetch keeps the keys it had. Fetching is async (reqwest) and happens before verification, on
//! the request's task; the verification itself (`verify_jwt`) only reads the cache.
//!
//! Only public keys of RS256 and ES256 are taken from a JWKS: a symmetric key published there
//! could be used by anyone who read it, and a key without an algorithm Fieldbook accepts is
//! skipped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use super::config::Key;

/// The `jwks` part of `auth.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct JwksConfig {
    /// The IdP's JWKS URL (its discovery document's `jwks_uri`).
    pub url: String,
    /// How long fetched keys are used before they are fetched again (default 10 minutes).
    #[serde(default = "default_max_age")]
    pub max_age_seconds: u64,
    /// The least time between two fetches caused by unknown kids (default 60 s). 0 lets every
    /// unknown kid fetch, which only a test wants.
    #[serde(default = "default_refetch_interval")]
    pub refetch_interval_seconds: u64,
}

fn default_max_age() -> u64 {
    600
}

fn default_refetch_interval() -> u64 {
    60
}

/// Why keys could not be fetched (logged, never shown to a caller).
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("the JWKS request failed: {0}")]
    Request(#[from] reqwest::Error),
    #[error("the JWKS answered {0}")]
    Status(u16),
}

#[derive(Default)]
struct State {
    keys: Arc<Vec<Key>>,
    fetched: Option<Instant>,
    last_attempt: Option<Instant>,
}

pub(super) struct JwksCache {
    config: JwksConfig,
    http: reqwest::Client,
    state: RwLock<State>,
    // One fetch at a time: requests that arrive during a fetch wait for it and then find the
    // keys it brought instead of fetching again.
    fetching: tokio::sync::Mutex<()>,
    fetches: AtomicU64,
}

impl JwksCache {
    pub(super) fn new(config: JwksConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            config,
            http,
            state: RwLock::default(),
            fetching: tokio::sync::Mutex::new(()),
            fetches: AtomicU64::new(0),
        })
    }

    /// The keys as last fetched.
    pub(super) fn keys(&self) -> Arc<Vec<Key>> {
        self.state.read().unwrap_or_else(PoisonError::into_inner).keys.clone()
    }

    /// Fetches done so far (successful or not): what a test counts.
    pub(super) fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    fn needs_fetch(&self, kid: Option<&str>, now: Instant) -> bool {
        let s = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let interval = Duration::from_secs(self.config.refetch_interval_seconds);
        let may_retry = s.last_attempt.is_none_or(|t| now.duration_since(t) >= interval);
        let stale = s.fetched.is_none_or(|t| {
            now.duration_since(t) >= Duration::from_secs(self.config.max_age_seconds)
        });
        let unknown = kid.is_some_and(|kid| !s.keys.iter().any(|k| k.kid.as_deref() == Some(kid)));
        // An empty or stale cache is fetched, but a failing IdP is asked at most once per
        // interval too; an unknown kid in a fresh cache likewise.
        (stale || unknown) && may_retry
    }

    /// Makes the cache current for a token naming `kid`, fetching if needed and allowed.
    pub(super) async fn refresh_for(&self, kid: Option<&str>) {
        if !self.needs_fetch(kid, Instant::now()) {
            return;
        }
        let _one = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        if !self.needs_fetch(kid, Instant::now()) {
            return;
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let result = self.fetch().await;
        let now = Instant::now();
        let mut s = self.state.write().unwrap_or_else(PoisonError::into_inner);
        s.last_attempt = Some(now);
        match result {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "JWKS fetched");
                s.keys = Arc::new(keys);
                s.fetched = Some(now);
            }
            Err(e) => tracing::warn!(error = %e, "JWKS fetch failed: the keys held are kept"),
        }
    }

    async fn fetch(&self) -> Result<Vec<Key>, JwksError> {
        let response = self.http.get(&self.config.url).send().await?;
        if !response.status().is_success() {
            return Err(JwksError::Status(response.status().as_u16()));
        }
        let set: JwkSet = response.json().await?;
        Ok(keys_of(&set))
    }
}

/// The usable keys of a JWKS: public RSA and EC keys with an algorithm Fieldbook accepts.
pub(super) fn keys_of(set: &JwkSet) -> Vec<Key> {
    set.keys
        .iter()
        .filter_map(|jwk| {
            let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
                (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
                (AlgorithmParameters::EllipticCurve(_), None | Some(KeyAlgorithm::ES256)) => {
                    Algorithm::ES256
                }
                _ => return None,
            };
            let decoding = DecodingKey::from_jwk(jwk).ok()?;
            Some(Key { kid: jwk.common.key_id.clone(), algorithm, decoding })
        })
        .collect()
}
