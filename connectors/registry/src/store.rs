//! The registry's durable store: one compacted, single-partition Kafka topic.
//!
//! A reader task consumes the topic from the beginning (`read_committed`) and applies every
//! record to the shared [`State`], publishing its [`Progress`]: the offsets it delivered and
//! applied, and the next offset it will look at. All writes go through [`Store::write`], which:
//!
//! 1. takes this instance's writer lock;
//! 2. makes sure its transactional producer is initialised: every instance sharing the topic
//!    uses the same `transactional.id`, so initialising fences any other instance's producer
//!    (its next commit fails) and aborts whatever transaction it left open;
//! 3. commits a `NOOP` marker in a transaction and waits until the reader has *delivered and
//!    applied that very record*, so the state now holds every write any instance committed
//!    before step 2;
//! 4. plans the operation against that state (validation, compatibility, next id and version);
//! 5. commits the planned records in one transaction and waits until the reader has delivered
//!    and applied each of them, and only then answers: the HTTP response follows the broker's
//!    acknowledgement.
//!
//! Invariants:
//! - A commit in step 5 succeeds only if no other instance initialised its producer since
//!   step 2, so no other write can have slipped in between the catch-up and the commit; a
//!   fenced attempt is aborted (invisible to `read_committed` readers) and retried from step 2
//!   with a new producer. Concurrent writers take turns at the cost of a re-initialisation.
//! - "The reader's position is past my record" does NOT mean "my record is applied", and the
//!   store never treats it so. Every instance writes under one transactional id, so all records
//!   in the topic carry one producer id, told apart only by epoch. A `read_committed` consumer
//!   (librdkafka, like the Java client) drops every transactional batch of a producer id at or
//!   after the first offset of an aborted transaction listed in the fetch response, until it
//!   meets that producer's ABORT marker *in the same response*. A broker that lists aborted
//!   transactions whose marker lies before the fetch offset (noida lists every aborted
//!   transaction of the partition in every fetch) therefore makes a tailing reader silently
//!   drop every committed record that follows the first aborted transaction with a record in
//!   it (a fenced instance's half-done write: the transaction step 2 aborts). Transaction
//!   markers still move the consumer's position past the dropped records. The store used to
//!   wait for "position > my offset": under CPU load, when a fenced write had already produced
//!   its record, every later write answered with an id its state never held and planned the
//!   next one from the same stale maximum id (`[2, 2, 2, ..., 1]`: an id handed out many times,
//!   the records conflicting in the topic for good). Now steps 3 and 5 check the exact offsets
//!   the broker acknowledged against the offsets the reader delivered; when the reader went
//!   past one without delivering it, the reader re-reads the topic from offset 0 into a fresh
//!   state (one fetch response holds the whole topic, so every ABORT marker is seen after its
//!   listing) and swaps it in once it has read as far as the state it replaces
//!   (`sluice_registry_reader_rebuilds_total`). If even the rebuilt state lacks the record, the
//!   write fails with 50001: an id is never answered, nor planned, from a state that misses a
//!   committed record of this instance.
//!
//! Failures: a write that cannot be committed and applied within the operation timeout is
//! [`RegistryError::Timeout`] (50002) or [`RegistryError::Store`] (50001), and nothing is
//! reported as stored unless the reader has applied it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::RegistryError;
use crate::metrics as m;
use crate::record::Record;
use crate::state::State;

/// Write attempts before a write gives up (each retry uses a fresh producer).
const MAX_ATTEMPTS: u32 = 4;

/// How many recent delivered offsets the reader remembers for writers to check theirs against.
const DELIVERED_WINDOW: usize = 16_384;

/// The reader's `max.partition.fetch.bytes` unless configured: 50 MiB, librdkafka's default
/// `fetch.max.bytes`, so that a rebuild reads a registry topic in one fetch response.
const REBUILD_FETCH_BYTES: &str = "52428800";

/// Where the store lives and how long its operations may take.
#[derive(Debug, Clone)]
pub(crate) struct StoreConfig {
    pub bootstrap: String,
    pub topic: String,
    pub kafka_properties: BTreeMap<String, String>,
    pub timeout: Duration,
}

