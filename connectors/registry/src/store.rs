//! The registry's durable store: one compacted, single-partition Kafka topic.
//!
//! A reader task consumes the topic from the beginning (`read_committed`) and applies every
//! record to the shared [`State`], publishing the next offset it will apply. All writes go
//! through [`Store::write`], which:
//!
//! 1. takes this instance's writer lock;
//! 2. makes sure its transactional producer is initialised: every instance sharing the topic
//!    uses the same `transactional.id`, so initialising fences any other instance's producer
//!    (its next commit fails) and aborts whatever transaction it left open;
//! 3. commits a `NOOP` marker in a transaction and waits until the reader has applied it, so
//!    the state now holds every write any instance committed before step 2;
//! 4. plans the operation against that state (validation, compatibility, next id and version);
//! 5. commits the planned records in one transaction and waits until the reader has applied
//!    them, and only then answers: the HTTP response follows the broker's acknowledgement.
//!
//! Invariant: a commit in step 5 succeeds only if no other instance initialised its producer
//! since step 2, so no other write can have slipped in between the catch-up and the commit;
//! a fenced attempt is aborted (invisible to `read_committed` readers) and retried from step 2
//! with a new producer. This makes several writers on one topic safe on a broker that
//! implements transactions and fencing; concurrent writers then take turns at the cost of a
//! producer re-initialisation. Failures: a write that cannot be committed and applied within
//! the operation timeout is [`RegistryError::Timeout`] (50002) or [`RegistryError::Store`]
//! (50001), and nothing is reported as stored unless the reader has applied it.

use std::collections::BTreeMap;
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
    applied: watch::Receiver<i64>,
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

        let consumer: StreamConsumer<QuietEof> = base
            .clone()
            .set("group.id", format!("sluice-registry-{}", config.topic))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest")
            .create_with_context(QuietEof)
            .map_err(|e| RegistryError::kafka("create registry topic consumer", e))?;
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(&config.topic, 0, Offset::Beginning)
            .map_err(|e| RegistryError::kafka("assign registry topic", e))?;
        consumer.assign(&assignment).map_err(|e| RegistryError::kafka("assign registry topic", e))?;

        let mut producer_config = base;
        producer_config
            .set("transactional.id", format!("sluice-registry-{}", config.topic))
            .set("enable.idempotence", "true")
            .set("linger.ms", "0");

        let state = Arc::new(RwLock::new(State::default()));
        let (applied_tx, applied) = watch::channel(0_i64);
        let (stop, stop_rx) = watch::channel(false);
        let reader =
            tokio::spawn(read_topic(consumer, config.topic.clone(), Arc::clone(&state), applied_tx, stop_rx));
        let store = Arc::new(Store {
            topic: config.topic.clone(),
            state,
            applied,
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

    /// Catches up, plans with `plan`, commits the planned records, waits until they are
    /// applied, and returns the planned answer. A plan error is returned as is, with nothing
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
        self.wait_applied(marker + 1, deadline).await.map_err(Attempt::Final)?;
        let (records, answer) = {
            let state = self.read();
            plan(&state).map_err(Attempt::Final)?
        };
        if records.is_empty() {
            return Ok(answer);
        }
        let last = self.transact(&producer, &records, deadline).await.map_err(Attempt::Retry)?;
        self.wait_applied(last + 1, deadline).await.map_err(Attempt::Final)?;
        Ok(answer)
    }

    /// Produces `records` in one transaction; returns the offset of the last one.
    async fn transact(
        &self,
        producer: &FutureProducer,
        records: &[Record],
        deadline: Instant,
    ) -> Result<i64, RegistryError> {
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
        let mut last = -1;
        for delivery in deliveries {
            match tokio::time::timeout_at(deadline, delivery).await {
                Err(_) => return Err(RegistryError::Timeout("registry record delivery".to_owned())),
                Ok(Err(_)) => return Err(RegistryError::Store("producer closed".to_owned())),
                Ok(Ok(Err((e, _)))) => return Err(RegistryError::kafka("deliver registry record", e)),
                Ok(Ok(Ok(d))) => last = last.max(d.offset),
            }
        }
        let p = producer.clone();
        let remaining = remaining(deadline);
        tokio::task::spawn_blocking(move || p.commit_transaction(remaining))
            .await
            .map_err(|e| RegistryError::Store(format!("commit task failed: {e}")))?
            .map_err(|e| RegistryError::kafka("commit registry transaction", e))?;
        Ok(last)
    }

    /// Waits until the reader has applied every record below `offset`.
    async fn wait_applied(&self, offset: i64, deadline: Instant) -> Result<(), RegistryError> {
        let mut applied = self.applied.clone();
        let waited = tokio::time::timeout_at(deadline, applied.wait_for(|a| *a >= offset))
            .await
            .map(|r| r.map(|_| ()));
        match waited {
            Ok(Ok(())) => Ok(()),
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

/// Applies the topic to `state` until told to stop, publishing the next offset to apply.
async fn read_topic(
    consumer: StreamConsumer<QuietEof>,
    topic: String,
    state: Arc<RwLock<State>>,
    applied: watch::Sender<i64>,
    mut stop: watch::Receiver<bool>,
) {
    let advance = |next: i64| {
        applied.send_if_modified(|a| {
            let moved = next > *a;
            if moved {
                *a = next;
            }
            moved
        });
    };
    loop {
        let received = tokio::select! {
            _ = stop.changed() => break,
            received = consumer.recv() => received,
        };
        match received {
            Ok(message) => {
                let offset = message.offset();
                let applied_ok = match Record::decode(message.key(), message.payload()) {
                    Ok(record) => state.write().unwrap_or_else(PoisonError::into_inner).apply(record),
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
                advance(offset + 1);
            }
            Err(KafkaError::PartitionEOF(_)) => {
                // Transaction markers take offsets but are never delivered: the consumer's
                // position is what says the end was reached.
                if let Ok(position) = consumer.position() {
                    if let Some(Offset::Offset(next)) = position.find_partition(&topic, 0).map(|p| p.offset())
                    {
                        advance(next);
                    }
                }
                let (subjects, schemas) = state.read().unwrap_or_else(PoisonError::into_inner).sizes();
                metrics::gauge!(m::SUBJECTS_COUNT).set(subjects as f64);
                metrics::gauge!(m::SCHEMAS_COUNT).set(schemas as f64);
            }
            Err(e) => {
                tracing::warn!(topic = %topic, error = %e, "registry topic read failed; retrying");
                tokio::select! {
                    _ = stop.changed() => break,
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
