//! One run of a sink: consume change topics and apply them to a target, exactly once.
//!
//! Loop: poll up to a batch → decode (tombstones dropped) → `Sink::apply` → `Sink::commit` with
//! the batch's offsets (same target transaction as the rows) → commit the same offsets to the
//! broker. The broker commit is advisory: a run starts from the offsets stored in the target,
//! which take precedence, and the caller starts a new run after every retriable failure.
//!
//! Modes and policies:
//! - transaction-consistent (`RuntimeOptions::transaction_topic`): events are held back by
//!   [`Assembler`] until their source transaction is complete and released in commit order, so
//!   each target commit holds whole source transactions; offsets committed are the assembler's
//!   (first held-back record).
//! - dead letters (`RuntimeOptions::dead_letter_topic`): an undecodable record, or an event the
//!   target refuses (a fatal error, e.g. constraint violation), is written to the dead-letter
//!   topic with error headers ([`crate::dlq`]) and the sink goes on; its offset is committed only
//!   after the broker acknowledged the copy. In transaction-consistent mode only undecodable
//!   records are dead-lettered: a refused event stops the sink, since skipping it would apply
//!   part of a source transaction.
//!
//! Failures come back as [`RuntimeError`], classified: retriable (target or broker unreachable;
//! the caller restarts from the stored offsets) or fatal (undecodable record, constraint
//! violation, unsafe schema change).

use std::future::Future;
use std::time::{Duration, Instant};

use sluice_avro::decode::{Decoded, EventDecoder};
use sluice_avro::RegistryClient;
use sluice_core::{BrokerOffset, ChangeEvent, Committed, ErrorKind, RecordAt, Sink};
use sluice_kafka::consumer::next_offsets;
use sluice_kafka::{
    ConsumedRecord, ConsumerOptions, DeadLetterProducer, FailureClass, KafkaConfig, SinkConsumer,
};

use crate::error::RuntimeError;
use crate::txn::Assembler;

/// Histogram: seconds from a batch's arrival to its target commit.
pub const METRIC_BATCH_SECONDS: &str = "sluice_sink_batch_duration_seconds";
/// Counter: records consumed (events and tombstones).
pub const METRIC_CONSUMED: &str = "sluice_sink_consumed_records_total";

/// What a run needs besides the broker and the target, fixed for the life of the process.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// The sink's name (dead-letter headers, logs, the target's offsets rows).
    pub name: String,
    /// Group, subscription, static membership.
    pub consumer: ConsumerOptions,
    /// Largest batch, in records, and longest wait for one to fill once its first record came.
    pub batch_max_events: usize,
    pub batch_max_ms: u64,
    /// Base URL of the schema registry Avro records were written against.
    pub registry_url: String,
    /// `Some(topic)`: dead-letter poison records there instead of stopping.
    pub dead_letter_topic: Option<String>,
    /// `Some(<prefix>.transaction)`: transaction-consistent apply (the topic must also be in
    /// `consumer.extra_topics`).
    pub transaction_topic: Option<String>,
    /// `Some(t)`: commit after `t` without records too (deferred targets roll by time); `None`:
    /// commit only after records (transactional targets).
    pub idle_commit: Option<Duration>,
}

/// The idle commit interval of deferred targets.
pub const IDLE_COMMIT: Duration = Duration::from_secs(1);

/// What one poll turned into (outside transaction-consistent mode).
pub(crate) struct Batch {
    pub events: Vec<ChangeEvent>,
    /// Index in the poll's records of each event's record.
    pub record_of: Vec<usize>,
}

