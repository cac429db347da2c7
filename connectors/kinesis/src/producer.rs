//! The Kinesis producer: the same contract as the Kafka one (`send`, `checkpoint`,
//! `take_released`, `flush`), over `PutRecords`.
//!
//! Invariants:
//! - A position registered with [`KinesisProducer::checkpoint`] is released only when Kinesis
//!   has accepted every record sent before it ([`sluice_core::AckLedger`]); the source is
//!   acknowledged only with released positions.
//! - Per key, records reach the stream in send order (see `queue`): one request per stream in
//!   flight, one record per key in a request, refused records resent ahead of their keys' later
//!   ones. A request that failed as a whole is resent, so a record may be written twice, never
//!   out of order.
//! - At most `max_in_flight` records are unaccepted at any time (`send` waits).
//! - A fatal refusal (a missing permission, a validation error), or retriable ones for longer
//!   than [`GIVE_UP`], poisons the producer: nothing at or after the refused record is ever
//!   released, every later call returns the error, and the task restarts from the last
//!   acknowledged position.
//! - Tombstones are not written: a stream is not compacted.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_sdk_kinesis::Client;
use base64::Engine as _;
use sluice_core::{AckLedger, ErrorKind, Position};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::config::KinesisConfig;
use crate::error::KinesisError;
use crate::queue::{Entry, StreamQueue};

/// Gauge: records sent and not yet accepted (the Kafka producer's name: one dashboard for both).
pub const METRIC_IN_FLIGHT: &str = "sluice_producer_in_flight_records";
/// Counter: records accepted.
pub const METRIC_DELIVERED: &str = "sluice_producer_delivered_records_total";
/// Counter: records Kinesis refused and Sluice resent, by error code
/// (`ProvisionedThroughputExceededException` is throttling).
pub const METRIC_RETRIED: &str = "sluice_kinesis_retried_records_total";
/// Histogram: seconds per `PutRecords` request.
pub const METRIC_PUT_SECONDS: &str = "sluice_kinesis_put_records_seconds";

/// Bytes of data + partition key per record, at most (Kinesis's limit).
pub const MAX_RECORD_BYTES: usize = 1 << 20;
/// Characters of a partition key, at most (Kinesis's limit).
pub const MAX_PARTITION_KEY: usize = 256;
/// The partition key of a record without a key (a table without a primary key); not base64.
pub const NO_KEY: &str = "~";
/// How long a stream's head record may keep failing with retriable errors before the producer
/// gives up (as librdkafka's `message.timeout.ms`).
pub const GIVE_UP: Duration = Duration::from_secs(300);

/// The partition key of an event key: its bytes in standard base64, so a reader recovers them.
pub fn partition_key(key: Option<&[u8]>) -> String {
    match key {
        Some(k) if !k.is_empty() => base64::engine::general_purpose::STANDARD.encode(k),
        _ => NO_KEY.to_owned(),
    }
}

struct Shared {
    ledger: Mutex<AckLedger>,
    window: Semaphore,
    /// Woken on every acceptance or failure (`flush` waits on it).
    progress: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, AckLedger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn accepted(&self, seq: u64) {
        self.lock().acknowledged(seq);
        self.window.add_permits(1);
        metrics::counter!(METRIC_DELIVERED).increment(1);
    }

    fn fail(&self, e: &KinesisError) {
        self.lock().fail(None, e.to_string(), e.kind());
        self.progress.notify_waiters();
    }
}

/// A stream's worker and the task that sends its records.
type Sender = (Arc<StreamWorker>, JoinHandle<()>);

/// One stream's waiting records; its sender task holds it weakly and ends with the producer.
struct StreamWorker {
    queue: Mutex<StreamQueue>,
    wake: Notify,
}

impl StreamWorker {
    fn lock(&self) -> MutexGuard<'_, StreamQueue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub struct KinesisProducer {
    client: Client,
    config: KinesisConfig,
    shared: Arc<Shared>,
    streams: Mutex<HashMap<String, Sender>>,
    ready: tokio::sync::Mutex<HashSet<String>>,
}

