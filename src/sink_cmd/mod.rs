//! `sluice sink`: read `[sink]`, look its `type` up in [`crate::targets`] and run that target
//! through the sink runtime ([`sluice_sink`]) under the supervisor: a retriable failure (target
//! or broker unreachable, at start or later) drops the consumer and the target connection
//! (rolling back the open transaction) and restarts after a backoff from the offsets stored in
//! the target; a fatal one (wrong settings, undecodable record, constraint violation, unsafe
//! schema change) stops with its message.

use anyhow::Context;
use sluice_kafka::{ConsumerOptions, Subscription};
use sluice_sink::{RunArgs, RuntimeOptions};

use crate::config::{Config, OnError};
use crate::service::{supervise, Service};

/// Run the config's sink under `service` (started by the caller) until stopped or fatal.
pub async fn run(cfg: Config, service: &Service) -> anyhow::Result<()> {
    let sink = cfg.sink.clone().context("`sluice sink` needs a [sink] section")?;
    let target = sink.target().map_err(anyhow::Error::msg)?;
    let subscription = match &sink.topic_regex {
        Some(r) => Subscription::Regex(r.clone()),
        None => Subscription::Topics(sink.topics.clone()),
    };
    let kafka = cfg.kafka.clone().context("`sluice sink` needs a [kafka] section")?;
    let url = cfg
        .registry
        .as_ref()
        .and_then(|r| r.client_url())
        .context("`sluice sink` needs [registry] url to decode records")?;
    let extra_topics = match (&sink.transaction_topic, sink.transaction_consistent) {
        (Some(t), true) => vec![t.clone()],
        _ => Vec::new(),
    };
    let options = ConsumerOptions {
        group_id: sink.group_id.clone(),
        subscription,
        extra_topics,
        instance_id: sink.instance_id(),
        prefetch_records: 2 * sink.batch_max_events,
    };
    let task = match &options.instance_id {
        Some(i) => format!("{}:{i}", sink.name),
        None => sink.name.clone(),
    };
    let runtime = RuntimeOptions {
        name: sink.name.clone(),
        consumer: options,
        batch_max_events: sink.batch_max_events,
        batch_max_ms: sink.batch_max_ms,
        registry_url: url,
        dead_letter_topic: (sink.on_error == OnError::DeadLetter).then(|| sink.dead_letter_topic()),
        transaction_topic: sink.transaction_topic.clone().filter(|_| sink.transaction_consistent),
        idle_commit: None,
    };
    let tracker = crate::status::Tracker::start(&kafka, "sink", &task).await?;
    let ready = || service.ready.set_ready();
    let (runtime, kafka_ref, settings) = (&runtime, &kafka, &sink.settings);
    let result = supervise(service, "from the offsets stored in the target", |stop| async move {
        let args = RunArgs { options: runtime, kafka: kafka_ref, ready: &ready, stop };
        Ok(target.run(settings, args).await?)
    })
    .await;
    tracker.finish(&crate::status::final_phase(&result)).await;
    result
}
