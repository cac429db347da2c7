//! `sluice sink`: consume change topics and apply them to the configured target, exactly once.
//!
//! Loop: poll up to a batch → decode (tombstones dropped) → `Sink::apply` → `Sink::commit` with
//! the batch's offsets (same target transaction as the rows) → commit the same offsets to the
//! broker. The broker commit is advisory: on start, and after every retriable failure, the task
//! is rebuilt from the offsets stored in the target, which take precedence.
//!
//! Modes and policies:
//! - `transaction_consistent`: events are held back by [`txn::Assembler`] until their source
//!   transaction is complete and released in commit order, so each target commit holds whole
//!   source transactions; offsets committed are the assembler's (first held-back record).
//! - `on_error = "dead-letter"`: an undecodable record, or an event the target refuses (a fatal
//!   error, e.g. constraint violation), is written to the dead-letter topic with error headers
//!   ([`dlq`]) and the sink goes on; its offset is committed only after the broker acknowledged
//!   the copy. In transaction-consistent mode only undecodable records are dead-lettered: a
//!   refused event stops the sink, since skipping it would apply part of a source transaction.
//!
//! Self-healing: a retriable failure (target or broker unreachable) drops the consumer and the
//! target connection (rolling back the open transaction) and restarts after a backoff; a fatal one
//! (undecodable record, constraint violation, unsafe schema change) stops with its message.

mod dlq;
pub mod txn;

use std::time::{Duration, Instant};

use anyhow::Context;
use sluice_avro::decode::{Decoded, EventDecoder};
use sluice_avro::RegistryClient;
use sluice_core::{BrokerOffset, ChangeEvent, ErrorKind, Sink};
use sluice_kafka::consumer::next_offsets;
use sluice_kafka::{
    ConsumedRecord, ConsumerOptions, DeadLetterProducer, FailureClass, KafkaConfig, SinkConsumer,
    Subscription,
};
use sluice_mysql::{MySqlSink, MySqlSinkConfig};
use sluice_postgres::{PgSink, PgSinkConfig};

use crate::config::{Config, OnError, SinkConfig, SinkEndpoint};
use crate::service::{error_kind, supervise, Service};

/// Histogram: seconds from a batch's arrival to its target commit.
pub const METRIC_BATCH_SECONDS: &str = "sluice_sink_batch_duration_seconds";
/// Counter: records consumed (events and tombstones).
pub const METRIC_CONSUMED: &str = "sluice_sink_consumed_records_total";

/// Everything a run of the sink task needs, fixed for the life of the process.
struct Plan<'a> {
    cfg: &'a SinkConfig,
    endpoint: &'a SinkEndpoint,
    kafka: &'a KafkaConfig,
    options: &'a ConsumerOptions,
    url: &'a str,
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
    let plan = Plan {
        cfg: &sink,
        endpoint: &endpoint,
        kafka: &kafka,
        options: &options,
        url: &url,
        service: &service,
    };
    let plan = &plan;
    let task = match &options.instance_id {
        Some(i) => format!("{}:{i}", sink.name),
        None => sink.name.clone(),
    };
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

/// What one poll turned into (outside transaction-consistent mode).
struct Batch {
    events: Vec<ChangeEvent>,
    /// Index in the poll's records of each event's record.
    record_of: Vec<usize>,
}

async fn run_once<S: Sink>(
    plan: &Plan<'_>,
    mut sink: S,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let cfg = plan.cfg;
    let stored = sink.stored_offsets().await?;
    tracing::info!(sink = %cfg.name, group = %plan.options.group_id, partitions = stored.len(), "resuming from the target's stored offsets");
    let consumer = SinkConsumer::new(plan.kafka, plan.options, &stored)?;
    let mut decoder = EventDecoder::new(RegistryClient::new(plan.url)?);
    let dead_letters = match cfg.on_error {
        OnError::DeadLetter => {
            Some(DeadLetterProducer::new(plan.kafka, &cfg.dead_letter_topic(), &cfg.name).await?)
        }
        OnError::Fail => None,
    };
    let mut assembler = match (&cfg.transaction_topic, cfg.transaction_consistent) {
        (Some(topic), true) => {
            let subscription = plan.options.subscription.clone();
            Some(txn::Assembler::new(topic, move |t| subscription.matches(t))?)
        }
        _ => None,
    };
    plan.service.ready.set_ready();
    sluice_core::stats::set_phase("applying");
    let mut counted = Counted::default();
    let max_wait = Duration::from_millis(cfg.batch_max_ms);
    tokio::pin!(stop);
    loop {
        let records = tokio::select! {
            r = consumer.next_batch(cfg.batch_max_events.max(1), max_wait) => r?,
            () = &mut stop => return Ok(()),
        };
        let started = Instant::now();
        metrics::counter!(METRIC_CONSUMED).increment(records.len() as u64);
        let batch = decode_batch(&mut decoder, &records, dead_letters.as_ref(), assembler.as_mut()).await?;
        let offsets = match assembler.as_mut() {
            Some(a) => {
                let events = a.drain_ready();
                apply_all(&mut sink, &events).await.context("applying source transactions to the target")?;
                counted.stage(&events);
                a.committable()
            }
            None => {
                let offsets = next_offsets(&records);
                match (apply_all(&mut sink, &batch.events).await, &dead_letters) {
                    (Ok(()), _) => {
                        counted.stage(&batch.events);
                        offsets
                    }
                    (Err(e), Some(dlq)) if !e.is_retriable() => {
                        tracing::warn!(error = %e, "batch refused by the target; applying it record by record to find the poison records");
                        // Dead-lettered events are not counted as applied changes.
                        let applied = dlq::apply_one_by_one(&mut sink, dlq, &records, &batch).await?;
                        counted.stage(applied.iter().filter_map(|&n| batch.events.get(n)));
                        offsets
                    }
                    (Err(e), _) => {
                        return Err(anyhow::Error::new(e).context("applying a batch to the target"))
                    }
                }
            }
        };
        sink.commit(&offsets).await.context("committing a batch to the target")?;
        counted.committed();
        consumer.commit(&offsets)?;
        metrics::histogram!(METRIC_BATCH_SECONDS).record(started.elapsed().as_secs_f64());
        tracing::debug!(
            records = records.len(),
            held = assembler.as_ref().map_or(0, txn::Assembler::held_events),
            "batch applied"
        );
    }
}

