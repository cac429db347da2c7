//! What every long-running subcommand shares: logging, the metrics recorder, the optional
//! observability listener, readiness, shutdown on SIGINT/SIGTERM, and the self-healing loop that
//! restarts a task after a retriable error (with the backoff `ErrorKind::retry_delay` defines)
//! and stops it on a fatal one.

use std::future::Future;

use sluice_core::ErrorKind;

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

/// Classify an error from any layer; unknown errors are fatal.
pub fn error_kind(e: &anyhow::Error) -> ErrorKind {
    for cause in e.chain() {
        if let Some(x) = cause.downcast_ref::<sluice_sink::RuntimeError>() {
            return x.kind();
        }
        if let Some(x) = cause.downcast_ref::<sluice_core::Error>() {
            return x.kind();
        }
        if let Some(x) = cause.downcast_ref::<sluice_postgres::PgError>() {
            return x.kind();
        }
        if let Some(x) = cause.downcast_ref::<sluice_mysql::MySqlError>() {
            return x.kind();
        }
        if let Some(x) = cause.downcast_ref::<sluice_kafka::KafkaError>() {
            return x.kind();
        }
        if let Some(x) = cause.downcast_ref::<sluice_avro::AvroError>() {
            return x.kind();
        }
        if let Some(x) = cause.downcast_ref::<sluice_registry::RegistryError>() {
            return if x.is_transient() { ErrorKind::Retriable } else { ErrorKind::Fatal };
        }
    }
    ErrorKind::Fatal
}

/// Run `task` until it returns `Ok` or a fatal error, restarting it after retriable errors with
/// backoff. Each run gets a future that completes on SIGINT/SIGTERM, so the task can flush and
/// acknowledge before returning; a signal during a backoff ends the loop with `Ok`.
/// `restart` says, for the log, where a restarted task resumes.
pub async fn supervise<F, Fut>(service: &Service, restart: &str, mut task: F) -> anyhow::Result<()>
where
    F: FnMut(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = || -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        let mut rx = stop_rx.clone();
        Box::pin(async move {
            let _ = rx.wait_for(|s| *s).await;
        })
    };
    let mut attempt = 0u32;
    loop {
        let started = std::time::Instant::now();
        match task(stopped()).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                // A run that lasted a while was healthy: this failure starts the backoff afresh.
                if started.elapsed().as_secs() > 60 {
                    attempt = 0;
                }
                service.ready.set_not_ready();
                let Some(delay) = error_kind(&e).retry_delay(attempt) else { return Err(e) };
                sluice_core::stats::set_phase(format!("restarting after: {e:#}"));
                attempt += 1;
                tracing::warn!(error = %format!("{e:#}"), attempt, retry_in_ms = delay.as_millis() as u64, "task failed; restarting {restart}");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = stopped() => return Ok(()),
                }
            }
        }
    }
}