impl KinesisProducer {
    pub async fn new(config: &KinesisConfig) -> Result<Self, KinesisError> {
        config.ensure_valid().map_err(KinesisError::fatal)?;
        let client = crate::client::client(&config.connection).await?;
        Ok(Self {
            client,
            config: config.clone(),
            shared: Arc::new(Shared {
                ledger: Mutex::new(AckLedger::default()),
                window: Semaphore::new(config.max_in_flight),
                progress: Notify::new(),
            }),
            streams: Mutex::new(HashMap::new()),
            ready: tokio::sync::Mutex::new(HashSet::new()),
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Make the stream of `topic` exist (created with `shard_count` shards when missing).
    pub async fn ensure_topic(&self, topic: &str) -> Result<(), KinesisError> {
        let stream = self.config.stream(topic);
        let mut ready = self.ready.lock().await;
        if !ready.contains(&stream) {
            crate::client::ensure_stream(&self.client, &stream, self.config.shard_count).await?;
            ready.insert(stream);
        }
        Ok(())
    }

    /// Queue one record for the stream of `topic`. Waits while `max_in_flight` records are
    /// unaccepted. `value: None` (a tombstone) is not written.
    pub async fn send(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<(), KinesisError> {
        self.check_failed()?;
        let Some(value) = value else { return Ok(()) };
        let stream = self.config.stream(topic);
        let partition_key = partition_key(key);
        if partition_key.len() > MAX_PARTITION_KEY {
            let e = KinesisError::KeyTooLong { stream, bytes: key.map_or(0, <[u8]>::len) };
            self.shared.fail(&e);
            return Err(e);
        }
        if value.len() + partition_key.len() > MAX_RECORD_BYTES {
            let e = KinesisError::RecordTooLarge { stream, bytes: value.len() + partition_key.len() };
            self.shared.fail(&e);
            return Err(e);
        }
        let permit =
            self.shared.window.acquire().await.map_err(|_| KinesisError::fatal("producer closed"))?;
        // Returned when Kinesis accepts the record.
        permit.forget();
        let seq = self.shared.lock().sent();
        metrics::gauge!(METRIC_IN_FLIGHT).set(self.in_flight() as f64);
        let worker = self.worker(&stream);
        worker.lock().push(Entry { seq, partition_key, data: value.to_vec() });
        worker.wake.notify_one();
        Ok(())
    }

    fn worker(&self, stream: &str) -> Arc<StreamWorker> {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((w, _)) = streams.get(stream) {
            return w.clone();
        }
        // The worker exists before its task starts: the task's first upgrade always succeeds.
        let w = Arc::new(StreamWorker { queue: Mutex::new(StreamQueue::default()), wake: Notify::new() });
        let task = tokio::spawn(run_stream(
            self.client.clone(),
            stream.to_owned(),
            Arc::downgrade(&w),
            self.shared.clone(),
        ));
        streams.insert(stream.to_owned(), (w.clone(), task));
        w
    }

    /// `position` becomes releasable once every record sent so far is accepted.
    pub fn checkpoint(&self, position: Position) {
        self.shared.lock().checkpoint(position);
    }

    /// The newest released position since the last call, if any.
    pub fn take_released(&self) -> Option<Position> {
        self.shared.lock().take_released()
    }

    /// Records sent and not yet accepted.
    pub fn in_flight(&self) -> usize {
        self.shared.lock().in_flight()
    }

    pub fn max_in_flight(&self) -> usize {
        self.config.max_in_flight
    }

    /// The refusal that poisoned this producer, if any.
    pub fn check_failed(&self) -> Result<(), KinesisError> {
        match self.shared.lock().failure() {
            None => Ok(()),
            Some((reason, kind)) => Err(KinesisError::Other { reason: reason.clone(), kind: *kind }),
        }
    }

    /// Wait until every record sent so far is accepted (or one failed), up to `timeout`.
    pub async fn flush(&self, timeout: Duration) -> Result<(), KinesisError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.progress.notified();
            self.check_failed()?;
            if self.in_flight() == 0 {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                self.check_failed()?;
                if self.in_flight() == 0 {
                    return Ok(());
                }
                return Err(KinesisError::retriable(format!(
                    "flush: {} records unaccepted after {timeout:?}",
                    self.in_flight()
                )));
            }
        }
    }
}

impl Drop for KinesisProducer {
    fn drop(&mut self) {
        // Unaccepted records are not released anyway; the workers stop with the producer.
        for (_, task) in self.streams.lock().unwrap_or_else(PoisonError::into_inner).values() {
            task.abort();
        }
    }
}

/// One stream's sender: one `PutRecords` at a time, refused records resent first.
async fn run_stream(
    client: Client,
    stream: String,
    worker: std::sync::Weak<StreamWorker>,
    shared: Arc<Shared>,
) {
    let mut backoff = Duration::from_millis(50);
    let mut failing_since: Option<Instant> = None;
    loop {
        let Some(w) = worker.upgrade() else { return };
        let batch = loop {
            let notified = w.wake.notified();
            let batch = w.lock().take();
            if !batch.is_empty() {
                break batch;
            }
            notified.await;
        };
        let started = Instant::now();
        let entries: Result<Vec<PutRecordsRequestEntry>, _> = batch
            .iter()
            .map(|e| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(e.data.clone()))
                    .partition_key(&e.partition_key)
                    .build()
            })
            .collect();
        let entries = match entries {
            Ok(e) => e,
            Err(e) => {
                shared.fail(&KinesisError::fatal(format!("building a PutRecords entry: {e}")));
                return;
            }
        };
        let result = client.put_records().stream_name(&stream).set_records(Some(entries)).send().await;
        metrics::histogram!(METRIC_PUT_SECONDS).record(started.elapsed().as_secs_f64());
        let refused: Vec<Entry> = match result {
            Ok(out) => {
                let mut refused = Vec::new();
                let results = out.records();
                if results.len() != batch.len() {
                    shared.fail(&KinesisError::fatal(format!(
                        "PutRecords to {stream} answered {} results for {} records",
                        results.len(),
                        batch.len()
                    )));
                    return;
                }
                for (e, r) in batch.into_iter().zip(results) {
                    match r.error_code() {
                        None => shared.accepted(e.seq),
                        Some(code) => {
                            metrics::counter!(METRIC_RETRIED, "code" => code.to_owned()).increment(1);
                            if !crate::error::RETRIABLE_CODES.contains(&code) {
                                shared.fail(&KinesisError::Request {
                                    context: format!("PutRecords to {stream}"),
                                    reason: format!("{code}: {}", r.error_message().unwrap_or_default()),
                                    kind: ErrorKind::Fatal,
                                });
                                return;
                            }
                            refused.push(e);
                        }
                    }
                }
                shared.progress.notify_waiters();
                refused
            }
            Err(e) => {
                let e = KinesisError::request(format!("PutRecords to {stream}"), &e);
                if e.kind() == ErrorKind::Fatal {
                    shared.fail(&e);
                    return;
                }
                tracing::warn!(error = %e, records = batch.len(), "PutRecords failed; resending");
                metrics::counter!(METRIC_RETRIED, "code" => "request").increment(batch.len() as u64);
                batch
            }
        };
        if refused.is_empty() {
            backoff = Duration::from_millis(50);
            failing_since = None;
            continue;
        }
        let since = *failing_since.get_or_insert_with(Instant::now);
        if since.elapsed() > GIVE_UP {
            shared.fail(&KinesisError::retriable(format!(
                "PutRecords to {stream}: {} records still refused after {GIVE_UP:?}",
                refused.len()
            )));
            return;
        }
        w.lock().put_back(refused);
        drop(w);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_keys_carry_the_key() {
        assert_eq!(partition_key(Some(&[0, 0, 0, 0, 1, 2])), "AAAAAAEC");
        assert_eq!(partition_key(None), NO_KEY);
        assert_eq!(partition_key(Some(&[])), NO_KEY);
        // 192 bytes is the longest key whose base64 fits the 256-character limit.
        assert_eq!(partition_key(Some(&[7; 192])).len(), MAX_PARTITION_KEY);
        assert!(partition_key(Some(&[7; 193])).len() > MAX_PARTITION_KEY);
    }
}
