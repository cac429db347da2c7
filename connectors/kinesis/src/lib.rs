//! Kinesis Data Streams as the broker between sources and sinks (`[broker] type = "kinesis"`).
//!
//! A change topic `<prefix>.<schema>.<table>` is a stream named by `stream_pattern` (one stream
//! per topic by default, or one for every table). A record's data is the event value exactly as
//! Kafka would carry it (Confluent-framed Avro, or Kafka Connect JSON); its partition key is the
//! event key's bytes in base64, so one key always hashes to one shard and any reader recovers the
//! key. Kinesis has no compaction: no tombstones are written.

pub mod client;
pub mod config;
pub mod error;
pub mod preflight;
pub mod producer;
mod queue;

pub use config::KinesisConfig;
pub use error::KinesisError;
pub use producer::KinesisProducer;