/// The topic-backed state shared by the HTTP handlers.
pub(crate) struct Store {
    topic: String,
    state: Arc<RwLock<State>>,
    progress: watch::Receiver<Progress>,
    /// Bumped to ask the reader for a rebuild from the beginning of the topic.
    rebuild: watch::Sender<u64>,
    writer: tokio::sync::Mutex<Writer>,
    timeout: Duration,
    stop: watch::Sender<bool>,
    reader: Mutex<Option<JoinHandle<()>>>,
}

struct Writer {
    config: ClientConfig,
    producer: Option<FutureProducer>,
}

impl Store {
    /// Creates the topic if missing, starts the reader, and catches up to the topic's end.
    pub async fn open(config: &StoreConfig) -> Result<Arc<Store>, RegistryError> {
        let mut base = ClientConfig::new();
        base.set("bootstrap.servers", &config.bootstrap);
        for (k, v) in &config.kafka_properties {
            base.set(k, v);
        }
        ensure_topic(&base, &config.topic, config.timeout).await?;

        let mut consumer_config = base.clone();
        // Unless configured: a rebuild (see the module doc) gets the whole topic in one fetch
        // response, and notices the end of the topic within 100 ms.
        for (key, value) in [("max.partition.fetch.bytes", REBUILD_FETCH_BYTES), ("fetch.wait.max.ms", "100")]
        {
            if consumer_config.get(key).is_none() {
                consumer_config.set(key, value);
            }
        }
        consumer_config
            .set("group.id", format!("sluice-registry-{}", config.topic))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest");
        let consumer = open_consumer(&consumer_config, &config.topic)?;

        let mut producer_config = base;
        producer_config
            .set("transactional.id", format!("sluice-registry-{}", config.topic))
            .set("enable.idempotence", "true")
            .set("linger.ms", "0");

        let state = Arc::new(RwLock::new(State::default()));
        let (progress_tx, progress) = watch::channel(Progress::default());
        let (rebuild, rebuild_rx) = watch::channel(0_u64);
        let (stop, stop_rx) = watch::channel(false);
        let reader = tokio::spawn(read_topic(
            TopicReader {
                config: consumer_config,
                topic: config.topic.clone(),
                state: Arc::clone(&state),
                progress: progress_tx,
                rebuild: rebuild_rx,
                stop: stop_rx,
            },
            consumer,
        ));
        let store = Arc::new(Store {
            topic: config.topic.clone(),
            state,
            progress,
            rebuild,
            writer: tokio::sync::Mutex::new(Writer { config: producer_config, producer: None }),
            timeout: config.timeout,
            stop,
            reader: Mutex::new(Some(reader)),
        });
        if let Err(e) = store.write(|_| Ok((Vec::new(), ()))).await {
            store.close().await;
            return Err(e);
        }
        Ok(store)
    }

