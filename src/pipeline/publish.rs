//! The source half of a task: read batches from a [`Source`], encode each event with its
//! table's codec (registering schemas on first use), publish to the table's topic, and
//! acknowledge positions back to the source once the broker has acknowledged everything up to
//! them.
//!
//! Invariants:
//! - Events are produced in the order the source emits them; per key that is commit order
//!   (one key → one partition).
//! - A delete is followed by a tombstone with the same key (when enabled), so compacted topics
//!   drop the key.
//! - `Source::acknowledge` is called only with positions the producer released (see
//!   `sluice_kafka::producer`, `sluice_kinesis::producer`), in increasing order.
//! - A table whose schema changed gets a new codec; its schemas are registered before its first
//!   event is encoded, so every record's schema id is in the registry before the record exists.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use sluice_avro::schema_gen::EnvelopeOptions;
use sluice_avro::{EventEncoder, RegistryClient, SubjectNameStrategy, TableCodec};
use sluice_core::stats::TableStats;
use sluice_core::{ChangeEvent, Op, SnapshotMarker, Source, TableId, TableSchema, TransactionEvent};

use super::outlet::Outlet;

/// Counter: events published, labelled by table and op.
pub const METRIC_EVENTS: &str = "sluice_source_events_total";
/// Gauge: the last position acknowledged to the source, as a number (LSN) where it has one.
pub const METRIC_ACKED_LSN: &str = "sluice_source_acknowledged_lsn";

/// Settings of the publishing half.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    pub envelope: EnvelopeOptions,
    pub subject_strategy: SubjectNameStrategy,
    /// Partitions of each change topic created by Sluice.
    pub topic_partitions: i32,
    /// Send a tombstone after each delete.
    pub tombstones: bool,
    /// Publish a Debezium heartbeat event to `__debezium-heartbeat.<prefix>` at most this often
    /// (when the source returns a batch, which it does at least every source heartbeat).
    pub heartbeat_interval: Option<Duration>,
    /// `Some(schemas_enabled)`: write Kafka Connect JSON instead of registry-framed Avro.
    pub json: Option<bool>,
}

/// The Debezium schemas of a side topic: record names and schema builders.
#[derive(Clone, Copy)]
struct SideSchemas {
    key_name: &'static str,
    key: fn() -> serde_json::Value,
    value_name: &'static str,
    value: fn() -> serde_json::Value,
}

const TRANSACTION_SCHEMAS: SideSchemas = SideSchemas {
    key_name: "io.debezium.connector.common.TransactionMetadataKey",
    key: sluice_avro::schema_gen::transaction_key_schema,
    value_name: "io.debezium.connector.common.TransactionMetadataValue",
    value: sluice_avro::schema_gen::transaction_value_schema,
};

const HEARTBEAT_SCHEMAS: SideSchemas = SideSchemas {
    key_name: "io.debezium.connector.common.ServerNameKey",
    key: sluice_avro::schema_gen::heartbeat_key_schema,
    value_name: "io.debezium.connector.common.Heartbeat",
    value: sluice_avro::schema_gen::heartbeat_value_schema,
};

pub struct Publisher {
    producer: Outlet,
    /// Side topics (transaction metadata, heartbeats) made ready, with their key and value
    /// schema ids.
    side_ids: HashMap<String, (u32, u32)>,
    /// When the last heartbeat was published.
    last_heartbeat: Option<Instant>,
    registry: RegistryClient,
    opts: PublishOptions,
    codecs: HashMap<TableId, TableCodec>,
    topics: HashSet<String>,
    encoder: EventEncoder,
    /// Counter handles by (table, op): resolving a labelled counter per event costs more than
    /// encoding the event.
    counters: HashMap<TableId, ([Option<metrics::Counter>; 5], Arc<TableStats>)>,
}

impl Publisher {
    pub fn new(producer: Outlet, registry: RegistryClient, opts: PublishOptions) -> Self {
        Self {
            producer,
            side_ids: HashMap::new(),
            last_heartbeat: None,
            registry,
            opts,
            codecs: HashMap::new(),
            topics: HashSet::new(),
            encoder: EventEncoder::default(),
            counters: HashMap::new(),
        }
    }

