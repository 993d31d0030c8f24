//! Prometheus metrics, exposed at /metrics in the text format. Counters only carry route names
//! and status classes: nothing about workers, cases or records.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;

const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
pub(super) const ROUTES: [&str; 26] = [
    "/v1/sync",
    "/v1/attachments/{hash}",
    "/v1/attachments/{hash}/status",
    "/api/v1/cases/{case_id}",
    "/api/v1/records",
    "/api/v1/devices/keys/{key}/revoke",
    "/health",
    "/metrics",
    "/openapi.json",
    "/oversight",
    "/oversight/sign-in",
    "/oversight/callback",
    "/oversight/sign-out",
    "/oversight/teams/{team}",
    "/oversight/teams/{team}/workers/{worker}",
    "/oversight/teams/{team}/queue",
    "/oversight/cases/{case_id}",
    "/oversight/records/{record_id}",
    "/oversight/records/{record_id}/decision",
    "/oversight/board",
    "/oversight/exports/annex-a.csv",
    "/oversight/exports/annex-a.xlsx",
    "/oversight/exports/timeliness.csv",
    "/api/v1/oversight/annex-a",
    "/api/v1/oversight/timeliness",
    "other",
];
const CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];

#[derive(Debug, Default)]
pub struct Metrics {
    requests: [[AtomicU64; 4]; ROUTES.len()],
    sync_buckets: [AtomicU64; 11],
    sync_count: AtomicU64,
    sync_micros: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    docs_pushed: AtomicU64,
    docs_sent: AtomicU64,
}

impl Metrics {
    pub fn record_request(&self, route: &str, status: u16) {
        let r = ROUTES.iter().position(|x| *x == route).unwrap_or(ROUTES.len() - 1);
        let c = match status {
            200..=299 => 0,
            300..=399 => 1,
            400..=499 => 2,
            _ => 3,
        };
        self.requests[r][c].fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_sync(
        &self,
        took: Duration,
        bytes_in: usize,
        bytes_out: usize,
        pushed: usize,
        sent: usize,
    ) {
        let secs = took.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.sync_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sync_count.fetch_add(1, Ordering::Relaxed);
        self.sync_micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes_in as u64, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes_out as u64, Ordering::Relaxed);
        self.docs_pushed.fetch_add(pushed as u64, Ordering::Relaxed);
        self.docs_sent.fetch_add(sent as u64, Ordering::Relaxed);
    }

    pub fn render_text(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP fieldbook_http_requests_total HTTP requests by route and status class.\n",
        );
        out.push_str("# TYPE fieldbook_http_requests_total counter\n");
        for (r, route) in ROUTES.iter().enumerate() {
            for (c, class) in CLASSES.iter().enumerate() {
                let n = self.requests[r][c].load(Ordering::Relaxed);
                out.push_str(&format!(
                    "fieldbook_http_requests_total{{route=\"{route}\",status=\"{class}\"}} {n}\n"
                ));
            }
        }
        out.push_str("# HELP fieldbook_sync_duration_seconds Time to handle a sync exchange.\n");
        out.push_str("# TYPE fieldbook_sync_duration_seconds histogram\n");
        for (i, bound) in BUCKETS.iter().enumerate() {
            let n = self.sync_buckets[i].load(Ordering::Relaxed);
            out.push_str(&format!(
                "fieldbook_sync_duration_seconds_bucket{{le=\"{bound}\"}} {n}\n"
            ));
        }
        let count = self.sync_count.load(Ordering::Relaxed);
        out.push_str(&format!("fieldbook_sync_duration_seconds_bucket{{le=\"+Inf\"}} {count}\n"));
        let sum = self.sync_micros.load(Ordering::Relaxed) as f64 / 1e6;
        out.push_str(&format!("fieldbook_sync_duration_seconds_sum {sum}\n"));
        out.push_str(&format!("fieldbook_sync_duration_seconds_count {count}\n"));
        for (name, help, v) in [
            ("fieldbook_sync_bytes_received_total", "Sync request bytes.", &self.bytes_in),
            ("fieldbook_sync_bytes_sent_total", "Sync response bytes.", &self.bytes_out),
            (
                "fieldbook_sync_documents_pushed_total",
                "Documents pushed by devices.",
                &self.docs_pushed,
            ),
            ("fieldbook_sync_documents_sent_total", "Documents sent to devices.", &self.docs_sent),
        ] {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                v.load(Ordering::Relaxed)
            ));
        }
        out
    }
}

/// Prometheus metrics (text format): requests by route and status class, sync latency, bytes and
/// documents. No worker, case or record identifiers.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    security(()),
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String))
)]
pub(super) async fn render(State(state): State<AppState>) -> Response {
    ([("content-type", "text/plain; version=0.0.4")], state.metrics.render_text()).into_response()
}

/// Counts every request by its route template (never the concrete path, which holds case ids).
pub(super) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "other".to_string());
    let response = next.run(request).await;
    state.metrics.record_request(&route, response.status().as_u16());
    response
}
