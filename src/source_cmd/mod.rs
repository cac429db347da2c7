//! `sluice source`: run a source task — PostgreSQL (this module) — publishing change events to
//! Kafka, with the built-in registry embedded when `[registry] listen` is set.
//!
//! Self-healing: a retriable failure (connection lost, broker unavailable) restarts the task from
//! the source's last acknowledged position after a backoff; a fatal one stops it with the
//! message that names the fix. Source state (whether this source created its slot) lives in the
//! Kafka state topic, so a slot that disappears is reported instead of silently re-created.

use anyhow::{bail, Context};
use sluice_avro::schema_gen::{EnvelopeOptions, SourceKind};
use sluice_avro::RegistryClient;
use sluice_core::Source;
use sluice_kafka::admin::TopicAdmin;
use sluice_kafka::state::StateTopic;
use sluice_kafka::{EventProducer, KafkaConfig};
use sluice_postgres::source::{PgSource, PgSourceConfig, SlotOutcome};

mod mysql;

use crate::config::{Config, SourceConfig};
use crate::pipeline::publish::{self, PublishOptions, Publisher};
use crate::service::{supervise, Service};

pub async fn run(cfg: Config, reset_state: bool) -> anyhow::Result<()> {
    let Some(source_cfg) = cfg.source.clone() else { bail!("`sluice source` needs a [source] section") };
    let kafka = cfg.kafka.clone().context("`sluice source` needs a [kafka] section")?;
    let service = Service::start(&cfg, "source").await?;
    let registry_cfg = cfg
        .registry
        .clone()
        .context("`sluice source` needs a [registry] section (url, or listen for the built-in one)")?;
    let _embedded = match registry_cfg.listen.filter(|_| registry_cfg.url.is_none()) {
        Some(listen) => {
            let mut server = sluice_registry::RegistryConfig::new(listen, kafka.bootstrap_servers.clone());
            server.topic = registry_cfg.topic.clone();
            server.kafka_properties = kafka.properties.clone();
            Some(sluice_registry::start(server).await?)
        }
        None => None,
    };
    let url = registry_cfg.client_url().context("[registry] needs url or listen")?;
    let state = StateTopic::open(&kafka, &kafka.state_topic).await?;
    let key = match &source_cfg {
        SourceConfig::Postgres(pg) => format!("postgres:{}:{}", pg.topic_prefix, pg.slot),
        SourceConfig::Mysql(my) => format!("mysql:{}", my.topic_prefix),
    };
    if reset_state {
        state.store(&key, None).await?;
        tracing::warn!(key, "source state reset");
    }

    let strategy = registry_cfg.subject_name_strategy;
    let (kafka, url, state, key, service) = (&kafka, url.as_str(), &state, key.as_str(), &service);
    supervise(service, "from the last acknowledged position", |stop| {
        let source_cfg = &source_cfg;
        async move {
            match source_cfg {
                SourceConfig::Postgres(pg) => {
                    run_once(pg, kafka, (url, strategy), state, key, service, stop).await
                }
                SourceConfig::Mysql(my) => {
                    mysql::run_once(my, kafka, (url, strategy), state, key, service, stop).await
                }
            }
        }
    })
    .await
}

/// The publishing half shared by every source kind.
pub(crate) fn publisher(
    kafka: &KafkaConfig,
    url: &str,
    subject_strategy: sluice_avro::SubjectNameStrategy,
    topic_prefix: &str,
    kind: SourceKind,
) -> anyhow::Result<Publisher> {
    let producer = EventProducer::new(kafka, &kafka.producer)?;
    let admin = TopicAdmin::new(kafka)?;
    let registry = RegistryClient::new(url)?;
    let opts = PublishOptions {
        envelope: EnvelopeOptions { topic_prefix: topic_prefix.to_owned(), source: kind },
        subject_strategy,
        topic_partitions: kafka.topic_partitions,
        tombstones: true,
    };
    Ok(Publisher::new(producer, admin, registry, opts))
}

async fn run_once(
    pg: &PgSourceConfig,
    kafka: &KafkaConfig,
    (url, subject_strategy): (&str, sluice_avro::SubjectNameStrategy),
    state: &StateTopic,
    key: &str,
    service: &Service,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let known = state.load(key).await?.is_some();
    let outcome = PgSource::prepare(pg, !known).await?;
    // Record the slot before streaming from it, so a crash right after creating it cannot make
    // a later start silently create another one.
    match &outcome {
        SlotOutcome::Created(lsn) => {
            let record = serde_json::json!({"slot": pg.slot, "created_at_lsn": lsn.to_string()});
            state.store(key, Some(record.to_string().as_bytes())).await?;
        }
        SlotOutcome::Existing(lsn) if !known => {
            let record = serde_json::json!({"slot": pg.slot, "adopted_at_lsn": lsn.to_string()});
            state.store(key, Some(record.to_string().as_bytes())).await?;
        }
        SlotOutcome::Existing(_) => {}
    }
    let mut source = PgSource::open(pg.clone()).await?;
    let mut publisher = publisher(kafka, url, subject_strategy, &pg.topic_prefix, SourceKind::Postgres)?;
    service.ready.set_ready();
    let result = publish::run(&mut source, &mut publisher, stop).await;
    source.close().await;
    result
}
