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
use sluice_core::Lsn;
use sluice_core::Source;
use sluice_kafka::admin::TopicAdmin;
use sluice_kafka::state::StateTopic;
use sluice_kafka::{EventProducer, KafkaConfig};
use sluice_kinesis::{KinesisConfig, KinesisProducer};
use sluice_postgres::source::snapshot::SnapshotOrigin;
use sluice_postgres::source::{MigrationType, PgSource, PgSourceConfig, SlotOutcome};

mod mysql;
mod progress;
mod schema_history;
mod snapshot;

use crate::config::{Config, SourceConfig};
use crate::pipeline::outlet::Outlet;
use crate::pipeline::publish::{self, PublishOptions, Publisher};
use crate::service::{supervise, Service};

/// Run the config's source under `service` (started by the caller) until stopped or fatal.
pub async fn run(cfg: Config, reset_state: bool, service: &Service) -> anyhow::Result<()> {
    let Some(source_cfg) = cfg.source.clone() else { bail!("`sluice source` needs a [source] section") };
    let kafka = cfg.kafka.clone().context("`sluice source` needs a [kafka] section")?;
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
    let key = task_name(&source_cfg);
    if reset_state {
        state.store(&key, None).await?;
        state.store(&snapshot_key(&key), None).await?;
        state.store(&full_load_key(&key), None).await?;
        tracing::warn!(key, "source state reset");
    }

    let tracker = crate::status::Tracker::start(&kafka, "source", &key).await?;
    let strategy = registry_cfg.subject_name_strategy;
    let brokers = Brokers { kinesis: cfg.kinesis_broker()?.cloned(), kafka };
    let (brokers, url, state, key) = (&brokers, url.as_str(), &state, key.as_str());
    let result = supervise(service, "from the last acknowledged position", |stop| {
        let source_cfg = &source_cfg;
        async move {
            match source_cfg {
                SourceConfig::Postgres(pg) => {
                    run_once(pg, brokers, (url, strategy), state, key, service, stop).await
                }
                SourceConfig::Mysql(my) => {
                    mysql::run_once(my, brokers, (url, strategy), state, key, service, stop).await
                }
            }
        }
    })
    .await;
    tracker.finish(&crate::status::final_phase(&result)).await;
    result
}

/// The brokers a source task uses: Kafka for its state, status and (for now) the registry's
/// storage; Kinesis, when `[broker] type = "kinesis"`, for the change events.
pub(crate) struct Brokers {
    pub kafka: KafkaConfig,
    pub kinesis: Option<KinesisConfig>,
}

/// The source's name in its state and status records.
pub fn task_name(source: &SourceConfig) -> String {
    match source {
        SourceConfig::Postgres(pg) => format!("postgres:{}:{}", pg.topic_prefix, pg.slot),
        SourceConfig::Mysql(my) => format!("mysql:{}", my.topic_prefix),
    }
}

/// The publisher of a PostgreSQL source (with heartbeat events while streaming).
async fn pg_publisher(
    brokers: &Brokers,
    url: &str,
    subject_strategy: sluice_avro::SubjectNameStrategy,
    pg: &PgSourceConfig,
    heartbeats: bool,
) -> anyhow::Result<Publisher> {
    let every = if heartbeats { pg.heartbeat_interval() } else { None };
    publisher(
        brokers,
        url,
        subject_strategy,
        &pg.topic_prefix,
        SourceKind::Postgres,
        pg.decimal_handling_mode,
        every,
    )
    .await
}

/// The publishing half shared by every source kind.
pub(crate) async fn publisher(
    brokers: &Brokers,
    url: &str,
    subject_strategy: sluice_avro::SubjectNameStrategy,
    topic_prefix: &str,
    kind: SourceKind,
    decimal_handling: sluice_core::DecimalHandling,
    heartbeat_interval: Option<std::time::Duration>,
) -> anyhow::Result<Publisher> {
    let kafka = &brokers.kafka;
    let producer = match &brokers.kinesis {
        None => Outlet::Kafka {
            producer: EventProducer::new(kafka, &kafka.producer)?,
            admin: TopicAdmin::new(kafka)?,
        },
        Some(k) => Outlet::Kinesis(Box::new(KinesisProducer::new(k).await?)),
    };
    let registry = RegistryClient::new(url)?;
    let opts = PublishOptions {
        envelope: EnvelopeOptions { decimal_handling, ..EnvelopeOptions::new(topic_prefix, kind) },
        subject_strategy,
        topic_partitions: kafka.topic_partitions,
        tombstones: producer.keeps_tombstones(),
        heartbeat_interval,
        json: (kafka.format == sluice_kafka::ValueFormat::Json).then_some(kafka.json_schemas),
    };
    Ok(Publisher::new(producer, registry, opts))
}

/// Where a `full-load-and-cdc` source keeps its full-load progress.
fn snapshot_key(key: &str) -> String {
    format!("{key}:snapshot")
}

/// Where a `full-load` task keeps its progress.
fn full_load_key(key: &str) -> String {
    format!("{key}:full-load")
}