    /// The codec of this exact table schema, registering its schemas when new.
    async fn codec(&mut self, table: &Arc<TableSchema>) -> anyhow::Result<&TableCodec> {
        let fresh = match self.codecs.get(&table.id) {
            Some(c) => !(Arc::ptr_eq(&c.table, table) || *c.table == **table),
            None => true,
        };
        if fresh {
            if self.codecs.contains_key(&table.id) {
                // A new schema of a table already published: a DDL reached the stream.
                TableStats::add(&sluice_core::stats::table(&table.id).ddls, 1);
            }
            let mut codec = TableCodec::new(table.clone(), &self.opts.envelope);
            if !self.topics.contains(&codec.topic) {
                self.producer
                    .ensure_topic(&codec.topic, self.opts.topic_partitions)
                    .await
                    .with_context(|| format!("creating topic {}", codec.topic))?;
                self.topics.insert(codec.topic.clone());
            }
            if self.opts.json.is_some() {
                // JSON records carry their schema themselves (or none): nothing to register.
                self.codecs.insert(table.id.clone(), codec);
                return self.codecs.get(&table.id).context("codec cache");
            }
            let s = self.opts.subject_strategy;
            let ns = self.opts.envelope.record_namespace(table);
            let key_id = match codec.key_schema() {
                Some(k) => Some(
                    self.registry.register(&s.subject(&codec.topic, true, &format!("{ns}.Key")), k).await?,
                ),
                None => None,
            };
            let value_id = self
                .registry
                .register(&s.subject(&codec.topic, false, &format!("{ns}.Envelope")), codec.value_schema())
                .await?;
            codec.set_ids(key_id, value_id);
            tracing::info!(table = %table.id, version = table.version, value_schema_id = value_id, "registered schemas");
            self.codecs.insert(table.id.clone(), codec);
        }
        self.codecs.get(&table.id).context("codec cache")
    }

    /// Encode and produce one event (and its tombstone).
    pub async fn publish(&mut self, ev: &ChangeEvent) -> anyhow::Result<()> {
        self.codec(&ev.table).await?;
        let codec = self.codecs.get(&ev.table.id).context("codec cache")?;
        let has_key = match self.opts.json {
            None => self.encoder.encode(codec, ev)?,
            Some(schemas) => {
                let k = codec.encode_json_key(ev, schemas, &mut self.encoder.key)?;
                codec.encode_json_value(ev, schemas, &mut self.encoder.value)?;
                k
            }
        };
        let key = has_key.then_some(self.encoder.key.as_slice());
        self.producer.send(&codec.topic, key, Some(&self.encoder.value)).await?;
        if ev.op == Op::Delete && self.opts.tombstones && has_key {
            self.producer.send(&codec.topic, key, None).await?;
        }
        self.count(ev);
        Ok(())
    }

    fn count(&mut self, ev: &ChangeEvent) {
        let slot = match ev.op {
            Op::Create => 0,
            Op::Update => 1,
            Op::Delete => 2,
            Op::Read => 3,
            Op::Truncate => 4,
        };
        let (per_table, stats) = match self.counters.get_mut(&ev.table.id) {
            Some(c) => c,
            None => self
                .counters
                .entry(ev.table.id.clone())
                .or_insert_with(|| (Default::default(), sluice_core::stats::table(&ev.table.id))),
        };
        // Full-load rows are counted per acknowledged chunk (source_cmd::snapshot).
        if ev.op != Op::Read || ev.source.snapshot == SnapshotMarker::Incremental {
            stats.count_op(ev.op, 1);
        }
        per_table[slot]
            .get_or_insert_with(
                || metrics::counter!(METRIC_EVENTS, "table" => ev.table.id.to_string(), "op" => ev.op.code()),
            )
            .increment(1);
    }

    /// Make sure a side topic (transaction metadata, heartbeats) exists and, for Avro, that its
    /// key and value schemas are registered; their registry ids (`(0, 0)` for JSON, which
    /// registers nothing). Done once per topic.
    async fn side_topic(
        &mut self,
        topic: &str,
        partitions: i32,
        side: SideSchemas,
    ) -> anyhow::Result<(u32, u32)> {
        if let Some(ids) = self.side_ids.get(topic) {
            return Ok(*ids);
        }
        self.producer.ensure_topic(topic, partitions).await?;
        let ids = if self.opts.json.is_some() {
            (0, 0)
        } else {
            let s = self.opts.subject_strategy;
            let k = self.registry.register(&s.subject(topic, true, side.key_name), &(side.key)()).await?;
            let v =
                self.registry.register(&s.subject(topic, false, side.value_name), &(side.value)()).await?;
            (k, v)
        };
        self.side_ids.insert(topic.to_owned(), ids);
        Ok(ids)
    }

