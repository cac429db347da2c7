//! The observability listener: `/metrics` (Prometheus text), `/health` (the process is alive and
//! its event loop answers), `/ready` (the subcommand finished starting and can do work) and
//! `/status` (the task's table statistics as JSON).
//!
//! Every long-running subcommand starts it when `[http] listen` is set. `/ready` answers 503 until
//! the subcommand calls [`Readiness::set_ready`], and again while it restarts after a failure.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;

/// Gauge: 1 while the process runs.
pub const METRIC_UP: &str = "sluice_up";
/// Counter: requests to the observability listener, by path.
pub const METRIC_HTTP_REQUESTS: &str = "sluice_http_requests_total";

/// Shared readiness flag.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn set_not_ready(&self) {
        self.0.store(false, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

#[derive(Clone)]
struct AppState {
    metrics: PrometheusHandle,
    ready: Readiness,
}

/// Bind `addr` and serve in a background task. Returns the bound address (useful with port 0).
pub async fn serve(
    addr: SocketAddr,
    metrics: PrometheusHandle,
    ready: Readiness,
) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for /metrics: {e}"))?;
    let local = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(render_metrics))
        .route("/health", get(health))
        .route("/ready", get(readiness))
        .route("/status", get(status))
        .with_state(AppState { metrics, ready });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "observability listener stopped");
        }
    });
    tracing::info!(addr = %local, "serving /metrics, /health, /ready and /status");
    Ok(local)
}

async fn render_metrics(State(s): State<AppState>) -> impl IntoResponse {
    metrics::counter!(METRIC_HTTP_REQUESTS, "path" => "/metrics").increment(1);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render())
}

/// The task's table statistics (`sluice_core::stats::Report`) as JSON.
async fn status() -> impl IntoResponse {
    metrics::counter!(METRIC_HTTP_REQUESTS, "path" => "/status").increment(1);
    axum::Json(sluice_core::stats::report())
}

async fn health() -> impl IntoResponse {
    metrics::counter!(METRIC_HTTP_REQUESTS, "path" => "/health").increment(1);
    (StatusCode::OK, "ok\n")
}

async fn readiness(State(s): State<AppState>) -> impl IntoResponse {
    metrics::counter!(METRIC_HTTP_REQUESTS, "path" => "/ready").increment(1);
    if s.ready.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}
