//! `sluice sink`: read the `[sink]` configuration, connect the target and run the sink runtime
//! ([`sluice_sink::run`]) under the supervisor: a retriable failure (target or broker
//! unreachable) drops the consumer and the target connection (rolling back the open transaction)
//! and restarts after a backoff from the offsets stored in the target; a fatal one (undecodable
//! record, constraint violation, unsafe schema change) stops with its message.

use anyhow::Context;
use sluice_core::Sink;
use sluice_kafka::{ConsumerOptions, KafkaConfig, Subscription};
use sluice_mysql::{MySqlSink, MySqlSinkConfig};
use sluice_postgres::{PgSink, PgSinkConfig};
use sluice_sink::RuntimeOptions;

use crate::config::{Config, OnError, SinkConfig, SinkEndpoint};
use crate::service::{supervise, Service};

/// Everything a run of the sink task needs, fixed for the life of the process.
struct Plan<'a> {
    cfg: &'a SinkConfig,
    endpoint: &'a SinkEndpoint,
    kafka: &'a KafkaConfig,
    runtime: RuntimeOptions,
    service: &'a Service,
}

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let sink = cfg.sink.clone().context("`sluice sink` needs a [sink] section")?;
    let endpoint = sink.endpoint().map_err(anyhow::Error::msg)?;
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
    let service = Service::start(&cfg, "sink").await?;
    let extra_topics = match (&sink.transaction_topic, sink.transaction_consistent) {
        (Some(t), true) => vec![t.clone()],
        _ => Vec::new(),
    };
    let options = ConsumerOptions {
        group_id: sink.group_id.clone(),
        subscription,
        extra_topics,
        instance_id: sink.instance_id(),
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
    };
    let plan = Plan { cfg: &sink, endpoint: &endpoint, kafka: &kafka, runtime, service: &service };
    let plan = &plan;
    let tracker = crate::status::Tracker::start(&kafka, "sink", &task).await?;
    let result = supervise(&service, "from the offsets stored in the target", |stop| async move {
        match plan.endpoint {
            SinkEndpoint::Postgres(pg) => {
                let mut target = PgSinkConfig::new(pg.clone());
                target.table_pattern = plan.cfg.table_pattern.clone();
                target.schema_changes = plan.cfg.schema_changes;
                run_once(plan, PgSink::connect(target, plan.cfg.name.clone()).await?, stop).await
            }
            SinkEndpoint::Mysql(my) => {
                let target = MySqlSinkConfig {
                    connection: my.clone(),
                    table_pattern: plan.cfg.table_pattern.clone(),
                    schema_changes: plan.cfg.schema_changes,
                    unrepresentable_values: plan.cfg.unrepresentable_values,
                };
                run_once(plan, MySqlSink::connect(target, plan.cfg.name.clone()).await?, stop).await
            }
        }
    })
    .await;
    tracker.finish(&crate::status::final_phase(&result)).await;
    result
}

/// One run of the runtime against a connected target.
async fn run_once<S: Sink>(
    plan: &Plan<'_>,
    sink: S,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let ready = || plan.service.ready.set_ready();
    Ok(sluice_sink::run(&plan.runtime, plan.kafka, sink, ready, stop).await?)
}