/// The slot record with `"snapshot"` set.
fn slot_record(mut record: serde_json::Value, snapshot: Option<&str>) -> String {
    if let (Some(obj), Some(s)) = (record.as_object_mut(), snapshot) {
        obj.insert("snapshot".into(), s.into());
    }
    record.to_string()
}

/// Migration type `full-load`: copy the tables from one snapshot (no slot), then return.
async fn run_full_load(
    pg: &PgSourceConfig,
    brokers: &Brokers,
    (url, subject_strategy): (&str, sluice_avro::SubjectNameStrategy),
    state: &StateTopic,
    key: &str,
    service: &Service,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let client = pg.connection.connect().await?;
    sluice_postgres::source::slot::ensure_tables_have_keys(&client, pg).await?;
    drop(client);
    // A full load alone publishes no heartbeats: it ends when the tables are copied.
    let mut publisher = pg_publisher(brokers, url, subject_strategy, pg, false).await?;
    service.ready.set_ready();
    tokio::pin!(stop);
    let outcome = snapshot::run_pg(
        pg,
        SnapshotOrigin::Fresh,
        Lsn(0),
        None,
        &mut publisher,
        state,
        &full_load_key(key),
        &mut stop,
    )
    .await?;
    if outcome == snapshot::Outcome::Complete {
        tracing::info!("migration type full-load: done, exiting");
    }
    Ok(())
}

async fn run_once(
    pg: &PgSourceConfig,
    brokers: &Brokers,
    (url, subject_strategy): (&str, sluice_avro::SubjectNameStrategy),
    state: &StateTopic,
    key: &str,
    service: &Service,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    if pg.migration_type == MigrationType::FullLoad {
        return run_full_load(pg, brokers, (url, subject_strategy), state, key, service, stop).await;
    }
    let record: Option<serde_json::Value> = match state.load(key).await? {
        Some(bytes) => Some(serde_json::from_slice(&bytes).context("reading the source state record")?),
        None => None,
    };
    let known = record.is_some();
    let wants_snapshot = pg.migration_type == MigrationType::FullLoadAndCdc;
    let outcome = PgSource::prepare(pg, !known).await?;
    // Record the slot before streaming from it, so a crash right after creating it cannot make
    // a later start silently create another one. A full load still to do is recorded in the same
    // write: a slot recorded without it (created by `cdc`, or before full loads existed) never
    // triggers one.
    let (exported, record, snapshot_pending) = match outcome {
        SlotOutcome::CreatedWithSnapshot(exported) => {
            // Progress of a load from another slot's snapshot must not be resumed.
            state.store(&snapshot_key(key), None).await?;
            let r = serde_json::json!({"slot": pg.slot, "created_at_lsn": exported.lsn.to_string()});
            state.store(key, Some(slot_record(r.clone(), Some("pending")).as_bytes())).await?;
            (Some(*exported), r, true)
        }
        SlotOutcome::Created(lsn) => {
            let r = serde_json::json!({"slot": pg.slot, "created_at_lsn": lsn.to_string()});
            state.store(key, Some(r.to_string().as_bytes())).await?;
            (None, r, false)
        }
        SlotOutcome::Existing(lsn) if !known => {
            // Adopted: whether its changes were ever loaded is unknown, so load the tables.
            let r = serde_json::json!({"slot": pg.slot, "adopted_at_lsn": lsn.to_string()});
            let pending = wants_snapshot.then_some("pending");
            state.store(&snapshot_key(key), None).await?;
            state.store(key, Some(slot_record(r.clone(), pending).as_bytes())).await?;
            (None, r, wants_snapshot)
        }
        SlotOutcome::Existing(_) => {
            let r = record.unwrap_or_default();
            let pending = r.get("snapshot").and_then(|s| s.as_str()) == Some("pending");
            (None, r, pending && wants_snapshot)
        }
    };
    let mut publisher = pg_publisher(brokers, url, subject_strategy, pg, true).await?;
    service.ready.set_ready();
    tokio::pin!(stop);
    if snapshot_pending {
        // With the slot's exported snapshot, the load shows the database at the slot's consistent
        // point. Resumed (the exported snapshot died with its connection), it reads the unfinished
        // chunks from a new snapshot — later than the consistent point — and streaming then
        // replays every change after the slot's confirmed position on top (docs/postgres.md).
        let snapshot_name = exported.as_ref().map(|e| e.snapshot.clone());
        let lsn = exported.as_ref().map_or(Lsn(0), |e| e.lsn);
        let origin = match &snapshot_name {
            Some(n) => SnapshotOrigin::Exported(n.as_str()),
            None => SnapshotOrigin::Fresh,
        };
        let done =
            snapshot::run_pg(pg, origin, lsn, exported, &mut publisher, state, &snapshot_key(key), &mut stop)
                .await?;
        if done == snapshot::Outcome::Stopped {
            return Ok(());
        }
        state.store(key, Some(slot_record(record, Some("done")).as_bytes())).await?;
    }
    let mut source = PgSource::open(pg.clone()).await?;
    sluice_core::stats::set_phase("cdc");
    let result = publish::run(&mut source, &mut publisher, &mut stop).await;
    source.close().await;
    result
}
