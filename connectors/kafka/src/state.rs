//! Small durable key/value state kept in a compacted topic (default `sluice.state`): what a
//! source must remember between runs that its database does not remember for it — the MySQL
//! binlog position acknowledged last, and, for PostgreSQL, that a slot was created (so a slot
//! that later disappears is detected instead of silently starting over).
//!
//! Invariants: `store` returns only after the broker acknowledged the record (`acks=all`);
//! `load` reads the topic from the beginning to the high watermark taken at the start of the
//! call, so it sees every record stored before it began. The last record for a key wins; a
//! null value deletes the key. One partition, so order is total.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use sluice_core::ErrorKind;

use crate::admin::TopicAdmin;
use crate::config::KafkaConfig;
use crate::error::KafkaError;

pub const DEFAULT_STATE_TOPIC: &str = "sluice.state";

pub struct StateTopic {
    cfg: KafkaConfig,
    topic: String,
    producer: FutureProducer,
}

impl StateTopic {
    /// Open (creating if needed) the compacted state topic.
    pub async fn open(cfg: &KafkaConfig, topic: &str) -> Result<Self, KafkaError> {
        TopicAdmin::new(cfg)?.ensure_topic(topic, 1, &[("cleanup.policy", "compact")]).await?;
        let producer = cfg
            .client_config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .create()
            .map_err(|e| KafkaError::Config(e.to_string()))?;
        Ok(Self { cfg: cfg.clone(), topic: topic.to_owned(), producer })
    }

    /// Store `value` under `key` (`None` deletes it); returns once the broker acknowledged.
    pub async fn store(&self, key: &str, value: Option<&[u8]>) -> Result<(), KafkaError> {
        let mut rec: FutureRecord<'_, str, [u8]> = FutureRecord::to(&self.topic).key(key).partition(0);
        if let Some(v) = value {
            rec = rec.payload(v);
        }
        self.producer
            .send(rec, Duration::from_secs(30))
            .await
            .map_err(|(e, _)| KafkaError::client("store state", &e))?;
        Ok(())
    }

    /// The latest value of every key starting with `prefix`.
    pub async fn load_prefix(&self, prefix: &str) -> Result<BTreeMap<String, Vec<u8>>, KafkaError> {
        let cfg = self.cfg.clone();
        let topic = self.topic.clone();
        let prefix = prefix.to_owned();
        tokio::task::spawn_blocking(move || scan_blocking(&cfg, &topic, |k| k.starts_with(prefix.as_bytes())))
            .await
            .map_err(|e| KafkaError::Client {
                context: "load state",
                reason: e.to_string(),
                kind: ErrorKind::Retriable,
            })?
    }

    /// The latest value stored under `key`, if any.
    pub async fn load(&self, key: &str) -> Result<Option<Vec<u8>>, KafkaError> {
        let cfg = self.cfg.clone();
        let topic = self.topic.clone();
        let key = key.to_owned();
        tokio::task::spawn_blocking(move || load_blocking(&cfg, &topic, &key)).await.map_err(|e| {
            KafkaError::Client { context: "load state", reason: e.to_string(), kind: ErrorKind::Retriable }
        })?
    }
}

fn load_blocking(cfg: &KafkaConfig, topic: &str, key: &str) -> Result<Option<Vec<u8>>, KafkaError> {
    Ok(scan_blocking(cfg, topic, |k| k == key.as_bytes())?.remove(key))
}

/// The latest value of every key `keep` accepts (deleted keys are absent).
fn scan_blocking(
    cfg: &KafkaConfig,
    topic: &str,
    keep: impl Fn(&[u8]) -> bool,
) -> Result<BTreeMap<String, Vec<u8>>, KafkaError> {
    let mut values = BTreeMap::new();
    let timeout = Duration::from_secs(30);
    let consumer: BaseConsumer = cfg
        .client_config()
        .set("group.id", "sluice-state-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .map_err(|e| KafkaError::Config(e.to_string()))?;
    let (low, high) = consumer
        .fetch_watermarks(topic, 0, timeout)
        .map_err(|e| KafkaError::client("state watermarks", &e))?;
    if high <= low {
        return Ok(values);
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .map_err(|e| KafkaError::client("state assign", &e))?;
    consumer.assign(&tpl).map_err(|e| KafkaError::client("state assign", &e))?;
    let deadline = Instant::now() + timeout;
    loop {
        if Instant::now() > deadline {
            return Err(KafkaError::Client {
                context: "load state",
                reason: format!("did not reach offset {high} of {topic} within {timeout:?}"),
                kind: ErrorKind::Retriable,
            });
        }
        let Some(msg) = consumer.poll(Duration::from_millis(500)) else { continue };
        let msg = msg.map_err(|e| KafkaError::client("read state", &e))?;
        if let Some(k) = msg.key().filter(|k| keep(k)) {
            let k = String::from_utf8_lossy(k).into_owned();
            match msg.payload() {
                Some(v) => values.insert(k, v.to_vec()),
                None => values.remove(&k),
            };
        }
        if msg.offset() + 1 >= high {
            return Ok(values);
        }
    }
}
