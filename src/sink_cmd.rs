//! `sluice sink`: consume change topics and apply them to the configured target, exactly once.
//!
//! Loop: poll up to a batch → decode (tombstones dropped) → `Sink::apply` → `Sink::commit` with
//! the batch's offsets (same target transaction as the rows) → commit the same offsets to the
//! broker. The broker commit is advisory: on start, and after every retriable failure, the task
//! is rebuilt from the offsets stored in the target, which take precedence.
//!
//! Self-healing: a retriable failure (target or broker unreachable) drops the consumer and the
//! target connection (rolling back the open transaction) and restarts after a backoff; a fatal one
//! (undecodable record, constraint violation, unsafe schema change) stops with its message.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sluice_avro::decode::{Decoded, EventDecoder};
use sluice_avro::RegistryClient;
use sluice_core::Sink;
use sluice_kafka::consumer::next_offsets;
use sluice_kafka::{ConsumerOptions, KafkaConfig, SinkConsumer, Subscription};
use sluice_postgres::{PgSink, PgSinkConfig};

use crate::config::{Config, PostgresSinkConfig, SinkConfig};
use crate::service::{supervise, Service};

/// Histogram: seconds from a batch's arrival to its target commit.
pub const METRIC_BATCH_SECONDS: &str = "sluice_sink_batch_duration_seconds";
/// Counter: records consumed (events and tombstones).
pub const METRIC_CONSUMED: &str = "sluice_sink_consumed_records_total";

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let pg = match cfg.sink.clone() {
        Some(SinkConfig::Postgres(pg)) => pg,
        Some(SinkConfig::Mysql(_)) => {
            bail!("[sink] type = \"mysql\" is not implemented yet; use type = \"postgres\"")
        }
        None => bail!("`sluice sink` needs a [sink] section"),
    };
    let subscription = match (&pg.topic_regex, pg.topics.is_empty()) {
        (Some(r), true) => Subscription::Regex(r.clone()),
        (None, false) => Subscription::Topics(pg.topics.clone()),
        _ => bail!("[sink] needs exactly one of `topics` and `topic_regex`"),
    };
    let kafka = cfg.kafka.clone().context("`sluice sink` needs a [kafka] section")?;
    let url = cfg
        .registry
        .as_ref()
        .and_then(|r| r.client_url())
        .context("`sluice sink` needs [registry] url to decode records")?;
    let service = Service::start(&cfg, "sink").await?;
    let options = ConsumerOptions { group_id: pg.group_id.clone(), subscription };
    let (pg, kafka, options, url, service) = (&pg, &kafka, &options, url.as_str(), &service);
    supervise(service, "from the offsets stored in the target", |stop| {
        run_once(pg, kafka, options, url, service, stop)
    })
    .await
}

async fn run_once(
    pg: &PostgresSinkConfig,
    kafka: &KafkaConfig,
    options: &ConsumerOptions,
    url: &str,
    service: &Service,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut target = PgSinkConfig::new(pg.connection.clone());
    target.table_pattern = pg.table_pattern.clone();
    target.schema_changes = pg.schema_changes;
    let mut sink = PgSink::connect(target, pg.name.clone()).await?;
    let stored = sink.stored_offsets().await?;
    tracing::info!(sink = %pg.name, group = %options.group_id, partitions = stored.len(), "resuming from the target's stored offsets");
    let consumer = SinkConsumer::new(kafka, options, &stored)?;
    let mut decoder = EventDecoder::new(RegistryClient::new(url)?);
    service.ready.set_ready();
    let max_wait = Duration::from_millis(pg.batch_max_ms);
    tokio::pin!(stop);
    loop {
        let records = tokio::select! {
            r = consumer.next_batch(pg.batch_max_events.max(1), max_wait) => r?,
            () = &mut stop => return Ok(()),
        };
        let started = Instant::now();
        let mut events = Vec::with_capacity(records.len());
        for r in &records {
            match decoder.decode(&r.topic, r.key.as_deref(), r.payload.as_deref()).await {
                Ok(Decoded::Event(ev)) => events.push(ev),
                Ok(Decoded::Tombstone { .. }) => {}
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("cannot decode record {}[{}]@{}", r.topic, r.partition, r.offset)))
                }
            }
        }
        metrics::counter!(METRIC_CONSUMED).increment(records.len() as u64);
        let offsets = next_offsets(&records);
        sink.apply(&events).await.context("applying a batch to the target")?;
        sink.commit(&offsets).await.context("committing a batch to the target")?;
        consumer.commit(&offsets)?;
        metrics::histogram!(METRIC_BATCH_SECONDS).record(started.elapsed().as_secs_f64());
        tracing::debug!(records = records.len(), events = events.len(), "batch applied");
    }
}
