//! Logging and metrics setup, done once at process start.
//!
//! Logs go to stderr as text or JSON (`[log] format`), filtered by `RUST_LOG` or `[log] level`.
//! Metrics go to a Prometheus recorder whose handle the HTTP listener renders on `/metrics`.
//! Installing either twice in one process is an error that `init_*` reports, not a panic.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

pub fn init_logging(cfg: &LogConfig) -> anyhow::Result<()> {
    // pg_walstream logs every standby status update at INFO: keep it at WARN unless asked.
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(format!("pg_walstream=warn,librdkafka=warn,{}", cfg.level)))?;
    // Colours only on a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let res = match cfg.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    res.map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))
}

/// Install the global Prometheus recorder and describe process-wide metrics.
pub fn init_metrics() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new().install_recorder()?;
    metrics::describe_gauge!(crate::http::METRIC_UP, "1 while the process runs; labels: command");
    metrics::describe_counter!(
        crate::http::METRIC_HTTP_REQUESTS,
        "Requests served by the observability listener"
    );
    Ok(handle)
}