    /// Produce a transaction boundary to `<prefix>.transaction`, keyed by transaction id.
    pub async fn publish_transaction(&mut self, ev: &TransactionEvent) -> anyhow::Result<()> {
        let topic = format!("{}.transaction", self.opts.envelope.topic_prefix);
        let (key_id, value_id) =
            self.side_topic(&topic, self.opts.topic_partitions, TRANSACTION_SCHEMAS).await?;
        let (mut key, mut value) = (Vec::new(), Vec::new());
        match self.opts.json {
            Some(schemas) => {
                sluice_avro::encode::json::encode_transaction_json(ev, schemas, &mut key, &mut value)
            }
            None => sluice_avro::encode_transaction(ev, key_id, value_id, &mut key, &mut value),
        }
        self.producer.send(&topic, Some(&key), Some(&value)).await?;
        Ok(())
    }

    /// Publish a heartbeat (key `{serverName: <prefix>}`, value `{ts_ms}`) to
    /// `__debezium-heartbeat.<prefix>` when the interval has passed since the last one, as
    /// Debezium's `heartbeat.interval.ms` does: consumers see the source alive while idle.
    pub async fn maybe_heartbeat(&mut self) -> anyhow::Result<()> {
        let Some(every) = self.opts.heartbeat_interval else { return Ok(()) };
        if self.last_heartbeat.is_some_and(|t| t.elapsed() < every) {
            return Ok(());
        }
        self.last_heartbeat = Some(Instant::now());
        let prefix = self.opts.envelope.topic_prefix.clone();
        let topic = format!("__debezium-heartbeat.{prefix}");
        let (key_id, value_id) = self.side_topic(&topic, 1, HEARTBEAT_SCHEMAS).await?;
        let ts_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let (mut key, mut value) = (Vec::new(), Vec::new());
        match self.opts.json {
            Some(schemas) => sluice_avro::encode::json::encode_heartbeat_json(
                &prefix, ts_ms, schemas, &mut key, &mut value,
            ),
            None => sluice_avro::encode_heartbeat(&prefix, ts_ms, key_id, value_id, &mut key, &mut value),
        }
        self.producer.send(&topic, Some(&key), Some(&value)).await?;
        Ok(())
    }

    pub fn producer(&self) -> &Outlet {
        &self.producer
    }
}

/// Run `source` into `publisher` until `shutdown` completes or an error occurs. On shutdown,
/// waits (bounded) for in-flight records and acknowledges what they release.
pub async fn run<S: Source>(
    source: &mut S,
    publisher: &mut Publisher,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    let mut last_ack = Instant::now();
    loop {
        let batch = tokio::select! {
            b = source.next_batch() => b?,
            () = &mut shutdown => break,
        };
        let mut markers = batch.transactions.iter().peekable();
        for (i, ev) in batch.events.iter().enumerate() {
            while let Some((_, t)) = markers.next_if(|(at, _)| *at <= i) {
                publisher.publish_transaction(t).await?;
            }
            publisher.publish(ev).await?;
        }
        for (_, t) in markers {
            publisher.publish_transaction(t).await?;
        }
        if let Some(cp) = batch.checkpoint {
            publisher.producer().checkpoint(cp);
        }
        if batch.finished {
            tracing::info!("source reached its stop point; finishing");
            break;
        }
        publisher.maybe_heartbeat().await?;
        publisher.producer().check_failed()?;
        // Acknowledge at most every 100 ms: the source may batch status updates anyway.
        if last_ack.elapsed() >= Duration::from_millis(100) {
            if let Some(pos) = publisher.producer().take_released() {
                acknowledge(source, pos).await?;
            }
            last_ack = Instant::now();
        }
    }
    publisher.producer().flush(Duration::from_secs(30)).await?;
    if let Some(pos) = publisher.producer().take_released() {
        acknowledge(source, pos).await?;
    }
    Ok(())
}

async fn acknowledge<S: Source>(source: &mut S, pos: sluice_core::Position) -> anyhow::Result<()> {
    if let sluice_core::Position::Postgres(lsn) = &pos {
        metrics::gauge!(METRIC_ACKED_LSN).set(lsn.0 as f64);
    }
    tracing::debug!(position = %pos, "acknowledging to source");
    source.acknowledge(pos).await?;
    Ok(())
}
