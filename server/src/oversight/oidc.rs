//! Sign-in through the council's identity provider: OpenID Connect, authorisation code flow with
//! PKCE (`openidconnect`). `GET /oversight/sign-in` sends the browser to the provider with a
//! fresh state, nonce and PKCE challenge, remembered here under a random id in a short-lived
//! cookie; `GET /oversight/callback` takes them back (once), checks the state, exchanges the
//! code with the PKCE verifier, verifies the ID token (signature by the provider's JWKS, issuer,
//! audience, expiry, nonce) and maps its claims to a Fieldbook identity
//! ([`crate::auth::identity_from_claims`]: `sub`, `role`, `team`).
//!
//! The provider's discovery document (and with it its JWKS) is fetched when first needed and
//! again after [`METADATA_MAX_AGE`], so start-up does not depend on the provider being up and a
//! key rotation is picked up. Nothing of a token is logged.
//!
//! Sign-out ends the provider's session too (OpenID Connect RP-Initiated Logout): the session
//! keeps the ID token it was created from, and `POST /oversight/sign-out` sends the browser to the
//! provider's `end_session_endpoint` (from discovery) with it as `id_token_hint` and
//! `post_logout_redirect_uri` [`Oidc::post_logout_url`] (this server's sign-in page, which must
//! be registered at the provider). A provider without that endpoint ends only the local session.

#[cfg(feature = "oidc")]
use std::collections::HashMap;
#[cfg(feature = "oidc")]
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
#[cfg(feature = "oidc")]
use std::time::Instant;

#[cfg(feature = "oidc")]
use base64::Engine;
#[cfg(feature = "oidc")]
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreIdToken};
#[cfg(feature = "oidc")]
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, LogoutRequest, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl, Scope,
};

use super::pages::PageError;
#[cfg(feature = "oidc")]
use super::session::{random_token, same};
use crate::auth::Identity;

/// How long the provider's discovery document and keys are used before they are fetched again.
pub const METADATA_MAX_AGE: Duration = Duration::from_secs(600);
/// How long a sign-in may take at the provider before its state is forgotten.
pub const PENDING_TTL: Duration = Duration::from_secs(600);
/// Sign-ins in progress kept at once (the oldest is dropped beyond this).
#[cfg(feature = "oidc")]
const MAX_PENDING: usize = 10_000;
/// The scopes asked for: `fieldbook` carries the `role` and `team` claims.
pub const SCOPES: [&str; 1] = ["fieldbook"];

/// The provider and this server's registration with it (`--oidc-*` options).
#[derive(Clone)]
pub struct OidcConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// This server's callback, `https://<host>/oversight/callback`, as registered at the provider.
    pub redirect_url: String,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<redacted>"))
            .field("redirect_url", &self.redirect_url)
            .finish()
    }
}

/// A configuration the server must not start with.
#[derive(Debug, thiserror::Error)]
pub enum OidcConfigError {
    #[error("the OpenID issuer is not a URL: {0}")]
    Issuer(String),
    #[error("the OpenID redirect URL is not a URL: {0}")]
    Redirect(String),
    #[error("the OpenID HTTP client could not be built: {0}")]
    Client(String),
    #[error("this server was built without OpenID Connect sign-in (the `oidc` feature)")]
    NotBuilt,
}

#[cfg(feature = "oidc")]
struct Pending {
    state: String,
    nonce: Nonce,
    verifier: PkceCodeVerifier,
    expires: Instant,
}

#[cfg(feature = "oidc")]
type Discovered = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The relying party: the configuration, the cached provider metadata, the sign-ins in flight.
#[cfg(feature = "oidc")]
pub struct Oidc {
    config: OidcConfig,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    post_logout: PostLogoutRedirectUrl,
    http: reqwest::Client,
    metadata: tokio::sync::Mutex<Option<(ProviderMetadataWithLogout, Instant)>>,
    pending: Mutex<HashMap<String, Pending>>,
}

#[cfg(feature = "oidc")]
impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc").field("config", &self.config).finish_non_exhaustive()
    }
}

/// A finished sign-in: who, and the verified ID token (kept by the session for sign-out).
pub struct SignedIn {
    pub identity: Identity,
    pub id_token: String,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn").field("identity", &self.identity).finish_non_exhaustive()
    }
}

/// Where the provider sends the browser to, and the id of the sign-in for its cookie.
#[derive(Debug)]
pub struct Started {
    pub login_id: String,
    pub url: String,
}

#[cfg(feature = "oidc")]
impl Oidc {
    pub fn new(config: OidcConfig) -> Result<Self, OidcConfigError> {
        let issuer = IssuerUrl::new(config.issuer.clone())
            .map_err(|e| OidcConfigError::Issuer(e.to_string()))?;
        let redirect = RedirectUrl::new(config.redirect_url.clone())
            .map_err(|e| OidcConfigError::Redirect(e.to_string()))?;
        // Beside the callback: `.../oversight/callback` -> `.../oversight/sign-in`.
        let post_logout = redirect
            .url()
            .join("sign-in")
            .map(PostLogoutRedirectUrl::from_url)
            .map_err(|e| OidcConfigError::Redirect(e.to_string()))?;
        // No redirects: the token endpoint must answer itself (an SSRF guard the crate asks for).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| OidcConfigError::Client(e.to_string()))?;
        Ok(Self {
            config,
            issuer,
            redirect,
            post_logout,
            http,
            metadata: tokio::sync::Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
        })
    }

    /// Where the provider sends the browser after its sign-out: this server's sign-in page.
    pub fn post_logout_url(&self) -> &str {
        self.post_logout.as_str()
    }

