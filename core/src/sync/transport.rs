//! Carrying one sync exchange over HTTP: the `Transport` trait (so tests can inject faults), its
//! reqwest implementation (rustls, timeouts), and the retry policy, in one place.

use std::future::Future;
use std::time::Duration;

use crate::protocol::CONTENT_TYPE;

/// The HTTP outcome of one POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No connection could be made (no signal, DNS, refused): the device is offline.
    #[error("offline: {0}")]
    Offline(String),
    /// The connection broke or timed out after the request may have reached the server.
    #[error("the exchange was interrupted: {0}")]
    Interrupted(String),
}

/// Posts a sync body with a bearer token.
pub trait Transport: Send + Sync {
    fn post(
        &self,
        body: Vec<u8>,
        token: String,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> + Send;
}

/// reqwest with rustls, connect and overall timeouts.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    url: String,
}

impl HttpTransport {
    /// `base_url` is the server's root (`https://sync.council.example`); the sync path is added.
    pub fn new(
        base_url: &str,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Self, TransportError> {
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .use_rustls_tls()
            .build()
            .map_err(|e| TransportError::Offline(format!("client: {e}")))?;
        Ok(Self { client, url: format!("{}/v1/sync", base_url.trim_end_matches('/')) })
    }
}

impl Transport for HttpTransport {
    async fn post(&self, body: Vec<u8>, token: String) -> Result<HttpResponse, TransportError> {
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                // Never include the request (it holds the token) in the message.
                let e = e.without_url();
                if e.is_connect() {
                    TransportError::Offline(e.to_string())
                } else {
                    TransportError::Interrupted(e.to_string())
                }
            })?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| TransportError::Interrupted(e.without_url().to_string()))?
            .to_vec();
        Ok(HttpResponse { status, body })
    }
}

/// Retries with exponential backoff and full jitter.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { attempts: 4, base: Duration::from_millis(200), max: Duration::from_secs(5) }
    }
}

impl RetryPolicy {
    /// The pause before retry number `attempt` (1-based): uniform in [0, min(max, base·2^attempt)].
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.base.saturating_mul(1u32 << attempt.min(16)).min(self.max);
        ceiling.mul_f64(fastrand::f64())
    }

    /// Whether an HTTP status is worth retrying (the server was busy or failed).
    pub fn retry_status(status: u16) -> bool {
        matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
    }
}
