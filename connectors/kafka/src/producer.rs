//! The event producer: publishes encoded change events and turns broker acknowledgements into
//! source positions that are safe to acknowledge.
//!
//! Invariants:
//! - Every record gets a sequence number in send order. A position registered with
//!   [`EventProducer::checkpoint`] after record N is *released* only when every record with a
//!   sequence number ≤ N has been acknowledged by the broker (`acks=all`, idempotent producer),
//!   whatever the order in which partitions acknowledge ([`sluice_core::AckLedger`]). Released
//!   positions are returned in registration order, so the caller acknowledges to the source
//!   monotonically.
//! - At most `max_in_flight` records are unacknowledged at any time (`send` waits), which bounds
//!   memory whatever the source's rate.
//! - A delivery failure (after librdkafka's own retries) poisons the producer: nothing at or after
//!   the failed record is ever released, and every later call returns the error. The task then
//!   restarts from the last acknowledged source position, so nothing is lost; records after it
//!   may be published twice (at-least-once).
//! - Keys are partitioned with murmur2, like the Java client, so Kafka Connect and Debezium
//!   consumers agree on which partition holds a key.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use sluice_core::{AckLedger, ErrorKind, Position};
use tokio::sync::{Notify, Semaphore};

use crate::config::KafkaConfig;
use crate::error::KafkaError;

/// Gauge: records sent and not yet acknowledged by the broker.
pub const METRIC_IN_FLIGHT: &str = "sluice_producer_in_flight_records";
/// Counter: records acknowledged by the broker.
pub const METRIC_DELIVERED: &str = "sluice_producer_delivered_records_total";
/// Counter: records whose delivery failed after retries.
pub const METRIC_FAILED: &str = "sluice_producer_failed_records_total";

/// Producer tuning (`[kafka.producer]`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProducerOptions {
    /// Maximum records sent but not yet acknowledged.
    pub max_in_flight: usize,
    /// librdkafka `linger.ms`: how long to wait to fill a batch.
    pub linger_ms: u32,
    /// librdkafka `compression.type` (`none`, `gzip`, `snappy`, `lz4`, `zstd`).
    pub compression: String,
}

impl Default for ProducerOptions {
    fn default() -> Self {
        Self { max_in_flight: 100_000, linger_ms: 5, compression: "none".into() }
    }
}

struct AckState {
    inner: Mutex<AckLedger>,
    window: Semaphore,
    /// Woken on every acknowledgement (used by `flush`-style waits).
    progress: Notify,
}

impl AckState {
    fn lock(&self) -> MutexGuard<'_, AckLedger> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The librdkafka context: delivery reports land here, on librdkafka's polling thread.
struct AckContext {
    state: Arc<AckState>,
}

impl ClientContext for AckContext {}

impl ProducerContext for AckContext {
    type DeliveryOpaque = Box<u64>;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: Box<u64>) {
        let mut inner = self.state.lock();
        match result {
            Ok(_) => {
                inner.acknowledged(*seq);
                metrics::counter!(METRIC_DELIVERED).increment(1);
            }
            Err((e, _)) => {
                // The record stays pending: nothing at or beyond it is ever released.
                inner.fail(None, e.to_string(), crate::error::classify(e));
                metrics::counter!(METRIC_FAILED).increment(1);
            }
        }
        drop(inner);
        self.state.window.add_permits(1);
        self.state.progress.notify_waiters();
    }
}

/// An idempotent producer with acknowledgement tracking.
pub struct EventProducer {
    producer: ThreadedProducer<AckContext>,
    state: Arc<AckState>,
    max_in_flight: usize,
}

impl EventProducer {
    pub fn new(cfg: &KafkaConfig, opts: &ProducerOptions) -> Result<Self, KafkaError> {
        let state = Arc::new(AckState {
            inner: Mutex::new(AckLedger::default()),
            window: Semaphore::new(opts.max_in_flight),
            progress: Notify::new(),
        });
        let mut cc = cfg.client_config();
        cc.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", opts.linger_ms.to_string())
            .set("compression.type", &opts.compression)
            .set("queue.buffering.max.messages", opts.max_in_flight.max(1000).to_string())
            .set("queue.buffering.max.kbytes", "1048576");
        // User properties win over the defaults above, except the ones safety depends on.
        for (k, v) in &cfg.properties {
            if !matches!(k.as_str(), "enable.idempotence" | "acks") {
                cc.set(k, v);
            }
        }
        let producer: ThreadedProducer<AckContext> = cc
            .create_with_context(AckContext { state: state.clone() })
            .map_err(|e| KafkaError::Config(e.to_string()))?;
        Ok(Self { producer, state, max_in_flight: opts.max_in_flight })
    }

    /// Queue one record. Waits while `max_in_flight` records are unacknowledged. `value: None`
    /// is a tombstone.
    pub async fn send(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<(), KafkaError> {
        self.check_failed()?;
        let permit = self.state.window.acquire().await.map_err(|_| KafkaError::Client {
            context: "send",
            reason: "producer closed".into(),
            kind: ErrorKind::Fatal,
        })?;
        // The delivery callback returns the permit.
        permit.forget();
        let seq = self.state.lock().sent();
        metrics::gauge!(METRIC_IN_FLIGHT).set(self.in_flight() as f64);
        let mut record: BaseRecord<'_, [u8], [u8], Box<u64>> =
            BaseRecord::with_opaque_to(topic, Box::new(seq));
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(v) = value {
            record = record.payload(v);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => {
                    let err = KafkaError::client("produce", &e);
                    self.state.lock().fail(Some(seq), err.to_string(), err.kind());
                    self.state.window.add_permits(1);
                    return Err(err);
                }
            }
        }
    }

    /// `position` becomes releasable once every record sent so far is acknowledged.
    pub fn checkpoint(&self, position: Position) {
        self.state.lock().checkpoint(position);
    }

    /// The newest released position since the last call, if any.
    pub fn take_released(&self) -> Option<Position> {
        self.state.lock().take_released()
    }

    /// Records sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.state.lock().in_flight()
    }

    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// The delivery failure that poisoned this producer, if any.
    pub fn check_failed(&self) -> Result<(), KafkaError> {
        match self.state.lock().failure() {
            None => Ok(()),
            Some((reason, kind)) => {
                Err(KafkaError::Client { context: "delivery", reason: reason.clone(), kind: *kind })
            }
        }
    }

    /// Wait until every record sent so far is acknowledged (or one failed), up to `timeout`.
    pub async fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.state.progress.notified();
            self.check_failed()?;
            if self.in_flight() == 0 {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                // Notify can miss a wake-up between the check and the wait; look once more.
                self.check_failed()?;
                if self.in_flight() == 0 {
                    return Ok(());
                }
                return Err(KafkaError::Client {
                    context: "flush",
                    reason: format!("{} records unacknowledged after {timeout:?}", self.in_flight()),
                    kind: ErrorKind::Retriable,
                });
            }
        }
    }
}

impl Drop for EventProducer {
    fn drop(&mut self) {
        // Give queued records a moment; anything not acknowledged is not released anyway.
        let _ = self.producer.flush(Duration::from_secs(5));
    }
}