/// Per-table counts of the batch being applied, added to the task statistics once committed.
#[derive(Default)]
struct Counted {
    tables: std::collections::HashMap<sluice_core::TableId, std::sync::Arc<sluice_core::stats::TableStats>>,
    /// Stats, op, and whether the event is a full-load row (`r` outside incremental snapshots).
    staged: Vec<(std::sync::Arc<sluice_core::stats::TableStats>, sluice_core::Op, bool)>,
}

impl Counted {
    fn stage<'a>(&mut self, events: impl IntoIterator<Item = &'a ChangeEvent>) {
        for ev in events {
            let s = match self.tables.get(&ev.table.id) {
                Some(s) => s.clone(),
                None => {
                    let s = sluice_core::stats::table(&ev.table.id);
                    self.tables.insert(ev.table.id.clone(), s.clone());
                    s
                }
            };
            let full_load = ev.op == sluice_core::Op::Read
                && ev.source.snapshot != sluice_core::SnapshotMarker::Incremental;
            self.staged.push((s, ev.op, full_load));
        }
    }

    fn committed(&mut self) {
        for (s, op, full_load) in self.staged.drain(..) {
            if full_load {
                sluice_core::stats::TableStats::add(&s.full_load_rows, 1);
            } else {
                s.count_op(op, 1);
            }
        }
    }
}

async fn apply_all<S: Sink>(sink: &mut S, events: &[ChangeEvent]) -> sluice_core::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    sink.apply(events).await
}

/// Decode `records`. Undecodable ones go to the dead-letter topic when there is one, else stop
/// the task. In transaction-consistent mode every record is handed to the assembler instead.
async fn decode_batch(
    decoder: &mut EventDecoder,
    records: &[ConsumedRecord],
    dead_letters: Option<&DeadLetterProducer>,
    mut assembler: Option<&mut txn::Assembler>,
) -> anyhow::Result<Batch> {
    let mut batch = Batch { events: Vec::with_capacity(records.len()), record_of: Vec::new() };
    for (i, r) in records.iter().enumerate() {
        if let Some(a) = assembler.as_deref_mut() {
            if r.topic == a.transaction_topic() {
                let Some(payload) = r.payload.as_deref() else { continue };
                let marker = decoder.decode_transaction(&r.topic, payload).await.with_context(|| {
                    format!("cannot decode transaction metadata {}[{}]@{}", r.topic, r.partition, r.offset)
                })?;
                a.push_marker(r.partition, r.offset, marker)?;
                continue;
            }
        }
        let decoded = match decoder.decode(&r.topic, r.key.as_deref(), r.payload.as_deref()).await {
            Ok(Decoded::Event(ev)) => Some(ev),
            Ok(Decoded::Tombstone { .. }) => None,
            Err(e) => {
                let e = anyhow::Error::new(e);
                let kind = error_kind(&e);
                let e = e.context(format!("cannot decode record {}[{}]@{}", r.topic, r.partition, r.offset));
                match dead_letters {
                    Some(dlq) if kind == ErrorKind::Fatal => {
                        tracing::warn!(error = %format!("{e:#}"), dlq = dlq.topic(), "dead-lettering an undecodable record");
                        dlq.send(r, FailureClass::Decode, &format!("{e:#}")).await?;
                        None
                    }
                    _ => return Err(e),
                }
            }
        };
        match assembler.as_deref_mut() {
            Some(a) => a.push_event(&r.topic, r.partition, r.offset, decoded),
            None => {
                if let Some(ev) = decoded {
                    batch.events.push(ev);
                    batch.record_of.push(i);
                }
            }
        }
    }
    Ok(batch)
}

/// Offsets after the first `n` records.
fn offsets_through(records: &[ConsumedRecord], n: usize) -> Vec<BrokerOffset> {
    next_offsets(&records[..n.min(records.len())])
}