    async fn metadata(&self) -> Result<ProviderMetadataWithLogout, PageError> {
        let mut cached = self.metadata.lock().await;
        let fresh = cached.as_ref().filter(|(_, at)| at.elapsed() < METADATA_MAX_AGE);
        let metadata = match fresh {
            Some((m, _)) => m.clone(),
            None => {
                let m = ProviderMetadataWithLogout::discover_async(self.issuer.clone(), &self.http)
                    .await
                    .map_err(|e| {
                        tracing::error!(error = %e, "OpenID discovery failed");
                        PageError::Provider
                    })?;
                *cached = Some((m.clone(), Instant::now()));
                m
            }
        };
        Ok(metadata)
    }

    async fn client(&self) -> Result<Discovered, PageError> {
        Ok(CoreClient::from_provider_metadata(
            self.metadata().await?,
            ClientId::new(self.config.client_id.clone()),
            self.config.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(self.redirect.clone()))
    }

    /// A new sign-in: the provider's authorisation URL with state, nonce and PKCE challenge.
    pub async fn start(&self) -> Result<Started, PageError> {
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in SCOPES {
            request = request.add_scope(Scope::new(scope.into()));
        }
        let (url, state, nonce) = request.url();
        let login_id = random_token()?;
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        pending.retain(|_, p| p.expires > now);
        if pending.len() >= MAX_PENDING {
            if let Some(oldest) =
                pending.iter().min_by_key(|(_, p)| p.expires).map(|(k, _)| k.clone())
            {
                pending.remove(&oldest);
            }
        }
        pending.insert(
            login_id.clone(),
            Pending { state: state.secret().clone(), nonce, verifier, expires: now + PENDING_TTL },
        );
        Ok(Started { login_id, url: url.to_string() })
    }

    /// The provider's answer: the sign-in `login_id` (from its cookie) is used up whatever
    /// happens, so a code or state can be tried once only.
    pub async fn finish(
        &self,
        login_id: &str,
        state: &str,
        code: &str,
    ) -> Result<SignedIn, PageError> {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(login_id)
            .filter(|p| p.expires > Instant::now())
            .ok_or(PageError::Csrf)?;
        if !same(&pending.state, state) {
            tracing::warn!("OpenID callback with a state that is not the sign-in's");
            return Err(PageError::Csrf);
        }
        let client = self.client().await?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| {
                tracing::error!(error = %e, "the provider has no token endpoint");
                PageError::Provider
            })?
            .set_pkce_verifier(pending.verifier)
            .request_async(&self.http)
            .await
            .map_err(|e| {
                // The error names the kind (invalid_grant, ...), never the code or a token.
                tracing::warn!(error = %e, "the code exchange was refused");
                PageError::Unauthenticated
            })?;
        use openidconnect::TokenResponse;
        let id_token = response.id_token().ok_or_else(|| {
            tracing::warn!("the token response has no ID token");
            PageError::Unauthenticated
        })?;
        id_token.claims(&client.id_token_verifier(), &pending.nonce).map_err(|e| {
            tracing::warn!(error = %e, "the ID token was refused");
            PageError::Unauthenticated
        })?;
        // Verified above (signature over these very bytes, issuer, audience, expiry, nonce): its
        // payload's Fieldbook claims are read as the device API reads a token's.
        let jwt = id_token.to_string();
        let payload = jwt.split('.').nth(1).ok_or(PageError::Unauthenticated)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| PageError::Unauthenticated)?;
        let claims: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|_| PageError::Unauthenticated)?;
        let identity = crate::auth::identity_from_claims(&claims).map_err(|e| {
            tracing::warn!(error = ?e, "the ID token's claims are not a Fieldbook identity");
            PageError::Unauthenticated
        })?;
        Ok(SignedIn { identity, id_token: jwt })
    }

    /// The provider's end-session URL for a session created from `id_token` (with it as
    /// `id_token_hint`, this client's id and [`Self::post_logout_url`]), or `None` when the
    /// provider's discovery names no `end_session_endpoint`.
    pub async fn end_session_url(&self, id_token: &str) -> Result<Option<String>, PageError> {
        let metadata = self.metadata().await?;
        let Some(endpoint) = metadata.additional_metadata().end_session_endpoint.clone() else {
            return Ok(None);
        };
        let hint: CoreIdToken = id_token.parse().map_err(|_| {
            tracing::error!("a session's ID token no longer parses");
            PageError::Internal
        })?;
        let url = LogoutRequest::from(endpoint)
            .set_id_token_hint(&hint)
            .set_client_id(ClientId::new(self.config.client_id.clone()))
            .set_post_logout_redirect_uri(self.post_logout.clone())
            .http_get_url();
        Ok(Some(url.to_string()))
    }
}

/// A build without the `oidc` feature (the fuzz build, which leaves the sign-in crates out):
/// no relying party can exist, so `--oidc-issuer` is refused at start-up and the sign-in page
/// offers the static-token form. The methods match the real ones so callers compile unchanged.
#[cfg(not(feature = "oidc"))]
#[derive(Debug)]
pub enum Oidc {}

#[cfg(not(feature = "oidc"))]
impl Oidc {
    pub fn new(_config: OidcConfig) -> Result<Self, OidcConfigError> {
        Err(OidcConfigError::NotBuilt)
    }

    pub async fn start(&self) -> Result<Started, PageError> {
        match *self {}
    }

    pub async fn finish(&self, _: &str, _: &str, _: &str) -> Result<SignedIn, PageError> {
        match *self {}
    }

    pub fn post_logout_url(&self) -> &str {
        match *self {}
    }

    pub async fn end_session_url(&self, _id_token: &str) -> Result<Option<String>, PageError> {
        match *self {}
    }
}
