//! Broker preflight: a metadata request must succeed within the timeout.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use sluice_core::Check;

use crate::config::KafkaConfig;

/// Ask the cluster for metadata; pass with the broker and topic counts.
pub async fn ensure_broker_reachable(endpoint: &str, cfg: &KafkaConfig, timeout: Duration) -> Check {
    let cfg = cfg.clone();
    let bootstrap = cfg.bootstrap_servers.clone();
    let res = tokio::task::spawn_blocking(move || -> Result<(usize, usize), String> {
        let consumer: BaseConsumer = cfg
            .client_config()
            .set("log_level", "0")
            .create()
            .map_err(|e| format!("invalid client configuration: {e}"))?;
        let md = consumer.fetch_metadata(None, timeout).map_err(|e| e.to_string())?;
        Ok((md.brokers().len(), md.topics().len()))
    })
    .await;
    match res {
        Ok(Ok((brokers, topics))) => Check::pass(
            endpoint,
            "metadata",
            format!("{brokers} broker(s), {topics} topic(s) at {bootstrap}"),
        ),
        Ok(Err(e)) => Check::error(
            endpoint,
            "metadata",
            format!("no metadata from {bootstrap} within {}s: {e}", timeout.as_secs()),
            "check bootstrap_servers and that the broker is running",
        ),
        Err(e) => Check::error(endpoint, "metadata", e.to_string(), ""),
    }
}