    /// A read view of the state (as of the last applied record).
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Catches up, plans with `plan`, commits the planned records, waits until the reader has
    /// delivered and applied each of them, and returns the planned answer. A plan error is returned as is, with nothing
    /// written.
    pub async fn write<T>(
        &self,
        plan: impl Fn(&State) -> Result<(Vec<Record>, T), RegistryError>,
    ) -> Result<T, RegistryError> {
        let started = Instant::now();
        let deadline = started + self.timeout;
        let mut writer = tokio::time::timeout_at(deadline, self.writer.lock())
            .await
            .map_err(|_| RegistryError::Timeout("waiting for an earlier write".to_owned()))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_write(&mut writer, &plan, deadline).await {
                Ok(answer) => {
                    metrics::histogram!(m::WRITE_DURATION_SECONDS).record(started.elapsed().as_secs_f64());
                    return Ok(answer);
                }
                Err(Attempt::Final(e)) => return Err(e),
                Err(Attempt::Retry(e)) => {
                    writer.discard().await;
                    if attempt >= MAX_ATTEMPTS || Instant::now() >= deadline {
                        return Err(e);
                    }
                    metrics::counter!(m::WRITE_RETRIES_TOTAL).increment(1);
                    tracing::warn!(attempt, error = %e, "registry write failed; retrying with a new producer");
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                }
            }
        }
    }

    async fn try_write<T>(
        &self,
        writer: &mut Writer,
        plan: &impl Fn(&State) -> Result<(Vec<Record>, T), RegistryError>,
        deadline: Instant,
    ) -> Result<T, Attempt> {
        let producer = writer.producer(deadline).await.map_err(Attempt::Retry)?;
        let marker = self.transact(&producer, &[Record::Noop], deadline).await.map_err(Attempt::Retry)?;
        self.wait_applied(&marker, deadline).await.map_err(Attempt::Final)?;
        let (records, answer) = {
            let state = self.read();
            plan(&state).map_err(Attempt::Final)?
        };
        if records.is_empty() {
            return Ok(answer);
        }
        let written = self.transact(&producer, &records, deadline).await.map_err(Attempt::Retry)?;
        self.wait_applied(&written, deadline).await.map_err(Attempt::Final)?;
        Ok(answer)
    }

    /// Produces `records` in one transaction; returns their offsets.
    async fn transact(
        &self,
        producer: &FutureProducer,
        records: &[Record],
        deadline: Instant,
    ) -> Result<Vec<i64>, RegistryError> {
        producer.begin_transaction().map_err(|e| RegistryError::kafka("begin registry transaction", e))?;
        let mut deliveries = Vec::with_capacity(records.len());
        for record in records {
            let (key, value) = record.encode();
            let mut out = FutureRecord::<[u8], [u8]>::to(&self.topic).partition(0).key(key.as_slice());
            if let Some(value) = &value {
                out = out.payload(value.as_slice());
            }
            let delivery = producer
                .send_result(out)
                .map_err(|(e, _)| RegistryError::kafka("enqueue registry record", e))?;
            deliveries.push(delivery);
        }
        let mut offsets = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            match tokio::time::timeout_at(deadline, delivery).await {
                Err(_) => return Err(RegistryError::Timeout("registry record delivery".to_owned())),
                Ok(Err(_)) => return Err(RegistryError::Store("producer closed".to_owned())),
                Ok(Ok(Err((e, _)))) => return Err(RegistryError::kafka("deliver registry record", e)),
                // librdkafka reports no offset for a retried batch the broker had already
                // stored (DUPLICATE_SEQUENCE_NUMBER): nothing to check it against, so retry.
                Ok(Ok(Ok(d))) if d.offset < 0 => {
                    return Err(RegistryError::Store(
                        "registry record delivered without an offset".to_owned(),
                    ))
                }
                Ok(Ok(Ok(d))) => offsets.push(d.offset),
            }
        }
        let p = producer.clone();
        let remaining = remaining(deadline);
        tokio::task::spawn_blocking(move || p.commit_transaction(remaining))
            .await
            .map_err(|e| RegistryError::Store(format!("commit task failed: {e}")))?
            .map_err(|e| RegistryError::kafka("commit registry transaction", e))?;
        Ok(offsets)
    }

    /// Waits until the reader has *delivered and applied* the committed records at `offsets`
    /// (this instance's own, so known to be committed). Passing them is not enough: a reader
    /// that went past one without delivering it has lost committed records (see the module
    /// doc), so it is rebuilt from the beginning of the topic once; if even the rebuilt state
    /// lacks one of them, the write fails (50001) rather than answer from an incomplete state.
    async fn wait_applied(&self, offsets: &[i64], deadline: Instant) -> Result<(), RegistryError> {
        let Some(&last) = offsets.iter().max() else {
            return Ok(());
        };
        let missing = |p: &Progress| -> Vec<i64> {
            offsets.iter().copied().filter(|o| !p.delivered.contains(o)).collect()
        };
        let (missing_now, rebuilds) =
            self.wait_progress(deadline, last, |p| p.next > last, |p| (missing(p), p.rebuilds)).await?;
        if missing_now.is_empty() {
            return Ok(());
        }
        metrics::counter!(m::READER_REBUILDS_TOTAL).increment(1);
        tracing::warn!(topic = %self.topic, offsets = ?missing_now,
            "registry topic reader went past committed records without delivering them; \
             rebuilding the state from the beginning of the topic");
        self.rebuild.send_modify(|n| *n += 1);
        let missing_after =
            self.wait_progress(deadline, last, |p| p.rebuilds > rebuilds && p.next > last, missing).await?;
        if missing_after.is_empty() {
            return Ok(());
        }
        Err(RegistryError::Store(format!(
            "the registry topic reader cannot see committed records at offsets {:?} even after \
             re-reading topic '{}' from the beginning; the broker's read_committed fetches drop them",
            missing_after, self.topic
        )))
    }

    /// Waits until `ready` holds for the reader's progress (past `offset`), then `read`s it.
    async fn wait_progress<T>(
        &self,
        deadline: Instant,
        offset: i64,
        ready: impl FnMut(&Progress) -> bool,
        read: impl FnOnce(&Progress) -> T,
    ) -> Result<T, RegistryError> {
        let mut progress = self.progress.clone();
        let waited =
            tokio::time::timeout_at(deadline, progress.wait_for(ready)).await.map(|r| r.map(|p| read(&p)));
        match waited {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(_)) => Err(RegistryError::Store("registry topic reader stopped".to_owned())),
            Err(_) => Err(RegistryError::Timeout(format!("registry topic not read up to offset {offset}"))),
        }
    }

    /// Stops the reader and drops the producer. Idempotent.
    pub async fn close(&self) {
        self.stop.send_replace(true);
        let reader = self.reader.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(reader) = reader {
            if let Err(e) = reader.await {
                tracing::warn!(error = %e, "registry topic reader ended abnormally");
            }
        }
        self.writer.lock().await.discard().await;
    }
}