/// Run `sink` until `stop` completes (`Ok`) or a failure (`Err`, classified). `ready` is called
/// once the consumer is subscribed and the run is about to apply.
pub async fn run<S: Sink>(
    opts: &RuntimeOptions,
    kafka: &KafkaConfig,
    mut sink: S,
    ready: impl FnOnce(),
    stop: impl Future<Output = ()>,
) -> Result<(), RuntimeError> {
    let stored =
        sink.stored_offsets().await.map_err(RuntimeError::target("reading the target's stored offsets"))?;
    tracing::info!(sink = %opts.name, group = %opts.consumer.group_id, partitions = stored.len(), "resuming from the target's stored offsets");
    let consumer =
        SinkConsumer::new(kafka, &opts.consumer, &stored).map_err(RuntimeError::kafka("subscribing"))?;
    let registry = RegistryClient::new(&opts.registry_url).map_err(|source| RuntimeError::Decode {
        record: format!("records with registry {}", opts.registry_url),
        source,
    })?;
    let mut decoder = EventDecoder::new(registry);
    let dead_letters = match &opts.dead_letter_topic {
        Some(topic) => Some(
            DeadLetterProducer::new(kafka, topic, &opts.name)
                .await
                .map_err(RuntimeError::kafka("creating the dead-letter producer"))?,
        ),
        None => None,
    };
    let mut assembler = match &opts.transaction_topic {
        Some(topic) => {
            let subscription = opts.consumer.subscription.clone();
            Some(Assembler::new(topic, move |t| subscription.matches(t))?)
        }
        None => None,
    };
    sink.allow_in_flight(dead_letters.is_none());
    ready();
    sluice_core::stats::set_phase("applying");
    let mut counted = Counted::default();
    let max_wait = Duration::from_millis(opts.batch_max_ms);
    tokio::pin!(stop);
    loop {
        let records = tokio::select! {
            r = consumer.next_batch(opts.batch_max_events.max(1), max_wait, opts.idle_commit) => r.map_err(RuntimeError::kafka("polling"))?,
            () = &mut stop => {
                sink.close().await;
                return Ok(());
            }
        };
        let started = Instant::now();
        metrics::counter!(METRIC_CONSUMED).increment(records.len() as u64);
        let batch = decode_batch(&mut decoder, &records, dead_letters.as_ref(), assembler.as_mut()).await?;
        // `committed`: the batch was already committed here (with a dead-letter topic, so that a
        // refusal at commit is still found record by record).
        let (offsets, committed) = match assembler.as_mut() {
            Some(a) => {
                let events = a.drain_ready();
                apply_all(&mut sink, &events)
                    .await
                    .map_err(RuntimeError::target("applying source transactions to the target"))?;
                counted.stage(&events);
                (a.committable(), None)
            }
            None => {
                let offsets = next_offsets(&records);
                let first = match apply_at(&mut sink, &batch, &records).await {
                    Ok(()) if dead_letters.is_some() => sink.commit(&offsets).await.map(Some),
                    Ok(()) => Ok(None),
                    Err(e) => Err(e),
                };
                match (first, &dead_letters) {
                    (Ok(done), _) => {
                        counted.stage(&batch.events);
                        (offsets, done)
                    }
                    (Err(e), Some(dlq)) if !e.is_retriable() => {
                        tracing::warn!(error = %e, "batch refused by the target; applying it record by record to find the poison records");
                        // Dead-lettered events are not counted as applied changes.
                        let applied = crate::dlq::apply_one_by_one(&mut sink, dlq, &records, &batch).await?;
                        counted.stage(applied.iter().filter_map(|&n| batch.events.get(n)));
                        (offsets, None)
                    }
                    (Err(e), _) => return Err(RuntimeError::target("applying a batch to the target")(e)),
                }
            }
        };
        let committed = match committed {
            Some(c) => c,
            None => sink
                .commit(&offsets)
                .await
                .map_err(RuntimeError::target("committing a batch to the target"))?,
        };
        let durable = match committed {
            Committed::All => offsets,
            Committed::Through(durable) => durable,
        };
        if !durable.is_empty() {
            counted.committed();
            consumer.commit(&durable).map_err(RuntimeError::kafka("committing offsets to the broker"))?;
        }
        metrics::histogram!(METRIC_BATCH_SECONDS).record(started.elapsed().as_secs_f64());
        tracing::debug!(
            records = records.len(),
            held = assembler.as_ref().map_or(0, Assembler::held_events),
            "batch applied"
        );
    }
}

/// Per-table counts of the batches applied, added to the task statistics once durable (a
/// deferred target's roll counts everything staged before it).
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

async fn apply_at<S: Sink>(
    sink: &mut S,
    batch: &Batch,
    records: &[ConsumedRecord],
) -> sluice_core::Result<()> {
    if batch.events.is_empty() {
        return Ok(());
    }
    let at: Vec<RecordAt<'_>> = batch.record_of.iter().map(|&i| record_at(&records[i])).collect();
    sink.apply_at(&batch.events, &at).await
}

pub(crate) fn record_at(r: &ConsumedRecord) -> RecordAt<'_> {
    RecordAt { topic: &r.topic, partition: r.partition, offset: r.offset }
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
    mut assembler: Option<&mut Assembler>,
) -> Result<Batch, RuntimeError> {
    let mut batch = Batch { events: Vec::with_capacity(records.len()), record_of: Vec::new() };
    for (i, r) in records.iter().enumerate() {
        let at = || format!("record {}[{}]@{}", r.topic, r.partition, r.offset);
        if let Some(a) = assembler.as_deref_mut() {
            if r.topic == a.transaction_topic() {
                let Some(payload) = r.payload.as_deref() else { continue };
                let marker = decoder.decode_transaction(&r.topic, payload).await.map_err(|source| {
                    RuntimeError::Decode { record: format!("transaction metadata {}", at()), source }
                })?;
                a.push_marker(r.partition, r.offset, marker)?;
                continue;
            }
        }
        let decoded = match decoder.decode(&r.topic, r.key.as_deref(), r.payload.as_deref()).await {
            Ok(Decoded::Event(ev)) => Some(ev),
            Ok(Decoded::Tombstone { .. }) => None,
            Err(source) => {
                let e = RuntimeError::Decode { record: at(), source };
                match dead_letters {
                    Some(dlq) if e.kind() == ErrorKind::Fatal => {
                        tracing::warn!(error = %e, dlq = dlq.topic(), "dead-lettering an undecodable record");
                        dlq.send(r, FailureClass::Decode, &e.to_string())
                            .await
                            .map_err(RuntimeError::kafka("writing to the dead-letter topic"))?;
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
pub(crate) fn offsets_through(records: &[ConsumedRecord], n: usize) -> Vec<BrokerOffset> {
    next_offsets(&records[..n.min(records.len())])
}
