//! What every long-running subcommand shares: logging, the metrics recorder, the optional
//! observability listener, readiness, and shutdown on SIGINT/SIGTERM.

use crate::config::Config;
use crate::http::{self, Readiness};
use crate::telemetry;

/// Process-wide state of a running subcommand.
pub struct Service {
    pub ready: Readiness,
}

impl Service {
    /// Set up logging and metrics, and serve `/metrics`, `/health`, `/ready` when `[http]` is set.
    pub async fn start(cfg: &Config, command: &'static str) -> anyhow::Result<Self> {
        telemetry::init_logging(&cfg.log)?;
        let handle = telemetry::init_metrics()?;
        metrics::gauge!(http::METRIC_UP, "command" => command).set(1.0);
        let ready = Readiness::default();
        if let Some(h) = &cfg.http {
            http::serve(h.listen, handle, ready.clone()).await?;
        }
        Ok(Self { ready })
    }
}

/// Completes on the first SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown requested");
}