enum Attempt {
    /// Worth another try with a new producer (fenced, transaction or delivery failure).
    Retry(RegistryError),
    /// The answer (a Confluent error from the plan, or a timeout).
    Final(RegistryError),
}

impl Writer {
    /// The initialised transactional producer, created on first use or after a discard.
    async fn producer(&mut self, deadline: Instant) -> Result<FutureProducer, RegistryError> {
        if let Some(p) = &self.producer {
            return Ok(p.clone());
        }
        let producer: FutureProducer =
            self.config.create().map_err(|e| RegistryError::kafka("create registry producer", e))?;
        let p = producer.clone();
        let remaining = remaining(deadline);
        tokio::task::spawn_blocking(move || p.init_transactions(remaining))
            .await
            .map_err(|e| RegistryError::Store(format!("init task failed: {e}")))?
            .map_err(|e| RegistryError::kafka("initialise registry transactions", e))?;
        self.producer = Some(producer.clone());
        Ok(producer)
    }

    /// Drops the producer off the async threads (librdkafka may block while closing).
    async fn discard(&mut self) {
        if let Some(p) = self.producer.take() {
            let _ = tokio::task::spawn_blocking(move || drop(p)).await;
        }
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1))
}

/// What the reader has done so far, published to the writers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Progress {
    /// The next offset the reader will look at: every offset below it was either delivered
    /// (and applied) or passed over (a transaction marker, an aborted or compacted record, or
    /// a committed record the consumer dropped).
    next: i64,
    /// Offsets of the records delivered and applied, the most recent [`DELIVERED_WINDOW`] only.
    delivered: BTreeSet<i64>,
    /// Completed rebuilds from the beginning of the topic.
    rebuilds: u64,
}

impl Progress {
    /// Records that the record at `offset` was delivered and applied.
    fn delivered(&mut self, offset: i64) {
        self.delivered.insert(offset);
        while self.delivered.len() > DELIVERED_WINDOW {
            self.delivered.pop_first();
        }
        self.passed(offset + 1);
    }

    /// Records that every offset below `next` was looked at; false if that is not news.
    fn passed(&mut self, next: i64) -> bool {
        let moved = next > self.next;
        if moved {
            self.next = next;
        }
        moved
    }
}

/// The reader task's half of the store.
struct TopicReader {
    config: ClientConfig,
    topic: String,
    state: Arc<RwLock<State>>,
    progress: watch::Sender<Progress>,
    rebuild: watch::Receiver<u64>,
    stop: watch::Receiver<bool>,
}

/// A rebuild in progress: a fresh state read from offset 0 by a fresh consumer, swapped in
/// once it has read at least as far as the state it replaces.
struct Rebuild {
    state: State,
    progress: Progress,
    target: i64,
}

/// A `read_committed` consumer of partition 0 of `topic`, from its beginning.
fn open_consumer(config: &ClientConfig, topic: &str) -> Result<StreamConsumer<QuietEof>, RegistryError> {
    let consumer: StreamConsumer<QuietEof> = config
        .create_with_context(QuietEof)
        .map_err(|e| RegistryError::kafka("create registry topic consumer", e))?;
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Offset(0))
        .map_err(|e| RegistryError::kafka("assign registry topic", e))?;
    consumer.assign(&assignment).map_err(|e| RegistryError::kafka("assign registry topic", e))?;
    Ok(consumer)
}

