//! Where the publishing half sends records: Kafka (default) or Kinesis Data Streams
//! (`[broker] type = "kinesis"`). Both keep the same contract, so the publisher and the full
//! load do not know which one they feed:
//! - `send` queues a record for a topic (Kinesis: the topic's stream); `value: None` is a
//!   tombstone (Kinesis: not written, a stream has no compaction).
//! - A position given to `checkpoint` comes back from `take_released` only after the broker has
//!   acknowledged every record sent before it.
//! - After a delivery failure nothing is released again, and `check_failed` returns the error.

use std::time::Duration;

use sluice_core::Position;
use sluice_kafka::admin::TopicAdmin;
use sluice_kafka::EventProducer;
use sluice_kinesis::KinesisProducer;

pub enum Outlet {
    Kafka { producer: EventProducer, admin: TopicAdmin },
    Kinesis(Box<KinesisProducer>),
}

impl Outlet {
    /// Make `topic` exist (Kafka: with `partitions` partitions; Kinesis: its stream, with the
    /// configured shard count).
    pub async fn ensure_topic(&self, topic: &str, partitions: i32) -> anyhow::Result<()> {
        match self {
            Outlet::Kafka { admin, .. } => admin.ensure_topic(topic, partitions, &[]).await?,
            Outlet::Kinesis(k) => k.ensure_topic(topic).await?,
        }
        Ok(())
    }

    pub async fn send(&self, topic: &str, key: Option<&[u8]>, value: Option<&[u8]>) -> anyhow::Result<()> {
        match self {
            Outlet::Kafka { producer, .. } => producer.send(topic, key, value).await?,
            Outlet::Kinesis(k) => k.send(topic, key, value).await?,
        }
        Ok(())
    }

    pub fn checkpoint(&self, position: Position) {
        match self {
            Outlet::Kafka { producer, .. } => producer.checkpoint(position),
            Outlet::Kinesis(k) => k.checkpoint(position),
        }
    }

    pub fn take_released(&self) -> Option<Position> {
        match self {
            Outlet::Kafka { producer, .. } => producer.take_released(),
            Outlet::Kinesis(k) => k.take_released(),
        }
    }

    pub fn check_failed(&self) -> anyhow::Result<()> {
        match self {
            Outlet::Kafka { producer, .. } => producer.check_failed()?,
            Outlet::Kinesis(k) => k.check_failed()?,
        }
        Ok(())
    }

    pub async fn flush(&self, timeout: Duration) -> anyhow::Result<()> {
        match self {
            Outlet::Kafka { producer, .. } => producer.flush(timeout).await?,
            Outlet::Kinesis(k) => k.flush(timeout).await?,
        }
        Ok(())
    }

    /// Whether a delete is followed by a tombstone on this broker.
    pub fn keeps_tombstones(&self) -> bool {
        matches!(self, Outlet::Kafka { .. })
    }
}
