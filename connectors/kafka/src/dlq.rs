//! The dead-letter producer: a sink in `dead-letter` mode writes each record it cannot apply,
//! byte for byte, to a dead-letter topic, with headers saying where it came from and why.
//!
//! Invariant: [`DeadLetterProducer::send`] returns only after the broker acknowledged the record
//! (`acks=all`, idempotent), so the sink commits the poison record's offset only once its copy
//! is durable in the dead-letter topic; a crash in between re-reads and re-sends it (at least
//! once into the DLQ, never lost).
//!
//! Headers (Kafka Connect's `__connect.errors.*` names have the same meaning):
//! `sluice.error.topic`, `sluice.error.partition`, `sluice.error.offset`, `sluice.error.sink`,
//! `sluice.error.class` (`decode` or `apply`), `sluice.error.message`.

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::admin::TopicAdmin;
use crate::config::KafkaConfig;
use crate::consumer::ConsumedRecord;
use crate::error::KafkaError;

/// Counter: records written to the dead-letter topic, labels `topic` (the record's source topic)
/// and `class`.
pub const METRIC_DEAD_LETTERS: &str = "sluice_sink_dead_letter_records_total";

/// Why a record was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The bytes could not be decoded (framing, unknown schema, corrupt Avro).
    Decode,
    /// The target refused the change (constraint, value out of range, unsupported value).
    Apply,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Decode => "decode",
            FailureClass::Apply => "apply",
        }
    }
}

pub struct DeadLetterProducer {
    producer: FutureProducer,
    topic: String,
    sink: String,
}

impl DeadLetterProducer {
    /// Create the producer and the topic (one partition per source partition is not needed: the
    /// DLQ is read by people and tools, in arrival order).
    pub async fn new(kafka: &KafkaConfig, topic: &str, sink: &str) -> Result<Self, KafkaError> {
        TopicAdmin::new(kafka)?.ensure_topic(topic, 1, &[]).await?;
        let mut cfg = kafka.client_config();
        cfg.set("acks", "all").set("enable.idempotence", "true");
        let producer: FutureProducer =
            cfg.create().map_err(|e| KafkaError::client("creating dead-letter producer", &e))?;
        Ok(Self { producer, topic: topic.to_owned(), sink: sink.to_owned() })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Write `record` with error headers; returns after the broker acknowledged it.
    pub async fn send(
        &self,
        record: &ConsumedRecord,
        class: FailureClass,
        message: &str,
    ) -> Result<(), KafkaError> {
        let partition = record.partition.to_string();
        let offset = record.offset.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header { key: "sluice.error.topic", value: Some(record.topic.as_str()) })
            .insert(Header { key: "sluice.error.partition", value: Some(partition.as_str()) })
            .insert(Header { key: "sluice.error.offset", value: Some(offset.as_str()) })
            .insert(Header { key: "sluice.error.sink", value: Some(self.sink.as_str()) })
            .insert(Header { key: "sluice.error.class", value: Some(class.as_str()) })
            .insert(Header { key: "sluice.error.message", value: Some(message) });
        let mut out: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&self.topic).headers(headers);
        if let Some(k) = &record.key {
            out = out.key(k.as_slice());
        }
        if let Some(p) = &record.payload {
            out = out.payload(p.as_slice());
        }
        self.producer
            .send(out, Duration::from_secs(30))
            .await
            .map_err(|(e, _)| KafkaError::client("writing to the dead-letter topic", &e))?;
        metrics::counter!(METRIC_DEAD_LETTERS, "topic" => record.topic.clone(), "class" => class.as_str())
            .increment(1);
        Ok(())
    }
}