enum Step<M> {
    Stop,
    Rebuild,
    Received(M),
}

/// Applies the topic to the state until told to stop, publishing its [`Progress`]; on request
/// re-reads the topic from the beginning into a fresh state and swaps it in.
async fn read_topic(mut reader: TopicReader, mut consumer: StreamConsumer<QuietEof>) {
    let topic = reader.topic.clone();
    let mut rebuild: Option<Rebuild> = None;
    loop {
        let step = tokio::select! {
            _ = reader.stop.changed() => Step::Stop,
            changed = reader.rebuild.changed() => match changed {
                Ok(()) => Step::Rebuild,
                Err(_) => Step::Stop,
            },
            received = consumer.recv() => Step::Received(received),
        };
        let received = match step {
            Step::Stop => break,
            Step::Rebuild => {
                match open_consumer(&reader.config, &topic) {
                    Ok(fresh) => {
                        let old = std::mem::replace(&mut consumer, fresh);
                        // librdkafka may block while closing a consumer.
                        tokio::task::spawn_blocking(move || drop(old));
                        let target = reader.progress.borrow().next;
                        let rebuilds = reader.progress.borrow().rebuilds;
                        rebuild = Some(Rebuild {
                            state: State::default(),
                            progress: Progress { rebuilds, ..Progress::default() },
                            target,
                        });
                        tracing::info!(topic = %topic, up_to = target, "rebuilding registry state from the topic");
                    }
                    Err(e) => tracing::warn!(topic = %topic, error = %e, "registry topic rebuild failed"),
                }
                continue;
            }
            Step::Received(received) => received,
        };
        match received {
            Ok(message) => {
                let offset = message.offset();
                let applied_ok = match Record::decode(message.key(), message.payload()) {
                    Ok(record) => match &mut rebuild {
                        Some(r) => r.state.apply(record),
                        None => reader.state.write().unwrap_or_else(PoisonError::into_inner).apply(record),
                    },
                    Err(reason) => {
                        tracing::warn!(offset, reason = %reason, "undecodable registry topic record skipped");
                        false
                    }
                };
                if applied_ok {
                    metrics::counter!(m::RECORDS_APPLIED_TOTAL).increment(1);
                } else {
                    metrics::counter!(m::RECORDS_SKIPPED_TOTAL).increment(1);
                }
                // Skipped (undecodable, conflicting) records count as delivered: every
                // instance skips them alike, and their effect on the state is final.
                match &mut rebuild {
                    Some(r) => r.progress.delivered(offset),
                    None => reader.progress.send_modify(|p| p.delivered(offset)),
                }
            }
            Err(KafkaError::PartitionEOF(_)) => {
                // Transaction markers take offsets but are never delivered: the consumer's
                // position is what says the end was reached.
                let next = match consumer.position() {
                    Ok(position) => match position.find_partition(&topic, 0).map(|p| p.offset()) {
                        Some(Offset::Offset(next)) => Some(next),
                        _ => None,
                    },
                    Err(_) => None,
                };
                if let Some(next) = next {
                    match rebuild.take() {
                        Some(mut r) => {
                            r.progress.passed(next);
                            if r.progress.next >= r.target {
                                let Rebuild { state, mut progress, .. } = r;
                                progress.rebuilds += 1;
                                *reader.state.write().unwrap_or_else(PoisonError::into_inner) = state;
                                reader.progress.send_replace(progress);
                                tracing::info!(topic = %topic, next, "registry state rebuilt from the topic");
                            } else {
                                rebuild = Some(r);
                            }
                        }
                        None => {
                            reader.progress.send_if_modified(|p| p.passed(next));
                        }
                    }
                }
                let (subjects, schemas) = reader.state.read().unwrap_or_else(PoisonError::into_inner).sizes();
                metrics::gauge!(m::SUBJECTS_COUNT).set(subjects as f64);
                metrics::gauge!(m::SCHEMAS_COUNT).set(schemas as f64);
            }
            Err(e) => {
                tracing::warn!(topic = %topic, error = %e, "registry topic read failed; retrying");
                tokio::select! {
                    _ = reader.stop.changed() => break,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    }
}

/// Creates the topic (1 partition, compacted) if missing; refuses one with several partitions.
async fn ensure_topic(base: &ClientConfig, topic: &str, timeout: Duration) -> Result<(), RegistryError> {
    let admin: AdminClient<DefaultClientContext> =
        base.create().map_err(|e| RegistryError::kafka("create Kafka admin client", e))?;
    // All topics, not just ours: asking for one topic may auto-create it with broker defaults.
    let (admin, metadata) = tokio::task::spawn_blocking(move || {
        let metadata = admin.inner().fetch_metadata(None, timeout);
        (admin, metadata)
    })
    .await
    .map_err(|e| RegistryError::Store(format!("metadata task failed: {e}")))?;
    let metadata =
        metadata.map_err(|e| RegistryError::kafka("fetch metadata from Kafka (is the broker up?)", e))?;
    if let Some(existing) = metadata.topics().iter().find(|t| t.name() == topic && t.error().is_none()) {
        let partitions = existing.partitions().len();
        if partitions != 1 {
            return Err(RegistryError::Config(format!(
                "registry topic '{topic}' has {partitions} partitions; it needs exactly 1 \
                 (ids are allocated in topic order). Use another topic name."
            )));
        }
        warn_unless_compacted(&admin, topic, timeout).await;
        return Ok(());
    }
    let brokers = i32::try_from(metadata.brokers().len()).unwrap_or(1).clamp(1, 3);
    let new_topic =
        NewTopic::new(topic, 1, TopicReplication::Fixed(brokers)).set("cleanup.policy", "compact");
    let options = AdminOptions::new().operation_timeout(Some(timeout));
    let results = admin
        .create_topics([&new_topic], &options)
        .await
        .map_err(|e| RegistryError::kafka(format!("create registry topic '{topic}'"), e))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(RegistryError::kafka(
                    format!("create registry topic '{name}'"),
                    KafkaError::AdminOp(code),
                ))
            }
        }
    }
    tracing::info!(topic = %topic, replication = brokers, "created registry topic");
    Ok(())
}

async fn warn_unless_compacted(admin: &AdminClient<DefaultClientContext>, topic: &str, timeout: Duration) {
    let options = AdminOptions::new().request_timeout(Some(timeout));
    let described = admin.describe_configs([&ResourceSpecifier::Topic(topic)], &options).await;
    let policy = match described.as_deref() {
        Ok([Ok(resource)]) => resource.get("cleanup.policy").and_then(|e| e.value.clone()),
        _ => {
            tracing::debug!(topic = %topic, "could not describe registry topic config");
            return;
        }
    };
    if let Some(policy) = policy {
        if !policy.contains("compact") {
            tracing::warn!(topic = %topic, cleanup_policy = %policy,
                "registry topic is not compacted: deleted records will be lost to retention; \
                 set cleanup.policy=compact");
        }
    }
}

/// The reader asks for end-of-partition notices (to know when it caught up); librdkafka also
/// reports them as client errors, which the default context logs at ERROR. Log the real ones.
pub(crate) struct QuietEof;

impl rdkafka::ClientContext for QuietEof {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        if error.rdkafka_error_code() != Some(rdkafka::types::RDKafkaErrorCode::PartitionEOF) {
            tracing::error!(error = %error, reason, "registry topic consumer");
        }
    }
}

impl ConsumerContext for QuietEof {}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn progress_tells_a_delivered_record_from_one_passed_over() {
        let mut p = Progress::default();
        p.delivered(0);
        // The commit marker at 1, then a committed record at 2 the consumer dropped and its
        // marker at 3: the position moves past both without a delivery.
        assert!(p.passed(2));
        assert!(p.passed(4));
        assert!(!p.passed(3), "the position never goes back");
        assert_eq!(p.next, 4);
        assert!(p.delivered.contains(&0));
        assert!(!p.delivered.contains(&2), "passed over is not delivered");
        p.delivered(4);
        assert_eq!(p.next, 5);
        // Only the most recent offsets are remembered.
        let window = i64::try_from(DELIVERED_WINDOW).unwrap();
        for offset in 10..10 + window + 5 {
            p.delivered(offset);
        }
        assert_eq!(p.delivered.len(), DELIVERED_WINDOW);
        assert!(!p.delivered.contains(&4));
        assert!(p.delivered.contains(&(10 + window + 4)));
    }
}
